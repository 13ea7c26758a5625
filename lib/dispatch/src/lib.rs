//! Watchfire's dispatch core: Alertmanager 0.25's alert handling as a
//! pure state machine, plus durable escalation.
//!
//! No I/O, no clock, no threads: every call takes `now` (ms since the
//! epoch) and returns data. The router feeds it alerts and silences from
//! the API, asks it for due notifications, reports deliveries, and
//! persists the [`Changes`] it reports.
//!
//! The pipeline per group flush is Alertmanager's: time intervals
//! (`active_time_intervals`, `mute_time_intervals`) → inhibition →
//! silences → dedup against the notification log, per integration of the
//! route's receiver (`send_resolved` is per integration). Escalation
//! policies page further receivers on a schedule until acknowledged or
//! resolved.
//!
//! Intended differences from Alertmanager 0.25 (all invisible to
//! receivers except the first two):
//!
//! - group timers, the outbox and escalations are persisted: after a
//!   restart groups keep their schedule (Alertmanager restarts every group
//!   with `group_wait` and forgets unsent resolves);
//! - delivery is asynchronous: a group's next flush waits until the
//!   previous flush's notifications are delivered or dead-lettered;
//! - an empty group is removed right after its flush (Alertmanager's
//!   maintenance does it within 30 s);
//! - a resolved alert leaves the store when its last group drops it after
//!   a successful flush (Alertmanager's provider GC runs every 30 min;
//!   resolved alerts are never listed by the API either way);
//! - the notification log hashes alerts with the label fingerprint (FNV)
//!   instead of xxhash; the log is internal;
//! - an unknown time-interval name counts as "not in the interval"
//!   (Alertmanager fails the flush; config validation rejects it anyway).
//!
//! Modules: `store` (validation, merge), `inhibit` (indexed inhibitor),
//! `silence`, `nflog` (dedup), `group` (aggregation groups, config),
//! `escalation`, `flush` (due work, delivery), `persist` (records,
//! restore), `view` (API views), `labels` (Alertmanager's spellings).

#![forbid(unsafe_code)]

mod dispatcher;

/// Maps and sets keyed by alert fingerprints. Fingerprints are already
/// hashes, so a cheap multiplicative hasher is enough (not SipHash).
pub(crate) type FpMap<V> = std::collections::HashMap<u64, V, rustc_hash::FxBuildHasher>;
pub(crate) type FpSet = std::collections::HashSet<u64, rustc_hash::FxBuildHasher>;
mod escalation;
mod flush;
mod group;
mod inhibit;
pub mod labels;
mod nflog;
mod persist;
mod prepare;
mod records;
mod silence;
mod store;
mod view;

pub use dispatcher::{DispatchError, Dispatcher};
pub use escalation::{Ack, Escalation, EscalationPolicy, FiredStep, Step};
pub use group::{DispatchConfig, DEFAULT_RESOLVE_TIMEOUT, DEFAULT_RETENTION, GC_INTERVAL};
pub use inhibit::Inhibitor;
pub use nflog::{needs_update, NflogEntry};
pub use persist::RestoreError;
pub use prepare::{prepare_batch, PreparedBatch};
pub use records::{
    Changes, DeadLetter, Flight, GroupRecord, Meta, Origin, Outgoing, Record, Table,
};
pub use silence::{MatcherRecord, SilenceError, SilenceRecord, SilenceSpec};
pub use store::{AlertError, AlertValidationError, PostableAlert, ReceiveReport};
pub use view::{AlertState, AlertView, GroupView, SilenceView, StateCounts};
