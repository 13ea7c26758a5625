//! The recursive-descent/Pratt parser: Prometheus's `generated_parser.y`
//! rewritten by hand.
//!
//! Binary operator precedence, lowest first: `or`; `and` `unless`;
//! comparisons; `+ -`; `* / % atan2`; `^` (right-associative). Unary `+`/`-`
//! bind like `*` (so `-2^2` is `-(2^2)`), and the postfix modifiers
//! (`[range]`, `[range:step]`, `offset`, `@`) bind tightest of all.
//!
//! Syntax errors abort parsing; "semantic" errors found while parsing
//! (unknown function, misplaced offset, bad regex...) are recorded and
//! parsing goes on, as in Prometheus. Error wording and contexts
//! (`in aggregation`, `in label matching`, ...) follow the yacc grammar's
//! error rules.

use super::lexer::{lex, quote_str, Kw, Tok, Token};
use super::literals::{duration_seconds, parse_number, seconds_to_ns, unquote, MAX_DURATION_SECS};
use super::{ParseError, ParseOptions, MAX_BINARY_OPS, MAX_DEPTH};
use crate::ast::{BinOp, Cardinality, Expr, Span, VectorMatching, VectorSelector};
use crate::duration::parse_duration_ns;
use crate::labels::{MatchOp, Matcher, METRIC_NAME};

/// A syntax error has been recorded; unwind.
pub(crate) type PResult<T> = Result<T, ()>;

/// An expression and its nesting depth (parentheses, calls, aggregations,
/// subqueries and unary operators; binary operators do not nest).
pub(crate) type Node = (Expr, usize);

const PREC_POW: u8 = 6;

fn binop(t: &Tok) -> Option<(BinOp, u8)> {
    Some(match t {
        Tok::Kw(Kw::Or) => (BinOp::Or, 1),
        Tok::Kw(Kw::And) => (BinOp::And, 2),
        Tok::Kw(Kw::Unless) => (BinOp::Unless, 2),
        Tok::Eqlc => (BinOp::Eql, 3),
        Tok::Neq => (BinOp::Neq, 3),
        Tok::Lss => (BinOp::Lss, 3),
        Tok::Lte => (BinOp::Lte, 3),
        Tok::Gtr => (BinOp::Gtr, 3),
        Tok::Gte => (BinOp::Gte, 3),
        Tok::Add => (BinOp::Add, 4),
        Tok::Sub => (BinOp::Sub, 4),
        Tok::Mul => (BinOp::Mul, 5),
        Tok::Div => (BinOp::Div, 5),
        Tok::Mod => (BinOp::Mod, 5),
        Tok::Kw(Kw::Atan2) => (BinOp::Atan2, 5),
        Tok::Pow => (BinOp::Pow, PREC_POW),
        _ => return None,
    })
}

fn match_op(t: &Tok) -> Option<MatchOp> {
    Some(match t {
        Tok::Eql => MatchOp::Equal,
        Tok::Neq => MatchOp::NotEqual,
        Tok::EqlRegex => MatchOp::Regex,
        Tok::NeqRegex => MatchOp::NotRegex,
        _ => return None,
    })
}

/// Go's `%.10q...` truncation used for long token values.
fn short_quote(s: &str) -> String {
    if s.len() > 10 {
        let head: String = s.chars().take(10).collect();
        format!("{}...", quote_str(&head))
    } else {
        quote_str(s)
    }
}

