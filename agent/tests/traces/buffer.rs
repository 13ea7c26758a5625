//! The disk buffer (`traces.export.buffer`): the redb queue itself, spill
//! to disk beyond the memory queue, push back when the disk is full, and
//! spans kept across a stop and start. The `kill -9` case is in
//! [`super::child`].

use std::sync::atomic::Ordering;
use std::time::Duration;

use prometheus::{IntGauge, Registry};
use watchfire_agent::traces::buffer::{encode_record, SpanBuffer, SpanBufferError, Stored};
use watchfire_agent::traces::config::BufferConfig;
use watchfire_agent::traces::TracePipeline;

use super::pipeline::{cfg, grpc_client};
use super::upstream::Upstream;
use super::{counter, request, span};

fn gauge() -> IntGauge {
    IntGauge::new("g", "g").unwrap()
}

/// One step on a buffer and what it must give.
enum Step {
    /// Append a request of `n` spans: `Ok(seq)` or full.
    Append(usize, Result<u64, ()>),
    /// Read `seq` back: its span count, or missing.
    Read(u64, Option<usize>),
    Delete(Vec<u64>),
    /// Close and open again: the records listed.
    Reopen(Vec<Stored>),
}

fn check(max_bytes: u64, steps: Vec<Step>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/traces.redb");
    let g = gauge();
    let (mut b, stored) = SpanBuffer::open(&path, max_bytes, g.clone()).unwrap();
    assert!(stored.is_empty());
    for (i, s) in steps.into_iter().enumerate() {
        match s {
            Step::Append(n, want) => {
                let got = b.append(record(n)).map_err(|e| {
                    assert!(matches!(e, SpanBufferError::Full { .. }), "step {i}: {e}");
                });
                assert_eq!(got, want, "step {i}");
            }
            Step::Read(seq, want) => {
                let got = b.read(seq).ok().map(|(n, req)| {
                    assert_eq!(super::spans_of(&req).len(), n);
                    n
                });
                assert_eq!(got, want, "step {i}");
            }
            Step::Delete(seqs) => b.delete(&seqs).unwrap(),
            Step::Reopen(want) => {
                let used = b.used_bytes();
                drop(b);
                let (nb, stored) = SpanBuffer::open(&path, max_bytes, g.clone()).unwrap();
                assert_eq!(stored, want, "step {i}");
                assert_eq!(nb.used_bytes(), used, "step {i}: bytes survive");
                b = nb;
            }
        }
        assert_eq!(g.get() as u64, b.used_bytes(), "step {i}: gauge");
        assert!(b.used_bytes() <= max_bytes, "step {i}");
    }
}

fn record(n: usize) -> Vec<u8> {
    let spans = (0..n as u64).map(|k| span(k, "s", true, 1)).collect();
    encode_record(&request("svc", spans), n)
}

fn record_len(n: usize) -> u64 {
    record(n).len() as u64
}

fn stored(seq: u64, spans: usize) -> Stored {
    Stored { seq, spans }
}

