//! The redb disk buffer on its own: order and sequence numbers across
//! reopen, eviction when full, expiry, and append throughput with
//! durability (group commit).

use std::sync::Arc;
use std::time::Instant;

use prometheus::Registry;
use watchfire_agent::ship::buffer::Buffer;
use watchfire_agent::ship::metrics::ShipMetrics;

use super::{metric, scrape};

fn open(dir: &tempfile::TempDir, max: u64) -> (Buffer, Registry) {
    let reg = Registry::new();
    let m = ShipMetrics::new(&reg).unwrap();
    (
        Buffer::open(&dir.path().join("b.redb"), max, m).unwrap(),
        reg,
    )
}

/// The `t` of the first point of each record read.
fn read_ts(b: &Buffer) -> Vec<i64> {
    b.read(usize::MAX)
        .unwrap()
        .iter()
        .map(|r| r.points[0].t)
        .collect()
}

#[test]
fn reopen_resends_everything_in_order() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (b, _) = open(&dir, 1 << 30);
        for t in 0..5 {
            b.append(&scrape(10, t), 0);
        }
        assert_eq!(read_ts(&b), [0, 1, 2, 3, 4]);
        // Read but unacknowledged: nothing more to read, still on disk.
        assert_eq!(read_ts(&b), Vec::<i64>::new());
        assert_eq!(b.stats().unwrap().samples, 50);
    }
    let (b, reg) = open(&dir, 1 << 30);
    assert_eq!(
        metric(&reg, "watchfire_agent_remote_write_buffer_samples", None),
        50.0
    );
    let recs = b.read(usize::MAX).unwrap();
    assert_eq!(
        recs.iter().map(|r| r.points[0].t).collect::<Vec<_>>(),
        [0, 1, 2, 3, 4]
    );
    assert_eq!(recs[2].points, scrape(10, 2));
    assert!(recs.windows(2).all(|w| w[0].seq < w[1].seq));
    let seqs: Vec<u64> = recs.iter().map(|r| r.seq).collect();
    assert_eq!(b.delete(&seqs).unwrap(), 50);
    assert_eq!(b.stats().unwrap().samples, 0);
    assert_eq!(b.stats().unwrap().bytes, 0);
}

#[test]
fn sequence_numbers_never_go_behind_the_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let (b, _) = open(&dir, 1 << 30);
    for t in 0..3 {
        b.append(&scrape(2, t), 0);
    }
    let recs = b.read(usize::MAX).unwrap();
    // The last two are acknowledged first (another shard was faster).
    b.delete(&[recs[1].seq, recs[2].seq]).unwrap();
    b.append(&scrape(2, 3), 0);
    assert_eq!(read_ts(&b), [3]);
}

#[test]
fn full_buffer_evicts_oldest_unread() {
    let dir = tempfile::tempdir().unwrap();
    let (b, reg) = open(&dir, 1 << 20);
    b.append(&scrape(100, 0), 0);
    let first = b.read(1).unwrap();
    assert_eq!(first.len(), 1);
    let mut appended = 100;
    for t in 1..400 {
        b.append(&scrape(500, t), 0);
        appended += 500;
    }
    let s = b.stats().unwrap();
    assert!(s.bytes <= 1 << 20, "{} bytes", s.bytes);
    let dropped = metric(
        &reg,
        "watchfire_agent_remote_write_samples_dropped_total",
        Some(("reason", "buffer_full")),
    );
    let left = b.read(usize::MAX).unwrap();
    let unread: usize = left.iter().map(|r| r.points.len()).sum();
    // The in-flight record survives; unread + dropped + in flight = all.
    assert_eq!(unread as f64 + dropped + 100.0, appended as f64);
    assert_eq!(s.samples as usize, unread + 100);
    // The survivors are the newest, contiguous up to the last append.
    let ts: Vec<i64> = left.iter().map(|r| r.points[0].t).collect();
    assert_eq!(ts.last(), Some(&399));
    assert!(ts.windows(2).all(|w| w[1] == w[0] + 1));
}

