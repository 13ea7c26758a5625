//! Table tests for the pure `/proc` and `/sys` parsers.

use std::fmt::Debug;

use watchfire_agent::host::cpu::{parse_stat, CpuState, CpuTimes};
use watchfire_agent::host::diskstats::{parse_diskstats, parse_udev, DiskStats};
use watchfire_agent::host::filefd::{parse_file_nr, FileNr};
use watchfire_agent::host::filesystem::{parse_mounts, strip_rootfs, MountEntry};
use watchfire_agent::host::loadavg::parse_loadavg;
use watchfire_agent::host::meminfo::parse_meminfo;
use watchfire_agent::host::netdev::{parse_net_dev, NetDevStats};
use watchfire_agent::host::pressure::{parse_psi, Psi};
use watchfire_agent::host::ParseError;

/// A table row: name, input, `Ok(value)` or `Err(line)`.
type Case<T> = (&'static str, &'static str, Result<T, usize>);

/// One helper for every table: `Ok(value)` or `Err(line number)`.
fn check<T: PartialEq + Debug>(name: &str, got: Result<T, ParseError>, expect: Result<T, usize>) {
    match (got, expect) {
        (Ok(g), Ok(e)) => assert_eq!(g, e, "{name}"),
        (Err(g), Err(line)) => assert_eq!(g.line, line, "{name}: wrong error line: {g}"),
        (g, e) => panic!("{name}: got {g:?}, expected {e:?}"),
    }
}

fn cpu(user: f64, nice: f64, system: f64, idle: f64, rest: [f64; 6]) -> CpuTimes {
    let [iowait, irq, softirq, steal, guest, guest_nice] = rest;
    CpuTimes {
        user,
        nice,
        system,
        idle,
        iowait,
        irq,
        softirq,
        steal,
        guest,
        guest_nice,
    }
}

#[test]
fn stat() {
    let cases: Vec<Case<Vec<(u32, CpuTimes)>>> = vec![
        (
            "modern kernel, aggregate line skipped",
            "cpu  304558 16113 52340 269399 1726 0 562 2119 0 0\n\
             cpu0 149603 7604 24992 139503 429 0 237 1062 5 7\n\
             cpu1 154954 8509 27347 129895 1297 0 325 1057 0 0\n\
             intr 1 2 3\nctxt 99\nbtime 1700000000\n",
            Ok(vec![
                (
                    0,
                    cpu(
                        1496.03,
                        76.04,
                        249.92,
                        1395.03,
                        [4.29, 0.0, 2.37, 10.62, 0.05, 0.07],
                    ),
                ),
                (
                    1,
                    cpu(
                        1549.54,
                        85.09,
                        273.47,
                        1298.95,
                        [12.97, 0.0, 3.25, 10.57, 0.0, 0.0],
                    ),
                ),
            ]),
        ),
        (
            "old kernel with 7 fields: the rest are 0",
            "cpu0 100 200 300 400 500 600 700\n",
            Ok(vec![(
                0,
                cpu(1.0, 2.0, 3.0, 4.0, [5.0, 6.0, 7.0, 0.0, 0.0, 0.0]),
            )]),
        ),
        ("no cpu lines", "intr 0\n", Ok(vec![])),
        ("bad number", "cpu 1 2 3 4\ncpu0 1 x 3 4\n", Err(2)),
        ("too few fields", "cpu3 1 2\n", Err(1)),
        ("bad cpu id", "cpuX 1 2 3 4\n", Err(1)),
    ];
    for (name, input, expect) in cases {
        check(name, parse_stat(input), expect);
    }
}

#[test]
fn cpu_state_keeps_counters_monotonic() {
    // (previous idle/user, new idle/user, exposed idle/user)
    let cases = [
        ("normal increase", (10.0, 5.0), (11.0, 6.0), (11.0, 6.0)),
        (
            "user goes back a bit: kept",
            (10.0, 5.0),
            (11.0, 4.0),
            (11.0, 5.0),
        ),
        (
            "idle back by less than 3s: kept",
            (10.0, 5.0),
            (8.5, 6.0),
            (10.0, 6.0),
        ),
        (
            "idle back by 3s or more: hotplug reset",
            (10.0, 5.0),
            (7.0, 1.0),
            (7.0, 1.0),
        ),
    ];
    for (name, (i0, u0), (i1, u1), (ie, ue)) in cases {
        let mut st = CpuState::default();
        let first = cpu(u0, 0.0, 0.0, i0, [0.0; 6]);
        st.update(&[(0, first)]);
        let got = st.update(&[(0, cpu(u1, 0.0, 0.0, i1, [0.0; 6]))]);
        assert_eq!(got, vec![(0, cpu(ue, 0.0, 0.0, ie, [0.0; 6]))], "{name}");
    }
}

