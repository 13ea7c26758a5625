//! One shard of the store: a slab of series, the label-set → id map and
//! the shard's inverted index. The store wraps each shard in a `RwLock`;
//! everything here is plain single-threaded data.

use rustc_hash::FxHashMap;
use watchfire_promql::labels::{Labels, Matcher};
use watchfire_promql::storage::Series;

use super::index::{Index, SeriesId};
use super::series::MemSeries;

#[derive(Debug, Default)]
pub(crate) struct Shard {
    slots: Vec<Option<MemSeries>>,
    free: Vec<SeriesId>,
    by_labels: FxHashMap<Labels, SeriesId>,
    index: Index,
}

/// What one shard's garbage collection removed.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ShardGc {
    pub samples: usize,
    pub series: usize,
    /// Of `series`, how many were internal.
    pub internal: usize,
}

impl Shard {
    pub fn get_mut(&mut self, labels: &Labels) -> Option<&mut MemSeries> {
        let id = *self.by_labels.get(labels)?;
        self.slots.get_mut(id as usize).and_then(Option::as_mut)
    }

    pub fn get(&self, labels: &Labels) -> Option<&MemSeries> {
        let id = *self.by_labels.get(labels)?;
        self.slots.get(id as usize).and_then(Option::as_ref)
    }

    /// Creates a series (the caller checked it is absent and reserved
    /// room under the series limit, unless `internal`) and returns it.
    pub fn create(&mut self, labels: &Labels, internal: bool) -> &mut MemSeries {
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.slots.push(None);
                // Slot counts stay far below u32::MAX: the series limit
                // bounds them.
                u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
            }
        };
        self.index.add(id, labels);
        self.by_labels.insert(labels.clone(), id);
        let slot = &mut self.slots[id as usize];
        let s = slot.insert(MemSeries::new(labels.clone()));
        s.internal = internal;
        s
    }

    fn live_ids(&self) -> Vec<SeriesId> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.is_some())
            .map(|(i, _)| i as SeriesId)
            .collect()
    }

    /// The live series `matchers` select.
    fn matching<'s>(&'s self, matchers: &[Matcher]) -> impl Iterator<Item = &'s MemSeries> {
        let slot = |id: SeriesId| self.slots.get(id as usize).and_then(Option::as_ref);
        let ids = self.index.select(
            matchers,
            || self.live_ids(),
            |id| slot(id).map(|s| &s.labels),
        );
        ids.into_iter().filter_map(slot)
    }

    /// Appends the label sets of the matching series that have a sample in
    /// `[mint, maxt]`, copying no samples (the series and labels APIs).
    pub fn labels_into(&self, matchers: &[Matcher], mint: i64, maxt: i64, out: &mut Vec<Labels>) {
        out.extend(
            self.matching(matchers)
                .filter(|s| s.has_sample_in(mint, maxt))
                .map(|s| s.labels.clone()),
        );
    }

    /// Appends the matching series with their samples in `[mint, maxt]`.
    pub fn select_into(&self, matchers: &[Matcher], mint: i64, maxt: i64, out: &mut Vec<Series>) {
        for s in self.matching(matchers) {
            let (samples, histograms) = s.window(mint, maxt);
            if samples.is_empty() && histograms.is_empty() {
                continue;
            }
            out.push(Series {
                labels: s.labels.clone(),
                samples,
                histograms,
            });
        }
    }

    /// Drops samples older than `cutoff` and series left empty.
    pub fn gc(&mut self, cutoff: i64) -> ShardGc {
        let mut r = ShardGc::default();
        for id in 0..self.slots.len() {
            let Some(s) = self.slots[id].as_mut() else {
                continue;
            };
            r.samples += s.truncate_before(cutoff);
            if s.is_empty() {
                if let Some(s) = self.slots[id].take() {
                    self.index.remove(id as SeriesId, &s.labels);
                    self.by_labels.remove(&s.labels);
                    self.free.push(id as SeriesId);
                    r.series += 1;
                    r.internal += usize::from(s.internal);
                }
            }
        }
        // Trailing free slots can go; keep the free list consistent.
        while matches!(self.slots.last(), Some(None)) {
            self.slots.pop();
        }
        let len = self.slots.len() as SeriesId;
        self.free.retain(|&id| id < len);
        // Reuse low ids first so the slab stays dense.
        self.free.sort_unstable_by(|a, b| b.cmp(a));
        r
    }

    /// (series, float samples, histogram samples, bytes, internal series).
    pub fn usage(&self) -> (usize, usize, usize, usize, usize) {
        let mut u = (0, 0, 0, 0, 0);
        for s in self.slots.iter().flatten() {
            u.0 += 1;
            u.4 += usize::from(s.internal);
            u.1 += s.samples.len();
            u.2 += s.histograms.len();
            u.3 += s.bytes();
        }
        u.3 += (self.slots.capacity() - u.0) * std::mem::size_of::<Option<MemSeries>>();
        u
    }
}
