//! File-based discovery (`file_sd_configs`), as in Prometheus.
//!
//! Each file holds a list of `{targets: [...], labels: {...}}` groups, in
//! JSON (`.json`) or YAML (`.yml`/`.yaml`). Paths may use `*` and `?` in
//! their last element. Files are re-read when their modification time or
//! size changes (checked every few seconds) and at every
//! `refresh_interval`. A file that fails to read or parse keeps its last
//! good groups (and the error is logged); a file that disappears loses its
//! groups. Every target gets `__meta_filepath`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Deserialize;
use watchfire_promql::Labels;

use super::{GroupSink, TargetGroup};
use crate::scrape::config::{ConfigError, FileSdConfig, ScrapeConfig};
use crate::scrape::relabel::is_valid_label_name;

/// Why a file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum FileSdError {
    #[error("reading {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {msg}")]
    Parse { path: String, msg: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    #[serde(default)]
    targets: Vec<String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
}

/// Parses one file's content; `path` decides the format and is recorded
/// in `__meta_filepath`.
pub fn parse_groups(path: &Path, content: &str) -> Result<Vec<TargetGroup>, FileSdError> {
    let p = path.display().to_string();
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let raw: Vec<RawGroup> = if is_json {
        serde_json::from_str(content).map_err(|e| FileSdError::Parse {
            path: p.clone(),
            msg: e.to_string(),
        })?
    } else if content.trim().is_empty() {
        Vec::new()
    } else {
        serde_saphyr::from_str(content).map_err(|e| FileSdError::Parse {
            path: p.clone(),
            msg: e
                .to_string()
                .lines()
                .next()
                .unwrap_or("invalid YAML")
                .to_string(),
        })?
    };
    let mut out = Vec::with_capacity(raw.len());
    for (i, g) in raw.into_iter().enumerate() {
        if let Some(bad) = g.labels.keys().find(|n| !is_valid_label_name(n)) {
            return Err(FileSdError::Parse {
                path: p,
                msg: format!("group {i}: invalid label name {bad:?}"),
            });
        }
        if let Some(bad) = g.targets.iter().find(|t| t.is_empty() || t.contains('/')) {
            return Err(FileSdError::Parse {
                path: p,
                msg: format!("group {i}: {bad:?} is not a valid hostname[:port]"),
            });
        }
        let mut labels = g.labels;
        labels.insert("__meta_filepath".into(), p.clone());
        out.push(TargetGroup {
            source: format!("{p}:{i}"),
            targets: g
                .targets
                .iter()
                .map(|t| Labels::new([("__address__", t.as_str())]))
                .collect(),
            labels: Labels::new(labels),
        });
    }
    Ok(out)
}

fn has_glob(s: &str) -> bool {
    s.contains('*') || s.contains('?')
}

