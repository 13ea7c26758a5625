//! `watchfire check-rules` / `test-rules` side by side with the real
//! `promtool check rules` / `test rules` (Debian's 2.42).
//!
//! The fixtures and their expected outcomes (SOURCE.md in
//! `shared/conformance/rules/`) come from Prometheus 3.x. Each row of
//! [`conformance_rows`] runs both tools with the same arguments and asserts:
//! our exit code equals the 3.x expectation, and promtool 2.42's exit code
//! equals the value recorded here. Where the two differ, the row carries
//! the reason, found by reading the fixture and promtool 2.42's output.
//! For the shipped `rules/` both tools must exit 0.

use std::path::{Path, PathBuf};

use crate::harness::{peer, run, watchfire, Output};

/// Which pair of subcommands a row runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cmd {
    /// `watchfire check-rules` / `promtool check rules`.
    Check,
    /// `watchfire test-rules` / `promtool test rules`.
    Test,
}

/// One comparison: arguments (flags and files, the same for both tools),
/// the expected exit codes, and why they differ when they do.
struct Row {
    cmd: Cmd,
    args: Vec<String>,
    ours: i32,
    promtool_2_42: i32,
    reason: &'static str,
}

/// A row where both tools are expected to agree.
fn row(cmd: Cmd, args: &[&str], ours: i32, promtool_2_42: i32) -> Row {
    diff(cmd, args, ours, promtool_2_42, "")
}

/// A row with its reason for any difference.
fn diff(cmd: Cmd, args: &[&str], ours: i32, promtool_2_42: i32, reason: &'static str) -> Row {
    Row {
        cmd,
        args: args.iter().map(|s| s.to_string()).collect(),
        ours,
        promtool_2_42,
        reason,
    }
}

use Cmd::{Check, Test};

const NO_RUN_FLAG: &str =
    "`--run` was added to `promtool test rules` after 2.42; 2.42 exits 1 on the unknown flag";
const NO_IGNORE_FLAG: &str =
    "`--ignore-unknown-fields` is newer than 2.42; 2.42 exits 1 on the unknown flag";

