//! The log pipeline: formats (table tests), the tailer stepped by hand
//! (`Tailer::poll`, no timers), and the running pipeline with real files,
//! redb checkpoints and test sinks. Pipeline tests wait for sink output
//! through channels with a bounded `timeout` (the tailer polls files every
//! 5 ms on the blocking pool; file-system changes have no event to await).
//! The HTTP sinks (`elasticsearch`, `loki`) run against scripted local
//! axum servers ([`sink_server`]) with millisecond backoffs; the Kafka
//! sink against librdkafka's mock cluster (real protocol over loopback).

mod config;
mod elasticsearch;
mod format;
mod kafka;
mod loki;
mod pipeline;
mod sink_config;
mod sink_server;
mod tail;
