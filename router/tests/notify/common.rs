//! Helpers shared by the notify tests.

use std::collections::BTreeMap;
use std::time::Duration;

use watchfire_router::notify::Alert;

/// Builds an alert from label and annotation pairs.
pub fn alert(
    labels: &[(&str, &str)],
    annotations: &[(&str, &str)],
    starts_at: i64,
    ends_at: Option<i64>,
) -> Alert {
    let map = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    Alert {
        labels: map(labels),
        annotations: map(annotations),
        starts_at,
        ends_at,
        generator_url: "http://watchfire.test/graph?g0.expr=up".into(),
    }
}

/// Polls `f` every 100 ms (tokio interval, not a fixed sleep) until it
/// returns `Some`, for at most `limit`.
pub async fn poll_until<T, F, Fut>(limit: Duration, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let tries = (limit.as_millis() / 100).max(1);
    for _ in 0..tries {
        tick.tick().await;
        if let Some(v) = f().await {
            return v;
        }
    }
    panic!("timed out after {limit:?} waiting for {what}");
}
