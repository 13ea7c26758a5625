//! Integration tests for watchfire-exposition: the OpenMetrics conformance
//! suite, upstream fixture files, and table-driven edge cases.

#[path = "exposition/cases.rs"]
mod cases;
#[path = "exposition/fixtures.rs"]
mod fixtures;
#[path = "exposition/openmetrics.rs"]
mod openmetrics;

/// Root of the read-only upstream exposition data.
pub fn data_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/exposition")
}
