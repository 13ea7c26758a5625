//! The one wall-clock test: the upstream is really gone (listener closed,
//! connections refused) for 30 s while a client keeps sending, over gRPC
//! and HTTP alternately, and keeps every refused request to send it again
//! as an OTLP exporter does. Then it comes back: every span the agent took
//! arrives exactly once, and the agent refused requests only when its
//! queue could not hold them.

use std::collections::HashSet;
use std::time::Duration;

use prometheus::Registry;
use prost::Message;
use tokio::time::{Instant, MissedTickBehavior};
use watchfire_agent::traces::sampling::Policy;
use watchfire_agent::traces::TracePipeline;

use super::child::load_request;
use super::counter;
use super::pipeline::{cfg, grpc_client};
use super::upstream::Upstream;

const OUTAGE: Duration = Duration::from_secs(30);
const QUEUE: usize = 1000;
const PER_REQUEST: u64 = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upstream_gone_for_30s_nothing_lost_or_duplicated() {
    let mut up = Upstream::start().await;
    let reg = Registry::new();
    let mut c = cfg(&up);
    c.sampling = Policy {
        probability: 1.0,
        ..Policy::default()
    };
    c.export.queue_max_spans = QUEUE;
    c.export.batch_max_spans = 200;
    c.export.initial_backoff = Duration::from_millis(50);
    c.export.max_backoff = Duration::from_millis(500);
    let p = TracePipeline::start(c, &reg).await.unwrap();
    let mut grpc = grpc_client(&p).await;
    let http = reqwest::Client::new();
    let url = format!("http://{}/v1/traces", p.http_addr.unwrap());

    // The client: one request every 20 ms (2500 spans/s), a refused one
    // sent again until taken.
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut taken: HashSet<Vec<u8>> = HashSet::new();
    let (mut k, mut refused_in_outage, mut refused_after) = (0u64, 0u32, 0u32);
    let mut outage: Option<Instant> = None;
    let mut back: Option<Instant> = None;
    let mut taken_after_back = 0;
    while taken_after_back < 5 {
        tick.tick().await;
        let req = load_request(k, PER_REQUEST);
        let ok = if k % 2 == 0 {
            match grpc.export(req.clone()).await {
                Ok(_) => true,
                Err(e) => {
                    assert_eq!(e.code(), tonic::Code::ResourceExhausted, "{e}");
                    false
                }
            }
        } else {
            let r = http
                .post(&url)
                .header("content-type", "application/x-protobuf")
                .body(req.encode_to_vec())
                .send()
                .await
                .unwrap();
            match r.status().as_u16() {
                200 => true,
                429 => false,
                s => panic!("HTTP {s}"),
            }
        };
        if ok {
            taken.extend(super::spans_of(&req).into_iter().map(|s| s.span_id));
            k += 1;
            if back.is_some() {
                taken_after_back += 1;
            }
        } else if back.is_none() {
            // Refused while the forwarder cannot release anything: the
            // queue really had no room for these spans.
            let queued = p.metrics.queue_spans.get() as usize;
            assert!(
                queued + PER_REQUEST as usize > QUEUE,
                "refused with {queued} of {QUEUE} spans queued"
            );
            refused_in_outage += 1;
        } else {
            refused_after += 1;
        }
        match (outage, back) {
            (None, _) if k == 5 => {
                up.spans(5 * PER_REQUEST as usize).await;
                tokio::time::timeout(Duration::from_secs(10), up.close())
                    .await
                    .expect("the upstream did not stop");
                outage = Some(Instant::now());
            }
            (Some(t), None) if t.elapsed() >= OUTAGE => {
                up.reopen().await;
                back = Some(Instant::now());
            }
            _ => {}
        }
    }
    // Everything taken arrives, once.
    let mut got = Vec::new();
    let want = taken.len() - 5 * PER_REQUEST as usize;
    for s in up.spans(want).await {
        got.push(s.span_id);
    }
    drop(grpc);
    let report = p.shutdown(Duration::from_secs(5)).await;
    assert!(up.received.try_recv().is_err(), "a request arrived twice");
    let unique: HashSet<Vec<u8>> = got.iter().cloned().collect();
    assert_eq!(got.len(), unique.len(), "duplicates");
    assert_eq!(got.len(), want);
    assert!(unique.is_subset(&taken));
    assert_eq!(report.exported as usize, taken.len());
    assert_eq!(report.dropped, 0);
    // The outage filled the queue and was retried, not dropped.
    assert!(refused_in_outage > 100, "{refused_in_outage} refusals");
    assert!(
        counter(
            &reg,
            "watchfire_agent_trace_export_errors_total",
            &[("kind", "retryable")]
        ) >= 10.0
    );
    eprintln!(
        "outage: {} spans taken ({} during the outage and drain), {refused_in_outage} requests refused while down, {refused_after} after, drain {:?}",
        taken.len(),
        want,
        back.map(|b| b.elapsed())
    );
}
