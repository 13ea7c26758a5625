//! Lexer, parser, type checker and printer for PromQL.
//!
//! The language accepted and the error messages produced follow
//! Prometheus 3 (`promql/parser`): [`lexer`] is a port of `lex.go`,
//! `grammar` is a recursive-descent/Pratt rendition of
//! `generated_parser.y` (same precedence, associativity and error
//! contexts), `check` is `checkAST`, and [`printer`] is `printer.go`
//! (`impl Display for Expr`).
//!
//! Like Prometheus, the parser keeps going after "semantic" errors found
//! while parsing (unknown function, misplaced offset, ...), and only
//! type-checks when there were none; the first error is the one reported.
//! Parsing never panics; nesting depth is bounded by [`MAX_DEPTH`] and the
//! number of binary operators by [`MAX_BINARY_OPS`], so the tree's height
//! stays bounded for the recursive walks (which also grow their stack).

pub mod check;
mod grammar;
pub mod lexer;
mod literals;
mod modifiers;
pub mod printer;
pub(crate) mod quote;

use crate::ast::{Expr, Span};

pub use crate::duration::parse_duration;
pub use check::expr_type;
pub use literals::{unquote, UnquoteError};

/// The deepest expression nesting accepted (parentheses, function calls,
/// aggregations, subqueries, unary operators, right-associative `^`
/// chains). Deeper input is rejected with an error instead of risking a
/// stack overflow here or in the evaluator. Left-associative operator
/// chains (`a + b + … + z`) are flat: Prometheus accepts long ones.
pub const MAX_DEPTH: usize = 512;

/// The most binary operators in one expression. It bounds the height of
/// the tree (a chain `a + b + …` is a left-deep tree), and so the stack
/// used by code that walks or drops it without growing its stack.
pub const MAX_BINARY_OPS: usize = 10_000;

/// Runs a recursive step on a stack with room to spare, growing it on the
/// heap when it runs low (debug builds use large frames).
pub(crate) fn with_stack<R>(f: impl FnOnce() -> R) -> R {
    stacker::maybe_grow(128 * 1024, 2 * 1024 * 1024, f)
}

/// A parse or type error, with the byte span it is about.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: parse error: {msg}", self.position())]
pub struct ParseError {
    pub msg: String,
    pub span: Span,
    /// 1-based line of `span.start` (0 when the query was empty).
    pub line: usize,
    /// 1-based column of `span.start`, counted in bytes as Prometheus does
    /// (0 when the query was empty).
    pub col: usize,
}

impl ParseError {
    pub(crate) fn new(input: &str, span: Span, msg: impl Into<String>) -> Self {
        let (line, col) = prom_line_col(input, span.start);
        ParseError {
            msg: msg.into(),
            span,
            line,
            col,
        }
    }

    /// `(line, col)` of the start of the error, as Prometheus renders it.
    pub fn line_col(&self) -> (usize, usize) {
        (self.line, self.col)
    }

    /// `line:col` as Prometheus prints it (`unknown position` for an empty
    /// query).
    pub fn position(&self) -> String {
        if self.line == 0 {
            "unknown position".to_string()
        } else {
            format!("{}:{}", self.line, self.col)
        }
    }
}

/// Prometheus's `PositionRange.StartPosInput`: the column counts bytes.
fn prom_line_col(input: &str, pos: usize) -> (usize, usize) {
    if input.is_empty() {
        return (0, 0);
    }
    let pos = pos.min(input.len());
    let before = &input.as_bytes()[..pos];
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let col = match before.iter().rposition(|b| *b == b'\n') {
        Some(i) => pos - i,
        None => pos + 1,
    };
    (line, col)
}

/// Parser options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// Accept functions and aggregations flagged experimental
    /// (`limitk`, `sort_by_label`, `double_exponential_smoothing`, ...).
    pub experimental_functions: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            experimental_functions: true,
        }
    }
}

/// Parses and type-checks a PromQL expression (experimental functions
/// enabled, as in the Prometheus test suite).
pub fn parse(input: &str) -> Result<Expr, ParseError> {
    parse_with_options(input, ParseOptions::default())
}

/// Parses and type-checks a PromQL expression.
pub fn parse_with_options(input: &str, opts: ParseOptions) -> Result<Expr, ParseError> {
    let mut p = grammar::Parser::new(input, opts);
    let res = p.parse_top();
    let mut errors = p.into_errors();
    let mut expr = match res {
        Ok(e) => e,
        Err(()) => {
            return Err(errors
                .into_iter()
                .next()
                .unwrap_or_else(|| ParseError::new(input, Span::default(), "unexpected error")))
        }
    };
    if errors.is_empty() {
        check::check(input, &mut expr, &mut errors);
    }
    match errors.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(expr),
    }
}
