//! The Kafka sink against librdkafka's mock cluster
//! (`rdkafka::mocking::MockCluster`, the real Kafka protocol over TCP on
//! loopback), read back by a real consumer: keys and per-key order,
//! acknowledgement only after successful delivery reports, a broker
//! outage (the send does not resolve, then resumes), retried produce
//! errors without duplicates (idempotence), permanent errors dropped and
//! counted, the running pipeline's checkpoint held back by an outage, and
//! the `logs.sinks.kafka` config table.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::{ClientConfig, Message};
use tempfile::TempDir;
use watchfire_agent::config::AgentConfig;
use watchfire_agent::logs::config::{LogsConfig, SinkConfig};
use watchfire_agent::logs::metrics::LogMetrics;
use watchfire_agent::logs::sink::kafka::{Compression, KafkaConfig, KafkaSink};
use watchfire_agent::logs::sink::Sink;
use watchfire_agent::logs::LogPipeline;

const TOPIC: &str = "logs";
const WAIT: Duration = Duration::from_secs(30);

type Cluster = MockCluster<'static, DefaultProducerContext>;

fn cluster(partitions: i32) -> Cluster {
    let c = MockCluster::new(1).unwrap();
    c.create_topic(TOPIC, partitions, 1).unwrap();
    c
}

fn sink_config(c: &Cluster) -> KafkaConfig {
    let mut cfg = KafkaConfig::new(vec![c.bootstrap_servers()], TOPIC);
    cfg.linger = Duration::from_millis(1);
    cfg.min_backoff = Duration::from_millis(10);
    cfg.max_backoff = Duration::from_millis(50);
    cfg
}

/// A record as the pipeline writes it.
fn line(ns: &str, pod: &str, seq: usize) -> String {
    serde_json::json!({
        "timestamp": "2024-05-01T00:00:00.000Z",
        "file": format!("/var/log/pods/{ns}_{pod}_u/c/0.log"),
        "kubernetes": {"namespace": ns, "pod": pod, "uid": "u", "container": "c"},
        "level": "info",
        "message": format!("{pod} {seq}"),
    })
    .to_string()
}

/// `n` lines from three pods of two namespaces, interleaved.
fn lines(n: usize) -> Vec<String> {
    let pods = [("shop", "api-1"), ("shop", "api-2"), ("ops", "api-1")];
    (0..n)
        .map(|i| {
            let (ns, pod) = pods[i % pods.len()];
            line(ns, pod, i)
        })
        .collect()
}

/// One consumed message.
#[derive(Debug, Clone)]
struct Got {
    key: Option<String>,
    payload: String,
    partition: i32,
}

/// Reads `n` messages from the start of the topic.
async fn consume(c: &Cluster, n: usize) -> Vec<Got> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", c.bootstrap_servers())
        .set("group.id", "test")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    consumer.subscribe(&[TOPIC]).unwrap();
    let mut out = Vec::new();
    while out.len() < n {
        let m = tokio::time::timeout(WAIT, consumer.recv())
            .await
            .expect("a message before the timeout")
            .unwrap();
        out.push(Got {
            key: m.key().map(|k| String::from_utf8(k.to_vec()).unwrap()),
            payload: String::from_utf8(m.payload().unwrap().to_vec()).unwrap(),
            partition: m.partition(),
        });
    }
    out
}

/// How many messages the topic holds (sum of high watermarks).
fn stored(c: &Cluster, partitions: i32) -> i64 {
    let consumer: rdkafka::consumer::BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", c.bootstrap_servers())
        .create()
        .unwrap();
    (0..partitions)
        .map(|p| {
            consumer
                .fetch_watermarks(TOPIC, p, Duration::from_secs(10))
                .unwrap()
                .1
        })
        .sum()
}

