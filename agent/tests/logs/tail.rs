//! The tailer stepped by hand: every `poll` globs, fingerprints and reads
//! to the end of every file, so no timer is involved.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tempfile::TempDir;
use watchfire_agent::logs::format::Format;
use watchfire_agent::logs::metrics::LogMetrics;
use watchfire_agent::logs::tail::{fingerprint, Fingerprint, ReadFrom, TailConfig, Tailed, Tailer};

fn tailer(
    dir: &TempDir,
    pattern: &str,
    f: impl FnOnce(&mut TailConfig),
) -> (Tailer, Arc<LogMetrics>) {
    let mut cfg = TailConfig::new(vec![dir.path().join(pattern).display().to_string()]);
    cfg.format = Format::Plain;
    f(&mut cfg);
    let m = Arc::new(LogMetrics::new());
    (Tailer::new(cfg, HashMap::new(), m.clone()), m)
}

fn append(path: &Path, lines: impl IntoIterator<Item = String>) {
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap();
    for l in lines {
        writeln!(f, "{l}").unwrap();
    }
}

fn lines(r: std::ops::Range<usize>) -> Vec<String> {
    r.map(|i| format!("line {i}")).collect()
}

fn messages(records: &[Tailed]) -> Vec<String> {
    records
        .iter()
        .map(|r| r.entry.as_ref().unwrap().message.clone())
        .collect()
}

/// Messages of one poll, sorted by their number (files are read in turns,
/// so order is only kept within a file).
fn poll_sorted(t: &mut Tailer) -> Vec<String> {
    let mut m = messages(&t.poll(100_000));
    m.sort_by_key(|l| {
        l.trim_start_matches("line ")
            .parse::<usize>()
            .unwrap_or(usize::MAX)
    });
    m
}

#[test]
fn rotation_by_rename_and_create_loses_nothing() {
    let dir = TempDir::new().unwrap();
    let log = dir.path().join("app.log");
    append(&log, lines(0..5));
    let (mut t, m) = tailer(&dir, "*.log", |_| {});
    assert_eq!(poll_sorted(&mut t), lines(0..5));
    append(&log, lines(5..8));
    std::fs::rename(&log, dir.path().join("app.log.1")).unwrap();
    // The writer still holds the old file for a moment.
    append(&dir.path().join("app.log.1"), lines(8..10));
    append(&log, lines(10..15));
    assert_eq!(poll_sorted(&mut t), lines(5..15));
    assert_eq!(t.watched(), 1, "the renamed file is finished and dropped");
    assert_eq!(m.rotations.with_label_values(&["rename"]).get(), 1);
    append(&log, lines(15..16));
    assert_eq!(poll_sorted(&mut t), lines(15..16));
}

#[test]
fn rotation_by_copytruncate_loses_nothing() {
    // `short`: the new content is shorter than the read position;
    // `refilled`: longer, so only the changed fingerprint tells.
    for refill in [4usize, 40] {
        let dir = TempDir::new().unwrap();
        let log = dir.path().join("app.log");
        append(&log, lines(0..5));
        let (mut t, m) = tailer(&dir, "app.log*", |_| {});
        assert_eq!(poll_sorted(&mut t), lines(0..5));
        append(&log, lines(5..8));
        std::fs::copy(&log, dir.path().join("app.log.1")).unwrap();
        OpenOptions::new()
            .write(true)
            .open(&log)
            .unwrap()
            .set_len(0)
            .unwrap();
        append(&log, lines(100..100 + refill));
        let mut want = lines(5..8);
        want.extend(lines(100..100 + refill));
        assert_eq!(poll_sorted(&mut t), want, "refill {refill}");
        assert_eq!(m.rotations.with_label_values(&["copytruncate"]).get(), 1);
        assert!(poll_sorted(&mut t).is_empty(), "nothing read twice");
    }
}

