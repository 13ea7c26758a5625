//! Runs a promqltest script against the Watchfire engine.
//!
//! Every `eval` becomes one case with an outcome: pass, fail (with a short
//! reason) or skip (with a named reason). Skipped: whole files exercising
//! experimental features, evals whose expected output holds native
//! histograms, and evals whose query names a metric loaded with native
//! histogram values or via `load_with_nhcb` since the last `clear`, or
//! that turn out to read native histogram samples while evaluating.
//!
//! Like upstream, an instant query is also re-run as a range query from
//! `t-1m` to `t+1m` (step 1m) and its middle step compared again ("range
//! mode"), unless `expect range vector`/`expect string` is used or the
//! query calls `start()`, `end()`, `range()` or `step()`. Instant queries
//! are also re-run with `@` pinned at other times (see [`crate::step_invariance`]).
//!
//! Engine panics are caught and reported as failures.

use crate::compare::{check_annotations, check_expected_failure, compare_result, Mismatch};
use crate::notation::{to_series, SeriesValue};
use crate::script::{parse_script, Command, EvalCmd, EvalKind, LoadCmd};
use crate::step_invariance::at_modifier_variants;
use regex::Regex;
use std::collections::{BTreeMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::LazyLock;
use watchfire_promql::eval::{Engine, EngineOptions, Value, VectorSample};
use watchfire_promql::labels::Matcher;
use watchfire_promql::storage::{MemStorage, Series, Storage};

/// Files (by stem) that only exercise experimental features Watchfire does
/// not implement; all their evals are skipped.
pub const OUT_OF_SCOPE_FILES: &[&str] = &[
    "fill-modifier",
    "extended_vectors",
    "duration_expression",
    "info",
    "type_and_unit",
    "start_timestamps",
    "limit",
];

/// How to run scripts.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub engine: EngineOptions,
    /// Re-check instant queries in range mode, as upstream does.
    pub range_check: bool,
    /// Re-run instant queries with `@` pinned at other times, as upstream does.
    pub step_invariance: bool,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            engine: EngineOptions::default(),
            range_check: true,
            step_invariance: true,
        }
    }
}

/// The outcome of one eval (or of an unparsable command).
#[derive(Debug, Clone, PartialEq)]
pub enum CaseOutcome {
    Pass,
    Fail(String),
    Skip(String),
}

#[derive(Debug, Clone, PartialEq)]
pub struct CaseResult {
    /// 1-based line of the command in the script.
    pub line: usize,
    pub expr: String,
    pub outcome: CaseOutcome,
}

/// All cases of one script.
#[derive(Debug, Clone, PartialEq)]
pub struct FileReport {
    pub name: String,
    pub cases: Vec<CaseResult>,
}

impl FileReport {
    fn count(&self, f: impl Fn(&CaseOutcome) -> bool) -> usize {
        self.cases.iter().filter(|c| f(&c.outcome)).count()
    }

    pub fn passed(&self) -> usize {
        self.count(|o| matches!(o, CaseOutcome::Pass))
    }

    pub fn failed(&self) -> usize {
        self.count(|o| matches!(o, CaseOutcome::Fail(_)))
    }

    pub fn skipped(&self) -> usize {
        self.count(|o| matches!(o, CaseOutcome::Skip(_)))
    }

    /// Skip reason → count.
    pub fn skip_reasons(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for c in &self.cases {
            if let CaseOutcome::Skip(r) = &c.outcome {
                *m.entry(r.clone()).or_insert(0) += 1;
            }
        }
        m
    }

    pub fn failures(&self) -> impl Iterator<Item = &CaseResult> {
        self.cases
            .iter()
            .filter(|c| matches!(c.outcome, CaseOutcome::Fail(_)))
    }

    /// `name: N pass, N fail, N skip (reasons: r=n, ...)`.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{}: {} pass, {} fail, {} skip",
            self.name,
            self.passed(),
            self.failed(),
            self.skipped()
        );
        let reasons = self.skip_reasons();
        if !reasons.is_empty() {
            let r: Vec<String> = reasons.iter().map(|(k, v)| format!("{k}={v}")).collect();
            s += &format!(" (reasons: {})", r.join(", "));
        }
        s
    }
}

/// What a metric name was loaded with, for skip decisions.
#[derive(Default)]
struct State {
    storage: MemStorage,
    native_hist: HashSet<String>,
    nhcb: HashSet<String>,
}