/// Rows over `shared/conformance/rules/` (run in that folder).
fn conformance_rows() -> Vec<Row> {
    vec![
    // --- promtool check rules (cmd/promtool/main_test.go) ---
    row(Check, &["rules.yml"], 0, 0),
    row(Check, &["--lint=duplicate-rules", "--lint-fatal", "rules.yml"], 0, 0),
    row(Check, &["rules-bad.yml"], 1, 1),
    row(Check, &["rules.yml", "rules-bad.yml"], 1, 1),
    row(Check, &["prometheus-rules.lint.yml"], 0, 0),
    row(Check, &["--lint-fatal", "prometheus-rules.lint.yml"], 3, 3),
    row(Check, &["--lint=none", "--lint-fatal", "prometheus-rules.lint.yml"], 0, 0),
    row(Check, &["rules_duplicates.yml"], 0, 0),
    row(Check, &["--lint-fatal", "rules_duplicates.yml"], 3, 3),
    row(Check, &["rules_large.yml"], 0, 0),
    // Two duplicated recording rules (job1, job10000) in the big file.
    row(Check, &["--lint-fatal", "rules_large.yml"], 3, 3),
    // Without --enable-feature both reject it (3.x: experimental functions,
    // duration expressions, `anchored` and `fill()` are behind flags that
    // watchfire does not offer; 2.42 has none of them at all).
    row(Check, &["features.yml"], 1, 1),
    row(Check, &["prometheus-config.rules.good.yml"], 0, 0),
    row(Check, &["rules_extrafields.yml"], 1, 1),
    diff(Check, &["--ignore-unknown-fields", "rules_extrafields.yml"], 0, 1, NO_IGNORE_FLAG),
    // The rule files of the unit-test fixtures.
    row(Check, &["at-modifier.yml"], 0, 0),
    row(Check, &["negative-offset.yml"], 0, 0),
    row(Check, &["bad-rules-error.yml"], 0, 0),
    row(Check, &["bad-rules-syntax.yml"], 1, 1),
    // --- promtool test rules (cmd/promtool/unittest_test.go) ---
    diff(
        Test,
        &["unittest.yml"],
        0,
        1,
        "exp_samples use native-histogram `histogram:` values (lines 66, 72, 78), a field 2.42's unit-test format does not know",
    ),
    row(Test, &["long-period.yml"], 0, 0),
    row(Test, &["bad-input-series.yml"], 1, 1),
    row(Test, &["bad-promql.yml"], 1, 1),
    row(Test, &["bad-rules-syntax-test.yml"], 1, 1),
    row(Test, &["bad-rules-error-test.yml"], 1, 1),
    row(Test, &["failing.yml"], 1, 1),
    // SOURCE.md's "1 with @ / negative offset disabled" is an internal test
    // option; the CLI of both versions always enables them.
    row(Test, &["at-modifier-test.yml"], 0, 0),
    row(Test, &["negative-offset-test.yml"], 0, 0),
    diff(
        Test,
        &["no-test-group-interval.yml"],
        0,
        1,
        "a test group without `interval` defaults to evaluation_interval only since prometheus#13011 (2.48); 2.42 loads `0 1` at interval 0, so `test` at 1m is 0, not 1",
    ),
    diff(
        Test,
        &["start-time-test.yml"],
        0,
        1,
        "test groups use `start_timestamp` (lines 23, 37, 54), a 3.x field 2.42 rejects as unknown",
    ),
    row(Test, &["rules_run.yml"], 1, 1),
    diff(Test, &["--run", "correct", "rules_run.yml"], 0, 1, NO_RUN_FLAG),
    row(Test, &["--run", "wrong", "rules_run.yml"], 1, 1),
    row(Test, &["--run", "correct", "--run", "wrong", "rules_run.yml"], 1, 1),
    row(Test, &["rules_run_extrafields.yml"], 1, 1),
    diff(
        Test,
        &["--ignore-unknown-fields", "rules_run_extrafields.yml"],
        0,
        1,
        NO_IGNORE_FLAG,
    ),
    row(Test, &["rules_run_no_fuzzy.yml"], 1, 1),
    row(Test, &["rules_run_fuzzy.yml"], 1, 1),
    diff(
        Test,
        &["--run", "correct", "rules_run_fuzzy.yml"],
        0,
        1,
        "`--run` and the top-level `fuzzy_compare` (line 6) are newer than 2.42: unknown flag, and unknown field",
    ),
    row(Test, &["--run", "wrong", "rules_run_fuzzy.yml"], 1, 1),
    row(Test, &["unittest.yml", "failing.yml"], 1, 1),
    // --- unit-test files are not rule files: check-rules rejects them ---
    row(Check, &["unittest.yml"], 1, 1),
    row(Check, &["long-period.yml"], 1, 1),
    row(Check, &["bad-input-series.yml"], 1, 1),
    row(Check, &["bad-promql.yml"], 1, 1),
    row(Check, &["bad-rules-syntax-test.yml"], 1, 1),
    row(Check, &["bad-rules-error-test.yml"], 1, 1),
    row(Check, &["failing.yml"], 1, 1),
    row(Check, &["at-modifier-test.yml"], 1, 1),
    row(Check, &["negative-offset-test.yml"], 1, 1),
    row(Check, &["no-test-group-interval.yml"], 1, 1),
    row(Check, &["start-time-test.yml"], 1, 1),
    row(Check, &["rules_run.yml"], 1, 1),
    row(Check, &["rules_run_extrafields.yml"], 1, 1),
    row(Check, &["rules_run_no_fuzzy.yml"], 1, 1),
    row(Check, &["rules_run_fuzzy.yml"], 1, 1),
    ]
}

fn as_strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn conformance_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/conformance/rules"
    ))
}

fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What one row did.
struct Outcome {
    ours: Output,
    theirs: Output,
}

/// Runs both tools on one row in `cwd`.
fn check(cwd: &Path, r: &Row) -> Outcome {
    let (ours_cmd, their_cmd): (&[&str], &[&str]) = match r.cmd {
        Check => (&["check-rules"], &["check", "rules"]),
        Test => (&["test-rules"], &["test", "rules"]),
    };
    let args = r.args.iter().map(String::as_str);
    let ours_args: Vec<&str> = ours_cmd.iter().copied().chain(args.clone()).collect();
    let their_args: Vec<&str> = their_cmd.iter().copied().chain(args).collect();
    Outcome {
        ours: run(&watchfire(), &ours_args, cwd),
        theirs: run(&peer("promtool"), &their_args, cwd),
    }
}