#[test]
fn span_buffer() {
    use Step::*;
    // Append, read back, delete, and what a restart finds.
    check(
        1 << 20,
        vec![
            Append(2, Ok(1)),
            Append(3, Ok(2)),
            Append(1, Ok(3)),
            Read(2, Some(3)),
            Delete(vec![1, 3]),
            Read(1, None),
            Reopen(vec![stored(2, 3)]),
            // Numbering goes on after the last record left.
            Append(4, Ok(3)),
            Reopen(vec![stored(2, 3), stored(3, 4)]),
            Delete(vec![2, 3]),
            Reopen(vec![]),
            Append(1, Ok(1)),
        ],
    );
    // Full: refused, nothing evicted; room again after a delete.
    check(
        2 * record_len(10) + record_len(1),
        vec![
            Append(10, Ok(1)),
            Append(10, Ok(2)),
            Append(10, Err(())),
            Append(1, Ok(3)),
            Reopen(vec![stored(1, 10), stored(2, 10), stored(3, 1)]),
            Append(10, Err(())),
            Delete(vec![1]),
            Append(10, Ok(4)),
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spills_to_disk_then_pushes_back_when_full() {
    let mut up = Upstream::start().await;
    up.down.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let reg = Registry::new();
    let mut c = cfg(&up);
    c.export.batch_max_spans = 4;
    c.export.queue_max_spans = 4;
    c.export.buffer = Some(BufferConfig {
        path: dir.path().join("t.redb"),
        max_bytes: 2000,
    });
    let p = TracePipeline::start(c, &reg).await.unwrap();
    let mut client = grpc_client(&p).await;
    let req = |k: u64| {
        request(
            "s",
            vec![span(2 * k, "a", true, 1), span(2 * k + 1, "b", true, 1)],
        )
    };
    // Memory holds 4 spans; the disk takes more until its 2000 bytes.
    let mut accepted = 0u64;
    let refused = loop {
        match client.export(req(accepted)).await {
            Ok(_) => accepted += 1,
            Err(e) => break e,
        }
        assert!(accepted < 100, "never full");
    };
    assert_eq!(refused.code(), tonic::Code::ResourceExhausted);
    assert!(
        accepted * 2 > 4,
        "only {accepted} requests: nothing spilled"
    );
    let bytes = counter(&reg, "watchfire_agent_trace_buffer_bytes", &[]);
    assert!(bytes > 1500.0 && bytes <= 2000.0, "{bytes}");
    assert_eq!(counter(&reg, "watchfire_agent_trace_queue_spans", &[]), 4.0);

    // Back up: what was taken arrives once, then the retry is taken.
    up.down.store(false, Ordering::SeqCst);
    let mut got = up.spans(accepted as usize * 2).await;
    let last = loop {
        match client.export(req(accepted)).await {
            Ok(_) => break accepted + 1,
            Err(e) => {
                assert_eq!(e.code(), tonic::Code::ResourceExhausted);
                tokio::task::yield_now().await;
            }
        }
    };
    got.extend(up.spans(2).await);
    drop(client);
    let report = p.shutdown(Duration::from_secs(5)).await;
    let mut ids: Vec<Vec<u8>> = got.iter().map(|s| s.span_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(
        (ids.len(), got.len()),
        (2 * last as usize, 2 * last as usize)
    );
    assert!(up.received.try_recv().is_err(), "no duplicate request");
    assert_eq!(
        (report.exported, report.dropped, report.buffered),
        (2 * last, 0, 0)
    );
    assert_eq!(
        counter(&reg, "watchfire_agent_trace_buffer_bytes", &[]),
        0.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kept_on_disk_across_stop_and_start() {
    let mut up = Upstream::start().await;
    up.down.store(true, Ordering::SeqCst);
    let dir = tempfile::tempdir().unwrap();
    let with_buffer = || {
        let mut c = cfg(&up);
        c.export.buffer = Some(BufferConfig {
            path: dir.path().join("t.redb"),
            max_bytes: 1 << 20,
        });
        c
    };
    let reg = Registry::new();
    let p = TracePipeline::start(with_buffer(), &reg).await.unwrap();
    let mut client = grpc_client(&p).await;
    for k in 0..3 {
        client
            .export(request(
                "s",
                vec![span(2 * k, "a", true, 1), span(2 * k + 1, "b", true, 1)],
            ))
            .await
            .unwrap();
    }
    drop(client);
    // The upstream is down through the drain deadline: nothing is lost.
    let report = p.shutdown(Duration::from_millis(50)).await;
    assert_eq!(
        (report.exported, report.dropped, report.buffered),
        (0, 0, 6)
    );
    assert_eq!(
        counter(
            &reg,
            "watchfire_agent_trace_spans_dropped_total",
            &[("reason", "shutdown")]
        ),
        0.0
    );

    up.down.store(false, Ordering::SeqCst);
    let p = TracePipeline::start(with_buffer(), &Registry::new())
        .await
        .unwrap();
    let got = up.spans(6).await;
    let report = p.shutdown(Duration::from_secs(5)).await;
    let mut ids: Vec<Vec<u8>> = got.iter().map(|s| s.span_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((ids.len(), got.len()), (6, 6), "every span exactly once");
    assert!(up.received.try_recv().is_err());
    assert_eq!(report.exported, 6);
    // And gone from disk.
    let (_, left) = SpanBuffer::open(&dir.path().join("t.redb"), 1 << 20, gauge()).unwrap();
    assert_eq!(left, vec![]);
}
