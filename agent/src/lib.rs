//! The Watchfire per-node agent.
//!
//! Scraping, the host collector, log tailing and trace forwarding arrive
//! with their own issues; this crate holds their place in the workspace so
//! the binary's layout does not change when they land.
#![forbid(unsafe_code)]
