//! The host collector: CPU, memory, filesystems, disk I/O, network, load,
//! file descriptors and PSI pressure, under node_exporter's metric names,
//! label sets, types and help texts, so that existing dashboards and rules
//! (node-exporter-full, the kube-prometheus mixins) work unchanged.
//!
//! # Shape
//!
//! Each collector lives in its own file and has two layers:
//!
//! - a **pure parser** for its `/proc` or `/sys` file format (`&str` in,
//!   typed records out, no I/O), table-tested with fixture strings;
//! - a thin **I/O layer** that reads the files under a configurable root
//!   ([`HostConfig::procfs_path`], [`HostConfig::sysfs_path`],
//!   [`HostConfig::rootfs_path`], defaulting to `/proc`, `/sys` and `/` like
//!   node_exporter's `--path.*` flags), so the agent can run in a container
//!   with the host's trees mounted at, say, `/host/proc`.
//!
//! A failing collector (missing file, permission, parse error) never fails
//! the collection: like node_exporter, every run reports
//! `node_scrape_collector_success{collector}` (0/1) and
//! `node_scrape_collector_duration_seconds{collector}`, and the failure is
//! logged through `tracing`.
//!
//! # Choices
//!
//! - The file formats are tiny and node_exporter's exact semantics matter
//!   (meminfo field renaming, `/proc/net/dev` header-driven names, the
//!   number of diskstats columns deciding which series exist), so the
//!   parsers are written here rather than taken from the `procfs` crate,
//!   whose typed structs drop fields it does not know and read files
//!   itself (which would defeat fixture-string tests).
//! - `statfs(2)` comes from `rustix` (safe wrapper, no `unsafe` here). It
//!   runs on a helper thread with a timeout, like node_exporter's
//!   `--collector.filesystem.mount-timeout`, so a hung NFS mount yields
//!   `node_filesystem_device_error 1` instead of a stuck collection.
//! - Regexes use the `regex` crate; the defaults are node_exporter's
//!   current defaults (see [`filesystem`], [`diskstats`], [`netdev`]).
//!
//! # Output
//!
//! [`HostCollector::collect`] returns a [`Collection`]: metric families
//! (name, help, type) with their samples, sorted like the Go client sorts
//! them. It renders as Prometheus text 0.0.4 ([`Collection::render_text`])
//! and converts to pipeline [`Point`]s ([`Collection::to_points`]).
//! Labels with empty values are kept in the text (as node_exporter prints
//! `model=""`) and dropped in points (as Prometheus drops them on ingest).

pub mod cpu;
pub mod diskstats;
pub mod filefd;
pub mod filesystem;
pub mod loadavg;
pub mod meminfo;
pub mod netdev;
pub mod pressure;
mod text;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::pipeline::Point;

pub use text::escape_help;

/// The type of a metric family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    Counter,
    Gauge,
}

impl MetricType {
    /// The word used on a `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
        }
    }
}

/// One sample: metric name, labels sorted by name (empty values kept), value.
#[derive(Debug, Clone, PartialEq)]
pub struct HostSample {
    pub name: String,
    pub labels: Vec<(String, String)>,
    pub value: f64,
}

/// A metric family: its metadata and its samples, sorted by labels.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricFamily {
    pub name: String,
    pub help: String,
    pub kind: MetricType,
    pub samples: Vec<HostSample>,
}

/// The result of one collection: families sorted by name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Collection {
    pub families: Vec<MetricFamily>,
}

impl Collection {
    /// All samples, family by family.
    pub fn samples(&self) -> impl Iterator<Item = &HostSample> {
        self.families.iter().flat_map(|f| f.samples.iter())
    }

    /// The family called `name`, if any sample of it was produced.
    pub fn family(&self, name: &str) -> Option<&MetricFamily> {
        self.families.iter().find(|f| f.name == name)
    }

    /// Appends the Prometheus text exposition (format 0.0.4) with `# HELP`
    /// and `# TYPE` lines.
    pub fn render_text(&self, out: &mut String) {
        text::render(self, out);
    }

    /// Converts to pipeline points at time `t_ms` (ms since the epoch),
    /// with `__name__` set and empty-valued labels dropped.
    pub fn to_points(&self, t_ms: i64) -> Vec<Point> {
        self.samples()
            .map(|s| {
                Point::new(
                    watchfire_promql::Labels::new(
                        std::iter::once((watchfire_promql::labels::METRIC_NAME, s.name.as_str()))
                            .chain(s.labels.iter().map(|(n, v)| (n.as_str(), v.as_str()))),
                    ),
                    t_ms,
                    s.value,
                )
            })
            .collect()
    }
}

/// The collectors this module implements, named like node_exporter's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CollectorKind {
    Cpu,
    Diskstats,
    Filefd,
    Filesystem,
    Loadavg,
    Meminfo,
    Netdev,
    Pressure,
}

