//! The one error type of this crate: a parse error that names its place.

use thiserror::Error;

/// A parse error at a 1-based `line` and `col` (column counted in Unicode
/// scalar values of that line). Displays as `line:col: msg`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{line}:{col}: {msg}")]
pub struct ParseError {
    /// 1-based line number.
    pub line: usize,
    /// 1-based column (characters, not bytes).
    pub col: usize,
    /// What went wrong.
    pub msg: String,
}

impl ParseError {
    /// Builds an error for byte offset `off` inside `line` (the line's text
    /// without its newline), which is line number `line_no`.
    pub(crate) fn at(line_no: usize, line: &str, off: usize, msg: impl Into<String>) -> Self {
        let off = off.min(line.len());
        let col = match line.get(..off) {
            Some(prefix) => prefix.chars().count() + 1,
            None => off + 1,
        };
        ParseError {
            line: line_no,
            col,
            msg: msg.into(),
        }
    }
}
