//! The scrape configuration: a Prometheus-compatible subset.
//!
//! Two layers. The `Raw*` structs mirror the YAML exactly (unknown keys are
//! rejected) and keep source positions ([`Spanned`]) on every value that is
//! checked later. [`validate`] turns them into the typed [`ScrapeConfig`]s
//! the scrape manager runs; it is pure (no I/O) and every error names
//! `file:line:col`. File readability of `file_sd_configs` is checked by
//! [`crate::scrape::discovery::file_sd::preflight`] at start-up, with the
//! same positions.
//!
//! Embed [`RawScrapeGlobal`] as `global` and `Vec<RawScrapeConfig>` as
//! `scrape_configs` in the agent's config file, or parse a stand-alone
//! Prometheus-style file with [`parse_str`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_saphyr::{Location, Spanned};
use watchfire_promql::Labels;

use super::discovery::TargetGroup;
use super::relabel::{is_valid_label_name, RelabelConfig, RelabelSpec};

/// A position in a config file (1-based; 0 when unknown).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: u64,
    pub col: u64,
}

impl From<&Location> for Pos {
    fn from(l: &Location) -> Pos {
        Pos {
            line: l.line(),
            col: l.column(),
        }
    }
}

/// A configuration error with its place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{col}: {msg}")]
pub struct ConfigError {
    pub file: String,
    pub line: u64,
    pub col: u64,
    pub msg: String,
}

impl ConfigError {
    pub fn at(file: &str, pos: Pos, msg: impl Into<String>) -> ConfigError {
        ConfigError {
            file: file.to_string(),
            line: pos.line,
            col: pos.col,
            msg: msg.into(),
        }
    }
}

/// `global:` defaults for every job.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScrapeGlobal {
    /// Default scrape interval (Prometheus duration, default `1m`).
    #[serde(default)]
    pub scrape_interval: Option<Spanned<String>>,
    /// Default per-scrape timeout (default `10s`, at most the interval).
    #[serde(default)]
    pub scrape_timeout: Option<Spanned<String>>,
}

/// One `scrape_configs[]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScrapeConfig {
    /// The job name; unique; becomes the `job` label.
    pub job_name: Spanned<String>,
    /// How often to scrape each target (default: global).
    #[serde(default)]
    pub scrape_interval: Option<Spanned<String>>,
    /// Per-scrape timeout (default: global, capped to the interval).
    #[serde(default)]
    pub scrape_timeout: Option<Spanned<String>>,
    /// The HTTP path (default `/metrics`).
    #[serde(default)]
    pub metrics_path: Option<String>,
    /// `http` (default) or `https`.
    #[serde(default)]
    pub scheme: Option<Spanned<String>>,
    /// Keep the target's own labels on conflict instead of renaming them
    /// to `exported_*` (default false).
    #[serde(default)]
    pub honor_labels: bool,
    /// Keep timestamps the target exposes (default true).
    #[serde(default)]
    pub honor_timestamps: Option<bool>,
    /// URL query parameters (`__param_<name>` labels).
    #[serde(default)]
    pub params: BTreeMap<String, Vec<String>>,
    /// Fixed targets.
    #[serde(default)]
    pub static_configs: Vec<RawStaticConfig>,
    /// Targets read from JSON/YAML files.
    #[serde(default)]
    pub file_sd_configs: Vec<RawFileSdConfig>,
    /// Pods on this node, from the Kubernetes API.
    #[serde(default)]
    pub kubernetes_sd_configs: Vec<RawKubernetesSdConfig>,
    /// Relabelling of discovered targets.
    #[serde(default)]
    pub relabel_configs: Vec<RawRelabelConfig>,
    /// Relabelling of scraped samples.
    #[serde(default)]
    pub metric_relabel_configs: Vec<RawRelabelConfig>,
    /// Largest uncompressed body accepted (`10MiB`, `512KB`, bytes; 0 = no
    /// limit; default 64MiB). A larger body fails the scrape.
    #[serde(default)]
    pub body_size_limit: Option<Spanned<String>>,
    /// Most samples per scrape after metric relabelling (0 = no limit).
    #[serde(default)]
    pub sample_limit: Option<usize>,
    /// Longest label value accepted (0 = no limit; default 0).
    #[serde(default)]
    pub label_value_length_limit: Option<usize>,
}

