//! The router's configuration file, in two phases.
//!
//! 1. [`RawConfig`]: serde structs that mirror the YAML exactly, with
//!    `deny_unknown_fields` and a doc comment on every field. Values that
//!    need checking are kept as [`Spanned`] strings so errors can point at
//!    them.
//! 2. [`RawConfig::validate`]: a pure function into [`Config`], whose fields
//!    are typed (durations in milliseconds, socket addresses, URLs).
//!
//! Nothing is built from a config until it has validated. Every error names
//! the file, line and column.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

/// A configuration error, rendered as `file:line:col: message`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}:{col}: {msg}")]
    Invalid {
        path: String,
        line: usize,
        col: usize,
        msg: String,
    },
}

/// The raw router configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// The HTTP server (remote_write ingest, `/metrics`, health probes).
    #[serde(default)]
    pub server: RawServer,
    /// The in-memory series store.
    #[serde(default)]
    pub storage: RawStorage,
    /// Rule evaluation.
    #[serde(default)]
    pub rules: RawRules,
    /// Durable state (alert state that survives restarts).
    #[serde(default)]
    pub state: RawState,
    /// Where alerts are sent.
    #[serde(default)]
    pub alerting: RawAlerting,
    /// Alertmanager-compatible dispatch: routing, grouping, inhibition,
    /// silences, notifiers and escalation, with the Alertmanager v2 API.
    #[serde(default)]
    pub dispatch: RawDispatch,
}

/// `dispatch:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDispatch {
    /// Path of an `alertmanager.yml` (Alertmanager's format plus Watchfire's
    /// `escalation_policies`), relative to this file. When absent, a
    /// built-in config with one receiver (`default`, no integrations) is
    /// used: alerts are grouped and visible in the API and on the web page,
    /// and nothing is sent.
    pub alertmanager_config: Option<Spanned<String>>,
    /// File holding the bearer token required on the API's writes (POST
    /// and DELETE). When absent, writes need no token and a warning is
    /// logged at start-up.
    pub api_token_file: Option<Spanned<String>>,
    /// Path of the dispatch state database (alerts, groups, notification
    /// log, silences, escalations, dead letters), relative to this file.
    /// Default: `dispatch.redb` next to `state.path`.
    pub state_path: Option<String>,
    /// File holding the Slack app's signing secret. Needed for the
    /// Acknowledge / Silence 1h buttons (`POST
    /// /api/watchfire/v1/slack/actions`); without it that endpoint answers
    /// 404.
    pub slack_signing_secret_file: Option<Spanned<String>>,
    /// File holding the PagerDuty v3 webhook subscription's secret. Needed
    /// for acks from PagerDuty (`POST /api/watchfire/v1/pagerduty/webhook`);
    /// without it that endpoint answers 404.
    pub pagerduty_webhook_secret_file: Option<Spanned<String>>,
}

/// `server:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    /// Address to listen on, `ip:port` (or `localhost:port`). Default
    /// `0.0.0.0:9093`.
    pub listen_address: Option<Spanned<String>>,
    /// Largest accepted request body in bytes (remote_write is measured
    /// compressed). Default 32 MiB.
    pub max_request_bytes: Option<Spanned<usize>>,
}

/// `storage:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStorage {
    /// How long samples are kept in memory, as a Prometheus duration.
    /// Default `1h`; it is raised to the longest range any rule needs.
    pub retention: Option<Spanned<String>>,
    /// Upper bound on the retention the rules can ask for: the store keeps
    /// the longest span any rule reads (`rate(x[6h])` keeps 6h), but never
    /// more than this. Default `25h`.
    pub max_retention: Option<Spanned<String>>,
    /// Most series held at once; new series beyond it are refused (429).
    /// Default 2,000,000.
    pub max_series: Option<Spanned<usize>>,
    /// Most labels on one series, the metric name included. Default 64.
    pub max_labels_per_series: Option<Spanned<usize>>,
    /// Longest label name in bytes. Default 1024.
    pub max_label_name_length: Option<Spanned<usize>>,
    /// Longest label value in bytes. Default 4096.
    pub max_label_value_length: Option<Spanned<usize>>,
}

