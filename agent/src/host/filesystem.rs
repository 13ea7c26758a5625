//! `filesystem`: `node_filesystem_{size,free,avail}_bytes`,
//! `node_filesystem_{files,files_free,readonly,device_error}` per mount,
//! labelled `{device,fstype,mountpoint}`.
//!
//! Mounts come from `<procfs>/1/mounts` (the host's mount namespace when
//! the agent runs in a container with `hostPID`), falling back to
//! `<procfs>/mounts`. Each kept mount is `statfs`ed at
//! `<rootfs>/<mountpoint>` on a helper thread with a timeout; a mount that
//! times out is remembered as stuck and reported as
//! `device_error 1` without being touched again until its pending call
//! returns (node_exporter's stuck-mount handling). The rootfs prefix is
//! stripped from the `mountpoint` label.

use std::collections::{BTreeSet, HashSet};
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use super::{compile, read_parse, Emitter, HostConfig, HostError, MetricType, ParseError};

/// node_exporter's default `--collector.filesystem.mount-points-exclude`.
pub const DEFAULT_MOUNT_POINTS_EXCLUDE: &str =
    r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";

/// node_exporter's default `--collector.filesystem.fs-types-exclude`.
pub const DEFAULT_FS_TYPES_EXCLUDE: &str = "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$";

/// One line of a mounts file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountEntry {
    pub device: String,
    pub mount_point: String,
    pub fs_type: String,
    pub options: String,
}

impl MountEntry {
    /// Whether the mount options include `ro`.
    pub fn read_only(&self) -> bool {
        self.options.split(',').any(|o| o == "ro")
    }
}

/// Parses `/proc/<pid>/mounts` (fstab(5) format). Like node_exporter, the
/// mount point's `\040` and `\011` escapes are decoded.
pub fn parse_mounts(text: &str) -> Result<Vec<MountEntry>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        if f.len() < 4 {
            return Err(ParseError::new(
                i + 1,
                format!("malformed mount line {line:?}"),
            ));
        }
        out.push(MountEntry {
            device: f[0].to_string(),
            mount_point: f[1].replace(r"\040", " ").replace(r"\011", "\t"),
            fs_type: f[2].to_string(),
            options: f[3].to_string(),
        });
    }
    Ok(out)
}

/// Strips the rootfs prefix from a mount point (`/rootfs/home` → `/home`).
pub fn strip_rootfs(rootfs: &Path, mount_point: &str) -> String {
    let root = rootfs.to_string_lossy();
    let root = root.trim_end_matches('/');
    if root.is_empty() {
        return mount_point.to_string();
    }
    match mount_point.strip_prefix(root) {
        Some("") => "/".to_string(),
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        _ => mount_point.to_string(),
    }
}

/// What `statfs` returned, already in node_exporter's units.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FsStats {
    pub size: f64,
    pub free: f64,
    pub avail: f64,
    pub files: f64,
    pub files_free: f64,
}

/// Emits one mount's series; `stats` is `None` on a device error.
pub fn emit(m: &MountEntry, stats: Option<FsStats>, em: &mut Emitter) {
    let labels = [
        ("device", m.device.as_str()),
        ("fstype", m.fs_type.as_str()),
        ("mountpoint", m.mount_point.as_str()),
    ];
    let g = MetricType::Gauge;
    em.add(
        "node_filesystem_device_error",
        "Whether an error occurred while getting statistics for the given device.",
        g,
        &labels,
        if stats.is_some() { 0.0 } else { 1.0 },
    );
    em.add(
        "node_filesystem_readonly",
        "Filesystem read-only status.",
        g,
        &labels,
        if m.read_only() { 1.0 } else { 0.0 },
    );
    let Some(s) = stats else { return };
    em.add(
        "node_filesystem_size_bytes",
        "Filesystem size in bytes.",
        g,
        &labels,
        s.size,
    );
    em.add(
        "node_filesystem_free_bytes",
        "Filesystem free space in bytes.",
        g,
        &labels,
        s.free,
    );
    em.add(
        "node_filesystem_avail_bytes",
        "Filesystem space available to non-root users in bytes.",
        g,
        &labels,
        s.avail,
    );
    em.add(
        "node_filesystem_files",
        "Filesystem total file nodes.",
        g,
        &labels,
        s.files,
    );
    em.add(
        "node_filesystem_files_free",
        "Filesystem total free file nodes.",
        g,
        &labels,
        s.files_free,
    );
}

