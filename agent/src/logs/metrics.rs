//! The log pipeline's metrics, registered on the agent's registry:
//!
//! - `watchfire_agent_log_lines_read_total`, `…_bytes_read_total`,
//!   `…_lines_truncated_total` (cut at `max_line_bytes`);
//! - `watchfire_agent_log_lines_dropped_total{reason}`: `parse` (a line
//!   its format cannot decode), `redaction` (fail closed);
//! - `watchfire_redactions_total{rule}`, `watchfire_redaction_drops_total{reason}`;
//! - `log_messages_total{level,service}`: level from a fixed set, service
//!   from the record's `service` field or Kubernetes container, at most
//!   [`MAX_SERVICES`] distinct values, then `other`;
//! - `watchfire_agent_log_files_watched`, `…_log_rotations_total{kind}`,
//!   `…_log_lines_in_flight` (read, not yet acknowledged by every sink),
//!   `…_log_reading_paused` (1 while a full queue holds the tailer back),
//!   `…_log_sink_errors_total{sink}` (failed attempts, retried),
//!   `…_log_sink_dropped_total{sink,reason}` (records a destination
//!   refused: dropped, never retried), `…_log_sink_sent_total{sink}`
//!   (records delivered with a per-record confirmation: the Kafka sink;
//!   records the blackhole sink took),
//!   `…_log_checkpoint_commits_total`.

use std::collections::HashSet;
use std::sync::Mutex;

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

use crate::logs::format::level::LEVELS;

/// Distinct `service` label values before `other`.
pub const MAX_SERVICES: usize = 200;

/// `log_messages_total` increments of one batch, by level and service,
/// added up before they touch the registry ([`LogMetrics::add_messages`]).
#[derive(Debug, Default)]
pub struct MessageTally {
    rows: Vec<(&'static str, String, u64)>,
}

impl MessageTally {
    /// Counts one record (`service` `None`: `unknown`).
    pub fn add(&mut self, level: &'static str, service: Option<&str>) {
        let service = service.filter(|s| !s.is_empty()).unwrap_or("unknown");
        // A batch holds few distinct pairs: a linear search, latest first
        // (records of one service come in runs).
        match self
            .rows
            .iter_mut()
            .rev()
            .find(|(l, s, _)| s.len() == service.len() && *l == level && s == service)
        {
            Some(row) => row.2 += 1,
            None => self.rows.push((level, service.to_string(), 1)),
        }
    }
}

/// The pipeline's counters and gauges.
pub struct LogMetrics {
    pub lines_read: IntCounter,
    pub bytes_read: IntCounter,
    pub lines_truncated: IntCounter,
    pub lines_dropped: IntCounterVec,
    pub redactions: IntCounterVec,
    pub redaction_drops: IntCounterVec,
    pub messages: IntCounterVec,
    pub files_watched: IntGauge,
    pub rotations: IntCounterVec,
    pub in_flight: IntGauge,
    pub paused: IntGauge,
    pub sink_errors: IntCounterVec,
    pub sink_dropped: IntCounterVec,
    pub sink_sent: IntCounterVec,
    pub checkpoint_commits: IntCounter,
    services: Mutex<HashSet<String>>,
}

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::with_opts(Opts::new(name, help)).unwrap_or_else(|_| unreachable!())
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|_| unreachable!())
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::with_opts(Opts::new(name, help)).unwrap_or_else(|_| unreachable!())
}

impl Default for LogMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl LogMetrics {
    /// Metrics not yet registered anywhere.
    pub fn new() -> LogMetrics {
        LogMetrics {
            lines_read: counter(
                "watchfire_agent_log_lines_read_total",
                "Log lines read from files.",
            ),
            bytes_read: counter(
                "watchfire_agent_log_bytes_read_total",
                "Bytes read from log files.",
            ),
            lines_truncated: counter(
                "watchfire_agent_log_lines_truncated_total",
                "Log lines cut at max_line_bytes.",
            ),
            lines_dropped: counter_vec(
                "watchfire_agent_log_lines_dropped_total",
                "Log records dropped, by reason (parse, redaction).",
                &["reason"],
            ),
            redactions: counter_vec(
                "watchfire_redactions_total",
                "Values redacted, by rule.",
                &["rule"],
            ),
            redaction_drops: counter_vec(
                "watchfire_redaction_drops_total",
                "Records dropped because they could not be redacted (fail closed), by reason.",
                &["reason"],
            ),
            messages: counter_vec(
                "log_messages_total",
                "Log records by level and service.",
                &["level", "service"],
            ),
            files_watched: gauge("watchfire_agent_log_files_watched", "Log files being read."),
            rotations: counter_vec(
                "watchfire_agent_log_rotations_total",
                "Log files retired by rotation, by kind (rename, copytruncate).",
                &["kind"],
            ),
            in_flight: gauge(
                "watchfire_agent_log_lines_in_flight",
                "Log records read and not yet acknowledged by every sink.",
            ),
            paused: gauge(
                "watchfire_agent_log_reading_paused",
                "1 while reading waits for a full queue (a slow or failed sink).",
            ),
            sink_errors: counter_vec(
                "watchfire_agent_log_sink_errors_total",
                "Failed sink writes (retried), by sink.",
                &["sink"],
            ),
            sink_dropped: counter_vec(
                "watchfire_agent_log_sink_dropped_total",
                "Log records a sink's destination refused (dropped, not retried), by sink and reason.",
                &["sink", "reason"],
            ),
            sink_sent: counter_vec(
                "watchfire_agent_log_sink_sent_total",
                "Log records a sink delivered to its destination, by sink.",
                &["sink"],
            ),
            checkpoint_commits: counter(
                "watchfire_agent_log_checkpoint_commits_total",
                "Checkpoint transactions committed.",
            ),
            services: Mutex::new(HashSet::new()),
        }
    }