/// Matches `name` against a pattern with `*` and `?`.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<char>, Vec<char>) = (pattern.chars().collect(), name.chars().collect());
    let (mut pi, mut ni) = (0usize, 0usize);
    let (mut star, mut mark) = (None::<usize>, 0usize);
    while ni < n.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == n[ni]) {
            pi += 1;
            ni += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ni;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ni = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The files a path or pattern names now.
pub fn expand(pattern: &Path) -> std::io::Result<Vec<PathBuf>> {
    let name = pattern
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if !has_glob(&name) {
        return Ok(vec![pattern.to_path_buf()]);
    }
    let dir = match pattern.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let entry = entry?;
        let fname = entry.file_name().to_string_lossy().into_owned();
        if glob_match(&name, &fname) {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

/// Start-up check: every literal path must be readable and every
/// pattern's directory listable. Errors name where the path was written.
pub fn preflight(jobs: &[ScrapeConfig], file: &str) -> Result<(), ConfigError> {
    for job in jobs {
        for cfg in &job.file_sd_configs {
            for (path, pos) in &cfg.files {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
                let res = if name.as_deref().is_some_and(has_glob) {
                    expand(path).map(|_| ())
                } else {
                    std::fs::File::open(path).map(|_| ())
                };
                if let Err(e) = res {
                    return Err(ConfigError::at(
                        file,
                        *pos,
                        format!("file_sd path {}: {e}", path.display()),
                    ));
                }
            }
        }
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

/// The state of one `file_sd_configs` entry. [`FileSd::refresh`] does the
/// work synchronously; [`run`] calls it on a timer.
#[derive(Debug)]
pub struct FileSd {
    cfg: FileSdConfig,
    files: BTreeMap<PathBuf, (Stamp, Vec<TargetGroup>)>,
}

impl FileSd {
    pub fn new(cfg: FileSdConfig) -> FileSd {
        FileSd {
            cfg,
            files: BTreeMap::new(),
        }
    }

    /// Re-reads files that changed (or all when `force`). Returns whether
    /// the groups changed.
    pub fn refresh(&mut self, force: bool) -> bool {
        let mut seen = BTreeSet::new();
        let mut changed = false;
        for (pattern, _) in &self.cfg.files {
            let paths = match expand(pattern) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(pattern = %pattern.display(), error = %e, "file_sd: cannot list files; keeping last targets");
                    // Keep what this pattern produced before.
                    seen.extend(
                        self.files
                            .keys()
                            .filter(|k| k.parent() == pattern.parent())
                            .cloned(),
                    );
                    continue;
                }
            };
            for path in paths {
                seen.insert(path.clone());
                let stamp = match std::fs::metadata(&path) {
                    Ok(m) => Stamp {
                        modified: m.modified().ok(),
                        len: m.len(),
                    },
                    Err(e) => {
                        if e.kind() == std::io::ErrorKind::NotFound {
                            seen.remove(&path);
                        } else {
                            tracing::warn!(path = %path.display(), error = %e, "file_sd: cannot stat; keeping last targets");
                        }
                        continue;
                    }
                };
                if !force && self.files.get(&path).is_some_and(|(s, _)| *s == stamp) {
                    continue;
                }
                match read(&path) {
                    Ok(groups) => {
                        let old = self.files.insert(path.clone(), (stamp, groups.clone()));
                        if old.map(|(_, g)| g) != Some(groups) {
                            changed = true;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "file_sd: bad file; keeping last good targets");
                        // Remember the stamp so a broken file is not re-read
                        // every tick, but keep its last good groups.
                        let groups = self
                            .files
                            .get(&path)
                            .map(|(_, g)| g.clone())
                            .unwrap_or_default();
                        self.files.insert(path, (stamp, groups));
                    }
                }
            }
        }
        let before = self.files.len();
        self.files.retain(|p, _| seen.contains(p));
        changed || self.files.len() != before
    }

    /// All current groups.
    pub fn groups(&self) -> Vec<TargetGroup> {
        self.files
            .values()
            .flat_map(|(_, g)| g.iter().cloned())
            .collect()
    }
}

fn read(path: &Path) -> Result<Vec<TargetGroup>, FileSdError> {
    let content = std::fs::read_to_string(path).map_err(|source| FileSdError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse_groups(path, &content)
}

/// How often modification times are checked.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(5);

/// Runs the provider until the sink closes.
pub async fn run(cfg: FileSdConfig, sink: GroupSink) {
    let refresh = cfg.refresh_interval;
    let mut sd = FileSd::new(cfg);
    let mut last_full: Option<tokio::time::Instant> = None;
    let mut first = true;
    loop {
        let force = last_full.is_none_or(|t| t.elapsed() >= refresh);
        if force {
            last_full = Some(tokio::time::Instant::now());
        }
        let Ok((s, changed)) = tokio::task::spawn_blocking(move || {
            let c = sd.refresh(force);
            (sd, c)
        })
        .await
        else {
            return;
        };
        sd = s;
        if (changed || first) && !sink.publish(sd.groups()).await {
            return;
        }
        first = false;
        tokio::time::sleep(WATCH_INTERVAL.min(refresh)).await;
        if sink.is_closed() {
            return;
        }
    }
}
