//! Scrape tests: relabelling, config, discovery (static, file_sd,
//! Kubernetes against a local API server), the scrape loop against local
//! targets, and the manager.

mod common;
mod config;
mod file_sd;
mod kubernetes;
mod manager;
mod relabel;
mod scrape_loop;
