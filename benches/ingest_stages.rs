//! Where `POST /api/v2/alerts` spends its CPU, stage by stage, in one
//! thread and without HTTP: the same 64-alert bodies as `am_compare`
//! decoded (serde path and fast path), fed to the dispatch core
//! (`Dispatcher::receive` + `take_changes`, as under the service's lock),
//! and written into alert-log rows (`AlertLog::append_keyed`, the
//! persister's work before redb). Prints µs per alert for each stage.
//!
//! Run: `cargo bench --bench ingest_stages` (`INGEST_STAGES_ALERTS`,
//! default 300,000).

#[path = "common/am.rs"]
mod am;

use std::time::Instant;

use am::am_yml;

use watchfire_dispatch::{Dispatcher, PostableAlert};
use watchfire_router::amapi::decode::decode_alerts_serde;
use watchfire_router::amapi::fastpost;
use watchfire_router::amapi::samples::bench_json as batch_json;
use watchfire_router::dispatch::alertlog::{AlertLog, Op};

/// The binary's allocator, so the figures match the router's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let n: usize = std::env::var("INGEST_STAGES_ALERTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_000);
    let am = watchfire_amconfig::load_str(&am_yml(9), "am_compare.yml").expect("config");
    let cfg = watchfire_router::dispatch::build::dispatch_config(&am, "http://bench");
    let bodies: Vec<Vec<u8>> = (0..n / 64)
        .map(|b| batch_json(b * 64, 64).into_bytes())
        .collect();
    let total = (bodies.len() * 64) as f64;
    let per_alert = |t: Instant| t.elapsed().as_secs_f64() / total * 1e6;

    let t = Instant::now();
    let slow: usize = bodies
        .iter()
        .map(|b| decode_alerts_serde(b).expect("valid body").len())
        .sum();
    let serde_us = per_alert(t);

    let t = Instant::now();
    let parsed: Vec<Vec<PostableAlert>> = bodies
        .iter()
        .map(|b| fastpost::parse_alerts(b).expect("the fast path takes the bench body"))
        .collect();
    let fast_us = per_alert(t);
    assert_eq!(slow, parsed.iter().map(Vec::len).sum::<usize>());

    let mut core = Dispatcher::new(cfg);
    let now = 1_700_000_000_000;
    let t = Instant::now();
    let changes: Vec<_> = parsed
        .into_iter()
        .map(|v| {
            core.receive(now, v);
            core.take_changes()
        })
        .collect();
    let core_us = per_alert(t);

    let mut log = AlertLog::default();
    let t = Instant::now();
    let mut bytes = 0;
    // About what one commit holds under load: 16 requests.
    for commit in changes.chunks(16) {
        let ops = commit
            .iter()
            .flat_map(|c| c.alerts.iter().map(|(fp, a)| Op::keyed(*fp, a.clone())));
        let w = log
            .append_keyed(ops, |_| Ok(None))
            .expect("no compaction reads");
        bytes += w.puts.iter().map(|p| p.1.len()).sum::<usize>();
    }
    let log_us = per_alert(t);
    println!("{total} alerts, µs per alert, one thread:");
    println!("| stage | µs per alert |");
    println!("|---|---:|");
    println!("| decode, serde path | {serde_us:.3} |");
    println!("| decode, fast path | {fast_us:.3} |");
    println!("| dispatch core (receive + take_changes) | {core_us:.3} |");
    println!(
        "| alert log rows (index + encode; {} B per alert) | {log_us:.3} |",
        bytes / total as usize
    );
}