/// `rules:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRules {
    /// Rule files or glob patterns, relative to the config file.
    #[serde(default)]
    pub files: Vec<Spanned<String>>,
    /// Default group evaluation interval. Default `1m`.
    pub evaluation_interval: Option<Spanned<String>>,
    /// Minimum time between resends of a still-firing alert. Default `1m`.
    pub resend_delay: Option<Spanned<String>>,
    /// How often rule files are checked for changes (SIGHUP also reloads).
    /// Default `5s`; `0s` turns the file watch off.
    pub reload_check_interval: Option<Spanned<String>>,
    /// Labels added to every alert, available as `$externalLabels`.
    pub external_labels: Option<Spanned<BTreeMap<String, String>>>,
    /// URL this router is reached at; used in `generatorURL` and
    /// `$externalURL`. Default `http://<listen_address>`, with `localhost`
    /// for an unspecified address such as `0.0.0.0`.
    pub external_url: Option<Spanned<String>>,
}

/// `state:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawState {
    /// Path of the redb database file, relative to the config file.
    /// Default `data/router.redb`.
    pub path: Option<String>,
}

/// `alerting:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlerting {
    /// Print alerts on standard output. Default true.
    pub console: Option<bool>,
    /// Alertmanager-compatible receivers (`/api/v2/alerts`).
    #[serde(default)]
    pub alertmanagers: Vec<RawAlertmanager>,
}

/// One Alertmanager target.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAlertmanager {
    /// Base URL, e.g. `http://alertmanager:9093`; `/api/v2/alerts` is appended.
    pub url: Spanned<String>,
    /// Bearer token sent in `Authorization`.
    pub bearer_token: Option<String>,
    /// Request timeout. Default `10s`.
    pub timeout: Option<Spanned<String>>,
}

/// The validated configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listen_address: SocketAddr,
    pub max_request_bytes: usize,
    pub retention_ms: i64,
    pub max_retention_ms: i64,
    pub max_series: usize,
    pub max_labels_per_series: usize,
    pub max_label_name_length: usize,
    pub max_label_value_length: usize,
    /// Rule file patterns, resolved against the config file's folder.
    pub rule_files: Vec<String>,
    pub evaluation_interval_ms: i64,
    pub resend_delay_ms: i64,
    pub reload_check_interval_ms: i64,
    pub external_labels: BTreeMap<String, String>,
    pub external_url: String,
    pub state_path: PathBuf,
    pub console: bool,
    pub alertmanagers: Vec<Alertmanager>,
    pub dispatch: Dispatch,
}

/// The validated `dispatch:` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Dispatch {
    /// The alertmanager.yml, when one is configured.
    pub alertmanager_config: Option<PathBuf>,
    /// The API token file, read when the router starts.
    pub api_token_file: Option<PathBuf>,
    pub state_path: PathBuf,
    pub slack_signing_secret_file: Option<PathBuf>,
    pub pagerduty_webhook_secret_file: Option<PathBuf>,
}

/// A validated Alertmanager target.
#[derive(Debug, Clone, PartialEq)]
pub struct Alertmanager {
    /// Full URL of the alerts endpoint.
    pub alerts_url: String,
    pub bearer_token: Option<String>,
    pub timeout_ms: i64,
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: name.clone(),
            source,
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        Self::from_yaml(&name, &text, base)
    }

    /// Parses and validates config text. `base` resolves relative paths.
    pub fn from_yaml(name: &str, text: &str, base: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = if text.trim().is_empty() {
            RawConfig::default()
        } else {
            serde_saphyr::from_str(text).map_err(|e| yaml_error(name, &e))?
        };
        raw.validate(name, base)
    }
}