#[test]
fn expire_drops_old_unread_records() {
    let dir = tempfile::tempdir().unwrap();
    let (b, reg) = open(&dir, 1 << 30);
    for (t, at) in [(0, 1_000), (1, 2_000), (2, 3_000)] {
        b.append(&scrape(4, t), at);
    }
    assert_eq!(b.expire(2_500).unwrap(), 8);
    assert_eq!(
        metric(
            &reg,
            "watchfire_agent_remote_write_samples_dropped_total",
            Some(("reason", "too_old"))
        ),
        8.0
    );
    assert_eq!(read_ts(&b), [2]);
}

/// With a hot queue smaller than the backlog, records come partly from
/// memory and partly from disk (the spill), still each once and in order;
/// after a reopen everything unacknowledged is read from disk.
#[test]
fn hot_queue_spills_to_disk_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.redb");
    let check = |hot_max: usize, batches: i64, first_read: usize, want_first: Vec<i64>| {
        let _ = std::fs::remove_file(&path);
        let m = ShipMetrics::new(&Registry::new()).unwrap();
        let b = Buffer::open_with_hot_limit(&path, 1 << 30, hot_max, m).unwrap();
        for t in 0..batches {
            b.append(&scrape(10, t), 0);
        }
        let first: Vec<i64> = b
            .read(first_read)
            .unwrap()
            .iter()
            .map(|r| r.points[0].t)
            .collect();
        assert_eq!(first, want_first, "hot_max {hot_max}");
        // More appends after a partial read, then everything else.
        b.append(&scrape(10, batches), 0);
        let mut rest: Vec<i64> = first.clone();
        rest.extend(read_ts(&b));
        assert_eq!(rest, (0..=batches).collect::<Vec<_>>(), "hot_max {hot_max}");
        assert_eq!(read_ts(&b), Vec::<i64>::new());
        assert_eq!(b.stats().unwrap().samples as i64, 10 * (batches + 1));
        drop(b);
        let m = ShipMetrics::new(&Registry::new()).unwrap();
        let b = Buffer::open_with_hot_limit(&path, 1 << 30, hot_max, m).unwrap();
        assert_eq!(read_ts(&b), (0..=batches).collect::<Vec<_>>());
    };
    check(0, 5, 20, vec![0, 1]); // all on disk
    check(25, 6, 20, vec![0, 1]); // two in memory, then disk, then memory
    check(1000, 4, 1, vec![0]); // all in memory
}

/// `submit` does not block; the committer thread commits, wakes the
/// submitters and, when stopped, commits what is still pending.
#[test]
fn submitted_batches_are_committed_by_the_committer() {
    let dir = tempfile::tempdir().unwrap();
    let (b, reg) = open(&dir, 1 << 30);
    let b = Arc::new(b);
    let rxs: Vec<_> = (0..5).map(|t| b.submit(scrape(3, t), 0)).collect();
    // Nothing committed before the committer runs.
    assert_eq!(read_ts(&b), Vec::<i64>::new());
    let c = {
        let b = b.clone();
        std::thread::spawn(move || b.run_committer(std::time::Duration::from_millis(5)))
    };
    for rx in rxs {
        rx.blocking_recv().unwrap();
    }
    assert_eq!(read_ts(&b), [0, 1, 2, 3, 4]);
    let late = b.submit(scrape(3, 5), 0);
    b.stop_committer();
    c.join().unwrap();
    late.blocking_recv().unwrap();
    assert_eq!(read_ts(&b), [5]);
    assert_eq!(
        metric(
            &reg,
            "watchfire_agent_remote_write_samples_appended_total",
            None
        ),
        18.0
    );
}

