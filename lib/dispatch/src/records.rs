//! Persistence records: every piece of dispatch state as a serde value
//! keyed by (table, key), and the change set the core reports.
//!
//! The caller (the router) stores each [`Record`] under
//! `(record.table(), record.key())` and deletes the keys in
//! [`Changes::deletes`]. Writing the changes returned after a call before
//! acting on that call's output (sending notifications, answering the
//! API) is what makes `kill -9` safe: an outgoing notification is in the
//! outbox, and the escalation step that produced it already advanced, in
//! the same write.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use watchfire_alertmodel::{Alert, LabelSet, Notification};

use crate::escalation::Escalation;
use crate::nflog::NflogEntry;
use crate::silence::SilenceRecord;

/// The tables of the dispatch state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Table {
    Alert,
    Group,
    Nflog,
    Escalation,
    Silence,
    Outbox,
    DeadLetter,
    Meta,
}

impl Table {
    pub const ALL: [Table; 8] = [
        Table::Alert,
        Table::Group,
        Table::Nflog,
        Table::Escalation,
        Table::Silence,
        Table::Outbox,
        Table::DeadLetter,
        Table::Meta,
    ];

    /// A stable name (a redb table name, for instance).
    pub fn name(self) -> &'static str {
        match self {
            Table::Alert => "dispatch_alerts",
            Table::Group => "dispatch_groups",
            Table::Nflog => "dispatch_nflog",
            Table::Escalation => "dispatch_escalations",
            Table::Silence => "dispatch_silences",
            Table::Outbox => "dispatch_outbox",
            Table::DeadLetter => "dispatch_dead_letters",
            Table::Meta => "dispatch_meta",
        }
    }
}

/// Why an outgoing notification exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Origin {
    /// An Alertmanager group flush; on delivery these sets go to the
    /// notification log.
    Flush {
        firing: BTreeSet<u64>,
        resolved: BTreeSet<u64>,
    },
    /// An escalation step.
    Step { step: u32, round: u32 },
    /// An acknowledgement, to a receiver that was paged.
    Ack,
    /// The group resolved: a resolve to a receiver that was paged.
    Resolve,
}

/// A notification to deliver, kept in the outbox until
/// [`crate::Dispatcher::delivered`] or [`crate::Dispatcher::failed`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outgoing {
    pub id: u64,
    /// Which integration of the receiver (its index in the receiver's
    /// config) for Alertmanager flushes; `None` means every integration
    /// (escalation steps, acks and resolves).
    pub integration: Option<u32>,
    pub notification: Notification,
    pub origin: Origin,
    pub created_at: i64,
}

/// A notification whose delivery failed for good.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub outgoing: Outgoing,
    pub failed_at: i64,
    pub reason: String,
}

/// A group flush whose notifications are not all delivered yet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flight {
    pub outstanding: BTreeSet<u64>,
    pub failed: bool,
    /// Alerts resolved at flush time, with their `updated_at`: removed
    /// from the group once the flush succeeded, if not updated since.
    pub resolved: Vec<(u64, i64)>,
}

/// An aggregation group's timers (its alerts follow from routing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    pub key: String,
    pub labels: LabelSet,
    pub receiver: String,
    pub next_flush: i64,
    pub has_flushed: bool,
    pub in_flight: Option<Flight>,
}

/// Counters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    pub next_id: u64,
}

/// One persisted record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Record {
    Alert(Arc<Alert>),
    Group(GroupRecord),
    Nflog(NflogEntry),
    Escalation(Escalation),
    Silence(SilenceRecord),
    Outbox(Outgoing),
    DeadLetter(DeadLetter),
    Meta(Meta),
}

/// The key of an outbox or dead-letter id (zero-padded, so byte order is
/// numeric order).
pub fn id_key(id: u64) -> String {
    format!("{id:020}")
}

impl Record {
    pub fn table(&self) -> Table {
        match self {
            Record::Alert(_) => Table::Alert,
            Record::Group(_) => Table::Group,
            Record::Nflog(_) => Table::Nflog,
            Record::Escalation(_) => Table::Escalation,
            Record::Silence(_) => Table::Silence,
            Record::Outbox(_) => Table::Outbox,
            Record::DeadLetter(_) => Table::DeadLetter,
            Record::Meta(_) => Table::Meta,
        }
    }

    pub fn key(&self) -> String {
        match self {
            Record::Alert(a) => crate::labels::fp_string(a.fingerprint()),
            Record::Group(g) => g.key.clone(),
            Record::Nflog(e) => crate::nflog::nflog_key(&e.group_key, &e.receiver, e.integration),
            Record::Escalation(e) => e.group_key.clone(),
            Record::Silence(s) => s.id.clone(),
            Record::Outbox(o) => id_key(o.id),
            Record::DeadLetter(d) => id_key(d.outgoing.id),
            Record::Meta(_) => "meta".to_string(),
        }
    }
}

/// What changed since the last [`crate::Dispatcher::take_changes`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    pub upserts: Vec<Record>,
    pub deletes: Vec<(Table, String)>,
    /// Alert changes by fingerprint, in the order they happened: a version
    /// stored, or `None` when the alert is gone (a later entry for the same
    /// fingerprint supersedes an earlier one). Kept apart from
    /// `upserts`/`deletes` (and keyed by the fingerprint the core already
    /// has) because ingestion writes one per alert: the persister need not
    /// hash the labels again.
    pub alerts: Vec<(u64, Option<Arc<Alert>>)>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.upserts.is_empty() && self.deletes.is_empty() && self.alerts.is_empty()
    }
}
