//! The API-server side of pod discovery: list, then watch.
//!
//! `GET /api/v1/pods?fieldSelector=spec.nodeName=<node>` (or
//! `/api/v1/namespaces/<ns>/pods`) gives the pods and a `resourceVersion`;
//! then `...&watch=1&resourceVersion=<rv>&allowWatchBookmarks=true` streams
//! newline-delimited JSON events. `ADDED`/`MODIFIED` replace a pod's group,
//! `DELETED` empties it, `BOOKMARK` only advances the resource version, and
//! `410 Gone` (as an HTTP status or an `ERROR` event) triggers a fresh
//! list. A watch the server closes normally is resumed from the last
//! version; other failures back off (1 s doubling to 30 s) and relist.
//! In-cluster, the service-account token is re-read on every request
//! (tokens rotate) and its CA is trusted.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::{pod_group, pod_source, Pod, PodList};
use crate::scrape::config::KubernetesSdConfig;
use crate::scrape::discovery::{GroupSink, TargetGroup};

const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// Why the API server could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error("no node name: set node_name or the NODE_NAME environment variable (e.g. from the downward API spec.nodeName)")]
    NoNodeName,
    #[error("no api_server and not in a cluster (KUBERNETES_SERVICE_HOST is unset)")]
    NotInCluster,
    #[error("invalid API server URL: {0}")]
    BadUrl(String),
    #[error("reading {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("HTTP client: {0}")]
    Http(#[from] reqwest::Error),
    #[error("API server answered {status}: {body}")]
    Status { status: u16, body: String },
    #[error("resource version too old (410 Gone)")]
    Gone,
    #[error("bad JSON from the API server: {0}")]
    Json(#[from] serde_json::Error),
    #[error("watch stream idle for too long")]
    Idle,
}

/// A client for one pods endpoint (one namespace or all).
#[derive(Debug, Clone)]
pub struct PodWatcher {
    http: reqwest::Client,
    url: url::Url,
    token_file: Option<PathBuf>,
    field_selector: String,
    label_selector: Option<String>,
    annotations: bool,
}

/// Builds one watcher per namespace (one for all when none are listed).
/// `env` looks up environment variables (injected for tests).
pub fn watchers(
    cfg: &KubernetesSdConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<PodWatcher>, KubeError> {
    let node = cfg
        .node_name
        .clone()
        .or_else(|| env("NODE_NAME"))
        .filter(|n| !n.is_empty())
        .ok_or(KubeError::NoNodeName)?;
    let (base, in_cluster) = match &cfg.api_server {
        Some(u) => (u.clone(), false),
        None => {
            let host = env("KUBERNETES_SERVICE_HOST").ok_or(KubeError::NotInCluster)?;
            let port = env("KUBERNETES_SERVICE_PORT").unwrap_or_else(|| "443".into());
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host
            };
            let u = url::Url::parse(&format!("https://{host}:{port}"))
                .map_err(|e| KubeError::BadUrl(e.to_string()))?;
            (u, true)
        }
    };
    let token_file = cfg
        .bearer_token_file
        .clone()
        .or_else(|| in_cluster.then(|| PathBuf::from(format!("{SA_DIR}/token"))));
    let ca_file = cfg
        .ca_file
        .clone()
        .or_else(|| in_cluster.then(|| PathBuf::from(format!("{SA_DIR}/ca.crt"))));
    let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(10));
    if let Some(ca) = &ca_file {
        let pem = std::fs::read(ca).map_err(|source| KubeError::File {
            path: ca.display().to_string(),
            source,
        })?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem)? {
            builder = builder.add_root_certificate(cert);
        }
    }
    if let Some(t) = &token_file {
        // Fail at start-up rather than on the first request.
        std::fs::read(t).map_err(|source| KubeError::File {
            path: t.display().to_string(),
            source,
        })?;
    }
    let http = builder.build()?;
    let mut field_selector = format!("spec.nodeName={node}");
    if let Some(f) = &cfg.field_selector {
        field_selector.push(',');
        field_selector.push_str(f);
    }
    let paths: Vec<String> = if cfg.namespaces.is_empty() {
        vec!["api/v1/pods".into()]
    } else {
        cfg.namespaces
            .iter()
            .map(|ns| format!("api/v1/namespaces/{ns}/pods"))
            .collect()
    };
    paths
        .into_iter()
        .map(|p| {
            let url = base
                .join(&p)
                .map_err(|e| KubeError::BadUrl(e.to_string()))?;
            Ok(PodWatcher {
                http: http.clone(),
                url,
                token_file: token_file.clone(),
                field_selector: field_selector.clone(),
                label_selector: cfg.label_selector.clone(),
                annotations: cfg.annotations,
            })
        })
        .collect()
}

#[derive(Debug, Deserialize)]
struct WatchEvent {
    #[serde(rename = "type")]
    kind: String,
    object: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct Status {
    #[serde(default)]
    code: u16,
    #[serde(default)]
    message: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BookmarkMeta {
    #[serde(default)]
    resource_version: String,
}

#[derive(Debug, Deserialize)]
struct Bookmark {
    metadata: BookmarkMeta,
}

/// The pods of one endpoint, as groups keyed by source.
#[derive(Debug, Default)]
pub struct PodState {
    pub groups: BTreeMap<String, TargetGroup>,
    pub resource_version: String,
}

impl PodState {
    fn snapshot(&self) -> Vec<TargetGroup> {
        self.groups.values().cloned().collect()
    }
}

/// Longest silence tolerated on a watch (bookmarks arrive about every
/// minute; the server ends a watch after `timeoutSeconds`).
const IDLE: Duration = Duration::from_secs(330);

impl PodWatcher {
    fn request(&self, watch_rv: Option<&str>) -> Result<reqwest::RequestBuilder, KubeError> {
        let mut url = self.url.clone();
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("fieldSelector", &self.field_selector);
            if let Some(l) = &self.label_selector {
                q.append_pair("labelSelector", l);
            }
            if let Some(rv) = watch_rv {
                q.append_pair("watch", "1");
                q.append_pair("resourceVersion", rv);
                q.append_pair("allowWatchBookmarks", "true");
                q.append_pair("timeoutSeconds", "300");
            }
        }
        let mut req = self.http.get(url).header("Accept", "application/json");
        if let Some(t) = &self.token_file {
            let token = std::fs::read_to_string(t).map_err(|source| KubeError::File {
                path: t.display().to_string(),
                source,
            })?;
            req = req.bearer_auth(token.trim());
        }
        Ok(req)
    }