impl State {
    fn load(&mut self, cmd: &LoadCmd) {
        for (labels, values) in &cmd.series {
            let name = labels.metric_name().to_string();
            if values
                .iter()
                .any(|v| matches!(v, SeriesValue::Histogram { .. }))
            {
                self.native_hist.insert(name.clone());
            }
            if cmd.with_nhcb {
                for suffix in ["_bucket", "_count", "_sum"] {
                    if let Some(base) = name.strip_suffix(suffix) {
                        self.nhcb.insert(base.to_string());
                    }
                }
            }
            let new = to_series(labels.clone(), values, 0, cmd.interval_ms);
            match self.storage.series.iter_mut().find(|s| s.labels == *labels) {
                Some(existing) => merge(existing, new),
                None => self.storage.series.push(new),
            }
        }
    }
}

/// Adds `new`'s samples to `into`, replacing samples at equal timestamps.
fn merge(into: &mut Series, new: Series) {
    for s in new.samples {
        match into.samples.binary_search_by_key(&s.t, |p| p.t) {
            Ok(i) => into.samples[i] = s,
            Err(i) => into.samples.insert(i, s),
        }
    }
    for h in new.histograms {
        match into.histograms.binary_search_by_key(&h.t, |p| p.t) {
            Ok(i) => into.histograms[i] = h,
            Err(i) => into.histograms.insert(i, h),
        }
    }
}

/// Storage that notes whether a query read any native histogram sample
/// (such evals are skipped even when no metric name gave them away).
struct TrackingStorage<'a> {
    inner: &'a MemStorage,
    saw_histograms: AtomicBool,
}

impl Storage for TrackingStorage<'_> {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<Series> {
        let out = self.inner.select(matchers, mint, maxt);
        if out.iter().any(|s| !s.histograms.is_empty()) {
            self.saw_histograms.store(true, Ordering::Relaxed);
        }
        out
    }
}

/// Identifier-like tokens of a query (metric names, label values, ...).
fn tokens(q: &str) -> HashSet<&str> {
    q.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
        .filter(|t| !t.is_empty())
        .collect()
}

fn skip_reason(file_stem: &str, state: &State, cmd: &EvalCmd) -> Option<String> {
    if OUT_OF_SCOPE_FILES.contains(&file_stem) {
        return Some(format!("experimental:{file_stem}"));
    }
    if cmd.expects_histograms() {
        return Some("native-histogram-result".into());
    }
    let toks = tokens(&cmd.expr);
    if toks.iter().any(|t| state.native_hist.contains(*t)) {
        return Some("native-histogram-data".into());
    }
    if toks.iter().any(|t| state.nhcb.contains(*t)) {
        return Some("load_with_nhcb".into());
    }
    None
}

/// Parses and runs `text` (a `.test` file whose stem is `name`).
pub fn run_script(name: &str, text: &str, opts: &RunOptions) -> FileReport {
    let script = parse_script(text);
    let engine = Engine::new(opts.engine.clone());
    let mut state = State::default();
    let mut cases = Vec::new();
    for cmd in &script.commands {
        match cmd {
            Command::Load(l) => state.load(l),
            Command::Clear { .. } => state = State::default(),
            Command::Invalid(e) => cases.push(CaseResult {
                line: e.line,
                expr: String::new(),
                outcome: if OUT_OF_SCOPE_FILES.contains(&name) {
                    CaseOutcome::Skip(format!("experimental:{name}"))
                } else {
                    CaseOutcome::Fail(format!("script error: {e}"))
                },
            }),
            Command::Eval(ev) => {
                let outcome = match skip_reason(name, &state, ev) {
                    Some(r) => CaseOutcome::Skip(r),
                    None => {
                        let storage = TrackingStorage {
                            inner: &state.storage,
                            saw_histograms: AtomicBool::new(false),
                        };
                        let run = catch_unwind(AssertUnwindSafe(|| {
                            run_eval(&engine, &storage, ev, opts)
                        }));
                        match run {
                            _ if storage.saw_histograms.load(Ordering::Relaxed) => {
                                CaseOutcome::Skip("native-histogram-data".into())
                            }
                            Ok(Ok(())) => CaseOutcome::Pass,
                            Ok(Err(m)) => CaseOutcome::Fail(m.0),
                            Err(p) => {
                                CaseOutcome::Fail(format!("engine panicked: {}", panic_text(&*p)))
                            }
                        }
                    }
                };
                cases.push(CaseResult {
                    line: ev.line,
                    expr: ev.expr.clone(),
                    outcome,
                });
            }
        }
    }
    FileReport {
        name: name.to_string(),
        cases,
    }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "<non-string panic>".into())
}

static QUERY_CONTEXT_FUNCS: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    Regex::new(r"(start|end|range|step)\(\)").expect("constant regex")
});

fn mismatch(prefix: &str, m: Mismatch) -> Mismatch {
    Mismatch(format!("{prefix}{}", m.0))
}