/// Prometheus's `Item.desc()`.
fn describe(t: &Token, input: &str) -> String {
    let text = input.get(t.start..t.end).unwrap_or("");
    match &t.tok {
        Tok::Eof => "end of input".into(),
        Tok::Error(m) => m.clone(),
        Tok::Ident => format!("identifier {}", quote_str(text)),
        Tok::MetricIdent => format!("metric identifier {}", quote_str(text)),
        Tok::Number => format!("number {}", short_quote(text)),
        Tok::Duration => format!("duration {}", short_quote(text)),
        Tok::Str => format!("string {}", short_quote(text)),
        Tok::Kw(Kw::Agg(_)) => format!("<aggr:{text}>"),
        Tok::Kw(Kw::And | Kw::Or | Kw::Unless | Kw::Atan2) => format!("<op:{text}>"),
        Tok::Kw(Kw::Start | Kw::End) => quote_str(text),
        Tok::Kw(_) => format!("<{text}>"),
        Tok::Add
        | Tok::Sub
        | Tok::Mul
        | Tok::Div
        | Tok::Mod
        | Tok::Pow
        | Tok::Eqlc
        | Tok::Neq
        | Tok::Lss
        | Tok::Lte
        | Tok::Gtr
        | Tok::Gte
        | Tok::EqlRegex
        | Tok::NeqRegex
        | Tok::At => format!("<op:{text}>"),
        Tok::Comma
        | Tok::LParen
        | Tok::RParen
        | Tok::LBrace
        | Tok::RBrace
        | Tok::LBracket
        | Tok::RBracket
        | Tok::Colon
        | Tok::Eql => quote_str(text),
    }
}

/// `bool`, `on`/`ignoring` and `group_left`/`group_right` after an operator.
#[derive(Default)]
struct BinModifiers {
    return_bool: bool,
    on: bool,
    labels: Vec<String>,
    card: Option<Cardinality>,
    include: Vec<String>,
}

