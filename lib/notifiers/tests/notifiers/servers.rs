//! Notifiers against the fake receivers (real HTTP on 127.0.0.1). The
//! delivery policy's sleeps go to a recording clock, so retries are
//! checked without waiting.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::Registry;
use watchfire_alertmodel::NotifyKind;
use watchfire_notifiers::delivery::{Clock, Delivery, RetryPolicy, Sleep};
use watchfire_notifiers::metrics::NotifierMetrics;
use watchfire_notifiers::pagerduty::{PagerDutyNotifier, PagerDutySettings};
use watchfire_notifiers::slack::{SlackMessageRef, SlackNotifier, SlackSettings, SlackTarget};
use watchfire_notifiers::templates::Templates;
use watchfire_notifiers::testing;
use watchfire_notifiers::webhook::{WebhookNotifier, WebhookSettings};
use watchfire_notifiers::{HttpAuth, HttpSettings, Notifier, NotifyError};

use crate::{notification, resolved_only};

/// Virtual time: sleeping records the duration and advances `now`.
#[derive(Default)]
struct RecordingClock {
    slept: Mutex<Vec<Duration>>,
}

impl Clock for RecordingClock {
    fn now_ms(&self) -> i64 {
        self.slept
            .lock()
            .unwrap()
            .iter()
            .map(|d| d.as_millis() as i64)
            .sum()
    }

    fn sleep(&self, d: Duration) -> Sleep {
        self.slept.lock().unwrap().push(d);
        Box::pin(std::future::ready(()))
    }
}

fn delivery(max_attempts: u32) -> (Delivery, Arc<RecordingClock>) {
    let clock = Arc::new(RecordingClock::default());
    let d = Delivery::new(
        RetryPolicy {
            max_attempts,
            ..RetryPolicy::default()
        },
        NotifierMetrics::new(&Registry::new()).unwrap(),
    )
    .with_clock(clock.clone())
    .with_jitter(Arc::new(|cap| cap));
    (d, clock)
}

const KEY: &str = "0123456789abcdef0123456789abcdef";

fn pd(url: String) -> PagerDutyNotifier {
    PagerDutyNotifier::new(
        PagerDutySettings {
            url,
            ..PagerDutySettings::new(KEY)
        },
        Arc::new(Templates::defaults()),
    )
    .unwrap()
}

#[tokio::test]
async fn webhook_delivers_v4_payload_with_auth() {
    let srv = testing::webhook::start().await.unwrap();
    let s = WebhookSettings {
        url: format!("{}/hook", srv.base_url()),
        send_resolved: true,
        max_alerts: 0,
        http: HttpSettings {
            auth: HttpAuth::Basic {
                username: "u".into(),
                password: "p".into(),
            },
            ..HttpSettings::default()
        },
    };
    let w = WebhookNotifier::new(s).unwrap();
    let (d, clock) = delivery(3);
    srv.state.fail_next(1, 503, None, "busy");
    assert!(d.deliver(&w, &notification()).await.unwrap().sent);
    assert_eq!(*clock.slept.lock().unwrap(), [Duration::from_millis(500)]);
    let got = srv.state.accepted();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].authorization.as_deref(), Some("Basic dTpw"));
    assert_eq!(got[0].content_type.as_deref(), Some("application/json"));
    assert_eq!(got[0].json()["alerts"][1]["endsAt"], "2024-05-01T12:03:20Z");
}