/// Checks keys (`namespace/pod` of the payload), one partition per key,
/// and per-key order; returns the payloads' sequence numbers.
fn check_keys_and_order(got: &[Got]) -> Vec<usize> {
    let mut last: BTreeMap<String, (i32, usize)> = BTreeMap::new();
    let mut seqs = Vec::new();
    for g in got {
        let v: serde_json::Value = serde_json::from_str(&g.payload).unwrap();
        let k = &v["kubernetes"];
        let want = format!(
            "{}/{}",
            k["namespace"].as_str().unwrap(),
            k["pod"].as_str().unwrap()
        );
        assert_eq!(g.key.as_deref(), Some(want.as_str()), "{}", g.payload);
        let msg = v["message"].as_str().unwrap();
        let seq: usize = msg.rsplit(' ').next().unwrap().parse().unwrap();
        if let Some((part, prev)) = last.get(&want) {
            assert_eq!(*part, g.partition, "key {want} moved partition");
            assert!(seq > *prev, "key {want}: {seq} after {prev}");
        }
        last.insert(want, (g.partition, seq));
        seqs.push(seq);
    }
    seqs.sort_unstable();
    seqs
}

fn sent(m: &LogMetrics) -> u64 {
    m.sink_sent.with_label_values(&["kafka"]).get()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_arrive_keyed_and_in_order_per_key() {
    let c = cluster(3);
    let metrics = Arc::new(LogMetrics::new());
    let mut sink = KafkaSink::new(sink_config(&c), metrics.clone()).unwrap();
    let all = lines(600);
    for chunk in all.chunks(200) {
        tokio::time::timeout(WAIT, sink.send(Arc::from(chunk.to_vec())))
            .await
            .expect("send resolves")
            .unwrap();
    }
    // Resolved means every record has a successful delivery report: all
    // of them are stored now, before any consumer looked.
    assert_eq!(stored(&c, 3), 600);
    assert_eq!(sent(&metrics), 600);
    let got = consume(&c, 600).await;
    assert_eq!(check_keys_and_order(&got), (0..600).collect::<Vec<_>>());
    let partitions: std::collections::BTreeSet<i32> = got.iter().map(|g| g.partition).collect();
    assert!(!partitions.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_down_holds_the_send_until_it_is_back() {
    let c = cluster(2);
    let metrics = Arc::new(LogMetrics::new());
    let mut cfg = sink_config(&c);
    cfg.message_timeout = Duration::from_millis(300);
    let mut sink = KafkaSink::new(cfg, metrics.clone()).unwrap();
    // Warm up (metadata, producer id), then take the broker away.
    sink.send(Arc::from(lines(3))).await.unwrap();
    c.broker_down(1).unwrap();
    let batch: Arc<[String]> = Arc::from(lines(90)[3..].to_vec());
    let m = metrics.clone();
    let mut task = tokio::spawn(async move {
        sink.send(batch).await.unwrap();
        sink
    });
    // Delivery reports fail (message timeout) and are retried: the send
    // must not resolve as a success while the broker is down.
    assert!(
        tokio::time::timeout(Duration::from_secs(3), &mut task)
            .await
            .is_err(),
        "send resolved while the broker was down"
    );
    let errors = m.sink_errors.with_label_values(&["kafka"]).get();
    assert!(errors > 0, "no failed attempt counted");
    assert_eq!(sent(&m), 3);
    c.broker_up(1).unwrap();
    tokio::time::timeout(WAIT, task)
        .await
        .expect("send resumes once the broker is back")
        .unwrap();
    assert_eq!(sent(&metrics), 90);
    let got = consume(&c, 90).await;
    let seqs = check_keys_and_order(&got);
    let mut unique = seqs.clone();
    unique.dedup();
    assert_eq!(
        unique,
        (0..90).collect::<Vec<_>>(),
        "every record delivered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn produce_errors_are_retried_without_duplicates() {
    let c = cluster(1);
    let metrics = Arc::new(LogMetrics::new());
    let mut sink = KafkaSink::new(sink_config(&c), metrics.clone()).unwrap();
    sink.send(Arc::from(lines(3))).await.unwrap();
    c.request_errors(
        RDKafkaApiKey::Produce,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS_AFTER_APPEND,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        ],
    );
    tokio::time::timeout(WAIT, sink.send(Arc::from(lines(60)[3..].to_vec())))
        .await
        .expect("send resolves")
        .unwrap();
    // Idempotence: the broker stored each record once despite retries.
    assert_eq!(stored(&c, 1), 60);
    let got = consume(&c, 60).await;
    assert_eq!(check_keys_and_order(&got), (0..60).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_large_records_are_dropped_and_counted() {
    let c = cluster(1);
    let metrics = Arc::new(LogMetrics::new());
    let mut cfg = sink_config(&c);
    cfg.properties
        .insert("message.max.bytes".into(), "4000".into());
    let mut sink = KafkaSink::new(cfg, metrics.clone()).unwrap();
    let mut batch = lines(4);
    batch.insert(2, line("shop", &"x".repeat(8000), 99));
    tokio::time::timeout(WAIT, sink.send(Arc::from(batch)))
        .await
        .expect("send resolves")
        .unwrap();
    assert_eq!(
        metrics
            .sink_dropped
            .with_label_values(&["kafka", "too_large"])
            .get(),
        1
    );
    assert_eq!(sent(&metrics), 4);
    let got = consume(&c, 4).await;
    assert_eq!(check_keys_and_order(&got), vec![0, 1, 2, 3]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipeline_checkpoints_only_after_delivery() {
    let c = cluster(2);
    let dir = TempDir::new().unwrap();
    let pod_dir = dir.path().join("pods/shop_api-1_u1/app");
    std::fs::create_dir_all(&pod_dir).unwrap();
    let mut cfg = LogsConfig::new(
        vec![dir.path().join("pods/*/*/*.log").display().to_string()],
        dir.path().join("state/logs.redb"),
        Vec::new(),
    );
    cfg.poll_interval = Duration::from_millis(5);
    let mut kc = sink_config(&c);
    kc.message_timeout = Duration::from_millis(300);
    cfg.sinks = vec![SinkConfig::Kafka(kc)];
    c.broker_down(1).unwrap();
    // CRI lines, as the kubelet writes them under /var/log/pods.
    let body: String = (0..50)
        .map(|i| format!("2024-05-01T00:00:00.000000000Z stdout F line {i}\n"))
        .collect();
    std::fs::write(pod_dir.join("0.log"), body).unwrap();
    let metrics = Arc::new(LogMetrics::new());
    let p = LogPipeline::start(cfg, metrics.clone()).unwrap();
    let mut paused = p.paused();
    // Within 3 s the batch is read and stuck in the sink (its delivery
    // reports fail every 300 ms and it is produced again): not
    // acknowledged, and one batch does not fill the queues.
    let read = tokio::time::timeout(Duration::from_secs(3), paused.wait_for(|p| *p)).await;
    assert!(read.is_err(), "one batch does not fill the queues");
    assert_eq!(p.in_flight(), 50);
    assert!(metrics.sink_errors.with_label_values(&["kafka"]).get() > 0);
    c.broker_up(1).unwrap();
    let got = consume(&c, 50).await;
    for g in &got {
        assert_eq!(g.key.as_deref(), Some("shop/api-1"));
    }
    let report = p.shutdown(WAIT).await;
    assert!(report.drained);
    assert_eq!(report.unacknowledged, 0);
}

fn check(sink: &str, expect: Result<(), &str>) {
    let text = format!(
        "remote_write:\n  url: http://localhost:9/api/v1/write\nlogs:\n  include: ['/x/*.log']\n  sinks:\n    kafka: {sink}\n"
    );
    match (AgentConfig::from_yaml("a.yml", &text), expect) {
        (Ok(_), Ok(())) => {}
        (Err(e), Err(want)) => {
            let s = e.to_string();
            assert!(s.contains(want), "{sink}: {s} does not contain {want}");
            assert!(s.contains("a.yml:6:"), "{sink}: {s} has no position");
        }
        (got, want) => panic!("{sink}: got {:?}, want {want:?}", got.map(|_| ())),
    }
}

#[test]
fn config_table() {
    let cases: Vec<(&str, Result<(), &str>)> = vec![
        ("{ brokers: ['k:9092'], topic: logs }", Ok(())),
        ("{ brokers: ['k:9092', 'l:9093'], topic: a.b_c-1, compression: zstd }", Ok(())),
        ("{ brokers: ['k:9092'], topic: logs, linger: 0s }", Ok(())),
        ("{ brokers: ['k:9092'], topic: logs, properties: { client.id: x, socket.keepalive.enable: true, queue.buffering.max.messages: 5000 } }", Ok(())),
        ("{ topic: logs }", Err("logs.sinks.kafka.brokers: at least one")),
        ("{ brokers: [k], topic: logs }", Err("is not host:port")),
        ("{ brokers: ['k:0'], topic: logs }", Err("is not host:port")),
        ("{ brokers: ['k:1,l:2'], topic: logs }", Err("is not host:port")),
        ("{ brokers: ['k:9092'] }", Err("topic")),
        ("{ brokers: ['k:9092'], topic: 'a b' }", Err("not a valid topic name")),
        ("{ brokers: ['k:9092'], topic: logs, compression: brotli }", Err("none, gzip, snappy, lz4 or zstd")),
        ("{ brokers: ['k:9092'], topic: logs, message_timeout: 0s }", Err("message_timeout must be positive")),
        ("{ brokers: ['k:9092'], topic: logs, linger: soon }", Err("logs.sinks.kafka.linger")),
        ("{ brokers: ['k:9092'], topic: logs, batch_messages: 0 }", Err("batch_messages")),
        ("{ brokers: ['k:9092'], topic: logs, batch_bytes: lots }", Err("batch_bytes")),
        ("{ brokers: ['k:9092'], topic: logs, min_backoff: 2s, max_backoff: 1s }", Err("below min_backoff")),
        ("{ brokers: ['k:9092'], topic: logs, properties: { acks: '1' } }", Err("\"acks\" is set by the sink")),
        ("{ brokers: ['k:9092'], topic: logs, properties: { enable.idempotence: false } }", Err("set by the sink")),
        ("{ brokers: ['k:9092'], topic: logs, properties: { delivery.report.only.error: true } }", Err("set by the sink")),
        ("{ brokers: ['k:9092'], topic: logs, properties: { no.such.property: 1 } }", Err("logs.sinks.kafka.properties")),
        ("{ brokers: ['k:9092'], topic: logs, properties: { message.max.bytes: many } }", Err("logs.sinks.kafka.properties")),
        ("{ brokers: ['k:9092'], topic: logs, bogus: 1 }", Err("bogus")),
    ];
    for (sink, want) in cases {
        check(sink, want);
    }
}

#[test]
fn config_values() {
    let text = "remote_write:\n  url: http://localhost:9/api/v1/write\nlogs:\n  include: ['/x/*.log']\n  sinks:\n    kafka:\n      brokers: ['k:9092', 'l:9093']\n      topic: logs\n      compression: zstd\n      message_timeout: 2m\n      linger: 20ms\n      batch_messages: 500\n      batch_bytes: 256KiB\n      min_backoff: 1s\n      max_backoff: 1m\n      properties: { client.id: agent-7, socket.timeout.ms: 1000 }\n";
    let l = AgentConfig::from_yaml("a.yml", text).unwrap().logs.unwrap();
    let [SinkConfig::Kafka(k)] = &l.sinks[..] else {
        panic!("{:?}", l.sinks)
    };
    assert_eq!(k.brokers, vec!["k:9092".to_string(), "l:9093".to_string()]);
    assert_eq!(k.topic, "logs");
    assert_eq!(k.compression, Compression::Zstd);
    assert_eq!(k.message_timeout, Duration::from_secs(120));
    assert_eq!(k.linger, Duration::from_millis(20));
    assert_eq!(k.batch_messages, 500);
    assert_eq!(k.batch_bytes, 256 * 1024);
    assert_eq!(k.min_backoff, Duration::from_secs(1));
    assert_eq!(k.max_backoff, Duration::from_secs(60));
    assert_eq!(
        k.properties,
        BTreeMap::from([
            ("client.id".to_string(), "agent-7".to_string()),
            ("socket.timeout.ms".to_string(), "1000".to_string()),
        ])
    );
    let cc = k.client_config();
    assert_eq!(cc.get("bootstrap.servers"), Some("k:9092,l:9093"));
    assert_eq!(cc.get("acks"), Some("all"));
    assert_eq!(cc.get("enable.idempotence"), Some("true"));
    assert_eq!(cc.get("compression.type"), Some("zstd"));
    assert_eq!(cc.get("message.timeout.ms"), Some("120000"));
    assert_eq!(cc.get("linger.ms"), Some("20"));

    let defaults = KafkaConfig::new(vec!["k:9092".into()], "t");
    assert_eq!(defaults.compression, Compression::Lz4);
    assert_eq!(defaults.message_timeout, Duration::from_secs(60));
}
