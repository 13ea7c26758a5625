//! The console sink: one human-readable line per alert, for `watchfire up`
//! and debugging.
//!
//! ```text
//! [FIRING] HighLatency {job="api", severity="page"} summary="p99 is 2s" startsAt=2024-05-01T12:00:00.000Z
//! [RESOLVED] HighLatency {job="api", severity="page"} summary="p99 is 2s" startsAt=2024-05-01T12:00:00.000Z endsAt=2024-05-01T12:10:00.000Z
//! ```

use std::io::Write;
use std::sync::{Arc, Mutex};

use super::{format_rfc3339_millis, now_millis, Alert, AlertSink, SinkError, SinkFuture};

/// A clock returning milliseconds since the Unix epoch.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Writes one line per alert to a writer (stdout by default).
pub struct ConsoleSink {
    out: Mutex<Box<dyn Write + Send>>,
    clock: Clock,
}

impl std::fmt::Debug for ConsoleSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsoleSink").finish_non_exhaustive()
    }
}

impl Default for ConsoleSink {
    fn default() -> Self {
        Self::stdout()
    }
}

impl ConsoleSink {
    /// A sink printing to standard output with the system clock.
    pub fn stdout() -> Self {
        Self::new(Box::new(std::io::stdout()), Arc::new(now_millis))
    }

    /// A sink writing to `out`; `clock` decides whether an alert is resolved.
    pub fn new(out: Box<dyn Write + Send>, clock: Clock) -> Self {
        ConsoleSink {
            out: Mutex::new(out),
            clock,
        }
    }
}

/// Renders one alert as a line (without the trailing newline).
pub fn format_alert(a: &Alert, now_ms: i64) -> String {
    let resolved = a.is_resolved_at(now_ms);
    let mut line = String::new();
    line.push_str(if resolved { "[RESOLVED] " } else { "[FIRING] " });
    line.push_str(a.name());
    line.push_str(" {");
    let mut first = true;
    for (k, v) in a.labels.iter().filter(|(k, _)| k.as_str() != "alertname") {
        if !first {
            line.push_str(", ");
        }
        first = false;
        line.push_str(&format!("{k}={v:?}"));
    }
    line.push('}');
    if let Some(s) = a.annotations.get("summary") {
        line.push_str(&format!(" summary={s:?}"));
    }
    line.push_str(" startsAt=");
    line.push_str(&format_rfc3339_millis(a.starts_at));
    if let (true, Some(e)) = (resolved, a.ends_at) {
        line.push_str(" endsAt=");
        line.push_str(&format_rfc3339_millis(e));
    }
    line
}

impl AlertSink for ConsoleSink {
    fn send<'a>(&'a self, alerts: &'a [Alert]) -> SinkFuture<'a> {
        Box::pin(async move {
            let now = (self.clock)();
            let mut text = String::new();
            for a in alerts {
                text.push_str(&format_alert(a, now));
                text.push('\n');
            }
            let err = |e: std::io::Error| SinkError::Send {
                target: "console".into(),
                reason: e.to_string(),
            };
            let mut out = self.out.lock().map_err(|_| SinkError::Send {
                target: "console".into(),
                reason: "output lock poisoned".into(),
            })?;
            out.write_all(text.as_bytes()).map_err(err)?;
            out.flush().map_err(err)
        })
    }
}