impl CollectorKind {
    /// Every collector, in node_exporter's (alphabetical) order.
    pub const ALL: [CollectorKind; 8] = [
        CollectorKind::Cpu,
        CollectorKind::Diskstats,
        CollectorKind::Filefd,
        CollectorKind::Filesystem,
        CollectorKind::Loadavg,
        CollectorKind::Meminfo,
        CollectorKind::Netdev,
        CollectorKind::Pressure,
    ];

    /// The value of the `collector` label.
    pub fn name(self) -> &'static str {
        match self {
            CollectorKind::Cpu => "cpu",
            CollectorKind::Diskstats => "diskstats",
            CollectorKind::Filefd => "filefd",
            CollectorKind::Filesystem => "filesystem",
            CollectorKind::Loadavg => "loadavg",
            CollectorKind::Meminfo => "meminfo",
            CollectorKind::Netdev => "netdev",
            CollectorKind::Pressure => "pressure",
        }
    }

    /// Parses a collector name as used in node_exporter's `--collector.X`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// Settings, mirroring node_exporter's flags of the same meaning.
#[derive(Debug, Clone, PartialEq)]
pub struct HostConfig {
    /// `--path.procfs`.
    pub procfs_path: PathBuf,
    /// `--path.sysfs`.
    pub sysfs_path: PathBuf,
    /// `--path.rootfs`: prefix for `statfs` and stripped from mount points.
    pub rootfs_path: PathBuf,
    /// `--path.udev.data`: where `node_disk_info`'s model/serial come from.
    pub udev_data_path: PathBuf,
    /// Which collectors run.
    pub collectors: Vec<CollectorKind>,
    /// `--collector.filesystem.mount-points-exclude`.
    pub filesystem_mount_points_exclude: String,
    /// `--collector.filesystem.fs-types-exclude`.
    pub filesystem_fs_types_exclude: String,
    /// `--collector.filesystem.mount-timeout`.
    pub filesystem_mount_timeout: Duration,
    /// `--collector.diskstats.device-exclude`.
    pub diskstats_device_exclude: String,
    /// `--collector.netdev.device-exclude` (empty: none excluded).
    pub netdev_device_exclude: String,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            procfs_path: PathBuf::from("/proc"),
            sysfs_path: PathBuf::from("/sys"),
            rootfs_path: PathBuf::from("/"),
            udev_data_path: PathBuf::from("/run/udev/data"),
            collectors: CollectorKind::ALL.to_vec(),
            filesystem_mount_points_exclude: filesystem::DEFAULT_MOUNT_POINTS_EXCLUDE.to_string(),
            filesystem_fs_types_exclude: filesystem::DEFAULT_FS_TYPES_EXCLUDE.to_string(),
            filesystem_mount_timeout: Duration::from_secs(5),
            diskstats_device_exclude: diskstats::DEFAULT_DEVICE_EXCLUDE.to_string(),
            netdev_device_exclude: String::new(),
        }
    }
}

/// A parse error in one of the `/proc` or `/sys` formats.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("line {line}: {msg}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    pub msg: String,
}

impl ParseError {
    pub(crate) fn new(line: usize, msg: impl Into<String>) -> Self {
        ParseError {
            line,
            msg: msg.into(),
        }
    }
}

/// Why a collector (or the collector's construction) failed.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing {path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: ParseError,
    },
    #[error("invalid regex for {setting}: {source}")]
    Regex {
        setting: &'static str,
        #[source]
        source: regex::Error,
    },
    /// The kernel does not expose this data (e.g. no PSI). Logged at
    /// debug level, like node_exporter's `ErrNoData`.
    #[error("no data: {0}")]
    NoData(&'static str),
}

