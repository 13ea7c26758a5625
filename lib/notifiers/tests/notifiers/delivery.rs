//! The delivery policy under tokio's paused clock, with scripted
//! notifiers (no I/O): backoff, jitter, Retry-After, dead letters,
//! metrics, rate limits, and a hanging receiver.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::Registry;
use tokio::time::Instant;
use watchfire_notifiers::delivery::{Delivery, RateLimit, RetryPolicy};
use watchfire_notifiers::metrics::NotifierMetrics;
use watchfire_notifiers::{Delivered, Notification, Notifier, NotifyError, NotifyFuture};

use crate::notification;

/// Returns scripted results (then successes) and records when it was called.
struct Scripted {
    results: Mutex<VecDeque<Result<Delivered, NotifyError>>>,
    calls: Mutex<Vec<Instant>>,
    hang: bool,
}

impl Scripted {
    fn new(results: Vec<Result<Delivered, NotifyError>>) -> Scripted {
        Scripted {
            results: Mutex::new(results.into()),
            calls: Mutex::new(vec![]),
            hang: false,
        }
    }

    /// Call times in ms since `t0`.
    fn call_ms(&self, t0: Instant) -> Vec<u128> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|t| (*t - t0).as_millis())
            .collect()
    }
}

impl Notifier for Scripted {
    fn integration(&self) -> &'static str {
        "webhook"
    }

    fn notify<'a>(&'a self, _n: &'a Notification) -> NotifyFuture<'a> {
        Box::pin(async move {
            self.calls.lock().unwrap().push(Instant::now());
            if self.hang {
                std::future::pending::<()>().await;
            }
            self.results
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or(Ok(Delivered::sent()))
        })
    }
}

fn status(code: u16, retry_after: Option<u64>) -> Result<Delivered, NotifyError> {
    Err(NotifyError::Status {
        integration: "webhook",
        status: code,
        body: String::new(),
        retryable: code == 429 || code >= 500,
        retry_after: retry_after.map(Duration::from_secs),
    })
}

fn policy(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        ..RetryPolicy::default()
    }
}

/// A delivery whose jitter returns the full cap (deterministic).
fn delivery(p: RetryPolicy) -> (Delivery, Registry) {
    let reg = Registry::new();
    let d = Delivery::new(p, NotifierMetrics::new(&reg).unwrap()).with_jitter(Arc::new(|cap| cap));
    (d, reg)
}

fn metric(reg: &Registry, name: &str, labels: &[(&str, &str)]) -> f64 {
    for mf in reg.gather() {
        if mf.name() != name {
            continue;
        }
        for m in mf.get_metric() {
            let ok = labels.iter().all(|(k, v)| {
                m.get_label()
                    .iter()
                    .any(|l| l.name() == *k && l.value() == *v)
            });
            if ok {
                return if m.get_counter().is_some() {
                    m.get_counter().value()
                } else {
                    m.get_histogram().get_sample_count() as f64
                };
            }
        }
    }
    0.0
}