#[test]
fn meminfo() {
    let cases: Vec<Case<Vec<(String, f64)>>> = vec![
        (
            "units, parentheses and unit-less fields",
            "MemTotal:       24683656 kB\nActive(anon):       1580 kB\n\
             HugePages_Total:       0\n\nHugepagesize:       2048 kB\n",
            Ok(vec![
                ("MemTotal_bytes".into(), 24683656.0 * 1024.0),
                ("Active_anon_bytes".into(), 1580.0 * 1024.0),
                ("HugePages_Total".into(), 0.0),
                ("Hugepagesize_bytes".into(), 2048.0 * 1024.0),
            ]),
        ),
        ("invalid value", "MemTotal: lots kB\n", Err(1)),
        ("missing colon", "MemTotal 1 kB\n", Err(1)),
        ("too many fields", "MemTotal: 1 kB extra\n", Err(1)),
    ];
    for (name, input, expect) in cases {
        check(name, parse_meminfo(input), expect);
    }
}

fn mount(device: &str, mp: &str, fs: &str, opts: &str) -> MountEntry {
    MountEntry {
        device: device.into(),
        mount_point: mp.into(),
        fs_type: fs.into(),
        options: opts.into(),
    }
}

#[test]
fn mounts() {
    let cases: Vec<Case<Vec<MountEntry>>> = vec![
        (
            "plain and escaped mount points",
            "/dev/vda / ext4 rw,relatime 0 0\n\
             /dev/sdb1 /mnt/my\\040disk\\011x vfat ro,noatime 0 0\n",
            Ok(vec![
                mount("/dev/vda", "/", "ext4", "rw,relatime"),
                mount("/dev/sdb1", "/mnt/my disk\tx", "vfat", "ro,noatime"),
            ]),
        ),
        ("malformed", "/dev/vda / ext4\n", Err(1)),
    ];
    for (name, input, expect) in cases {
        check(name, parse_mounts(input), expect);
    }
    assert!(mount("a", "/", "ext4", "ro,relatime").read_only());
    assert!(!mount("a", "/", "ext4", "rw,errors=remount-ro").read_only());
}

#[test]
fn rootfs_prefix() {
    let cases = [
        ("/", "/home", "/home"),
        ("/rootfs", "/rootfs", "/"),
        ("/rootfs", "/rootfs/home", "/home"),
        ("/rootfs/", "/rootfs/home", "/home"),
        ("/rootfs", "/rootfsx/home", "/rootfsx/home"),
        ("/rootfs", "/proc", "/proc"),
    ];
    for (root, mp, expect) in cases {
        assert_eq!(
            strip_rootfs(std::path::Path::new(root), mp),
            expect,
            "{root} {mp}"
        );
    }
}

const NET_DEV: &str = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 216573561   13518    0    0    0     0          0         0 216573561   13518    0    0    0     0       0          0
  eth0:247524972   14841    1    2    3     4          5         6  1072297   12308    7    8    9    10      11         12
";

#[test]
fn net_dev() {
    let names =
        |dir: &str, hs: &[&str]| hs.iter().map(|h| format!("{dir}_{h}")).collect::<Vec<_>>();
    let mut keys = names(
        "receive",
        &[
            "bytes",
            "packets",
            "errs",
            "drop",
            "fifo",
            "frame",
            "compressed",
            "multicast",
        ],
    );
    keys.extend(names(
        "transmit",
        &[
            "bytes",
            "packets",
            "errs",
            "drop",
            "fifo",
            "colls",
            "carrier",
            "compressed",
        ],
    ));
    let dev = |d: &str, vals: [u64; 16]| NetDevStats {
        device: d.into(),
        stats: keys.iter().cloned().zip(vals).collect(),
    };
    let cases: Vec<Case<Vec<NetDevStats>>> = vec![
        (
            "two devices, one without space after the colon",
            NET_DEV,
            Ok(vec![
                dev(
                    "lo",
                    [
                        216573561, 13518, 0, 0, 0, 0, 0, 0, 216573561, 13518, 0, 0, 0, 0, 0, 0,
                    ],
                ),
                dev(
                    "eth0",
                    [
                        247524972, 14841, 1, 2, 3, 4, 5, 6, 1072297, 12308, 7, 8, 9, 10, 11, 12,
                    ],
                ),
            ]),
        ),
        ("missing header", "Inter-|\n", Err(2)),
        ("short line", &NET_DEV[..NET_DEV.len() - 10], Err(4)),
    ];
    for (name, input, expect) in cases {
        check(name, parse_net_dev(input), expect);
    }
}

