//! The dispatch API under bad input, signed acks from Slack and
//! PagerDuty, a hanging receiver, and `watchfire routes` against amtool.
//!
//! - [`bad_input_gets_a_4xx_with_a_reason`]: every malformed write (empty
//!   labels, `endsAt` before `startsAt`, invalid UTF-8, lone surrogates,
//!   a 100 MB body, invalid silence regexes, missing or wrong token) gets
//!   a 4xx with a JSON `{"error": ...}`; no stored alert is lost, a good
//!   alert posted with a bad one is stored (Alertmanager answers 400 and
//!   keeps the valid ones), and the router stays healthy.
//! - [`inbound`]: only correctly signed, fresh Slack and PagerDuty
//!   requests acknowledge an escalation.
//! - [`hanging_receiver_does_not_block_others`]: a webhook that never
//!   answers delays nobody else.
//! - [`routes_cli`]: `watchfire routes test|show` prints what `amtool
//!   config routes test|show` prints, with the same exit status.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use watchfire_notifiers::testing::{webhook, FakeState};

use crate::harness::{get_text, http, now_ms, Router};

#[path = "dispatch_api/inbound.rs"]
mod inbound;
#[path = "dispatch_api/routes_cli.rs"]
mod routes_cli;

pub(crate) const TOKEN: &str = "api-token-7";

/// One HTTP request and what must come back.
struct Case {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    /// Which bearer token to send, if any.
    token: Option<&'static str>,
    body: Vec<u8>,
    status: u16,
    /// A (case-insensitive) part of the `error` message.
    reason: &'static str,
}

fn case(
    name: &'static str,
    method: &'static str,
    path: &'static str,
    body: impl Into<Vec<u8>>,
    status: u16,
    reason: &'static str,
) -> Case {
    Case {
        name,
        method,
        path,
        token: Some(TOKEN),
        body: body.into(),
        status,
        reason,
    }
}

/// Sends `c` and returns the status and the JSON body (Null if not JSON).
fn send(r: &Router, c: &Case) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(c.method.as_bytes()).expect("method");
    let mut req = http()
        .request(method, r.url(c.path))
        .header("content-type", "application/json")
        .body(c.body.clone());
    if let Some(t) = c.token {
        req = req.bearer_auth(t);
    }
    let resp = req
        .send()
        .unwrap_or_else(|e| panic!("{}: request failed: {e}", c.name));
    let status = resp.status().as_u16();
    let text = resp.text().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Sends `c` and checks the status and the JSON error reason.
fn check(r: &Router, c: &Case) {
    let (status, body) = send(r, c);
    assert_eq!(status, c.status, "{}: status (body {body})", c.name);
    let err = body["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{}: no JSON error reason in {body}", c.name));
    assert!(
        err.to_lowercase().contains(&c.reason.to_lowercase()),
        "{}: reason {err:?} does not mention {:?}",
        c.name,
        c.reason
    );
}

pub(crate) fn get_json(r: &Router, path: &str) -> Value {
    let body = get_text(&http(), &r.url(path)).unwrap_or_else(|| panic!("GET {path} failed"));
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
}

pub(crate) fn post_alerts(r: &Router, alerts: Value) -> u16 {
    http()
        .post(r.url("/api/v2/alerts"))
        .bearer_auth(TOKEN)
        .json(&alerts)
        .send()
        .expect("POST /api/v2/alerts")
        .status()
        .as_u16()
}

fn alert_names(r: &Router) -> Vec<String> {
    get_json(r, "/api/v2/alerts")
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_string))
        .collect()
}

/// POSTs `size` bytes over a raw connection (reading the answer while
/// writing, since the server answers before the body ends) and returns
/// the status code and the body.
fn post_huge(port: u16, path: &str, size: usize) -> (u16, String) {
    let mut w = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    let mut rd = w.try_clone().expect("clone stream");
    rd.set_read_timeout(Some(Duration::from_secs(60)))
        .expect("read timeout");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {size}\r\nConnection: close\r\n\r\n"
    );
    let writer = std::thread::spawn(move || {
        if w.write_all(head.as_bytes()).is_err() {
            return;
        }
        let chunk = vec![b' '; 1 << 20];
        let mut sent = 0;
        while sent < size {
            match w.write(&chunk[..chunk.len().min(size - sent)]) {
                Ok(n) if n > 0 => sent += n,
                _ => return, // the server closed: expected
            }
        }
    });
    let mut resp = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        match rd.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => resp.extend_from_slice(&buf[..n]),
        }
    }
    let _ = rd.shutdown(std::net::Shutdown::Both);
    let _ = writer.join();
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

const HOUR: i64 = 3_600_000;

const PLAIN_AM_YML: &str = "\
route:
  receiver: default
  group_wait: 1s
  group_interval: 1m
receivers:
  - name: default
  - name: other
