//! Group commit for dispatch state: one thread owns the redb handle and
//! writes every batch of [`Changes`] queued since its last commit in one
//! durable transaction.
//!
//! Callers queue their changes while still holding the dispatcher's lock
//! (so batches reach the disk in the order the core made them) and then
//! wait, without the lock, for the commit that contains them. Under load
//! many API requests share one fsync.
//!
//! Records are stored in `postcard`'s compact binary encoding (serde, no
//! field names): a receive writes one row per alert, so the encoding is
//! on the hot path of `POST /api/v2/alerts`.
//!
//! Alert rows are keyed by arrival order (a sequence number, 16 hex
//! digits), not by fingerprint: fingerprints are random, so a batch of
//! new alerts keyed by them would rewrite one B-tree leaf per alert,
//! while sequence keys append to the last leaves. The commit thread keeps
//! fingerprint → sequence in memory (rebuilt from the table at start and
//! after a failed commit); an update is written in place under its key,
//! a delete removes it. Loading ignores keys (records carry their labels).

use std::collections::HashMap;
use std::sync::{mpsc, Arc};
use std::time::Instant;

use watchfire_dispatch::{Changes, Record, Table};

use super::store::{Change, DispatchStore, StoreError};

/// Why a commit failed. Every batch in the commit gets the same error, so
/// it is cheap to clone.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommitError {
    #[error("the dispatch persister has stopped")]
    Stopped,
    #[error("encoding a record: {0}")]
    Encode(#[source] postcard::Error),
    #[error(transparent)]
    Store(Arc<StoreError>),
}

/// The outcome of a commit, shared by every batch in it.
pub type CommitResult = Result<(), CommitError>;

struct Job {
    changes: Changes,
    extra: Vec<Change>,
    done: Option<tokio::sync::oneshot::Sender<CommitResult>>,
}

/// The handle callers queue changes through.
#[derive(Clone)]
pub struct Persister {
    tx: mpsc::Sender<Job>,
}

/// Observes commits (batch size, duration) for metrics.
pub type CommitObserver = Box<dyn Fn(usize, f64) + Send>;

impl Persister {
    /// Starts the commit thread.
    pub fn start(store: DispatchStore, observe: CommitObserver) -> Persister {
        let (tx, rx) = mpsc::channel::<Job>();
        let spawned = std::thread::Builder::new()
            .name("dispatch-persist".into())
            .spawn(move || commit_loop(store, rx, observe));
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the dispatch persister thread");
        }
        Persister { tx }
    }

    /// Queues `changes` (and router-side `extra` rows) for the next commit
    /// and returns a receiver for its outcome. Cheap: call it under the
    /// dispatcher's lock.
    pub fn queue(
        &self,
        changes: Changes,
        extra: Vec<Change>,
    ) -> tokio::sync::oneshot::Receiver<CommitResult> {
        let (done, rx) = tokio::sync::oneshot::channel();
        let job = Job {
            changes,
            extra,
            done: Some(done),
        };
        if let Err(mpsc::SendError(mut job)) = self.tx.send(job) {
            if let Some(d) = job.done.take() {
                let _ = d.send(Err(CommitError::Stopped));
            }
        }
        rx
    }
}

/// Where each stored alert lives in the alert table.
#[derive(Default)]
struct AlertKeys {
    by_fp: HashMap<u64, u64>,
    next: u64,
}

fn seq_key(seq: u64) -> String {
    format!("{seq:016x}")
}

impl AlertKeys {
    /// Reads the alert table. Returns the keys and the rows to delete: an
    /// older row of a fingerprint stored twice (left by a failed commit).
    fn load(store: &DispatchStore) -> Result<(AlertKeys, Vec<Change>), StoreError> {
        let table = Table::Alert.name();
        let mut keys = AlertKeys::default();
        let mut stale = Vec::new();
        for (key, bytes) in store.load(table)? {
            let Ok(seq) = u64::from_str_radix(&key, 16) else {
                stale.push(Change::Delete { table, key });
                continue;
            };
            keys.next = keys.next.max(seq + 1);
            let Ok(Record::Alert(a)) = decode(&bytes) else {
                continue;
            };
            // Rows come in key order: a later row of the same alert wins,
            // as it does when the core restores them.
            if let Some(old) = keys.by_fp.insert(a.fingerprint(), seq) {
                stale.push(Change::Delete {
                    table,
                    key: seq_key(old),
                });
            }
        }
        Ok((keys, stale))
    }

    fn put(&mut self, fp: u64) -> String {
        let next = &mut self.next;
        let seq = *self.by_fp.entry(fp).or_insert_with(|| {
            *next += 1;
            *next - 1
        });
        seq_key(seq)
    }

