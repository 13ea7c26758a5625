//! Per-target series cache (like Prometheus's scrape cache).
//!
//! A target exposes the same series scrape after scrape, so the work of
//! turning a sample line into its final label set (building the raw
//! labels, putting the target labels on, metric relabelling, hashing) is
//! done once per series and reused: [`SeriesCache`] maps the raw series
//! text (see [`SeriesKey`]) to a [`SeriesEntry`]. A lookup hashes the
//! key's parts straight from the scraped body and compares them with the
//! stored key; the owned key is built only for a new series.
//! Entries not seen in a scrape are evicted after it. Each stored series
//! also keeps its remote_write encoding ([`SeriesBytes`]), which every
//! point of it carries to the shipper. Pure, no I/O.

use std::hash::{BuildHasher, Hash, Hasher};

use hashbrown::HashTable;
use rustc_hash::{FxBuildHasher, FxHasher};
use watchfire_promql::Labels;

use super::exposition::SeriesKey;

use crate::pipeline::{Point, SeriesBytes};

/// A label set kept only in its remote_write encoding (which is
/// canonical: labels sorted by name, so equal sets have equal bytes),
/// with a hash of those bytes. The `Labels` themselves are not kept:
/// one heap string per name and value would be most of the cache's
/// memory. Hashing writes only the hash; equality compares the hash,
/// then the bytes.
#[derive(Debug, Clone)]
pub struct HashedLabels {
    pub hash: u64,
    pub enc: SeriesBytes,
}

impl HashedLabels {
    pub fn new(labels: &Labels) -> HashedLabels {
        let enc = SeriesBytes::new(labels);
        HashedLabels {
            hash: FxBuildHasher.hash_one(enc.as_bytes()),
            enc,
        }
    }

    /// A point of this series (sharing its encoding).
    pub fn point(&self, t: i64, v: f64) -> Point {
        Point::encoded(self.enc.clone(), t, v)
    }
}

impl PartialEq for HashedLabels {
    /// Hash first; then the same shared bytes (the usual case: both come
    /// from one cache entry) before comparing them.
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.enc.as_bytes(), other.enc.as_bytes());
        self.hash == other.hash && (std::ptr::eq(a, b) || a == b)
    }
}

impl Eq for HashedLabels {}

impl Hash for HashedLabels {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// What one raw series turns into.
#[derive(Debug, Clone)]
pub struct SeriesEntry {
    /// Hash of the scraped labels (with `__name__`, before target
    /// labels), for duplicate detection. The labels themselves are not
    /// kept (they would double the cache's memory); on a hash match they
    /// are rebuilt from the two samples and compared.
    pub raw_hash: u64,
    /// Length in bytes of the longest scraped label value.
    pub longest_value: usize,
    /// The stored series: `None` when metric relabelling dropped it or
    /// removed its name.
    pub series: Option<HashedLabels>,
    seen: u64,
}

impl SeriesEntry {
    pub fn new(raw: &Labels, series: Option<Labels>) -> SeriesEntry {
        let longest_value = raw.iter().map(|l| l.value.len()).max().unwrap_or(0);
        SeriesEntry {
            raw_hash: FxBuildHasher.hash_one(raw),
            longest_value,
            series: series
                .filter(|l| !l.metric_name().is_empty())
                .map(|l| HashedLabels::new(&l)),
            seen: 0,
        }
    }
}

/// One cached series: its key's hash, the key, the entry.
#[derive(Debug)]
struct Slot {
    hash: u64,
    key: Box<str>,
    entry: SeriesEntry,
}

/// Raw series text → [`SeriesEntry`], kept across scrapes.
///
/// It also tells whether a scrape was *steady*: every series was already
/// cached, none was seen twice, none went away, and the cached key set
/// had passed the full checks (duplicates, label lengths, merges) of an
/// earlier scrape. The scraper then skips those checks and its staleness
/// bookkeeping, since the series set is the one it already checked.
#[derive(Debug, Default)]
pub struct SeriesCache {
    table: HashTable<Slot>,
    generation: u64,
    /// Series added in this scrape.
    inserted: usize,
    /// Series evicted at the end of this scrape.
    evicted: usize,
    /// A raw series was looked up twice in this scrape.
    repeated: bool,
    /// The cached key set passed the full checks (cleared by an insert).
    verified: bool,
}

impl SeriesCache {
    /// Starts a scrape.
    pub fn begin(&mut self) {
        self.generation += 1;
        self.inserted = 0;
        self.evicted = 0;
        self.repeated = false;
    }

    /// Records that the current key set passed the full checks.
    pub fn mark_verified(&mut self) {
        self.verified = true;
    }

    /// Whether this scrape (after [`SeriesCache::evict_unseen`]) saw
    /// exactly the verified key set, each key once.
    pub fn steady(&self) -> bool {
        self.verified && self.inserted == 0 && self.evicted == 0 && !self.repeated
    }

    /// The entry for `key` (a cheap copy: the label sets are shared),
    /// built with `make` when missing (an error from `make` is returned
    /// and nothing is cached). Marks it seen in this scrape.
    pub fn get_or_try_insert<E>(
        &mut self,
        key: SeriesKey<'_>,
        make: impl FnOnce() -> Result<SeriesEntry, E>,
    ) -> Result<SeriesEntry, E> {
        let generation = self.generation;
        let hash = key.hash_with(FxHasher::default());
        if let Some(slot) = self
            .table
            .find_mut(hash, |s| s.hash == hash && key.matches(&s.key))
        {
            self.repeated |= slot.entry.seen == generation;
            slot.entry.seen = generation;
            return Ok(slot.entry.clone());
        }
        let mut entry = make()?;
        entry.seen = generation;
        self.inserted += 1;
        self.verified = false;
        self.table.insert_unique(
            hash,
            Slot {
                hash,
                key: key.to_boxed(),
                entry: entry.clone(),
            },
            |s| s.hash,
        );
        Ok(entry)
    }

    /// Ends a scrape: drops the entries it did not see.
    pub fn evict_unseen(&mut self) {
        let generation = self.generation;
        let before = self.table.len();
        self.table.retain(|s| s.entry.seen == generation);
        self.evicted = before - self.table.len();
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}
