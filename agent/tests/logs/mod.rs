//! The log pipeline: formats (table tests), the tailer stepped by hand
//! (`Tailer::poll`, no timers), and the running pipeline with real files,
//! redb checkpoints and test sinks. Pipeline tests wait for sink output
//! through channels with a bounded `timeout` (the tailer polls files every
//! 5 ms on the blocking pool; file-system changes have no event to await).

mod config;
mod format;
mod pipeline;
mod tail;
