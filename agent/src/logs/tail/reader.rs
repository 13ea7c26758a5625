//! One file being read: its open handle, the byte position read so far,
//! the bytes of an incomplete last line, and the per-file format decoder.
//!
//! - Lines longer than `max_line_bytes` are cut: the first
//!   `max_line_bytes` are kept, the rest is skipped up to the newline, and
//!   the line is emitted (flagged `truncated`) when its newline arrives, so
//!   its offset is the end of the whole line. Memory per file stays under
//!   `max_line_bytes`, and an endless line never stalls the reader.
//! - Reads go through `read_at` at the tracked position, so a rename of
//!   the file (rotation) does not disturb them: the handle keeps reading
//!   the renamed file until its end.
//! - A file shorter than the position is truncated (copytruncate); the
//!   tailer retires the reader and the file is found again under its new
//!   fingerprint.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::fingerprint::Fingerprint;
use crate::logs::format::k8s::K8sMeta;
use crate::logs::format::{Decoder, Entry, FormatError};

/// A complete record read from a file.
#[derive(Debug, Clone)]
pub struct Tailed {
    /// The file's identity (the checkpoint key).
    pub fp: Fingerprint,
    /// The offset just after this record's last line: where reading
    /// resumes once the record is acknowledged.
    pub end: u64,
    pub path: Arc<Path>,
    pub k8s: Option<Arc<K8sMeta>>,
    /// The decoded record, or why its line could not be decoded (the line
    /// is dropped and counted, but its offset is still acknowledged).
    pub entry: Result<Entry, FormatError>,
}

/// What one read turn did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReadTurn {
    pub bytes: usize,
    pub lines: usize,
    /// Lines cut at `max_line_bytes`.
    pub truncated: usize,
    /// The end of the file was reached.
    pub eof: bool,
}

/// A file being read.
#[derive(Debug)]
pub struct FileReader {
    pub fp: Fingerprint,
    pub path: Arc<Path>,
    pub k8s: Option<Arc<K8sMeta>>,
    file: File,
    pub dev: u64,
    pub ino: u64,
    /// Next byte to read.
    pos: u64,
    /// End of the last complete record emitted (the resume point).
    committed: u64,
    /// The bytes of the line in progress (at most `max_line_bytes`).
    carry: Vec<u8>,
    /// Skipping the rest of an over-long line.
    skipping: bool,
    decoder: Decoder,
    /// The path no longer leads to this file (renamed away or deleted):
    /// the reader finishes at the end of the file.
    pub(crate) moved: bool,
}

impl FileReader {
    /// A reader of `file` (already opened at `path`) from `offset`.
    pub fn new(
        fp: Fingerprint,
        path: PathBuf,
        file: File,
        offset: u64,
        decoder: Decoder,
    ) -> std::io::Result<FileReader> {
        let md = file.metadata()?;
        let k8s = crate::logs::format::k8s::from_path(&path).map(Arc::new);
        Ok(FileReader {
            fp,
            path: Arc::from(path),
            k8s,
            file,
            dev: md.dev(),
            ino: md.ino(),
            pos: offset,
            committed: offset,
            carry: Vec::new(),
            skipping: false,
            decoder,
            moved: false,
        })
    }

    /// The resume offset: the end of the last record handed out.
    pub fn committed(&self) -> u64 {
        self.committed
    }

    /// Whether the file is now shorter than what was read (copytruncate).
    pub fn truncated(&self) -> std::io::Result<bool> {
        Ok(self.file.metadata()?.len() < self.pos)
    }

    /// Reads up to `budget` bytes, appending at most `max_out` complete
    /// records to `out`.
    pub fn read(
        &mut self,
        budget: usize,
        max_line: usize,
        max_out: usize,
        chunk: &mut [u8],
        out: &mut Vec<Tailed>,
    ) -> std::io::Result<ReadTurn> {
        let mut turn = ReadTurn::default();
        let first = out.len();
        while turn.bytes < budget && out.len() - first < max_out {
            let want = chunk.len().min(budget - turn.bytes);
            let n = self.file.read_at(&mut chunk[..want], self.pos)?;
            if n == 0 {
                turn.eof = true;
                break;
            }
            turn.bytes += n;
            let mut rest = &chunk[..n];
            let base = self.pos;
            let mut consumed = 0u64;
            while let Some(nl) = memchr::memchr(b'\n', rest) {
                let part = &rest[..nl];
                consumed += nl as u64 + 1;
                rest = &rest[nl + 1..];
                turn.lines += 1;
                if self.carry.is_empty() && !self.skipping {
                    // The whole line is in the chunk: no copy.
                    let cut = part.len() > max_line;
                    let line = if cut { &part[..max_line] } else { part };
                    turn.truncated += usize::from(cut);
                    self.emit(line, base + consumed, cut, out);
                } else {
                    let cut = self.append(part, max_line);
                    let truncated = std::mem::take(&mut self.skipping) || cut;
                    let mut line = std::mem::take(&mut self.carry);
                    turn.truncated += usize::from(truncated);
                    self.emit(&line, base + consumed, truncated, out);
                    // Keep the buffer for the next split line.
                    line.clear();
                    self.carry = line;
                }
                if out.len() - first >= max_out {
                    // Stop here: the rest of the chunk is read again.
                    turn.bytes -= n - consumed as usize;
                    self.pos = base + consumed;
                    return Ok(turn);
                }
            }
            if self.append(rest, max_line) {
                self.skipping = true;
            }
            self.pos = base + n as u64;
        }
        Ok(turn)
    }

    /// Appends to the line in progress, keeping at most `max_line` bytes;
    /// true when bytes were cut.
    fn append(&mut self, part: &[u8], max_line: usize) -> bool {
        if self.skipping {
            return true;
        }
        let room = max_line.saturating_sub(self.carry.len());
        if part.len() > room {
            self.carry.extend_from_slice(&part[..room]);
            true
        } else {
            self.carry.extend_from_slice(part);
            false
        }
    }

    fn emit(&mut self, line: &[u8], end: u64, truncated: bool, out: &mut Vec<Tailed>) {
        let entry = match self.decoder.push(line) {
            Ok(None) => return,
            Ok(Some(mut e)) => {
                e.truncated |= truncated;
                Ok(e)
            }
            Err(e) => Err(e),
        };
        self.committed = end;
        out.push(Tailed {
            fp: self.fp,
            end,
            path: self.path.clone(),
            k8s: self.k8s.clone(),
            entry,
        });
    }
}