/// Runs a script through the policy: the call times and whether it was
/// dead-lettered after how many attempts.
async fn check(
    p: RetryPolicy,
    script: Vec<Result<Delivered, NotifyError>>,
    calls_ms: &[u128],
    dead: Option<u32>,
) -> Registry {
    let (d, reg) = delivery(p);
    let s = Scripted::new(script);
    let t0 = Instant::now();
    let res = d.deliver(&s, &notification()).await;
    assert_eq!(s.call_ms(t0), calls_ms);
    assert_eq!(res.as_ref().err().map(|dl| dl.attempts), dead, "{res:?}");
    reg
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured() {
    check(
        policy(5),
        vec![status(429, Some(7)), status(503, Some(2))],
        &[0, 7_000, 9_000],
        None,
    )
    .await;
}

#[tokio::test(start_paused = true)]
async fn client_errors_are_not_retried() {
    let reg = check(policy(5), vec![status(400, None)], &[0], Some(1)).await;
    assert_eq!(
        metric(
            &reg,
            "watchfire_notifications_dead_lettered_total",
            &[("integration", "webhook")]
        ),
        1.0
    );
    assert_eq!(
        metric(
            &reg,
            "watchfire_notifications_failed_total",
            &[("reason", "status_4xx")]
        ),
        1.0
    );
    assert_eq!(metric(&reg, "watchfire_notifications_total", &[]), 1.0);
}

#[tokio::test(start_paused = true)]
async fn server_errors_back_off_then_dead_letter() {
    // Caps 0.5s, 1s, 2s (the jitter returns the cap).
    let reg = check(
        policy(4),
        vec![status(500, None); 4],
        &[0, 500, 1_500, 3_500],
        Some(4),
    )
    .await;
    assert_eq!(
        metric(
            &reg,
            "watchfire_notifications_total",
            &[("integration", "webhook")]
        ),
        4.0
    );
    assert_eq!(
        metric(
            &reg,
            "watchfire_notifications_failed_total",
            &[("reason", "status_5xx")]
        ),
        4.0
    );
    assert_eq!(
        metric(&reg, "watchfire_notification_latency_seconds", &[]),
        4.0
    );
    // Success after retries is not dead-lettered.
    check(policy(4), vec![status(502, None)], &[0, 500], None).await;
}

#[tokio::test(start_paused = true)]
async fn elapsed_budget_bounds_retries() {
    let p = RetryPolicy {
        max_elapsed: Duration::from_secs(60),
        ..policy(10)
    };
    // A Retry-After beyond the budget gives up at once.
    check(p.clone(), vec![status(429, Some(120))], &[0], Some(1)).await;
    let d = check(
        p,
        vec![status(429, Some(40)), status(429, Some(30))],
        &[0, 40_000],
        Some(2),
    )
    .await;
    drop(d);
}

#[tokio::test(start_paused = true)]
async fn dead_letter_fields() {
    let (d, _reg) = delivery(policy(1));
    let s = Scripted::new(vec![status(503, None)]);
    let dl = d.deliver(&s, &notification()).await.unwrap_err();
    assert_eq!(
        (dl.receiver.as_str(), dl.integration, dl.attempts),
        ("team-x", "webhook", 1)
    );
    assert_eq!(dl.group_key, notification().group_key);
    assert!(dl.reason.contains("503"), "{}", dl.reason);
    assert!(dl.last_error.retryable());
}

#[test]
fn backoff_caps() {
    fn check(retry: u32, expect_ms: u128) {
        assert_eq!(
            RetryPolicy::default().backoff_cap(retry).as_millis(),
            expect_ms,
            "retry {retry}"
        );
    }
    check(1, 500);
    check(2, 1_000);
    check(5, 8_000);
    check(8, 60_000);
    check(40, 60_000);
}

#[tokio::test(start_paused = true)]
async fn jitter_is_injected() {
    let reg = Registry::new();
    let d = Delivery::new(policy(3), NotifierMetrics::new(&reg).unwrap())
        .with_jitter(Arc::new(|cap| cap / 4));
    let s = Scripted::new(vec![status(500, None), status(500, None)]);
    let t0 = Instant::now();
    d.deliver(&s, &notification()).await.unwrap();
    assert_eq!(s.call_ms(t0), [0, 125, 375]);
}

#[tokio::test(start_paused = true)]
async fn rate_limit_per_receiver() {
    let (d, _reg) = delivery(policy(1));
    d.set_rate_limit(
        "team-x",
        RateLimit {
            per_second: 2.0,
            burst: 2,
        },
    );
    let s = Scripted::new(vec![]);
    let other = Scripted::new(vec![]);
    let t0 = Instant::now();
    let mut n_other = notification();
    n_other.receiver = "unlimited".into();
    for _ in 0..5 {
        d.deliver(&s, &notification()).await.unwrap();
        d.deliver(&other, &n_other).await.unwrap();
    }
    assert_eq!(s.call_ms(t0), [0, 0, 500, 1_000, 1_500]);
    assert_eq!(
        other.call_ms(t0),
        [0, 0, 500, 1_000, 1_500],
        "sequential with the limited one"
    );
    let other2 = Scripted::new(vec![]);
    let t1 = Instant::now();
    for _ in 0..3 {
        d.deliver(&other2, &n_other).await.unwrap();
    }
    assert_eq!(
        other2.call_ms(t1),
        [0, 0, 0],
        "other receivers are not limited"
    );
}

#[tokio::test(start_paused = true)]
async fn hanging_receiver_does_not_block_others() {
    let p = RetryPolicy {
        attempt_timeout: Duration::from_secs(10),
        ..policy(2)
    };
    let (d, reg) = delivery(p);
    let hanging = Scripted {
        hang: true,
        ..Scripted::new(vec![])
    };
    let fine = Scripted::new(vec![]);
    let mut n2 = notification();
    n2.receiver = "other".into();
    let t0 = Instant::now();
    let (a, b) = tokio::join!(
        async { (d.deliver(&hanging, &notification()).await, t0.elapsed()) },
        async { (d.deliver(&fine, &n2).await, t0.elapsed()) },
    );
    assert_eq!(b.1, Duration::ZERO);
    assert!(b.0.is_ok());
    let dl = a.0.unwrap_err();
    assert_eq!(dl.attempts, 2);
    assert_eq!(dl.last_error.reason(), "timeout");
    assert_eq!(a.1, Duration::from_millis(10_000 + 500 + 10_000));
    assert_eq!(
        metric(
            &reg,
            "watchfire_notifications_failed_total",
            &[("reason", "timeout")]
        ),
        2.0
    );
}

#[test]
fn retry_after_values() {
    use std::time::{SystemTime, UNIX_EPOCH};
    // 2015-10-21T07:28:00Z
    let now = UNIX_EPOCH + Duration::from_secs(1_445_412_480);
    fn check(now: SystemTime, v: &str, expect: Option<u64>) {
        assert_eq!(
            watchfire_notifiers::parse_retry_after(v, now),
            expect.map(Duration::from_secs),
            "{v}"
        );
    }
    check(now, "120", Some(120));
    check(now, " 0 ", Some(0));
    check(now, "Wed, 21 Oct 2015 07:28:30 GMT", Some(30));
    check(now, "Wed, 21 Oct 2015 07:00:00 GMT", Some(0));
    check(now, "-5", None);
    check(now, "soon", None);
}
