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
//! field names). Alerts, most of what `POST /api/v2/alerts` writes, go to
//! the alert log ([`super::alertlog`]): a few rows of operations per
//! commit instead of one row per alert. Other records keep one row per
//! key.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use watchfire_alertmodel::Alert;
use watchfire_dispatch::{Changes, Record, Table};

use super::alertlog::{AlertLog, LogError, Op};
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
    #[error(transparent)]
    Log(Arc<LogError>),
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
    /// Requests announced ([`Persister::arriving`]) and not yet queued.
    arriving: Arc<Announced>,
}

/// The longest a commit waits for announced requests.
pub const LINGER: Duration = Duration::from_micros(500);

/// Requests on their way to a commit, shared by the handles and the
/// commit thread.
#[derive(Debug, Default)]
struct Announced {
    /// Announced and not yet queued.
    count: AtomicUsize,
    /// The commit thread is waiting for them (and wants a nudge when the
    /// last one is queued or withdrawn).
    lingering: AtomicBool,
}

/// A request on its way to [`Persister::queue`] (decoding its body,
/// waiting for the core's lock). While any exists, the commit thread
/// waits for it, up to [`LINGER`], so that a few clients posting in step
/// share one fsync instead of the first paying for one alone and the
/// others waiting for the next. Dropping it (after queueing, or on an
/// error) withdraws the announcement.
pub struct Arriving {
    arriving: Arc<Announced>,
    tx: mpsc::Sender<Job>,
}

impl Drop for Arriving {
    fn drop(&mut self) {
        // The last one: a waiting commit need not wait any longer. Only
        // a commit that waits needs the nudge (a wake-up of its thread):
        // it says so before it reads the count, and this reads its flag
        // after changing the count, so one of the two sees the other.
        if self.arriving.count.fetch_sub(1, Ordering::SeqCst) == 1
            && self.arriving.lingering.load(Ordering::SeqCst)
        {
            let _ = self.tx.send(Job::nudge());
        }
    }
}

impl Job {
    /// No changes: wakes a lingering commit.
    fn nudge() -> Job {
        Job {
            changes: Changes::default(),
            extra: Vec::new(),
            done: None,
        }
    }
}

/// What one commit did, for metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CommitStats {
    /// Requests whose changes went into the commit.
    pub batches: usize,
    /// Wall time of the commit, fsync included.
    pub seconds: f64,
    /// Rows in the alert log after it.
    pub log_rows: usize,
    /// Alert versions stored in the log (live or superseded) after it.
    pub log_versions: u64,
}

/// Observes commits for metrics.
pub type CommitObserver = Box<dyn Fn(CommitStats) + Send>;