pub(crate) struct Parser<'a> {
    pub(super) input: &'a str,
    toks: Vec<Token>,
    pos: usize,
    errors: Vec<ParseError>,
    depth: usize,
    /// Binary operators seen so far (bounded by [`MAX_BINARY_OPS`]).
    binary_ops: usize,
    /// > 0 while inside an aggregation (for the "in aggregation" context).
    pub(super) agg_depth: usize,
    pub(super) opts: ParseOptions,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(input: &'a str, opts: ParseOptions) -> Self {
        Parser {
            input,
            toks: lex(input),
            pos: 0,
            errors: Vec::new(),
            depth: 0,
            binary_ops: 0,
            agg_depth: 0,
            opts,
        }
    }

    pub(crate) fn into_errors(self) -> Vec<ParseError> {
        self.errors
    }

    pub(super) fn peek(&self) -> &Token {
        // The token list always ends with Eof or Error and we never move
        // past it.
        &self.toks[self.pos.min(self.toks.len() - 1)]
    }

    pub(super) fn peek_tok(&self) -> &Tok {
        &self.peek().tok
    }

    pub(super) fn peek_at(&self, n: usize) -> &Tok {
        &self.toks[(self.pos + n).min(self.toks.len() - 1)].tok
    }

    pub(super) fn advance(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos + 1 < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    /// End of the last consumed token.
    pub(super) fn last_end(&self) -> usize {
        match self.pos.checked_sub(1).and_then(|i| self.toks.get(i)) {
            Some(t) => t.end,
            None => 0,
        }
    }

    pub(super) fn text(&self, t: &Token) -> &'a str {
        self.input.get(t.start..t.end).unwrap_or("")
    }

    pub(super) fn err(&mut self, span: Span, msg: impl Into<String>) {
        self.errors.push(ParseError::new(self.input, span, msg));
    }

    /// Prometheus's `unexpected(context, expected)` about the next token.
    pub(super) fn unexpected(&mut self, context: &str, expected: &str) {
        let t = self.peek().clone();
        if let Tok::Error(m) = &t.tok {
            self.err(Span::new(t.start, self.input.len()), m.clone());
            return;
        }
        let mut msg = format!("unexpected {}", describe(&t, self.input));
        if !context.is_empty() {
            msg.push_str(" in ");
            msg.push_str(context);
        }
        if !expected.is_empty() {
            msg.push_str(", expected ");
            msg.push_str(expected);
        }
        self.err(Span::new(t.start, t.end), msg);
    }

    /// A syntax error with no more specific rule.
    pub(super) fn unexpected_generic<T>(&mut self) -> PResult<T> {
        let ctx = if self.agg_depth > 0 {
            "aggregation"
        } else {
            ""
        };
        self.unexpected(ctx, "");
        Err(())
    }

    pub(super) fn fail<T>(&mut self, context: &str, expected: &str) -> PResult<T> {
        self.unexpected(context, expected);
        Err(())
    }

    pub(crate) fn parse_top(&mut self) -> PResult<Expr> {
        if matches!(self.peek_tok(), Tok::Eof) {
            self.err(Span::default(), "no expression found in input");
            return Err(());
        }
        let (e, _) = self.parse_expr(0)?;
        if !matches!(self.peek_tok(), Tok::Eof) {
            return self.unexpected_generic();
        }
        Ok(e)
    }

    pub(super) fn parse_expr(&mut self, min_prec: u8) -> PResult<Node> {
        if self.depth >= MAX_DEPTH {
            return self.too_deep();
        }
        self.depth += 1;
        let r = super::with_stack(|| self.parse_binary(min_prec));
        self.depth -= 1;
        r
    }

    /// Fails on input nested deeper than [`MAX_DEPTH`].
    fn too_deep<T>(&mut self) -> PResult<T> {
        let t = self.peek().clone();
        self.err(
            Span::new(t.start, t.end),
            format!("expression nesting too deep (more than {MAX_DEPTH} levels)"),
        );
        Err(())
    }

    /// The depth of a node whose deepest child has depth `d`.
    pub(super) fn deeper(&mut self, d: usize) -> PResult<usize> {
        if d >= MAX_DEPTH {
            return self.too_deep();
        }
        Ok(d + 1)
    }

    fn parse_binary(&mut self, min_prec: u8) -> PResult<Node> {
        let (mut lhs, mut depth) = self.parse_unary()?;
        while let Some((op, prec)) = binop(self.peek_tok()).filter(|(_, p)| *p >= min_prec) {
            self.binary_ops += 1;
            if self.binary_ops > MAX_BINARY_OPS {
                let t = self.peek().clone();
                self.err(
                    Span::new(t.start, t.end),
                    format!("too many binary operators (more than {MAX_BINARY_OPS})"),
                );
                return Err(());
            }
            self.advance();
            let mods = self.parse_bin_modifiers()?;
            let next_min = if op == BinOp::Pow { prec } else { prec + 1 };
            let (rhs, rd) = self.parse_expr(next_min)?;
            // A chain `a + b + c` is flat for the nesting limit; the tree's
            // height is bounded by MAX_DEPTH + MAX_BINARY_OPS.
            depth = depth.max(rd);
            let span = Span::new(lhs.span().start, rhs.span().end);
            let matching = VectorMatching {
                card: mods.card.unwrap_or(Cardinality::OneToOne),
                on: mods.on,
                labels: mods.labels,
                include: mods.include,
            };
            lhs = Expr::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
                matching: Some(matching),
                return_bool: mods.return_bool,
                span,
            };
        }
        Ok((lhs, depth))
    }

    fn parse_bin_modifiers(&mut self) -> PResult<BinModifiers> {
        let mut m = BinModifiers::default();
        if matches!(self.peek_tok(), Tok::Kw(Kw::Bool)) {
            self.advance();
            m.return_bool = true;
        }
        let on = match self.peek_tok() {
            Tok::Kw(Kw::On) => true,
            Tok::Kw(Kw::Ignoring) => false,
            _ => return Ok(m),
        };
        self.advance();
        m.on = on;
        m.labels = self.parse_grouping_labels()?;
        let card = match self.peek_tok() {
            Tok::Kw(Kw::GroupLeft) => Cardinality::ManyToOne,
            Tok::Kw(Kw::GroupRight) => Cardinality::OneToMany,
            _ => return Ok(m),
        };
        self.advance();
        m.card = Some(card);
        if matches!(self.peek_tok(), Tok::LParen) {
            m.include = self.parse_grouping_labels()?;
        }
        Ok(m)
    }

    /// `( label, ... )` after `by`, `without`, `on`, `ignoring`,
    /// `group_left` and `group_right`.
    pub(super) fn parse_grouping_labels(&mut self) -> PResult<Vec<String>> {
        if !matches!(self.peek_tok(), Tok::LParen) {
            return self.fail("grouping opts", "\"(\"");
        }
        self.advance();
        let mut labels = Vec::new();
        if matches!(self.peek_tok(), Tok::RParen) {
            self.advance();
            return Ok(labels);
        }
        loop {
            let t = self.peek().clone();
            match &t.tok {
                Tok::Ident | Tok::Kw(_) => labels.push(self.text(&t).to_string()),
                Tok::MetricIdent => {
                    // Accepted by the grammar, then rejected as not a label.
                    self.unexpected("grouping opts", "label");
                    labels.push(self.text(&t).to_string());
                }
                Tok::Str => labels.push(self.unquote_tok(&t)),
                _ => return self.fail("grouping opts", "label"),
            }
            self.advance();
            match self.peek_tok() {
                Tok::Comma => {
                    self.advance();
                    if matches!(self.peek_tok(), Tok::RParen) {
                        self.advance();
                        return Ok(labels);
                    }
                }
                Tok::RParen => {
                    self.advance();
                    return Ok(labels);
                }
                _ => return self.fail("grouping opts", "\",\" or \")\""),
            }
        }
    }

    fn parse_unary(&mut self) -> PResult<Node> {
        let neg = match self.peek_tok() {
            Tok::Add => false,
            Tok::Sub => true,
            _ => return self.parse_postfix(),
        };
        let op = self.advance();
        let (e, d) = self.parse_expr(PREC_POW)?;
        let span = Span::new(op.start, e.span().end);
        Ok(match e {
            Expr::Number { val, .. } => (
                Expr::Number {
                    val: if neg { -val } else { val },
                    span,
                },
                d,
            ),
            e => (
                Expr::Unary {
                    neg,
                    expr: Box::new(e),
                    span,
                },
                self.deeper(d)?,
            ),
        })
    }

    fn parse_postfix(&mut self) -> PResult<Node> {
        let (mut e, mut d) = self.parse_primary()?;
        loop {
            (e, d) = match self.peek_tok() {
                Tok::LBracket => self.parse_bracket(e, d)?,
                Tok::Kw(Kw::Offset) => (self.parse_offset(e)?, d),
                Tok::At => (self.parse_at(e)?, d),
                _ => return Ok((e, d)),
            };
        }
    }

    fn parse_primary(&mut self) -> PResult<Node> {
        let t = self.peek().clone();
        let span = Span::new(t.start, t.end);
        match &t.tok {
            Tok::Number => {
                self.advance();
                let val = self.number(&t);
                Ok((Expr::Number { val, span }, 1))
            }
            Tok::Duration => {
                self.advance();
                let val = self.duration_secs(&t);
                Ok((Expr::Number { val, span }, 1))
            }
            Tok::Str => {
                self.advance();
                let val = self.unquote_tok(&t);
                Ok((Expr::String { val, span }, 1))
            }
            Tok::LParen => {
                self.advance();
                let (e, d) = self.parse_expr(0)?;
                if !matches!(self.peek_tok(), Tok::RParen) {
                    return self.unexpected_generic();
                }
                let rp = self.advance();
                let d = self.deeper(d)?;
                Ok((
                    Expr::Paren {
                        expr: Box::new(e),
                        span: Span::new(t.start, rp.end),
                    },
                    d,
                ))
            }
            Tok::LBrace => Ok((self.parse_vector_selector(None)?, 1)),
            Tok::Ident if matches!(self.peek_at(1), Tok::LParen) => self.parse_call(),
            Tok::Kw(Kw::Start | Kw::End) if matches!(self.peek_at(1), Tok::LParen) => {
                self.parse_call()
            }
            Tok::Kw(Kw::Agg(op))
                if matches!(
                    self.peek_at(1),
                    Tok::LParen | Tok::Kw(Kw::By) | Tok::Kw(Kw::Without)
                ) =>
            {
                self.parse_aggregate(*op)
            }
            Tok::Ident
            | Tok::MetricIdent
            | Tok::Kw(
                Kw::Agg(_)
                | Kw::And
                | Kw::Or
                | Kw::Unless
                | Kw::Offset
                | Kw::By
                | Kw::Without
                | Kw::Start
                | Kw::End,
            ) => {
                self.advance();
                Ok((self.parse_vector_selector(Some(&t))?, 1))
            }
            _ => self.unexpected_generic(),
        }
    }

    pub(super) fn number(&mut self, t: &Token) -> f64 {
        match parse_number(self.text(t)) {
            Ok(v) => v,
            Err(e) => {
                self.err(
                    Span::new(t.start, t.end),
                    format!("error parsing number: {e}"),
                );
                0.0
            }
        }
    }

    pub(super) fn duration_secs(&mut self, t: &Token) -> f64 {
        match parse_duration_ns(self.text(t)) {
            Ok(ns) => duration_seconds(ns),
            Err(e) => {
                self.err(Span::new(t.start, t.end), e.to_string());
                0.0
            }
        }
    }

    /// A number or duration token used as a duration (ranges, offsets,
    /// steps), in nanoseconds.
    pub(super) fn duration_ns(&mut self, t: &Token) -> i64 {
        if matches!(t.tok, Tok::Duration) {
            return match parse_duration_ns(self.text(t)) {
                Ok(ns) => ns,
                Err(e) => {
                    self.err(Span::new(t.start, t.end), e.to_string());
                    0
                }
            };
        }
        let secs = self.number(t);
        if secs.is_nan() || secs.abs() > MAX_DURATION_SECS {
            self.err(Span::new(t.start, t.end), "duration out of range");
            return 0;
        }
        seconds_to_ns(secs)
    }

    pub(super) fn unquote_tok(&mut self, t: &Token) -> String {
        let raw = self.text(t);
        match unquote(raw) {
            Ok(s) => s,
            Err(e) => {
                self.err(
                    Span::new(t.start, t.end),
                    format!("error unquoting string {}: {e}", quote_str(raw)),
                );
                String::new()
            }
        }
    }

    /// A selector; `name` is the already consumed metric name token.
    fn parse_vector_selector(&mut self, name: Option<&Token>) -> PResult<Expr> {
        let start = name.map(|t| t.start).unwrap_or(self.peek().start);
        let mut end = name.map(|t| t.end).unwrap_or(start);
        let mut matchers = Vec::new();
        if matches!(self.peek_tok(), Tok::LBrace) {
            end = self.parse_label_matchers(&mut matchers)?;
        }
        let name = name.map(|t| self.text(t).to_string());
        if let Some(n) = &name {
            match Matcher::new(MatchOp::Equal, METRIC_NAME, n.clone()) {
                Ok(m) => matchers.push(m),
                Err(e) => self.err(Span::new(start, end), e.to_string()),
            }
        }
        Ok(Expr::VectorSelector(VectorSelector {
            name,
            matchers,
            offset: 0,
            at: None,
            span: Span::new(start, end),
        }))
    }

    /// `{...}`; returns the end of the closing brace.
    fn parse_label_matchers(&mut self, out: &mut Vec<Matcher>) -> PResult<usize> {
        self.advance();
        if matches!(self.peek_tok(), Tok::RBrace) {
            return Ok(self.advance().end);
        }
        loop {
            let t = self.peek().clone();
            match &t.tok {
                Tok::Ident | Tok::Str => {
                    self.advance();
                    let name = if matches!(t.tok, Tok::Str) {
                        self.unquote_tok(&t)
                    } else {
                        self.text(&t).to_string()
                    };
                    match match_op(self.peek_tok()) {
                        Some(op) => {
                            self.advance();
                            if !matches!(self.peek_tok(), Tok::Str) {
                                return self.fail("label matching", "string");
                            }
                            let v = self.advance();
                            let value = self.unquote_tok(&v);
                            out.extend(self.new_matcher(
                                op,
                                name,
                                value,
                                Span::new(t.start, v.end),
                            ));
                        }
                        None if matches!(t.tok, Tok::Str) => {
                            let span = Span::new(t.start, t.end);
                            out.extend(self.new_matcher(
                                MatchOp::Equal,
                                METRIC_NAME.to_string(),
                                name,
                                span,
                            ));
                        }
                        None => return self.fail("label matching", "label matching operator"),
                    }
                }
                _ => return self.fail("label matching", "identifier or \"}\""),
            }
            match self.peek_tok() {
                Tok::Comma => {
                    self.advance();
                    if matches!(self.peek_tok(), Tok::RBrace) {
                        return Ok(self.advance().end);
                    }
                }
                Tok::RBrace => return Ok(self.advance().end),
                _ => return self.fail("label matching", "\",\" or \"}\""),
            }
        }
    }
}
