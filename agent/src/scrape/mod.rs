//! Prometheus-style scraping: configuration, discovery, relabelling and
//! the per-target scrape loop.
//!
//! Flow: [`config::validate`] (or [`config::parse_str`]) gives typed
//! [`config::ScrapeConfig`]s; [`discovery::file_sd::preflight`] checks
//! file_sd paths; [`manager::ScrapeManager::new`] resolves discovery and
//! registers self-metrics; [`manager::ScrapeManager::start`] runs
//! discovery providers ([`discovery`]) whose target groups become
//! [`target::Target`]s ([`target::populate`], with [`relabel`]), each
//! scraped by a [`scrape_loop`] that hands its points to the
//! [`crate::pipeline::Appender`].
//!
//! ```no_run
//! # async fn demo(appender: std::sync::Arc<dyn watchfire_agent::pipeline::Appender>) -> Result<(), Box<dyn std::error::Error>> {
//! use watchfire_agent::scrape::{config, discovery::file_sd, manager::ScrapeManager};
//! let text = std::fs::read_to_string("agent.yaml")?;
//! let jobs = config::parse_str(&text, "agent.yaml")?;
//! file_sd::preflight(&jobs, "agent.yaml")?;
//! let registry = prometheus::Registry::new();
//! let handle = ScrapeManager::new(jobs, appender, &registry)?.start();
//! // ... on shutdown:
//! handle.stop().await;
//! # Ok(()) }
//! ```

pub mod config;
pub mod discovery;
pub mod exposition;
pub mod manager;
pub mod relabel;
pub mod scrape_loop;
pub mod series_cache;
pub mod target;

pub use config::{ConfigError, ScrapeConfig};
pub use manager::{ScrapeHandle, ScrapeManager};
