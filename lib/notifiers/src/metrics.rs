//! The notifier metrics, registered into the caller's registry. Label
//! sets are bounded: `integration` is one of four names and `reason` one
//! of [`crate::NotifyError::reason`]'s values.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// Counters and the latency histogram of notification attempts.
#[derive(Clone)]
pub struct NotifierMetrics {
    /// Attempts, by integration (`watchfire_notifications_total`).
    pub total: IntCounterVec,
    /// Failed attempts (`watchfire_notifications_failed_total`).
    pub failed: IntCounterVec,
    /// Attempt latency (`watchfire_notification_latency_seconds`).
    pub latency: HistogramVec,
    /// Notifications given up on (`watchfire_notifications_dead_lettered_total`).
    pub dead_lettered: IntCounterVec,
}

impl NotifierMetrics {
    /// Creates the metrics and registers them.
    pub fn new(registry: &Registry) -> Result<NotifierMetrics, prometheus::Error> {
        let total = IntCounterVec::new(
            Opts::new(
                "watchfire_notifications_total",
                "The total number of attempted notifications.",
            ),
            &["integration"],
        )?;
        let failed = IntCounterVec::new(
            Opts::new(
                "watchfire_notifications_failed_total",
                "The total number of failed notification attempts.",
            ),
            &["integration", "reason"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "watchfire_notification_latency_seconds",
                "The latency of notification attempts in seconds.",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            &["integration"],
        )?;
        let dead_lettered = IntCounterVec::new(
            Opts::new(
                "watchfire_notifications_dead_lettered_total",
                "The total number of notifications given up on after retries.",
            ),
            &["integration"],
        )?;
        registry.register(Box::new(total.clone()))?;
        registry.register(Box::new(failed.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(dead_lettered.clone()))?;
        Ok(NotifierMetrics {
            total,
            failed,
            latency,
            dead_lettered,
        })
    }
}
