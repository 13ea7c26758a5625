//! Go `text/template`, as Prometheus uses it for alerting-rule labels and
//! annotations, with Prometheus's template functions.
//!
//! This is a pure crate: no I/O. The `query` template function goes through
//! the [`QueryFn`] trait, which the caller (the rule engine) implements.
//!
//! * [`parse`] checks an alert label/annotation template the way
//!   `promtool check rules` does (with the `$labels`/`$value`/... header
//!   Prometheus prepends); its errors carry the line and column inside the
//!   template text ([`TemplateError::line`], [`TemplateError::column`]).
//! * [`expand_alert_template`] expands one label or annotation for an alert.
//! * [`Template`] is the general API: parse any template and execute it
//!   against a [`Value`].
//!
//! Modules: [`lexer`](crate::lexer) → [`parser`](crate::parser) (builds the
//! [`ast`](crate::ast)) → [`exec`](crate::exec), with Go's builtins in
//! `funcs`, Prometheus's functions in `prom`, Go's `fmt` in `gofmt` and
//! Go's `time` formatting in `gotime`.
//!
//! Supported: actions with trim markers, comments, pipelines, variables
//! (declare and assign), fields and chains, `if`/`else if`/`else`,
//! `range` (lists, maps in key order, integers; `$i, $v :=`; `else`;
//! `break`/`continue`), `with`/`else with`, `define`/`template`/`block`,
//! all literal forms except complex numbers, and the builtins `and or not
//! len index slice print printf println eq ne lt le gt ge html js urlquery
//! call` (`call` always fails: templates get no function values).
//! Not supported: HTML-mode escaping and the HTML-only `tmpl` function
//! (Prometheus only offers them on console pages, not in rules).
#![forbid(unsafe_code)]

mod ast;
mod error;
mod exec;
mod funcs;
mod gofmt;
mod gotime;
mod lexer;
mod parser;
mod prom;
mod strconv;
mod value;

use std::collections::BTreeMap;

pub use error::{QueryError, TemplateError};
pub use funcs::query_escape;
pub use prom::{humanize, humanize1024, humanize_duration};
pub use value::{QuerySample, StructValue, Time, Value};

/// Runs PromQL instant queries for the `query` template function.
pub trait QueryFn {
    /// Evaluates `query` at `ts_ms` (milliseconds since the epoch) and
    /// returns the resulting instant vector.
    fn query(&self, query: &str, ts_ms: i64) -> Result<Vec<QuerySample>, QueryError>;
}

/// The text Prometheus prepends to every alert label/annotation template.
pub const ALERT_TEMPLATE_HEADER: &str =
    "{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}";

/// Context for executing a template.
#[derive(Clone, Copy, Default)]
pub struct ExecContext<'a> {
    /// Evaluation time in milliseconds (for `query` and `now`).
    pub ts_ms: i64,
    /// Prometheus's external URL (for `externalURL` and `pathPrefix`).
    pub external_url: &'a str,
    /// The query engine; without one, `query` fails at execution.
    pub query: Option<&'a dyn QueryFn>,
}

/// A parsed template (the main tree plus any `define`d templates).
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    /// The text that was parsed, including any prepended header.
    text: String,
    /// Length of the prepended header (positions below it are not the user's).
    header_len: usize,
    trees: parser::Trees,
}

impl Template {
    /// Parses `text` as a template named `name` (no header prepended).
    pub fn parse(name: &str, text: &str) -> Result<Template, TemplateError> {
        Self::parse_with_header(name, "", text)
    }

    fn parse_with_header(name: &str, header: &str, text: &str) -> Result<Template, TemplateError> {
        let full = format!("{header}{text}");
        let mut tmpl = Template {
            name: name.to_string(),
            text: full,
            header_len: header.len(),
            trees: BTreeMap::new(),
        };
        match parser::parse(name, &tmpl.text) {
            Ok(trees) => {
                tmpl.trees = trees;
                Ok(tmpl)
            }
            Err(e) => {
                let (line, column) = tmpl.user_position(e.pos);
                Err(TemplateError::Parse {
                    name: name.to_string(),
                    line,
                    column,
                    message: e.msg,
                })
            }
        }
    }

    /// The template name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Executes the template with `data` as dot.
    pub fn execute(&self, data: &Value, ctx: &ExecContext<'_>) -> Result<String, TemplateError> {
        let env = exec::Env {
            query: ctx.query,
            ts_ms: ctx.ts_ms,
            external_url: ctx.external_url,
        };
        exec::execute(self, data, &env)
    }

    /// 1-based (line, column) in the caller's text of byte offset `pos` in
    /// the parsed text. Columns count characters.
    pub(crate) fn user_position(&self, pos: usize) -> (usize, usize) {
        let pos = pos.clamp(self.header_len, self.text.len());
        let user = &self.text[self.header_len..];
        let mut upos = pos - self.header_len;
        while !user.is_char_boundary(upos) {
            upos -= 1;
        }
        let before = &user[..upos];
        let line = 1 + before.matches('\n').count();
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        (line, before[line_start..].chars().count() + 1)
    }
}

/// Parses an alert label/annotation template as Prometheus (and
/// `promtool check rules`) does: with [`ALERT_TEMPLATE_HEADER`] prepended,
/// so `$labels`, `$externalLabels`, `$externalURL` and `$value` are defined.
/// `name` is the template name for messages (Prometheus uses
/// [`alert_template_name`]). Error positions are within `text`.
pub fn parse(name: &str, text: &str) -> Result<Template, TemplateError> {
    Template::parse_with_header(name, ALERT_TEMPLATE_HEADER, text)
}

/// The template name Prometheus gives alert templates: `__alert_<alertname>`.
pub fn alert_template_name(alert: &str) -> String {
    format!("__alert_{alert}")
}

/// The data alert templates see as dot.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertTemplateData {
    /// The alert's labels (`.Labels`, `$labels`).
    pub labels: BTreeMap<String, String>,
    /// The external labels (`.ExternalLabels`, `$externalLabels`).
    pub external_labels: BTreeMap<String, String>,
    /// The external URL (`.ExternalURL`, `$externalURL`).
    pub external_url: String,
    /// The alert's value (`.Value`, `$value`).
    pub value: f64,
}

impl AlertTemplateData {
    /// The Go struct Prometheus passes as template data.
    pub fn to_value(&self) -> Value {
        Value::Struct(StructValue::anonymous(vec![
            ("Labels".into(), Value::StrMap(self.labels.clone())),
            (
                "ExternalLabels".into(),
                Value::StrMap(self.external_labels.clone()),
            ),
            (
                "ExternalURL".into(),
                Value::String(self.external_url.clone()),
            ),
            ("Value".into(), Value::Float(self.value)),
        ]))
    }
}

/// Expands one alert label or annotation template, like Prometheus's rule
/// manager: parse with [`ALERT_TEMPLATE_HEADER`], execute with `data` as
/// dot at evaluation time `ts_ms`. On error Prometheus uses
/// `format!("<error expanding template: {}>", err.expander_message())` as
/// the label/annotation value.
pub fn expand_alert_template(
    name: &str,
    text: &str,
    data: &AlertTemplateData,
    ts_ms: i64,
    query: Option<&dyn QueryFn>,
) -> Result<String, TemplateError> {
    let tmpl = parse(name, text)?;
    let ctx = ExecContext {
        ts_ms,
        external_url: &data.external_url,
        query,
    };
    tmpl.execute(&data.to_value(), &ctx)
}
