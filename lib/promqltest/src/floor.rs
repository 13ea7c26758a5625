//! Per-file pass floors for the conformance test, and the report table.
//!
//! Floor file format (`conformance-floor.txt`): one `<file-stem> <min-pass>`
//! pair per line; blank lines and `#` comments are ignored. A file missing
//! from the floor file has floor 0.

use crate::runner::{CaseOutcome, FileReport};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// The upstream files the Watchfire engine is expected to pass.
pub use watchfire_promql::IN_SCOPE_TEST_FILES as IN_SCOPE_FILES;

/// A malformed floor file line.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("floor file line {line}: {msg}")]
pub struct FloorError {
    pub line: usize,
    pub msg: String,
}

/// Parses a floor file into file stem → minimum pass count.
pub fn parse_floors(text: &str) -> Result<BTreeMap<String, usize>, FloorError> {
    let mut out = BTreeMap::new();
    for (i, l) in text.lines().enumerate() {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let mut parts = l.split_whitespace();
        let (Some(name), Some(n), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(FloorError {
                line: i + 1,
                msg: format!("expected '<file> <count>', got {l:?}"),
            });
        };
        let n = n.parse().map_err(|_| FloorError {
            line: i + 1,
            msg: format!("invalid count {n:?}"),
        })?;
        out.insert(name.to_string(), n);
    }
    Ok(out)
}

/// Renders a floor file holding the current pass counts of in-scope files.
pub fn render_floors(reports: &[FileReport]) -> String {
    let mut s = String::from(
        "# Conformance floors: minimum passing evals per upstream promqltest file.\n\
         # Format: <file-stem> <min-pass>, one per line; '#' starts a comment.\n\
         # The conformance test fails if a file passes fewer evals than its floor.\n\
         # Regenerate from current results:\n\
         #   PROMQLTEST_UPDATE_FLOOR=1 CARGO_TARGET_DIR=... cargo test -p watchfire-promqltest --test conformance\n",
    );
    for r in reports
        .iter()
        .filter(|r| IN_SCOPE_FILES.contains(&r.name.as_str()))
    {
        let _ = writeln!(s, "{} {}", r.name, r.passed());
    }
    s
}

/// Files whose pass count fell below their floor, as messages.
pub fn floor_violations(floors: &BTreeMap<String, usize>, reports: &[FileReport]) -> Vec<String> {
    let mut out = Vec::new();
    for (name, &floor) in floors {
        let passed = reports
            .iter()
            .find(|r| &r.name == name)
            .map_or(0, FileReport::passed);
        if passed < floor {
            out.push(format!(
                "{name}: {passed} pass is below the floor of {floor}"
            ));
        }
    }
    out
}

