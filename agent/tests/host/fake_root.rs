//! The I/O layer against a fake `/proc` + `/sys` + rootfs tree, and the
//! output formats (text, points).

use std::fs;
use std::path::Path;

use watchfire_agent::host::{
    Collection, CollectorKind, Emitter, HostCollector, HostConfig, HostError, MetricType,
};

fn write(root: &Path, rel: &str, content: &str) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, content).unwrap();
}

/// A complete fake host; returns the config pointing at it.
fn fake_host(dir: &Path) -> HostConfig {
    let root = dir.join("root");
    fs::create_dir_all(root.join("data")).unwrap();
    let r = root.display();
    write(
        dir,
        "proc/stat",
        "cpu  3 0 0 0\ncpu0 150 10 20 1000 5 1 2 3 4 6\nintr 5\n",
    );
    write(
        dir,
        "proc/meminfo",
        "MemTotal: 1000 kB\nMemAvailable: 500 kB\nHugePages_Total: 2\n",
    );
    write(
        dir,
        "proc/1/mounts",
        &format!(
            "/dev/vda {r} ext4 rw,relatime 0 0\n\
             tmpfs {r}/data tmpfs ro,nosuid 0 0\n\
             tmpfs {r}/data tmpfs ro,nosuid 0 0\n\
             /dev/vdb {r}/gone xfs rw 0 0\n\
             proc {r}/proc proc rw 0 0\n\
             cgroup2 {r}/cg cgroup2 rw 0 0\n"
        ),
    );
    write(
        dir,
        "proc/diskstats",
        "   8       0 sda 10 1 8 100 20 2 16 200 0 300 400 1 0 4 5 6 7\n\
            8       1 sda1 1 1 1 1 1 1 1 1 0 1 1 1 1 1 1 1 1\n\
            7       0 loop0 1 1 1 1 1 1 1 1 0 1 1\n\
          253       0 zram0 1 1 1 1 1 1 1 1 0 1 1\n\
            8      16 sdb 1 2 3 4 5 6 7 8 9 10 11\n",
    );
    write(dir, "sys/block/sda/queue/rotational", "1\n");
    write(dir, "udev/b8:0", "E:ID_MODEL=FakeDisk\nE:ID_SERIAL=long_serial\nE:ID_SERIAL_SHORT=S123\nE:ID_FS_TYPE=ext4\nE:ID_ATA=1\nE:ID_ATA_ROTATION_RATE_RPM=7200\n");
    write(
        dir,
        "proc/net/dev",
        "Inter-|   Receive                                                |  Transmit\n \
         face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
         lo: 100 1 0 0 0 0 0 0 100 1 0 0 0 0 0 0\n  \
         eth0: 200 2 0 0 0 0 0 0 300 3 0 0 0 0 0 0\n",
    );
    write(dir, "sys/class/net/eth0/statistics/rx_nohandler", "3\n");
    write(dir, "proc/loadavg", "0.50 1.00 1.50 1/100 42\n");
    write(dir, "proc/sys/fs/file-nr", "512\t0\t1024\n");
    write(dir, "proc/pressure/cpu", "some avg10=0.00 avg60=0.00 avg300=0.00 total=2500000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
    write(dir, "proc/pressure/io", "some avg10=0.00 avg60=0.00 avg300=0.00 total=1000\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=500\n");
    write(dir, "proc/pressure/memory", "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n");
    HostConfig {
        procfs_path: dir.join("proc"),
        sysfs_path: dir.join("sys"),
        rootfs_path: root,
        udev_data_path: dir.join("udev"),
        ..HostConfig::default()
    }
}

/// The value of `name{labels}` (labels given in any order, empty values
/// included), or None.
fn value(c: &Collection, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let mut want: Vec<(String, String)> = labels
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    want.sort();
    c.family(name)?
        .samples
        .iter()
        .find(|s| s.labels == want)
        .map(|s| s.value)
}

fn success(c: &Collection, collector: &str) -> Option<f64> {
    value(
        c,
        "node_scrape_collector_success",
        &[("collector", collector)],
    )
}

/// Metric, labels, expected value (None: must be absent).
type Expect = (&'static str, Vec<(&'static str, &'static str)>, Option<f64>);

#[test]
fn every_collector_reads_the_fake_host() {
    let dir = tempfile::tempdir().unwrap();
    let hc = HostCollector::new(fake_host(dir.path())).unwrap();
    let c = hc.collect();
    for k in CollectorKind::ALL {
        assert_eq!(success(&c, k.name()), Some(1.0), "collector {}", k.name());
        let d = value(
            &c,
            "node_scrape_collector_duration_seconds",
            &[("collector", k.name())],
        )
        .unwrap();
        assert!((0.0..5.0).contains(&d), "duration {d}");
    }
    let fs = |name: &str, mp: &str, dev: &str, fstype: &str| {
        value(
            &c,
            name,
            &[("device", dev), ("fstype", fstype), ("mountpoint", mp)],
        )
    };
    // (metric, labels, expected value; None = must be absent)
    let cases: Vec<Expect> = vec![
        (
            "node_cpu_seconds_total",
            vec![("cpu", "0"), ("mode", "user")],
            Some(1.5),
        ),
        (
            "node_cpu_seconds_total",
            vec![("cpu", "0"), ("mode", "steal")],
            Some(0.03),
        ),
        (
            "node_cpu_guest_seconds_total",
            vec![("cpu", "0"), ("mode", "user")],
            Some(0.04),
        ),
        (
            "node_cpu_guest_seconds_total",
            vec![("cpu", "0"), ("mode", "nice")],
            Some(0.06),
        ),
        ("node_memory_MemTotal_bytes", vec![], Some(1024000.0)),
        ("node_memory_HugePages_Total", vec![], Some(2.0)),
        (
            "node_disk_read_bytes_total",
            vec![("device", "sda")],
            Some(8.0 * 512.0),
        ),
        (
            "node_disk_read_time_seconds_total",
            vec![("device", "sda")],
            Some(0.1),
        ),
        ("node_disk_io_now", vec![("device", "sda")], Some(0.0)),
        (
            "node_disk_flush_requests_time_seconds_total",
            vec![("device", "sda")],
            Some(0.007),
        ),
        (
            "node_disk_reads_completed_total",
            vec![("device", "sdb")],
            Some(1.0),
        ),
        // sdb has 11 columns: no discard or flush series.
        (
            "node_disk_discards_completed_total",
            vec![("device", "sdb")],
            None,
        ),
        (
            "node_disk_reads_completed_total",
            vec![("device", "sda1")],
            None,
        ),
        (
            "node_disk_reads_completed_total",
            vec![("device", "loop0")],
            None,
        ),
        (
            "node_disk_reads_completed_total",
            vec![("device", "zram0")],
            None,
        ),
        (
            "node_disk_info",
            vec![
                ("device", "sda"),
                ("major", "8"),
                ("minor", "0"),
                ("path", ""),
                ("wwn", ""),
                ("model", "FakeDisk"),
                ("serial", "S123"),
                ("revision", ""),
                ("rotational", "1"),
            ],
            Some(1.0),
        ),
        (
            "node_disk_filesystem_info",
            vec![
                ("device", "sda"),
                ("type", "ext4"),
                ("usage", ""),
                ("uuid", ""),
                ("version", ""),
            ],
            Some(1.0),
        ),
        (
            "node_disk_ata_rotation_rate_rpm",
            vec![("device", "sda")],
            Some(7200.0),
        ),
        (
            "node_network_receive_bytes_total",
            vec![("device", "eth0")],
            Some(200.0),
        ),
        (
            "node_network_transmit_packets_total",
            vec![("device", "eth0")],
            Some(3.0),
        ),
        (
            "node_network_receive_nohandler_total",
            vec![("device", "eth0")],
            Some(3.0),
        ),
        (
            "node_network_receive_nohandler_total",
            vec![("device", "lo")],
            None,
        ),
        (
            "node_network_receive_bytes_total",
            vec![("device", "lo")],
            Some(100.0),
        ),
        ("node_load1", vec![], Some(0.5)),
        ("node_load15", vec![], Some(1.5)),
        ("node_filefd_allocated", vec![], Some(512.0)),
        ("node_filefd_maximum", vec![], Some(1024.0)),
        ("node_pressure_cpu_waiting_seconds_total", vec![], Some(2.5)),
        ("node_pressure_cpu_stalled_seconds_total", vec![], Some(0.0)),
        (
            "node_pressure_io_stalled_seconds_total",
            vec![],
            Some(0.0005),
        ),
        ("node_pressure_irq_stalled_seconds_total", vec![], None),
    ];
    for (name, labels, expect) in cases {
        assert_eq!(value(&c, name, &labels), expect, "{name} {labels:?}");
    }
    assert_eq!(
        fs("node_filesystem_readonly", "/data", "tmpfs", "tmpfs"),
        Some(1.0)
    );
    assert_eq!(
        fs("node_filesystem_device_error", "/data", "tmpfs", "tmpfs"),
        Some(0.0)
    );
    assert!(fs("node_filesystem_size_bytes", "/", "/dev/vda", "ext4").unwrap() > 0.0);
    assert_eq!(
        fs("node_filesystem_device_error", "/gone", "/dev/vdb", "xfs"),
        Some(1.0)
    );
    assert_eq!(
        fs("node_filesystem_size_bytes", "/gone", "/dev/vdb", "xfs"),
        None
    );
    // Excluded by mount point (/proc) and fs type (cgroup2); /data once.
    let mps: Vec<&str> = c
        .family("node_filesystem_device_error")
        .unwrap()
        .samples
        .iter()
        .map(|s| s.labels[2].1.as_str())
        .collect();
    assert_eq!(mps, vec!["/", "/gone", "/data"]);
}

#[test]
fn a_failing_collector_does_not_fail_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = fake_host(dir.path());
    fs::remove_file(dir.path().join("proc/meminfo")).unwrap();
    fs::write(dir.path().join("proc/loadavg"), "garbage\n").unwrap();
    fs::remove_dir_all(dir.path().join("proc/pressure")).unwrap();
    fs::remove_file(dir.path().join("proc/1/mounts")).unwrap();
    fs::write(dir.path().join("proc/mounts"), "/dev/vda / ext4 rw 0 0\n").unwrap();
    let c = HostCollector::new(cfg).unwrap().collect();
    let cases = [
        ("meminfo", 0.0),
        ("loadavg", 0.0),
        ("pressure", 0.0),
        ("cpu", 1.0),
        ("filesystem", 1.0),
        ("diskstats", 1.0),
        ("netdev", 1.0),
        ("filefd", 1.0),
    ];
    for (collector, want) in cases {
        assert_eq!(success(&c, collector), Some(want), "{collector}");
    }
    assert!(c.family("node_memory_MemTotal_bytes").is_none());
    assert!(c.family("node_load1").is_none());
    assert!(c
        .families
        .iter()
        .all(|f| !f.name.starts_with("node_pressure_")));
    // Fell back to <procfs>/mounts; "/" is statfs'd at the (real) rootfs.
    let fams = c.family("node_filesystem_device_error").unwrap();
    assert_eq!(fams.samples.len(), 1);
    assert_eq!(fams.samples[0].labels[2], ("mountpoint".into(), "/".into()));
}

#[test]
fn only_enabled_collectors_run_and_bad_regexes_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = HostConfig {
        collectors: vec![
            CollectorKind::Loadavg,
            CollectorKind::Filefd,
            CollectorKind::Loadavg,
        ],
        ..fake_host(dir.path())
    };
    let c = HostCollector::new(cfg).unwrap().collect();
    let names: Vec<&str> = c.families.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "node_filefd_allocated",
            "node_filefd_maximum",
            "node_load1",
            "node_load15",
            "node_load5",
            "node_scrape_collector_duration_seconds",
            "node_scrape_collector_success"
        ]
    );
    assert_eq!(
        c.family("node_scrape_collector_success")
            .unwrap()
            .samples
            .len(),
        2
    );
    for k in CollectorKind::ALL {
        assert_eq!(CollectorKind::from_name(k.name()), Some(k));
    }
    let bad = HostConfig {
        diskstats_device_exclude: "(".into(),
        ..HostConfig::default()
    };
    assert!(matches!(
        HostCollector::new(bad),
        Err(HostError::Regex { .. })
    ));
}

