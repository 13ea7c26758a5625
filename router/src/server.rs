//! Runs the router: builds the store, ingest, rule manager and sinks from a
//! validated [`Config`], serves HTTP, and shuts down cleanly.
//!
//! HTTP endpoints:
//! - `POST /api/v1/write`: remote_write 1.0 ([`crate::ingest`]);
//! - `GET /api/v1/alerts`: active alerts in Prometheus's API format (so
//!   Grafana and the comparison harness can read them);
//! - the Prometheus query API ([`crate::query_api`]): `query`,
//!   `query_range`, `series`, `labels`, `label/{name}/values`, so a
//!   Grafana Prometheus data source can point at the router;
//! - `GET /metrics`: the router's own metrics;
//! - `GET /-/healthy`, `GET /-/ready`: probes;
//! - `POST /-/reload`: reload rule files and `alertmanager.yml` (as
//!   SIGHUP does);
//! - the dispatcher's endpoints ([`crate::dispatch::api`]): the
//!   Alertmanager v2 API, acks, escalations and the web page at `/`.
//!
//! The router also writes its own metrics into its store every
//! [`SELF_SCRAPE_INTERVAL_MS`] as `job="watchfire"`, so self-monitoring
//! rules work without an external scraper.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use prometheus::proto::MetricType;
use watchfire_promql::Labels;

use crate::config::Config;
use crate::ingest::{self, IngestConfig, IngestState};
use crate::metrics::{Metrics, CONTENT_TYPE};
use crate::notify::alertmanager::{AlertmanagerClient, AlertmanagerConfig, Auth};
use crate::notify::console::ConsoleSink;
use crate::notify::fanout::FanoutSink;
use crate::notify::queue::{QueueConfig, QueuedSink};
use crate::notify::{format_rfc3339_millis, AlertSink, NotifyMetrics};
use crate::rules::manager::{system_clock, Manager, ManagerConfig, ManagerError};
use crate::rules::AlertState;
use crate::store::{Store, StoreConfig};

/// How often the router writes its own metrics into its store.
pub const SELF_SCRAPE_INTERVAL_MS: i64 = 15_000;

/// How often old samples are dropped from the store.
const GC_INTERVAL: Duration = Duration::from_secs(60);

