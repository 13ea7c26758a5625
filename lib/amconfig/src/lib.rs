//! Alertmanager-compatible configuration (`alertmanager.yml`, 0.25 plus the
//! newer Slack app-token fields) for Watchfire's dispatcher.
//!
//! Loading is two phases, as everywhere in Watchfire:
//!
//! 1. [`raw`]: serde structs mirroring the YAML (`deny_unknown_fields`,
//!    [`serde_saphyr::Spanned`] values for positions);
//! 2. [`RawConfig::validate`]: a pure function into [`Config`]: the route
//!    tree ([`RouteTree`], implements [`Routing`]), typed receivers with
//!    globals merged and defaults filled in, inhibit rules, time intervals
//!    ([`TimeIntervals`], implements [`TimeIntervalSet`]), template globs
//!    and Watchfire's escalation policies.
//!
//! Errors are [`ConfigError`]s rendered `file:line:col: message`, with
//! Alertmanager's wording wherever Alertmanager has a check. Receivers of
//! integrations Watchfire does not implement (opsgenie, victorops, ...)
//! are rejected with [`ConfigError::Unsupported`].
//!
//! [`routes_test`] holds `amtool config routes test/show` as pure
//! functions. Reference: `docs/dispatch-config.md`.
//!
//! [`Routing`]: watchfire_alertmodel::Routing
//! [`TimeIntervalSet`]: watchfire_alertmodel::TimeIntervalSet

#![forbid(unsafe_code)]

mod error;
pub mod escalation;
pub mod raw;
mod raw_receivers;
pub mod receivers;
mod recv_validate;
pub mod route;
pub mod routes_test;
pub mod timeinterval;
mod validate;

use std::path::Path;

pub use error::ConfigError;
pub use escalation::{
    default_policies, merge_defaults, severity_policy, EscalationPolicy, EscalationStep,
    SeverityReceivers,
};
pub use raw::RawConfig;
pub use receivers::{
    Authorization, BasicAuth, EmailConfig, HostPort, HttpConfig, PagerDutyConfig, Receiver, Secret,
    SecretSource, SlackConfig, TlsConfig, WebhookConfig,
};
pub use route::{RouteNode, RouteTree};
pub use routes_test::{format_routes_show, format_routes_test, parse_label_args, routes_test};
pub use timeinterval::{TimeInterval, TimeIntervals};
pub use validate::{expand_templates, GlobalConfig};

use watchfire_alertmodel::InhibitRule;

/// A validated Alertmanager configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub global: GlobalConfig,
    pub route: RouteTree,
    /// In file order.
    pub receivers: Vec<Receiver>,
    pub inhibit_rules: Vec<InhibitRule>,
    /// Both `time_intervals` and the deprecated `mute_time_intervals`.
    pub time_intervals: TimeIntervals,
    /// Template glob patterns, joined to the config file's folder; see
    /// [`expand_templates`] for the files.
    pub templates: Vec<std::path::PathBuf>,
    pub escalation_policies: Vec<EscalationPolicy>,
}

impl Config {
    /// The receiver with this name.
    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }

    /// The escalation policy with this name.
    pub fn escalation_policy(&self, name: &str) -> Option<&EscalationPolicy> {
        self.escalation_policies.iter().find(|p| p.name == name)
    }
}

/// Reads and validates an `alertmanager.yml`.
pub fn load_file(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
    let path = path.as_ref();
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: name.clone(),
        source,
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    parse(&text, &name, base)
}

/// Validates config text; `path_for_errors` names it in errors and its
/// folder anchors template globs.
pub fn load_str(text: &str, path_for_errors: &str) -> Result<Config, ConfigError> {
    let base = Path::new(path_for_errors)
        .parent()
        .unwrap_or(Path::new("."));
    parse(text, path_for_errors, base)
}

fn parse(text: &str, name: &str, base: &Path) -> Result<Config, ConfigError> {
    let raw: RawConfig = if text.trim().is_empty() {
        RawConfig::default()
    } else {
        serde_saphyr::from_str(text).map_err(|e| yaml_error(name, &e))?
    };
    raw.validate(name, base)
}

/// Turns a serde-saphyr error into a positioned [`ConfigError`].
fn yaml_error(name: &str, e: &serde_saphyr::Error) -> ConfigError {
    let at = watchfire_yamlpos::locate(e);
    ConfigError::Invalid {
        path: name.to_string(),
        line: at.line.max(1),
        col: at.col.max(1),
        msg: at.msg,
    }
}