    /// Registers every metric (errors, e.g. a second pipeline on the same
    /// registry, are logged and ignored).
    pub fn register(&self, registry: &Registry) {
        let all: [Box<dyn prometheus::core::Collector>; 15] = [
            Box::new(self.lines_read.clone()),
            Box::new(self.bytes_read.clone()),
            Box::new(self.lines_truncated.clone()),
            Box::new(self.lines_dropped.clone()),
            Box::new(self.redactions.clone()),
            Box::new(self.redaction_drops.clone()),
            Box::new(self.messages.clone()),
            Box::new(self.files_watched.clone()),
            Box::new(self.rotations.clone()),
            Box::new(self.in_flight.clone()),
            Box::new(self.paused.clone()),
            Box::new(self.sink_errors.clone()),
            Box::new(self.sink_dropped.clone()),
            Box::new(self.sink_sent.clone()),
            Box::new(self.checkpoint_commits.clone()),
        ];
        for c in all {
            if let Err(e) = registry.register(c) {
                tracing::warn!(error = %e, "registering log metrics");
            }
        }
    }

    pub(crate) fn read(&self, bytes: usize, lines: usize, truncated: usize) {
        self.bytes_read.inc_by(bytes as u64);
        self.lines_read.inc_by(lines as u64);
        self.lines_truncated.inc_by(truncated as u64);
    }

    pub(crate) fn rotations(&self, kind: &str) {
        self.rotations.with_label_values(&[kind]).inc();
    }

    pub(crate) fn dropped(&self, reason: &str) {
        self.lines_dropped.with_label_values(&[reason]).inc();
    }

    /// Adds a batch's [`MessageTally`] to `log_messages_total` (one lock
    /// and one series lookup per distinct level and service, not per
    /// record) and empties it.
    pub fn add_messages(&self, tally: &mut MessageTally) {
        for (level, service, n) in tally.rows.drain(..) {
            self.messages_n(level, Some(&service), n);
        }
    }

    fn messages_n(&self, level: &str, service: Option<&str>, n: u64) {
        let level = if LEVELS.contains(&level) {
            level
        } else {
            "unknown"
        };
        let service = service.filter(|s| !s.is_empty()).unwrap_or("unknown");
        let label = {
            let mut set = self.services.lock().unwrap_or_else(|e| e.into_inner());
            if set.contains(service) {
                service
            } else if set.len() < MAX_SERVICES {
                set.insert(service.to_string());
                service
            } else {
                "other"
            }
        };
        self.messages.with_label_values(&[level, label]).inc_by(n);
    }

    /// Creates the series of every fixed label value at 0 (drop reasons,
    /// redaction rules, drop reasons of the redactor), so that alerts on
    /// `rate()` / `increase()` see the first drop and dashboards show 0
    /// rather than no data. `stats` names the redactor's rules.
    pub(crate) fn init_series(&self, stats: &watchfire_redact::Stats) {
        for reason in ["parse", "redaction"] {
            self.lines_dropped.with_label_values(&[reason]);
        }
        for (rule, _) in stats.counts() {
            self.redactions.with_label_values(&[rule]);
        }
        for (reason, _) in stats.drops() {
            self.redaction_drops.with_label_values(&[reason]);
        }
    }

    /// Adds a redactor's counters since the last call.
    pub(crate) fn redaction_stats(
        &self,
        stats: &watchfire_redact::Stats,
        prev: &watchfire_redact::Stats,
    ) {
        for ((rule, now), (_, before)) in stats.counts().zip(prev.counts()) {
            if now > before {
                self.redactions
                    .with_label_values(&[rule])
                    .inc_by(now - before);
            }
        }
        for ((reason, now), (_, before)) in stats.drops().zip(prev.drops()) {
            if now > before {
                self.redaction_drops
                    .with_label_values(&[reason])
                    .inc_by(now - before);
            }
        }
    }
}