#[test]
fn text_exposition_and_points() {
    let mut em = Emitter::default();
    em.add(
        "node_load1",
        "1m load average.",
        MetricType::Gauge,
        &[],
        0.5,
    );
    em.add(
        "node_x_total",
        "Help with \\ and\nnewline.",
        MetricType::Counter,
        &[("z", "2"), ("a", "q\"b\\s\nn"), ("e", "")],
        f64::INFINITY,
    );
    em.add(
        "node_x_total",
        "ignored",
        MetricType::Gauge,
        &[("z", "1"), ("a", ""), ("e", "")],
        f64::NAN,
    );
    let c = em.finish();
    let mut out = String::new();
    c.render_text(&mut out);
    let expect = "# HELP node_load1 1m load average.\n\
                  # TYPE node_load1 gauge\n\
                  node_load1 0.5\n\
                  # HELP node_x_total Help with \\\\ and\\nnewline.\n\
                  # TYPE node_x_total counter\n\
                  node_x_total{a=\"\",e=\"\",z=\"1\"} NaN\n\
                  node_x_total{a=\"q\\\"b\\\\s\\nn\",e=\"\",z=\"2\"} +Inf\n";
    assert_eq!(out, expect);

    let pts = c.to_points(1234);
    assert_eq!(pts.len(), 3);
    assert!(pts.iter().all(|p| p.t == 1234));
    assert_eq!(pts[0].labels().get("__name__"), "node_load1");
    assert_eq!(pts[0].v, 0.5);
    // Empty-valued labels are dropped in points.
    assert_eq!(pts[1].labels().len(), 2);
    assert_eq!(pts[1].labels().get("z"), "1");
    assert!(pts[1].v.is_nan());
    assert_eq!(pts[2].labels().get("a"), "q\"b\\s\nn");
    assert_eq!(pts[2].labels().len(), 3);
}

#[test]
fn rendered_fake_host_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    let c = HostCollector::new(fake_host(dir.path())).unwrap().collect();
    let mut text = String::new();
    c.render_text(&mut text);
    let parsed = super::expo::parse(&text);
    assert_eq!(parsed.len(), c.families.len());
    for f in &c.families {
        let p = &parsed[&f.name];
        assert_eq!(p.help.as_deref(), Some(f.help.as_str()), "{}", f.name);
        assert_eq!(p.kind.as_deref(), Some(f.kind.as_str()), "{}", f.name);
        assert_eq!(p.samples.len(), f.samples.len(), "{}", f.name);
        for s in &f.samples {
            let v = p.samples[&s.labels];
            assert!(
                v == s.value || (v.is_nan() && s.value.is_nan()),
                "{} {:?}",
                f.name,
                s.labels
            );
        }
    }
}