/// One `static_configs[]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStaticConfig {
    /// `host:port` addresses.
    #[serde(default)]
    pub targets: Vec<Spanned<String>>,
    /// Labels for every target of this group.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// One `file_sd_configs[]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFileSdConfig {
    /// Files (`.json`, `.yml`, `.yaml`); `*`/`?` allowed in the file name.
    pub files: Vec<Spanned<String>>,
    /// How often to re-read the files (default `5m`); changes are also
    /// picked up by a cheap modification-time check every few seconds.
    #[serde(default)]
    pub refresh_interval: Option<Spanned<String>>,
}

/// `namespaces:` of a Kubernetes SD config.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNamespaces {
    /// Namespaces to watch (default: all).
    #[serde(default)]
    pub names: Vec<String>,
}

/// One `selectors[]` entry (only `role: pod`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSelector {
    /// Must be `pod`.
    pub role: Spanned<String>,
    /// A Kubernetes label selector.
    #[serde(default)]
    pub label: Option<String>,
    /// A Kubernetes field selector (combined with `spec.nodeName`).
    #[serde(default)]
    pub field: Option<String>,
}

/// One `kubernetes_sd_configs[]` entry. Only pods on the agent's node are
/// discovered.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKubernetesSdConfig {
    /// Must be `pod`.
    pub role: Spanned<String>,
    /// API server URL; default in-cluster
    /// (`https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT`).
    #[serde(default)]
    pub api_server: Option<Spanned<String>>,
    /// Bearer token file (default: the service-account token in-cluster).
    #[serde(default)]
    pub bearer_token_file: Option<String>,
    /// CA bundle (default: the service-account CA in-cluster).
    #[serde(default)]
    pub ca_file: Option<String>,
    /// The node whose pods are discovered (default: `$NODE_NAME`).
    #[serde(default)]
    pub node_name: Option<String>,
    /// Namespaces to watch.
    #[serde(default)]
    pub namespaces: RawNamespaces,
    /// Extra label/field selectors.
    #[serde(default)]
    pub selectors: Vec<RawSelector>,
    /// Honour `prometheus.io/scrape|port|path|scheme` annotations (default
    /// true): only annotated pods become targets.
    #[serde(default)]
    pub prometheus_io_annotations: Option<bool>,
}

/// One relabel entry as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRelabelConfig {
    /// Labels whose values are joined with `separator`.
    #[serde(default)]
    pub source_labels: Option<Vec<String>>,
    /// Default `;`.
    #[serde(default)]
    pub separator: Option<String>,
    /// Fully anchored RE2-style regex (default `(.*)`).
    #[serde(default)]
    pub regex: Option<Spanned<String>>,
    /// For `hashmod`.
    #[serde(default)]
    pub modulus: Option<u64>,
    /// Label written by `replace`, `hashmod`, `lowercase`, `uppercase`.
    #[serde(default)]
    pub target_label: Option<Spanned<String>>,
    /// Replacement with `$1`/`${name}` references (default `$1`).
    #[serde(default)]
    pub replacement: Option<String>,
    /// `replace` (default), `keep`, `drop`, `keepequal`, `dropequal`,
    /// `hashmod`, `labelmap`, `labeldrop`, `labelkeep`, `lowercase`,
    /// `uppercase`.
    #[serde(default)]
    pub action: Option<Spanned<String>>,
}

/// A stand-alone scrape file: `global` + `scrape_configs`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScrapeFile {
    /// Defaults.
    #[serde(default)]
    pub global: RawScrapeGlobal,
    /// Jobs.
    #[serde(default)]
    pub scrape_configs: Vec<RawScrapeConfig>,
}

/// A validated file_sd config.
#[derive(Debug, Clone)]
pub struct FileSdConfig {
    /// Paths or patterns, with where they were written.
    pub files: Vec<(PathBuf, Pos)>,
    pub refresh_interval: Duration,
}

