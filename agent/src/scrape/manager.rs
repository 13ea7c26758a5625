//! The scrape manager: discovery providers in, scrape loops out.
//!
//! [`ScrapeManager::start`] spawns, per job, one task per discovery
//! provider and one reconciler. The reconciler keeps the latest groups of
//! each provider, turns their union into targets ([`target::populate`],
//! deduplicated by final labels) and diffs them against the running loops:
//! new targets get a loop, vanished ones are stopped, which writes
//! staleness markers for all their series. [`ScrapeHandle::stop`] does the
//! same for everything.
//!
//! Self-metrics (registered into the given `prometheus::Registry`):
//! `watchfire_agent_scrape_targets{job}`,
//! `watchfire_agent_scrape_targets_dropped{job}`,
//! `watchfire_agent_scrape_duration_seconds{job}` (histogram),
//! `watchfire_agent_scrapes_total{job}`,
//! `watchfire_agent_scrape_samples_total{job}` and
//! `watchfire_agent_scrape_failures_total{job, reason}`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::config::ScrapeConfig;
use super::discovery::kubernetes::client::{watchers, KubeError, PodWatcher};
use super::discovery::{file_sd, static_sd, GroupSink, GroupUpdate, TargetGroup};
use super::scrape_loop::{self, ScrapeObserver, ScrapeOptions, ScrapeReport, TargetScraper};
use super::target::{targets_from_groups, Target};
use crate::pipeline::Appender;

/// Why the manager could not start.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    #[error("registering scrape metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("job {job:?}: kubernetes_sd_configs: {source}")]
    Kubernetes { job: String, source: KubeError },
    #[error("building the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// The manager's self-metrics.
#[derive(Clone)]
struct Metrics {
    targets: IntGaugeVec,
    dropped: IntGaugeVec,
    duration: HistogramVec,
    scrapes: IntCounterVec,
    samples: IntCounterVec,
    failures: IntCounterVec,
}

impl Metrics {
    fn new(reg: &Registry) -> Result<Metrics, prometheus::Error> {
        let m = Metrics {
            targets: IntGaugeVec::new(
                Opts::new("watchfire_agent_scrape_targets", "Active scrape targets."),
                &["job"],
            )?,
            dropped: IntGaugeVec::new(
                Opts::new(
                    "watchfire_agent_scrape_targets_dropped",
                    "Discovered targets dropped by relabelling or invalid.",
                ),
                &["job"],
            )?,
            duration: HistogramVec::new(
                HistogramOpts::new(
                    "watchfire_agent_scrape_duration_seconds",
                    "Time to fetch one target.",
                )
                .buckets(vec![
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ]),
                &["job"],
            )?,
            scrapes: IntCounterVec::new(
                Opts::new("watchfire_agent_scrapes_total", "Scrapes attempted."),
                &["job"],
            )?,
            samples: IntCounterVec::new(
                Opts::new(
                    "watchfire_agent_scrape_samples_total",
                    "Samples appended after metric relabelling.",
                ),
                &["job"],
            )?,
            failures: IntCounterVec::new(
                Opts::new(
                    "watchfire_agent_scrape_failures_total",
                    "Failed scrapes by reason.",
                ),
                &["job", "reason"],
            )?,
        };
        reg.register(Box::new(m.targets.clone()))?;
        reg.register(Box::new(m.dropped.clone()))?;
        reg.register(Box::new(m.duration.clone()))?;
        reg.register(Box::new(m.scrapes.clone()))?;
        reg.register(Box::new(m.samples.clone()))?;
        reg.register(Box::new(m.failures.clone()))?;
        Ok(m)
    }
}

struct JobObserver {
    job: String,
    metrics: Metrics,
}

impl ScrapeObserver for JobObserver {
    fn observe(&self, report: &ScrapeReport, duration: Duration) {
        let m = &self.metrics;
        m.scrapes.with_label_values(&[&self.job]).inc();
        m.duration
            .with_label_values(&[&self.job])
            .observe(duration.as_secs_f64());
        m.samples
            .with_label_values(&[&self.job])
            .inc_by(report.samples_post_relabel as u64);
        if let Some(f) = &report.failure {
            m.failures
                .with_label_values(&[self.job.as_str(), f.reason.as_str()])
                .inc();
        }
    }
}

