//! The remote_write sender against loopback receivers decoding the real
//! wire format: retry rules, per-series order and no loss across shards,
//! a two-minute outage, a restart mid-outage, and the real peers (the
//! router's ingest, a real Prometheus) in [`peers`].
//!
//! Time is paused (`start_paused`): backoffs, batch deadlines and the
//! one-second scrape run on Tokio's virtual clock, so the outage test
//! takes seconds. Sockets and the redb file are real.

mod buffer;
mod config;
mod peers;
mod receiver;

use std::collections::HashMap;
use std::time::Duration;

use prometheus::Registry;
use receiver::{delivery, Delivery, Receiver, Reply};
use tempfile::TempDir;
use watchfire_agent::pipeline::{Appender, Point};
use watchfire_agent::ship::config::RemoteWriteConfig;
use watchfire_agent::ship::RemoteWriter;
use watchfire_promql::Labels;

pub fn config(url: reqwest::Url, dir: &TempDir) -> RemoteWriteConfig {
    let mut c = RemoteWriteConfig::new(url, dir.path().join("rw.redb"));
    c.queue.min_backoff = Duration::from_millis(30);
    c.queue.max_backoff = Duration::from_secs(5);
    c
}

/// `n` series `test_metric{series="s<i>"}` at time `t`, value `t + i`;
/// the even ones carry pre-encoded labels (as scraped points do), the
/// odd ones not (as the host collector's).
pub fn scrape(n: usize, t: i64) -> Vec<Point> {
    (0..n)
        .map(|i| {
            let labels = Labels::new([
                ("__name__", "test_metric".to_string()),
                ("job", "ship".to_string()),
                ("series", format!("s{i}")),
            ]);
            let v = (t + i as i64) as f64;
            if i % 2 == 0 {
                Point::encoded(watchfire_agent::pipeline::SeriesBytes::new(&labels), t, v)
            } else {
                Point::new(labels, t, v)
            }
        })
        .collect()
}

fn expect(points: &[Point], into: &mut HashMap<(String, i64), f64>) {
    for p in points {
        into.insert((p.labels().get("series").to_string(), p.t), p.v);
    }
}

fn dropped(reg: &Registry, reason: &str) -> f64 {
    metric(
        reg,
        "watchfire_agent_remote_write_samples_dropped_total",
        Some(("reason", reason)),
    )
}

pub fn metric(reg: &Registry, name: &str, label: Option<(&str, &str)>) -> f64 {
    for f in reg.gather() {
        if f.name() != name {
            continue;
        }
        for m in f.get_metric() {
            let ok = label.is_none_or(|(k, v)| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == k && l.value() == v)
            });
            if ok {
                return if m.get_counter().is_some() {
                    m.get_counter().value()
                } else {
                    m.get_gauge().value()
                };
            }
        }
    }
    panic!("metric {name} {label:?} not found")
}

/// Expected observable behaviour of one retry case.
#[derive(Debug, PartialEq)]
struct RetryOutcome {
    requests: usize,
    stored: usize,
    dropped_4xx: f64,
    buffered: u64,
}

#[tokio::test(start_paused = true)]
async fn retry_table() {
    // First answer, then 204s; expected outcome; minimum gap between the
    // first and second request (virtual time).
    async fn check(first: Reply, want: RetryOutcome, min_gap: Duration, max_gap: Duration) {
        let f = first.clone();
        let rx = Receiver::start(move |i| if i == 0 { f.clone() } else { Reply::Ok }).await;
        let dir = tempfile::tempdir().unwrap();
        let reg = Registry::new();
        let w = RemoteWriter::start(config(rx.url(), &dir), &reg).unwrap();
        let pts = scrape(10, 1_000);
        w.append(pts);
        let report = w_flush(w, &reg).await;
        let reqs = rx.requests();
        let got = RetryOutcome {
            requests: reqs.len(),
            stored: rx.samples().len(),
            dropped_4xx: dropped(&reg, "http_4xx"),
            buffered: report,
        };
        assert_eq!(got, want, "first reply {first:?}");
        if reqs.len() > 1 {
            let gap = reqs[1].0 - reqs[0].0;
            assert!(
                gap >= min_gap && gap <= max_gap,
                "{first:?}: gap {gap:?} not in {min_gap:?}..{max_gap:?}"
            );
        }
        assert_eq!(rx.header_errors(), Vec::<String>::new());
    }
    async fn w_flush(w: RemoteWriter, _reg: &Registry) -> u64 {
        w.flushed().await;
        let r = w.shutdown(Duration::from_secs(1)).await;
        r.remaining_samples
    }
    let ok = |requests, stored| RetryOutcome {
        requests,
        stored,
        dropped_4xx: 0.0,
        buffered: 0,
    };
    let ms = Duration::from_millis;
    let s = Duration::from_secs;
    // 5xx: retried after the first backoff (30 ms nominal, jittered 15–30 ms).
    check(Reply::Status(500, None), ok(2, 10), ms(15), ms(31)).await;
    check(Reply::Status(503, None), ok(2, 10), ms(15), ms(31)).await;
    // A Retry-After on a 5xx is honoured too.
    check(Reply::Status(503, Some("7")), ok(2, 10), s(7), s(7) + ms(1)).await;
    // 429 with Retry-After (seconds) waits exactly that long.
    check(
        Reply::Status(429, Some("30")),
        ok(2, 10),
        s(30),
        s(30) + ms(1),
    )
    .await;
    // 429 without Retry-After falls back to the backoff.
    check(Reply::Status(429, None), ok(2, 10), ms(15), ms(31)).await;
    // A Retry-After beyond max_retry_after (5m) is capped.
    check(
        Reply::Status(429, Some("100000")),
        ok(2, 10),
        s(300),
        s(300) + ms(1),
    )
    .await;
    // Other 4xx: dropped, counted, never retried.
    let refused = |n| RetryOutcome {
        requests: 1,
        stored: 0,
        dropped_4xx: n,
        buffered: 0,
    };
    check(Reply::Status(400, None), refused(10.0), s(0), s(0)).await;
    check(Reply::Status(400, Some("1")), refused(10.0), s(0), s(0)).await;
    check(Reply::Status(404, None), refused(10.0), s(0), s(0)).await;
    check(Reply::Status(413, None), refused(10.0), s(0), s(0)).await;
}

