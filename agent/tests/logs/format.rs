//! Table tests of the line formats and of Kubernetes path metadata.

use std::path::Path;

use watchfire_agent::logs::format::k8s::{from_path, K8sMeta};
use watchfire_agent::logs::format::{level, Decoder, Entry, Format};

/// Feeds `lines` to a decoder of `format`; each output is the message of a
/// complete entry, `!err` for a line that cannot be decoded.
fn check(format: Format, max: usize, lines: &[&str], expect: &[(&str, Option<&str>, bool)]) {
    let mut d = Decoder::new(format, max);
    let mut got: Vec<(String, Option<String>, bool)> = Vec::new();
    for l in lines {
        match d.push(l.as_bytes()) {
            Ok(Some(Entry {
                message,
                stream,
                truncated,
                ..
            })) => got.push((message, stream, truncated)),
            Ok(None) => {}
            Err(_) => got.push(("!err".into(), None, false)),
        }
    }
    let want: Vec<(String, Option<String>, bool)> = expect
        .iter()
        .map(|(m, s, t)| (m.to_string(), s.map(str::to_string), *t))
        .collect();
    assert_eq!(got, want, "{format:?} {lines:?}");
}

#[test]
fn cri() {
    let t = "2024-01-02T03:04:05.123456789Z";
    let full = format!("{t} stdout F hello world");
    let p1 = format!("{t} stderr P part one, ");
    let p2 = format!("{t} stderr P part two, ");
    let f = format!("{t} stderr F end");
    let empty = format!("{t} stdout F ");
    let bad_tag = format!("{t} stdout X what");
    let bad_stream = format!("{t} stdin F what");
    let tagged = format!("{t} stdout F:extra tagged");
    check(
        Format::Cri,
        1024,
        &[&full],
        &[("hello world", Some("stdout"), false)],
    );
    check(
        Format::Cri,
        1024,
        &[&p1, &p2, &f],
        &[("part one, part two, end", Some("stderr"), false)],
    );
    check(Format::Cri, 1024, &[&empty], &[("", Some("stdout"), false)]);
    check(
        Format::Cri,
        1024,
        &[&bad_tag, "garbage", &bad_stream],
        &[("!err", None, false); 3],
    );
    check(
        Format::Cri,
        1024,
        &[&tagged],
        &[("tagged", Some("stdout"), false)],
    );
    // Merged partials over the limit are cut and flagged.
    check(
        Format::Cri,
        12,
        &[&p1, &p2, &f],
        &[("part one, pa", Some("stderr"), true)],
    );
}

#[test]
fn docker() {
    check(
        Format::Docker,
        1024,
        &[r#"{"log":"hello\n","stream":"stdout","time":"2024-01-01T00:00:00Z"}"#],
        &[("hello", Some("stdout"), false)],
    );
    check(
        Format::Docker,
        1024,
        &[
            r#"{"log":"first half ","stream":"stderr","time":"2024-01-01T00:00:00Z"}"#,
            r#"{"log":"second half\r\n","stream":"stderr","time":"2024-01-01T00:00:00Z"}"#,
        ],
        &[("first half second half", Some("stderr"), false)],
    );
    check(
        Format::Docker,
        1024,
        &["not json", r#"{"stream":"stdout"}"#],
        &[("!err", None, false); 2],
    );
}

#[test]
fn json_plain_auto() {
    check(
        Format::Json,
        1024,
        &[r#"{"a":1}"#],
        &[(r#"{"a":1}"#, None, false)],
    );
    check(
        Format::Json,
        1024,
        &["plain", "[1,2]", "{broken"],
        &[("!err", None, false); 3],
    );
    check(
        Format::Plain,
        1024,
        &["plain text\r", "{\"a\":1}"],
        &[("plain text", None, false), ("{\"a\":1}", None, false)],
    );
    let mut d = Decoder::new(Format::Auto, 1024);
    let e = d.push(br#"{"level":"error"}"#).unwrap().unwrap();
    assert!(e.json);
    let e = d.push(b"{not json").unwrap().unwrap();
    assert!(!e.json);
    assert!(
        d.push(&[0xff, 0xfe]).is_err(),
        "invalid UTF-8 is a decode error"
    );
}

#[test]
fn format_for_path() {
    let cases = [
        ("/var/log/pods/ns_pod_uid/app/0.log", Format::Cri),
        (
            "/var/lib/docker/containers/abc/abc-json.log",
            Format::Docker,
        ),
        ("/var/log/syslog", Format::Auto),
    ];
    for (p, want) in cases {
        assert_eq!(Format::Auto.for_path(Path::new(p)), want, "{p}");
        assert_eq!(Format::Plain.for_path(Path::new(p)), Format::Plain, "{p}");
    }
}

#[test]
fn k8s_paths() {
    fn meta(ns: &str, pod: &str, uid: &str, c: &str) -> Option<K8sMeta> {
        Some(K8sMeta {
            namespace: ns.into(),
            pod: pod.into(),
            uid: uid.into(),
            container: c.into(),
        })
    }
    let cases = [
        (
            "/var/log/pods/default_web-7d9f-abc_0f1e2d3c-aaaa-bbbb/nginx/0.log",
            meta("default", "web-7d9f-abc", "0f1e2d3c-aaaa-bbbb", "nginx"),
        ),
        (
            "/var/log/pods/kube-system_coredns-1_u1/coredns/12.log.20240101-000000",
            meta("kube-system", "coredns-1", "u1", "coredns"),
        ),
        ("/tmp/x/pods/a_b_c/d/3.log", meta("a", "b", "c", "d")),
        ("/var/log/pods/a_b/d/0.log", None),
        ("/var/log/pods/a_b_c_d/e/0.log", None),
        ("/var/log/pods/a_b_c/e/app.log", None),
        ("/var/log/pods/a_b_c/e/0.logx", None),
        ("/var/log/other/a_b_c/e/0.log", None),
        ("0.log", None),
    ];
    for (p, want) in cases {
        assert_eq!(from_path(Path::new(p)), want, "{p}");
    }
}

#[test]
fn levels() {
    let cases = [
        ("ERROR something broke", "error"),
        ("2024-01-01 [WARN] disk", "warn"),
        ("level=debug msg=x", "debug"),
        ("INFO: ready", "info"),
        ("sending alert to pager", "unknown"),
        ("nothing here", "unknown"),
    ];
    for (text, want) in cases {
        assert_eq!(level::from_text(text), want, "{text}");
    }
    let obj: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(r#"{"Severity":"Warning","service":"api"}"#).unwrap();
    assert_eq!(level::from_json(&obj), ("warn", Some("api".to_string())));
}
