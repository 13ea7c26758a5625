//! Process and port helpers shared by the side-by-side harnesses.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command};

/// A child process killed and reaped on drop, so a failing harness leaves
/// no peer running.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The kernel's clock ticks per second (`getconf CLK_TCK`; 100 if unknown).
#[allow(dead_code)]
pub fn clk_tck() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .unwrap_or(100.0)
}

/// `/proc/<pid>/stat` fields `k` and `k + 1` summed, in ticks (14, 15:
/// utime and stime; 16, 17: cutime and cstime of reaped children).
#[allow(dead_code)]
pub fn stat_pair(pid: u32, k: usize) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let get = |i: usize| f.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    // `rest` starts at field 3 (state), so field k is index k - 3.
    get(k - 3) + get(k + 1 - 3)
}

/// utime + stime of a process, in ticks.
#[allow(dead_code)]
pub fn cpu_ticks(pid: u32) -> u64 {
    stat_pair(pid, 14)
}

/// A `/proc/<pid>/status` field in kB (e.g. VmHWM).
#[allow(dead_code)]
pub fn status_kb(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|r| r.trim_start_matches(':').split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Runs `watchfire check-config --role agent` on `cfg` and panics with its
/// message when the config is rejected (a harness must not measure a
/// misconfigured agent).
#[allow(dead_code)]
pub fn check_agent_config(cfg: &Path) {
    let check = Command::new(env!("CARGO_BIN_EXE_watchfire"))
        .args(["check-config", "--role", "agent"])
        .arg(cfg)
        .output()
        .expect("run check-config");
    assert!(
        check.status.success(),
        "agent config rejected: {}",
        String::from_utf8_lossy(&check.stderr)
    );
}