#[tokio::test(start_paused = true)]
async fn connection_refused_is_retried_until_the_receiver_listens() {
    // Reserve a port, then free it: connections are refused.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::new();
    let url: reqwest::Url = format!("http://{addr}/api/v1/write").parse().unwrap();
    let w = RemoteWriter::start(config(url, &dir), &reg).unwrap();
    let pts = scrape(50, 5_000);
    let mut want = HashMap::new();
    expect(&pts, &mut want);
    w.append(pts);
    // Let the batch deadline pass and a few attempts fail.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let failed = metric(
        &reg,
        "watchfire_agent_remote_write_requests_total",
        Some(("outcome", "retry_network")),
    );
    assert!(failed >= 3.0, "only {failed} failed attempts");
    assert_eq!(w.buffered_samples(), 50);
    let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
    let rx = Receiver::serve(listener, |_| Reply::Ok);
    w.flushed().await;
    assert_eq!(
        delivery(&want, &rx.samples()),
        Delivery {
            expected: 50,
            received: 50,
            ..Default::default()
        }
    );
    assert_eq!(
        metric(
            &reg,
            "watchfire_agent_remote_write_samples_sent_total",
            None
        ),
        50.0
    );
    assert!(
        metric(
            &reg,
            "watchfire_agent_remote_write_samples_retried_total",
            None
        ) >= 150.0
    );
}