/// The full report: per-file summaries, up to `max_failures` failing cases
/// per file (all when `None`), totals and the in-scope pass percentage.
pub fn render_report(reports: &[FileReport], max_failures: Option<usize>) -> String {
    let mut s = String::new();
    for r in reports {
        let _ = writeln!(s, "{}", r.summary());
        let limit = max_failures.unwrap_or(usize::MAX);
        for c in r.failures().take(limit) {
            if let CaseOutcome::Fail(why) = &c.outcome {
                let _ = writeln!(
                    s,
                    "    line {}: {}\n        {}",
                    c.line,
                    c.expr,
                    truncate(why, 400)
                );
            }
        }
        if r.failed() > limit {
            let _ = writeln!(
                s,
                "    ... {} more failures (PROMQLTEST_VERBOSE=1 shows all)",
                r.failed() - limit
            );
        }
    }
    let total = |f: fn(&FileReport) -> usize, scope: bool| -> usize {
        reports
            .iter()
            .filter(|r| !scope || IN_SCOPE_FILES.contains(&r.name.as_str()))
            .map(f)
            .sum()
    };
    let _ = writeln!(
        s,
        "TOTAL: {} pass, {} fail, {} skip",
        total(FileReport::passed, false),
        total(FileReport::failed, false),
        total(FileReport::skipped, false)
    );
    let (p, f, k) = (
        total(FileReport::passed, true),
        total(FileReport::failed, true),
        total(FileReport::skipped, true),
    );
    let pct = if p + f == 0 {
        0.0
    } else {
        100.0 * p as f64 / (p + f) as f64
    };
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for r in reports
        .iter()
        .filter(|r| IN_SCOPE_FILES.contains(&r.name.as_str()))
    {
        for (k, v) in r.skip_reasons() {
            *reasons.entry(k).or_insert(0) += v;
        }
    }
    let reasons: Vec<String> = reasons.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let _ = writeln!(
        s,
        "IN-SCOPE: {p} pass, {f} fail => {pct:.1}% passing (skips excluded: {k} [{}])",
        reasons.join(", ")
    );
    s
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let t: String = s.chars().take(n).collect();
        format!("{t}...")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::CaseResult;

    fn report(name: &str, outcomes: &[CaseOutcome]) -> FileReport {
        FileReport {
            name: name.into(),
            cases: outcomes
                .iter()
                .enumerate()
                .map(|(i, o)| CaseResult {
                    line: i + 1,
                    expr: format!("q{i}"),
                    outcome: o.clone(),
                })
                .collect(),
        }
    }

    #[test]
    fn floors_roundtrip_and_violations() {
        let reports = vec![
            report(
                "functions",
                &[
                    CaseOutcome::Pass,
                    CaseOutcome::Pass,
                    CaseOutcome::Fail("x".into()),
                ],
            ),
            report("info", &[CaseOutcome::Skip("experimental:info".into())]),
            report("selectors", &[CaseOutcome::Fail("y".into())]),
        ];
        let text = render_floors(&reports);
        let floors = parse_floors(&text).unwrap();
        assert_eq!(floors.get("functions"), Some(&2));
        assert_eq!(floors.get("selectors"), Some(&0));
        assert_eq!(floors.get("info"), None);
        assert!(floor_violations(&floors, &reports).is_empty());
        let raised = parse_floors("functions 3\n# c\n\nselectors 0\naggregators 1\n").unwrap();
        assert_eq!(
            floor_violations(&raised, &reports),
            vec![
                "aggregators: 0 pass is below the floor of 1".to_string(),
                "functions: 2 pass is below the floor of 3".to_string()
            ]
        );
        assert_eq!(parse_floors("functions\n").unwrap_err().line, 1);
        assert_eq!(parse_floors("\nfunctions x\n").unwrap_err().line, 2);
    }

    #[test]
    fn report_table() {
        let reports = vec![
            report(
                "functions",
                &[
                    CaseOutcome::Pass,
                    CaseOutcome::Fail("boom".into()),
                    CaseOutcome::Fail("bang".into()),
                ],
            ),
            report("info", &[CaseOutcome::Skip("experimental:info".into())]),
            report(
                "selectors",
                &[
                    CaseOutcome::Skip("native-histogram-data".into()),
                    CaseOutcome::Pass,
                ],
            ),
        ];
        let out = render_report(&reports, Some(1));
        assert!(out.contains("functions: 1 pass, 2 fail, 0 skip\n"), "{out}");
        assert!(out.contains("line 2: q1\n        boom\n"), "{out}");
        assert!(!out.contains("bang"), "{out}");
        assert!(out.contains("... 1 more failures"), "{out}");
        assert!(
            out.contains("info: 0 pass, 0 fail, 1 skip (reasons: experimental:info=1)"),
            "{out}"
        );
        assert!(out.contains("TOTAL: 2 pass, 2 fail, 2 skip"), "{out}");
        assert!(out.contains("IN-SCOPE: 2 pass, 2 fail => 50.0% passing (skips excluded: 1 [native-histogram-data=1])"), "{out}");
        assert!(render_report(&reports, None).contains("bang"));
    }
}
