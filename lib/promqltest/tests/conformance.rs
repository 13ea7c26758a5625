//! Runs the upstream promqltest suite (`shared/conformance/promql/*.test`)
//! against the Watchfire engine, prints a per-file table, and fails if an
//! in-scope file passes fewer evals than its floor in
//! `conformance-floor.txt`.
//!
//! Environment:
//! - `PROMQLTEST_FILE=functions` (comma-separated stems) runs only those files
//!   (floors are then checked only for them);
//! - `PROMQLTEST_VERBOSE=1` prints every failure instead of the first 5 per file;
//! - `PROMQLTEST_SHOW_SKIPS=1` also lists every skipped case with its reason;
//! - `PROMQLTEST_UPDATE_FLOOR=1` rewrites the floor file with current counts;
//! - `PROMQLTEST_NO_RANGE_CHECK=1` skips the range-mode re-check of instant queries;
//! - `PROMQLTEST_NO_AT_CHECK=1` skips the `@`-modifier step-invariance re-runs.

use std::path::{Path, PathBuf};
use watchfire_promqltest::floor::{floor_violations, parse_floors, render_floors, render_report};
use watchfire_promqltest::{run_script, CaseOutcome, FileReport, RunOptions};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/promql")
}

fn floor_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance-floor.txt")
}

#[test]
fn promql_conformance() {
    let only: Option<Vec<String>> = std::env::var("PROMQLTEST_FILE").ok().map(|v| {
        v.split(',')
            .map(|s| s.trim().trim_end_matches(".test").to_string())
            .collect()
    });
    let verbose = std::env::var_os("PROMQLTEST_VERBOSE").is_some();
    let mut opts = RunOptions::default();
    if std::env::var_os("PROMQLTEST_NO_RANGE_CHECK").is_some() {
        opts.range_check = false;
    }
    if std::env::var_os("PROMQLTEST_NO_AT_CHECK").is_some() {
        opts.step_invariance = false;
    }

    let mut files: Vec<PathBuf> = std::fs::read_dir(data_dir())
        .expect("conformance data directory")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "test"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 20,
        "expected the upstream .test files in {:?}",
        data_dir()
    );

    // Quiet the default panic hook: engine panics are reported per case.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut reports: Vec<FileReport> = Vec::new();
    for path in &files {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("utf-8 file name")
            .to_string();
        if only.as_ref().is_some_and(|o| !o.contains(&stem)) {
            continue;
        }
        let bytes = std::fs::read(path).expect("read test file");
        let text = String::from_utf8_lossy(&bytes);
        reports.push(run_script(&stem, &text, &opts));
    }
    std::panic::set_hook(hook);

    println!(
        "{}",
        render_report(&reports, if verbose { None } else { Some(5) })
    );
    if std::env::var_os("PROMQLTEST_SHOW_SKIPS").is_some() {
        for r in &reports {
            for c in &r.cases {
                if let CaseOutcome::Skip(why) = &c.outcome {
                    println!("skip {}:{} [{why}] {}", r.name, c.line, c.expr);
                }
            }
        }
    }

    if std::env::var_os("PROMQLTEST_UPDATE_FLOOR").is_some() {
        assert!(
            only.is_none(),
            "PROMQLTEST_UPDATE_FLOOR needs a full run (unset PROMQLTEST_FILE)"
        );
        std::fs::write(floor_path(), render_floors(&reports)).expect("write floor file");
        println!("floor file updated: {}", floor_path().display());
        return;
    }
    let floors = parse_floors(&std::fs::read_to_string(floor_path()).expect("read floor file"))
        .expect("parse floor file");
    let floors = floors
        .into_iter()
        .filter(|(k, _)| only.as_ref().is_none_or(|o| o.contains(k)))
        .collect();
    let violations = floor_violations(&floors, &reports);
    assert!(
        violations.is_empty(),
        "conformance regressed:\n{}",
        violations.join("\n")
    );
}
