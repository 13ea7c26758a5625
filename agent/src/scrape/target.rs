//! From discovered label sets to scrape targets (Prometheus's
//! `PopulateLabels`), and from scraped samples to stored series
//! (`mutateSampleLabels`). Pure.
//!
//! A target starts with its group's labels overlaid by its own, then gets
//! `job`, `__scrape_interval__`, `__scrape_timeout__`, `__metrics_path__`,
//! `__scheme__` and `__param_<name>` defaults (only where unset), goes
//! through `relabel_configs`, must still have `__address__`, loses every
//! `__meta_*` label, and defaults `instance` to `__address__`. Labels
//! starting with `__` stay on the target (they pick the URL) but never
//! reach a series.

use std::collections::BTreeMap;
use std::time::Duration;

use watchfire_promql::Labels;

use super::config::ScrapeConfig;
use super::discovery::TargetGroup;
use super::relabel;

/// A target ready to scrape.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Target {
    /// All labels after relabelling, `__`-prefixed ones included.
    pub labels: Labels,
}

/// Why a discovered target was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("no address")]
    NoAddress,
    #[error("invalid address {0:?}")]
    BadAddress(String),
    #[error("invalid {label} {value:?}")]
    BadDuration { label: &'static str, value: String },
    #[error("scrape timeout {timeout} greater than scrape interval {interval}")]
    TimeoutTooLong { timeout: String, interval: String },
}

impl Target {
    /// The labels that go on every series: all not starting with `__`.
    pub fn series_labels(&self) -> Labels {
        let v: Vec<_> = self
            .labels
            .iter()
            .filter(|l| !l.name.starts_with("__"))
            .cloned()
            .collect();
        Labels::from_sorted(v)
    }

    /// The URL to scrape.
    pub fn url(&self) -> String {
        let l = &self.labels;
        let scheme = match l.get("__scheme__") {
            "" => "http",
            s => s,
        };
        let path = l.get("__metrics_path__");
        let mut params: BTreeMap<String, String> = BTreeMap::new();
        for lab in l.iter() {
            if let Some(name) = lab.name.strip_prefix("__param_") {
                params.insert(name.to_string(), lab.value.clone());
            }
        }
        let mut u = format!("{scheme}://{}{path}", l.get("__address__"));
        if !params.is_empty() {
            let q: String = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params.iter())
                .finish();
            u.push(if path.contains('?') { '&' } else { '?' });
            u.push_str(&q);
        }
        u
    }

    /// `__scrape_interval__`, falling back to `default`.
    pub fn interval(&self, default: Duration) -> Duration {
        label_duration(&self.labels, "__scrape_interval__").unwrap_or(default)
    }

    /// `__scrape_timeout__`, falling back to `default`.
    pub fn timeout(&self, default: Duration) -> Duration {
        label_duration(&self.labels, "__scrape_timeout__").unwrap_or(default)
    }
}

fn label_duration(l: &Labels, name: &str) -> Option<Duration> {
    watchfire_promql::duration::parse_duration(l.get(name))
        .ok()
        .filter(|ms| *ms > 0)
        .map(|ms| Duration::from_millis(ms.unsigned_abs()))
}

fn ms_string(d: Duration) -> String {
    watchfire_promql::duration::format_duration(i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Builds a target from one discovered label set. `Ok(None)`: dropped by
/// relabelling.
pub fn populate(
    group_labels: &Labels,
    target_labels: &Labels,
    cfg: &ScrapeConfig,
) -> Result<Option<Target>, TargetError> {
    let mut b = group_labels.builder();
    for l in target_labels.iter() {
        b.set(&l.name, &l.value);
    }
    let cur = b.build();
    let defaults = [
        ("job", cfg.job_name.clone()),
        ("__scrape_interval__", ms_string(cfg.scrape_interval)),
        ("__scrape_timeout__", ms_string(cfg.scrape_timeout)),
        ("__metrics_path__", cfg.metrics_path.clone()),
        ("__scheme__", cfg.scheme.clone()),
    ];
    for (k, v) in &defaults {
        if cur.get(k).is_empty() {
            b.set(k, v);
        }
    }
    for (k, v) in &cfg.params {
        let name = format!("__param_{k}");
        if let (Some(first), true) = (v.first(), cur.get(&name).is_empty()) {
            b.set(&name, first);
        }
    }
    let Some(relabelled) = relabel::process(&b.build(), &cfg.relabel_configs) else {
        return Ok(None);
    };
    let addr = relabelled.get("__address__").to_string();
    if addr.is_empty() {
        return Err(TargetError::NoAddress);
    }
    if addr.contains('/') || addr.chars().any(char::is_whitespace) {
        return Err(TargetError::BadAddress(addr));
    }
    let parse = |label: &'static str| {
        let v = relabelled.get(label);
        watchfire_promql::duration::parse_duration(v)
            .ok()
            .filter(|ms| *ms > 0)
            .ok_or_else(|| TargetError::BadDuration {
                label,
                value: v.to_string(),
            })
    };
    let interval = parse("__scrape_interval__")?;
    let timeout = parse("__scrape_timeout__")?;
    if timeout > interval {
        return Err(TargetError::TimeoutTooLong {
            timeout: relabelled.get("__scrape_timeout__").into(),
            interval: relabelled.get("__scrape_interval__").into(),
        });
    }
    let mut b = relabelled.builder();
    b.retain(|l| !l.name.starts_with("__meta_"));
    if relabelled.get("instance").is_empty() {
        b.set("instance", &addr);
    }
    Ok(Some(Target { labels: b.build() }))
}

/// All targets of a job from its providers' groups: deduplicated by final
/// labels, sorted. Rejected targets are logged and counted in `dropped`.
pub fn targets_from_groups<'a>(
    groups: impl IntoIterator<Item = &'a TargetGroup>,
    cfg: &ScrapeConfig,
    dropped: &mut usize,
) -> Vec<Target> {
    let mut out = std::collections::BTreeSet::new();
    for g in groups {
        for t in &g.targets {
            match populate(&g.labels, t, cfg) {
                Ok(Some(t)) => {
                    out.insert(t);
                }
                Ok(None) => *dropped += 1,
                Err(e) => {
                    *dropped += 1;
                    tracing::warn!(job = %cfg.job_name, source = %g.source, error = %e, "dropping target");
                }
            }
        }
    }
    out.into_iter().collect()
}

/// Puts the target's labels on one scraped series (Prometheus's
/// `mutateSampleLabels` without the metric relabelling). With
/// `honor_labels` the scraped value wins; otherwise the target's does and
/// the scraped one moves to `exported_<name>`.
pub fn apply_target_labels(scraped: &Labels, target: &Labels, honor: bool) -> Labels {
    if target.is_empty() {
        return scraped.clone();
    }
    let mut b = scraped.builder();
    if honor {
        for l in target.iter() {
            if !scraped.has(&l.name) {
                b.set(&l.name, &l.value);
            }
        }
        return b.build();
    }
    let mut conflicts: Vec<(&str, &str)> = Vec::new();
    for l in target.iter() {
        let existing = scraped.get(&l.name);
        if !existing.is_empty() {
            conflicts.push((&l.name, existing));
        }
        b.set(&l.name, &l.value);
    }
    if !conflicts.is_empty() {
        conflicts.sort_by_key(|(n, _)| n.len());
        for (name, value) in conflicts {
            let mut new = name.to_string();
            loop {
                new = format!("exported_{new}");
                if b.build().get(&new).is_empty() {
                    b.set(&new, value);
                    break;
                }
            }
        }
    }
    b.build()
}
