//! The agent's integration tests, one binary; each area is a module.

mod host;
mod logs;
mod scrape;
mod ship;
mod traces;