/// The `SUCCESS: N rules found` lines of a check-rules output.
fn success_lines(out: &str) -> Vec<&str> {
    out.lines()
        .map(str::trim)
        .filter(|l| l.starts_with("SUCCESS:"))
        .collect()
}

/// Runs every row, prints the comparison table and returns the failures.
fn compare(cwd: &Path, rows: &[Row]) -> Vec<String> {
    let mut failures = Vec::new();
    let mut table = String::from(
        "| command | args | watchfire (want) | promtool 2.42 (want) | reason if different |\n|---|---|---|---|---|\n",
    );
    for r in rows {
        let o = check(cwd, r);
        let name = match r.cmd {
            Check => "check rules",
            Test => "test rules",
        };
        let args = r.args.join(" ");
        table.push_str(&format!(
            "| {name} | {args} | {} ({}) | {} ({}) | {} |\n",
            o.ours.code, r.ours, o.theirs.code, r.promtool_2_42, r.reason
        ));
        if o.ours.code != r.ours {
            failures.push(format!(
                "watchfire {name} {args}: exit {} (want {})\nstdout:\n{}\nstderr:\n{}",
                o.ours.code, r.ours, o.ours.stdout, o.ours.stderr
            ));
        }
        if o.theirs.code != r.promtool_2_42 {
            failures.push(format!(
                "promtool {name} {args}: exit {} (table says {})\nstdout:\n{}\nstderr:\n{}",
                o.theirs.code, r.promtool_2_42, o.theirs.stdout, o.theirs.stderr
            ));
        }
        if r.ours != r.promtool_2_42 && r.reason.is_empty() {
            failures.push(format!(
                "{name} {args}: outcomes differ but no reason is given"
            ));
        }
        // Where both accept a rule file, they must count the same rules.
        if r.cmd == Check && o.ours.code == 0 && o.theirs.code == 0 {
            let (a, b) = (
                success_lines(&o.ours.stdout),
                success_lines(&o.theirs.stdout),
            );
            if a != b {
                failures.push(format!(
                    "check rules {args}: SUCCESS lines differ: watchfire {a:?}, promtool {b:?}"
                ));
            }
        }
    }
    println!("{table}");
    failures
}

#[test]
fn conformance_fixtures_match_promtool() {
    let dir = conformance_dir();
    assert!(
        dir.is_dir(),
        "conformance data not found at {}",
        dir.display()
    );
    let rows = conformance_rows();
    // Every fixture appears in the table, so new data cannot slip by.
    for entry in std::fs::read_dir(&dir).expect("reading conformance dir") {
        let name = entry.expect("dir entry").file_name();
        let name = name.to_string_lossy();
        if name.ends_with(".yml") {
            assert!(
                rows.iter().any(|r| r.args.iter().any(|a| *a == name)),
                "fixture {name} has no row in the comparison table"
            );
        }
    }
    let failures = compare(&dir, &rows);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn shipped_rules_pass_both_tools() {
    let repo = repo_dir();
    let mut rule_files = Vec::new();
    let mut test_files = Vec::new();
    for (folder, out) in [("rules", &mut rule_files), ("rules/tests", &mut test_files)] {
        for entry in std::fs::read_dir(repo.join(folder)).expect("reading rules/") {
            let p = entry.expect("dir entry").path();
            if p.extension().is_some_and(|e| e == "yml" || e == "yaml") {
                out.push(format!(
                    "{folder}/{}",
                    p.file_name().expect("file name").to_string_lossy()
                ));
            }
        }
    }
    assert!(!rule_files.is_empty(), "no rule files in rules/");
    assert!(!test_files.is_empty(), "no unit tests in rules/tests/");
    let mut lint_args = vec!["--lint-fatal".to_string()];
    lint_args.extend(rule_files.iter().cloned());
    let rows = [
        row(Check, &as_strs(&rule_files), 0, 0),
        row(Check, &as_strs(&lint_args), 0, 0),
        row(Test, &as_strs(&test_files), 0, 0),
    ];
    let failures = compare(&repo, &rows);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
