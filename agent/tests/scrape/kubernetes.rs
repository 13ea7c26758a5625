//! Kubernetes pod discovery: the pure pod → targets mapping, and list +
//! watch (ADDED/MODIFIED/DELETED/BOOKMARK, 410 Gone as an event and as a
//! status) against a local API server answering with recorded-style JSON.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::sync::mpsc;
use watchfire_agent::scrape::config::parse_str;
use watchfire_agent::scrape::discovery::kubernetes::client::{watchers, KubeError};
use watchfire_agent::scrape::discovery::kubernetes::{pod_group, PodList};
use watchfire_agent::scrape::discovery::{GroupSink, GroupUpdate, TargetGroup};

use super::common::serve;

const FIX: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/scrape/fixtures");

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{FIX}/{name}")).unwrap()
}

/// `(source, address, extra label checks)` of every target, sorted.
fn summary(groups: &[TargetGroup]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = groups
        .iter()
        .flat_map(|g| {
            g.targets
                .iter()
                .map(|t| (g.source.clone(), t.get("__address__").to_string()))
        })
        .collect();
    v.sort();
    v
}

fn pairs(v: &[(&str, &str)]) -> Vec<(String, String)> {
    v.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn pod_targets_and_meta_labels() {
    let list: PodList = serde_json::from_str(&fixture("podlist-1.json")).unwrap();
    let with: Vec<TargetGroup> = list.items.iter().map(|p| pod_group(p, true)).collect();
    assert_eq!(
        summary(&with),
        pairs(&[
            ("pod/default/api-2", "10.1.0.7:9090"),
            ("pod/default/web-1", "10.1.0.5:8080")
        ])
    );
    let web = with
        .iter()
        .find(|g| g.source == "pod/default/web-1")
        .unwrap();
    let t = &web.targets[0];
    assert_eq!(t.get("__metrics_path__"), "/stats");
    assert_eq!(t.get("__meta_kubernetes_pod_container_name"), "web");
    assert_eq!(t.get("__meta_kubernetes_pod_container_port_name"), "http");
    assert_eq!(t.get("__meta_kubernetes_pod_container_port_number"), "8080");
    assert_eq!(
        t.get("__meta_kubernetes_pod_container_port_protocol"),
        "TCP"
    );
    assert_eq!(t.get("__meta_kubernetes_pod_container_init"), "false");
    assert!(t
        .get("__meta_kubernetes_pod_container_id")
        .starts_with("containerd://"));
    let l = &web.labels;
    assert_eq!(l.get("__meta_kubernetes_namespace"), "default");
    assert_eq!(l.get("__meta_kubernetes_pod_name"), "web-1");
    assert_eq!(l.get("__meta_kubernetes_pod_ip"), "10.1.0.5");
    assert_eq!(l.get("__meta_kubernetes_pod_ready"), "true");
    assert_eq!(l.get("__meta_kubernetes_pod_phase"), "Running");
    assert_eq!(l.get("__meta_kubernetes_pod_node_name"), "node-a");
    assert_eq!(l.get("__meta_kubernetes_pod_host_ip"), "192.168.1.10");
    assert_eq!(l.get("__meta_kubernetes_pod_label_app"), "web");
    assert_eq!(
        l.get("__meta_kubernetes_pod_label_pod_template_hash"),
        "7d9f8c"
    );
    assert_eq!(l.get("__meta_kubernetes_pod_labelpresent_app"), "true");
    assert_eq!(
        l.get("__meta_kubernetes_pod_annotation_prometheus_io_port"),
        "8080"
    );
    assert_eq!(
        l.get("__meta_kubernetes_pod_annotationpresent_prometheus_io_scrape"),
        "true"
    );
    assert_eq!(l.get("__meta_kubernetes_pod_controller_kind"), "ReplicaSet");
    assert_eq!(l.get("__meta_kubernetes_pod_controller_name"), "web-7d9f8c");
    let api = with
        .iter()
        .find(|g| g.source == "pod/default/api-2")
        .unwrap();
    assert_eq!(api.targets[0].get("__scheme__"), "https");

    // Without the annotation convention: Prometheus's plain role: pod.
    let without: Vec<TargetGroup> = list.items.iter().map(|p| pod_group(p, false)).collect();
    assert_eq!(
        summary(&without),
        pairs(&[
            ("pod/db/db-0", "10.1.0.6:5432"),
            ("pod/default/api-2", "10.1.0.7:9090"),
            ("pod/default/web-1", "10.1.0.5"),
            ("pod/default/web-1", "10.1.0.5:8080"),
            ("pod/default/web-1", "10.1.0.5:9000"),
        ])
    );
    // The pending pod (no IP) still has a group, without targets.
    assert!(without
        .iter()
        .any(|g| g.source == "pod/default/pending-4" && g.targets.is_empty()));
}

#[derive(Default)]
struct Api {
    lists: usize,
    watches_2000: usize,
    log: Vec<String>,
    auth_ok: bool,
    resumed: Arc<tokio::sync::Notify>,
}

async fn pods(
    State(api): State<Arc<Mutex<Api>>>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let mut a = api.lock().unwrap();
    a.auth_ok = headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer s3cret");
    if q.get("fieldSelector").map(String::as_str) != Some("spec.nodeName=node-a") {
        return (StatusCode::BAD_REQUEST, "node selector missing").into_response();
    }
    if q.get("watch").map(String::as_str) != Some("1") {
        a.lists += 1;
        a.log.push("list".into());
        let body = if a.lists == 1 {
            fixture("podlist-1.json")
        } else {
            fixture("podlist-2.json")
        };
        return ([("content-type", "application/json")], body).into_response();
    }
    let rv = q.get("resourceVersion").cloned().unwrap_or_default();
    assert_eq!(
        q.get("allowWatchBookmarks").map(String::as_str),
        Some("true")
    );
    a.log.push(format!("watch {rv}"));
    let lines: Vec<Result<bytes::Bytes, std::convert::Infallible>> = match rv.as_str() {
        "1000" | "1100" => fixture(&format!("watch-{rv}.ndjson"))
            .lines()
            .map(|l| Ok(bytes::Bytes::from(format!("{l}\n"))))
            .collect(),
        "2000" => {
            a.watches_2000 += 1;
            if a.watches_2000 == 1 {
                return (StatusCode::GONE, r#"{"kind":"Status","code":410}"#).into_response();
            }
            a.resumed.notify_one();
            let ev = fixture("watch-2000.ndjson");
            // Keep the stream open after the bookmark, like a real watch.
            let s = futures_util::stream::iter(vec![Ok::<_, std::convert::Infallible>(
                bytes::Bytes::from(ev),
            )])
            .chain(futures_util::stream::pending());
            return Response::new(Body::from_stream(s));
        }
        _ => return (StatusCode::INTERNAL_SERVER_ERROR, "unexpected rv").into_response(),
    };
    // Split one event across two chunks to exercise line reassembly.
    let mut chunks = Vec::new();
    for l in lines {
        let b = l.unwrap();
        let mid = b.len() / 2;
        chunks.push(Ok::<_, std::convert::Infallible>(b.slice(..mid)));
        chunks.push(Ok(b.slice(mid..)));
    }
    Response::new(Body::from_stream(futures_util::stream::iter(chunks)))
}

use futures_util::StreamExt;

#[tokio::test]
async fn list_watch_bookmark_and_gone() {
    let api = Arc::new(Mutex::new(Api::default()));
    let addr = serve(
        Router::new()
            .route("/api/v1/pods", get(pods))
            .with_state(api.clone()),
    )
    .await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret\n").unwrap();
    let yaml = format!(
        "scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs:\n      - role: pod\n        api_server: http://{addr}\n        bearer_token_file: {}\n",
        token.display()
    );
    let cfg = parse_str(&yaml, "k.yml")
        .unwrap()
        .remove(0)
        .kubernetes_sd_configs
        .remove(0);
    // The node name comes from $NODE_NAME.
    let env = |k: &str| (k == "NODE_NAME").then(|| "node-a".to_string());
    let mut ws = watchers(&cfg, &env).unwrap();
    assert_eq!(ws.len(), 1);
    let (tx, mut rx) = mpsc::channel::<GroupUpdate>(64);
    let task = tokio::spawn(ws.remove(0).run(GroupSink::new(0, tx)));

    let mut snapshots: Vec<Vec<(String, String)>> = Vec::new();
    let want_final = pairs(&[
        ("pod/default/new-1", "10.1.0.8:7000"),
        ("pod/default/web-1", "10.1.0.5:8080"),
        ("pod/kube-system/late-3", "10.1.0.9:9100"),
    ]);
    let resumed = api.lock().unwrap().resumed.clone();
    tokio::time::timeout(Duration::from_secs(10), resumed.notified())
        .await
        .unwrap();
    task.abort();
    while let Ok(u) = rx.try_recv() {
        snapshots.push(summary(&u.groups));
    }
    assert_eq!(snapshots.last(), Some(&want_final));
    // Both lists after a 410 published the full state.
    assert_eq!(
        snapshots.iter().filter(|s| **s == want_final).count(),
        2,
        "{snapshots:?}"
    );
    // First list.
    assert_eq!(
        snapshots[0],
        pairs(&[
            ("pod/default/api-2", "10.1.0.7:9090"),
            ("pod/default/web-1", "10.1.0.5:8080")
        ])
    );
    // Watch events were applied in order: ADDED new-1, MODIFIED web-1, DELETED api-2.
    let after_events = pairs(&[
        ("pod/default/new-1", "10.1.0.8:7000"),
        ("pod/default/web-1", "10.1.0.5:8080"),
    ]);
    assert!(snapshots.contains(&after_events), "{snapshots:?}");
    let a = api.lock().unwrap();
    assert!(a.auth_ok);
    // The bookmark's version is where the next watch resumes; an ERROR 410
    // and an HTTP 410 both cause a relist.
    assert_eq!(
        a.log,
        [
            "list",
            "watch 1000",
            "watch 1100",
            "list",
            "watch 2000",
            "list",
            "watch 2000"
        ]
    );
}

#[test]
fn missing_node_name_and_cluster_are_startup_errors() {
    let yaml = "scrape_configs:\n  - job_name: k\n    kubernetes_sd_configs:\n      - role: pod\n";
    let cfg = parse_str(yaml, "k.yml")
        .unwrap()
        .remove(0)
        .kubernetes_sd_configs
        .remove(0);
    assert!(matches!(
        watchers(&cfg, &|_| None),
        Err(KubeError::NoNodeName)
    ));
    let env = |k: &str| (k == "NODE_NAME").then(|| "n".to_string());
    assert!(matches!(watchers(&cfg, &env), Err(KubeError::NotInCluster)));
}