fn run_eval(
    engine: &Engine,
    storage: &dyn Storage,
    cmd: &EvalCmd,
    opts: &RunOptions,
) -> Result<(), Mismatch> {
    match cmd.kind {
        EvalKind::Range { start, end, step } => run_range(engine, storage, cmd, start, end, step),
        EvalKind::Instant { t } => {
            run_instant(engine, storage, cmd, &cmd.expr, t, opts)?;
            if !opts.step_invariance {
                return Ok(());
            }
            let Ok(expr) = watchfire_promql::parse(&cmd.expr) else {
                return Ok(());
            };
            let Some((query, times)) = at_modifier_variants(&expr, t) else {
                return Ok(());
            };
            for et in times {
                run_instant(engine, storage, cmd, &query, et, opts)
                    .map_err(|m| mismatch(&format!("@ variant `{query}` at {et}ms: "), m))?;
            }
            Ok(())
        }
    }
}

/// The error-expectation check shared by instant and range evals.
fn on_error(cmd: &EvalCmd, err: String, what: &str) -> Result<(), Mismatch> {
    if cmd.is_fail() {
        check_expected_failure(cmd, &err)
    } else {
        Err(Mismatch(format!("{what}: {err}")))
    }
}

fn run_range(
    engine: &Engine,
    storage: &dyn Storage,
    cmd: &EvalCmd,
    start: i64,
    end: i64,
    step: i64,
) -> Result<(), Mismatch> {
    let expr = match watchfire_promql::parse(&cmd.expr) {
        Ok(e) => e,
        Err(e) => return on_error(cmd, e.to_string(), "parse error"),
    };
    let res = match engine.range(storage, &expr, start, end, step) {
        Ok(r) => r,
        Err(e) => return on_error(cmd, e.to_string(), "error evaluating query"),
    };
    if cmd.is_fail() {
        return Err(Mismatch(
            "expected error evaluating query but got none".into(),
        ));
    }
    check_annotations(cmd, &res.annotations, &cmd.expr)?;
    compare_result(cmd, &res.value)
}

/// One instant evaluation of `query` at `t`, plus its range-mode re-check.
fn run_instant(
    engine: &Engine,
    storage: &dyn Storage,
    cmd: &EvalCmd,
    query: &str,
    t: i64,
    opts: &RunOptions,
) -> Result<(), Mismatch> {
    let expr = match watchfire_promql::parse(query) {
        Ok(e) => e,
        Err(e) => return on_error(cmd, e.to_string(), "parse error"),
    };
    let res = match engine.instant(storage, &expr, t) {
        Ok(r) => r,
        Err(e) => return on_error(cmd, e.to_string(), "error evaluating query"),
    };
    if cmd.is_fail() {
        return Err(Mismatch(
            "expected error evaluating query but got none".into(),
        ));
    }
    check_annotations(cmd, &res.annotations, query)?;
    compare_result(cmd, &res.value)?;
    if !opts.range_check || cmd.exclude_from_range_query || QUERY_CONTEXT_FUNCS.is_match(query) {
        return Ok(());
    }
    let rr = engine
        .range(storage, &expr, t - 60_000, t + 60_000, 60_000)
        .map_err(|e| Mismatch(format!("error evaluating query in range mode: {e}")))?;
    if cmd.is_ordered() {
        return Ok(());
    }
    let Value::Matrix(mat) = rr.value else {
        return Err(Mismatch(
            "range mode: range query did not return a matrix".into(),
        ));
    };
    if mat.windows(2).any(|w| w[0].labels > w[1].labels) {
        return Err(Mismatch(
            "range mode: matrix results should always be sorted by labels".into(),
        ));
    }
    let vec = points_at(&mat, t);
    let as_instant = match res.value {
        Value::Scalar { .. } => match vec.first() {
            Some(s) => Value::Scalar { t, v: s.v },
            None => {
                return Err(Mismatch(
                    "range mode: scalar query returned no point".into(),
                ))
            }
        },
        _ => Value::Vector(vec),
    };
    compare_result(cmd, &as_instant).map_err(|m| mismatch("range mode: ", m))
}

/// The samples of a range result at exactly `t`, as an instant vector.
fn points_at(mat: &[Series], t: i64) -> Vec<VectorSample> {
    let mut out = Vec::new();
    for s in mat {
        if let Some(p) = s.samples.iter().find(|p| p.t == t) {
            out.push(VectorSample {
                labels: s.labels.clone(),
                t,
                v: p.v,
                h: None,
            });
        }
        if let Some(p) = s.histograms.iter().find(|p| p.t == t) {
            out.push(VectorSample {
                labels: s.labels.clone(),
                t,
                v: 0.0,
                h: Some(p.h.clone()),
            });
        }
    }
    out
}

#[cfg(test)]
#[path = "runner_tests.rs"]
mod tests;