#[test]
fn append_throughput_with_durability() {
    let dir = tempfile::tempdir().unwrap();
    let (b, _) = open(&dir, 1 << 30);
    let b = Arc::new(b);
    let batch = scrape(1_000, 0);
    let start = Instant::now();
    for _ in 0..100 {
        b.append(&batch, 0);
    }
    let one = 100_000.0 / start.elapsed().as_secs_f64();
    let start = Instant::now();
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let (b, batch) = (b.clone(), batch.clone());
            std::thread::spawn(move || {
                for _ in 0..50 {
                    b.append(&batch, 0);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let four = 200_000.0 / start.elapsed().as_secs_f64();
    eprintln!("buffer append, fsync per commit: 1 producer {one:.0} samples/s, 4 producers (group commit) {four:.0} samples/s");
    assert_eq!(b.stats().unwrap().samples, 300_000);
    assert!(
        one > 10_000.0 && four > 10_000.0,
        "{one} / {four} samples/s"
    );
}

mod record {
    use watchfire_agent::pipeline::{Point, Series, SeriesBytes};
    use watchfire_agent::ship::record::{
        decode_record, encode_record, encode_record_legacy, encode_record_names,
        encode_record_snappy, header,
    };
    use watchfire_promql::Labels;

    fn pt(pairs: &[(&str, &str)], t: i64, v: f64) -> Point {
        Point::new(Labels::new(pairs.iter().copied()), t, v)
    }

    /// Every format (points with and without pre-encoded labels) decodes
    /// to exactly the points encoded, and the header gives the append
    /// time and count. Current records give back the labels' encoding.
    fn check(points: Vec<Point>) {
        let pre: Vec<Point> = points
            .iter()
            .map(|p| Point::encoded(SeriesBytes::new(&p.labels()), p.t, p.v))
            .collect();
        let current = encode_record(&points, 42);
        assert_eq!(encode_record(&pre, 42), current, "pre-encoded labels");
        let back = decode_record(&current).expect("current: corrupt");
        for (a, b) in back.iter().zip(&pre) {
            match (&a.series, &b.series) {
                (Series::Encoded(x), Series::Encoded(y)) => assert_eq!(x, y, "encoding read back"),
                _ => panic!("current records give back the encoding"),
            }
        }
        for (name, enc) in [
            ("current", current),
            ("snappy", encode_record_snappy(&points, 42)),
            ("names", encode_record_names(&points, 42)),
            ("legacy", encode_record_legacy(&points, 42)),
        ] {
            assert_eq!(header(&enc), Some((42, points.len() as u64)), "{name}");
            let back = decode_record(&enc).unwrap_or_else(|| panic!("{name}: corrupt"));
            assert_eq!(back.len(), points.len(), "{name}");
            for (a, b) in back.iter().zip(&points) {
                assert_eq!(a.labels(), b.labels(), "{name}");
                assert_eq!(a.t, b.t, "{name}");
                assert_eq!(a.v.to_bits(), b.v.to_bits(), "{name}");
            }
        }
    }

    #[test]
    fn records_round_trip() {
        let stale = watchfire_promql::storage::stale_nan();
        check(vec![]);
        check(vec![pt(&[("__name__", "up")], 1, 1.0)]);
        check(vec![
            pt(&[("__name__", "a"), ("job", "j"), ("x", "é\"\n")], -5, 0.5),
            pt(&[("__name__", "a"), ("job", "j"), ("x", "é\"\n")], 7, stale),
            pt(
                &[("__name__", &"n".repeat(300)), ("v", "w")],
                i64::MAX,
                f64::INFINITY,
            ),
            pt(&[("__name__", "b")], i64::MIN, -0.25),
        ]);
    }

    #[test]
    fn damaged_compact_records_are_corrupt() {
        let points = [pt(&[("__name__", "a"), ("b", "c")], 1, 2.0)];
        for enc in [encode_record(&points, 0), encode_record_names(&points, 0)] {
            for cut in [3, 12, enc.len() - 1] {
                assert!(decode_record(&enc[..cut]).is_none(), "cut at {cut}");
            }
            let mut wrong_count = enc.clone();
            wrong_count[8] = 2;
            assert!(decode_record(&wrong_count).is_none());
        }
        // An LZ4 record announcing a 4 GiB payload is refused before
        // anything is allocated for it.
        let mut huge = encode_record(&points, 0);
        huge[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(decode_record(&huge).is_none());
    }
}
