//! Tailing: discovery of files by glob, one [`FileReader`] per file,
//! rotation, and fair reading. Synchronous and driven from outside:
//! [`Tailer::poll`] discovers and reads one batch, so tests step it
//! without timers and the pipeline runs it on the blocking pool.
//!
//! - Files are known by [`Fingerprint`] (see [`fingerprint`]), never by
//!   path or inode alone. Each discovery globs `include`, drops
//!   `exclude` matches and files not modified within `ignore_older`, and
//!   fingerprints every candidate.
//! - A new fingerprint starts at its checkpoint, else at the offset a
//!   previous reader of it reached in this process, else at the beginning
//!   (files found at start with `read_from: end` start at their end).
//! - Rename + create: the reader keeps its handle and finishes the renamed
//!   file (found again under its new name when it still matches the glob);
//!   the new file is a new fingerprint, read from the beginning.
//! - Copytruncate: a file shorter than the read position, or whose path
//!   now shows a different fingerprint on the same inode, retires its
//!   reader; the rotated copy keeps the old fingerprint and is resumed
//!   where the reader stopped, the truncated file starts again at 0.
//! - Fairness: every turn gives each file at most `read_budget` bytes,
//!   starting from a rotating index, until `max_lines` records are read or
//!   every file is at its end.

pub mod fingerprint;
pub mod reader;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

pub use fingerprint::Fingerprint;
pub use reader::{FileReader, Tailed};

use crate::logs::format::{Decoder, Format};
use crate::logs::metrics::LogMetrics;

/// Where a file seen for the first time at start, with no checkpoint,
/// starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadFrom {
    Beginning,
    End,
}

/// The tailer's settings.
#[derive(Debug, Clone)]
pub struct TailConfig {
    /// Glob patterns of files to read.
    pub include: Vec<String>,
    /// Glob patterns of files to skip.
    pub exclude: Vec<glob::Pattern>,
    pub format: Format,
    pub read_from: ReadFrom,
    /// Files not modified for this long are not opened.
    pub ignore_older: Option<Duration>,
    pub max_line_bytes: usize,
    pub fingerprint_bytes: usize,
    /// Bytes read from one file per turn.
    pub read_budget: usize,
}

impl TailConfig {
    /// Defaults for `include`.
    pub fn new(include: Vec<String>) -> TailConfig {
        TailConfig {
            include,
            exclude: Vec::new(),
            format: Format::Auto,
            read_from: ReadFrom::Beginning,
            ignore_older: None,
            max_line_bytes: 256 * 1024,
            fingerprint_bytes: 1024,
            read_budget: 64 * 1024,
        }
    }
}

/// The tailer: discovery, readers and fair reading.
pub struct Tailer {
    cfg: TailConfig,
    metrics: Arc<LogMetrics>,
    readers: Vec<FileReader>,
    /// Resume offsets: checkpoints at start, then the committed offset of
    /// every retired reader.
    resume: HashMap<Fingerprint, u64>,
    started: bool,
    next: usize,
    chunk: Vec<u8>,
}

impl Tailer {
    /// A tailer resuming from `checkpoints`.
    pub fn new(
        cfg: TailConfig,
        checkpoints: HashMap<Fingerprint, u64>,
        metrics: Arc<LogMetrics>,
    ) -> Tailer {
        Tailer {
            chunk: vec![0; cfg.read_budget.clamp(4096, 1 << 20)],
            cfg,
            metrics,
            readers: Vec::new(),
            resume: checkpoints,
            started: false,
            next: 0,
        }
    }

    /// Files being read.
    pub fn watched(&self) -> usize {
        self.readers.len()
    }

    /// Discovers files and reads up to `max_lines` records.
    pub fn poll(&mut self, max_lines: usize) -> Vec<Tailed> {
        self.discover();
        let mut out = Vec::new();
        self.read(max_lines, &mut out);
        out
    }

