//! remote_write receiver metrics (all labels bounded):
//! `watchfire_remote_write_requests_total{code}`,
//! `watchfire_remote_write_samples_total{result}` (float and histogram
//! samples: `accepted`, `duplicate`, `rejected_invalid`,
//! `rejected_series_limit`, `conflict`),
//! `watchfire_remote_write_request_errors_total{reason}`,
//! `watchfire_remote_write_exemplars_ignored_total`,
//! `watchfire_remote_write_received_bytes_total` (compressed bodies).

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

#[derive(Clone, Debug)]
pub struct IngestMetrics {
    pub requests: IntCounterVec,
    pub samples: IntCounterVec,
    pub errors: IntCounterVec,
    pub exemplars_ignored: IntCounter,
    pub received_bytes: IntCounter,
}

impl IngestMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = IngestMetrics {
            requests: IntCounterVec::new(
                Opts::new(
                    "watchfire_remote_write_requests_total",
                    "remote_write requests received, by HTTP status code.",
                ),
                &["code"],
            )?,
            samples: IntCounterVec::new(
                Opts::new(
                    "watchfire_remote_write_samples_total",
                    "Float and histogram samples received over remote_write, by result.",
                ),
                &["result"],
            )?,
            errors: IntCounterVec::new(
                Opts::new(
                    "watchfire_remote_write_request_errors_total",
                    "remote_write requests refused, by reason.",
                ),
                &["reason"],
            )?,
            exemplars_ignored: IntCounter::new(
                "watchfire_remote_write_exemplars_ignored_total",
                "Exemplars received and ignored (the router does not store them).",
            )?,
            received_bytes: IntCounter::new(
                "watchfire_remote_write_received_bytes_total",
                "Compressed remote_write body bytes received.",
            )?,
        };
        registry.register(Box::new(m.requests.clone()))?;
        registry.register(Box::new(m.samples.clone()))?;
        registry.register(Box::new(m.errors.clone()))?;
        registry.register(Box::new(m.exemplars_ignored.clone()))?;
        registry.register(Box::new(m.received_bytes.clone()))?;
        Ok(m)
    }

    pub(crate) fn samples(&self, result: &str, n: usize) {
        if n > 0 {
            self.samples.with_label_values(&[result]).inc_by(n as u64);
        }
    }
}
