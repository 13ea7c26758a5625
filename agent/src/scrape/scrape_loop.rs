//! One target's scrapes.
//!
//! [`fetch`] does the HTTP part (timeout, `Accept`, gzip, body size limit).
//! [`TargetScraper::process`] is the pure part: parse, check, put target
//! labels on, metric-relabel, apply `sample_limit`, add the synthetic
//! series and staleness markers. [`run`] ties them to a jittered timer.
//!
//! A failed scrape of any kind yields `up 0`, staleness markers for every
//! series of the previous scrape, and a bounded `reason` (see
//! [`FailReason`]); it never affects another target. Series that vanish
//! between two good scrapes get a staleness marker at the new scrape's
//! time; when the loop is stopped (the target disappeared) all its series,
//! synthetic ones included, get one. Series exposed with their own
//! timestamp get no markers (as in Prometheus).
//!
//! Label sets are built once per series and reused across scrapes via
//! the per-target [`super::series_cache`]; appends go through the
//! appender's queue (or the blocking pool) since the disk buffer's commit
//! may fsync.

use std::hash::{Hash, Hasher};
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use std::collections::hash_map::Entry;

use rustc_hash::{FxHashMap, FxHashSet};
use tokio::sync::oneshot;
use watchfire_promql::storage::stale_nan;
use watchfire_promql::Labels;

use super::exposition::{self, ACCEPT_HEADER};
use super::relabel::{self, RelabelConfig};
use super::series_cache::{HashedLabels, SeriesCache, SeriesEntry};
use super::target::{apply_target_labels, Target};
use crate::pipeline::{Appender, Point, Series, SeriesBytes};

/// Why a scrape failed. The label values are fixed, so the failure
/// metric's cardinality is bounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailReason {
    Timeout,
    Connection,
    HttpStatus,
    BodyTooLarge,
    Decompress,
    Parse,
    DuplicateSeries,
    LabelValueTooLong,
    SampleLimit,
}

impl FailReason {
    /// The `reason` label value.
    pub fn as_str(self) -> &'static str {
        match self {
            FailReason::Timeout => "timeout",
            FailReason::Connection => "connection",
            FailReason::HttpStatus => "http_status",
            FailReason::BodyTooLarge => "body_too_large",
            FailReason::Decompress => "decompress",
            FailReason::Parse => "parse",
            FailReason::DuplicateSeries => "duplicate_series",
            FailReason::LabelValueTooLong => "label_value_too_long",
            FailReason::SampleLimit => "sample_limit",
        }
    }
}

/// A failed scrape: a bounded reason and a free-text detail for the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} ({detail})", reason.as_str())]
pub struct Failure {
    pub reason: FailReason,
    pub detail: String,
}

fn failure(reason: FailReason, detail: impl Into<String>) -> Failure {
    Failure {
        reason,
        detail: detail.into(),
    }
}

/// A fetched, decompressed body.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub body: Vec<u8>,
    pub content_type: Option<String>,
}

/// Per-job scrape settings.
#[derive(Debug, Clone)]
pub struct ScrapeOptions {
    pub timeout: Duration,
    /// 0 = unlimited.
    pub body_size_limit: u64,
    /// 0 = unlimited.
    pub sample_limit: usize,
    /// 0 = unlimited.
    pub label_value_length_limit: usize,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub metric_relabel: Arc<Vec<RelabelConfig>>,
}

/// GETs `url` within `opts.timeout`, reading at most `body_size_limit`
/// bytes (compressed and uncompressed).
pub async fn fetch(
    client: &reqwest::Client,
    url: &str,
    opts: &ScrapeOptions,
) -> Result<Fetched, Failure> {
    let limit = if opts.body_size_limit == 0 {
        u64::MAX
    } else {
        opts.body_size_limit
    };
    let fut = async {
        let resp = client
            .get(url)
            .header(reqwest::header::ACCEPT, ACCEPT_HEADER)
            .header(reqwest::header::ACCEPT_ENCODING, "gzip")
            .header(
                "X-Prometheus-Scrape-Timeout-Seconds",
                format!("{}", opts.timeout.as_secs_f64()),
            )
            .send()
            .await
            .map_err(|e| failure(FailReason::Connection, e.to_string()))?;
        let mut resp = resp;
        if !resp.status().is_success() {
            return Err(failure(
                FailReason::HttpStatus,
                format!("server returned HTTP status {}", resp.status()),
            ));
        }
        let header = |name| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header(reqwest::header::CONTENT_TYPE);
        let gzip = header(reqwest::header::CONTENT_ENCODING)
            .is_some_and(|e| e.eq_ignore_ascii_case("gzip"));
        let mut body: Vec<u8> = Vec::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| failure(FailReason::Connection, e.to_string()))?
        {
            body.extend_from_slice(&chunk);
            if body.len() as u64 > limit {
                return Err(failure(
                    FailReason::BodyTooLarge,
                    format!("body larger than {limit} bytes"),
                ));
            }
        }
        if gzip {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .take(limit.saturating_add(1))
                .read_to_end(&mut out)
                .map_err(|e| failure(FailReason::Decompress, e.to_string()))?;
            if out.len() as u64 > limit {
                return Err(failure(
                    FailReason::BodyTooLarge,
                    format!("decompressed body larger than {limit} bytes"),
                ));
            }
            body = out;
        }
        Ok(Fetched { body, content_type })
    };
    match tokio::time::timeout(opts.timeout, fut).await {
        Ok(r) => r,
        Err(_) => Err(failure(
            FailReason::Timeout,
            format!("no complete answer within {:?}", opts.timeout),
        )),
    }
}

