//! Alert label and annotation templates, expanded with `watchfire_template`
//! (Go `text/template` with Prometheus's functions) the way upstream's
//! `rules/alerting.go` does.
//!
//! - [`RuleTemplates`] holds one alerting rule's parsed templates, keyed by
//!   their text. They are parsed once, when the rule is built (with the
//!   `$labels`/`$externalLabels`/`$externalURL`/`$value` header and the
//!   template name `__alert_<alertname>`), not at every evaluation.
//! - [`StorageQuery`] implements the `query` template function: it runs the
//!   group's [`QueryEngine`] over the storage the group is evaluating on, so
//!   a template sees what earlier rules of the same evaluation wrote.
//! - A template that fails to parse or execute becomes the text
//!   `<error expanding template: ...>`, as upstream.
//!
//! Nothing here does I/O: storage access goes through [`Storage`].

use std::collections::HashMap;
use std::sync::Arc;

use watchfire_promql::Storage;
use watchfire_template::{
    alert_template_name, ExecContext, QueryError as TemplateQueryError, QueryFn, QuerySample,
    Template, TemplateError, Value,
};

use super::{labels_to_map, QueryEngine};

/// The parsed label and annotation templates of one alerting rule.
#[derive(Debug, Clone, Default)]
pub struct RuleTemplates {
    /// Template name (`__alert_<alertname>`).
    name: String,
    /// Parse result by template text; texts without `{{` are not stored
    /// (they expand to themselves).
    parsed: HashMap<String, Result<Arc<Template>, TemplateError>>,
}

impl RuleTemplates {
    /// Parses every text in `texts` (the rule's label values and
    /// annotations) for alert `alert`.
    pub fn new<'a>(alert: &str, texts: impl IntoIterator<Item = &'a str>) -> RuleTemplates {
        let name = alert_template_name(alert);
        let mut parsed = HashMap::new();
        for text in texts {
            if is_template(text) && !parsed.contains_key(text) {
                let t = watchfire_template::parse(&name, text).map(Arc::new);
                parsed.insert(text.to_string(), t);
            }
        }
        RuleTemplates { name, parsed }
    }

    /// How many distinct templates were parsed.
    pub fn len(&self) -> usize {
        self.parsed.len()
    }

    /// Whether the rule has no templates at all.
    pub fn is_empty(&self) -> bool {
        self.parsed.is_empty()
    }

    /// Expands `text` with `data` (an [`watchfire_template::AlertTemplateData`]
    /// value) as dot. Errors become `<error expanding template: ...>`.
    pub fn expand(&self, text: &str, data: &Value, ctx: &ExecContext<'_>) -> String {
        if !is_template(text) {
            return text.to_string();
        }
        let result = match self.parsed.get(text) {
            Some(Ok(t)) => t.execute(data, ctx),
            Some(Err(e)) => Err(e.clone()),
            // Not one of the rule's texts: parse it now (not cached).
            None => watchfire_template::parse(&self.name, text).and_then(|t| t.execute(data, ctx)),
        };
        result.unwrap_or_else(|e| {
            tracing::warn!(template = %self.name, error = %e, "expanding alert template failed");
            error_text(&e)
        })
    }
}

/// Whether `text` contains an action (otherwise it expands to itself).
fn is_template(text: &str) -> bool {
    text.contains("{{")
}

/// The label/annotation value upstream uses for a failed template.
pub fn error_text(e: &TemplateError) -> String {
    format!("<error expanding template: {}>", e.expander_message())
}

/// The `query` template function: instant queries through a
/// [`QueryEngine`] over the storage being evaluated.
pub struct StorageQuery<'a> {
    pub engine: &'a dyn QueryEngine,
    pub storage: &'a dyn Storage,
}

impl QueryFn for StorageQuery<'_> {
    fn query(&self, query: &str, ts_ms: i64) -> Result<Vec<QuerySample>, TemplateQueryError> {
        let res = self
            .engine
            .query_text(self.storage, query, ts_ms)
            .map_err(TemplateQueryError::new)?;
        Ok(res
            .into_iter()
            .map(|s| QuerySample {
                labels: labels_to_map(&s.labels),
                // Upstream hands templates the float value; histogram
                // samples have none and read as 0.
                value: if s.h.is_some() { 0.0 } else { s.v },
            })
            .collect())
    }
}
