//! The notification log and Alertmanager's dedup decision
//! (`notify.DedupStage.needsUpdate`).
//!
//! One entry per (group key, receiver, integration index): the firing and
//! resolved alert hashes last delivered and when. Entries are written only
//! after a successful delivery (the RetryStage → SetNotifiesStage order),
//! and expire `retention` after they were written.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// A notification-log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NflogEntry {
    pub group_key: String,
    pub receiver: String,
    pub integration: u32,
    /// Fingerprints of the firing alerts last notified.
    pub firing: BTreeSet<u64>,
    /// Fingerprints of the resolved alerts last notified.
    pub resolved: BTreeSet<u64>,
    /// When the notification was delivered.
    pub timestamp: i64,
    pub expires_at: i64,
}

/// The persistence key of an entry.
pub fn nflog_key(group_key: &str, receiver: &str, integration: u32) -> String {
    format!("{receiver}/{integration}/{group_key}")
}

/// `DedupStage.needsUpdate`.
pub fn needs_update(
    entry: Option<&NflogEntry>,
    firing: &BTreeSet<u64>,
    resolved: &BTreeSet<u64>,
    send_resolved: bool,
    repeat_interval: i64,
    now: i64,
) -> bool {
    let Some(e) = entry else {
        return !firing.is_empty();
    };
    if !firing.is_subset(&e.firing) {
        return true;
    }
    // Everything resolved: notify (regardless of send_resolved) so the
    // firing set in the log is cleared, unless the receiver never heard of
    // any firing alert.
    if firing.is_empty() {
        return !e.firing.is_empty();
    }
    if send_resolved && !resolved.is_subset(&e.resolved) {
        return true;
    }
    e.timestamp < now - repeat_interval
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[u64]) -> BTreeSet<u64> {
        v.iter().copied().collect()
    }

    fn entry(f: &[u64], r: &[u64], ts: i64) -> NflogEntry {
        NflogEntry {
            group_key: "g".into(),
            receiver: "r".into(),
            integration: 0,
            firing: set(f),
            resolved: set(r),
            timestamp: ts,
            expires_at: i64::MAX,
        }
    }

    /// (entry, firing, resolved, send_resolved, now) with repeat = 100.
    fn check(e: Option<NflogEntry>, f: &[u64], r: &[u64], sr: bool, now: i64, expect: bool) {
        let got = needs_update(e.as_ref(), &set(f), &set(r), sr, 100, now);
        assert_eq!(
            got, expect,
            "{e:?} firing={f:?} resolved={r:?} sr={sr} now={now}"
        );
    }

    #[test]
    fn dedup_table() {
        check(None, &[1], &[], true, 0, true);
        check(None, &[], &[1], true, 0, false);
        check(Some(entry(&[1], &[], 0)), &[1, 2], &[], true, 10, true);
        check(Some(entry(&[1, 2], &[], 0)), &[1], &[2], true, 10, true);
        check(Some(entry(&[1, 2], &[], 0)), &[1], &[2], false, 10, false);
        check(Some(entry(&[1, 2], &[], 0)), &[], &[1, 2], false, 10, true);
        check(Some(entry(&[], &[1], 0)), &[], &[1, 2], true, 10, false);
        check(Some(entry(&[1], &[2], 0)), &[1], &[2], true, 10, false);
        // Repeat: strictly more than repeat_interval since the last one.
        check(Some(entry(&[1], &[], 0)), &[1], &[], true, 100, false);
        check(Some(entry(&[1], &[], 0)), &[1], &[], true, 101, true);
    }
}