";

#[test]
fn bad_input_gets_a_4xx_with_a_reason() {
    let mut r = Router::new(&[], "1s", "0s").with_dispatch(PLAIN_AM_YML, Some(TOKEN));
    r.start();
    assert_eq!(
        post_alerts(&r, json!([{"labels": {"alertname": "Keep", "job": "x"}}])),
        200
    );

    let now = now_ms();
    let silence = |matchers: Value, starts: i64, ends: i64| -> Vec<u8> {
        json!({
            "matchers": matchers,
            "startsAt": fmt_ms(starts),
            "endsAt": fmt_ms(ends),
            "createdBy": "test",
            "comment": "bad input"
        })
        .to_string()
        .into_bytes()
    };
    let re = |v: &str| json!([{"name": "job", "value": v, "isRegex": true, "isEqual": true}]);
    let eq = |v: &str| json!([{"name": "job", "value": v, "isRegex": false, "isEqual": true}]);
    #[rustfmt::skip]
    let cases = vec![
        case("empty labels", "POST", "/api/v2/alerts", r#"[{"labels":{}}]"#, 400, "label"),
        case("no labels field", "POST", "/api/v2/alerts", r#"[{"annotations":{}}]"#, 400, "labels"),
        case("not a list", "POST", "/api/v2/alerts", r#"{"labels":{"a":"b"}}"#, 400, "JSON"),
        case("endsAt before startsAt", "POST", "/api/v2/alerts",
             r#"[{"labels":{"alertname":"Back"},"startsAt":"2030-01-01T10:00:00Z","endsAt":"2030-01-01T09:00:00Z"}]"#,
             400, "before"),
        case("bad time", "POST", "/api/v2/alerts", r#"[{"labels":{"alertname":"T"},"startsAt":"yesterday"}]"#, 400, "startsAt"),
        case("invalid UTF-8 bytes in a label value", "POST", "/api/v2/alerts",
             b"[{\"labels\":{\"alertname\":\"Bad\xff\xfe\"}}]".to_vec(), 400, "JSON"),
        case("lone surrogate escape", "POST", "/api/v2/alerts", r#"[{"labels":{"alertname":"Bad\ud800"}}]"#, 400, "JSON"),
        case("invalid label name", "POST", "/api/v2/alerts", r#"[{"labels":{"0bad":"x"}}]"#, 400, "0bad"),
        case("silence: invalid regex", "POST", "/api/v2/silences", silence(re("(unclosed"), now, now + HOUR), 400, "regex"),
        case("silence: invalid repetition", "POST", "/api/v2/silences", silence(re("a{2,1}"), now, now + HOUR), 400, "regex"),
        case("silence: no matchers", "POST", "/api/v2/silences", silence(json!([]), now, now + HOUR), 400, "matcher"),
        case("silence: ends before it starts", "POST", "/api/v2/silences", silence(eq("x"), now, now - HOUR), 400, "end"),
        case("silence: not JSON", "POST", "/api/v2/silences", "{", 400, "JSON"),
        case("alerts filter: bad matcher", "GET", "/api/v2/alerts?filter=%7Bjob%3D", "", 400, "filter"),
        case("unknown silence", "GET", "/api/v2/silence/00000000-0000-0000-0000-000000000000", "", 404, "not found"),
        case("expire unknown silence", "DELETE", "/api/v2/silence/nope", "", 404, "not found"),
        case("ack: unknown group", "POST", "/api/watchfire/v1/ack", r#"{"group_key":"{}:{nope=\"1\"}"}"#, 404, "escalation"),
        case("ack: unknown field", "POST", "/api/watchfire/v1/ack", r#"{"group":"x"}"#, 400, "JSON"),
        Case { token: None, ..case("alerts without token", "POST", "/api/v2/alerts", r#"[{"labels":{"a":"b"}}]"#, 401, "Bearer") },
        Case { token: Some("wrong"), ..case("alerts with a wrong token", "POST", "/api/v2/alerts", r#"[{"labels":{"a":"b"}}]"#, 401, "token") },
        Case { token: None, ..case("silence without token", "POST", "/api/v2/silences", silence(eq("x"), now, now + HOUR), 401, "Bearer") },
        Case { token: None, ..case("expire without token", "DELETE", "/api/v2/silence/x", "", 401, "Bearer") },
        Case { token: None, ..case("ack without token", "POST", "/api/watchfire/v1/ack", r#"{"group_key":"x"}"#, 401, "Bearer") },
    ];
    for c in &cases {
        check(&r, c);
    }
    // Nothing refused was stored, and nothing stored was lost.
    assert_eq!(alert_names(&r), ["Keep"]);

    // 100 MB: refused with 413 (limit: server.max_request_bytes, 32 MiB).
    let started = Instant::now();
    let (status, body) = post_huge(r.port, "/api/v2/alerts", 100 << 20);
    assert_eq!(status, 413, "100 MB POST: {body}");
    let reason: Value = serde_json::from_str(body.trim()).unwrap_or(Value::Null);
    assert!(
        reason["error"].as_str().is_some_and(|e| !e.is_empty()),
        "413 without a JSON reason: {body:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(60));

    // A good alert in the same batch as a bad one is stored; the answer
    // is 400 naming the bad one.
    let (status, body) = send(
        &r,
        &case(
            "mixed batch",
            "POST",
            "/api/v2/alerts",
            json!([
                {"labels": {"alertname": "Mixed", "job": "y"}},
                {"labels": {}},
                {"labels": {"alertname": "Late"}, "startsAt": "2030-01-01T10:00:00Z", "endsAt": "2030-01-01T09:00:00Z"}
            ])
            .to_string(),
            400,
            "",
        ),
    );
    assert_eq!(status, 400, "mixed batch: {body}");
    assert!(
        body["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{body}"
    );
    let names = alert_names(&r);
    assert!(
        names.contains(&"Mixed".to_string()),
        "good alert of a mixed batch lost: {names:?}"
    );
    assert!(
        names.contains(&"Keep".to_string()),
        "earlier alert lost: {names:?}"
    );
    assert!(
        !names.contains(&"Late".to_string()),
        "invalid alert stored: {names:?}"
    );

    // Still healthy, and the read endpoints answer.
    r.proc().assert_running();
    assert_eq!(
        get_text(&http(), &r.url("/-/healthy")).as_deref(),
        Some("Healthy\n")
    );
    let status = get_json(&r, "/api/v2/status");
    assert_eq!(status["cluster"]["status"], "disabled", "{status}");
    assert!(
        status["config"]["original"]
            .as_str()
            .is_some_and(|c| c.contains("receiver: default")),
        "{status}"
    );
    let receivers = get_json(&r, "/api/v2/receivers");
    assert_eq!(receivers, json!([{"name": "default"}, {"name": "other"}]));
    let groups = get_json(&r, "/api/v2/alerts/groups");
    assert!(groups.as_array().is_some_and(|g| !g.is_empty()), "{groups}");
}

fn hang_am_yml(fast: &str, slow: &str) -> String {
    format!(
        "\
route:
  receiver: fast
  group_by: [alertname]
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 1h
  routes:
    - matchers: [team=\"slow\"]
      receiver: slow
receivers:
  - name: fast
    webhook_configs: [{{url: \"{fast}/hook\"}}]
  - name: slow
    webhook_configs: [{{url: \"{slow}/hang\"}}]
"
    )
}

fn delivered(fake: &FakeState, alertname: &str) -> bool {
    fake.accepted().iter().any(|r| {
        r.json()["alerts"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["labels"]["alertname"] == alertname))
    })
}

#[test]
fn hanging_receiver_does_not_block_others() {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let fast = rt.block_on(webhook::start()).expect("fast fake");
    let slow = rt.block_on(webhook::start()).expect("hanging fake");
    let mut r = Router::new(&[], "1s", "0s").with_dispatch(
        &hang_am_yml(&fast.base_url(), &slow.base_url()),
        Some(TOKEN),
    );
    r.start();

    assert_eq!(
        post_alerts(
            &r,
            json!([{"labels": {"alertname": "Stuck", "team": "slow"}}])
        ),
        200
    );
    let slow_state = slow.state.clone();
    r.wait_for(
        "the hanging receiver to be called",
        Duration::from_secs(20),
        |_| (slow_state.seen() > 0).then_some(()),
    );
    // While that request hangs, other groups are delivered promptly
    // (group_wait 1 s), one after another.
    for name in ["Fast1", "Fast2"] {
        let posted = Instant::now();
        assert_eq!(
            post_alerts(&r, json!([{"labels": {"alertname": name, "team": "fast"}}])),
            200
        );
        let fast_state = fast.state.clone();
        r.wait_for(
            &format!("{name} on the fast receiver"),
            Duration::from_secs(10),
            |_| delivered(&fast_state, name).then_some(()),
        );
        assert!(
            posted.elapsed() < Duration::from_secs(10),
            "{name} took {:?}",
            posted.elapsed()
        );
    }
    assert!(
        slow.state.accepted().is_empty(),
        "the hanging receiver answered?"
    );
    assert!(
        !delivered(&fast.state, "Stuck"),
        "Stuck went to the wrong receiver"
    );
    // The API still answers while the receiver hangs.
    let names = alert_names(&r);
    for n in ["Stuck", "Fast1", "Fast2"] {
        assert!(names.contains(&n.to_string()), "{n} missing: {names:?}");
    }
    drop((fast, slow));
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn fmt_ms(ms: i64) -> String {
    watchfire_promql::civil::format_rfc3339_millis(ms)
}
