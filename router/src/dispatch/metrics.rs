//! The dispatcher's own metrics (bounded labels only).
//!
//! Counters are bumped by the service as things happen. Gauges that
//! describe the core's state (alerts, groups, silences, escalations, the
//! outbox, dead letters) are computed when `/metrics` is scraped, as
//! Alertmanager's collectors do: counting 100,000 alerts takes a few
//! milliseconds under the core's lock, which a scrape every 15 s can
//! afford and a timer running whether or not anyone scrapes should not
//! take from ingestion.

use std::sync::{Arc, OnceLock};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};
use watchfire_dispatch::{Origin, Outgoing};

use super::persister::{CommitObserver, CommitStats};
use super::service::{DispatchService, ServiceObserver, WeakService};

/// The dispatcher's metrics.
#[derive(Clone)]
pub struct DispatchMetrics {
    alerts: IntGaugeVec,
    groups: IntGauge,
    silences: IntGaugeVec,
    escalations: IntGaugeVec,
    overdue: prometheus::Gauge,
    outbox: IntGauge,
    dead_letters: IntGauge,
    delivered: IntCounterVec,
    failed: IntCounterVec,
    commits: IntCounter,
    commit_seconds: Histogram,
    commit_requests: Histogram,
    log_rows: IntGauge,
    log_versions: IntGauge,
    reloads: IntCounterVec,
    reload_ok: IntGauge,
    /// The service the state gauges read, once [`DispatchMetrics::attach`]
    /// named it (weak: the service holds these metrics as its observer).
    service: Arc<OnceLock<WeakService>>,
}

/// Computes the state gauges at scrape time.
struct StateCollector {
    metrics: DispatchMetrics,
    descs: Vec<Desc>,
}

impl StateCollector {
    fn gauges(m: &DispatchMetrics) -> [&dyn Collector; 7] {
        [
            &m.alerts,
            &m.groups,
            &m.silences,
            &m.escalations,
            &m.overdue,
            &m.outbox,
            &m.dead_letters,
        ]
    }
}

impl Collector for StateCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let m = &self.metrics;
        if let Some(svc) = m.service.get().and_then(WeakService::upgrade) {
            m.refresh(&svc);
        }
        Self::gauges(m).iter().flat_map(|g| g.collect()).collect()
    }
}

fn origin(o: &Outgoing) -> &'static str {
    match o.origin {
        Origin::Flush { .. } => "flush",
        Origin::Step { .. } => "escalation",
        Origin::Ack => "ack",
        Origin::Resolve => "resolve",
    }
}