enum Provider {
    Static(Vec<TargetGroup>),
    File(super::config::FileSdConfig),
    Kube(PodWatcher),
}

struct Job {
    cfg: Arc<ScrapeConfig>,
    providers: Vec<Provider>,
}

/// Targets currently scraped, by job.
pub type ActiveTargets = Arc<Mutex<BTreeMap<String, Vec<Target>>>>;

/// A configured, not yet started manager.
pub struct ScrapeManager {
    jobs: Vec<Job>,
    appender: Arc<dyn Appender>,
    metrics: Metrics,
    client: reqwest::Client,
}

impl ScrapeManager {
    /// Prepares the jobs and registers the metrics. Kubernetes settings
    /// (node name, in-cluster token and CA) are resolved here, so their
    /// errors surface at start-up. `env` reads environment variables.
    pub fn new(
        jobs: Vec<ScrapeConfig>,
        appender: Arc<dyn Appender>,
        registry: &Registry,
    ) -> Result<ScrapeManager, ManagerError> {
        Self::with_env(jobs, appender, registry, &|k| std::env::var(k).ok())
    }

    /// [`ScrapeManager::new`] with an injected environment.
    pub fn with_env(
        jobs: Vec<ScrapeConfig>,
        appender: Arc<dyn Appender>,
        registry: &Registry,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<ScrapeManager, ManagerError> {
        let metrics = Metrics::new(registry)?;
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("watchfire-agent/", env!("CARGO_PKG_VERSION")))
            .build()?;
        let mut out = Vec::with_capacity(jobs.len());
        for cfg in jobs {
            let mut providers = Vec::new();
            if !cfg.static_configs.is_empty() {
                providers.push(Provider::Static(cfg.static_configs.clone()));
            }
            for f in &cfg.file_sd_configs {
                providers.push(Provider::File(f.clone()));
            }
            for k in &cfg.kubernetes_sd_configs {
                let ws = watchers(k, env).map_err(|source| ManagerError::Kubernetes {
                    job: cfg.job_name.clone(),
                    source,
                })?;
                providers.extend(ws.into_iter().map(Provider::Kube));
            }
            out.push(Job {
                cfg: Arc::new(cfg),
                providers,
            });
        }
        Ok(ScrapeManager {
            jobs: out,
            appender,
            metrics,
            client,
        })
    }

    /// Starts discovery and scraping on the current Tokio runtime.
    pub fn start(self) -> ScrapeHandle {
        let (stop_tx, stop_rx) = watch::channel(false);
        let active: ActiveTargets = Arc::default();
        let mut tasks = Vec::new();
        for job in self.jobs {
            let (tx, rx) = mpsc::channel::<GroupUpdate>(16);
            let n = job.providers.len();
            let mut provider_tasks = Vec::new();
            for (i, p) in job.providers.into_iter().enumerate() {
                let sink = GroupSink::new(i, tx.clone());
                provider_tasks.push(match p {
                    Provider::Static(g) => tokio::spawn(static_sd::run(g, sink)),
                    Provider::File(c) => tokio::spawn(file_sd::run(c, sink)),
                    Provider::Kube(w) => tokio::spawn(w.run(sink)),
                });
            }
            drop(tx);
            let ctx = JobCtx {
                cfg: job.cfg,
                appender: self.appender.clone(),
                client: self.client.clone(),
                metrics: self.metrics.clone(),
                active: active.clone(),
            };
            tasks.push(tokio::spawn(run_job(
                ctx,
                rx,
                n,
                provider_tasks,
                stop_rx.clone(),
            )));
        }
        ScrapeHandle {
            stop: stop_tx,
            tasks,
            active,
        }
    }
}

/// A running manager.
pub struct ScrapeHandle {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    active: ActiveTargets,
}

