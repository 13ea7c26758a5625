//! Starting the dispatcher: load `alertmanager.yml`, open the state
//! database, restore the core, build the notifiers, and start the timer
//! loop. Also reloading it (`SIGHUP`, `POST /-/reload`): a config that
//! does not validate is rejected and the running one stays.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::RwLock;
use watchfire_amconfig::Config as AmConfig;
use watchfire_dispatch::Dispatcher;

use super::api::{ApiState, LoadedConfig};
use super::build::{dispatch_config, DEFAULT_AM_CONFIG};
use super::deliver::{Notifiers, SLACK_TABLE};
use super::metrics::DispatchMetrics;
use super::persister::{all_tables, load, CommitError, Persister};
use super::service::{Clock, DispatchService};
use super::store::DispatchStore;
use crate::config::Config;

/// Why the dispatcher could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum DispatchStartError {
    #[error("{0}")]
    Config(#[from] watchfire_amconfig::ConfigError),
    #[error("{path}: cannot read the secret: {source}")]
    Token {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: the secret file is empty")]
    EmptyToken { path: String },
    #[error("{0}")]
    Store(#[from] super::store::StoreError),
    #[error("reading dispatch state: {0}")]
    Load(#[from] CommitError),
    #[error("restoring dispatch state: {0}")]
    Restore(#[from] watchfire_dispatch::RestoreError),
    #[error("notifiers: {0}")]
    Notifiers(#[from] super::deliver::BuildError),
    #[error("{0}")]
    Service(#[from] super::service::ServiceError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
}

/// A running dispatcher and what the server needs from it.
pub struct Started {
    pub service: DispatchService,
    pub api: ApiState,
    pub reloader: Reloader,
}

/// Reloads `alertmanager.yml` into the running dispatcher.
#[derive(Clone)]
pub struct Reloader {
    path: Option<PathBuf>,
    external_url: String,
    service: DispatchService,
    config: Arc<RwLock<LoadedConfig>>,
    notifiers: Arc<Notifiers>,
    metrics: DispatchMetrics,
}

/// Loads the configured file, or the built-in default.
pub fn load_am(path: Option<&Path>) -> Result<(AmConfig, String), watchfire_amconfig::ConfigError> {
    match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|source| {
                watchfire_amconfig::ConfigError::Read {
                    path: p.display().to_string(),
                    source,
                }
            })?;
            Ok((watchfire_amconfig::load_file(p)?, text))
        }
        None => Ok((
            watchfire_amconfig::load_str(DEFAULT_AM_CONFIG, "<built-in alertmanager config>")?,
            DEFAULT_AM_CONFIG.to_string(),
        )),
    }
}

fn loaded(am: &AmConfig, text: String) -> LoadedConfig {
    LoadedConfig {
        original: text,
        receivers: am.receivers.iter().map(|r| r.name.clone()).collect(),
        policy_steps: am
            .escalation_policies
            .iter()
            .map(|p| (p.name.clone(), p.steps.len() as u32))
            .collect(),
    }
}

/// Starts the dispatcher for `cfg` (its `dispatch:` section).
pub fn start(
    cfg: &Config,
    registry: &prometheus::Registry,
    clock: Clock,
) -> Result<Started, DispatchStartError> {
    let (am, text) = load_am(cfg.dispatch.alertmanager_config.as_deref())?;
    let token = read_secret(cfg.dispatch.api_token_file.as_deref())?;
    if token.is_none() {
        tracing::warn!("dispatch.api_token_file is not set: API writes need no token");
    }
    let slack_secret = read_secret(cfg.dispatch.slack_signing_secret_file.as_deref())?;
    let pagerduty_secret = read_secret(cfg.dispatch.pagerduty_webhook_secret_file.as_deref())?;
    let metrics = DispatchMetrics::new(registry)?;
    let mut tables = all_tables();
    tables.push(SLACK_TABLE);
    let store = DispatchStore::open(&cfg.dispatch.state_path, &tables)?;
    let (records, log) = load(&store)?;
    let slack_refs = store.load(SLACK_TABLE)?;
    let now = clock();
    let n_records = records.len();
    let core = Dispatcher::restore(dispatch_config(&am, &cfg.external_url), records, now)?;
    let notifiers =
        Arc::new(Notifiers::build(&am, registry).map_err(DispatchStartError::Notifiers)?);
    notifiers.restore_slack(&slack_refs);
    let persister = Persister::start(store, log, metrics.commit_observer());
    let service = DispatchService::new(
        core,
        persister,
        notifiers.clone(),
        clock.clone(),
        Arc::new(metrics.clone()),
    );
    metrics.attach(&service);
    let config = Arc::new(RwLock::new(loaded(&am, text)));
    tracing::info!(
        config = %cfg.dispatch.alertmanager_config.as_deref().map(|p| p.display().to_string()).unwrap_or_else(|| "<built-in>".into()),
        state = %cfg.dispatch.state_path.display(),
        restored_records = n_records,
        receivers = am.receivers.len(),
        "dispatcher ready"
    );
    let api = ApiState {
        service: service.clone(),
        token,
        config: config.clone(),
        started_at: now,
        slack_secret,
        pagerduty_secret,
    };
    Ok(Started {
        service: service.clone(),
        api,
        reloader: Reloader {
            path: cfg.dispatch.alertmanager_config.clone(),
            external_url: cfg.external_url.clone(),
            service,
            config,
            notifiers,
            metrics,
        },
    })
}

/// Reads a one-line secret file (trimmed; empty is an error).
fn read_secret(path: Option<&Path>) -> Result<Option<Arc<str>>, DispatchStartError> {
    let Some(p) = path else {
        return Ok(None);
    };
    let t = std::fs::read_to_string(p).map_err(|source| DispatchStartError::Token {
        path: p.display().to_string(),
        source,
    })?;
    let t = t.trim();
    if t.is_empty() {
        return Err(DispatchStartError::EmptyToken {
            path: p.display().to_string(),
        });
    }
    Ok(Some(Arc::from(t)))
}

impl Reloader {
    /// Re-reads the config; on any error the running config stays.
    pub async fn reload(&self) -> Result<(), DispatchStartError> {
        let result = self.try_reload().await;
        self.metrics.reloaded(result.is_ok());
        if let Err(e) = &result {
            tracing::error!(error = %e, "alertmanager config reload failed; keeping the running config");
        }
        result
    }

    async fn try_reload(&self) -> Result<(), DispatchStartError> {
        let (am, text) = load_am(self.path.as_deref())?;
        self.notifiers
            .rebuild(&am)
            .map_err(DispatchStartError::Notifiers)?;
        self.service
            .reconfigure(
                dispatch_config(&am, &self.external_url),
                self.notifiers.clone(),
            )
            .await?;
        *self.config.write() = loaded(&am, text);
        tracing::info!("alertmanager config reloaded");
        Ok(())
    }
}