/// What one scrape produced, besides the points.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapeReport {
    pub up: bool,
    pub samples_scraped: usize,
    pub samples_post_relabel: usize,
    pub series_added: usize,
    pub failure: Option<Failure>,
}

/// The names of the synthetic series.
pub const REPORT_SERIES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// The state of one target between scrapes.
#[derive(Debug)]
pub struct TargetScraper {
    target: Target,
    series_labels: Labels,
    opts: ScrapeOptions,
    /// Series of the last good scrape that may get staleness markers.
    prev: FxHashSet<HashedLabels>,
    /// Raw series text → final series, across scrapes.
    cache: SeriesCache,
    /// The synthetic series' labels, in [`REPORT_SERIES`] order.
    report_labels: Vec<HashedLabels>,
    reported: bool,
    /// The last good scrape went through the full checks with no merged
    /// series and no explicit timestamps, so `prev` holds exactly the
    /// series of its cached keys (what the steady path relies on).
    steady_ok: bool,
}

/// One sample resolved through the cache.
struct Resolved {
    entry: SeriesEntry,
    value: f64,
    timestamp: Option<i64>,
}

impl TargetScraper {
    pub fn new(target: Target, opts: ScrapeOptions) -> TargetScraper {
        let series_labels = target.series_labels();
        let report_labels = REPORT_SERIES
            .iter()
            .map(|name| {
                let base = Labels::new([("__name__", *name)]);
                HashedLabels::new(&apply_target_labels(&base, &series_labels, false))
            })
            .collect();
        TargetScraper {
            series_labels,
            target,
            opts,
            prev: FxHashSet::default(),
            cache: SeriesCache::default(),
            report_labels,
            reported: false,
            steady_ok: false,
        }
    }

    pub fn target(&self) -> &Target {
        &self.target
    }

    pub fn options(&self) -> &ScrapeOptions {
        &self.opts
    }

    /// Turns one fetch result into points. `t` is the scrape's start
    /// (ms since the epoch), `duration` how long the fetch took.
    pub fn process(
        &mut self,
        fetched: Result<Fetched, Failure>,
        t: i64,
        duration: Duration,
    ) -> (Vec<Point>, ScrapeReport) {
        let mut points = Vec::new();
        let mut scraped_count = 0usize;
        let outcome = fetched.and_then(|f| {
            let samples = exposition::parse_raw(
                &f.body,
                f.content_type.as_deref(),
                self.opts.label_value_length_limit,
            )
            .map_err(|e| failure(FailReason::Parse, e.to_string()))?;
            scraped_count = samples.len();
            self.cache.begin();
            let resolved = self.resolve(&samples);
            self.cache.evict_unseen();
            let resolved = resolved?;
            let steady = self.steady_ok
                && self.cache.steady()
                && resolved.iter().all(|s| s.timestamp.is_none());
            if steady {
                return self.build_steady(resolved, t).map(|(p, n)| (p, None, n));
            }
            self.steady_ok = false;
            let (points, current, post, merged) = self.build(&samples, resolved, t)?;
            self.cache.mark_verified();
            self.steady_ok = !merged && points.len() == current.len();
            Ok((points, Some(current), post))
        });
        let report = match outcome {
            Ok((good, current, post)) => {
                // `None`: a steady scrape, the same series as `prev`.
                let mut added = 0;
                if let Some(current) = current {
                    added = current.iter().filter(|l| !self.prev.contains(*l)).count();
                    for gone in self.prev.iter().filter(|l| !current.contains(*l)) {
                        points.push(gone.point(t, stale_nan()));
                    }
                    self.prev = current;
                }
                points.extend(good);
                ScrapeReport {
                    up: true,
                    samples_scraped: scraped_count,
                    samples_post_relabel: post,
                    series_added: added,
                    failure: None,
                }
            }
            Err(f) => {
                self.steady_ok = false;
                for gone in self.prev.drain() {
                    points.push(gone.point(t, stale_nan()));
                }
                ScrapeReport {
                    up: false,
                    samples_scraped: scraped_count,
                    samples_post_relabel: 0,
                    series_added: 0,
                    failure: Some(f),
                }
            }
        };
        let values = [
            if report.up { 1.0 } else { 0.0 },
            duration.as_secs_f64(),
            report.samples_scraped as f64,
            report.samples_post_relabel as f64,
            report.series_added as f64,
        ];
        for (series, v) in self.report_labels.iter().zip(values) {
            points.push(series.point(t, v));
        }
        self.reported = true;
        (points, report)
    }

