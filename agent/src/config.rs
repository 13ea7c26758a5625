//! The agent's configuration file, in two phases: [`RawAgentConfig`]
//! mirrors the YAML (`deny_unknown_fields`, a doc comment on every field);
//! [`RawAgentConfig::validate`] turns it into a typed [`AgentConfig`]. The
//! scrape and remote_write sections are validated by their own modules
//! ([`crate::scrape::config`], [`crate::ship::config`]); this module
//! stitches them together and positions every error as `file:line:col`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::host::HostConfig;
use crate::logs::config::{LogsConfig, RawLogs};
use crate::scrape::config::{
    self as scrape_config, RawScrapeConfig, RawScrapeGlobal, ScrapeConfig,
};
use crate::ship::config::{RawRemoteWrite, RemoteWriteConfig};
use crate::traces::config::{RawTraces, TracesConfig};

/// A configuration error.
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
        line: u64,
        col: u64,
        msg: String,
    },
}

/// The raw agent configuration file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAgentConfig {
    /// The agent's own HTTP server (`/metrics`, `/health/live`, `/health/ready`).
    #[serde(default)]
    pub server: RawAgentServer,
    /// Defaults for every scrape job (`scrape_interval`, `scrape_timeout`).
    #[serde(default)]
    pub global: RawScrapeGlobal,
    /// Prometheus-style scrape jobs (static, file_sd, Kubernetes pods on
    /// this node).
    #[serde(default)]
    pub scrape_configs: Vec<RawScrapeConfig>,
    /// The host collector (node_exporter's metric names).
    #[serde(default)]
    pub host: RawHost,
    /// Where samples are shipped (remote_write 1.0). Required.
    pub remote_write: Option<Spanned<RawRemoteWrite>>,
    /// Log tailing, redaction and sinks. Off when absent.
    pub logs: Option<Spanned<RawLogs>>,
    /// OTLP trace receivers, redaction, sampling, forwarding and span
    /// metrics. Off when absent.
    pub traces: Option<Spanned<RawTraces>>,
}

/// `server:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAgentServer {
    /// `ip:port` (or `localhost:port`) to listen on. Default `0.0.0.0:9464`.
    pub listen_address: Option<Spanned<String>>,
}

/// `host:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHost {
    /// Collect host metrics and ship them, with the agent's own metrics,
    /// through a built-in scrape of the agent's `/metrics`. Default true.
    pub enabled: Option<bool>,
    /// How often the agent ships its own `/metrics` (host metrics
    /// included). Default `15s`.
    pub interval: Option<Spanned<String>>,
    /// Where `/proc` is mounted (a container with the host's mounted
    /// elsewhere). Default `/proc`.
    pub procfs_path: Option<PathBuf>,
    /// Where `/sys` is mounted. Default `/sys`.
    pub sysfs_path: Option<PathBuf>,
    /// Where the host's root filesystem is mounted. Default `/`.
    pub rootfs_path: Option<PathBuf>,
}

/// The validated agent configuration.
#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub listen_address: SocketAddr,
    pub scrape: Vec<ScrapeConfig>,
    /// `None` when the host collector is off.
    pub host: Option<HostConfig>,
    pub self_scrape_interval: Duration,
    pub remote_write: RemoteWriteConfig,
    /// `None` when there is no `logs:` section.
    pub logs: Option<LogsConfig>,
    /// `None` when there is no `traces:` section. Its redaction is always
    /// resolved (own section, else `logs.redaction`, else defaults).
    pub traces: Option<TracesConfig>,
}

impl AgentConfig {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<AgentConfig, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: name.clone(),
            source,
        })?;
        let cfg = Self::from_yaml(&name, &text)?;
        // I/O, so not in `validate`: file_sd paths that cannot be read are
        // start-up errors with their position.
        crate::scrape::discovery::file_sd::preflight(&cfg.scrape, &name).map_err(from_scrape)?;
        Ok(cfg)
    }

    /// Parses and validates config text.
    pub fn from_yaml(name: &str, text: &str) -> Result<AgentConfig, ConfigError> {
        let raw: RawAgentConfig = if text.trim().is_empty() {
            RawAgentConfig::default()
        } else {
            serde_saphyr::from_str(text)
                .map_err(|e| from_scrape(scrape_config::yaml_error(name, &e)))?
        };
        raw.validate(name)
    }
}

