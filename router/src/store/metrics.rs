//! Store metrics, read from [`Store::stats`] at scrape time by a custom
//! collector (the store itself stays free of metric plumbing).
//!
//! Exposed: `watchfire_store_series` (all series),
//! `watchfire_store_internal_series` (written by the router itself, exempt
//! from the series limit), `watchfire_store_samples`,
//! `watchfire_store_histogram_samples`, `watchfire_store_memory_bytes`,
//! `watchfire_store_memory_bytes_per_series`, `watchfire_store_max_series`,
//! `watchfire_store_appended_samples_total`,
//! `watchfire_store_duplicate_samples_total`,
//! `watchfire_store_rejected_samples_total{reason}`,
//! `watchfire_store_series_created_total`,
//! `watchfire_store_series_removed_total`.

use std::sync::Arc;

use parking_lot::Mutex;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use super::Store;

/// Collects the store's figures on each scrape.
pub struct StoreCollector {
    store: Arc<Store>,
    series: IntGauge,
    internal: IntGauge,
    samples: IntGauge,
    histograms: IntGauge,
    bytes: IntGauge,
    bytes_per_series: IntGauge,
    max_series: IntGauge,
    appended: IntCounter,
    duplicates: IntCounter,
    rejected: IntCounterVec,
    created: IntCounter,
    removed: IntCounter,
    /// Serialises scrapes so counter deltas are applied once.
    lock: Mutex<()>,
}

impl StoreCollector {
    pub fn new(store: Arc<Store>) -> Result<Self, prometheus::Error> {
        let g = |n: &str, h: &str| IntGauge::new(n, h);
        let c = |n: &str, h: &str| IntCounter::new(n, h);
        Ok(StoreCollector {
            store,
            series: g(
                "watchfire_store_series",
                "Live series in the in-memory store.",
            )?,
            internal: g(
                "watchfire_store_internal_series",
                "Live series written by the router itself (alerts, rules, self-metrics), exempt from the series limit.",
            )?,
            samples: g(
                "watchfire_store_samples",
                "Float samples held in the store.",
            )?,
            histograms: g(
                "watchfire_store_histogram_samples",
                "Native histogram samples held in the store.",
            )?,
            bytes: g(
                "watchfire_store_memory_bytes",
                "Estimated bytes held by the store (labels, index, samples).",
            )?,
            bytes_per_series: g(
                "watchfire_store_memory_bytes_per_series",
                "Estimated average bytes per series.",
            )?,
            max_series: g("watchfire_store_max_series", "The configured series limit.")?,
            appended: c("watchfire_store_appended_samples_total", "Samples stored.")?,
            duplicates: c(
                "watchfire_store_duplicate_samples_total",
                "Samples ignored as exact duplicates of the newest sample.",
            )?,
            rejected: IntCounterVec::new(
                Opts::new(
                    "watchfire_store_rejected_samples_total",
                    "Samples refused, by reason.",
                ),
                &["reason"],
            )?,
            created: c("watchfire_store_series_created_total", "Series created.")?,
            removed: c(
                "watchfire_store_series_removed_total",
                "Series removed by retention.",
            )?,
            lock: Mutex::new(()),
        })
    }

    /// Builds the collector and registers it.
    pub fn register(store: Arc<Store>, registry: &Registry) -> Result<(), prometheus::Error> {
        registry.register(Box::new(StoreCollector::new(store)?))
    }

    fn refresh(&self) {
        let st = self.store.stats();
        let set = |g: &IntGauge, v: usize| g.set(i64::try_from(v).unwrap_or(i64::MAX));
        set(&self.series, st.series);
        set(&self.internal, st.internal_series);
        set(&self.samples, st.samples);
        set(&self.histograms, st.histogram_samples);
        set(&self.bytes, st.bytes);
        set(&self.bytes_per_series, st.bytes_per_series());
        set(&self.max_series, self.store.config().max_series);
        let bump = |c: &IntCounter, total: u64| c.inc_by(total.saturating_sub(c.get()));
        bump(&self.appended, st.appended_total);
        bump(&self.duplicates, st.duplicates_total);
        bump(&self.created, st.series_created_total);
        bump(&self.removed, st.series_removed_total);
        for (reason, total) in [
            ("out_of_order", st.rejected_out_of_order_total),
            ("duplicate_timestamp", st.rejected_duplicate_total),
            ("too_old", st.rejected_too_old_total),
            ("series_limit", st.rejected_series_limit_total),
            ("labels", st.rejected_labels_total),
        ] {
            bump(&self.rejected.with_label_values(&[reason]), total);
        }
    }

    fn parts(&self) -> [&dyn Collector; 12] {
        [
            &self.series,
            &self.internal,
            &self.samples,
            &self.histograms,
            &self.bytes,
            &self.bytes_per_series,
            &self.max_series,
            &self.appended,
            &self.duplicates,
            &self.rejected,
            &self.created,
            &self.removed,
        ]
    }
}

impl Collector for StoreCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.parts().into_iter().flat_map(|c| c.desc()).collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let _guard = self.lock.lock();
        self.refresh();
        self.parts().into_iter().flat_map(|c| c.collect()).collect()
    }
}
