//! Group commit for dispatch state: one thread owns the redb handle and
//! writes every batch of [`Changes`] queued since its last commit in one
//! durable transaction.
//!
//! Callers queue their changes while still holding the dispatcher's lock
//! (so batches reach the disk in the order the core made them) and then
//! wait, without the lock, for the commit that contains them. Under load
//! many API requests share one fsync.

use std::sync::mpsc;
use std::time::Instant;

use watchfire_dispatch::{Changes, Record};

use super::store::{Change, DispatchStore, StoreError};

/// The outcome of a commit, shared by every batch in it.
pub type CommitResult = Result<(), String>;

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
                let _ = d.send(Err("the dispatch persister has stopped".into()));
            }
        }
        rx
    }
}

fn to_changes(ch: Changes, out: &mut Vec<Change>) -> Result<(), String> {
    for r in ch.upserts {
        let value = serde_json::to_vec(&r).map_err(|e| format!("encoding a record: {e}"))?;
        out.push(Change::Put {
            table: r.table().name(),
            key: r.key(),
            value,
        });
    }
    for (t, key) in ch.deletes {
        out.push(Change::Delete {
            table: t.name(),
            key,
        });
    }
    Ok(())
}

fn commit_loop(store: DispatchStore, rx: mpsc::Receiver<Job>, observe: CommitObserver) {
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
            if let Err(e) = to_changes(ch, &mut all) {
                result = Err(e);
            }
            all.append(&mut j.extra);
        }
        if result.is_ok() {
            result = store.apply(&all).map_err(|e| e.to_string());
        }
        if let Err(e) = &result {
            tracing::error!(error = %e, "writing dispatch state failed");
        }
        observe(jobs.len(), start.elapsed().as_secs_f64());
        for j in jobs {
            if let Some(d) = j.done {
                let _ = d.send(result.clone());
            }
        }
    }
}

/// Reads every dispatch record back (start-up).
pub fn load_records(store: &DispatchStore) -> Result<Vec<Record>, StoreError> {
    let mut out = Vec::new();
    for t in watchfire_dispatch::Table::ALL {
        for (key, bytes) in store.load(t.name())? {
            match serde_json::from_slice::<Record>(&bytes) {
                Ok(r) => out.push(r),
                Err(e) => {
                    tracing::error!(table = t.name(), key, error = %e, "skipping an unreadable dispatch record")
                }
            }
        }
    }
    Ok(out)
}
