//! Running one test file and its test groups (upstream's `ruleUnitTest`
//! and `testGroup.test`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use watchfire_promqltest::NotationError;
use watchfire_rulefmt::{format_duration, ParseOptions, RuleFile};

use super::compare::{check_promql, walk_features};
use super::file::{self, AlertTestCase, TestFile, TestGroup};
use super::format::{alerts_string, indent_lines, LabelsAndAnnotations};
use super::storage::TestStorage;
use super::{FileOutcome, PromtoolError, TestOptions};
use crate::rules::load::group_specs;
use crate::rules::{EvalOptions, Group};

/// What every test group of a file shares.
struct FileCtx<'a> {
    eval_interval: i64,
    order: HashMap<String, usize>,
    /// Parsed rule files, or the load errors every test group reports.
    rules: Result<Vec<RuleFile>, Vec<String>>,
    fuzzy: bool,
    opts: &'a TestOptions,
}

pub(super) fn run_file(
    path: &Path,
    opts: &TestOptions,
    run: Option<&regex::Regex>,
    outcome: &mut FileOutcome,
) -> Result<(), PromtoolError> {
    let text = std::fs::read_to_string(path).map_err(|source| PromtoolError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let tf: TestFile = file::parse_test_file(&text)?;
    let base = path.parent().unwrap_or(Path::new(""));
    let rule_paths = file::resolve_rule_files(
        base,
        tf.rule_files.as_deref().unwrap_or_default(),
        &mut outcome.warnings,
    )?;
    let mut eval_interval =
        file::duration("evaluation_interval", tf.evaluation_interval.as_deref())?;
    if eval_interval <= 0 {
        eval_interval = 60_000;
    }
    let mut order = HashMap::new();
    for (i, g) in tf.group_eval_order.iter().flatten().enumerate() {
        if order.insert(g.clone(), i).is_some() {
            return Err(PromtoolError::RepeatedGroup(g.clone()));
        }
    }
    let mut ctx = FileCtx {
        eval_interval,
        order,
        rules: Ok(Vec::new()),
        fuzzy: tf.fuzzy_compare.unwrap_or(false),
        opts,
    };
    let mut rules_loaded = false;
    for tg in tf.tests.iter().flatten() {
        let name = tg.name.as_deref().unwrap_or("");
        if run.is_some_and(|r| !r.is_match(name)) {
            continue;
        }
        if !rules_loaded {
            ctx.rules = load_rule_files(&rule_paths, opts);
            rules_loaded = true;
        }
        outcome.errors.extend(run_group(tg, &ctx));
    }
    Ok(())
}

fn load_rule_files(paths: &[PathBuf], opts: &TestOptions) -> Result<Vec<RuleFile>, Vec<String>> {
    let popts = ParseOptions {
        ignore_unknown_fields: opts.ignore_unknown_fields,
        ..ParseOptions::default()
    };
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for p in paths {
        let shown = p.display().to_string();
        let text = match std::fs::read_to_string(p) {
            Ok(t) => t,
            Err(e) => {
                errors.push(format!("{shown}: {e}"));
                continue;
            }
        };
        match watchfire_rulefmt::parse_rule_file_with(&shown, &text, &popts) {
            Ok(f) => {
                for g in &f.groups {
                    for r in &g.rules {
                        if let Err(msg) = walk_features(&r.expr, opts) {
                            errors.push(format!(
                                "{shown}:{}: group {:?}, rule {:?}: {msg}",
                                r.pos,
                                g.name,
                                r.name()
                            ));
                        }
                    }
                }
                files.push(f);
            }
            Err(es) => errors.extend(es.errors().iter().map(|e| e.to_string())),
        }
    }
    if errors.is_empty() {
        Ok(files)
    } else {
        Err(errors)
    }
}

/// Why a test group could not run at all (its one failure message).
#[derive(Debug, thiserror::Error)]
enum GroupError {
    /// A bad `interval`, `start_timestamp` or `eval_time`.
    #[error(transparent)]
    Field(#[from] PromtoolError),
    /// An `input_series` line that does not parse.
    #[error("    input_series: parsing {line:?}: {source}")]
    InputSeries {
        /// The series and values, trimmed.
        line: String,
        source: NotationError,
    },
    /// The rule files did not load; one message per problem.
    #[error("{}", .0.join("\n"))]
    RuleFiles(Vec<String>),
    /// An `alert_rule_test` item without `alertname`.
    #[error(
        "an item under alert_rule_test misses required attribute alertname at eval_time {}{}",
        format_duration(*.eval_time),
        .group.as_ref().map(|n| format!(" (in TestGroup {n})")).unwrap_or_default()
    )]
    MissingAlertname {
        /// The item's `eval_time` (ms).
        eval_time: i64,
        /// The test group's name, if it has one.
        group: Option<String>,
    },
}

/// Runs one test group; returns its failure messages.
fn run_group(tg: &TestGroup, ctx: &FileCtx<'_>) -> Vec<String> {
    match run_group_inner(tg, ctx) {
        Ok(errs) => errs,
        Err(e) => vec![e.to_string()],
    }
}