    /// Looks every sample up in the series cache, building (labels, target
    /// labels, metric relabelling) only the series not seen before.
    fn resolve(
        &mut self,
        samples: &[watchfire_exposition::Sample<'_>],
    ) -> Result<Vec<Resolved>, Failure> {
        let mut out = Vec::with_capacity(samples.len());
        for s in samples {
            let (series_labels, opts) = (&self.series_labels, &self.opts);
            let key = exposition::SeriesKey::of(s);
            let entry = self.cache.get_or_try_insert(key, || {
                let raw = exposition::sample_labels(s)
                    .map_err(|e| failure(FailReason::Parse, e.to_string()))?;
                let labels = apply_target_labels(&raw, series_labels, opts.honor_labels);
                let series = relabel::process(&labels, &opts.metric_relabel);
                Ok::<_, Failure>(SeriesEntry::new(&raw, series))
            })?;
            out.push(Resolved {
                entry,
                value: s.value,
                timestamp: s.timestamp_ms,
            });
        }
        Ok(out)
    }

    /// Checks the resolved samples (`parsed[i]` is the sample behind
    /// `samples[i]`). Returns the points, the set of series that take
    /// part in staleness, and the post-relabel count.
    #[allow(clippy::type_complexity)]
    fn build(
        &self,
        parsed: &[watchfire_exposition::Sample<'_>],
        samples: Vec<Resolved>,
        t: i64,
    ) -> Result<(Vec<Point>, FxHashSet<HashedLabels>, usize, bool), Failure> {
        let raw_labels = |i: usize| {
            exposition::sample_labels(&parsed[i])
                .map_err(|e| failure(FailReason::Parse, e.to_string()))
        };
        // Raw label-set hash → first sample with it; equal hashes are
        // confirmed on the labels rebuilt from both samples.
        let mut raw_seen: FxHashMap<u64, usize> =
            FxHashMap::with_capacity_and_hasher(samples.len(), Default::default());
        let max = self.opts.label_value_length_limit;
        for (i, s) in samples.iter().enumerate() {
            match raw_seen.entry(s.entry.raw_hash) {
                Entry::Vacant(v) => {
                    v.insert(i);
                }
                Entry::Occupied(o) => {
                    let raw = raw_labels(i)?;
                    if raw == raw_labels(*o.get())? {
                        return Err(failure(
                            FailReason::DuplicateSeries,
                            format!("duplicate series {raw}"),
                        ));
                    }
                }
            }
            if max > 0 && s.entry.longest_value > max {
                let raw = raw_labels(i)?;
                if let Some(l) = raw.iter().find(|l| l.value.len() > max) {
                    return Err(failure(
                        FailReason::LabelValueTooLong,
                        format!(
                            "label {} of {} longer than {max} bytes",
                            l.name,
                            raw.metric_name()
                        ),
                    ));
                }
            }
        }
        drop(raw_seen);
        let mut points = Vec::with_capacity(samples.len());
        let mut seen: FxHashMap<u64, usize> =
            FxHashMap::with_capacity_and_hasher(samples.len(), Default::default());
        let mut current: FxHashSet<HashedLabels> =
            FxHashSet::with_capacity_and_hasher(samples.len(), Default::default());
        let mut merged = false;
        for s in samples {
            let Some(series) = s.entry.series else {
                continue;
            };
            // Final hash → index in `points` of the first with it.
            match seen.entry(series.hash) {
                Entry::Vacant(v) => {
                    v.insert(points.len());
                }
                Entry::Occupied(o) => {
                    let first: Option<&Point> = points.get(*o.get());
                    let same = |f: &Point| match &f.series {
                        Series::Encoded(e) => e == &series.enc,
                        Series::Labels(l) => SeriesBytes::new(l) == series.enc,
                    };
                    if first.is_some_and(same) {
                        // Relabelling (or target labels) merged two series.
                        merged = true;
                        continue;
                    }
                }
            }
            let ts = match (s.timestamp, self.opts.honor_timestamps) {
                (Some(ts), true) => ts,
                _ => {
                    current.insert(series.clone());
                    t
                }
            };
            points.push(series.point(ts, s.value));
        }
        let post = points.len();
        self.check_sample_limit(post)?;
        Ok((points, current, post, merged))
    }

    /// Fails a scrape with more samples (after relabelling) than
    /// `sample_limit`.
    fn check_sample_limit(&self, post: usize) -> Result<(), Failure> {
        let limit = self.opts.sample_limit;
        if limit > 0 && post > limit {
            return Err(failure(
                FailReason::SampleLimit,
                format!("{post} samples exceed sample_limit {limit}"),
            ));
        }
        Ok(())
    }

    /// [`TargetScraper::build`] for a steady scrape (see
    /// [`SeriesCache`]): the same verified series as the last good
    /// scrape, so no duplicate, length or merge checks and no staleness
    /// set; only the points and the sample limit.
    fn build_steady(&self, samples: Vec<Resolved>, t: i64) -> Result<(Vec<Point>, usize), Failure> {
        let points: Vec<Point> = samples
            .into_iter()
            .filter_map(|s| s.entry.series.map(|series| series.point(t, s.value)))
            .collect();
        let post = points.len();
        self.check_sample_limit(post)?;
        Ok((points, post))
    }

    /// Number of series in the per-target cache (for tests and metrics).
    pub fn cached_series(&self) -> usize {
        self.cache.len()
    }

    /// Staleness markers for everything this target wrote: its series and
    /// its synthetic series. Used when the target goes away.
    pub fn stale_all(&mut self, t: i64) -> Vec<Point> {
        let mut out: Vec<Point> = self.prev.drain().map(|l| l.point(t, stale_nan())).collect();
        if self.reported {
            for series in &self.report_labels {
                out.push(series.point(t, stale_nan()));
            }
        }
        out
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// How long to wait before the first scrape so that each target keeps a
/// stable phase within the interval (spreading targets evenly, as
/// Prometheus does). Pure: `now_ms` is wall-clock time.
pub fn first_delay(labels: &Labels, interval: Duration, now_ms: i64) -> Duration {
    let iv = u64::try_from(interval.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let mut h = std::collections::hash_map::DefaultHasher::new();
    labels.hash(&mut h);
    let offset = h.finish() % iv;
    let phase = now_ms.unsigned_abs() % iv;
    Duration::from_millis((offset + iv - phase) % iv)
}

/// Callbacks for self-metrics.
pub trait ScrapeObserver: Send + Sync {
    fn observe(&self, report: &ScrapeReport, duration: Duration);
}

/// Runs a target's scrapes until `stop` fires (or its sender is dropped),
/// then writes staleness markers for all its series.
pub async fn run(
    mut scraper: TargetScraper,
    client: reqwest::Client,
    appender: Arc<dyn Appender>,
    observer: Arc<dyn ScrapeObserver>,
    interval: Duration,
    mut stop: oneshot::Receiver<()>,
) {
    let url = scraper.target().url();
    let delay = first_delay(&scraper.target().labels, interval, now_ms());
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + delay, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = ticker.tick() => {}
        }
        let t = now_ms();
        let started = tokio::time::Instant::now();
        let fetched = tokio::select! {
            _ = &mut stop => break,
            r = fetch(&client, &url, scraper.options()) => r,
        };
        let took = started.elapsed();
        let (points, report) = scraper.process(fetched, t, took);
        if let Some(f) = &report.failure {
            tracing::warn!(url = %url, reason = f.reason.as_str(), detail = %f.detail, "scrape failed");
        }
        observer.observe(&report, took);
        append_off_runtime(&appender, points).await;
    }
    let stale = scraper.stale_all(now_ms());
    if !stale.is_empty() {
        append_off_runtime(&appender, stale).await;
    }
}

/// Hands `points` to the appender without stalling the runtime's worker
/// threads (the senders and the other scrapes run there): through its
/// queue when it has one (the shipper's committer thread), awaiting the
/// commit; else on the blocking pool, since an append may wait for a
/// disk commit (fsync).
async fn append_off_runtime(appender: &Arc<dyn Appender>, points: Vec<Point>) {
    let points = match appender.try_submit(points) {
        Ok(done) => {
            // An error means the shipper stopped first (shutting down).
            let _ = done.await;
            return;
        }
        Err(points) => points,
    };
    let a = appender.clone();
    if let Err(e) = tokio::task::spawn_blocking(move || a.append(points)).await {
        tracing::error!(error = %e, "scrape: append task failed");
    }
}