fn from_scrape(e: scrape_config::ConfigError) -> ConfigError {
    ConfigError::Invalid {
        path: e.file,
        line: e.line,
        col: e.col,
        msg: e.msg,
    }
}

fn at<T>(name: &str, s: &Spanned<T>, msg: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        path: name.to_string(),
        line: s.referenced.line(),
        col: s.referenced.column(),
        msg: msg.into(),
    }
}

impl RawAgentConfig {
    /// Checks every value and converts to typed form. Apart from what the
    /// remote_write section reads (token and password files), pure.
    pub fn validate(self, name: &str) -> Result<AgentConfig, ConfigError> {
        let listen_address = match &self.server.listen_address {
            None => SocketAddr::from(([0, 0, 0, 0], 9464)),
            Some(s) => {
                let text = match s.value.strip_prefix("localhost:") {
                    Some(port) => format!("127.0.0.1:{port}"),
                    None => s.value.clone(),
                };
                text.parse().map_err(|e| {
                    at(
                        name,
                        s,
                        format!("listen_address: {e} (want ip:port or localhost:port)"),
                    )
                })?
            }
        };
        let scrape = scrape_config::validate(&self.global, &self.scrape_configs, name)
            .map_err(from_scrape)?;
        let self_scrape_interval = match &self.host.interval {
            None => Duration::from_secs(15),
            Some(s) => {
                let ms = watchfire_promql::duration::parse_duration(&s.value)
                    .map_err(|e| at(name, s, format!("host.interval: {e}")))?;
                if ms <= 0 {
                    return Err(at(name, s, "host.interval must be positive"));
                }
                Duration::from_millis(ms as u64)
            }
        };
        let host = if self.host.enabled.unwrap_or(true) {
            let mut h = HostConfig::default();
            if let Some(p) = self.host.procfs_path {
                h.procfs_path = p;
            }
            if let Some(p) = self.host.sysfs_path {
                h.sysfs_path = p;
            }
            if let Some(p) = self.host.rootfs_path {
                h.rootfs_path = p;
            }
            Some(h)
        } else {
            None
        };
        let remote_write = match &self.remote_write {
            None => {
                return Err(ConfigError::Invalid {
                    path: name.to_string(),
                    line: 1,
                    col: 1,
                    msg: "remote_write is required: where should samples go?".into(),
                })
            }
            Some(rw) => rw
                .value
                .validate()
                .map_err(|e| at(name, rw, e.to_string()))?,
        };
        let logs = match self.logs {
            None => None,
            Some(l) => {
                let at = (l.referenced.line(), l.referenced.column());
                Some(
                    l.value
                        .validate(name)
                        .map_err(|e| section_error(name, at, (e.line, e.col), e.msg))?,
                )
            }
        };
        let traces = match self.traces {
            None => None,
            Some(t) => {
                let at = (t.referenced.line(), t.referenced.column());
                let mut tc = t
                    .value
                    .validate(name)
                    .map_err(|e| section_error(name, at, (e.line, e.col), e.msg))?;
                if tc.redaction.is_none() {
                    tc.redaction = Some(
                        logs.as_ref()
                            .map(|l| l.redaction.clone())
                            .unwrap_or_default(),
                    );
                }
                Some(tc)
            }
        };
        Ok(AgentConfig {
            traces,
            logs,
            listen_address,
            scrape,
            host,
            self_scrape_interval,
            remote_write,
        })
    }
}

/// A section's validation error at its own position, or at the section
/// (`section`: line, column) when it has none of its own.
fn section_error(name: &str, section: (u64, u64), at: (u64, u64), msg: String) -> ConfigError {
    let (line, col) = if at.0 <= 1 && at.1 <= 1 { section } else { at };
    ConfigError::Invalid {
        path: name.to_string(),
        line,
        col,
        msg,
    }
}
