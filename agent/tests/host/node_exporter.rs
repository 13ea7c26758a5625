//! Live comparison with the real node_exporter (Debian's
//! `prometheus-node-exporter`): same metric names, HELP and TYPE, label
//! names, label sets (cpus/modes, devices, mount points) and values within
//! tolerances, family by family. A family missing on this host must be
//! missing on both sides.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use watchfire_agent::host::{diskstats, filesystem, HostCollector, HostConfig};

use super::expo::{self, Family, LabelSet};

const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";
const INSTALL_HINT: &str =
    "install it with `apt-get install prometheus-node-exporter` (Debian/Ubuntu)";

/// The release whose output we target; older ones lack a few series.
const TARGET_VERSION: (u32, u32, u32) = (1, 9, 0);

struct NodeExporter {
    child: Child,
    port: u16,
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn version() -> (u32, u32, u32) {
    let out = Command::new(NODE_EXPORTER)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {NODE_EXPORTER}: {e}; {INSTALL_HINT}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v = text
        .split("version ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("no version in {text:?}"));
    let n: Vec<u32> = v.split('.').map(|p| p.parse().unwrap()).collect();
    (n[0], n[1], n[2])
}

/// Starts node_exporter with only our collectors and our defaults passed
/// explicitly (distributions patch some defaults, e.g. Debian excludes
/// `lo`), and waits for its "Listening on" log line.
fn start(cfg: &HostConfig) -> NodeExporter {
    assert!(
        Path::new(NODE_EXPORTER).exists(),
        "{NODE_EXPORTER} is missing: {INSTALL_HINT}"
    );
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = Command::new(NODE_EXPORTER)
        .args([
            "--collector.disable-defaults",
            "--collector.cpu",
            "--collector.meminfo",
            "--collector.filesystem",
            "--collector.diskstats",
            "--collector.netdev",
            "--collector.loadavg",
            "--collector.filefd",
            "--collector.pressure",
        ])
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg(format!(
            "--collector.filesystem.mount-points-exclude={}",
            cfg.filesystem_mount_points_exclude
        ))
        .arg(format!(
            "--collector.filesystem.fs-types-exclude={}",
            cfg.filesystem_fs_types_exclude
        ))
        .arg(format!(
            "--collector.diskstats.device-exclude={}",
            cfg.diskstats_device_exclude
        ))
        .arg(format!(
            "--collector.netdev.device-exclude={}",
            cfg.netdev_device_exclude
        ))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {NODE_EXPORTER}: {e}; {INSTALL_HINT}"));
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    loop {
        let mut line = String::new();
        let n = stderr.read_line(&mut line).unwrap();
        assert!(n > 0, "node_exporter exited before listening:\n{log}");
        log.push_str(&line);
        if line.contains("Listening on") {
            break;
        }
    }
    // Keep draining its log so it never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = stderr.read_to_string(&mut sink);
    });
    NodeExporter { child, port }
}

fn fetch(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let (head, body) = resp.split_once("\r\n\r\n").unwrap();
    assert!(
        head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
        "{head}"
    );
    body.to_string()
}

fn render(c: &HostCollector) -> BTreeMap<String, Family> {
    let mut text = String::new();
    c.render_text(&mut text);
    expo::parse(&text)
}

/// Known differences when the installed node_exporter is older than the
/// release we target. Printed, never silent.
struct Allowances {
    ours_only_names: Vec<&'static str>,
    ignored_labels: Vec<(&'static str, &'static str)>,
}

fn allowances(v: (u32, u32, u32)) -> Allowances {
    if v >= TARGET_VERSION {
        return Allowances {
            ours_only_names: vec![],
            ignored_labels: vec![],
        };
    }
    Allowances {
        // Added upstream after 1.5: CPU "full" PSI line, IRQ PSI.
        ours_only_names: vec![
            "node_pressure_cpu_stalled_seconds_total",
            "node_pressure_irq_stalled_seconds_total",
        ],
        // Added upstream after 1.5.
        ignored_labels: vec![("node_disk_info", "rotational")],
    }
}

