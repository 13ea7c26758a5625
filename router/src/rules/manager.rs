//! The tokio side of the rule engine: loads rule files, runs one task per
//! group on Prometheus's schedule (slots aligned to the interval, offset by
//! a hash of `file;group`), writes results into the series store, sends
//! alerts through the [`AlertSink`], persists alert state to redb after
//! every evaluation, and reloads on SIGHUP, on file change (polled) or on
//! [`Manager::reload`].
//!
//! A reload that fails (unreadable file, bad YAML, bad PromQL) is logged
//! with `file:line:col`, sets `watchfire_rules_config_last_reload_successful`
//! to 0 and leaves the running rules untouched. A successful reload hands
//! each group's state to its replacement (alerts of unchanged rules keep
//! their state), and marks the series of removed rules and groups stale.
//!
//! Time comes from a [`Clock`] (wall-clock ms); sleeping uses tokio's
//! timer, so tests run under `tokio::time::pause()` with a clock derived
//! from `tokio::time::Instant`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use watchfire_promql::storage::stale_nan;
use watchfire_promql::{Labels, Storage};

use super::alerting::RestorePolicy;
use super::group::Group;
use super::metrics::RuleMetrics;
use super::{EvalOptions, GroupSpec, PromqlEngine, RuleStorage};
use crate::notify::AlertSink;
use crate::state::{StateError, StateStore};
use crate::store::AppendError;

/// Wall-clock time in ms since the Unix epoch.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Turns one file's text into groups: `(path, text) -> groups`.
pub type Loader =
    Arc<dyn Fn(&str, &str, &ManagerConfig) -> Result<Vec<GroupSpec>, LoadError> + Send + Sync>;

/// A store the manager reads from and writes rule results into; shared
/// with ingest, so it appends through `&self`.
pub trait SharedStore: Send + Sync {
    fn reader(&self) -> &dyn Storage;
    /// Appends one sample. A refused sample (out of order, too old, bad
    /// labels) is dropped by the manager, which logs it at `warn` and
    /// counts it in `watchfire_rule_results_dropped_total{reason}`.
    fn append(&self, labels: &Labels, t: i64, v: f64) -> Result<(), AppendError>;
}

impl SharedStore for crate::store::Store {
    fn reader(&self) -> &dyn Storage {
        self
    }

    /// Rule results are internal series: exempt from the series limit
    /// that remote_write fills, so alerts cannot be crowded out.
    fn append(&self, labels: &Labels, t: i64, v: f64) -> Result<(), AppendError> {
        crate::store::Store::append_internal(self, labels, t, v).map(|_| ())
    }
}

/// Appends through `store`, dropping (with a warning and a count) what it
/// refuses.
fn append_or_count(
    store: &dyn SharedStore,
    metrics: &RuleMetrics,
    labels: &Labels,
    t: i64,
    v: f64,
) {
    if let Err(e) = store.append(labels, t, v) {
        metrics.dropped.with_label_values(&[e.reason()]).inc();
        tracing::warn!(series = %labels, error = %e, "rule result discarded");
    }
}

struct Shared<'a> {
    store: &'a dyn SharedStore,
    metrics: &'a RuleMetrics,
}

impl RuleStorage for Shared<'_> {
    fn storage(&self) -> &dyn Storage {
        self.store.reader()
    }

    fn append(&mut self, labels: &Labels, t: i64, v: f64) {
        append_or_count(self.store, self.metrics, labels, t, v);
    }
}

/// A rule file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("bad rule file pattern {pattern:?}: {reason}")]
    Pattern { pattern: String, reason: String },
    /// Parse/validation errors, each rendered `file:line:col: message`.
    #[error("{0}")]
    Rules(#[from] watchfire_rulefmt::RuleErrors),
    /// Errors from a custom [`Loader`].
    #[error("{path}: {message}")]
    Custom { path: String, message: String },
}

/// Manager failures.
#[derive(Debug, thiserror::Error)]
pub enum ManagerError {
    #[error("loading rules: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Load(Vec<LoadError>),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("registering metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("the rule manager has stopped")]
    Stopped,
}

