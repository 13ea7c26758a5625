//! File identity. A file is known by a checksum of its first line, capped
//! at `fingerprint_bytes` (1 KiB by default), as Vector's
//! `first_lines_checksum`: the first line never changes while a file
//! grows, so the fingerprint is stable from the moment the first newline
//! is written, survives renames (rename + create rotation) and changes
//! when a file is truncated and rewritten (copytruncate). A file without a
//! newline in its first `fingerprint_bytes` bytes is fingerprinted on those
//! bytes once it has that many; a shorter file with no newline yet waits
//! (nothing of it is readable as a line anyway).
//!
//! The known limit: two files whose first lines are byte-identical (a
//! fixed header with no timestamp) share an identity. Log lines almost
//! always carry a timestamp, so this is rare; inodes are not used because
//! they are reused after deletion.
//!
//! The checksum is 64-bit FNV-1a, stable across versions (it is persisted
//! as the checkpoint key).

use std::fs::File;
use std::os::unix::fs::FileExt;

/// A file's identity, the checkpoint key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub u64);

/// The fingerprint of a file starting with `head` (its first bytes, at
/// most `max` are looked at), or `None` when it cannot be fingerprinted
/// yet. **Pure**.
pub fn of_head(head: &[u8], max: usize) -> Option<Fingerprint> {
    let head = &head[..head.len().min(max)];
    let end = match head.iter().position(|&b| b == b'\n') {
        Some(nl) => nl + 1,
        None if head.len() >= max && max > 0 => max,
        None => return None,
    };
    Some(Fingerprint(fnv1a(&head[..end])))
}

/// Reads the first bytes of `file` (without moving any cursor) and
/// fingerprints them.
pub fn of_file(file: &File, max: usize) -> std::io::Result<Option<Fingerprint>> {
    let mut buf = vec![0u8; max];
    let mut n = 0;
    while n < max {
        let r = file.read_at(&mut buf[n..], n as u64)?;
        if r == 0 {
            break;
        }
        n += r;
        if buf[..n].contains(&b'\n') {
            break;
        }
    }
    Ok(of_head(&buf[..n], max))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}
