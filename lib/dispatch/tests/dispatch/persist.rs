//! Persistence: change sets, JSON round trips, and `kill -9` at the two
//! points that matter (after persisting, before delivery; before
//! persisting).

use std::collections::BTreeMap;

use watchfire_dispatch::{Changes, Dispatcher, Record, Table};

use crate::escalation::{esc_cfg, GROUP};
use crate::harness::*;

/// A fake database: what the router keeps in redb.
#[derive(Default, Clone)]
struct Db(BTreeMap<(Table, String), String>);

impl Db {
    fn apply(&mut self, ch: Changes) {
        for r in ch.upserts {
            let json = serde_json::to_string(&r).unwrap();
            self.0.insert((r.table(), r.key()), json);
        }
        for k in ch.deletes {
            self.0.remove(&k);
        }
        for (fp, a) in ch.alerts {
            let key = (Table::Alert, format!("{fp:016x}"));
            match a {
                Some(a) => {
                    let json = serde_json::to_string(&Record::Alert(a)).unwrap();
                    self.0.insert(key, json);
                }
                None => {
                    self.0.remove(&key);
                }
            }
        }
    }

    fn records(&self) -> Vec<Record> {
        self.0
            .values()
            .map(|j| serde_json::from_str(j).unwrap())
            .collect()
    }
}

/// Runs the loop from `from` to `to`, persisting after every step, and
/// (when `crash_at` is reached) returning before delivering what `due`
/// produced at that time, either after persisting it or before.
fn drive(
    d: &mut Dispatcher,
    db: &mut Db,
    from: i64,
    to: i64,
    crash: Option<(i64, bool)>,
) -> Vec<String> {
    let mut out = Vec::new();
    let mut now = from;
    while let Some(w) = d.next_wakeup() {
        now = w.max(now);
        if now > to {
            break;
        }
        let due = d.due(now);
        let ch = d.take_changes();
        if let Some((t, persisted)) = crash {
            if now >= t {
                if persisted {
                    db.apply(ch);
                }
                return out;
            }
        }
        db.apply(ch);
        for o in due {
            out.push(describe(&o, now));
            d.delivered(o.id, now).unwrap();
        }
        db.apply(d.take_changes());
    }
    out
}

fn start(db: &mut Db) -> Dispatcher {
    let mut d = Dispatcher::new(esc_cfg(0));
    d.receive(0, vec![alert("A", "", None, None)]);
    db.apply(d.take_changes());
    d
}

const BEFORE: [&str; 4] = [
    "t=30 r/0 alerts firing[A] resolved[]",
    "t=30 pd1 alerts firing[A] resolved[] esc=0.0",
    "t=30 slack alerts firing[A] resolved[] esc=0.0",
    "t=130 pd2 alerts firing[A] resolved[] esc=1.0",
];

#[test]
fn crash_after_persisting_resends_the_outbox_once_and_never_refires() {
    let mut db = Db::default();
    let mut d = start(&mut db);
    assert_eq!(
        drive(&mut d, &mut db, 0, 1000 * S, Some((230 * S, true))),
        BEFORE
    );
    // kill -9: the step-2 page was persisted in the outbox, not delivered.
    let mut d = Dispatcher::restore(esc_cfg(0), db.records(), 900 * S).unwrap();
    let got = drive(&mut d, &mut db, 900 * S, 2000 * S, None);
    // The pending page goes out again (at-least-once); nothing else fires
    // and the group's own repeat waits for its repeat interval.
    assert_eq!(got[0], "t=900 mgr alerts firing[A] resolved[] esc=2.0");
    assert!(!got[1..].iter().any(|l| l.contains("esc=")), "{got:#?}");
    assert!(d.pending().is_empty());
}

#[test]
fn crash_before_persisting_fires_the_overdue_step_exactly_once() {
    let mut db = Db::default();
    let mut d = start(&mut db);
    assert_eq!(
        drive(&mut d, &mut db, 0, 1000 * S, Some((230 * S, false))),
        BEFORE
    );
    let mut d = Dispatcher::restore(esc_cfg(0), db.records(), 900 * S).unwrap();
    let got = drive(&mut d, &mut db, 900 * S, 2000 * S, None);
    let steps: Vec<&String> = got.iter().filter(|l| l.contains("esc=")).collect();
    assert_eq!(steps, ["t=900 mgr alerts firing[A] resolved[] esc=2.0"]);
    // A third life: nothing fires twice.
    let mut d = Dispatcher::restore(esc_cfg(0), db.records(), 2100 * S).unwrap();
    let again = drive(&mut d, &mut db, 2100 * S, 2200 * S, None);
    assert!(!again.iter().any(|l| l.contains("esc=")), "{again:#?}");
}

#[test]
fn resolve_survives_a_restart() {
    let mut db = Db::default();
    let mut d = start(&mut db);
    drive(&mut d, &mut db, 0, 140 * S, None);
    d.receive(140 * S, vec![alert("A", "", Some(0), Some(140 * S))]);
    db.apply(d.take_changes());
    let mut d = Dispatcher::restore(esc_cfg(0), db.records(), 145 * S).unwrap();
    let got = drive(&mut d, &mut db, 145 * S, 400 * S, None);
    assert_eq!(
        got,
        [
            "t=150 pd1 alerts firing[] resolved[A] esc=1.0",
            "t=150 pd2 alerts firing[] resolved[A] esc=1.0",
            "t=150 slack alerts firing[] resolved[A] esc=1.0",
            "t=150 r/0 alerts firing[] resolved[A]",
        ]
    );
    // Everything was cleaned up, in memory and in the database.
    assert_eq!(d.alert_count(), 0);
    assert!(d.escalations().is_empty());
    assert!(!db.0.keys().any(|(t, _)| matches!(
        t,
        Table::Alert | Table::Group | Table::Escalation | Table::Outbox
    )));
}

#[test]
fn snapshot_equals_the_change_log_and_ack_survives() {
    let mut db = Db::default();
    let mut d = start(&mut db);
    drive(&mut d, &mut db, 0, 40 * S, None);
    d.ack(GROUP, "bob", 50 * S).unwrap();
    let _ = d.due(50 * S);
    db.apply(d.take_changes());
    let mut full = Db::default();
    full.apply(Changes {
        upserts: d.records(),
        ..Changes::default()
    });
    assert_eq!(full.0, db.0);
    let d2 = Dispatcher::restore(esc_cfg(0), db.records(), 60 * S).unwrap();
    let e = &d2.escalations()[0];
    assert_eq!(e.acked.as_ref().map(|a| a.by.as_str()), Some("bob"));
    assert_eq!(
        d2.pending().len(),
        2,
        "the two ack notifications are still to deliver"
    );
}