    /// Globs, fingerprints and opens new files; notices renames and
    /// truncation.
    pub fn discover(&mut self) {
        let first = !self.started;
        self.started = true;
        // Truncation first, so that a rotated copy carrying the old
        // fingerprint is resumed rather than taken for a rename.
        let mut i = 0;
        while i < self.readers.len() {
            if self.readers[i].truncated().unwrap_or(false) {
                self.retire(i);
                self.metrics.rotations("copytruncate");
            } else {
                i += 1;
            }
        }
        let mut seen_paths = HashSet::new();
        for pattern in &self.cfg.include.clone() {
            let paths = match glob::glob(pattern) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(pattern, error = %e, "bad log glob");
                    continue;
                }
            };
            for path in paths.flatten() {
                if !seen_paths.insert(path.clone()) || self.excluded(&path) {
                    continue;
                }
                if let Err(e) = self.consider(path.clone(), first) {
                    tracing::debug!(path = %path.display(), error = %e, "cannot open log file");
                }
            }
        }
        // Readers whose path leads elsewhere now (renamed away, deleted).
        for r in &mut self.readers {
            let same = std::fs::metadata(&r.path)
                .map(|m| m.dev() == r.dev && m.ino() == r.ino)
                .unwrap_or(false);
            r.moved = !same;
        }
        self.metrics.files_watched.set(self.readers.len() as i64);
    }

    fn excluded(&self, path: &std::path::Path) -> bool {
        self.cfg.exclude.iter().any(|p| p.matches_path(path))
    }

    fn consider(&mut self, path: PathBuf, first: bool) -> std::io::Result<()> {
        let file = File::open(&path)?;
        let md = file.metadata()?;
        if !md.is_file() {
            return Ok(());
        }
        let Some(fp) = fingerprint::of_file(&file, self.cfg.fingerprint_bytes)? else {
            return Ok(());
        };
        if let Some(r) = self.readers.iter_mut().find(|r| r.fp == fp) {
            if *r.path != *path {
                // Renamed (rotation by rename): same file, new name.
                r.path = Arc::from(path);
            }
            return Ok(());
        }
        // Same inode, different fingerprint: truncated and rewritten.
        if let Some(i) = self
            .readers
            .iter()
            .position(|r| r.dev == md.dev() && r.ino == md.ino())
        {
            self.retire(i);
            self.metrics.rotations("copytruncate");
        }
        let offset = match self.resume.get(&fp) {
            Some(&o) => o.min(md.len()),
            None => {
                if let Some(age) = self.cfg.ignore_older {
                    let old = md
                        .modified()
                        .ok()
                        .and_then(|m| SystemTime::now().duration_since(m).ok())
                        .is_some_and(|d| d > age);
                    if old {
                        return Ok(());
                    }
                }
                match (first, self.cfg.read_from) {
                    (true, ReadFrom::End) => md.len(),
                    _ => 0,
                }
            }
        };
        let format = self.cfg.format.for_path(&path);
        // The pipeline's redactor validates JSON lines in its own pass.
        let decoder = Decoder::new(format, self.cfg.max_line_bytes).lazy_json();
        let reader = FileReader::new(fp, path, file, offset, decoder)?;
        tracing::debug!(path = %reader.path.display(), offset, "tailing");
        self.readers.push(reader);
        Ok(())
    }

    fn retire(&mut self, i: usize) {
        let r = self.readers.remove(i);
        self.resume.insert(r.fp, r.committed());
    }

    /// Reads fairly from every file until `max_lines` records or the end
    /// of every file.
    pub fn read(&mut self, max_lines: usize, out: &mut Vec<Tailed>) {
        let start_len = out.len();
        loop {
            let n = self.readers.len();
            if n == 0 {
                return;
            }
            let mut progress = false;
            let mut finished = Vec::new();
            for k in 0..n {
                if out.len() - start_len >= max_lines {
                    break;
                }
                let i = (self.next + k) % n;
                let r = &mut self.readers[i];
                let room = max_lines - (out.len() - start_len);
                let budget = self.cfg.read_budget;
                match r.read(budget, self.cfg.max_line_bytes, room, &mut self.chunk, out) {
                    Ok(turn) => {
                        self.metrics.read(turn.bytes, turn.lines, turn.truncated);
                        progress |= turn.bytes > 0;
                        if turn.eof && r.moved {
                            finished.push(i);
                        }
                    }
                    Err(e) => {
                        tracing::warn!(path = %r.path.display(), error = %e, "reading log file");
                        finished.push(i);
                    }
                }
            }
            self.next = self.next.wrapping_add(1);
            finished.sort_unstable();
            for i in finished.into_iter().rev() {
                self.retire(i);
                self.metrics.rotations("rename");
            }
            if !progress || out.len() - start_len >= max_lines {
                self.metrics.files_watched.set(self.readers.len() as i64);
                return;
            }
        }
    }
}