#[test]
fn long_lines_are_cut_and_never_stall() {
    let dir = TempDir::new().unwrap();
    let log = dir.path().join("a.log");
    append(
        &log,
        ["short".to_string(), "x".repeat(25), "after".to_string()],
    );
    let (mut t, m) = tailer(&dir, "*.log", |c| c.max_line_bytes = 10);
    let recs = t.poll(100);
    assert_eq!(messages(&recs), ["short", "xxxxxxxxxx", "after"]);
    let flags: Vec<bool> = recs
        .iter()
        .map(|r| r.entry.as_ref().unwrap().truncated)
        .collect();
    assert_eq!(flags, [false, true, false]);
    // A line with no newline yet: skipped past, emitted when it ends.
    let mut f = OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(&[b'y'; 100_000]).unwrap();
    assert!(t.poll(100).is_empty());
    f.write_all(b"yyy\nz\n").unwrap();
    let recs = t.poll(100);
    assert_eq!(messages(&recs), ["yyyyyyyyyy", "z"]);
    let size = std::fs::metadata(&log).unwrap().len();
    assert_eq!(
        recs.last().unwrap().end,
        size,
        "offsets count the whole lines"
    );
    assert_eq!(m.lines_truncated.get(), 2);
}

#[test]
fn read_from_end_applies_to_files_found_at_start() {
    let dir = TempDir::new().unwrap();
    let old = dir.path().join("old.log");
    append(&old, lines(0..5));
    let (mut t, _) = tailer(&dir, "*.log", |c| c.read_from = ReadFrom::End);
    assert!(t.poll(100).is_empty());
    append(&old, lines(5..7));
    append(&dir.path().join("new.log"), lines(7..9));
    assert_eq!(poll_sorted(&mut t), lines(5..9));
}

#[test]
fn ignore_older_skips_stale_files() {
    let dir = TempDir::new().unwrap();
    let stale = dir.path().join("stale.log");
    append(&stale, lines(0..3));
    File::options()
        .write(true)
        .open(&stale)
        .unwrap()
        .set_modified(SystemTime::now() - Duration::from_secs(7200))
        .unwrap();
    append(&dir.path().join("fresh.log"), lines(3..4));
    let (mut t, _) = tailer(&dir, "*.log", |c| {
        c.ignore_older = Some(Duration::from_secs(3600))
    });
    assert_eq!(poll_sorted(&mut t), lines(3..4));
}

#[test]
fn reading_is_fair_across_files() {
    let dir = TempDir::new().unwrap();
    append(
        &dir.path().join("big.log"),
        (0..2000).map(|i| format!("big {i}")),
    );
    append(&dir.path().join("small.log"), lines(0..3));
    let (mut t, _) = tailer(&dir, "*.log", |c| c.read_budget = 64);
    let first = messages(&t.poll(20));
    assert!(first.len() <= 20, "{}", first.len());
    assert!(
        first.iter().any(|l| l.starts_with("line")),
        "small file starved: {first:?}"
    );
    assert!(first.iter().any(|l| l.starts_with("big")));
}

#[test]
fn resumes_from_checkpoints() {
    let dir = TempDir::new().unwrap();
    let log = dir.path().join("a.log");
    append(&log, lines(0..6));
    let head = std::fs::read(&log).unwrap();
    let fp = fingerprint::of_head(&head, 1024).unwrap();
    let offset = "line 0\nline 1\nline 2\n".len() as u64;
    let mut cfg = TailConfig::new(vec![dir.path().join("*.log").display().to_string()]);
    cfg.format = Format::Plain;
    let mut t = Tailer::new(
        cfg,
        HashMap::from([(fp, offset)]),
        Arc::new(LogMetrics::new()),
    );
    assert_eq!(poll_sorted(&mut t), lines(3..6));
}

#[test]
fn fingerprints() {
    use fingerprint::of_head;
    // Stable while the file grows; decided by the first line.
    assert_eq!(
        of_head(
            b"first
second",
            1024
        ),
        of_head(
            b"first
second line, longer
",
            1024
        )
    );
    assert_ne!(
        of_head(
            b"first
", 1024
        ),
        of_head(
            b"other
", 1024
        )
    );
    // No newline yet and shorter than the cap: wait.
    assert_eq!(of_head(b"no newline yet", 1024), None);
    assert_eq!(of_head(b"", 8), None);
    // No newline within the cap: the first `max` bytes.
    assert!(of_head(b"0123456789", 8).is_some());
    assert_eq!(of_head(b"0123456789", 8), of_head(b"01234567zzzz\n", 8));
    assert_ne!(of_head(b"0123456789", 8), of_head(b"01234568", 8));
    let _ = Fingerprint(0);
}
