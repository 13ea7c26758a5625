//! `pressure`: PSI stall totals from `/proc/pressure/{cpu,io,memory,irq}`
//! as `node_pressure_<resource>_{waiting,stalled}_seconds_total`.
//!
//! "waiting" is the `some` line (at least one task stalled), "stalled" the
//! `full` line (all non-idle tasks stalled). `cpu` has a `full` line since
//! Linux 5.13; `irq` has only `full` and needs `CONFIG_IRQ_TIME_ACCOUNTING`.
//! As in node_exporter 1.9: a missing cpu/io/memory file means no PSI on
//! this kernel (the collector reports no data); a missing irq file is
//! skipped.

use std::io::ErrorKind;
use std::path::Path;

use super::{read, Emitter, HostError, MetricType, ParseError};

/// The `total=` values (microseconds) of a PSI file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Psi {
    pub some_total_us: Option<u64>,
    pub full_total_us: Option<u64>,
}

/// Parses a `/proc/pressure/*` file.
pub fn parse_psi(text: &str) -> Result<Psi, ParseError> {
    let mut psi = Psi::default();
    for (i, line) in text.lines().enumerate() {
        let mut f = line.split_whitespace();
        let Some(kind) = f.next() else { continue };
        let slot = match kind {
            "some" => &mut psi.some_total_us,
            "full" => &mut psi.full_total_us,
            other => {
                return Err(ParseError::new(
                    i + 1,
                    format!("unknown PSI line kind {other:?}"),
                ))
            }
        };
        let total = f
            .find_map(|kv| kv.strip_prefix("total="))
            .ok_or_else(|| ParseError::new(i + 1, "no total= field"))?;
        *slot = Some(
            total
                .parse()
                .map_err(|_| ParseError::new(i + 1, format!("invalid total {total:?}")))?,
        );
    }
    Ok(psi)
}

struct Resource {
    name: &'static str,
    waiting_help: Option<&'static str>,
    stalled_help: &'static str,
}

const RESOURCES: [Resource; 4] = [
    Resource {
        name: "cpu",
        waiting_help: Some("Total time in seconds that processes have waited for CPU time"),
        stalled_help: "Total time in seconds no process could make progress due to CPU congestion",
    },
    Resource {
        name: "io",
        waiting_help: Some("Total time in seconds that processes have waited due to IO congestion"),
        stalled_help: "Total time in seconds no process could make progress due to IO congestion",
    },
    Resource {
        name: "memory",
        waiting_help: Some("Total time in seconds that processes have waited for memory"),
        stalled_help:
            "Total time in seconds no process could make progress due to memory congestion",
    },
    Resource {
        name: "irq",
        waiting_help: None,
        stalled_help: "Total time in seconds no process could make progress due to IRQ congestion",
    },
];

fn seconds(us: u64) -> f64 {
    // Same arithmetic as node_exporter, so values agree to the bit.
    us as f64 / 1000.0 / 1000.0
}

/// Emits one resource's series from its parsed file.
pub fn emit(resource: &str, psi: Psi, em: &mut Emitter) {
    let Some(r) = RESOURCES.iter().find(|r| r.name == resource) else {
        return;
    };
    if let (Some(help), Some(some)) = (r.waiting_help, psi.some_total_us) {
        let name = format!("node_pressure_{}_waiting_seconds_total", r.name);
        em.add(&name, help, MetricType::Counter, &[], seconds(some));
    }
    if let Some(full) = psi.full_total_us {
        let name = format!("node_pressure_{}_stalled_seconds_total", r.name);
        em.add(
            &name,
            r.stalled_help,
            MetricType::Counter,
            &[],
            seconds(full),
        );
    }
}

pub(super) fn collect(proc: &Path, em: &mut Emitter) -> Result<(), HostError> {
    for r in &RESOURCES {
        let path = proc.join("pressure").join(r.name);
        let text = match read(&path) {
            Ok(t) => t,
            Err(HostError::Read { source, .. })
                if source.kind() == ErrorKind::NotFound && r.name == "irq" =>
            {
                continue
            }
            Err(HostError::Read { source, .. }) if source.kind() == ErrorKind::NotFound => {
                return Err(HostError::NoData(
                    "pressure information is unavailable, you need a Linux kernel >= 4.20 and/or CONFIG_PSI",
                ))
            }
            Err(HostError::Read { source, .. }) if source.kind() == ErrorKind::Unsupported
                || source.raw_os_error() == Some(95) =>
            {
                return Err(HostError::NoData(
                    "pressure information is disabled, add psi=1 to the kernel command line",
                ))
            }
            Err(e) => return Err(e),
        };
        let psi = parse_psi(&text).map_err(|source| HostError::Parse { path, source })?;
        emit(r.name, psi, em);
    }
    Ok(())
}
