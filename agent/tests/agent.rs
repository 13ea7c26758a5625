//! The agent's integration tests, one binary; each area is a module.

mod host;
mod scrape;
mod ship;
