//! The whole agent (`run::run`) with a `traces:` section: a span sent to
//! its OTLP/HTTP port reaches the upstream, its span metrics appear on the
//! agent's `/metrics` and are shipped by remote_write through the agent's
//! self-scrape.

use std::time::Duration;

use axum::body::Bytes;
use prost::Message;
use tokio::sync::mpsc;
use watchfire_agent::config::AgentConfig;

use super::upstream::Upstream;
use super::{request, span};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A remote_write receiver sending the value of every
/// `traces_span_metrics_calls_total{service="e2e"}` sample it stores.
async fn remote_write() -> (std::net::SocketAddr, mpsc::UnboundedReceiver<f64>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/api/v1/write",
        axum::routing::post(move |body: Bytes| {
            let tx = tx.clone();
            async move {
                let req = watchfire_remotewrite::decode(&body, 64 << 20).unwrap();
                for ts in &req.timeseries {
                    let has =
                        |n: &str, v: &str| ts.labels.iter().any(|l| l.name == n && l.value == v);
                    if has("__name__", "traces_span_metrics_calls_total") && has("service", "e2e") {
                        for s in &ts.samples {
                            let _ = tx.send(s.value);
                        }
                    }
                }
                axum::http::StatusCode::NO_CONTENT
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (addr, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_forwards_and_ships_span_metrics() {
    let mut up = Upstream::start().await;
    let (rw, mut shipped) = remote_write().await;
    let dir = tempfile::tempdir().unwrap();
    let (agent, http) = (free_port(), free_port());
    let yaml = format!(
        "server:\n  listen_address: 127.0.0.1:{agent}\nhost:\n  enabled: false\n  interval: 100ms\nremote_write:\n  url: http://{rw}/api/v1/write\n  queue:\n    batch_send_deadline: 20ms\n  buffer:\n    path: {}\ntraces:\n  grpc:\n    enabled: false\n  http:\n    listen_address: 127.0.0.1:{http}\n  export:\n    endpoint: http://{}\n    batch_timeout: 5ms\n",
        dir.path().join("buf").display(),
        up.addr
    );
    let cfg = AgentConfig::from_yaml("agent.yaml", &yaml).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let run = tokio::spawn(watchfire_agent::run::run(
        cfg,
        prometheus::Registry::new(),
        async move {
            let _ = stopped.await;
        },
    ));
    let client = reqwest::Client::new();
    let body = request("e2e", vec![span(1, "GET /cart", true, 2)]).encode_to_vec();
    // The receiver is up once the agent is; retry until it answers.
    let resp = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let r = client
                .post(format!("http://127.0.0.1:{http}/v1/traces"))
                .header("content-type", "application/x-protobuf")
                .body(body.clone())
                .send()
                .await;
            match r {
                Ok(r) => break r,
                Err(_) => tokio::task::yield_now().await,
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(up.spans(1).await[0].name, "GET /cart");
    let text = client
        .get(format!("http://127.0.0.1:{agent}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains(r#"traces_span_metrics_calls_total{service="e2e",span_kind="SPAN_KIND_SERVER",span_name="GET /cart",status_code="STATUS_CODE_ERROR"} 1"#),
        "{text}"
    );
    let v = tokio::time::timeout(Duration::from_secs(20), shipped.recv())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v, 1.0);
    let _ = stop.send(());
    run.await.unwrap().unwrap();
}