    async fn check(resp: reqwest::Response) -> Result<reqwest::Response, KubeError> {
        let status = resp.status().as_u16();
        if status == 410 {
            return Err(KubeError::Gone);
        }
        if !(200..300).contains(&status) {
            let body = resp.text().await.unwrap_or_default();
            let body: String = body.chars().take(512).collect();
            return Err(KubeError::Status { status, body });
        }
        Ok(resp)
    }

    /// Lists the pods, replacing `state`.
    pub async fn list(&self, state: &mut PodState) -> Result<(), KubeError> {
        let resp = Self::check(self.request(None)?.send().await?).await?;
        let bytes = resp.bytes().await?;
        let list: PodList = serde_json::from_slice(&bytes)?;
        state.groups = list
            .items
            .iter()
            .map(|p| {
                let g = pod_group(p, self.annotations);
                (g.source.clone(), g)
            })
            .collect();
        state.resource_version = list.metadata.resource_version;
        Ok(())
    }

    /// Applies one watch event line; returns whether the groups changed.
    pub fn apply(&self, state: &mut PodState, line: &[u8]) -> Result<bool, KubeError> {
        let ev: WatchEvent = serde_json::from_slice(line)?;
        match ev.kind.as_str() {
            "ADDED" | "MODIFIED" => {
                let pod: Pod = serde_json::from_value(ev.object)?;
                state.resource_version = pod.metadata.resource_version.clone();
                let g = pod_group(&pod, self.annotations);
                let changed = state.groups.get(&g.source) != Some(&g);
                state.groups.insert(g.source.clone(), g);
                Ok(changed)
            }
            "DELETED" => {
                let pod: Pod = serde_json::from_value(ev.object)?;
                state.resource_version = pod.metadata.resource_version.clone();
                let src = pod_source(&pod.metadata.namespace, &pod.metadata.name);
                Ok(state.groups.remove(&src).is_some())
            }
            "BOOKMARK" => {
                let b: Bookmark = serde_json::from_value(ev.object)?;
                state.resource_version = b.metadata.resource_version;
                Ok(false)
            }
            "ERROR" => {
                let s: Status = serde_json::from_value(ev.object)?;
                if s.code == 410 {
                    Err(KubeError::Gone)
                } else {
                    Err(KubeError::Status {
                        status: s.code,
                        body: s.message,
                    })
                }
            }
            other => {
                tracing::debug!(kind = other, "kubernetes_sd: ignoring watch event");
                Ok(false)
            }
        }
    }

    /// Watches from `state.resource_version` until the server closes the
    /// stream (Ok) or something fails. Publishes after every chunk that
    /// changed the groups; returns Ok(false) if the sink closed.
    pub async fn watch(&self, state: &mut PodState, sink: &GroupSink) -> Result<bool, KubeError> {
        let rv = state.resource_version.clone();
        let mut resp = Self::check(self.request(Some(&rv))?.send().await?).await?;
        let mut buf: Vec<u8> = Vec::new();
        loop {
            let chunk = match tokio::time::timeout(IDLE, resp.chunk()).await {
                Err(_) => return Err(KubeError::Idle),
                Ok(r) => r?,
            };
            let Some(chunk) = chunk else { return Ok(true) };
            buf.extend_from_slice(&chunk);
            let mut changed = false;
            while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buf.drain(..=nl).collect();
                let line = line.trim_ascii();
                if line.is_empty() {
                    continue;
                }
                match self.apply(state, line) {
                    Ok(c) => changed |= c,
                    Err(e) => {
                        if changed {
                            sink.publish(state.snapshot()).await;
                        }
                        return Err(e);
                    }
                }
            }
            if changed && !sink.publish(state.snapshot()).await {
                return Ok(false);
            }
        }
    }

    /// Runs list + watch forever (until the sink closes).
    pub async fn run(self, sink: GroupSink) {
        let mut state = PodState::default();
        let mut backoff = Duration::from_secs(1);
        'relist: loop {
            if sink.is_closed() {
                return;
            }
            if let Err(e) = self.list(&mut state).await {
                tracing::warn!(url = %self.url, error = %e, "kubernetes_sd: list failed; keeping last targets");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
            if !sink.publish(state.snapshot()).await {
                return;
            }
            loop {
                match self.watch(&mut state, &sink).await {
                    Ok(true) => {
                        backoff = Duration::from_secs(1);
                        continue;
                    }
                    Ok(false) => return,
                    Err(KubeError::Gone) => {
                        tracing::info!(url = %self.url, "kubernetes_sd: watch expired (410 Gone); relisting");
                        continue 'relist;
                    }
                    Err(e) => {
                        tracing::warn!(url = %self.url, error = %e, "kubernetes_sd: watch failed; relisting after backoff");
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(Duration::from_secs(30));
                        continue 'relist;
                    }
                }
            }
        }
    }
}
