//! The Alertmanager client against a scripted local HTTP server: which
//! statuses are retried, `Retry-After`, auth headers and the metrics.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use watchfire_router::notify::alertmanager::{
    AlertmanagerClient, AlertmanagerConfig, Auth, RetryPolicy,
};
use watchfire_router::notify::{AlertSink, NotifyMetrics};

use super::common::alert;

/// One scripted answer: status and optional `Retry-After`.
type Answer = (u16, Option<&'static str>);

#[derive(Default)]
struct Script {
    answers: Mutex<VecDeque<Answer>>,
    /// (path, authorization header, body) of every request.
    seen: Mutex<Vec<(String, String, serde_json::Value)>>,
}

async fn handle(
    State(s): State<Arc<Script>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let json = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    s.seen
        .lock()
        .unwrap()
        .push((uri.path().to_string(), auth, json));
    let (code, retry_after) = s.answers.lock().unwrap().pop_front().unwrap_or((200, None));
    let mut h = HeaderMap::new();
    if let Some(r) = retry_after {
        h.insert("retry-after", r.parse().unwrap());
    }
    (StatusCode::from_u16(code).unwrap(), h, "scripted")
}

async fn serve(answers: &[Answer]) -> (String, Arc<Script>) {
    let script = Arc::new(Script::default());
    script
        .answers
        .lock()
        .unwrap()
        .extend(answers.iter().copied());
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(script.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), script)
}

fn client(url: &str, auth: Option<Auth>, max_attempts: u32) -> (AlertmanagerClient, NotifyMetrics) {
    let metrics = NotifyMetrics::unregistered().unwrap();
    let cfg = AlertmanagerConfig {
        urls: vec![url.to_string()],
        path_prefix: "/am".into(),
        // Generous: with a paused clock an idle runtime jumps to the next timer.
        timeout: Duration::from_secs(3600),
        auth,
        retry: RetryPolicy {
            max_attempts,
            initial_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(5),
            max_retry_after: Duration::from_secs(30),
        },
    };
    (
        AlertmanagerClient::new(cfg, metrics.clone()).unwrap(),
        metrics,
    )
}

struct Case {
    answers: &'static [Answer],
    max_attempts: u32,
    want_ok: bool,
    want_requests: usize,
    /// Bounds of the virtual time the send took.
    min_wait: Duration,
    max_wait: Duration,
}

async fn check(c: Case) {
    let (url, script) = serve(c.answers).await;
    let (client, metrics) = client(&url, Some(Auth::Bearer("s3cret".into())), c.max_attempts);
    let target = format!("{url}/am/api/v2/alerts");
    assert_eq!(client.targets(), vec![target.clone()]);
    let alerts = [alert(
        &[("alertname", "Boom")],
        &[("summary", "it broke")],
        1_000,
        Some(2_000),
    )];
    let t0 = tokio::time::Instant::now();
    let res = client.send(&alerts).await;
    let took = t0.elapsed();
    assert_eq!(res.is_ok(), c.want_ok, "{res:?} for {:?}", c.answers);
    let seen = script.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), c.want_requests, "requests for {:?}", c.answers);
    for (path, auth, body) in &seen {
        assert_eq!(path, "/am/api/v2/alerts");
        assert_eq!(auth, "Bearer s3cret");
        assert_eq!(body[0]["labels"]["alertname"], "Boom");
        assert_eq!(body[0]["startsAt"], "1970-01-01T00:00:01.000Z");
        assert_eq!(body[0]["endsAt"], "1970-01-01T00:00:02.000Z");
    }
    assert!(
        took >= c.min_wait && took <= c.max_wait,
        "took {took:?}, want {:?}..{:?}",
        c.min_wait,
        c.max_wait
    );
    let (sent, errors) = (
        metrics.sent.with_label_values(&[&target]).get(),
        metrics.errors.with_label_values(&[&target]).get(),
    );
    assert_eq!((sent, errors), if c.want_ok { (1, 0) } else { (0, 1) });
    assert_eq!(
        metrics.retries.with_label_values(&[&target]).get() as usize,
        c.want_requests - 1
    );
}

