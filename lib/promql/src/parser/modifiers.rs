//! The parts of the grammar that build calls, aggregations, label matchers
//! and the postfix modifiers (`[range]`, `[range:step]`, `offset`, `@`),
//! with the semantic checks Prometheus does while parsing them.

use super::grammar::{Node, PResult, Parser};
use super::lexer::{quote_str, Kw, Tok, Token};
use crate::ast::{AggOp, AtModifier, Expr, Grouping, Span};
use crate::functions;
use crate::labels::{MatchOp, Matcher};

/// Go's `%f`.
fn go_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        format!("{v:.6}")
    }
}

/// Go's regexp error wording, roughly: the last line of the Rust error.
fn regex_reason(reason: &str) -> String {
    let line = reason
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or(reason);
    line.strip_prefix("error: ").unwrap_or(line).to_string()
}

impl Parser<'_> {
    pub(super) fn new_matcher(
        &mut self,
        op: MatchOp,
        name: String,
        value: String,
        span: Span,
    ) -> Option<Matcher> {
        match Matcher::new(op, name, value) {
            Ok(m) => Some(m),
            Err(e) => {
                let msg = format!(
                    "error parsing regexp: {}: `{}`",
                    regex_reason(&e.reason),
                    e.pattern
                );
                self.err(span, msg);
                None
            }
        }
    }

    /// `name(args...)`.
    pub(super) fn parse_call(&mut self) -> PResult<Node> {
        let t = self.advance();
        let name = self.text(&t).to_string();
        let span = Span::new(t.start, t.end);
        match functions::lookup(&name) {
            None => self.err(
                span,
                format!("unknown function with name {}", quote_str(&name)),
            ),
            Some(f) if f.experimental && !self.opts.experimental_functions => self.err(
                span,
                format!("function {} is not enabled", quote_str(&name)),
            ),
            Some(_) => {}
        }
        let (args, d, end) = self.parse_call_body()?;
        let d = self.deeper(d)?;
        Ok((
            Expr::Call {
                func: name,
                args,
                span: Span::new(t.start, end),
            },
            d,
        ))
    }

    /// `( expr, ... )`; returns the arguments, their greatest depth and the
    /// end of `)`.
    fn parse_call_body(&mut self) -> PResult<(Vec<Expr>, usize, usize)> {
        if !matches!(self.peek_tok(), Tok::LParen) {
            return self.unexpected_generic();
        }
        self.advance();
        let mut args = Vec::new();
        let mut depth = 0;
        if matches!(self.peek_tok(), Tok::RParen) {
            return Ok((args, depth, self.advance().end));
        }
        loop {
            let (a, d) = self.parse_expr(0)?;
            args.push(a);
            depth = depth.max(d);
            match self.peek_tok() {
                Tok::Comma => {
                    let c = self.advance();
                    if matches!(self.peek_tok(), Tok::RParen) {
                        self.err(
                            Span::new(c.start, c.end),
                            "trailing commas not allowed in function call args",
                        );
                        return Ok((args, depth, self.advance().end));
                    }
                }
                Tok::RParen => return Ok((args, depth, self.advance().end)),
                _ => return self.unexpected_generic(),
            }
        }
    }

    fn parse_grouping(&mut self) -> PResult<Option<Grouping>> {
        let without = match self.peek_tok() {
            Tok::Kw(Kw::By) => false,
            Tok::Kw(Kw::Without) => true,
            _ => return Ok(None),
        };
        self.advance();
        let labels = self.parse_grouping_labels()?;
        Ok(Some(Grouping { without, labels }))
    }

    /// `op [by|without (...)] (args) [by|without (...)]`.
    pub(super) fn parse_aggregate(&mut self, op: AggOp) -> PResult<Node> {
        let t = self.advance();
        self.agg_depth += 1;
        let r = self.parse_aggregate_rest();
        self.agg_depth -= 1;
        let (grouping, mut args, depth, end) = r?;
        let span = Span::new(t.start, end);
        let depth = self.deeper(depth)?;
        let dummy = (Expr::Number { val: 0.0, span }, 1);
        if args.is_empty() {
            self.err(span, "no arguments for aggregate expression provided");
            return Ok(dummy);
        }
        let mut desired = 1;
        let mut param = None;
        if op.takes_param() {
            if matches!(op, AggOp::Limitk | AggOp::LimitRatio) && !self.opts.experimental_functions
            {
                self.err(
                    span,
                    format!(
                        "{}() is experimental and must be enabled with --enable-feature=promql-experimental-functions",
                        op.name()
                    ),
                );
                return Ok(dummy);
            }
            desired = 2;
        }
        if args.len() != desired {
            self.err(
                span,
                format!(
                    "wrong number of arguments for aggregate expression provided, expected {desired}, got {}",
                    args.len()
                ),
            );
            return Ok(dummy);
        }
        let expr = args.pop().map(Box::new);
        if desired == 2 {
            param = args.pop().map(Box::new);
        }
        match expr {
            Some(expr) => Ok((
                Expr::Aggregate {
                    op,
                    expr,
                    param,
                    grouping: grouping.unwrap_or_default(),
                    span,
                },
                depth,
            )),
            None => Ok(dummy),
        }
    }

    fn parse_aggregate_rest(&mut self) -> PResult<(Option<Grouping>, Vec<Expr>, usize, usize)> {
        let mut grouping = self.parse_grouping()?;
        let (args, depth, mut end) = self.parse_call_body()?;
        if grouping.is_none() {
            grouping = self.parse_grouping()?;
            if grouping.is_some() {
                end = self.last_end();
            }
        }
        Ok((grouping, args, depth, end))
    }

    /// A positive duration inside brackets: `[+-]<number|duration>`, in
    /// milliseconds. `context`/`expected` describe a missing value.
    fn positive_duration(&mut self, context: &str, expected: &str) -> PResult<i64> {
        let start = self.peek().start;
        let neg = match self.peek_tok() {
            Tok::Add => false,
            Tok::Sub => true,
            Tok::Number | Tok::Duration => {
                let t = self.advance();
                return Ok(self.check_positive(&t, start, false));
            }
            _ => return self.fail(context, expected),
        };
        self.advance();
        if !matches!(self.peek_tok(), Tok::Number | Tok::Duration) {
            return self.fail(context, expected);
        }
        let t = self.advance();
        Ok(self.check_positive(&t, start, neg))
    }

    fn check_positive(&mut self, t: &Token, start: usize, neg: bool) -> i64 {
        let ns = self.duration_ns(t);
        let ns = if neg { -ns } else { ns };
        if ns <= 0 {
            self.err(Span::new(start, t.end), "duration must be greater than 0");
        }
        ns / 1_000_000
    }

    /// `[range]` or `[range:step]` / `[range:]` after `e`.
    pub(super) fn parse_bracket(&mut self, e: Expr, depth: usize) -> PResult<Node> {
        let lb = self.advance();
        let range = self.positive_duration(
            "subquery or range selector",
            "number, duration, step(), or range()",
        )?;
        match self.peek_tok() {
            Tok::RBracket => {
                let rb = self.advance();
                let bspan = Span::new(lb.start, rb.end);
                match e {
                    Expr::VectorSelector(vs) => {
                        if vs.offset != 0 {
                            self.err(bspan, "no offset modifiers allowed before range");
                        } else if vs.at.is_some() {
                            self.err(bspan, "no @ modifiers allowed before range");
                        }
                        let span = Span::new(vs.span.start, rb.end);
                        Ok((Expr::MatrixSelector { vs, range, span }, 1))
                    }
                    other => {
                        self.err(bspan, "ranges only allowed for vector selectors");
                        Ok((other, depth))
                    }
                }
            }
            Tok::Colon => {
                self.advance();
                let mut step = None;
                if !matches!(self.peek_tok(), Tok::RBracket) {
                    step = Some(self.positive_duration(
                        "subquery selector",
                        "number, duration, step(), range(), or \"]\"",
                    )?);
                    if !matches!(self.peek_tok(), Tok::RBracket) {
                        return self.fail("subquery selector", "\"]\"");
                    }
                }
                let rb = self.advance();
                let span = Span::new(e.span().start, rb.end);
                let depth = self.deeper(depth)?;
                let sq = Expr::Subquery {
                    expr: Box::new(e),
                    range,
                    step: step.filter(|s| *s != 0),
                    offset: 0,
                    at: None,
                    span,
                };
                Ok((sq, depth))
            }
            _ => self.fail("subquery or range", "\":\" or \"]\""),
        }
    }

    /// `offset [-]<duration>` after `e`.
    pub(super) fn parse_offset(&mut self, mut e: Expr) -> PResult<Expr> {
        self.advance();
        let neg = matches!(self.peek_tok(), Tok::Sub);
        if neg {
            self.advance();
        }
        let t = self.peek().clone();
        if !matches!(t.tok, Tok::Number | Tok::Duration) {
            return self.fail("offset", "number, duration, step(), or range()");
        }
        self.advance();
        let ms = self.duration_ns(&t) / 1_000_000;
        let ms = if neg { -ms } else { ms };
        let (slot, span) = match &mut e {
            Expr::VectorSelector(vs) => (&mut vs.offset, &mut vs.span),
            Expr::MatrixSelector { vs, span, .. } => (&mut vs.offset, span),
            Expr::Subquery { offset, span, .. } => (offset, span),
            other => {
                let span = other.span();
                self.err(
                    span,
                    "offset modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                );
                return Ok(e);
            }
        };
        if *slot != 0 {
            let s = *span;
            self.err(s, "offset may not be set multiple times");
        } else {
            *slot = ms;
        }
        span.end = t.end;
        Ok(e)
    }

    /// `@ <timestamp>`, `@ start()` or `@ end()` after `e`.
    pub(super) fn parse_at(&mut self, mut e: Expr) -> PResult<Expr> {
        self.advance();
        let t = self.peek().clone();
        let (at, end) = match t.tok {
            Tok::Kw(Kw::Start) | Tok::Kw(Kw::End) => {
                self.advance();
                if !matches!(self.peek_tok(), Tok::LParen) {
                    return self.fail("@", "timestamp");
                }
                self.advance();
                if !matches!(self.peek_tok(), Tok::RParen) {
                    return self.fail("@", "timestamp");
                }
                let rp = self.advance();
                let at = if matches!(t.tok, Tok::Kw(Kw::Start)) {
                    AtModifier::Start
                } else {
                    AtModifier::End
                };
                (at, rp.end)
            }
            Tok::Add | Tok::Sub | Tok::Number | Tok::Duration => {
                let neg = matches!(t.tok, Tok::Sub);
                if matches!(t.tok, Tok::Add | Tok::Sub) {
                    self.advance();
                }
                let n = self.peek().clone();
                let ts = match n.tok {
                    Tok::Number => self.number(&n),
                    Tok::Duration => self.duration_secs(&n),
                    _ => return self.fail("@", "timestamp"),
                };
                self.advance();
                let ts = if neg { -ts } else { ts };
                // Bounded in milliseconds (what the AST holds), so the
                // conversion never saturates.
                let ms = (ts * 1000.0).round();
                if !ms.is_finite() || ms >= i64::MAX as f64 || ms <= i64::MIN as f64 {
                    let span = e.span();
                    self.err(
                        span,
                        format!("timestamp out of bounds for @ modifier: {}", go_f(ts)),
                    );
                }
                (AtModifier::Timestamp(ms as i64), n.end)
            }
            _ => return self.fail("@", "timestamp"),
        };
        let (slot, span) = match &mut e {
            Expr::VectorSelector(vs) => (&mut vs.at, &mut vs.span),
            Expr::MatrixSelector { vs, span, .. } => (&mut vs.at, span),
            Expr::Subquery { at, span, .. } => (at, span),
            other => {
                let span = other.span();
                self.err(
                    span,
                    "@ modifier must be preceded by an instant vector selector or range vector selector or a subquery",
                );
                return Ok(e);
            }
        };
        if slot.is_some() {
            let s = *span;
            self.err(s, "@ <timestamp> may not be set multiple times");
        } else {
            *slot = Some(at);
            span.end = end;
        }
        Ok(e)
    }
}
