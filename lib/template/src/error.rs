//! Error types of the template engine.
//!
//! Messages follow Go's `text/template` wording so that operators see what
//! Prometheus would have printed: parse errors read
//! `template: NAME:LINE: MESSAGE`, execution errors read
//! `template: NAME:LINE:COL: executing "NAME" at <CONTEXT>: MESSAGE`
//! (Go's column there is a 0-based byte offset within the line).
//! Independently of the message, [`TemplateError::line`] and
//! [`TemplateError::column`] give a 1-based position inside the text the
//! caller passed in, for `file:line:col` reporting.

use thiserror::Error;

/// An error parsing or executing a template.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum TemplateError {
    /// The template text does not parse.
    #[error("template: {name}:{line}: {message}")]
    Parse {
        /// The template name.
        name: String,
        /// 1-based line in the caller's text (Go reports the same line: the
        /// alert header Prometheus prepends has no newline).
        line: usize,
        /// 1-based column (in characters) in the caller's text.
        column: usize,
        /// Go's message, e.g. `unexpected "}" in operand`.
        message: String,
    },
    /// Execution failed.
    #[error("template: {name}:{line}:{go_col}: executing {exec_name:?} at <{context}>: {message}")]
    Exec {
        /// The template name (the parse name).
        name: String,
        /// The name of the (possibly `define`d) template being executed.
        exec_name: String,
        /// 1-based line in the caller's text (Go reports the same line: the
        /// alert header Prometheus prepends has no newline).
        line: usize,
        /// 1-based column (in characters) in the caller's text.
        column: usize,
        /// Go's column: 0-based byte offset within the line of the full text
        /// Go would have parsed (including any prepended header).
        go_col: usize,
        /// The node being evaluated, as Go prints it.
        context: String,
        /// What went wrong.
        message: String,
    },
}

impl TemplateError {
    /// 1-based line of the error in the caller's template text.
    pub fn line(&self) -> usize {
        match self {
            TemplateError::Parse { line, .. } | TemplateError::Exec { line, .. } => *line,
        }
    }

    /// 1-based column (in characters) of the error in the caller's template text.
    pub fn column(&self) -> usize {
        match self {
            TemplateError::Parse { column, .. } | TemplateError::Exec { column, .. } => *column,
        }
    }

    /// The bare message without the `template: NAME:LINE:` prefix.
    pub fn message(&self) -> &str {
        match self {
            TemplateError::Parse { message, .. } | TemplateError::Exec { message, .. } => message,
        }
    }

    /// The message Prometheus's template expander returns, which wraps this
    /// error: `error parsing template NAME: ...` or
    /// `error executing template NAME: ...`. The rule engine puts
    /// `<error expanding template: {this}>` into the label/annotation.
    pub fn expander_message(&self) -> String {
        match self {
            TemplateError::Parse { name, .. } => format!("error parsing template {name}: {self}"),
            TemplateError::Exec { name, .. } => format!("error executing template {name}: {self}"),
        }
    }
}

/// The error a [`crate::QueryFn`] returns.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{message}")]
pub struct QueryError {
    /// Human-readable reason, shown as `error calling query: {message}`.
    pub message: String,
}

impl QueryError {
    /// Builds a query error from anything displayable.
    pub fn new(message: impl std::fmt::Display) -> Self {
        QueryError {
            message: message.to_string(),
        }
    }
}
