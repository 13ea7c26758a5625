//! Tests of the alert sinks: console output, the bounded queue, the
//! Alertmanager client's retry rules against a scripted local server, and
//! delivery to a real Alertmanager (checked through its API and `amtool`).

mod common;
mod console_queue;
mod real_alertmanager;
mod retry;