/// Why the router could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("{0}")]
    Rules(#[from] ManagerError),
    #[error("alert sink: {0}")]
    Sink(#[from] crate::notify::NotifyError),
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("serving HTTP: {0}")]
    Serve(#[source] std::io::Error),
    #[error("dispatcher: {0}")]
    Dispatch(#[from] crate::dispatch::run::DispatchStartError),
    #[error("the dispatch loop stopped unexpectedly (see the log); restart on the durable state")]
    DispatchStopped,
}

#[derive(Clone)]
struct AppState {
    metrics: Metrics,
    manager: Arc<Manager>,
    dispatch: crate::dispatch::run::Reloader,
}

/// Runs the router until `shutdown` completes.
pub async fn run(
    cfg: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), RunError> {
    let metrics = Metrics::new();
    let store = Store::shared(StoreConfig {
        retention_ms: cfg.retention_ms,
        max_series: cfg.max_series,
        max_labels_per_series: cfg.max_labels_per_series,
        max_label_name_len: cfg.max_label_name_length,
        max_label_value_len: cfg.max_label_value_length,
        ..StoreConfig::default()
    });
    crate::store::metrics::StoreCollector::register(store.clone(), &metrics.registry)?;
    let ingest_state = IngestState::new(
        store.clone(),
        IngestConfig {
            max_body_bytes: cfg.max_request_bytes,
            ..IngestConfig::default()
        },
        &metrics.registry,
    )?;

    let started = crate::dispatch::run::start(&cfg, &metrics.registry, Arc::new(system_clock))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let dispatch_task = {
        let mut rx = stop_rx.clone();
        tokio::spawn(started.service.clone().run(async move {
            let _ = rx.changed().await;
        }))
    };
    spawn_sighup_reload(started.reloader.clone());
    let (sink, queues) = build_sink(&cfg, &metrics, &started.service)?;
    let mut mcfg = ManagerConfig::new(cfg.rule_files.clone());
    mcfg.evaluation_interval_ms = cfg.evaluation_interval_ms;
    mcfg.resend_delay_ms = cfg.resend_delay_ms;
    mcfg.reload_check_interval_ms = cfg.reload_check_interval_ms;
    mcfg.external_labels = cfg.external_labels.clone();
    mcfg.external_url = cfg.external_url.clone();
    if let Some(dir) = cfg.state_path.parent() {
        if !dir.as_os_str().is_empty() {
            if let Err(e) = std::fs::create_dir_all(dir) {
                tracing::warn!(path = %dir.display(), error = %e, "cannot create state folder");
            }
        }
    }
    mcfg.state_path = Some(cfg.state_path.clone());
    let manager = Arc::new(Manager::start(
        mcfg,
        store.clone(),
        sink,
        &metrics.registry,
    )?);

    let background = spawn_background(store.clone(), metrics.clone(), manager.clone(), &cfg);

    let app = Router::new()
        .route("/metrics", get(metrics_page))
        .route("/-/healthy", get(|| async { "Healthy\n" }))
        .route("/-/ready", get(|| async { "Ready\n" }))
        .route("/-/reload", post(reload))
        .route("/api/v1/alerts", get(api_alerts))
        .with_state(AppState {
            metrics: metrics.clone(),
            manager: manager.clone(),
            dispatch: started.reloader.clone(),
        })
        .merge(ingest::routes(ingest_state))
        .merge(crate::query_api::routes(crate::query_api::QueryState {
            store: store.clone(),
            engine: Arc::new(crate::query_api::default_engine()),
            now: Arc::new(system_clock),
        }))
        .merge(crate::dispatch::api::routes(started.api.clone()))
        .layer(axum::extract::DefaultBodyLimit::max(cfg.max_request_bytes));

    let listener = tokio::net::TcpListener::bind(cfg.listen_address)
        .await
        .map_err(|source| RunError::Listen {
            addr: cfg.listen_address,
            source,
        })?;
    tracing::info!(address = %cfg.listen_address, rule_files = ?cfg.rule_files, "router listening");
    // The dispatch loop must never stop on its own: if it does (a panic),
    // the router stops serving and exits with an error, so a supervisor
    // restarts it on its durable state, rather than looking healthy while
    // sending nothing.
    let dispatch_failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (dead_tx, mut dead_rx) = tokio::sync::watch::channel(false);
    let watchdog = {
        let failed = dispatch_failed.clone();
        let stopping = stop_rx.clone();
        tokio::spawn(async move {
            let r = dispatch_task.await;
            if !*stopping.borrow() {
                failed.store(true, std::sync::atomic::Ordering::SeqCst);
                tracing::error!(result = ?r.err(), "the dispatch loop stopped unexpectedly; shutting down");
                let _ = dead_tx.send(true);
            }
        })
    };
    let served = {
        let stop_tx2 = stop_tx.clone();
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                tokio::select! {
                    _ = shutdown => {}
                    _ = dead_rx.changed() => {}
                }
                let _ = stop_tx2.send(true);
            })
            .await
    };
    let _ = stop_tx.send(true);
    let _ = watchdog.await;

    // Stop the background tasks and wait for them, so the manager's last
    // reference is ours; then stop the rule manager (it finishes the
    // evaluations in flight and persists their state) and drain the queues.
    for t in &background {
        t.abort();
    }
    for t in background {
        let _ = t.await;
    }
    match Arc::try_unwrap(manager) {
        Ok(m) => m.stop().await,
        Err(_) => tracing::warn!("rule manager still referenced at shutdown; not stopped cleanly"),
    }
    for q in queues {
        q.close();
    }
    if dispatch_failed.load(std::sync::atomic::Ordering::SeqCst) {
        return Err(RunError::DispatchStopped);
    }
    served.map_err(RunError::Serve)
}