/// Reads a whole file, naming it in the error.
pub(crate) fn read(path: &Path) -> Result<String, HostError> {
    std::fs::read_to_string(path).map_err(|source| HostError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// Reads and parses a file with a pure parser, naming the file in errors.
pub(crate) fn read_parse<T>(
    path: &Path,
    parse: impl FnOnce(&str) -> Result<T, ParseError>,
) -> Result<T, HostError> {
    let text = read(path)?;
    parse(&text).map_err(|source| HostError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

pub(crate) fn compile(setting: &'static str, re: &str) -> Result<Option<regex::Regex>, HostError> {
    if re.is_empty() {
        return Ok(None);
    }
    regex::Regex::new(re)
        .map(Some)
        .map_err(|source| HostError::Regex { setting, source })
}

/// Accumulates families while collectors run.
#[derive(Debug, Default)]
pub struct Emitter {
    families: BTreeMap<String, MetricFamily>,
}

impl Emitter {
    /// Adds one sample; labels are sorted here. The first help/type given
    /// for a name wins.
    pub fn add(
        &mut self,
        name: &str,
        help: &str,
        kind: MetricType,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        let mut labels: Vec<(String, String)> = labels
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        labels.sort();
        let fam = self
            .families
            .entry(name.to_string())
            .or_insert_with(|| MetricFamily {
                name: name.to_string(),
                help: help.to_string(),
                kind,
                samples: Vec::new(),
            });
        fam.samples.push(HostSample {
            name: name.to_string(),
            labels,
            value,
        });
    }

    /// Finishes: families by name, samples by label values.
    pub fn finish(self) -> Collection {
        let families = self
            .families
            .into_values()
            .map(|mut f| {
                f.samples.sort_by(|a, b| a.labels.cmp(&b.labels));
                f
            })
            .collect();
        Collection { families }
    }
}

/// The host collector. Cheap to share (`&self` methods); keeps the small
/// state node_exporter keeps (CPU counters' last values, stuck mounts).
#[derive(Debug)]
pub struct HostCollector {
    config: HostConfig,
    filesystem: filesystem::Filesystem,
    diskstats_exclude: Option<regex::Regex>,
    netdev_exclude: Option<regex::Regex>,
    cpu_state: Mutex<cpu::CpuState>,
}

impl HostCollector {
    /// Builds a collector; fails only on invalid regexes.
    pub fn new(config: HostConfig) -> Result<Self, HostError> {
        let filesystem = filesystem::Filesystem::new(&config)?;
        let diskstats_exclude = compile(
            "collector.diskstats.device-exclude",
            &config.diskstats_device_exclude,
        )?;
        let netdev_exclude = compile(
            "collector.netdev.device-exclude",
            &config.netdev_device_exclude,
        )?;
        Ok(HostCollector {
            config,
            filesystem,
            diskstats_exclude,
            netdev_exclude,
            cpu_state: Mutex::new(cpu::CpuState::default()),
        })
    }

    pub fn config(&self) -> &HostConfig {
        &self.config
    }

    /// Runs every enabled collector. Never fails: a failing collector
    /// reports `node_scrape_collector_success{collector} 0`.
    pub fn collect(&self) -> Collection {
        let mut em = Emitter::default();
        let mut kinds = self.config.collectors.clone();
        kinds.sort();
        kinds.dedup();
        for kind in kinds {
            let start = Instant::now();
            let res = self.run(kind, &mut em);
            let took = start.elapsed().as_secs_f64();
            let ok = match res {
                Ok(()) => 1.0,
                Err(HostError::NoData(why)) => {
                    tracing::debug!(
                        collector = kind.name(),
                        reason = why,
                        "collector returned no data"
                    );
                    0.0
                }
                Err(err) => {
                    tracing::warn!(collector = kind.name(), error = %err, "collector failed");
                    0.0
                }
            };
            let labels = [("collector", kind.name())];
            em.add(
                "node_scrape_collector_duration_seconds",
                "node_exporter: Duration of a collector scrape.",
                MetricType::Gauge,
                &labels,
                took,
            );
            em.add(
                "node_scrape_collector_success",
                "node_exporter: Whether a collector succeeded.",
                MetricType::Gauge,
                &labels,
                ok,
            );
        }
        em.finish()
    }

    /// Collects and renders the text exposition in one go.
    pub fn render_text(&self, out: &mut String) {
        self.collect().render_text(out);
    }

    fn run(&self, kind: CollectorKind, em: &mut Emitter) -> Result<(), HostError> {
        let proc = &self.config.procfs_path;
        match kind {
            CollectorKind::Cpu => {
                // A poisoned lock only means a panic elsewhere mid-update;
                // the counters inside are still usable.
                let mut state = self.cpu_state.lock().unwrap_or_else(|e| e.into_inner());
                cpu::collect(proc, &mut state, em)
            }
            CollectorKind::Meminfo => meminfo::collect(proc, em),
            CollectorKind::Filesystem => self.filesystem.collect(em),
            CollectorKind::Diskstats => diskstats::collect(
                proc,
                &self.config.sysfs_path,
                &self.config.udev_data_path,
                self.diskstats_exclude.as_ref(),
                em,
            ),
            CollectorKind::Netdev => netdev::collect(
                proc,
                &self.config.sysfs_path,
                self.netdev_exclude.as_ref(),
                em,
            ),
            CollectorKind::Loadavg => loadavg::collect(proc, em),
            CollectorKind::Filefd => filefd::collect(proc, em),
            CollectorKind::Pressure => pressure::collect(proc, em),
        }
    }
}

/// Shared, cheaply clonable handle (the agent's `/metrics` handler and the
/// shipping loop both use it).
pub type SharedHostCollector = Arc<HostCollector>;