/// How the manager runs.
#[derive(Clone)]
pub struct ManagerConfig {
    /// Rule files or glob patterns.
    pub rule_files: Vec<String>,
    pub evaluation_interval_ms: i64,
    /// Default `query_offset` for groups that set none.
    pub query_offset_ms: i64,
    pub resend_delay_ms: i64,
    /// How often files are checked for changes; 0 = never (SIGHUP and
    /// [`Manager::reload`] still work).
    pub reload_check_interval_ms: i64,
    pub external_labels: std::collections::BTreeMap<String, String>,
    pub external_url: String,
    /// redb file for durable alert state; `None` = no persistence.
    pub state_path: Option<PathBuf>,
    pub restore: RestorePolicy,
    /// Listen for SIGHUP (off in tests).
    pub sighup: bool,
    pub clock: Clock,
    /// `None` = Prometheus rule files via `watchfire_rulefmt`.
    pub loader: Option<Loader>,
    /// `None` = the PromQL engine and Prometheus templates.
    pub eval_options: Option<Arc<EvalOptions>>,
}

impl ManagerConfig {
    /// Defaults: 1m interval and resend delay, 5s file polling, SIGHUP on,
    /// system clock.
    pub fn new(rule_files: Vec<String>) -> Self {
        ManagerConfig {
            rule_files,
            evaluation_interval_ms: 60_000,
            query_offset_ms: 0,
            resend_delay_ms: 60_000,
            reload_check_interval_ms: 5_000,
            external_labels: Default::default(),
            external_url: String::new(),
            state_path: None,
            restore: RestorePolicy::default(),
            sighup: true,
            clock: Arc::new(system_clock),
            loader: None,
            eval_options: None,
        }
    }
}

impl std::fmt::Debug for ManagerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ManagerConfig")
            .field("rule_files", &self.rule_files)
            .field("evaluation_interval_ms", &self.evaluation_interval_ms)
            .field("state_path", &self.state_path)
            .finish_non_exhaustive()
    }
}

/// The system wall clock in ms.
pub fn system_clock() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

struct Inner {
    cfg: ManagerConfig,
    opts: Arc<EvalOptions>,
    store: Arc<dyn SharedStore>,
    sink: Arc<dyn AlertSink>,
    metrics: RuleMetrics,
    state: Option<StateStore>,
}

