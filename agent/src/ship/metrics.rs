//! The sender's own metrics, `watchfire_agent_remote_write_*`. Labels are
//! bounded: `reason` takes the values listed on each metric.

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// Why samples were dropped (`reason` label of `samples_dropped_total`).
pub mod reason {
    /// The disk buffer reached `buffer.max_size`; its oldest unsent data
    /// was dropped to make room.
    pub const BUFFER_FULL: &str = "buffer_full";
    /// Unsent data older than `buffer.max_age`.
    pub const TOO_OLD: &str = "too_old";
    /// The receiver answered a 4xx other than 429: never retried.
    pub const HTTP_4XX: &str = "http_4xx";
    /// The batch could not be written to disk.
    pub const DISK_ERROR: &str = "disk_error";
    /// A buffered record could not be decoded.
    pub const CORRUPT: &str = "corrupt";
}

/// All metrics of one sender.
#[derive(Clone)]
pub struct ShipMetrics {
    /// Samples handed to `append` and made durable.
    pub samples_appended: IntCounter,
    /// Samples acknowledged (2xx) by the receiver.
    pub samples_sent: IntCounter,
    /// Samples in attempts that failed (any reason, before retry or drop).
    pub samples_failed: IntCounter,
    /// Samples sent again after a failed attempt.
    pub samples_retried: IntCounter,
    /// Samples given up, by `reason` (buffer_full, too_old, http_4xx,
    /// disk_error, corrupt).
    pub samples_dropped: IntCounterVec,
    /// Requests by `outcome`: success, retry_5xx, retry_429, retry_network, drop_4xx.
    pub requests: IntCounterVec,
    /// Bytes of unsent data in the disk buffer (payload, compressed).
    pub buffer_bytes: IntGauge,
    /// Samples in the disk buffer (unsent or in flight).
    pub buffer_samples: IntGauge,
    /// Age of the oldest unsent data, seconds: the sender's lag.
    pub oldest_unsent_age_seconds: prometheus::Gauge,
    /// Shards running.
    pub shards: IntGauge,
    /// Duration of one HTTP request, any outcome.
    pub send_duration: Histogram,
    /// Newest sample timestamp acknowledged by the receiver, seconds.
    pub highest_sent_timestamp_seconds: prometheus::Gauge,
    /// Newest sample timestamp appended, seconds.
    pub highest_appended_timestamp_seconds: prometheus::Gauge,
}

const P: &str = "watchfire_agent_remote_write_";

impl ShipMetrics {
    /// Creates the metrics and registers them into `reg`.
    pub fn new(reg: &Registry) -> Result<Self, prometheus::Error> {
        let c = |n: &str, h: &str| IntCounter::new(format!("{P}{n}"), h);
        let m = ShipMetrics {
            samples_appended: c(
                "samples_appended_total",
                "Samples accepted into the disk buffer.",
            )?,
            samples_sent: c(
                "samples_sent_total",
                "Samples acknowledged by the receiver.",
            )?,
            samples_failed: c("samples_failed_total", "Samples in failed send attempts.")?,
            samples_retried: c(
                "samples_retried_total",
                "Samples sent again after a failure.",
            )?,
            samples_dropped: IntCounterVec::new(
                Opts::new(
                    format!("{P}samples_dropped_total"),
                    "Samples given up, by reason.",
                ),
                &["reason"],
            )?,
            requests: IntCounterVec::new(
                Opts::new(
                    format!("{P}requests_total"),
                    "Requests (batches) by outcome.",
                ),
                &["outcome"],
            )?,
            buffer_bytes: IntGauge::new(
                format!("{P}buffer_bytes"),
                "Bytes of buffered data on disk.",
            )?,
            buffer_samples: IntGauge::new(
                format!("{P}buffer_samples"),
                "Samples buffered on disk.",
            )?,
            oldest_unsent_age_seconds: prometheus::Gauge::new(
                format!("{P}oldest_unsent_age_seconds"),
                "Age of the oldest buffered data not yet acknowledged.",
            )?,
            shards: IntGauge::new(format!("{P}shards"), "Shards running.")?,
            send_duration: Histogram::with_opts(
                HistogramOpts::new(
                    format!("{P}send_duration_seconds"),
                    "Duration of one request.",
                )
                .buckets(prometheus::exponential_buckets(0.005, 2.0, 14)?),
            )?,
            highest_sent_timestamp_seconds: prometheus::Gauge::new(
                format!("{P}highest_sent_timestamp_seconds"),
                "Newest sample timestamp acknowledged by the receiver.",
            )?,
            highest_appended_timestamp_seconds: prometheus::Gauge::new(
                format!("{P}highest_appended_timestamp_seconds"),
                "Newest sample timestamp appended.",
            )?,
        };
        reg.register(Box::new(m.samples_appended.clone()))?;
        reg.register(Box::new(m.samples_sent.clone()))?;
        reg.register(Box::new(m.samples_failed.clone()))?;
        reg.register(Box::new(m.samples_retried.clone()))?;
        reg.register(Box::new(m.samples_dropped.clone()))?;
        reg.register(Box::new(m.requests.clone()))?;
        reg.register(Box::new(m.buffer_bytes.clone()))?;
        reg.register(Box::new(m.buffer_samples.clone()))?;
        reg.register(Box::new(m.oldest_unsent_age_seconds.clone()))?;
        reg.register(Box::new(m.shards.clone()))?;
        reg.register(Box::new(m.send_duration.clone()))?;
        reg.register(Box::new(m.highest_sent_timestamp_seconds.clone()))?;
        reg.register(Box::new(m.highest_appended_timestamp_seconds.clone()))?;
        for r in [
            reason::BUFFER_FULL,
            reason::TOO_OLD,
            reason::HTTP_4XX,
            reason::DISK_ERROR,
            reason::CORRUPT,
        ] {
            m.samples_dropped.with_label_values(&[r]);
        }
        Ok(m)
    }

    pub fn dropped(&self, reason: &str, n: u64) {
        if n > 0 {
            self.samples_dropped.with_label_values(&[reason]).inc_by(n);
        }
    }

    /// Sets a gauge to the max of its value and `ts_ms` (as seconds).
    pub fn raise(g: &prometheus::Gauge, ts_ms: i64) {
        let s = ts_ms as f64 / 1000.0;
        if s > g.get() {
            g.set(s);
        }
    }
}
