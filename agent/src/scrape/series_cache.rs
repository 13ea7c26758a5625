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

/// A label set with its hash and its remote_write encoding computed
/// once. Hashing writes only that hash; equality compares the hash
/// first, then the labels.
#[derive(Debug, Clone)]
pub struct HashedLabels {
    pub hash: u64,
    pub labels: Labels,
    pub enc: SeriesBytes,
}

impl HashedLabels {
    pub fn new(labels: Labels) -> HashedLabels {
        HashedLabels {
            hash: FxBuildHasher.hash_one(&labels),
            enc: SeriesBytes::new(&labels),
            labels,
        }
    }

    /// A point of this series (sharing its labels and encoding).
    pub fn point(&self, t: i64, v: f64) -> Point {
        Point {
            labels: self.labels.clone(),
            t,
            v,
            enc: Some(self.enc.clone()),
        }
    }
}

impl PartialEq for HashedLabels {
    /// Hash first; then the same shared label set (the usual case: both
    /// come from one cache entry) before comparing label by label.
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.labels.as_slice(), other.labels.as_slice());
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
                .map(HashedLabels::new),
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
#[derive(Debug, Default)]
pub struct SeriesCache {
    table: HashTable<Slot>,
    generation: u64,
}

impl SeriesCache {
    /// Starts a scrape.
    pub fn begin(&mut self) {
        self.generation += 1;
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
            slot.entry.seen = generation;
            return Ok(slot.entry.clone());
        }
        let mut entry = make()?;
        entry.seen = generation;
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
        self.table.retain(|s| s.entry.seen == generation);
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}