impl DispatchMetrics {
    pub fn new(r: &Registry) -> Result<DispatchMetrics, prometheus::Error> {
        let m = DispatchMetrics {
            alerts: IntGaugeVec::new(
                Opts::new(
                    "watchfire_dispatch_alerts",
                    "Alerts held by the dispatcher, by state (active, suppressed).",
                ),
                &["state"],
            )?,
            groups: IntGauge::new("watchfire_dispatch_groups", "Aggregation groups.")?,
            silences: IntGaugeVec::new(
                Opts::new(
                    "watchfire_dispatch_silences",
                    "Silences by state (active, pending, expired).",
                ),
                &["state"],
            )?,
            escalations: IntGaugeVec::new(
                Opts::new(
                    "watchfire_dispatch_escalations",
                    "Escalations by state (running, acknowledged, exhausted).",
                ),
                &["state"],
            )?,
            overdue: prometheus::Gauge::new(
                "watchfire_dispatch_escalation_overdue_seconds",
                "How late the most overdue escalation step is (0 when none is past due).",
            )?,
            outbox: IntGauge::new(
                "watchfire_dispatch_outbox_pending",
                "Notifications written to the outbox and not yet delivered or dead-lettered.",
            )?,
            dead_letters: IntGauge::new(
                "watchfire_dispatch_dead_letters",
                "Notifications that exhausted their retries and are kept as dead letters.",
            )?,
            delivered: IntCounterVec::new(
                Opts::new(
                    "watchfire_dispatch_notifications_delivered_total",
                    "Notifications delivered, by origin (flush, escalation, ack, resolve).",
                ),
                &["origin"],
            )?,
            failed: IntCounterVec::new(
                Opts::new(
                    "watchfire_dispatch_notifications_dead_lettered_total",
                    "Notifications dead-lettered after their retries, by origin.",
                ),
                &["origin"],
            )?,
            commits: IntCounter::new(
                "watchfire_dispatch_state_commits_total",
                "Durable commits of dispatch state.",
            )?,
            commit_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "watchfire_dispatch_state_commit_duration_seconds",
                    "Time to commit a batch of dispatch state (fsync included).",
                )
                .buckets(vec![
                    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
                ]),
            )?,
            commit_requests: Histogram::with_opts(
                HistogramOpts::new(
                    "watchfire_dispatch_state_commit_requests",
                    "Requests whose changes shared one commit (group commit).",
                )
                .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0]),
            )?,
            log_rows: IntGauge::new(
                "watchfire_dispatch_alert_log_rows",
                "Rows in the alert log (alerts are stored as rows of operations).",
            )?,
            log_versions: IntGauge::new(
                "watchfire_dispatch_alert_log_versions",
                "Alert versions stored in the alert log, current or superseded (garbage is compacted above 2 x live + 65536).",
            )?,
            reloads: IntCounterVec::new(
                Opts::new(
                    "watchfire_dispatch_config_reloads_total",
                    "alertmanager.yml reloads, by result (success, failure).",
                ),
                &["result"],
            )?,
            reload_ok: IntGauge::new(
                "watchfire_dispatch_config_last_reload_successful",
                "Whether the last alertmanager.yml reload succeeded (1) or was rejected (0).",
            )?,
            service: Arc::new(OnceLock::new()),
        };
        let descs = StateCollector::gauges(&m)
            .iter()
            .flat_map(|g| g.desc().into_iter().cloned())
            .collect();
        r.register(Box::new(StateCollector {
            metrics: m.clone(),
            descs,
        }))?;
        r.register(Box::new(m.delivered.clone()))?;
        r.register(Box::new(m.failed.clone()))?;
        r.register(Box::new(m.commits.clone()))?;
        r.register(Box::new(m.commit_seconds.clone()))?;
        r.register(Box::new(m.commit_requests.clone()))?;
        r.register(Box::new(m.log_rows.clone()))?;
        r.register(Box::new(m.log_versions.clone()))?;
        r.register(Box::new(m.reloads.clone()))?;
        r.register(Box::new(m.reload_ok.clone()))?;
        m.reload_ok.set(1);
        for s in ["active", "suppressed"] {
            m.alerts.with_label_values(&[s]);
        }
        for s in ["running", "acknowledged", "exhausted"] {
            m.escalations.with_label_values(&[s]);
        }
        for o in ["flush", "escalation", "ack", "resolve"] {
            m.delivered.with_label_values(&[o]);
            m.failed.with_label_values(&[o]);
        }
        Ok(m)
    }

    /// For the persister.
    pub fn commit_observer(&self) -> CommitObserver {
        let (c, h) = (self.commits.clone(), self.commit_seconds.clone());
        let requests = self.commit_requests.clone();
        let (rows, versions) = (self.log_rows.clone(), self.log_versions.clone());
        Box::new(move |s: CommitStats| {
            c.inc();
            h.observe(s.seconds);
            requests.observe(s.batches as f64);
            rows.set(i64::try_from(s.log_rows).unwrap_or(i64::MAX));
            versions.set(i64::try_from(s.log_versions).unwrap_or(i64::MAX));
        })
    }

    pub fn reloaded(&self, ok: bool) {
        self.reloads
            .with_label_values(&[if ok { "success" } else { "failure" }])
            .inc();
        self.reload_ok.set(i64::from(ok));
    }

    /// Refreshes the state gauges from the core now.
    pub fn refresh(&self, svc: &DispatchService) {
        // Counts, not views: this runs under the core's lock, and views
        // of 100,000 alerts would copy every one of them.
        let (counts, silences, escs, now) =
            svc.read(|c, now| (c.counts(now), c.silences(now), c.escalations(), now));
        self.alerts
            .with_label_values(&["active"])
            .set(counts.active as i64);
        self.alerts
            .with_label_values(&["suppressed"])
            .set(counts.suppressed as i64);
        self.groups.set(counts.groups as i64);
        let mut by_state =
            std::collections::BTreeMap::from([("active", 0), ("pending", 0), ("expired", 0)]);
        for s in &silences {
            *by_state.entry(s.state.as_str()).or_insert(0) += 1;
        }
        for (k, v) in by_state {
            self.silences.with_label_values(&[k]).set(v);
        }
        let (mut running, mut acked, mut exhausted, mut overdue) = (0, 0, 0, 0i64);
        for e in &escs {
            if e.acked.is_some() {
                acked += 1;
            } else if let Some(t) = e.next_at {
                running += 1;
                overdue = overdue.max(now - t);
            } else {
                exhausted += 1;
            }
        }
        self.escalations
            .with_label_values(&["running"])
            .set(running);
        self.escalations
            .with_label_values(&["acknowledged"])
            .set(acked);
        self.escalations
            .with_label_values(&["exhausted"])
            .set(exhausted);
        self.overdue.set(overdue.max(0) as f64 / 1000.0);
        self.outbox.set(counts.pending as i64);
        self.dead_letters.set(counts.dead_letters as i64);
    }

    /// Names the service whose state the gauges report (read at each
    /// scrape).
    pub fn attach(&self, svc: &DispatchService) {
        // Set once per metrics instance; the router builds one per start.
        let _ = self.service.set(svc.downgrade());
    }
}

impl ServiceObserver for DispatchMetrics {
    fn delivered(&self, o: &Outgoing) {
        self.delivered.with_label_values(&[origin(o)]).inc();
    }

    fn failed(&self, o: &Outgoing, _reason: &str) {
        self.failed.with_label_values(&[origin(o)]).inc();
    }
}