#[test]
fn diskstats() {
    let d = |major, minor, device: &str, values: Vec<u64>| DiskStats {
        major,
        minor,
        device: device.into(),
        values,
    };
    let cases: Vec<Case<Vec<DiskStats>>> = vec![
        (
            "14, 18 and 20 fields",
            "   8       0 sda 1 2 3 4 5 6 7 8 9 10 11\n\
             259 0 nvme0n1 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15\n\
             254       0 vda 417745 10482 16584594 340055 57077 103433 62682120 647498 0 59752 1015031 24349 81 68138552 21018 3048 6459\n",
            Ok(vec![
                d(8, 0, "sda", (1..=11).collect()),
                d(259, 0, "nvme0n1", (1..=15).collect()),
                d(254, 0, "vda", vec![417745, 10482, 16584594, 340055, 57077, 103433, 62682120, 647498, 0, 59752, 1015031, 24349, 81, 68138552, 21018, 3048, 6459]),
            ]),
        ),
        ("too short", "8 0 sda 1 2 3\n", Err(1)),
        ("not a number", "8 0 sda 1 2 3 4 5 6 7 8 9 10 x\n", Err(1)),
    ];
    for (name, input, expect) in cases {
        check(name, parse_diskstats(input), expect);
    }
    let udev = parse_udev(
        "S:disk/by-id/x\nE:ID_MODEL=QEMU_HARDDISK\nE:ID_SERIAL_SHORT=abc=1\nG:systemd\n",
    );
    assert_eq!(udev.len(), 2);
    assert_eq!(udev["ID_MODEL"], "QEMU_HARDDISK");
    assert_eq!(udev["ID_SERIAL_SHORT"], "abc=1");
}

#[test]
fn loadavg() {
    let cases: Vec<Case<[f64; 3]>> = vec![
        (
            "normal",
            "3.05 2.30 2.25 10/157 14778\n",
            Ok([3.05, 2.30, 2.25]),
        ),
        ("short", "3.05 2.30\n", Err(1)),
        ("garbage", "a b c\n", Err(1)),
    ];
    for (name, input, expect) in cases {
        check(name, parse_loadavg(input), expect);
    }
}

#[test]
fn file_nr() {
    let cases: Vec<Case<FileNr>> = vec![
        (
            "normal",
            "733\t0\t2466181\n",
            Ok(FileNr {
                allocated: 733,
                maximum: 2466181,
            }),
        ),
        ("two fields", "733 0\n", Err(1)),
        ("garbage", "a 0 c\n", Err(1)),
    ];
    for (name, input, expect) in cases {
        check(name, parse_file_nr(input), expect);
    }
}

#[test]
fn psi() {
    let cases: Vec<Case<Psi>> = vec![
        (
            "some and full",
            "some avg10=50.35 avg60=75.55 avg300=41.29 total=1060730792\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=7\n",
            Ok(Psi { some_total_us: Some(1060730792), full_total_us: Some(7) }),
        ),
        (
            "irq: full only",
            "full avg10=0.00 avg60=0.00 avg300=0.00 total=12\n",
            Ok(Psi { some_total_us: None, full_total_us: Some(12) }),
        ),
        ("unknown kind", "most total=1\n", Err(1)),
        ("no total", "some avg10=0.00\n", Err(1)),
        ("bad total", "some avg10=0.00 total=1\nfull total=-1\n", Err(2)),
    ];
    for (name, input, expect) in cases {
        check(name, parse_psi(input), expect);
    }
}