/// Turns a serde-saphyr error into a positioned [`ConfigError`].
fn yaml_error(name: &str, e: &serde_saphyr::Error) -> ConfigError {
    let at = watchfire_yamlpos::locate(e);
    ConfigError::Invalid {
        path: name.to_string(),
        line: at.line,
        col: at.col,
        msg: at.msg,
    }
}

struct Ctx<'a> {
    name: &'a str,
}

impl Ctx<'_> {
    fn err<T>(&self, at: &Spanned<T>, msg: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.name.to_string(),
            line: at.referenced.line() as usize,
            col: at.referenced.column() as usize,
            msg: msg.into(),
        }
    }

    fn duration(
        &self,
        v: &Option<Spanned<String>>,
        default_ms: i64,
        field: &str,
    ) -> Result<i64, ConfigError> {
        match v {
            None => Ok(default_ms),
            Some(s) => watchfire_promql::parser::parse_duration(&s.value).map_err(|e| {
                self.err(
                    s,
                    format!("{field}: not a valid duration {:?}: {e}", s.value),
                )
            }),
        }
    }
}

impl RawConfig {
    /// Checks every value and converts to typed form. Pure.
    pub fn validate(self, name: &str, base: &Path) -> Result<Config, ConfigError> {
        let cx = Ctx { name };
        let listen_address = match &self.server.listen_address {
            None => SocketAddr::from(([0, 0, 0, 0], 9093)),
            Some(s) => {
                let text = match s.value.strip_prefix("localhost:") {
                    Some(port) => format!("127.0.0.1:{port}"),
                    None => s.value.clone(),
                };
                text.parse().map_err(|e| {
                    cx.err(
                        s,
                        format!("listen_address: {e} (want ip:port or localhost:port)"),
                    )
                })?
            }
        };
        let retention_ms = cx.duration(&self.storage.retention, 3_600_000, "retention")?;
        if retention_ms <= 0 {
            if let Some(s) = &self.storage.retention {
                return Err(cx.err(s, "retention must be positive"));
            }
        }
        let max_retention_ms =
            cx.duration(&self.storage.max_retention, 25 * 3_600_000, "max_retention")?;
        if max_retention_ms < retention_ms {
            if let Some(s) = &self.storage.max_retention {
                return Err(cx.err(s, "max_retention must not be shorter than retention"));
            }
        }
        let evaluation_interval_ms = cx.duration(
            &self.rules.evaluation_interval,
            60_000,
            "evaluation_interval",
        )?;
        if evaluation_interval_ms <= 0 {
            if let Some(s) = &self.rules.evaluation_interval {
                return Err(cx.err(s, "evaluation_interval must be positive"));
            }
        }
        let resend_delay_ms = cx.duration(&self.rules.resend_delay, 60_000, "resend_delay")?;
        let reload_check_interval_ms = cx.duration(
            &self.rules.reload_check_interval,
            5_000,
            "reload_check_interval",
        )?;
        let mut rule_files = Vec::new();
        for f in &self.rules.files {
            if f.value.trim().is_empty() {
                return Err(cx.err(f, "rule file pattern is empty"));
            }
            if let Err(e) = glob::Pattern::new(&f.value) {
                return Err(cx.err(f, format!("invalid glob pattern: {e}")));
            }
            rule_files.push(base.join(&f.value).display().to_string());
        }
        let external_labels = match &self.rules.external_labels {
            None => BTreeMap::new(),
            Some(m) => {
                for (k, v) in &m.value {
                    if !is_label_name(k) {
                        return Err(cx.err(m, format!("external_labels: invalid label name {k:?}")));
                    }
                    if v.is_empty() {
                        return Err(cx.err(
                            m,
                            format!("external_labels: label {k:?} has an empty value"),
                        ));
                    }
                }
                m.value.clone()
            }
        };
        let external_url = match &self.rules.external_url {
            Some(s) => {
                check_url(&s.value).map_err(|m| cx.err(s, format!("external_url: {m}")))?;
                s.value.trim_end_matches('/').to_string()
            }
            None if listen_address.ip().is_unspecified() => {
                format!("http://localhost:{}", listen_address.port())
            }
            None => format!("http://{listen_address}"),
        };
        let mut alertmanagers = Vec::new();
        for am in &self.alerting.alertmanagers {
            check_url(&am.url.value)
                .map_err(|m| cx.err(&am.url, format!("alertmanagers.url: {m}")))?;
            let timeout_ms = cx.duration(&am.timeout, 10_000, "timeout")?;
            if timeout_ms <= 0 {
                if let Some(t) = &am.timeout {
                    return Err(cx.err(t, "timeout must be positive"));
                }
            }
            alertmanagers.push(Alertmanager {
                alerts_url: format!("{}/api/v2/alerts", am.url.value.trim_end_matches('/')),
                bearer_token: am.bearer_token.clone(),
                timeout_ms,
            });
        }
        let positive =
            |v: &Option<Spanned<usize>>, d: usize, field: &str| -> Result<usize, ConfigError> {
                match v {
                    None => Ok(d),
                    Some(n) if n.value == 0 => Err(cx.err(n, format!("{field} must be positive"))),
                    Some(n) => Ok(n.value),
                }
            };
        let state_path = base.join(self.state.path.as_deref().unwrap_or("data/router.redb"));
        Ok(Config {
            listen_address,
            max_request_bytes: positive(
                &self.server.max_request_bytes,
                32 << 20,
                "server.max_request_bytes",
            )?,
            retention_ms,
            max_retention_ms: max_retention_ms.max(retention_ms),
            max_series: positive(&self.storage.max_series, 2_000_000, "storage.max_series")?,
            max_labels_per_series: positive(
                &self.storage.max_labels_per_series,
                64,
                "storage.max_labels_per_series",
            )?,
            max_label_name_length: positive(
                &self.storage.max_label_name_length,
                1024,
                "storage.max_label_name_length",
            )?,
            max_label_value_length: positive(
                &self.storage.max_label_value_length,
                4096,
                "storage.max_label_value_length",
            )?,
            rule_files,
            evaluation_interval_ms,
            resend_delay_ms,
            reload_check_interval_ms,
            external_labels,
            external_url,
            dispatch: Dispatch {
                alertmanager_config: dispatch_file(&cx, &self.dispatch.alertmanager_config, base)?,
                api_token_file: dispatch_file(&cx, &self.dispatch.api_token_file, base)?,
                slack_signing_secret_file: dispatch_file(
                    &cx,
                    &self.dispatch.slack_signing_secret_file,
                    base,
                )?,
                pagerduty_webhook_secret_file: dispatch_file(
                    &cx,
                    &self.dispatch.pagerduty_webhook_secret_file,
                    base,
                )?,
                state_path: match &self.dispatch.state_path {
                    Some(p) => base.join(p),
                    None => state_path
                        .parent()
                        .unwrap_or(Path::new("."))
                        .join("dispatch.redb"),
                },
            },
            state_path,
            console: self.alerting.console.unwrap_or(true),
            alertmanagers,
        })
    }
}

fn dispatch_file(
    cx: &Ctx<'_>,
    v: &Option<Spanned<String>>,
    base: &Path,
) -> Result<Option<PathBuf>, ConfigError> {
    match v {
        None => Ok(None),
        Some(s) if s.value.trim().is_empty() => Err(cx.err(s, "path is empty")),
        Some(s) => Ok(Some(base.join(&s.value))),
    }
}

fn check_url(u: &str) -> Result<(), &'static str> {
    let rest = u
        .strip_prefix("http://")
        .or_else(|| u.strip_prefix("https://"))
        .ok_or("must start with http:// or https://")?;
    if rest.is_empty() || rest.starts_with('/') {
        return Err("has no host");
    }
    Ok(())
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