/// A validated Kubernetes pod SD config.
#[derive(Debug, Clone)]
pub struct KubernetesSdConfig {
    /// `None`: in-cluster defaults from the environment.
    pub api_server: Option<url::Url>,
    pub bearer_token_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    /// `None`: `$NODE_NAME` at start-up.
    pub node_name: Option<String>,
    pub namespaces: Vec<String>,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub annotations: bool,
    /// Where the entry was written (for start-up errors).
    pub pos: Pos,
}

/// A validated job.
#[derive(Debug, Clone)]
pub struct ScrapeConfig {
    pub job_name: String,
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
    pub metrics_path: String,
    pub scheme: String,
    pub honor_labels: bool,
    pub honor_timestamps: bool,
    pub params: BTreeMap<String, Vec<String>>,
    pub static_configs: Vec<TargetGroup>,
    pub file_sd_configs: Vec<FileSdConfig>,
    pub kubernetes_sd_configs: Vec<KubernetesSdConfig>,
    pub relabel_configs: Vec<RelabelConfig>,
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// 0 = unlimited.
    pub body_size_limit: u64,
    /// 0 = unlimited.
    pub sample_limit: usize,
    /// 0 = unlimited.
    pub label_value_length_limit: usize,
}

/// Default `body_size_limit`: 64 MiB.
pub const DEFAULT_BODY_SIZE_LIMIT: u64 = 64 << 20;

/// Parses a stand-alone scrape file and validates it.
pub fn parse_str(text: &str, file: &str) -> Result<Vec<ScrapeConfig>, ConfigError> {
    let raw: RawScrapeFile = serde_saphyr::from_str(text).map_err(|e| yaml_error(file, &e))?;
    validate(&raw.global, &raw.scrape_configs, file)
}

/// Turns a serde-saphyr error into a positioned [`ConfigError`].
pub fn yaml_error(file: &str, e: &serde_saphyr::Error) -> ConfigError {
    let pos = e.location().map(|l| Pos::from(&l)).unwrap_or_default();
    let msg = e.to_string();
    // The library's message may carry its own rendering; keep the first line.
    let msg = msg.lines().next().unwrap_or("invalid YAML").to_string();
    ConfigError::at(file, pos, msg)
}

fn pos_of<T>(s: &Spanned<T>) -> Pos {
    Pos::from(&s.referenced)
}

fn duration(file: &str, s: &Spanned<String>, what: &str) -> Result<Duration, ConfigError> {
    let ms = watchfire_promql::duration::parse_duration(&s.value)
        .map_err(|e| ConfigError::at(file, pos_of(s), format!("invalid {what}: {e}")))?;
    if ms <= 0 {
        return Err(ConfigError::at(
            file,
            pos_of(s),
            format!("{what} must be greater than zero"),
        ));
    }
    Ok(Duration::from_millis(ms.unsigned_abs()))
}

/// Parses `10MiB`, `512KB` (base 2, like Prometheus), or plain bytes.
pub fn parse_bytes(s: &str) -> Option<u64> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().ok()?;
    let mult: u64 = match unit {
        "" | "B" => 1,
        "KB" | "KiB" => 1 << 10,
        "MB" | "MiB" => 1 << 20,
        "GB" | "GiB" => 1 << 30,
        "TB" | "TiB" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(mult)
}

/// Validates the raw jobs against the global defaults. Pure.
pub fn validate(
    global: &RawScrapeGlobal,
    raw: &[RawScrapeConfig],
    file: &str,
) -> Result<Vec<ScrapeConfig>, ConfigError> {
    let g_interval = match &global.scrape_interval {
        Some(s) => duration(file, s, "scrape_interval")?,
        None => Duration::from_secs(60),
    };
    let g_timeout = match &global.scrape_timeout {
        Some(s) => duration(file, s, "scrape_timeout")?,
        None => Duration::from_secs(10),
    };
    if let (Some(s), true) = (&global.scrape_timeout, g_timeout > g_interval) {
        return Err(ConfigError::at(
            file,
            pos_of(s),
            "global scrape_timeout greater than scrape_interval",
        ));
    }
    let mut out: Vec<ScrapeConfig> = Vec::with_capacity(raw.len());
    for r in raw {
        let job = r.job_name.value.clone();
        if job.is_empty() {
            return Err(ConfigError::at(
                file,
                pos_of(&r.job_name),
                "job_name is empty",
            ));
        }
        if out.iter().any(|c| c.job_name == job) {
            return Err(ConfigError::at(
                file,
                pos_of(&r.job_name),
                format!("found multiple scrape configs with job name {job:?}"),
            ));
        }
        out.push(validate_job(r, file, g_interval, g_timeout)?);
    }
    Ok(out)
}