/// The filesystem collector and its stuck-mount memory.
#[derive(Debug)]
pub(super) struct Filesystem {
    procfs: PathBuf,
    rootfs: PathBuf,
    mount_points_exclude: Option<regex::Regex>,
    fs_types_exclude: Option<regex::Regex>,
    timeout: Duration,
    stuck: Arc<Mutex<HashSet<String>>>,
}

impl Filesystem {
    pub(super) fn new(c: &HostConfig) -> Result<Self, HostError> {
        Ok(Filesystem {
            procfs: c.procfs_path.clone(),
            rootfs: c.rootfs_path.clone(),
            mount_points_exclude: compile(
                "collector.filesystem.mount-points-exclude",
                &c.filesystem_mount_points_exclude,
            )?,
            fs_types_exclude: compile(
                "collector.filesystem.fs-types-exclude",
                &c.filesystem_fs_types_exclude,
            )?,
            timeout: c.filesystem_mount_timeout,
            stuck: Arc::default(),
        })
    }

    fn mounts(&self) -> Result<Vec<MountEntry>, HostError> {
        match read_parse(&self.procfs.join("1/mounts"), parse_mounts) {
            Err(HostError::Read { source, .. }) if source.kind() == ErrorKind::NotFound => {
                // /proc/1 hidden (hidepid): our own namespace's view.
                read_parse(&self.procfs.join("mounts"), parse_mounts)
            }
            r => r,
        }
    }

    pub(super) fn collect(&self, em: &mut Emitter) -> Result<(), HostError> {
        let mut seen = BTreeSet::new();
        for mut m in self.mounts()? {
            m.mount_point = strip_rootfs(&self.rootfs, &m.mount_point);
            if self
                .mount_points_exclude
                .as_ref()
                .is_some_and(|re| re.is_match(&m.mount_point))
                || self
                    .fs_types_exclude
                    .as_ref()
                    .is_some_and(|re| re.is_match(&m.fs_type))
            {
                continue;
            }
            // One series per label set, even when mounted several times.
            if !seen.insert((m.device.clone(), m.mount_point.clone(), m.fs_type.clone())) {
                continue;
            }
            let stats = self.statfs(&m.mount_point);
            emit(&m, stats, em);
        }
        Ok(())
    }

    fn lock_stuck(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        // The set stays consistent even if a holder panicked.
        self.stuck.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn statfs(&self, mount_point: &str) -> Option<FsStats> {
        if self.lock_stuck().contains(mount_point) {
            tracing::debug!(mount_point, "mount point is stuck, skipping statfs");
            return None;
        }
        let path = self.rootfs.join(mount_point.trim_start_matches('/'));
        let (tx, rx) = mpsc::channel();
        let done = Arc::new(AtomicBool::new(false));
        let (stuck, done2, mp) = (
            Arc::clone(&self.stuck),
            Arc::clone(&done),
            mount_point.to_string(),
        );
        let spawned = std::thread::Builder::new()
            .name("statfs".into())
            .spawn(move || {
                let r = rustix::fs::statfs(&path);
                {
                    let mut s = stuck.lock().unwrap_or_else(|e| e.into_inner());
                    done2.store(true, Ordering::SeqCst);
                    s.remove(&mp);
                }
                // The receiver is gone when we timed out; nothing to do.
                let _ = tx.send(r);
            });
        if let Err(e) = spawned {
            tracing::warn!(mount_point, error = %e, "cannot spawn statfs thread");
            return None;
        }
        match rx.recv_timeout(self.timeout) {
            Ok(Ok(st)) => {
                let bsize = st.f_bsize as f64;
                Some(FsStats {
                    size: st.f_blocks as f64 * bsize,
                    free: st.f_bfree as f64 * bsize,
                    avail: st.f_bavail as f64 * bsize,
                    files: st.f_files as f64,
                    files_free: st.f_ffree as f64,
                })
            }
            Ok(Err(e)) => {
                tracing::debug!(mount_point, error = %e, "statfs failed");
                None
            }
            Err(_) => {
                let mut s = self.lock_stuck();
                if !done.load(Ordering::SeqCst) {
                    s.insert(mount_point.to_string());
                    tracing::warn!(mount_point, "statfs timed out, marking mount as stuck");
                }
                None
            }
        }
    }
}