#[tokio::test]
async fn pagerduty_retry_after_then_success() {
    let srv = testing::pagerduty::start().await.unwrap();
    let n = pd(format!("{}/v2/enqueue", srv.base_url()));
    let (d, clock) = delivery(5);
    srv.state.fail_next(1, 429, Some("7"), r#"{"status":"throttle event","message":"Requests for this service are arriving too quickly."}"#);
    srv.state.fail_next(1, 502, None, "bad gateway");
    let ok = d.deliver(&n, &notification()).await.unwrap();
    assert_eq!(
        ok.dedup_key.as_deref(),
        Some("d4061866bc333de2350285b0452a21f78349e3d63b4f06b6c956f64f95d7be36")
    );
    assert_eq!(
        *clock.slept.lock().unwrap(),
        [Duration::from_secs(7), Duration::from_secs(1)]
    );
    assert_eq!(srv.state.seen(), 3);
    let ev = srv.state.accepted()[0].json();
    assert_eq!(ev["event_action"], "trigger");
    assert!(testing::pagerduty::validate_event(
        Some("application/json"),
        &srv.state.accepted()[0].body
    )
    .is_empty());
    // Resolve with the same dedup key.
    d.deliver(&n, &resolved_only()).await.unwrap();
    let ev2 = srv.state.accepted()[1].json();
    assert_eq!(
        (ev2["event_action"].as_str(), &ev2["dedup_key"]),
        (Some("resolve"), &ev["dedup_key"])
    );
}

#[tokio::test]
async fn pagerduty_invalid_event_is_not_retried() {
    let srv = testing::pagerduty::start().await.unwrap();
    let n = PagerDutyNotifier::new(
        PagerDutySettings {
            url: format!("{}/v2/enqueue", srv.base_url()),
            ..PagerDutySettings::new("short-key")
        },
        Arc::new(Templates::defaults()),
    )
    .unwrap();
    let (d, clock) = delivery(5);
    let dl = d.deliver(&n, &notification()).await.unwrap_err();
    assert_eq!((dl.attempts, srv.state.seen()), (1, 1));
    assert!(
        dl.reason.contains("400") && dl.reason.contains("invalid event"),
        "{}",
        dl.reason
    );
    assert!(clock.slept.lock().unwrap().is_empty());
}

#[tokio::test]
async fn pagerduty_server_errors_dead_letter() {
    let srv = testing::pagerduty::start().await.unwrap();
    let n = pd(format!("{}/v2/enqueue", srv.base_url()));
    let (d, clock) = delivery(3);
    srv.state.fail_next(10, 500, None, "oops");
    let dl = d.deliver(&n, &notification()).await.unwrap_err();
    assert_eq!((dl.attempts, srv.state.seen()), (3, 3));
    assert_eq!(dl.last_error.reason(), "status_5xx");
    assert_eq!(clock.slept.lock().unwrap().len(), 2);
    assert!(srv.state.accepted().is_empty());
}

fn bot(srv: &testing::FakeServer, token: &str) -> SlackNotifier {
    let s = SlackSettings {
        channel: "#ops".into(),
        send_resolved: true,
        ..SlackSettings::new(SlackTarget::Bot {
            token: token.into(),
            api_base: format!("{}/api", srv.base_url()),
        })
    };
    SlackNotifier::new(s, Arc::new(Templates::defaults())).unwrap()
}

#[tokio::test]
async fn slack_bot_posts_then_updates_on_ack_and_resolve() {
    let srv = testing::slack::start("xoxb-good").await.unwrap();
    let s = bot(&srv, "xoxb-good");
    let posted = s
        .notify(&notification())
        .await
        .unwrap()
        .slack_message
        .unwrap();
    assert_eq!(
        posted,
        SlackMessageRef {
            channel: "#ops".into(),
            ts: "1700000000.000001".into()
        }
    );
    let mut ack = notification();
    ack.kind = NotifyKind::Acknowledged { by: "alice".into() };
    assert_eq!(
        s.notify(&ack).await.unwrap().slack_message,
        Some(posted.clone())
    );
    assert_eq!(
        s.notify(&resolved_only()).await.unwrap().slack_message,
        Some(posted.clone())
    );
    let paths: Vec<String> = srv
        .state
        .accepted()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        paths,
        [
            "/api/chat.postMessage",
            "/api/chat.update",
            "/api/chat.update"
        ]
    );
    let upd = srv.state.accepted()[1].json();
    assert_eq!(
        (upd["channel"].as_str(), upd["ts"].as_str()),
        (Some("#ops"), Some("1700000000.000001"))
    );
    assert_eq!(
        srv.state.accepted()[0].authorization.as_deref(),
        Some("Bearer xoxb-good")
    );
    // A restarted notifier gets the message back from the caller.
    let s2 = bot(&srv, "xoxb-good");
    s2.remember(&ack.group_key, posted.clone());
    s2.notify(&ack).await.unwrap();
    assert_eq!(
        srv.state.accepted().last().unwrap().path,
        "/api/chat.update"
    );
    // An unknown message falls back to a new post.
    let s3 = bot(&srv, "xoxb-good");
    s3.remember(
        &ack.group_key,
        SlackMessageRef {
            channel: "#ops".into(),
            ts: "1.2".into(),
        },
    );
    let m = s3.notify(&ack).await.unwrap().slack_message.unwrap();
    assert_eq!(m.ts, "1700000000.000002");
}