const GROUPS: [(&str, &str); 9] = [
    ("cpu", "node_cpu_"),
    ("meminfo", "node_memory_"),
    ("filesystem", "node_filesystem_"),
    ("diskstats", "node_disk_"),
    ("netdev", "node_network_"),
    ("loadavg", "node_load"),
    ("filefd", "node_filefd_"),
    ("pressure", "node_pressure_"),
    ("scrape", "node_scrape_collector_"),
];

fn strip(labels: &LabelSet, name: &str, allow: &Allowances) -> LabelSet {
    labels
        .iter()
        .filter(|(l, _)| !allow.ignored_labels.contains(&(name, l.as_str())))
        .cloned()
        .collect()
}

/// Absolute tolerance for a gauge, given node_exporter's value.
fn gauge_tolerance(name: &str, ne: f64, mem_total: f64) -> Option<f64> {
    const MIB: f64 = 1024.0 * 1024.0;
    Some(match name {
        "node_scrape_collector_duration_seconds" => return None, // timing: range-checked only
        n if n.starts_with("node_memory_") => (0.05 * ne.abs()).max(0.01 * mem_total),
        "node_filesystem_free_bytes" | "node_filesystem_avail_bytes" => 0.01 * ne + 64.0 * MIB,
        "node_filesystem_files_free" => 0.01 * ne + 1000.0,
        "node_load1" | "node_load5" | "node_load15" => 0.5,
        "node_filefd_allocated" => 0.1 * ne + 500.0,
        "node_disk_io_now" => 64.0,
        // size, files, readonly, device_error, filefd_maximum, info, success
        _ => 0.0,
    })
}

#[test]
fn matches_real_node_exporter() {
    let v = version();
    let allow = allowances(v);
    let cfg = HostConfig::default();
    let ours = HostCollector::new(cfg.clone()).unwrap();
    let ne = start(&cfg);
    println!(
        "node_exporter {}.{}.{} on 127.0.0.1:{}",
        v.0, v.1, v.2, ne.port
    );
    println!(
        "allowed ours-only names: {:?}; ignored labels: {:?}",
        allow.ours_only_names, allow.ignored_labels
    );

    // Sandwich node_exporter's scrape between two of ours, so counters
    // must satisfy before <= theirs <= after.
    let before = render(&ours);
    let theirs = expo::parse(&fetch(ne.port));
    let after = render(&ours);

    let mem_total = theirs
        .get("node_memory_MemTotal_bytes")
        .and_then(|f| f.samples.values().next().copied())
        .unwrap_or(0.0);
    let mut report = Vec::new();
    for (group, prefix) in GROUPS {
        let names = |m: &BTreeMap<String, Family>| -> BTreeSet<String> {
            m.keys()
                .filter(|n| n.starts_with(prefix))
                .cloned()
                .collect()
        };
        let ne_names = names(&theirs);
        let ours_names: BTreeSet<String> = names(&after)
            .into_iter()
            .filter(|n| !allow.ours_only_names.contains(&n.as_str()) || ne_names.contains(n))
            .collect();
        assert_eq!(ours_names, ne_names, "{group}: metric names differ");
        assert_eq!(
            names(&before),
            names(&after),
            "{group}: our names changed between collections"
        );
        let (mut series, mut values) = (0, 0);
        for name in &ne_names {
            let (t, a, b) = (&theirs[name], &after[name], &before[name]);
            assert_eq!(a.help, t.help, "HELP of {name}");
            assert_eq!(a.kind, t.kind, "TYPE of {name}");
            let label_sets = |f: &Family| -> BTreeMap<LabelSet, f64> {
                f.samples
                    .iter()
                    .map(|(l, v)| (strip(l, name, &allow), *v))
                    .collect()
            };
            let (t, a, b) = (label_sets(t), label_sets(a), label_sets(b));
            let label_names = |m: &BTreeMap<LabelSet, f64>| -> BTreeSet<String> {
                m.keys()
                    .flat_map(|l| l.iter().map(|(n, _)| n.clone()))
                    .collect()
            };
            assert_eq!(label_names(&a), label_names(&t), "label names of {name}");
            assert_eq!(
                a.keys().collect::<Vec<_>>(),
                t.keys().collect::<Vec<_>>(),
                "label sets of {name}"
            );
            series += t.len();
            let counter = theirs[name].kind.as_deref() == Some("counter");
            for (labels, &tv) in &t {
                let (lo, hi) = (b[labels].min(a[labels]), b[labels].max(a[labels]));
                if counter {
                    let eps = 1e-9 * hi.abs() + 1e-9;
                    assert!(
                        b[labels] <= a[labels] + eps,
                        "{name}{labels:?}: our counter went backwards"
                    );
                    assert!(
                        lo - eps <= tv && tv <= hi + eps,
                        "{name}{labels:?}: node_exporter {tv} not within ours [{lo}, {hi}]"
                    );
                } else if let Some(tol) = gauge_tolerance(name, tv, mem_total) {
                    assert!(
                        lo - tol <= tv && tv <= hi + tol,
                        "{name}{labels:?}: node_exporter {tv} vs ours [{lo}, {hi}] (±{tol})"
                    );
                } else {
                    assert!(
                        (0.0..5.0).contains(&a[labels]) && (0.0..5.0).contains(&tv),
                        "{name}{labels:?}"
                    );
                }
                values += 1;
            }
        }
        let line = if ne_names.is_empty() {
            format!("{group:<10} absent on both sides")
        } else {
            format!(
                "{group:<10} {:>3} names, {series:>4} series, {values:>4} values compared",
                ne_names.len()
            )
        };
        report.push(line);
    }
    // Every collector's success flag was compared above (scrape group);
    // show what this host has.
    for l in &report {
        println!("{l}");
    }
    let total: usize = theirs
        .keys()
        .filter(|n| GROUPS.iter().any(|(_, p)| n.starts_with(p)))
        .map(|n| theirs[n].samples.len())
        .sum();
    assert!(
        total > 50,
        "suspiciously few series from node_exporter: {total}"
    );
}