#[tokio::test(start_paused = true)]
async fn order_per_series_and_no_loss_across_shards() {
    // Every fifth request fails with a 500: retried, never stored twice.
    let rx = Receiver::start(|i| {
        if i % 5 == 3 {
            Reply::Status(500, None)
        } else {
            Reply::Ok
        }
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::new();
    let mut cfg = config(rx.url(), &dir);
    cfg.queue.min_shards = 4;
    cfg.queue.max_shards = 4;
    cfg.queue.max_samples_per_send = 150;
    let w = RemoteWriter::start(cfg, &reg).unwrap();
    let mut want = HashMap::new();
    for b in 0..60 {
        let pts = scrape(200, 1_000 * b);
        expect(&pts, &mut want);
        w.append(pts);
        if b % 7 == 0 {
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }
    w.flushed().await;
    assert_eq!(
        metric(&reg, "watchfire_agent_remote_write_shards", None),
        4.0
    );
    let d = delivery(&want, &rx.samples());
    assert_eq!(
        d,
        Delivery {
            expected: 12_000,
            received: 12_000,
            ..Default::default()
        }
    );
    let reqs = rx.requests();
    assert!(
        reqs.iter().all(|r| r.2 <= 150),
        "a request exceeded max_samples_per_send"
    );
    assert!(reqs.iter().any(|r| r.1 == 500));
    assert_eq!(
        metric(
            &reg,
            "watchfire_agent_remote_write_samples_sent_total",
            None
        ),
        12_000.0
    );
    assert_eq!(
        metric(&reg, "watchfire_agent_remote_write_buffer_samples", None),
        0.0
    );
}

/// One outage: 1,000 series scraped every second; the receiver answers
/// 503 for two minutes, then recovers.
#[tokio::test(start_paused = true)]
async fn two_minute_outage_loses_nothing() {
    const SERIES: usize = 1_000;
    let rx = Receiver::start(|_| Reply::Ok).await;
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::new();
    let w = RemoteWriter::start(config(rx.url(), &dir), &reg).unwrap();
    let mut want = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut max_buffered = 0;
    for s in 0..210i64 {
        tick.tick().await;
        if s == 30 {
            rx.set(|_| Reply::Status(503, None));
        }
        if s == 150 {
            rx.set(|_| Reply::Ok);
        }
        let pts = scrape(SERIES, 1_700_000_000_000 + s * 1_000);
        expect(&pts, &mut want);
        w.append(pts);
        max_buffered = max_buffered.max(w.buffered_samples());
    }
    w.flushed().await;
    let d = delivery(&want, &rx.samples());
    eprintln!(
        "outage: appended {} received {} duplicates {} max buffered {max_buffered} requests {} (503: {})",
        d.expected,
        d.received,
        d.duplicates,
        rx.requests().len(),
        rx.requests().iter().filter(|r| r.1 == 503).count()
    );
    // 503s store nothing, so nothing may arrive twice; the request in
    // flight at the cut either got its 204 before it or a 503 after it.
    assert_eq!(
        d,
        Delivery {
            expected: 210_000,
            received: 210_000,
            ..Default::default()
        }
    );
    // The outage really buffered ~two minutes of data on disk.
    assert!(
        max_buffered >= 115 * SERIES as u64,
        "max buffered {max_buffered}"
    );
    assert_eq!(
        metric(
            &reg,
            "watchfire_agent_remote_write_samples_sent_total",
            None
        ),
        210_000.0
    );
    assert!(
        metric(
            &reg,
            "watchfire_agent_remote_write_samples_retried_total",
            None
        ) > 0.0
    );
    for r in [
        "buffer_full",
        "too_old",
        "http_4xx",
        "disk_error",
        "corrupt",
    ] {
        assert_eq!(dropped(&reg, r), 0.0, "{r}");
    }
    assert_eq!(
        w.shutdown(Duration::from_secs(1)).await.remaining_samples,
        0
    );
}

#[tokio::test(start_paused = true)]
async fn restart_mid_outage_resends_pending_data() {
    let rx = Receiver::start(|_| Reply::Ok).await;
    let dir = tempfile::tempdir().unwrap();
    let mut want = HashMap::new();
    let w = RemoteWriter::start(config(rx.url(), &dir), &Registry::new()).unwrap();
    for s in 0..10 {
        let pts = scrape(300, s * 1_000);
        expect(&pts, &mut want);
        w.append(pts);
    }
    w.flushed().await;
    assert_eq!(rx.samples().len(), 3_000);
    rx.set(|_| Reply::Status(503, None));
    for s in 10..40 {
        let pts = scrape(300, s * 1_000);
        expect(&pts, &mut want);
        w.append(pts);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    assert_eq!(w.buffered_samples(), 9_000);
    w.kill().await; // as a crash: nothing drained.

    rx.set(|_| Reply::Ok);
    let reg = Registry::new();
    let w = RemoteWriter::start(config(rx.url(), &dir), &reg).unwrap();
    assert_eq!(
        metric(&reg, "watchfire_agent_remote_write_buffer_samples", None),
        9_000.0
    );
    let pts = scrape(300, 40_000);
    expect(&pts, &mut want);
    w.append(pts);
    w.flushed().await;
    let d = delivery(&want, &rx.samples());
    assert_eq!(
        d,
        Delivery {
            expected: 12_300,
            received: 12_300,
            ..Default::default()
        }
    );
    let report = w.shutdown(Duration::from_secs(5)).await;
    assert!(report.drained);
    assert_eq!(report.remaining_samples, 0);
}

#[tokio::test(start_paused = true)]
async fn full_buffer_drops_oldest_unsent_and_counts() {
    let rx = Receiver::start(|_| Reply::Status(503, None)).await;
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::new();
    let mut cfg = config(rx.url(), &dir);
    cfg.buffer.max_bytes = 1 << 20;
    let w = RemoteWriter::start(cfg, &reg).unwrap();
    let mut appended = 0u64;
    for s in 0..400 {
        let pts = scrape(500, s * 1_000);
        appended += pts.len() as u64;
        w.append(pts);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let bytes = metric(&reg, "watchfire_agent_remote_write_buffer_bytes", None);
    assert!(bytes <= (1 << 20) as f64, "buffer holds {bytes} bytes");
    let full = dropped(&reg, "buffer_full");
    assert!(full > 0.0);
    rx.set(|_| Reply::Ok);
    w.flushed().await;
    let got = rx.samples();
    // Everything appended was either delivered or counted as dropped.
    assert_eq!(got.len() as f64 + full, appended as f64);
    // What was dropped is the oldest: the newest scrape arrived.
    assert!(got.iter().any(|s| s.1 == 399_000));
}