impl Persister {
    /// Starts the commit thread on `store`, whose alert log `log` indexes
    /// (both from [`load`]).
    pub fn start(store: DispatchStore, log: AlertLog, observe: CommitObserver) -> Persister {
        let (tx, rx) = mpsc::channel::<Job>();
        let arriving = Arc::new(Announced::default());
        let spawned = std::thread::Builder::new()
            .name("dispatch-persist".into())
            .spawn({
                let arriving = arriving.clone();
                move || commit_loop(store, log, rx, &arriving, observe)
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the dispatch persister thread");
        }
        Persister { tx, arriving }
    }

    /// Announces a request that will queue changes soon (see
    /// [`Arriving`]).
    pub fn arriving(&self) -> Arriving {
        self.arriving.count.fetch_add(1, Ordering::SeqCst);
        Arriving {
            arriving: self.arriving.clone(),
            tx: self.tx.clone(),
        }
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

/// Splits a core change set: alert upserts and deletes become alert-log
/// operations keyed by fingerprint (in `ops`), everything else one row per
/// key (in `out`).
fn to_changes(
    ch: Changes,
    ops: &mut Vec<(u64, Op)>,
    out: &mut Vec<Change>,
) -> Result<(), CommitError> {
    ops.extend(ch.alerts.into_iter().map(|(fp, a)| Op::keyed(fp, a)));
    for r in ch.upserts {
        if let Record::Alert(a) = r {
            ops.push((a.fingerprint(), Op::Put(a)));
            continue;
        }
        let value = encode(&r).map_err(CommitError::Encode)?;
        out.push(Change::Put {
            table: r.table().name(),
            key: r.key(),
            value,
        });
    }
    for (t, key) in ch.deletes {
        if t == Table::Alert {
            match u64::from_str_radix(&key, 16) {
                Ok(fp) => ops.push((fp, Op::Del(fp))),
                Err(_) => {
                    tracing::error!(key, "dispatch core deleted an alert with a malformed key")
                }
            }
            continue;
        }
        out.push(Change::Delete {
            table: t.name(),
            key,
        });
    }
    Ok(())
}

/// Every job queued now, and then those of announced requests as they
/// come, for at most `linger`.
fn gather(
    first: Job,
    rx: &mpsc::Receiver<Job>,
    arriving: &Announced,
    linger: Duration,
) -> Vec<Job> {
    let mut jobs = vec![first];
    jobs.extend(rx.try_iter());
    let start = Instant::now();
    arriving.lingering.store(true, Ordering::SeqCst);
    while arriving.count.load(Ordering::SeqCst) > 0 {
        let left = linger.saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok(j) => {
                jobs.push(j);
                jobs.extend(rx.try_iter());
            }
            Err(_) => break,
        }
    }
    arriving.lingering.store(false, Ordering::SeqCst);
    // Jobs queued before the last withdrawal were sent before the count
    // read zero above.
    jobs.extend(rx.try_iter());
    jobs
}

fn commit_loop(
    store: DispatchStore,
    mut log: AlertLog,
    rx: mpsc::Receiver<Job>,
    arriving: &Announced,
    observe: CommitObserver,
) {
    while let Ok(first) = rx.recv() {
        let mut jobs = gather(first, &rx, arriving, LINGER);
        if jobs.iter().all(|j| j.done.is_none()) {
            // Only nudges: nothing to write.
            continue;
        }
        let start = Instant::now();
        let mut all = Vec::new();
        let mut ops = Vec::new();
        let mut result: CommitResult = Ok(());
        for j in &mut jobs {
            let ch = std::mem::take(&mut j.changes);
            if let Err(e) = to_changes(ch, &mut ops, &mut all) {
                result = Err(e);
            }
            all.append(&mut j.extra);
        }
        if result.is_ok() && !ops.is_empty() {
            match log.append_keyed(ops, |seq| read_row(&store, seq)) {
                Ok(w) => push_log(w, &mut all),
                Err(e) => result = Err(CommitError::Log(Arc::new(e))),
            }
        }
        if result.is_ok() {
            result = store
                .apply(&all)
                .map_err(|e| CommitError::Store(Arc::new(e)));
        }
        if let Err(e) = &result {
            tracing::error!(error = %e, "writing dispatch state failed");
            // The log's index may now disagree with the table: read it
            // again.
            log = reload_log(&store);
        }
        observe(CommitStats {
            batches: jobs.iter().filter(|j| j.done.is_some()).count(),
            seconds: start.elapsed().as_secs_f64(),
            log_rows: log.rows(),
            log_versions: log.stored(),
        });
        for j in jobs {
            if let Some(d) = j.done {
                let _ = d.send(result.clone());
            }
        }
    }
}

fn read_row(store: &DispatchStore, seq: u64) -> Result<Option<Vec<u8>>, LogError> {
    store.read_log(seq).map_err(|e| LogError::Read {
        seq,
        source: Box::new(e),
    })
}

fn push_log(w: super::alertlog::LogWrite, all: &mut Vec<Change>) {
    all.extend(
        w.puts
            .into_iter()
            .map(|(seq, value)| Change::PutLog { seq, value }),
    );
    all.extend(w.deletes.into_iter().map(|seq| Change::DeleteLog { seq }));
}

/// Alerts still in the one-row-per-alert table of earlier versions, in
/// key (arrival) order, with their keys (`None`: unreadable).
fn legacy_alerts(store: &DispatchStore) -> Result<Vec<(String, Option<Record>)>, StoreError> {
    let mut out = Vec::new();
    for (key, bytes) in store.load(Table::Alert.name())? {
        let r = decode(&bytes)
            .ok()
            .filter(|r| matches!(r, Record::Alert(_)));
        if r.is_none() {
            tracing::error!(key, "skipping an unreadable stored alert");
        }
        out.push((key, r));
    }
    Ok(out)
}

/// Readies the alert log: moves alerts left in the per-alert table of
/// earlier versions into it and drops rows that replay shows are
/// garbage. Returns the index and the live alerts.
fn open_log(store: &DispatchStore) -> Result<(AlertLog, Vec<Arc<Alert>>), CommitError> {
    let store_err = |e| CommitError::Store(Arc::new(e));
    let replay = || -> Result<_, CommitError> {
        let rows = store.load_log().map_err(store_err)?;
        Ok(AlertLog::replay(rows, |e| {
            tracing::error!(error = %e, "skipping an unreadable alert log row");
        }))
    };
    let legacy = legacy_alerts(store).map_err(store_err)?;
    let (mut log, live, drop) = replay()?;
    let mut changes: Vec<Change> = drop
        .into_iter()
        .map(|seq| Change::DeleteLog { seq })
        .collect();
    if legacy.is_empty() {
        store.apply(&changes).map_err(store_err)?;
        return Ok((log, live));
    }
    let mut ops = Vec::new();
    for (key, r) in legacy {
        if let Some(Record::Alert(a)) = r {
            ops.push(Op::Put(a));
        }
        changes.push(Change::Delete {
            table: Table::Alert.name(),
            key,
        });
    }
    let w = log
        .append(ops, |seq| read_row(store, seq))
        .map_err(|e| CommitError::Log(Arc::new(e)))?;
    push_log(w, &mut changes);
    store.apply(&changes).map_err(store_err)?;
    // Once, on the first start after an upgrade: read the migrated log.
    let (log, live, _) = replay()?;
    Ok((log, live))
}

/// The alert log's index, rebuilt from the table after a failed commit.
fn reload_log(store: &DispatchStore) -> AlertLog {
    match open_log(store) {
        Ok((log, _)) => log,
        Err(e) => {
            // Write after any row that could exist, and record every
            // delete, since the index cannot tell which alerts are
            // stored.
            tracing::error!(error = %e, "reading the dispatch alert log failed");
            AlertLog::blind(1 << 62)
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

/// Reads every dispatch record back (start-up), after readying the alert
/// log; also returns the log's index for [`Persister::start`].
pub fn load(store: &DispatchStore) -> Result<(Vec<Record>, AlertLog), CommitError> {
    let (log, live) = open_log(store)?;
    let mut out = Vec::new();
    for t in Table::ALL {
        if t == Table::Alert {
            // Alerts are in the log (`open_log` emptied the old table).
            continue;
        }
        let rows = store
            .load(t.name())
            .map_err(|e| CommitError::Store(Arc::new(e)))?;
        for (key, bytes) in rows {
            match decode(&bytes) {
                Ok(r) => out.push(r),
                Err(e) => {
                    tracing::error!(table = t.name(), key, error = %e, "skipping an unreadable dispatch record")
                }
            }
        }
    }
    out.extend(live.into_iter().map(Record::Alert));
    Ok((out, log))
}

/// Every dispatch table's name.
pub(crate) fn all_tables() -> Vec<&'static str> {
    Table::ALL.iter().map(|t| t.name()).collect()
}

/// A persister on the store at `path` (created with every table), for
/// tests.
#[cfg(test)]
pub(crate) fn start_at(path: &std::path::Path) -> Persister {
    let store = DispatchStore::open(path, &all_tables()).expect("open the test store");
    let (_, log) = load(&store).expect("load the test store");
    Persister::start(store, log, Box::new(|_| {}))
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

    fn alert_record(name: &str, updated_at: i64) -> Record {
        let a = watchfire_alertmodel::Alert {
            labels: [("alertname".to_string(), name.to_string())].into(),
            annotations: Default::default(),
            starts_at: 1,
            ends_at: 2,
            generator_url: String::new(),
            updated_at,
            timeout: false,
        };
        Record::Alert(std::sync::Arc::new(a))
    }

    /// A job that counts as a request's (it has an outcome channel).
    fn job() -> Job {
        Job {
            done: Some(tokio::sync::oneshot::channel().0),
            ..Job::nudge()
        }
    }

    #[test]
    fn a_commit_waits_for_announced_requests_only() {
        let (tx, rx) = mpsc::channel::<Job>();
        let shared = Arc::new(Announced::default());
        let p = Persister {
            tx: tx.clone(),
            arriving: shared.clone(),
        };
        let count = || shared.count.load(Ordering::SeqCst);
        let long = Duration::from_secs(30);
        // Nothing announced: what is queued, at once.
        tx.send(job()).unwrap();
        let t = Instant::now();
        let got = gather(job(), &rx, &shared, long);
        assert_eq!(got.len(), 2);
        assert!(t.elapsed() < Duration::from_secs(10), "waited for nothing");
        // No commit waiting: a withdrawal wakes nobody.
        drop(p.arriving());
        assert_eq!(count(), 0);
        assert_eq!(rx.try_iter().count(), 0, "a nudge nobody waits for");
        // Two announced: the commit takes both requests' jobs, and stops
        // waiting when the last announcement is withdrawn.
        let (a, b) = (p.arriving(), p.arriving());
        assert_eq!(count(), 2);
        let worker = std::thread::spawn(move || {
            tx.send(job()).unwrap();
            drop(a);
            tx.send(job()).unwrap();
            drop(b);
        });
        let t = Instant::now();
        let got = gather(job(), &rx, &shared, long);
        worker.join().unwrap();
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "waited out the linger"
        );
        let requests = got.iter().filter(|j| j.done.is_some()).count();
        assert_eq!(requests, 3, "the first job and both announced ones");
        assert_eq!(count(), 0);
        assert!(!shared.lingering.load(Ordering::SeqCst));
        // At most the last withdrawal's nudge (none if the worker was done
        // before the commit began to wait), in this batch or the next.
        let nudges = got.len() - requests + rx.try_iter().count();
        assert!(nudges <= 1, "{nudges} nudges");
        // A commit already waiting: the withdrawal must wake it.
        let a = p.arriving();
        let commit = {
            let shared = shared.clone();
            std::thread::spawn(move || gather(job(), &rx, &shared, long).len())
        };
        while !shared.lingering.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        let t = Instant::now();
        drop(a);
        let jobs = commit.join().unwrap();
        assert!(t.elapsed() < Duration::from_secs(10), "not woken");
        assert_eq!(jobs, 2, "its own job and the nudge");
    }

    #[test]
    fn alert_changes_go_to_the_log_and_the_rest_to_rows() {
        let a = alert_record("A", 1);
        let fp_a = a.key();
        let meta = Record::Meta(watchfire_dispatch::Meta { next_id: 7 });
        let Record::Alert(arc) = a.clone() else {
            panic!()
        };
        let fp = u64::from_str_radix(&fp_a, 16).unwrap();
        let ch = Changes {
            upserts: vec![a.clone(), meta.clone()],
            deletes: vec![
                (Table::Alert, fp_a.clone()),
                (Table::Alert, "not hex".into()),
                (Table::Silence, "s1".into()),
            ],
            alerts: vec![(7, Some(arc.clone())), (9, None)],
        };
        let (mut ops, mut out) = (Vec::new(), Vec::new());
        to_changes(ch, &mut ops, &mut out).unwrap();
        // The core's fingerprints are taken as given.
        assert_eq!(
            ops,
            [
                (7, Op::Put(arc.clone())),
                (9, Op::Del(9)),
                (fp, Op::Put(arc)),
                (fp, Op::Del(fp)),
            ]
        );
        assert_eq!(
            out,
            [
                Change::Put {
                    table: Table::Meta.name(),
                    key: "meta".into(),
                    value: encode(&meta).unwrap(),
                },
                Change::Delete {
                    table: Table::Silence.name(),
                    key: "s1".into(),
                },
            ]
        );
    }

    #[test]
    fn per_alert_rows_of_earlier_versions_move_into_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let table = Table::Alert.name();
        let names: Vec<&'static str> = Table::ALL.iter().map(|t| t.name()).collect();
        let store = DispatchStore::open(&dir.path().join("d.redb"), &names).unwrap();
        let put = |seq: u64, r: &Record| Change::Put {
            table,
            key: format!("{seq:016x}"),
            value: encode(r).unwrap(),
        };
        // `A` stored twice (a later row wins), plus an unreadable row.
        let (a1, b, a2) = (
            alert_record("A", 1),
            alert_record("B", 1),
            alert_record("A", 2),
        );
        store
            .apply(&[
                put(3, &a1),
                put(5, &b),
                put(7, &a2),
                Change::Put {
                    table,
                    key: "0000000000000009".into(),
                    value: b"\xff".to_vec(),
                },
            ])
            .unwrap();
        let log = reload_log(&store);
        assert_eq!(log.live(), 2);
        assert!(store.load(table).unwrap().is_empty(), "old rows left");
        let mut got = load(&store).unwrap().0;
        got.sort_by_key(|r| r.key());
        let mut want = vec![a2, b];
        want.sort_by_key(|r| r.key());
        assert_eq!(got, want);
    }

    #[test]
    fn compaction_through_redb_keeps_exactly_the_live_alerts() {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<&'static str> = Table::ALL.iter().map(|t| t.name()).collect();
        let store = DispatchStore::open(&dir.path().join("d.redb"), &names).unwrap();
        let mut log = AlertLog::with_limits(3, 2);
        let mut model = std::collections::BTreeMap::new();
        let mut rng = fastrand::Rng::with_seed(7);
        let mut reads = 0;
        for v in 0..400i64 {
            let mut ops = Vec::new();
            for _ in 0..rng.usize(1..6) {
                let name = format!("n{}", rng.u8(0..24));
                if rng.u8(0..4) == 0 {
                    model.remove(&name);
                    let Record::Alert(a) = alert_record(&name, 0) else {
                        unreachable!()
                    };
                    ops.push(Op::Del(a.fingerprint()));
                } else {
                    model.insert(name.clone(), v);
                    let Record::Alert(a) = alert_record(&name, v) else {
                        unreachable!()
                    };
                    ops.push(Op::Put(a));
                }
            }
            // Compaction reads old rows back from redb.
            let w = log
                .append(ops, |seq| {
                    reads += 1;
                    read_row(&store, seq)
                })
                .unwrap();
            let mut changes = Vec::new();
            push_log(w, &mut changes);
            store.apply(&changes).unwrap();
        }
        assert!(reads > 10, "compaction ran {reads} times");
        assert_eq!(store.load_log().unwrap().len(), log.rows());
        let got: std::collections::BTreeMap<String, i64> = load(&store)
            .unwrap()
            .0
            .into_iter()
            .map(|r| match r {
                Record::Alert(a) => (a.labels.get("alertname").unwrap().to_string(), a.updated_at),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(got, model);
        // A restart's index agrees.
        assert_eq!(reload_log(&store).live(), model.len());
    }

    #[tokio::test]
    async fn committed_records_load_back() {
        let dir = tempfile::tempdir().unwrap();
        let names = all_tables();
        let path = dir.path().join("d.redb");
        let mut core = busy_core();
        let p = start_at(&path);
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
        let mut got = load(&store).unwrap().0;
        let key = |r: &Record| (r.table(), r.key());
        want.sort_by_key(key);
        got.sort_by_key(key);
        assert_eq!(got, want);
    }
}