/// Console and/or Alertmanager sinks behind one [`FanoutSink`]. The
/// Alertmanager client sits behind a bounded queue so evaluation never
/// waits on the network.
fn build_sink(
    cfg: &Config,
    metrics: &Metrics,
    dispatch: &crate::dispatch::service::DispatchService,
) -> Result<(Arc<dyn AlertSink>, Vec<QueuedSink>), RunError> {
    // The rule engine's alerts go to the in-process dispatcher first.
    let mut sinks: Vec<Arc<dyn AlertSink>> = vec![Arc::new(crate::dispatch::sink::DispatchSink(
        dispatch.clone(),
    ))];
    if cfg.console {
        sinks.push(Arc::new(ConsoleSink::stdout()));
    }
    let mut queues = Vec::new();
    if !cfg.alertmanagers.is_empty() {
        let nm = NotifyMetrics::new(&metrics.registry)?;
        // One client and one queue per target: each has its own URL,
        // credentials and timeout, and a slow target does not hold back
        // the others.
        for am in &cfg.alertmanagers {
            let client = AlertmanagerClient::new(
                AlertmanagerConfig {
                    urls: vec![am.alerts_url.clone()],
                    timeout: Duration::from_millis(am.timeout_ms as u64),
                    auth: am.bearer_token.clone().map(Auth::Bearer),
                    ..AlertmanagerConfig::default()
                },
                nm.clone(),
            )?;
            let q = QueuedSink::new(QueueConfig::default(), nm.clone());
            q.spawn_worker(Arc::new(client));
            sinks.push(Arc::new(q.clone()));
            queues.push(q);
        }
    }
    Ok((Arc::new(FanoutSink::new(sinks)), queues))
}

fn spawn_background(
    store: Arc<Store>,
    metrics: Metrics,
    manager: Arc<Manager>,
    cfg: &Config,
) -> Vec<tokio::task::JoinHandle<()>> {
    let gc_store = store.clone();
    let (retention, max_retention) = (cfg.retention_ms, cfg.max_retention_ms);
    let retention_gauge = prometheus::Gauge::new(
        "watchfire_store_effective_retention_seconds",
        "How long the store keeps samples: the configured retention, raised to the longest span the rules read, capped at max_retention.",
    )
    .ok();
    if let Some(g) = &retention_gauge {
        if let Err(e) = metrics.registry.register(Box::new(g.clone())) {
            tracing::warn!(error = %e, "registering the retention gauge");
        }
    }
    let gc = tokio::spawn(async move {
        let mut tick = tokio::time::interval(GC_INTERVAL);
        loop {
            tick.tick().await;
            // Keep what the loaded rules read (recomputed, so a reload that
            // adds `rate(x[6h])` raises it), on top of the configured retention.
            let keep = rules_lookback_span(&manager).min(max_retention);
            if keep >= max_retention {
                tracing::debug!(
                    max_retention,
                    "rules read further back than storage.max_retention; capped"
                );
            }
            if let Some(g) = &retention_gauge {
                g.set(keep.max(retention) as f64 / 1000.0);
            }
            let stats = gc_store.gc_keeping(system_clock(), keep);
            tracing::debug!(?stats, keep_ms = keep, "store gc");
        }
    });
    let instance = cfg.listen_address.to_string();
    let scrape = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(SELF_SCRAPE_INTERVAL_MS as u64));
        loop {
            tick.tick().await;
            let now = system_clock();
            for (labels, v) in self_samples(&metrics.registry, &instance) {
                // Internal: exempt from the series limit. A rejected sample
                // (say, a clock step backwards) is dropped.
                let _ = store.append_internal(&labels, now, v);
            }
        }
    });
    vec![gc, scrape]
}

/// The longest span any loaded rule reads back, plus one evaluation
/// interval of slack (`query_offset` included).
pub fn rules_lookback_span(manager: &Manager) -> i64 {
    let lookback = watchfire_promql::eval::EngineOptions::default().lookback_delta;
    let mut span = 0i64;
    for (_, g) in manager.groups() {
        let g = g.lock().unwrap_or_else(|p| p.into_inner());
        let spec = g.spec();
        for r in &spec.rules {
            let s = r
                .expr
                .lookback_span(lookback)
                .saturating_add(spec.interval_ms)
                .saturating_add(spec.query_offset_ms.max(0));
            span = span.max(s);
        }
    }
    span
}