    fn delete(&mut self, core_key: &str) -> Option<String> {
        let fp = u64::from_str_radix(core_key, 16).ok()?;
        self.by_fp.remove(&fp).map(seq_key)
    }
}

fn to_changes(ch: Changes, keys: &mut AlertKeys, out: &mut Vec<Change>) -> Result<(), CommitError> {
    for r in ch.upserts {
        let value = encode(&r).map_err(CommitError::Encode)?;
        let key = match &r {
            Record::Alert(a) => keys.put(a.fingerprint()),
            _ => r.key(),
        };
        out.push(Change::Put {
            table: r.table().name(),
            key,
            value,
        });
    }
    for (t, key) in ch.deletes {
        let key = match t {
            Table::Alert => match keys.delete(&key) {
                Some(k) => k,
                None => continue,
            },
            _ => key,
        };
        out.push(Change::Delete {
            table: t.name(),
            key,
        });
    }
    Ok(())
}

fn commit_loop(store: DispatchStore, rx: mpsc::Receiver<Job>, observe: CommitObserver) {
    let mut keys = reload_keys(&store);
    while let Ok(first) = rx.recv() {
        let mut jobs = vec![first];
        while let Ok(j) = rx.try_recv() {
            jobs.push(j);
        }
        let start = Instant::now();
        let mut all = Vec::new();
        let mut result: CommitResult = Ok(());
        for j in &mut jobs {
            let ch = std::mem::take(&mut j.changes);
            if let Err(e) = to_changes(ch, &mut keys, &mut all) {
                result = Err(e);
            }
            all.append(&mut j.extra);
        }
        if result.is_ok() {
            result = store
                .apply(&all)
                .map_err(|e| CommitError::Store(Arc::new(e)));
        }
        if let Err(e) = &result {
            tracing::error!(error = %e, "writing dispatch state failed");
            // The keys may now disagree with the table: read them again.
            keys = reload_keys(&store);
        }
        observe(jobs.len(), start.elapsed().as_secs_f64());
        for j in jobs {
            if let Some(d) = j.done {
                let _ = d.send(result.clone());
            }
        }
    }
}

/// The alert keys from the table, after removing stale duplicate rows.
fn reload_keys(store: &DispatchStore) -> AlertKeys {
    let loaded = AlertKeys::load(store).and_then(|(keys, stale)| {
        store.apply(&stale)?;
        Ok(keys)
    });
    match loaded {
        Ok(keys) => keys,
        Err(e) => {
            // Start numbering after any key a row could have; an alert
            // stored before is then written twice, and the later row wins
            // on restore.
            tracing::error!(error = %e, "reading dispatch alert keys failed");
            AlertKeys {
                by_fp: HashMap::new(),
                next: 1 << 62,
            }
        }
    }
}

/// A record's stored bytes.
pub fn encode(r: &Record) -> Result<Vec<u8>, postcard::Error> {
    postcard::to_stdvec(r)
}

/// A record back from its stored bytes.
pub fn decode(bytes: &[u8]) -> Result<Record, postcard::Error> {
    postcard::from_bytes(bytes)
}