struct Running {
    group: Arc<Mutex<Group>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

type ReloadReply = oneshot::Sender<Result<(), ManagerError>>;

/// The running rule engine. Dropping it stops the group tasks.
pub struct Manager {
    reload_tx: mpsc::Sender<ReloadReply>,
    groups: Arc<Mutex<HashMap<String, Arc<Mutex<Group>>>>>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Manager {
    /// Loads the rule files (failing if they are broken), restores alert
    /// state from `cfg.state_path` and starts evaluating. Must be called
    /// inside a tokio runtime.
    pub fn start(
        cfg: ManagerConfig,
        store: Arc<dyn SharedStore>,
        sink: Arc<dyn AlertSink>,
        registry: &prometheus::Registry,
    ) -> Result<Manager, ManagerError> {
        let metrics = RuleMetrics::new(registry)?;
        let state = cfg
            .state_path
            .as_deref()
            .map(StateStore::open)
            .transpose()?;
        let opts = cfg.eval_options.clone().unwrap_or_else(|| {
            Arc::new(EvalOptions {
                engine: Arc::new(PromqlEngine::default()),
                external_labels: cfg.external_labels.clone(),
                external_url: cfg.external_url.clone(),
                resend_delay_ms: cfg.resend_delay_ms,
            })
        });
        let inner = Arc::new(Inner {
            cfg,
            opts,
            store,
            sink,
            metrics,
            state,
        });
        let (specs, fingerprint) = load_all(&inner.cfg).map_err(ManagerError::Load)?;
        inner.metrics.reload_ok.set(1.0);
        inner
            .metrics
            .reload_time
            .set((inner.cfg.clock)() as f64 / 1000.0);
        let mut saved = match &inner.state {
            Some(s) => s.load()?,
            None => HashMap::new(),
        };
        let mut running = HashMap::new();
        for spec in specs {
            let key = spec.key();
            let mut g = Group::new(spec, inner.opts.clone());
            if let Some(st) = saved.remove(&key) {
                g.restore_state(st, inner.cfg.restore);
            }
            running.insert(key, spawn_group(&inner, g));
        }
        if let Some(s) = &inner.state {
            for key in saved.keys() {
                if let Err(e) = s.remove_group(key) {
                    tracing::warn!(group = %key, error = %e, "forgetting alert state failed");
                }
            }
        }
        let groups = Arc::new(Mutex::new(
            running
                .iter()
                .map(|(k, r)| (k.clone(), r.group.clone()))
                .collect(),
        ));
        let (reload_tx, reload_rx) = mpsc::channel(4);
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(coordinate(
            inner,
            running,
            fingerprint,
            reload_rx,
            stop_rx,
            groups.clone(),
        ));
        Ok(Manager {
            reload_tx,
            groups,
            stop,
            task: Some(task),
        })
    }

    /// Reloads the rule files now; on error the old rules keep running.
    pub async fn reload(&self) -> Result<(), ManagerError> {
        let (tx, rx) = oneshot::channel();
        self.reload_tx
            .send(tx)
            .await
            .map_err(|_| ManagerError::Stopped)?;
        rx.await.map_err(|_| ManagerError::Stopped)?
    }

    /// The running groups by `file;name` (for APIs and tests).
    pub fn groups(&self) -> Vec<(String, Arc<Mutex<Group>>)> {
        let g = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        let mut v: Vec<_> = g.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Stops every group (finishing evaluations in progress) and waits.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for Manager {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Resolves patterns, reads and parses every file. Returns the groups and
/// a fingerprint of the files' paths and contents.
fn load_all(cfg: &ManagerConfig) -> Result<(Vec<GroupSpec>, u64), Vec<LoadError>> {
    let mut errors = Vec::new();
    let mut specs = Vec::new();
    let mut fp = Fnv::default();
    for path in resolve(&cfg.rule_files, &mut errors) {
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(source) => {
                errors.push(LoadError::Read { path, source });
                continue;
            }
        };
        fp.write(path.as_bytes());
        fp.write(text.as_bytes());
        let loaded = match &cfg.loader {
            Some(l) => l(&path, &text, cfg),
            None => watchfire_rulefmt::parse_rule_file(&path, &text)
                .map(|f| {
                    super::load::group_specs(&f, cfg.evaluation_interval_ms, cfg.query_offset_ms)
                })
                .map_err(LoadError::from),
        };
        match loaded {
            Ok(s) => specs.extend(s),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok((specs, fp.0))
    } else {
        Err(errors)
    }
}

/// The fingerprint of the current files, or `None` if unreadable.
fn fingerprint(cfg: &ManagerConfig) -> Option<u64> {
    let mut errors = Vec::new();
    let mut fp = Fnv::default();
    for path in resolve(&cfg.rule_files, &mut errors) {
        let text = std::fs::read(&path).ok()?;
        fp.write(path.as_bytes());
        fp.write(&text);
    }
    errors.is_empty().then_some(fp.0)
}

fn resolve(patterns: &[String], errors: &mut Vec<LoadError>) -> Vec<String> {
    let mut out = Vec::new();
    for p in patterns {
        if !p.contains(['*', '?', '[']) {
            out.push(p.clone());
            continue;
        }
        match glob::glob(p) {
            Ok(paths) => {
                let mut v: Vec<String> = paths.flatten().map(|p| p.display().to_string()).collect();
                v.sort();
                out.extend(v);
            }
            Err(e) => errors.push(LoadError::Pattern {
                pattern: p.clone(),
                reason: e.to_string(),
            }),
        }
    }
    out
}

/// FNV-1a, for stable group offsets and file fingerprints.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, b: &[u8]) {
        for x in b {
            self.0 ^= u64::from(*x);
            self.0 = self.0.wrapping_mul(0x100_0000_01b3);
        }
    }
}

/// The evaluation slot at or before `now` (upstream's `EvalTimestamp`).
pub fn eval_slot(key: &str, interval_ms: i64, now: i64) -> i64 {
    let mut h = Fnv::default();
    h.write(key.as_bytes());
    let interval = interval_ms.max(1);
    let offset = (h.0 % interval as u64) as i64;
    let adj = now - offset;
    adj - adj.rem_euclid(interval) + offset
}

fn spawn_group(inner: &Arc<Inner>, g: Group) -> Running {
    let key = g.key();
    let m = &inner.metrics;
    m.rules
        .with_label_values(&[&key])
        .set(g.spec().rules.len() as f64);
    m.interval
        .with_label_values(&[&key])
        .set(g.interval_ms() as f64 / 1000.0);
    for c in [&m.evals, &m.failures, &m.missed, &m.iterations] {
        c.with_label_values(&[&key]);
    }
    let group = Arc::new(Mutex::new(g));
    let (stop, stop_rx) = watch::channel(false);
    let task = tokio::spawn(run_group(inner.clone(), group.clone(), key, stop_rx));
    Running { group, stop, task }
}

async fn run_group(
    inner: Arc<Inner>,
    group: Arc<Mutex<Group>>,
    key: String,
    mut stop: watch::Receiver<bool>,
) {
    let interval = lock(&group).interval_ms().max(1);
    let clock = inner.cfg.clock.clone();
    let mut slot = eval_slot(&key, interval, clock()) + interval;
    loop {
        let wait = (slot - clock()).max(0);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(wait as u64)) => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        let missed = (clock() - slot) / interval;
        if missed > 0 {
            inner
                .metrics
                .missed
                .with_label_values(&[&key])
                .inc_by(missed as f64);
            inner
                .metrics
                .iterations
                .with_label_values(&[&key])
                .inc_by(missed as f64);
            slot += missed * interval;
        }
        eval_once(&inner, &group, &key, slot).await;
        slot += interval;
    }
}

/// Runs blocking work from async code: on a multi-threaded runtime via
/// `block_in_place` (the worker's other tasks move to another worker while
/// `f` runs); on a current-thread runtime (tests) inline, since there is
/// no other worker to hand over to.
fn off_workers<R>(f: impl FnOnce() -> R) -> R {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

fn lock(g: &Mutex<Group>) -> std::sync::MutexGuard<'_, Group> {
    g.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One evaluation of a group at `ts`. The PromQL work and the redb commit
/// (an fsync), both under the group's lock, are blocking: they run through
/// [`off_workers`]; metrics and the alert send stay async.
async fn eval_once(inner: &Inner, group: &Mutex<Group>, key: &str, ts: i64) {
    let started = std::time::Instant::now();
    let out = off_workers(|| {
        let mut g = lock(group);
        let mut shared = Shared {
            store: &*inner.store,
            metrics: &inner.metrics,
        };
        let out = g.eval(&mut shared, ts);
        // Saved before the group's lock is released, so the API (which
        // reads alerts under that lock) never shows a state that a
        // `kill -9` could still lose.
        if let Some(store) = &inner.state {
            if let Err(e) = store.save_group(key, &g.state()) {
                tracing::error!(group = key, error = %e, "persisting alert state failed");
            }
        }
        out
    });
    let m = &inner.metrics;
    let k = &[key];
    m.iterations.with_label_values(k).inc();
    m.evals.with_label_values(k).inc_by(out.rules.len() as f64);
    let failures = out.rules.iter().filter(|r| r.error.is_some()).count();
    m.failures.with_label_values(k).inc_by(failures as f64);
    for r in &out.rules {
        m.eval_duration.observe(r.duration.as_secs_f64());
    }
    let took = started.elapsed().as_secs_f64();
    m.group_duration.observe(took);
    m.last_duration.with_label_values(k).set(took);
    m.last_eval.with_label_values(k).set(ts as f64 / 1000.0);
    m.last_samples.with_label_values(k).set(out.samples as f64);
    if !out.alerts.is_empty() {
        if let Err(e) = inner.sink.send(&out.alerts).await {
            tracing::warn!(group = key, error = %e, "sending alerts failed");
        }
    }
}

async fn coordinate(
    inner: Arc<Inner>,
    mut running: HashMap<String, Running>,
    mut fp: u64,
    mut reload_rx: mpsc::Receiver<ReloadReply>,
    mut stop: watch::Receiver<bool>,
    shared: Arc<Mutex<HashMap<String, Arc<Mutex<Group>>>>>,
) {
    #[cfg(unix)]
    let mut hup = if inner.cfg.sighup {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
    } else {
        None
    };
    let poll_ms = inner.cfg.reload_check_interval_ms;
    let mut poll = tokio::time::interval(Duration::from_millis(poll_ms.max(1) as u64));
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The fingerprint of the rule files as last tried by a reload.
    let mut seen = fp;
    // A changed fingerprint seen once, waiting to be seen again.
    let mut candidate: Option<u64> = None;
    loop {
        #[cfg(unix)]
        let hup_fut = async {
            match hup.as_mut() {
                Some(h) => h.recv().await,
                None => std::future::pending().await,
            }
        };
        #[cfg(not(unix))]
        let hup_fut = std::future::pending::<Option<()>>();
        let reply: Option<ReloadReply> = tokio::select! {
            _ = stop.changed() => break,
            r = reload_rx.recv() => match r { Some(r) => Some(r), None => break },
            _ = hup_fut => None,
            _ = poll.tick(), if poll_ms > 0 => {
                // Compare with the last content *tried*, not the last
                // content loaded: a broken file is tried once, and putting
                // back the last good file reloads it (clearing the failure).
                // A change must also be the same at two polls in a row
                // (debounce): a file being written in place (truncate, then
                // write) must not be loaded half-written, which could drop
                // a group and its alert state.
                match fingerprint(&inner.cfg) {
                    Some(f) if f != seen && candidate == Some(f) => {
                        seen = f;
                        candidate = None;
                        None
                    }
                    Some(f) if f != seen => {
                        candidate = Some(f);
                        continue;
                    }
                    _ => {
                        candidate = None;
                        continue;
                    }
                }
            }
        };
        let result = reload(&inner, &mut running, &mut fp).await;
        if result.is_ok() {
            seen = fp;
        }
        {
            let mut s = shared.lock().unwrap_or_else(PoisonError::into_inner);
            *s = running
                .iter()
                .map(|(k, r)| (k.clone(), r.group.clone()))
                .collect();
        }
        if let Some(r) = reply {
            let _ = r.send(result);
        }
    }
    for (_, r) in running {
        let _ = r.stop.send(true);
        let _ = r.task.await;
    }
}

async fn reload(
    inner: &Arc<Inner>,
    running: &mut HashMap<String, Running>,
    fp: &mut u64,
) -> Result<(), ManagerError> {
    let (specs, new_fp) = match load_all(&inner.cfg) {
        Ok(x) => x,
        Err(errors) => {
            for e in &errors {
                tracing::error!(error = %e, "reloading rules failed; keeping the previous rules");
            }
            inner.metrics.reload_ok.set(0.0);
            return Err(ManagerError::Load(errors));
        }
    };
    *fp = new_fp;
    let mut old: HashMap<String, Running> = std::mem::take(running);
    for spec in specs {
        let key = spec.key();
        let mut g = Group::new(spec, inner.opts.clone());
        if let Some(r) = old.remove(&key) {
            let _ = r.stop.send(true);
            let _ = r.task.await;
            let prev = match Arc::try_unwrap(r.group) {
                Ok(m) => m.into_inner().unwrap_or_else(PoisonError::into_inner),
                Err(shared) => lock(&shared).clone(),
            };
            g.copy_state_from(prev);
        }
        running.insert(key, spawn_group(inner, g));
    }
    let now = (inner.cfg.clock)();
    for (key, r) in old {
        let _ = r.stop.send(true);
        let _ = r.task.await;
        let series = lock(&r.group).written_series();
        for l in series {
            append_or_count(&*inner.store, &inner.metrics, &l, now, stale_nan());
        }
        inner.metrics.forget(&key);
        if let Some(s) = &inner.state {
            if let Err(e) = s.remove_group(&key) {
                tracing::warn!(group = %key, error = %e, "forgetting alert state failed");
            }
        }
    }
    inner.metrics.reload_ok.set(1.0);
    inner.metrics.reload_time.set(now as f64 / 1000.0);
    tracing::info!(groups = running.len(), "rules reloaded");
    Ok(())
}