#[test]
fn defaults_are_node_exporters_current_ones() {
    // node_exporter's current (1.9) flag defaults, as printed by
    // `node_exporter --help`; the live test passes ours explicitly.
    let cases = [
        (
            filesystem::DEFAULT_MOUNT_POINTS_EXCLUDE,
            r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)",
        ),
        (
            filesystem::DEFAULT_FS_TYPES_EXCLUDE,
            "^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$",
        ),
        (diskstats::DEFAULT_DEVICE_EXCLUDE, r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"),
    ];
    for (ours, upstream) in cases {
        assert_eq!(ours, upstream);
    }
    // What the defaults exclude and keep.
    let dev = regex::Regex::new(diskstats::DEFAULT_DEVICE_EXCLUDE).unwrap();
    for (d, excluded) in [
        ("sda", false),
        ("sda1", true),
        ("nvme0n1", false),
        ("nvme0n1p2", true),
        ("zram0", true),
        ("ram0", true),
        ("loop7", true),
        ("vda", false),
        ("dm-0", false),
        ("md0", false),
    ] {
        assert_eq!(dev.is_match(d), excluded, "{d}");
    }
    let mp = regex::Regex::new(filesystem::DEFAULT_MOUNT_POINTS_EXCLUDE).unwrap();
    for (m, excluded) in [
        ("/", false),
        ("/dev", true),
        ("/dev/shm", true),
        ("/proc", true),
        ("/sys/fs/cgroup", true),
        ("/home", false),
        ("/device", false),
        ("/var/lib/docker/overlay2/x", true),
        ("/var/lib/docker", false),
        ("/run/credentials/x.service", true),
        ("/run", false),
    ] {
        assert_eq!(mp.is_match(m), excluded, "{m}");
    }
}