/// The registry's current values as series, labelled `job="watchfire"`.
pub fn self_samples(registry: &prometheus::Registry, instance: &str) -> Vec<(Labels, f64)> {
    let mut out = Vec::new();
    for mf in registry.gather() {
        let name = mf.name();
        for m in &mf.metric {
            let base = |suffix: &str, extra: Option<(&str, String)>| {
                let mut pairs: Vec<(String, String)> = vec![
                    ("__name__".into(), format!("{name}{suffix}")),
                    ("job".into(), "watchfire".into()),
                    ("instance".into(), instance.to_string()),
                ];
                pairs.extend(
                    m.label
                        .iter()
                        .map(|l| (l.name().to_string(), l.value().to_string())),
                );
                pairs.extend(extra.map(|(k, v)| (k.to_string(), v)));
                Labels::new(pairs)
            };
            match mf.type_() {
                MetricType::COUNTER => out.push((base("", None), m.counter.value())),
                MetricType::GAUGE => out.push((base("", None), m.gauge.value())),
                MetricType::UNTYPED => out.push((base("", None), m.untyped.value())),
                MetricType::HISTOGRAM => {
                    let h = &m.histogram;
                    for b in &h.bucket {
                        let le = watchfire_promql::parser::printer::format_number(b.upper_bound());
                        out.push((
                            base("_bucket", Some(("le", le))),
                            b.cumulative_count() as f64,
                        ));
                    }
                    out.push((
                        base("_bucket", Some(("le", "+Inf".into()))),
                        h.sample_count() as f64,
                    ));
                    out.push((base("_sum", None), h.sample_sum()));
                    out.push((base("_count", None), h.sample_count() as f64));
                }
                MetricType::SUMMARY => {
                    let s = &m.summary;
                    for q in &s.quantile {
                        let qv = watchfire_promql::parser::printer::format_number(q.quantile());
                        out.push((base("", Some(("quantile", qv))), q.value()));
                    }
                    out.push((base("_sum", None), s.sample_sum()));
                    out.push((base("_count", None), s.sample_count() as f64));
                }
            }
        }
    }
    out
}

async fn metrics_page(State(st): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], st.metrics.encode()).into_response()
}

async fn reload(State(st): State<AppState>) -> Response {
    let rules = st.manager.reload().await;
    let dispatch = st.dispatch.reload().await;
    match (rules, dispatch) {
        (Ok(()), Ok(())) => (StatusCode::OK, "reloaded\n".to_string()).into_response(),
        (r, d) => {
            let mut msg = String::new();
            if let Err(e) = r {
                msg.push_str(&format!("{e}\n"));
            }
            if let Err(e) = d {
                msg.push_str(&format!("{e}\n"));
            }
            (StatusCode::INTERNAL_SERVER_ERROR, msg).into_response()
        }
    }
}

/// SIGHUP reloads `alertmanager.yml` too (the rule manager handles its own).
fn spawn_sighup_reload(reloader: crate::dispatch::run::Reloader) {
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            let _ = reloader.reload().await;
        }
    });
}

/// One alert as the page and the API show it.
struct ActiveAlert {
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
    state: &'static str,
    active_at: i64,
    value: f64,
}

async fn active_alerts(manager: &Manager) -> Vec<ActiveAlert> {
    let mut out = Vec::new();
    for (_, g) in manager.groups() {
        // A poisoned lock means an evaluation panicked; its alerts are
        // still the last consistent ones.
        let g = g.lock().unwrap_or_else(|p| p.into_inner());
        for a in g.active_alerts(None) {
            let state = match a.state {
                AlertState::Firing => "firing",
                AlertState::Pending => "pending",
                _ => continue,
            };
            out.push(ActiveAlert {
                labels: a.labels,
                annotations: a.annotations,
                state,
                active_at: a.active_at,
                value: a.value,
            });
        }
    }
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
}

/// `GET /api/v1/alerts` in Prometheus's format.
async fn api_alerts(State(st): State<AppState>) -> Response {
    let alerts: Vec<serde_json::Value> = active_alerts(&st.manager)
        .await
        .into_iter()
        .map(|a| {
            serde_json::json!({
                "labels": a.labels,
                "annotations": a.annotations,
                "state": a.state,
                "activeAt": format_rfc3339_millis(a.active_at),
                // Go's strconv.FormatFloat(v, 'e', -1, 64), as Prometheus renders it.
                "value": watchfire_promql::gofmt::format_float(a.value, 'e', None),
            })
        })
        .collect();
    Json(serde_json::json!({"status": "success", "data": {"alerts": alerts}})).into_response()
}
