//! Durable dispatch state in redb: one table per record kind, string keys,
//! serialized values; and the alert log (`u64` keys, rows of alert
//! operations, see [`super::alertlog`]).
//!
//! The dispatch core reports what changed (upserts and deletes per table);
//! [`DispatchStore::apply`] writes one batch in one fsync'd write
//! transaction, so a batch is all there or not at all after `kill -9`.
//! [`DispatchStore::load`] reads every record back at start-up, from which
//! the core is rebuilt. Why redb: see `docs/ARCHITECTURE.md` (pure Rust,
//! ACID with copy-on-write B-trees, no C toolchain, one file).

use std::path::Path;

use redb::{Builder, Database, ReadableTable, TableDefinition};

/// redb's page cache. Its default (1 GiB) would keep most of the file in
/// memory; dispatch state is written far more than read (reads happen at
/// start-up), so a small cache is enough.
pub const CACHE_BYTES: usize = 16 * 1024 * 1024;

/// Dispatch store failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("dispatch state database {path}: {source}")]
    Open {
        path: String,
        #[source]
        source: Box<redb::Error>,
    },
    #[error("dispatch state database: {0}")]
    Db(Box<redb::Error>),
    #[error("creating the folder of {path}: {source}")]
    Dir {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

fn dbe<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::Db(Box::new(e.into()))
}

/// One record change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Insert or replace `key` in `table` with `value`.
    Put {
        table: &'static str,
        key: String,
        value: Vec<u8>,
    },
    /// Remove `key` from `table` (absent keys are fine).
    Delete { table: &'static str, key: String },
    /// Insert row `seq` of the alert log.
    PutLog { seq: u64, value: Vec<u8> },
    /// Remove row `seq` of the alert log.
    DeleteLog { seq: u64 },
}

/// The alert log's table.
const ALERT_LOG: TableDefinition<'static, u64, &'static [u8]> =
    TableDefinition::new("dispatch_alert_log");

/// The redb file holding dispatch state.
pub struct DispatchStore {
    db: Database,
    tables: Vec<&'static str>,
}

impl DispatchStore {
    /// Opens (or creates) the database and makes sure every table exists.
    pub fn open(path: &Path, tables: &[&'static str]) -> Result<DispatchStore, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
                path: path.display().to_string(),
                source,
            })?;
        }
        let db = Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| StoreError::Open {
                path: path.display().to_string(),
                source: Box::new(e.into()),
            })?;
        let store = DispatchStore {
            db,
            tables: tables.to_vec(),
        };
        let tx = store.db.begin_write().map_err(dbe)?;
        for t in tables {
            tx.open_table(def(t)).map_err(dbe)?;
        }
        tx.open_table(ALERT_LOG).map_err(dbe)?;
        tx.commit().map_err(dbe)?;
        Ok(store)
    }

    /// Writes a batch of changes in one durable transaction. An empty batch
    /// writes nothing.
    pub fn apply(&self, changes: &[Change]) -> Result<(), StoreError> {
        if changes.is_empty() {
            return Ok(());
        }
        let tx = self.db.begin_write().map_err(dbe)?;
        {
            // Open each table once per transaction, not once per row.
            let mut open: Vec<(&str, StrTable<'_>)> = Vec::new();
            let mut log: Option<LogTable<'_>> = None;
            for c in changes {
                match c {
                    Change::Put { table, key, value } => {
                        table_in(&tx, &mut open, table)?
                            .insert(key.as_str(), value.as_slice())
                            .map_err(dbe)?;
                    }
                    Change::Delete { table, key } => {
                        table_in(&tx, &mut open, table)?
                            .remove(key.as_str())
                            .map_err(dbe)?;
                    }
                    Change::PutLog { seq, value } => {
                        log_in(&tx, &mut log)?
                            .insert(seq, value.as_slice())
                            .map_err(dbe)?;
                    }
                    Change::DeleteLog { seq } => {
                        log_in(&tx, &mut log)?.remove(seq).map_err(dbe)?;
                    }
                }
            }
        }
        tx.commit().map_err(dbe)
    }

    /// Every record of one table, in key order.
    pub fn load(&self, table: &'static str) -> Result<Vec<(String, Vec<u8>)>, StoreError> {
        let tx = self.db.begin_read().map_err(dbe)?;
        let t = tx.open_table(def(table)).map_err(dbe)?;
        let mut out = Vec::new();
        for row in t.iter().map_err(dbe)? {
            let (k, v) = row.map_err(dbe)?;
            out.push((k.value().to_string(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// Every row of the alert log, in sequence order.
    pub fn load_log(&self) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let tx = self.db.begin_read().map_err(dbe)?;
        let t = tx.open_table(ALERT_LOG).map_err(dbe)?;
        let mut out = Vec::new();
        for row in t.iter().map_err(dbe)? {
            let (k, v) = row.map_err(dbe)?;
            out.push((k.value(), v.value().to_vec()));
        }
        Ok(out)
    }

    /// One row of the alert log.
    pub fn read_log(&self, seq: u64) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read().map_err(dbe)?;
        let t = tx.open_table(ALERT_LOG).map_err(dbe)?;
        let v = t.get(seq).map_err(dbe)?;
        Ok(v.map(|v| v.value().to_vec()))
    }

    /// The tables this store was opened with.
    pub fn tables(&self) -> &[&'static str] {
        &self.tables
    }
}

fn def(name: &str) -> TableDefinition<'_, &'static str, &'static [u8]> {
    TableDefinition::new(name)
}

type StrTable<'tx> = redb::Table<'tx, &'static str, &'static [u8]>;
type LogTable<'tx> = redb::Table<'tx, u64, &'static [u8]>;

/// `name` opened in `tx`, once per transaction.
fn table_in<'a, 'tx>(
    tx: &'tx redb::WriteTransaction,
    open: &'a mut Vec<(&'static str, StrTable<'tx>)>,
    name: &'static str,
) -> Result<&'a mut StrTable<'tx>, StoreError> {
    let i = match open.iter().position(|(n, _)| *n == name) {
        Some(i) => i,
        None => {
            open.push((name, tx.open_table(def(name)).map_err(dbe)?));
            open.len() - 1
        }
    };
    Ok(&mut open[i].1)
}

/// The alert log opened in `tx`, once per transaction.
fn log_in<'a, 'tx>(
    tx: &'tx redb::WriteTransaction,
    log: &'a mut Option<LogTable<'tx>>,
) -> Result<&'a mut LogTable<'tx>, StoreError> {
    match log {
        Some(t) => Ok(t),
        None => Ok(log.insert(tx.open_table(ALERT_LOG).map_err(dbe)?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(table: &'static str, key: &str, value: &str) -> Change {
        Change::Put {
            table,
            key: key.into(),
            value: value.as_bytes().to_vec(),
        }
    }

    #[test]
    fn batches_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dispatch.redb");
        {
            let s = DispatchStore::open(&path, &["alerts", "silences"]).unwrap();
            s.apply(&[
                put("alerts", "b", "2"),
                put("alerts", "a", "1"),
                put("silences", "s", "x"),
            ])
            .unwrap();
            s.apply(&[
                Change::Delete {
                    table: "alerts",
                    key: "b".into(),
                },
                put("alerts", "a", "3"),
            ])
            .unwrap();
        }
        let s = DispatchStore::open(&path, &["alerts", "silences"]).unwrap();
        assert_eq!(
            s.load("alerts").unwrap(),
            vec![("a".to_string(), b"3".to_vec())]
        );
        assert_eq!(
            s.load("silences").unwrap(),
            vec![("s".to_string(), b"x".to_vec())]
        );
    }
}
