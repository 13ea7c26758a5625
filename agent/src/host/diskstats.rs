//! `diskstats`: block device I/O from `/proc/diskstats` as `node_disk_*{device}`,
//! plus `node_disk_info` (from sysfs and udev's database) and the
//! udev-derived `node_disk_filesystem_info`, `node_disk_device_mapper_info`
//! and `node_disk_ata_*` when udev data exists.
//!
//! The number of columns decides which series exist, as in node_exporter:
//! 11 stats before Linux 4.18, 15 with discards, 17 with flushes (5.5+).
//! Sectors are 512 bytes; times are milliseconds.

use std::collections::BTreeMap;
use std::path::Path;

use super::{read, read_parse, Emitter, HostError, MetricType, ParseError};

/// node_exporter's default `--collector.diskstats.device-exclude`:
/// partitions, RAM disks, loop and floppy devices.
pub const DEFAULT_DEVICE_EXCLUDE: &str = r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";

/// One `/proc/diskstats` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskStats {
    pub major: u32,
    pub minor: u32,
    pub device: String,
    /// The statistics columns after the device name, in kernel order.
    pub values: Vec<u64>,
}

/// Parses `/proc/diskstats`.
pub fn parse_diskstats(text: &str) -> Result<Vec<DiskStats>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        if f.len() < 14 {
            return Err(ParseError::new(
                i + 1,
                format!("expected at least 14 fields, found {}", f.len()),
            ));
        }
        let num = |s: &str| {
            s.parse::<u64>()
                .map_err(|_| ParseError::new(i + 1, format!("invalid number {s:?}")))
        };
        let major =
            u32::try_from(num(f[0])?).map_err(|_| ParseError::new(i + 1, "major out of range"))?;
        let minor =
            u32::try_from(num(f[1])?).map_err(|_| ParseError::new(i + 1, "minor out of range"))?;
        let values = f[3..]
            .iter()
            .map(|s| num(s))
            .collect::<Result<Vec<_>, _>>()?;
        out.push(DiskStats {
            major,
            minor,
            device: f[2].to_string(),
            values,
        });
    }
    Ok(out)
}

/// Parses a udev database file (`/run/udev/data/b<major>:<minor>`): the
/// `E:KEY=VALUE` property lines.
pub fn parse_udev(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("E:"))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const MS: f64 = 1.0 / 1000.0;
const SECTOR: f64 = 512.0;

/// (name suffix, help, type, scale) per column, in kernel order.
const COLUMNS: [(&str, &str, MetricType, f64); 17] = [
    (
        "reads_completed_total",
        "The total number of reads completed successfully.",
        MetricType::Counter,
        1.0,
    ),
    (
        "reads_merged_total",
        "The total number of reads merged.",
        MetricType::Counter,
        1.0,
    ),
    (
        "read_bytes_total",
        "The total number of bytes read successfully.",
        MetricType::Counter,
        SECTOR,
    ),
    (
        "read_time_seconds_total",
        "The total number of seconds spent by all reads.",
        MetricType::Counter,
        MS,
    ),
    (
        "writes_completed_total",
        "The total number of writes completed successfully.",
        MetricType::Counter,
        1.0,
    ),
    (
        "writes_merged_total",
        "The number of writes merged.",
        MetricType::Counter,
        1.0,
    ),
    (
        "written_bytes_total",
        "The total number of bytes written successfully.",
        MetricType::Counter,
        SECTOR,
    ),
    (
        "write_time_seconds_total",
        "This is the total number of seconds spent by all writes.",
        MetricType::Counter,
        MS,
    ),
    (
        "io_now",
        "The number of I/Os currently in progress.",
        MetricType::Gauge,
        1.0,
    ),
    (
        "io_time_seconds_total",
        "Total seconds spent doing I/Os.",
        MetricType::Counter,
        MS,
    ),
    (
        "io_time_weighted_seconds_total",
        "The weighted # of seconds spent doing I/Os.",
        MetricType::Counter,
        MS,
    ),
    (
        "discards_completed_total",
        "The total number of discards completed successfully.",
        MetricType::Counter,
        1.0,
    ),
    (
        "discards_merged_total",
        "The total number of discards merged.",
        MetricType::Counter,
        1.0,
    ),
    (
        "discarded_sectors_total",
        "The total number of sectors discarded successfully.",
        MetricType::Counter,
        1.0,
    ),
    (
        "discard_time_seconds_total",
        "This is the total number of seconds spent by all discards.",
        MetricType::Counter,
        MS,
    ),
    (
        "flush_requests_total",
        "The total number of flush requests completed successfully",
        MetricType::Counter,
        1.0,
    ),
    (
        "flush_requests_time_seconds_total",
        "This is the total number of seconds spent by all flush requests.",
        MetricType::Counter,
        MS,
    ),
];

