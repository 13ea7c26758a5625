//! `cpu`: per-CPU time from `/proc/stat`, as `node_cpu_seconds_total{cpu,mode}`
//! and `node_cpu_guest_seconds_total{cpu,mode}`.
//!
//! Like node_exporter, values are kept monotonic across collections: a
//! counter that goes backwards keeps its previous value, and an `idle`
//! drop of 3 s or more is taken as a CPU hotplug and resets that CPU.

use std::collections::BTreeMap;
use std::path::Path;

use super::{read_parse, Emitter, HostError, MetricType, ParseError};

/// The kernel's `USER_HZ` (fixed at 100 on every Linux ABI).
pub const USER_HZ: f64 = 100.0;

/// Idle going back this much (seconds) means the CPU was hot-plugged.
const JUMP_BACK_SECONDS: f64 = 3.0;

/// One `cpuN` line of `/proc/stat`, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTimes {
    pub user: f64,
    pub nice: f64,
    pub system: f64,
    pub idle: f64,
    pub iowait: f64,
    pub irq: f64,
    pub softirq: f64,
    pub steal: f64,
    pub guest: f64,
    pub guest_nice: f64,
}

/// Parses `/proc/stat` into per-CPU times (the aggregate `cpu` line is
/// skipped). Fields a kernel does not print are 0.
pub fn parse_stat(text: &str) -> Result<Vec<(u32, CpuTimes)>, ParseError> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let mut fields = line.split_whitespace();
        let Some(head) = fields.next() else { continue };
        let Some(id) = head.strip_prefix("cpu") else {
            continue;
        };
        if id.is_empty() {
            continue;
        }
        let cpu: u32 = id
            .parse()
            .map_err(|_| ParseError::new(i + 1, format!("bad cpu id {head:?}")))?;
        let mut v = [0.0f64; 10];
        let mut n = 0;
        for (slot, f) in v.iter_mut().zip(fields) {
            let ticks: u64 = f
                .parse()
                .map_err(|_| ParseError::new(i + 1, format!("bad tick count {f:?}")))?;
            *slot = ticks as f64 / USER_HZ;
            n += 1;
        }
        if n < 4 {
            return Err(ParseError::new(i + 1, "fewer than 4 time fields"));
        }
        let [user, nice, system, idle, iowait, irq, softirq, steal, guest, guest_nice] = v;
        out.push((
            cpu,
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
            },
        ));
    }
    Ok(out)
}

/// Last values seen per CPU, to keep counters monotonic.
#[derive(Debug, Default)]
pub struct CpuState {
    last: BTreeMap<u32, CpuTimes>,
}

impl CpuState {
    /// Merges a new reading into the state (node_exporter's
    /// `updateCPUStats`) and returns the values to expose.
    pub fn update(&mut self, new: &[(u32, CpuTimes)]) -> Vec<(u32, CpuTimes)> {
        for (cpu, n) in new {
            let mut s = self.last.get(cpu).copied().unwrap_or_default();
            if s.idle - n.idle >= JUMP_BACK_SECONDS {
                tracing::debug!(
                    cpu,
                    old = s.idle,
                    new = n.idle,
                    "CPU idle jumped backwards, resetting"
                );
                s = CpuTimes::default();
            }
            let keep_max = |old: &mut f64, new: f64, mode: &str| {
                if new >= *old {
                    *old = new;
                } else {
                    tracing::debug!(cpu, mode, old = *old, new, "CPU counter jumped backwards");
                }
            };
            keep_max(&mut s.idle, n.idle, "idle");
            keep_max(&mut s.user, n.user, "user");
            keep_max(&mut s.nice, n.nice, "nice");
            keep_max(&mut s.system, n.system, "system");
            keep_max(&mut s.iowait, n.iowait, "iowait");
            keep_max(&mut s.irq, n.irq, "irq");
            keep_max(&mut s.softirq, n.softirq, "softirq");
            keep_max(&mut s.steal, n.steal, "steal");
            keep_max(&mut s.guest, n.guest, "guest");
            keep_max(&mut s.guest_nice, n.guest_nice, "guest_nice");
            self.last.insert(*cpu, s);
        }
        new.iter()
            .filter_map(|(cpu, _)| self.last.get(cpu).map(|t| (*cpu, *t)))
            .collect()
    }
}

/// Emits the families for the given (already merged) CPU times.
pub fn emit(times: &[(u32, CpuTimes)], em: &mut Emitter) {
    const NAME: &str = "node_cpu_seconds_total";
    const HELP: &str = "Seconds the CPUs spent in each mode.";
    const GUEST: &str = "node_cpu_guest_seconds_total";
    const GUEST_HELP: &str = "Seconds the CPUs spent in guests (VMs) for each mode.";
    for (cpu, t) in times {
        let cpu = cpu.to_string();
        for (mode, v) in [
            ("user", t.user),
            ("nice", t.nice),
            ("system", t.system),
            ("idle", t.idle),
            ("iowait", t.iowait),
            ("irq", t.irq),
            ("softirq", t.softirq),
            ("steal", t.steal),
        ] {
            em.add(
                NAME,
                HELP,
                MetricType::Counter,
                &[("cpu", &cpu), ("mode", mode)],
                v,
            );
        }
        // Guest time is also counted in user and nice.
        for (mode, v) in [("user", t.guest), ("nice", t.guest_nice)] {
            em.add(
                GUEST,
                GUEST_HELP,
                MetricType::Counter,
                &[("cpu", &cpu), ("mode", mode)],
                v,
            );
        }
    }
}

pub(super) fn collect(
    proc: &Path,
    state: &mut CpuState,
    em: &mut Emitter,
) -> Result<(), HostError> {
    let times = read_parse(&proc.join("stat"), parse_stat)?;
    let merged = state.update(&times);
    emit(&merged, em);
    Ok(())
}
