//! The rule engine's self-metrics. Every per-group series carries one
//! label, `rule_group="<file>;<group>"`, so cardinality is bounded by the
//! number of configured groups.

use prometheus::{CounterVec, GaugeVec, Histogram, HistogramOpts, Opts, Registry};

/// Rule engine metrics, registered into the registry the caller passes.
#[derive(Debug, Clone)]
pub(crate) struct RuleMetrics {
    pub eval_duration: Histogram,
    pub group_duration: Histogram,
    pub last_duration: GaugeVec,
    pub last_eval: GaugeVec,
    pub last_samples: GaugeVec,
    pub evals: CounterVec,
    pub failures: CounterVec,
    pub missed: CounterVec,
    pub iterations: CounterVec,
    pub rules: GaugeVec,
    pub interval: GaugeVec,
    pub reload_ok: prometheus::Gauge,
    pub reload_time: prometheus::Gauge,
    /// Rule results the store refused, by [`AppendError::reason`](crate::store::AppendError::reason).
    pub dropped: CounterVec,
}

impl RuleMetrics {
    pub fn new(reg: &Registry) -> Result<RuleMetrics, prometheus::Error> {
        let l = &["rule_group"];
        let gauge = |n: &str, h: &str| GaugeVec::new(Opts::new(n, h), l);
        let counter = |n: &str, h: &str| CounterVec::new(Opts::new(n, h), l);
        let buckets = vec![0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0];
        let m = RuleMetrics {
            eval_duration: Histogram::with_opts(
                HistogramOpts::new("watchfire_rule_evaluation_duration_seconds", "The duration for a rule to execute.")
                    .buckets(buckets.clone()),
            )?,
            group_duration: Histogram::with_opts(
                HistogramOpts::new("watchfire_rule_group_duration_seconds", "The duration of rule group evaluations.")
                    .buckets(buckets),
            )?,
            last_duration: gauge(
                "watchfire_rule_group_last_duration_seconds",
                "The duration of the last rule group evaluation.",
            )?,
            last_eval: gauge(
                "watchfire_rule_group_last_evaluation_timestamp_seconds",
                "The timestamp of the last rule group evaluation in seconds.",
            )?,
            last_samples: gauge(
                "watchfire_rule_group_last_evaluation_samples",
                "The number of samples returned during the last rule group evaluation.",
            )?,
            evals: counter("watchfire_rule_evaluations_total", "The total number of rule evaluations.")?,
            failures: counter(
                "watchfire_rule_evaluation_failures_total",
                "The total number of rule evaluation failures.",
            )?,
            missed: counter(
                "watchfire_rule_group_iterations_missed_total",
                "The total number of rule group evaluations missed due to slow rule group evaluation.",
            )?,
            iterations: counter(
                "watchfire_rule_group_iterations_total",
                "The total number of scheduled rule group evaluations, whether executed or missed.",
            )?,
            rules: gauge("watchfire_rule_group_rules", "The number of rules.")?,
            interval: gauge("watchfire_rule_group_interval_seconds", "The interval of a rule group.")?,
            reload_ok: prometheus::Gauge::new(
                "watchfire_rules_config_last_reload_successful",
                "Whether the last rule files reload attempt was successful.",
            )?,
            reload_time: prometheus::Gauge::new(
                "watchfire_rules_config_last_reload_success_timestamp_seconds",
                "Timestamp of the last successful rule files reload.",
            )?,
            dropped: CounterVec::new(
                Opts::new(
                    "watchfire_rule_results_dropped_total",
                    "Rule results (recording-rule samples, ALERTS series, stale markers) the store refused, by reason.",
                ),
                &["reason"],
            )?,
        };
        reg.register(Box::new(m.eval_duration.clone()))?;
        reg.register(Box::new(m.dropped.clone()))?;
        reg.register(Box::new(m.group_duration.clone()))?;
        for v in [
            &m.last_duration,
            &m.last_eval,
            &m.last_samples,
            &m.rules,
            &m.interval,
        ] {
            reg.register(Box::new(v.clone()))?;
        }
        for v in [&m.evals, &m.failures, &m.missed, &m.iterations] {
            reg.register(Box::new(v.clone()))?;
        }
        reg.register(Box::new(m.reload_ok.clone()))?;
        reg.register(Box::new(m.reload_time.clone()))?;
        Ok(m)
    }

    /// Drops the series of a removed group.
    pub fn forget(&self, key: &str) {
        for v in [
            &self.last_duration,
            &self.last_eval,
            &self.last_samples,
            &self.rules,
            &self.interval,
        ] {
            let _ = v.remove_label_values(&[key]);
        }
        for v in [&self.evals, &self.failures, &self.missed, &self.iterations] {
            let _ = v.remove_label_values(&[key]);
        }
    }
}
