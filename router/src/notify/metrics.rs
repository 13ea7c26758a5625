//! The notifier's own metrics, registered into a caller-provided registry.

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
};

/// Metrics of the alert sinks and the notification queue.
///
/// `alertmanager` labels carry the target URL, as Prometheus does.
#[derive(Clone)]
pub struct NotifyMetrics {
    /// Alerts successfully delivered, per target.
    pub sent: IntCounterVec,
    /// Failed deliveries (after retries), per target; counts alerts.
    pub errors: IntCounterVec,
    /// Alerts dropped because the queue was full.
    pub dropped: IntCounter,
    /// Alerts waiting in the queue.
    pub queue_length: IntGauge,
    /// The queue's capacity.
    pub queue_capacity: IntGauge,
    /// Latency of one delivery attempt, per target.
    pub latency: HistogramVec,
    /// Retries performed, per target.
    pub retries: IntCounterVec,
}

impl std::fmt::Debug for NotifyMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NotifyMetrics").finish_non_exhaustive()
    }
}

impl NotifyMetrics {
    /// Creates the metrics and registers them into `registry`.
    pub fn new(registry: &Registry) -> Result<Self, prometheus::Error> {
        let m = Self::unregistered()?;
        registry.register(Box::new(m.sent.clone()))?;
        registry.register(Box::new(m.errors.clone()))?;
        registry.register(Box::new(m.dropped.clone()))?;
        registry.register(Box::new(m.queue_length.clone()))?;
        registry.register(Box::new(m.queue_capacity.clone()))?;
        registry.register(Box::new(m.latency.clone()))?;
        registry.register(Box::new(m.retries.clone()))?;
        Ok(m)
    }

    /// Creates the metrics without registering them anywhere.
    pub fn unregistered() -> Result<Self, prometheus::Error> {
        let target = &["alertmanager"];
        Ok(NotifyMetrics {
            sent: IntCounterVec::new(
                Opts::new(
                    "watchfire_notifications_sent_total",
                    "Alerts successfully sent.",
                ),
                target,
            )?,
            errors: IntCounterVec::new(
                Opts::new(
                    "watchfire_notifications_errors_total",
                    "Alerts whose delivery failed after all retries.",
                ),
                target,
            )?,
            dropped: IntCounter::new(
                "watchfire_notifications_dropped_total",
                "Alerts dropped because the notification queue was full.",
            )?,
            queue_length: IntGauge::new(
                "watchfire_notifications_queue_length",
                "Alerts waiting in the notification queue.",
            )?,
            queue_capacity: IntGauge::new(
                "watchfire_notifications_queue_capacity",
                "Capacity of the notification queue.",
            )?,
            latency: HistogramVec::new(
                HistogramOpts::new(
                    "watchfire_notifications_latency_seconds",
                    "Latency of one delivery attempt.",
                )
                .buckets(vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ]),
                target,
            )?,
            retries: IntCounterVec::new(
                Opts::new("watchfire_notifications_retries_total", "Delivery retries."),
                target,
            )?,
        })
    }

    pub(crate) fn latency_for(&self, target: &str) -> Histogram {
        self.latency.with_label_values(&[target])
    }
}
