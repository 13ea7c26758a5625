//! Semantic validation of decoded rule groups, following Prometheus'
//! `rulefmt.RuleGroups.Validate` / `Rule.Validate` check by check and in the
//! same order, but with a position on every error (upstream gives none for
//! label, annotation and template errors, and `0:0` for missing fields).

use std::collections::{BTreeMap, HashSet};

use crate::decode::{Field, RawGroup, RawRule, Str, StrMap};
use crate::duration::parse_duration;
use crate::error::{ErrorKind, Problem, RuleError};
use crate::types::{Pos, Rule, RuleGroup, RuleKind};
use crate::yaml::Style;
use crate::{NameValidation, ParseOptions};

pub(crate) struct Validator<'a> {
    pub path: &'a str,
    pub text: &'a str,
    pub opts: &'a ParseOptions,
    pub errors: Vec<RuleError>,
}

fn is_legacy_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_legacy_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl NameValidation {
    /// Whether `name` is a valid metric name under this scheme.
    pub fn is_valid_metric_name(self, name: &str) -> bool {
        match self {
            NameValidation::Utf8 => !name.is_empty(),
            NameValidation::Legacy => is_legacy_metric_name(name),
        }
    }

    /// Whether `name` is a valid label name under this scheme.
    pub fn is_valid_label_name(self, name: &str) -> bool {
        match self {
            NameValidation::Utf8 => !name.is_empty(),
            NameValidation::Legacy => is_legacy_label_name(name),
        }
    }
}

fn to_map(m: Option<&StrMap>) -> BTreeMap<String, String> {
    m.map(|m| {
        m.iter()
            .map(|(k, v)| (k.value.clone(), v.value.clone()))
            .collect()
    })
    .unwrap_or_default()
}

/// Maps a byte offset inside a scalar's value to its position in the file,
/// when the scalar's text appears verbatim in the source (plain or quoted
/// single-line scalars without escapes, literal blocks). Falls back to the
/// scalar's own position.
pub(crate) fn offset_pos(text: &str, s: &Str, offset: usize) -> Pos {
    let fallback = s.pos;
    // An error at the very end ("unexpected end of input") points just
    // past the last non-blank character rather than at a trailing newline.
    let offset = offset.min(s.value.trim_end().len());
    let Some(before) = s.value.get(..offset) else {
        return fallback;
    };
    let (line_idx, line_start) = match before.rfind('\n') {
        Some(i) => (before.matches('\n').count(), i + 1),
        None => (0, 0),
    };
    let (skip, ok_style) = match s.style {
        Style::Plain => (0, line_idx == 0),
        Style::SingleQuoted | Style::DoubleQuoted => (1, line_idx == 0),
        Style::Literal => (0, true),
        Style::Folded => (0, false),
    };
    if !ok_style {
        return fallback;
    }
    let value_line = s.value[line_start..].split('\n').next().unwrap_or("");
    let Some(src_line) = text.lines().nth(s.pos.line - 1 + line_idx) else {
        return fallback;
    };
    let from: String = src_line.chars().skip(s.pos.col - 1 + skip).collect();
    if !from.starts_with(value_line) {
        return fallback;
    }
    Pos {
        line: s.pos.line + line_idx,
        col: s.pos.col + skip + before[line_start..].chars().count(),
    }
}

impl<'a> Validator<'a> {
    fn err(&mut self, pos: Pos, kind: ErrorKind) {
        self.errors.push(RuleError {
            path: self.path.to_string(),
            pos,
            kind,
        });
    }

    fn duration(
        &mut self,
        f: &Field<Str>,
        field: &'static str,
        mk: &dyn Fn(Problem) -> ErrorKind,
    ) -> Option<i64> {
        let s = f.present()?;
        match parse_duration(&s.value) {
            Ok(ms) => Some(ms),
            Err(error) => {
                self.err(s.pos, mk(Problem::Duration { field, error }));
                None
            }
        }
    }

    pub fn groups(&mut self, raw: &[RawGroup]) -> Vec<RuleGroup> {
        let mut seen = HashSet::new();
        let mut out = Vec::with_capacity(raw.len());
        for g in raw {
            let name = g
                .name
                .present()
                .map(|s| s.value.clone())
                .unwrap_or_default();
            if name.is_empty() && g.name != Field::Bad {
                self.err(g.pos, ErrorKind::EmptyGroupName);
            }
            if !seen.insert(name.clone()) {
                self.err(g.pos, ErrorKind::DuplicateGroup(name.clone()));
            }
            let gk = |problem| ErrorKind::Group {
                group: name.clone(),
                problem,
            };
            let interval_ms = self
                .duration(&g.interval, "interval", &gk)
                .filter(|ms| *ms != 0);
            let query_offset_ms = self.duration(&g.query_offset, "query_offset", &gk);
            for (k, _) in g.labels.present().into_iter().flatten() {
                if !self.opts.names.is_valid_label_name(&k.value) || k.value == "__name__" {
                    self.err(k.pos, gk(Problem::InvalidLabelName(k.value.clone())));
                }
            }
            let rules = g
                .rules
                .iter()
                .enumerate()
                .filter_map(|(i, r)| self.rule(&name, i + 1, r))
                .collect();
            out.push(RuleGroup {
                name: name.clone(),
                interval_ms,
                query_offset_ms,
                limit: g
                    .limit
                    .present()
                    .map(|l| u64::try_from(*l).unwrap_or(0))
                    .unwrap_or(0),
                labels: to_map(g.labels.present()),
                rules,
                pos: g.pos,
            });
        }
        out
    }

