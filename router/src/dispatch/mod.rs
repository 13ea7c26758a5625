//! The dispatch edge: the pure core from `watchfire-dispatch`, driven by a
//! timer loop ([`service`]), persisted in redb ([`store`], [`persister`]),
//! delivering through `watchfire-notifiers` ([`deliver`]), and served over
//! the Alertmanager v2 API, Watchfire's own endpoints and a web page
//! ([`api`], [`inbound`], [`ui`]). [`run`] starts and reloads it.

pub mod alertlog;
pub mod api;
pub mod build;
pub mod deliver;
pub mod inbound;
pub mod metrics;
pub mod persister;
pub mod run;
pub mod service;
pub mod sink;
pub mod store;
pub mod ui;
