//! Turning parsed rule files into [`GroupSpec`]s: group `labels` are merged
//! under each rule's labels (rule labels win), the group's `interval` and
//! `query_offset` default to the global ones.

use std::sync::Arc;

use watchfire_rulefmt::RuleFile;

use super::{GroupSpec, RuleSpec};

/// The groups of one parsed file. `default_interval_ms` and
/// `default_query_offset_ms` apply where a group sets none.
pub fn group_specs(
    file: &RuleFile,
    default_interval_ms: i64,
    default_query_offset_ms: i64,
) -> Vec<GroupSpec> {
    file.groups
        .iter()
        .map(|g| GroupSpec {
            file: file.path.clone(),
            name: g.name.clone(),
            interval_ms: g
                .interval_ms
                .filter(|i| *i > 0)
                .unwrap_or(default_interval_ms),
            query_offset_ms: g.query_offset_ms.unwrap_or(default_query_offset_ms),
            limit: usize::try_from(g.limit).unwrap_or(usize::MAX),
            rules: g
                .rules
                .iter()
                .map(|r| {
                    let mut labels = g.labels.clone();
                    labels.extend(r.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
                    RuleSpec {
                        kind: r.kind.clone(),
                        expr: Arc::new(r.expr.clone()),
                        expr_text: r.expr_text.clone(),
                        labels,
                    }
                })
                .collect(),
        })
        .collect()
}