#[tokio::test]
async fn slack_errors() {
    let srv = testing::slack::start("xoxb-good").await.unwrap();
    let (d, clock) = delivery(5);
    let dl = d
        .deliver(&bot(&srv, "xoxb-bad"), &notification())
        .await
        .unwrap_err();
    assert_eq!(dl.attempts, 1);
    assert!(
        matches!(&dl.last_error, NotifyError::Api { error, retryable: false, .. } if error == "invalid_auth")
    );
    srv.state.fail_next(1, 429, Some("30"), "");
    d.deliver(&bot(&srv, "xoxb-good"), &notification())
        .await
        .unwrap();
    assert_eq!(*clock.slept.lock().unwrap(), [Duration::from_secs(30)]);
}

#[tokio::test]
async fn slack_incoming_webhook() {
    let srv = testing::slack::start("unused").await.unwrap();
    let s = SlackSettings::new(SlackTarget::Webhook {
        url: format!("{}/services/hook", srv.base_url()),
    });
    let n = SlackNotifier::new(s, Arc::new(Templates::defaults())).unwrap();
    let d = n.notify(&notification()).await.unwrap();
    assert!(d.sent && d.slack_message.is_none());
    assert_eq!(srv.state.accepted()[0].json()["username"], "Alertmanager");
    srv.state.fail_next(1, 404, None, "channel_not_found");
    let e = n.notify(&notification()).await.unwrap_err();
    assert!(
        !e.retryable() && e.to_string().contains("channel_not_found"),
        "{e}"
    );
    // send_resolved defaults to false for Slack.
    assert!(!n.notify(&resolved_only()).await.unwrap().sent);
}

#[tokio::test]
async fn hanging_server_does_not_block_another_receiver() {
    let hang = testing::webhook::start().await.unwrap();
    let ok = testing::webhook::start().await.unwrap();
    let mk = |url: String| {
        WebhookNotifier::new(WebhookSettings {
            url,
            send_resolved: true,
            max_alerts: 0,
            http: HttpSettings {
                timeout: Duration::from_secs(60),
                ..HttpSettings::default()
            },
        })
        .unwrap()
    };
    let slow = mk(format!("{}/hang", hang.base_url()));
    let fast = mk(format!("{}/hook", ok.base_url()));
    let d = Delivery::new(
        RetryPolicy {
            max_attempts: 1,
            attempt_timeout: Duration::from_millis(1000),
            ..RetryPolicy::default()
        },
        NotifierMetrics::new(&Registry::new()).unwrap(),
    );
    let mut n2 = notification();
    n2.receiver = "other".into();
    let t0 = std::time::Instant::now();
    let (a, b) = tokio::join!(
        async { (d.deliver(&slow, &notification()).await, t0.elapsed()) },
        async { (d.deliver(&fast, &n2).await, t0.elapsed()) },
    );
    assert!(b.0.is_ok());
    assert!(b.1 < Duration::from_millis(1000), "{:?}", b.1);
    let dl = a.0.unwrap_err();
    assert_eq!(dl.last_error.reason(), "timeout");
    assert!(a.1 >= Duration::from_millis(1000));
    assert_eq!(ok.state.accepted().len(), 1);
}