impl ScrapeHandle {
    /// The targets being scraped now, by job.
    pub fn active_targets(&self) -> BTreeMap<String, Vec<Target>> {
        self.active.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Stops discovery and every loop; returns once all staleness markers
    /// have been appended.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

struct JobCtx {
    cfg: Arc<ScrapeConfig>,
    appender: Arc<dyn Appender>,
    client: reqwest::Client,
    metrics: Metrics,
    active: ActiveTargets,
}

struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

async fn run_job(
    ctx: JobCtx,
    mut rx: mpsc::Receiver<GroupUpdate>,
    n: usize,
    providers: Vec<JoinHandle<()>>,
    mut stop: watch::Receiver<bool>,
) {
    let job = ctx.cfg.job_name.clone();
    let mut groups: Vec<Arc<Vec<TargetGroup>>> = (0..n).map(|_| Arc::new(Vec::new())).collect();
    let mut running: BTreeMap<Target, Running> = BTreeMap::new();
    let mut stopping: Vec<JoinHandle<()>> = Vec::new();
    let observer: Arc<dyn ScrapeObserver> = Arc::new(JobObserver {
        job: job.clone(),
        metrics: ctx.metrics.clone(),
    });
    let opts = ScrapeOptions {
        timeout: ctx.cfg.scrape_timeout,
        body_size_limit: ctx.cfg.body_size_limit,
        sample_limit: ctx.cfg.sample_limit,
        label_value_length_limit: ctx.cfg.label_value_length_limit,
        honor_labels: ctx.cfg.honor_labels,
        honor_timestamps: ctx.cfg.honor_timestamps,
        metric_relabel: Arc::new(ctx.cfg.metric_relabel_configs.clone()),
    };
    let mut open = true;
    loop {
        tokio::select! {
            r = stop.changed() => {
                if r.is_err() || *stop.borrow() {
                    break;
                }
            }
            upd = rx.recv(), if open => {
                let Some(u) = upd else { open = false; continue };
                if let Some(slot) = groups.get_mut(u.provider) {
                    *slot = u.groups;
                }
                while let Ok(u) = rx.try_recv() {
                    if let Some(slot) = groups.get_mut(u.provider) {
                        *slot = u.groups;
                    }
                }
                let mut dropped = 0usize;
                let targets = targets_from_groups(groups.iter().flat_map(|g| g.iter()), &ctx.cfg, &mut dropped);
                let wanted: std::collections::BTreeSet<Target> = targets.into_iter().collect();
                let gone: Vec<Target> = running.keys().filter(|t| !wanted.contains(*t)).cloned().collect();
                for t in gone {
                    if let Some(r) = running.remove(&t) {
                        let _ = r.stop.send(());
                        stopping.push(r.task);
                    }
                }
                for t in wanted {
                    if running.contains_key(&t) {
                        continue;
                    }
                    let (stx, srx) = oneshot::channel();
                    let timeout = t.timeout(ctx.cfg.scrape_timeout);
                    let interval = t.interval(ctx.cfg.scrape_interval);
                    let mut o = opts.clone();
                    o.timeout = timeout;
                    let scraper = TargetScraper::new(t.clone(), o);
                    let task = tokio::spawn(scrape_loop::run(
                        scraper,
                        ctx.client.clone(),
                        ctx.appender.clone(),
                        observer.clone(),
                        interval,
                        srx,
                    ));
                    running.insert(t, Running { stop: stx, task });
                }
                stopping.retain(|h| !h.is_finished());
                ctx.metrics.targets.with_label_values(&[&job]).set(running.len() as i64);
                ctx.metrics.dropped.with_label_values(&[&job]).set(dropped as i64);
                if let Ok(mut a) = ctx.active.lock() {
                    a.insert(job.clone(), running.keys().cloned().collect());
                }
            }
        }
    }
    for p in providers {
        p.abort();
    }
    for (_, r) in std::mem::take(&mut running) {
        let _ = r.stop.send(());
        stopping.push(r.task);
    }
    for h in stopping {
        let _ = h.await;
    }
    ctx.metrics.targets.with_label_values(&[&job]).set(0);
    if let Ok(mut a) = ctx.active.lock() {
        a.remove(&job);
    }
}
