//! Prometheus durations as rule files use them (`for`, `keep_firing_for`,
//! `interval`, `query_offset`, promtool test `eval_time`s): the shared
//! implementation in [`watchfire_promql::duration`], with the error texts
//! of the regex-based `model.ParseDuration` that promtool 2.x reports
//! (`not a valid duration string: "1.5m"`).

pub use watchfire_promql::duration::parse_duration_legacy as parse_duration;
pub use watchfire_promql::duration::{format_duration, DurationError};
