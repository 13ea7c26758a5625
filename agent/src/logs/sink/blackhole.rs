//! The blackhole sink: acknowledges every batch at once and keeps
//! nothing. For measuring the pipeline (tail → decode → redact) without a
//! destination's cost, and for trying redaction rules on real files
//! before pointing the agent anywhere. Records it takes count in
//! `watchfire_agent_log_sink_sent_total{sink="blackhole"}`; their offsets
//! are checkpointed like any acknowledged record, so they are not read
//! again.

use std::sync::Arc;

use super::{SendFuture, Sink};
use crate::logs::metrics::LogMetrics;

/// Drops every record, acknowledging it.
pub struct BlackholeSink {
    metrics: Arc<LogMetrics>,
}

impl BlackholeSink {
    pub fn new(metrics: Arc<LogMetrics>) -> BlackholeSink {
        BlackholeSink { metrics }
    }
}

impl Sink for BlackholeSink {
    fn name(&self) -> &str {
        "blackhole"
    }

    fn send(&mut self, lines: Arc<[String]>) -> SendFuture<'_> {
        self.metrics
            .sink_sent
            .with_label_values(&["blackhole"])
            .inc_by(lines.len() as u64);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every batch resolves at once and counts as sent.
    fn check(batches: &[usize], expect_sent: u64) {
        let metrics = Arc::new(LogMetrics::new());
        let mut sink = BlackholeSink::new(metrics.clone());
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        for &n in batches {
            let lines: Arc<[String]> = (0..n).map(|i| format!("{{\"n\":{i}}}")).collect();
            rt.block_on(sink.send(lines)).unwrap();
        }
        let sent = metrics.sink_sent.with_label_values(&["blackhole"]).get();
        assert_eq!(sent, expect_sent, "{batches:?}");
    }

    #[test]
    fn acknowledges_and_counts() {
        for (batches, sent) in [(&[][..], 0), (&[3][..], 3), (&[512, 1, 0][..], 513)] {
            check(batches, sent);
        }
    }
}