#[tokio::test(start_paused = true)]
async fn retries_5xx_and_429_honouring_retry_after() {
    check(Case {
        answers: &[(500, None), (429, Some("1")), (200, None)],
        max_attempts: 5,
        want_ok: true,
        want_requests: 3,
        // First retry: 100..200 ms of jittered backoff; second: exactly 1 s.
        min_wait: Duration::from_millis(1100),
        max_wait: Duration::from_millis(1250),
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn never_retries_other_4xx() {
    for code in [400, 401, 404, 422] {
        let answers: &'static [Answer] = Box::leak(Box::new([(code, None), (200, None)]));
        check(Case {
            answers,
            max_attempts: 5,
            want_ok: false,
            want_requests: 1,
            min_wait: Duration::ZERO,
            max_wait: Duration::from_millis(10),
        })
        .await;
    }
}

#[tokio::test(start_paused = true)]
async fn gives_up_after_max_attempts() {
    check(Case {
        answers: &[(503, None), (502, None), (500, None), (200, None)],
        max_attempts: 3,
        want_ok: false,
        want_requests: 3,
        // Backoffs 100..200 ms then 200..400 ms.
        min_wait: Duration::from_millis(300),
        max_wait: Duration::from_millis(650),
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_capped() {
    check(Case {
        answers: &[(429, Some("3600")), (200, None)],
        max_attempts: 2,
        want_ok: true,
        want_requests: 2,
        min_wait: Duration::from_secs(30),
        max_wait: Duration::from_millis(30_100),
    })
    .await;
}

#[tokio::test]
async fn basic_auth_and_one_of_many_targets() {
    let (good, script) = serve(&[]).await;
    let metrics = NotifyMetrics::unregistered().unwrap();
    // The second target refuses connections; the batch still counts as delivered.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    let cfg = AlertmanagerConfig {
        urls: vec![good.clone(), dead.clone()],
        auth: Some(Auth::Basic {
            username: "am".into(),
            password: "pw".into(),
        }),
        retry: RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        },
        ..AlertmanagerConfig::default()
    };
    let client = AlertmanagerClient::new(cfg, metrics.clone()).unwrap();
    client
        .send(&[alert(&[("alertname", "X")], &[], 0, None)])
        .await
        .unwrap();
    let seen = script.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0, "/api/v2/alerts");
    assert_eq!(seen[0].1, "Basic YW06cHc="); // base64("am:pw")
    assert!(seen[0].2[0].get("endsAt").is_none());
    assert_eq!(
        metrics
            .errors
            .with_label_values(&[&format!("{dead}/api/v2/alerts")])
            .get(),
        1
    );
    assert_eq!(
        metrics
            .sent
            .with_label_values(&[&format!("{good}/api/v2/alerts")])
            .get(),
        1
    );
}

#[test]
fn rejects_bad_config() {
    let m = NotifyMetrics::unregistered().unwrap();
    for urls in [
        vec![],
        vec!["ftp://x".to_string()],
        vec!["http://".to_string()],
    ] {
        let cfg = AlertmanagerConfig {
            urls: urls.clone(),
            ..AlertmanagerConfig::default()
        };
        assert!(AlertmanagerClient::new(cfg, m.clone()).is_err(), "{urls:?}");
    }
}

/// A server that answers every request with a 400 whose chunked body never
/// ends; returns its base URL and a counter of body bytes it wrote.
async fn endless_error_body() -> (String, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let written = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let w = written.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let w = w.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let _ = sock.read(&mut buf).await;
                let head = "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain\r\ntransfer-encoding: chunked\r\n\r\n";
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = format!("{:x}\r\n{}\r\n", 8192, "x".repeat(8192));
                // Stop at 1 GiB so a client that reads it all ends eventually.
                for _ in 0..(1 << 17) {
                    if sock.write_all(chunk.as_bytes()).await.is_err() {
                        return;
                    }
                    w.fetch_add(8192, std::sync::atomic::Ordering::Relaxed);
                }
            });
        }
    });
    (format!("http://{addr}"), written)
}

#[tokio::test]
async fn error_bodies_are_read_only_up_to_a_limit() {
    let (url, written) = endless_error_body().await;
    let (client, _) = client(&url, None, 1);
    let res = tokio::time::timeout(
        Duration::from_secs(60),
        client.send(&[alert(&[("alertname", "X")], &[], 0, None)]),
    )
    .await
    .expect("the client must not read the whole body");
    let err = res.expect_err("400 is fatal").to_string();
    assert!(err.contains("bad response status 400"), "{err}");
    assert!(err.contains("xxxx"), "{err}");
    // Socket buffers let the server get ahead a little, never by 1 GiB.
    let w = written.load(std::sync::atomic::Ordering::Relaxed);
    assert!(w < 64 << 20, "server wrote {w} bytes");
}