    fn rule(&mut self, group: &str, index: usize, r: &RawRule) -> Option<Rule> {
        let before = self.errors.len();
        let record = r.record.present().filter(|s| !s.value.is_empty());
        let alert = r.alert.present().filter(|s| !s.value.is_empty());
        let name = alert
            .or(record)
            .map(|s| s.value.clone())
            .unwrap_or_default();
        let rk = |problem| ErrorKind::Rule {
            group: group.to_string(),
            index,
            name: name.clone(),
            problem,
        };

        let for_ms = self.duration(&r.for_, "for", &rk).unwrap_or(0);
        let keep_ms = self
            .duration(&r.keep_firing_for, "keep_firing_for", &rk)
            .unwrap_or(0);

        match (record, alert) {
            (Some(rec), Some(_)) => self.err(rec.key_pos, rk(Problem::BothRecordAndAlert)),
            (None, None) if r.record != Field::Bad && r.alert != Field::Bad => {
                self.err(r.pos, rk(Problem::NoRecordOrAlert))
            }
            _ => {}
        }

        let mut expr = None;
        match r.expr.present() {
            Some(e) if !e.value.is_empty() => match watchfire_promql::parse(&e.value) {
                Ok(parsed) => expr = Some(parsed),
                Err(pe) => {
                    let pos = offset_pos(self.text, e, pe.span.start);
                    self.err(pos, rk(Problem::BadExpr(pe.to_string())));
                }
            },
            Some(e) => self.err(e.key_pos, rk(Problem::MissingExpr)),
            None if r.expr == Field::Bad => {}
            None => self.err(r.pos, rk(Problem::MissingExpr)),
        }

        if let Some(rec) = record {
            if r.annotations.present().is_some_and(|a| !a.is_empty()) {
                let pos = r
                    .annotations
                    .present()
                    .and_then(|a| a.first())
                    .map_or(rec.key_pos, |(k, _)| k.key_pos);
                self.err(pos, rk(Problem::AnnotationsInRecording));
            }
            if for_ms != 0 {
                let pos = r.for_.present().map_or(rec.key_pos, |s| s.key_pos);
                self.err(pos, rk(Problem::ForInRecording));
            }
            if keep_ms != 0 {
                let pos = r
                    .keep_firing_for
                    .present()
                    .map_or(rec.key_pos, |s| s.key_pos);
                self.err(pos, rk(Problem::KeepFiringForInRecording));
            }
            if !self.opts.names.is_valid_metric_name(&rec.value) {
                self.err(rec.pos, rk(Problem::InvalidRecordName(rec.value.clone())));
            }
            if rec.value.contains('{') || rec.value.contains('}') {
                self.err(rec.pos, rk(Problem::BracesInRecordName(rec.value.clone())));
            }
        }

        for (k, _) in r.labels.present().into_iter().flatten() {
            if !self.opts.names.is_valid_label_name(&k.value) || k.value == "__name__" {
                self.err(k.pos, rk(Problem::InvalidLabelName(k.value.clone())));
            }
        }
        for (k, _) in r.annotations.present().into_iter().flatten() {
            if !self.opts.names.is_valid_label_name(&k.value) {
                self.err(k.pos, rk(Problem::InvalidAnnotationName(k.value.clone())));
            }
        }

        if let (Some(a), None) = (alert, record) {
            let tmpl_name = watchfire_template::alert_template_name(&a.value);
            for (k, v) in r.labels.present().into_iter().flatten() {
                if let Err(t) = crate::templates::check(&tmpl_name, &v.value) {
                    let pos = t.offset.map_or(v.pos, |o| offset_pos(self.text, v, o));
                    let name = k.value.clone();
                    self.err(
                        pos,
                        rk(Problem::LabelTemplate {
                            name,
                            error: t.message,
                        }),
                    );
                }
            }
            for (k, v) in r.annotations.present().into_iter().flatten() {
                if let Err(t) = crate::templates::check(&tmpl_name, &v.value) {
                    let pos = t.offset.map_or(v.pos, |o| offset_pos(self.text, v, o));
                    let name = k.value.clone();
                    self.err(
                        pos,
                        rk(Problem::AnnotationTemplate {
                            name,
                            error: t.message,
                        }),
                    );
                }
            }
        }

        if self.errors.len() != before {
            return None;
        }
        let kind = match (record, alert) {
            (Some(rec), None) => RuleKind::Recording {
                record: rec.value.clone(),
            },
            (None, Some(a)) => RuleKind::Alerting {
                alert: a.value.clone(),
                for_ms,
                keep_firing_for_ms: keep_ms,
                annotations: to_map(r.annotations.present()),
            },
            _ => return None,
        };
        Some(Rule {
            kind,
            expr_text: r
                .expr
                .present()
                .map(|e| e.value.clone())
                .unwrap_or_default(),
            expr: expr?,
            labels: to_map(r.labels.present()),
            pos: r.pos,
        })
    }
}