fn validate_job(
    r: &RawScrapeConfig,
    file: &str,
    g_interval: Duration,
    g_timeout: Duration,
) -> Result<ScrapeConfig, ConfigError> {
    let interval = match &r.scrape_interval {
        Some(s) => duration(file, s, "scrape_interval")?,
        None => g_interval,
    };
    let timeout = match &r.scrape_timeout {
        Some(s) => {
            let t = duration(file, s, "scrape_timeout")?;
            if t > interval {
                return Err(ConfigError::at(
                    file,
                    pos_of(s),
                    format!(
                        "scrape_timeout greater than scrape_interval for job {:?}",
                        r.job_name.value
                    ),
                ));
            }
            t
        }
        None => g_timeout.min(interval),
    };
    let scheme = match &r.scheme {
        Some(s) if s.value == "http" || s.value == "https" => s.value.clone(),
        Some(s) => {
            return Err(ConfigError::at(
                file,
                pos_of(s),
                format!("unknown scheme {:?} (want http or https)", s.value),
            ))
        }
        None => "http".to_string(),
    };
    let metrics_path = r.metrics_path.clone().unwrap_or_else(|| "/metrics".into());
    let body_size_limit = match &r.body_size_limit {
        Some(s) => parse_bytes(&s.value).ok_or_else(|| {
            ConfigError::at(
                file,
                pos_of(s),
                format!("invalid body_size_limit {:?}", s.value),
            )
        })?,
        None => DEFAULT_BODY_SIZE_LIMIT,
    };
    let mut static_configs = Vec::new();
    for (i, sc) in r.static_configs.iter().enumerate() {
        static_configs.push(static_group(sc, file, i)?);
    }
    let mut file_sd_configs = Vec::new();
    for f in &r.file_sd_configs {
        let refresh_interval = match &f.refresh_interval {
            Some(s) => duration(file, s, "refresh_interval")?,
            None => Duration::from_secs(300),
        };
        let mut files = Vec::new();
        for p in &f.files {
            let lower = p.value.to_ascii_lowercase();
            if !(lower.ends_with(".json") || lower.ends_with(".yml") || lower.ends_with(".yaml")) {
                return Err(ConfigError::at(
                    file,
                    pos_of(p),
                    format!(
                        "file_sd path {:?} must end in .json, .yml or .yaml",
                        p.value
                    ),
                ));
            }
            files.push((PathBuf::from(&p.value), pos_of(p)));
        }
        file_sd_configs.push(FileSdConfig {
            files,
            refresh_interval,
        });
    }
    let mut kubernetes_sd_configs = Vec::new();
    for k in &r.kubernetes_sd_configs {
        kubernetes_sd_configs.push(kube_config(k, file)?);
    }
    Ok(ScrapeConfig {
        job_name: r.job_name.value.clone(),
        scrape_interval: interval,
        scrape_timeout: timeout,
        metrics_path,
        scheme,
        honor_labels: r.honor_labels,
        honor_timestamps: r.honor_timestamps.unwrap_or(true),
        params: r.params.clone(),
        static_configs,
        file_sd_configs,
        kubernetes_sd_configs,
        relabel_configs: relabels(&r.relabel_configs, file)?,
        metric_relabel_configs: relabels(&r.metric_relabel_configs, file)?,
        body_size_limit,
        sample_limit: r.sample_limit.unwrap_or(0),
        label_value_length_limit: r.label_value_length_limit.unwrap_or(0),
    })
}