/// Per-device extra facts for `node_disk_info`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiskInfo {
    /// udev properties (empty without udev).
    pub udev: BTreeMap<String, String>,
    /// `/sys/block/<dev>/queue/rotational` (0 when unknown).
    pub rotational: u64,
}

/// Emits the series for one device.
pub fn emit(d: &DiskStats, info: &DiskInfo, em: &mut Emitter) {
    let dev = d.device.as_str();
    let u = |k: &str| info.udev.get(k).map(String::as_str).unwrap_or("");
    let serial = [u("SCSI_IDENT_SERIAL"), u("ID_SERIAL_SHORT"), u("ID_SERIAL")]
        .into_iter()
        .find(|s| !s.is_empty())
        .unwrap_or("");
    let (major, minor) = (d.major.to_string(), d.minor.to_string());
    let rotational = format!("{:b}", info.rotational);
    em.add(
        "node_disk_info",
        "Info of /sys/block/<block_device>.",
        MetricType::Gauge,
        &[
            ("device", dev),
            ("major", &major),
            ("minor", &minor),
            ("path", u("ID_PATH")),
            ("wwn", u("ID_WWN")),
            ("model", u("ID_MODEL")),
            ("serial", serial),
            ("revision", u("ID_REVISION")),
            ("rotational", &rotational),
        ],
        1.0,
    );
    for ((suffix, help, kind, scale), v) in COLUMNS.iter().zip(&d.values) {
        let name = format!("node_disk_{suffix}");
        em.add(&name, help, *kind, &[("device", dev)], *v as f64 * scale);
    }
    if !u("ID_FS_TYPE").is_empty() {
        em.add(
            "node_disk_filesystem_info",
            "Info about disk filesystem.",
            MetricType::Gauge,
            &[
                ("device", dev),
                ("type", u("ID_FS_TYPE")),
                ("usage", u("ID_FS_USAGE")),
                ("uuid", u("ID_FS_UUID")),
                ("version", u("ID_FS_VERSION")),
            ],
            1.0,
        );
    }
    if !u("DM_NAME").is_empty() {
        em.add(
            "node_disk_device_mapper_info",
            "Info about disk device mapper.",
            MetricType::Gauge,
            &[
                ("device", dev),
                ("name", u("DM_NAME")),
                ("uuid", u("DM_UUID")),
                ("vg_name", u("DM_VG_NAME")),
                ("lv_name", u("DM_LV_NAME")),
                ("lv_layer", u("DM_LV_LAYER")),
            ],
            1.0,
        );
    }
    if !u("ID_ATA").is_empty() {
        for (key, suffix, help) in [
            (
                "ID_ATA_WRITE_CACHE",
                "ata_write_cache",
                "ATA disk has a write cache.",
            ),
            (
                "ID_ATA_WRITE_CACHE_ENABLED",
                "ata_write_cache_enabled",
                "ATA disk has its write cache enabled.",
            ),
            (
                "ID_ATA_ROTATION_RATE_RPM",
                "ata_rotation_rate_rpm",
                "ATA disk rotation rate in RPMs (0 for SSDs).",
            ),
        ] {
            if let Ok(v) = u(key).parse::<f64>() {
                let name = format!("node_disk_{suffix}");
                em.add(&name, help, MetricType::Gauge, &[("device", dev)], v);
            }
        }
    }
}

pub(super) fn collect(
    proc: &Path,
    sys: &Path,
    udev: &Path,
    exclude: Option<&regex::Regex>,
    em: &mut Emitter,
) -> Result<(), HostError> {
    let disks = read_parse(&proc.join("diskstats"), parse_diskstats)?;
    for d in disks
        .iter()
        .filter(|d| !exclude.is_some_and(|re| re.is_match(&d.device)))
    {
        let udev = read(&udev.join(format!("b{}:{}", d.major, d.minor)))
            .map(|t| parse_udev(&t))
            .unwrap_or_default();
        let rotational = read(&sys.join("block").join(&d.device).join("queue/rotational"))
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        emit(d, &DiskInfo { udev, rotational }, em);
    }
    Ok(())
}