fn run_group_inner(tg: &TestGroup, ctx: &FileCtx<'_>) -> Result<Vec<String>, GroupError> {
    let mut interval = file::duration("interval", tg.interval.as_deref())?;
    if interval <= 0 {
        interval = ctx.eval_interval;
    }
    let start = file::start_timestamp(tg.start_timestamp.as_deref())?;

    let mut storage = TestStorage::default();
    for s in tg.input_series.iter().flatten() {
        let line = format!(
            "{} {}",
            s.series.as_deref().unwrap_or(""),
            s.values.as_deref().unwrap_or("")
        );
        let (labels, values) =
            watchfire_promqltest::parse_series_line(&line).map_err(|source| {
                GroupError::InputSeries {
                    line: line.trim().to_string(),
                    source,
                }
            })?;
        storage.add_input(labels, &values, start, interval);
    }

    let files = ctx
        .rules
        .as_ref()
        .map_err(|errs| GroupError::RuleFiles(errs.clone()))?;
    let opts = Arc::new(EvalOptions {
        external_labels: tg.external_labels.clone().unwrap_or_default(),
        external_url: tg.external_url.clone().unwrap_or_default(),
        ..EvalOptions::default()
    });
    let mut specs: Vec<_> = files
        .iter()
        .flat_map(|f| group_specs(f, interval, 0))
        .collect();
    // Groups named in group_eval_order run in that order; others count as 0.
    specs.sort_by_key(|g| ctx.order.get(&g.name).copied().unwrap_or(0));
    let mut groups: Vec<Group> = specs
        .into_iter()
        .map(|s| Group::new(s, opts.clone()))
        .collect();

    let group_log = tg.name.as_deref().filter(|n| !n.is_empty());
    let mut alert_tests: BTreeMap<i64, Vec<(&AlertTestCase, i64)>> = BTreeMap::new();
    for at in tg.alert_rule_test.iter().flatten() {
        let t = file::duration("eval_time", at.eval_time.as_deref())?;
        if at.alertname.as_deref().unwrap_or("").is_empty() {
            return Err(GroupError::MissingAlertname {
                eval_time: t,
                group: group_log.map(str::to_string),
            });
        }
        alert_tests.entry(t).or_default().push((at, t));
    }
    let mut promql_times = Vec::new();
    for pt in tg.promql_expr_test.iter().flatten() {
        promql_times.push(file::duration("eval_time", pt.eval_time.as_deref())?);
    }
    let max_rel = alert_tests
        .keys()
        .chain(promql_times.iter())
        .copied()
        .max()
        .unwrap_or(0);

    let mut errs = Vec::new();
    let alert_times: Vec<i64> = alert_tests.keys().copied().collect();
    let mut curr = 0;
    let mut rel = 0i64;
    while rel <= max_rel {
        let ts = start + rel;
        storage.load_till(ts);
        let mut eval_errs = Vec::new();
        for g in &mut groups {
            let out = g.eval(&mut storage, ts);
            for r in &out.rules {
                if let Some(e) = &r.error {
                    eval_errs.push(format!(
                        "    rule: {}, time: {}, err: {e}",
                        r.name,
                        watchfire_promql::duration::go_duration_string(
                            ts.saturating_mul(1_000_000)
                        )
                    ));
                }
            }
        }
        if !eval_errs.is_empty() {
            errs.extend(eval_errs);
            return Ok(errs);
        }
        while curr < alert_times.len()
            && rel <= alert_times[curr]
            && alert_times[curr] < rel + ctx.eval_interval
        {
            let t = alert_times[curr];
            for (tc, _) in &alert_tests[&t] {
                if let Some(e) = check_alerts(tc, t, &groups, group_log) {
                    errs.push(e);
                }
            }
            curr += 1;
        }
        rel += ctx.eval_interval;
    }

    for (pt, rel_t) in tg.promql_expr_test.iter().flatten().zip(promql_times) {
        if let Some(e) = check_promql(pt, start + rel_t, rel_t, &storage, ctx.fuzzy, ctx.opts) {
            errs.push(e);
        }
    }
    Ok(errs)
}

/// Compares the firing alerts named by `tc` with the expected ones.
fn check_alerts(
    tc: &AlertTestCase,
    t: i64,
    groups: &[Group],
    group_name: Option<&str>,
) -> Option<String> {
    let name = tc.alertname.as_deref().unwrap_or("");
    let mut got: Vec<LabelsAndAnnotations> = groups
        .iter()
        .flat_map(|g| g.firing_alerts(Some(name)))
        .map(|a| (a.labels, a.annotations))
        .collect();
    let mut exp: Vec<LabelsAndAnnotations> = tc
        .exp_alerts
        .iter()
        .flatten()
        .map(|a| {
            let mut l: BTreeMap<String, String> = a.exp_labels.clone().unwrap_or_default();
            l.insert("alertname".into(), name.to_string());
            (l, a.exp_annotations.clone().unwrap_or_default())
        })
        .collect();
    got.sort();
    exp.sort();
    if got == exp {
        return None;
    }
    let test_name = group_name
        .map(|n| format!("    name: {n},\n"))
        .unwrap_or_default();
    Some(format!(
        "{test_name}    alertname: {name}, time: {}, \n        exp:{}, \n        got:{}",
        format_duration(t),
        indent_lines(&alerts_string(&exp), "            "),
        indent_lines(&alerts_string(&got), "            ")
    ))
}