fn static_group(sc: &RawStaticConfig, file: &str, i: usize) -> Result<TargetGroup, ConfigError> {
    for name in sc.labels.keys() {
        if !is_valid_label_name(name) {
            let pos = sc.targets.first().map(pos_of).unwrap_or_default();
            return Err(ConfigError::at(
                file,
                pos,
                format!("invalid label name {name:?}"),
            ));
        }
    }
    let mut targets = Vec::new();
    for t in &sc.targets {
        if t.value.contains('/') || t.value.is_empty() {
            return Err(ConfigError::at(
                file,
                pos_of(t),
                format!("{:?} is not a valid hostname[:port]", t.value),
            ));
        }
        targets.push(Labels::new([("__address__", t.value.as_str())]));
    }
    Ok(TargetGroup {
        source: format!("static/{i}"),
        targets,
        labels: Labels::new(sc.labels.clone()),
    })
}

fn kube_config(k: &RawKubernetesSdConfig, file: &str) -> Result<KubernetesSdConfig, ConfigError> {
    if k.role.value != "pod" {
        return Err(ConfigError::at(
            file,
            pos_of(&k.role),
            format!(
                "unsupported role {:?}: the agent discovers pods on its own node only (role: pod)",
                k.role.value
            ),
        ));
    }
    let api_server = match &k.api_server {
        Some(s) => {
            let u = url::Url::parse(&s.value).map_err(|e| {
                ConfigError::at(
                    file,
                    pos_of(s),
                    format!("invalid api_server {:?}: {e}", s.value),
                )
            })?;
            if u.scheme() != "http" && u.scheme() != "https" {
                return Err(ConfigError::at(
                    file,
                    pos_of(s),
                    "api_server must be http or https",
                ));
            }
            Some(u)
        }
        None => None,
    };
    let mut label_selector: Vec<String> = Vec::new();
    let mut field_selector: Vec<String> = Vec::new();
    for s in &k.selectors {
        if s.role.value != "pod" {
            return Err(ConfigError::at(
                file,
                pos_of(&s.role),
                format!("selector role {:?} must be pod", s.role.value),
            ));
        }
        label_selector.extend(s.label.clone());
        field_selector.extend(s.field.clone());
    }
    let join = |v: Vec<String>| (!v.is_empty()).then(|| v.join(","));
    Ok(KubernetesSdConfig {
        api_server,
        bearer_token_file: k.bearer_token_file.as_ref().map(PathBuf::from),
        ca_file: k.ca_file.as_ref().map(PathBuf::from),
        node_name: k.node_name.clone(),
        namespaces: k.namespaces.names.clone(),
        label_selector: join(label_selector),
        field_selector: join(field_selector),
        annotations: k.prometheus_io_annotations.unwrap_or(true),
        pos: pos_of(&k.role),
    })
}

/// Validates a list of relabel entries (e.g. `relabel_configs`).
pub fn relabels(raw: &[RawRelabelConfig], file: &str) -> Result<Vec<RelabelConfig>, ConfigError> {
    raw.iter().map(|r| relabel(r, file)).collect()
}

fn relabel(r: &RawRelabelConfig, file: &str) -> Result<RelabelConfig, ConfigError> {
    let spec = RelabelSpec {
        source_labels: r.source_labels.clone(),
        separator: r.separator.as_deref(),
        regex: r.regex.as_ref().map(|s| s.value.as_str()),
        modulus: r.modulus,
        target_label: r.target_label.as_ref().map(|s| s.value.as_str()),
        replacement: r.replacement.as_deref(),
        action: r.action.as_ref().map(|s| s.value.as_str()),
    };
    RelabelConfig::new(spec).map_err(|e| {
        use super::relabel::RelabelError as E;
        let pos = match &e {
            E::BadRegex { .. } => r.regex.as_ref().map(pos_of),
            E::InvalidTarget { .. } => r.target_label.as_ref().map(pos_of),
            _ => None,
        }
        .or_else(|| r.action.as_ref().map(pos_of))
        .or_else(|| r.regex.as_ref().map(pos_of))
        .or_else(|| r.target_label.as_ref().map(pos_of))
        .unwrap_or_default();
        ConfigError::at(file, pos, e.to_string())
    })
}
