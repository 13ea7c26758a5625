//! The alert data model that Watchfire's dispatch side shares.
//!
//! Alertmanager-compatible dispatch is split across crates that must agree
//! on a few plain types and nothing else:
//!
//! - `watchfire-amconfig` turns an `alertmanager.yml` into a route tree,
//!   inhibit rules, time intervals and receiver settings;
//! - `watchfire-dispatch` is the pure core: alerts, inhibition, silences,
//!   aggregation groups, the notification log and escalation timers;
//! - `watchfire-notifiers` turns a [`Notification`] into PagerDuty, Slack,
//!   webhook and email requests;
//! - the router wires them together with I/O (HTTP API, redb state).
//!
//! This crate holds those shared types: label sets and their fingerprints,
//! [`Alert`], label [`Matcher`]s, the options a route applies
//! ([`RouteOpts`]), [`InhibitRule`], [`Silence`] and [`Notification`]. It
//! does no I/O. Times are milliseconds since the Unix epoch (`i64`).

#![forbid(unsafe_code)]

mod alert;
mod labels;
mod matcher;
mod notification;
pub mod parse;
mod route;
mod silence;

pub use alert::{Alert, AlertStatus};
pub use labels::{fingerprint, LabelSet};
pub use matcher::{MatchType, Matcher, MatcherError, Matchers};
pub use notification::{Notification, NotifyKind};
pub use parse::{parse_matcher, parse_matchers};
pub use route::{GroupBy, InhibitRule, RouteOpts, Routing, TimeIntervalSet};
pub use silence::{Silence, SilenceState};