/// Reads every dispatch record back (start-up).
pub fn load_records(store: &DispatchStore) -> Result<Vec<Record>, StoreError> {
    let mut out = Vec::new();
    for t in watchfire_dispatch::Table::ALL {
        for (key, bytes) in store.load(t.name())? {
            match decode(&bytes) {
                Ok(r) => out.push(r),
                Err(e) => {
                    tracing::error!(table = t.name(), key, error = %e, "skipping an unreadable dispatch record")
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use watchfire_dispatch::{Dispatcher, MatcherRecord, PostableAlert, SilenceSpec};

    const CFG: &str = "\
route:
  receiver: hook
  group_by: [alertname]
  group_wait: 0s
  escalation_policy: crit
receivers:
  - name: hook
    webhook_configs: [{url: 'http://127.0.0.1:9/'}]
escalation_policies:
  - name: crit
    steps: [{after: 0s, notify: [hook]}]
";

    /// A core holding every kind of record: alerts, groups, a silence,
    /// an escalation, outbox entries, a dead letter, the meta row.
    fn busy_core() -> Dispatcher {
        let am = watchfire_amconfig::load_str(CFG, "t.yml").unwrap();
        let mut d = Dispatcher::new(super::super::build::dispatch_config(&am, "http://wf"));
        let alert = |name: &str| PostableAlert {
            labels: [("alertname".to_string(), name.to_string())].into(),
            annotations: [("summary".to_string(), "é \"quoted\"".to_string())].into(),
            starts_at: Some(1_000),
            ends_at: None,
            generator_url: "http://gen".into(),
        };
        d.receive(2_000, vec![alert("A"), alert("B")]);
        let spec = SilenceSpec {
            id: None,
            matchers: vec![MatcherRecord {
                name: "alertname".into(),
                op: "=~".into(),
                value: "Z.*".into(),
            }],
            starts_at: 0,
            ends_at: 9_000_000,
            created_by: "me".into(),
            comment: "c".into(),
        };
        d.set_silence(spec, &mut || "s1".to_string(), 2_000)
            .unwrap();
        let out = d.due(3_000);
        assert!(out.len() >= 2, "{out:?}");
        d.failed(out[0].id, 4_000, "boom").unwrap();
        d
    }

    #[test]
    fn every_record_kind_round_trips() {
        let records = busy_core().records();
        let kinds: std::collections::BTreeSet<_> = records.iter().map(|r| r.table()).collect();
        assert!(kinds.len() >= 7, "{kinds:?}");
        for r in records {
            let bytes = encode(&r).unwrap();
            assert_eq!(decode(&bytes).unwrap(), r);
        }
    }

    fn alert_record(name: &str) -> Record {
        let a = watchfire_alertmodel::Alert {
            labels: [("alertname".to_string(), name.to_string())].into(),
            annotations: Default::default(),
            starts_at: 1,
            ends_at: 2,
            generator_url: String::new(),
            updated_at: 1,
            timeout: false,
        };
        Record::Alert(std::sync::Arc::new(a))
    }

    fn keys_of(ch: Changes, keys: &mut AlertKeys) -> Vec<String> {
        let mut out = Vec::new();
        to_changes(ch, keys, &mut out).unwrap();
        out.iter()
            .map(|c| match c {
                Change::Put { key, .. } => format!("put {key}"),
                Change::Delete { key, .. } => format!("del {key}"),
            })
            .collect()
    }

    #[test]
    fn alerts_are_keyed_by_arrival() {
        let (a, b) = (alert_record("A"), alert_record("B"));
        let fp_a = a.key();
        let mut keys = AlertKeys::default();
        let upserts = |rs: &[&Record]| Changes {
            upserts: rs.iter().map(|r| (*r).clone()).collect(),
            deletes: Vec::new(),
        };
        let deletes = |ks: &[&str]| Changes {
            upserts: Vec::new(),
            deletes: ks.iter().map(|k| (Table::Alert, k.to_string())).collect(),
        };
        let z = |n: u64| seq_key(n);
        // New alerts append; an update stays in place.
        assert_eq!(
            keys_of(upserts(&[&a, &b, &a]), &mut keys),
            [
                format!("put {}", z(0)),
                format!("put {}", z(1)),
                format!("put {}", z(0))
            ]
        );
        // Deletes name the row; unknown alerts write nothing.
        assert_eq!(
            keys_of(deletes(&[&fp_a, "00000000000000ff", "bad"]), &mut keys),
            [format!("del {}", z(0))]
        );
        // Back again: a new row.
        assert_eq!(
            keys_of(upserts(&[&a]), &mut keys),
            [format!("put {}", z(2))]
        );
    }

    #[test]
    fn duplicate_alert_rows_are_cleaned_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let table = Table::Alert.name();
        let store = DispatchStore::open(&dir.path().join("d.redb"), &[table]).unwrap();
        let put = |seq: u64, r: &Record| Change::Put {
            table,
            key: seq_key(seq),
            value: encode(r).unwrap(),
        };
        let (a, b) = (alert_record("A"), alert_record("B"));
        store.apply(&[put(3, &a), put(5, &b), put(7, &a)]).unwrap();
        let keys = reload_keys(&store);
        assert_eq!(keys.next, 8);
        let fp = |r: &Record| u64::from_str_radix(&r.key(), 16).unwrap();
        assert_eq!(keys.by_fp.get(&fp(&a)), Some(&7));
        assert_eq!(keys.by_fp.get(&fp(&b)), Some(&5));
        let rows: Vec<String> = store
            .load(table)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(rows, [seq_key(5), seq_key(7)]);
    }

    #[tokio::test]
    async fn committed_records_load_back() {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<&'static str> = watchfire_dispatch::Table::ALL
            .iter()
            .map(|t| t.name())
            .collect();
        let path = dir.path().join("d.redb");
        let mut core = busy_core();
        let p = Persister::start(
            DispatchStore::open(&path, &names).unwrap(),
            Box::new(|_, _| {}),
        );
        p.queue(core.take_changes(), Vec::new())
            .await
            .unwrap()
            .unwrap();
        drop(p);
        let mut want = core.records();
        // The commit thread drops its store when the channel closes; open
        // a fresh handle once it has.
        let store = loop {
            match DispatchStore::open(&path, &names) {
                Ok(s) => break s,
                Err(_) => std::thread::yield_now(),
            }
        };
        let mut got = load_records(&store).unwrap();
        let key = |r: &Record| (r.table(), r.key());
        want.sort_by_key(key);
        got.sort_by_key(key);
        assert_eq!(got, want);
    }
}
