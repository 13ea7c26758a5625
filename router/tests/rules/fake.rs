//! Test helpers: a tiny query engine that understands `metric`,
//! `metric OP number` and `vector(N)` (so rule tests do not depend on the
//! PromQL evaluator), and builders for rule specs.

use std::collections::BTreeMap;
use std::sync::Arc;

use watchfire_promql::ast::Span;
use watchfire_promql::eval::VectorSample;
use watchfire_promql::labels::{MatchOp, Matcher};
use watchfire_promql::storage::{is_stale_nan, MemStorage};
use watchfire_promql::{Expr, Labels, Storage};
use watchfire_router::rules::{
    EvalOptions, GroupSpec, QueryEngine, QueryError, RuleSpec, RuleSpecKind, RuleStorage,
};

const LOOKBACK: i64 = 5 * 60 * 1000;

/// Understands `name`, `name > 1`, `name == 0` etc. and `vector(N)`.
pub struct FakeEngine;

impl QueryEngine for FakeEngine {
    fn query(
        &self,
        storage: &dyn Storage,
        _expr: &Expr,
        text: &str,
        t: i64,
    ) -> Result<Vec<VectorSample>, QueryError> {
        self.query_text(storage, text, t)
    }

    fn query_text(
        &self,
        storage: &dyn Storage,
        text: &str,
        t: i64,
    ) -> Result<Vec<VectorSample>, QueryError> {
        let parts: Vec<&str> = text.split_whitespace().collect();
        if let Some(n) = text
            .strip_prefix("vector(")
            .and_then(|s| s.strip_suffix(')'))
        {
            let v: f64 = n
                .parse()
                .map_err(|_| QueryError::Parse(format!("bad number {n}")))?;
            return Ok(vec![VectorSample {
                labels: Labels::empty(),
                t,
                v,
                h: None,
            }]);
        }
        if parts.is_empty() || parts[0] == "fail" {
            return Err(QueryError::Eval("scripted failure".into()));
        }
        let m = Matcher::new(MatchOp::Equal, "__name__", parts[0])
            .map_err(|e| QueryError::Parse(e.to_string()))?;
        let filter: Option<(&str, f64)> = match parts.as_slice() {
            [_, op, n] => Some((
                op,
                n.parse()
                    .map_err(|_| QueryError::Parse(format!("bad number {n}")))?,
            )),
            _ => None,
        };
        let mut out = Vec::new();
        for s in storage.select(&[m], t - LOOKBACK + 1, t) {
            let Some(last) = s.samples.last() else {
                continue;
            };
            if is_stale_nan(last.v) {
                continue;
            }
            let keep = match filter {
                None => true,
                Some((">", n)) => last.v > n,
                Some(("<", n)) => last.v < n,
                Some(("==", n)) => last.v == n,
                Some((op, _)) => return Err(QueryError::Parse(format!("bad op {op}"))),
            };
            if keep {
                out.push(VectorSample {
                    labels: s.labels.clone(),
                    t,
                    v: last.v,
                    h: None,
                });
            }
        }
        Ok(out)
    }
}

pub fn opts() -> Arc<EvalOptions> {
    Arc::new(EvalOptions {
        engine: Arc::new(FakeEngine),
        external_labels: BTreeMap::from([("cluster".to_string(), "eu1".to_string())]),
        external_url: "http://router:9090".into(),
        resend_delay_ms: 60_000,
    })
}

fn dummy_expr() -> Arc<Expr> {
    Arc::new(Expr::Number {
        val: 0.0,
        span: Span::default(),
    })
}

pub fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn recording(record: &str, expr: &str, labels: &[(&str, &str)]) -> RuleSpec {
    RuleSpec {
        kind: RuleSpecKind::Recording {
            record: record.into(),
        },
        expr: dummy_expr(),
        expr_text: expr.into(),
        labels: map(labels),
    }
}

pub fn alerting(
    alert: &str,
    expr: &str,
    for_ms: i64,
    keep_ms: i64,
    labels: &[(&str, &str)],
    ann: &[(&str, &str)],
) -> RuleSpec {
    RuleSpec {
        kind: RuleSpecKind::Alerting {
            alert: alert.into(),
            for_ms,
            keep_firing_for_ms: keep_ms,
            annotations: map(ann),
        },
        expr: dummy_expr(),
        expr_text: expr.into(),
        labels: map(labels),
    }
}

pub fn group(name: &str, interval_ms: i64, limit: usize, rules: Vec<RuleSpec>) -> GroupSpec {
    GroupSpec {
        file: "test.yml".into(),
        name: name.into(),
        interval_ms,
        query_offset_ms: 0,
        limit,
        rules,
    }
}

/// Parses `name{a="b",c="d"}` (no spaces or commas inside values).
pub fn labels(s: &str) -> Labels {
    let (name, rest) = s.split_once('{').unwrap_or((s, "}"));
    let mut pairs = vec![("__name__".to_string(), name.to_string())];
    for kv in rest
        .trim_end_matches('}')
        .split(',')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = kv.split_once('=').expect("label pair");
        pairs.push((k.to_string(), v.trim_matches('"').to_string()));
    }
    Labels::new(pairs)
}

/// The sample of `series` at exactly `t`, if any.
pub fn sample_at(st: &MemStorage, series: &str, t: i64) -> Option<f64> {
    let l = labels(series);
    st.series
        .iter()
        .find(|s| s.labels == l)?
        .samples
        .iter()
        .find(|p| p.t == t)
        .map(|p| p.v)
}

pub fn push(st: &mut MemStorage, series: &str, t: i64, v: f64) {
    st.append(&labels(series), t, v);
}
