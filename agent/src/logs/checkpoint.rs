//! Checkpoints: for every file fingerprint, the offset up to which every
//! record has been acknowledged by every sink.
//!
//! - [`AckLedger`] (pure) orders acknowledgements. Each batch read from the
//!   files is registered with the end offset it reached in each file; an
//!   offset becomes committable only when its batch *and every batch
//!   registered before it* are acknowledged, so a file's checkpoint never
//!   passes a record a sink has not confirmed, even when sinks confirm out
//!   of order.
//! - [`CheckpointStore`] keeps them in redb: table `offsets`, fingerprint
//!   → (offset, unix seconds of the last update). Each commit writes every
//!   pending offset in one transaction, fsync'd by redb's immediate
//!   durability, so a crash leaves either the old or the new offsets.
//!   Entries not updated for [`PRUNE_AFTER`] are removed at open.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableTable, TableDefinition};

use crate::logs::tail::Fingerprint;

const OFFSETS: TableDefinition<u64, (u64, u64)> = TableDefinition::new("offsets");

/// Checkpoints of files not seen for this long are forgotten.
pub const PRUNE_AFTER: Duration = Duration::from_secs(7 * 24 * 3600);

/// A checkpoint store error.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error("opening {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: redb::DatabaseError,
    },
    #[error("checkpoint store: {0}")]
    Db(String),
}

fn db<E: std::fmt::Display>(e: E) -> CheckpointError {
    CheckpointError::Db(e.to_string())
}

/// The redb file of checkpoints.
pub struct CheckpointStore {
    db: Database,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl CheckpointStore {
    /// Opens (or creates) the store, creating parent directories.
    pub fn open(path: &Path) -> Result<CheckpointStore, CheckpointError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(db)?;
        }
        let db = Database::create(path).map_err(|source| CheckpointError::Open {
            path: path.display().to_string(),
            source,
        })?;
        let store = CheckpointStore { db };
        store.prune(now_secs().saturating_sub(PRUNE_AFTER.as_secs()))?;
        Ok(store)
    }

    fn prune(&self, before: u64) -> Result<(), CheckpointError> {
        let tx = self.db.begin_write().map_err(db)?;
        {
            let mut t = tx.open_table(OFFSETS).map_err(db)?;
            t.retain(|_, (_, seen)| seen >= before).map_err(db)?;
        }
        tx.commit().map_err(db)
    }

    /// Every checkpoint.
    pub fn load(&self) -> Result<HashMap<Fingerprint, u64>, CheckpointError> {
        let tx = self.db.begin_read().map_err(db)?;
        let t = match tx.open_table(OFFSETS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(HashMap::new()),
            Err(e) => return Err(db(e)),
        };
        let mut out = HashMap::new();
        for row in t.iter().map_err(db)? {
            let (k, v) = row.map_err(db)?;
            out.insert(Fingerprint(k.value()), v.value().0);
        }
        Ok(out)
    }

    /// Writes `offsets` in one fsync'd transaction.
    pub fn commit(&self, offsets: &HashMap<Fingerprint, u64>) -> Result<(), CheckpointError> {
        if offsets.is_empty() {
            return Ok(());
        }
        let now = now_secs();
        let tx = self.db.begin_write().map_err(db)?;
        {
            let mut t = tx.open_table(OFFSETS).map_err(db)?;
            for (fp, off) in offsets {
                t.insert(fp.0, (*off, now)).map_err(db)?;
            }
        }
        tx.commit().map_err(db)
    }
}

/// One registered batch.
#[derive(Debug)]
struct Pending {
    acked: bool,
    lines: usize,
    offsets: Vec<(Fingerprint, u64)>,
}

/// Orders acknowledgements into committable offsets. **Pure**.
#[derive(Debug, Default)]
pub struct AckLedger {
    next: u64,
    pending: BTreeMap<u64, Pending>,
    ready: HashMap<Fingerprint, u64>,
    in_flight: usize,
}

impl AckLedger {
    pub fn new() -> AckLedger {
        AckLedger::default()
    }

    /// Registers a batch of `lines` records reaching `offsets` (per file,
    /// the end of the batch's last record of that file). Returns its
    /// sequence number.
    pub fn register(&mut self, lines: usize, offsets: Vec<(Fingerprint, u64)>) -> u64 {
        let seq = self.next;
        self.next += 1;
        self.in_flight += lines;
        self.pending.insert(
            seq,
            Pending {
                acked: false,
                lines,
                offsets,
            },
        );
        seq
    }

    /// Marks batch `seq` acknowledged by every sink, and moves the offsets
    /// of the acknowledged prefix to the committable set.
    pub fn ack(&mut self, seq: u64) {
        if let Some(p) = self.pending.get_mut(&seq) {
            if !p.acked {
                p.acked = true;
                self.in_flight -= p.lines;
            }
        }
        while let Some(entry) = self.pending.first_entry() {
            if !entry.get().acked {
                break;
            }
            for (fp, off) in entry.remove().offsets {
                let slot = self.ready.entry(fp).or_insert(off);
                *slot = (*slot).max(off);
            }
        }
    }

    /// Records read and not yet acknowledged.
    pub fn in_flight(&self) -> usize {
        self.in_flight
    }

    /// Batches registered and not yet committable.
    pub fn pending_batches(&self) -> usize {
        self.pending.len()
    }

    /// Takes the committable offsets.
    pub fn take_ready(&mut self) -> HashMap<Fingerprint, u64> {
        std::mem::take(&mut self.ready)
    }
}
