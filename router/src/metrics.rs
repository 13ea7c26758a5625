//! The router's self-metrics: one `prometheus::Registry` every component
//! registers its own typed metrics into, and the text encoding served on
//! `/metrics`.
//!
//! Usage: build one [`Metrics`] at start, pass `&metrics.registry` to each
//! component's metrics constructor (`FooMetrics::new(&metrics.registry)`),
//! and serve [`Metrics::encode`] with [`CONTENT_TYPE`].

use prometheus::{Encoder, Registry, TextEncoder};

/// The content type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The router's metric registry. Cloning shares the registry.
#[derive(Clone, Default)]
pub struct Metrics {
    pub registry: Registry,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    pub fn new() -> Self {
        Metrics {
            registry: Registry::new(),
        }
    }

    /// Registers a collector (a metric or a custom collector).
    pub fn register(
        &self,
        c: Box<dyn prometheus::core::Collector>,
    ) -> Result<(), prometheus::Error> {
        self.registry.register(c)
    }

    /// Every registered metric in the text exposition format.
    pub fn encode(&self) -> String {
        let families = self.registry.gather();
        let mut buf = Vec::new();
        // Encoding into a Vec only fails on metric families that break
        // the format's rules, which registration already refuses; an
        // empty page is then the safe answer.
        if TextEncoder::new().encode(&families, &mut buf).is_err() {
            return String::new();
        }
        String::from_utf8(buf).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_registered_metrics() {
        let m = Metrics::new();
        let c = prometheus::IntCounter::new("watchfire_test_total", "A test counter.").unwrap();
        m.register(Box::new(c.clone())).unwrap();
        c.inc_by(3);
        let text = m.encode();
        assert!(
            text.contains("# TYPE watchfire_test_total counter"),
            "{text}"
        );
        assert!(text.contains("watchfire_test_total 3"), "{text}");
    }
}
