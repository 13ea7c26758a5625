//! Kubernetes pod discovery, restricted to the agent's own node.
//!
//! [`client`] lists and watches `GET /api/v1/pods?fieldSelector=
//! spec.nodeName=$NODE_NAME` (per namespace when `namespaces` is set).
//! This module holds the pure part: the subset of the Pod object we read
//! and [`pod_group`], which turns one pod into a [`TargetGroup`] with
//! Prometheus's `__meta_kubernetes_*` labels.
//!
//! Targets, as in Prometheus's `role: pod`: one per declared container
//! port (`<pod ip>:<port>`), and one per container without ports (`<pod
//! ip>`). Pods without an IP and pods that have `Succeeded` or `Failed`
//! produce no targets.
//!
//! **Annotations are built in** (`prometheus_io_annotations: true`, the
//! default), so the usual `prometheus.io/*` convention works without any
//! relabel rule:
//! - `prometheus.io/scrape: "true"` is required; other pods are skipped;
//! - `prometheus.io/port: "9102"` makes one target `<pod ip>:9102` (with
//!   the container-port labels of the container declaring that port, if
//!   any) instead of one per port;
//! - `prometheus.io/path` sets `__metrics_path__`;
//! - `prometheus.io/scheme` (`http`/`https`) sets `__scheme__`.
//!
//! User `relabel_configs` run afterwards and still see every
//! `__meta_kubernetes_pod_annotation_*` label. With
//! `prometheus_io_annotations: false` every pod is a target and the
//! behaviour is exactly Prometheus's.

pub mod client;

use std::collections::BTreeMap;

use serde::Deserialize;
use watchfire_promql::Labels;

use super::TargetGroup;

const META: &str = "__meta_kubernetes_";

/// Object metadata (the fields we read).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub resource_version: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub owner_references: Vec<OwnerReference>,
}

/// An owner reference.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OwnerReference {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub controller: Option<bool>,
}

/// A container port.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerPort {
    #[serde(default)]
    pub name: String,
    pub container_port: u16,
    #[serde(default)]
    pub protocol: Option<String>,
}

/// A container.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub ports: Vec<ContainerPort>,
}

/// The pod spec.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(default)]
    pub node_name: String,
    #[serde(default)]
    pub containers: Vec<Container>,
    #[serde(default)]
    pub init_containers: Vec<Container>,
}

/// A pod condition.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PodCondition {
    #[serde(rename = "type")]
    pub kind: String,
    pub status: String,
}

/// A container status.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStatus {
    pub name: String,
    #[serde(default, rename = "containerID")]
    pub container_id: String,
}

/// The pod status.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStatus {
    #[serde(default)]
    pub phase: String,
    #[serde(default, rename = "podIP")]
    pub pod_ip: String,
    #[serde(default, rename = "hostIP")]
    pub host_ip: String,
    #[serde(default)]
    pub conditions: Vec<PodCondition>,
    #[serde(default)]
    pub container_statuses: Vec<ContainerStatus>,
    #[serde(default)]
    pub init_container_statuses: Vec<ContainerStatus>,
}

/// A pod (the fields we read).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Pod {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: PodSpec,
    #[serde(default)]
    pub status: PodStatus,
}

/// List metadata.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListMeta {
    #[serde(default)]
    pub resource_version: String,
}

/// `GET /api/v1/pods`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PodList {
    #[serde(default)]
    pub metadata: ListMeta,
    #[serde(default)]
    pub items: Vec<Pod>,
}

/// The group source for a pod: `pod/<namespace>/<name>`.
pub fn pod_source(namespace: &str, name: &str) -> String {
    format!("pod/{namespace}/{name}")
}

/// Replaces characters not allowed in label names with `_`.
pub fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

fn pod_ready(pod: &Pod) -> &'static str {
    match pod
        .status
        .conditions
        .iter()
        .find(|c| c.kind == "Ready")
        .map(|c| c.status.as_str())
    {
        Some("True") => "true",
        Some("False") => "false",
        _ => "unknown",
    }
}

fn pod_labels(pod: &Pod) -> Labels {
    let m = &pod.metadata;
    let mut v: Vec<(String, String)> = vec![
        (format!("{META}namespace"), m.namespace.clone()),
        (format!("{META}pod_name"), m.name.clone()),
        (format!("{META}pod_ip"), pod.status.pod_ip.clone()),
        (format!("{META}pod_ready"), pod_ready(pod).to_string()),
        (format!("{META}pod_phase"), pod.status.phase.clone()),
        (format!("{META}pod_node_name"), pod.spec.node_name.clone()),
        (format!("{META}pod_host_ip"), pod.status.host_ip.clone()),
        (format!("{META}pod_uid"), m.uid.clone()),
    ];
    if let Some(owner) = m
        .owner_references
        .iter()
        .find(|o| o.controller == Some(true))
    {
        v.push((format!("{META}pod_controller_kind"), owner.kind.clone()));
        v.push((format!("{META}pod_controller_name"), owner.name.clone()));
    }
    for (k, val) in &m.labels {
        let k = sanitize(k);
        v.push((format!("{META}pod_label_{k}"), val.clone()));
        v.push((format!("{META}pod_labelpresent_{k}"), "true".into()));
    }
    for (k, val) in &m.annotations {
        let k = sanitize(k);
        v.push((format!("{META}pod_annotation_{k}"), val.clone()));
        v.push((format!("{META}pod_annotationpresent_{k}"), "true".into()));
    }
    Labels::new(v)
}

fn container_id(statuses: &[ContainerStatus], name: &str) -> String {
    statuses
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.container_id.clone())
        .unwrap_or_default()
}

/// Turns one pod into its target group (possibly with no targets).
pub fn pod_group(pod: &Pod, annotations: bool) -> TargetGroup {
    let m = &pod.metadata;
    let mut group = TargetGroup {
        source: pod_source(&m.namespace, &m.name),
        targets: Vec::new(),
        labels: pod_labels(pod),
    };
    let ip = pod.status.pod_ip.as_str();
    if ip.is_empty() || matches!(pod.status.phase.as_str(), "Succeeded" | "Failed") {
        return group;
    }
    let ann = |k: &str| m.annotations.get(k).map(|s| s.trim());
    if annotations && ann("prometheus.io/scrape") != Some("true") {
        return group;
    }
    let mut extra: Vec<(&str, String)> = Vec::new();
    if annotations {
        if let Some(path) = ann("prometheus.io/path").filter(|p| !p.is_empty()) {
            extra.push(("__metrics_path__", path.to_string()));
        }
        if let Some(s) = ann("prometheus.io/scheme").filter(|s| *s == "http" || *s == "https") {
            extra.push(("__scheme__", s.to_string()));
        }
    }
    let wanted_port: Option<u16> = if annotations {
        ann("prometheus.io/port").and_then(|p| p.parse().ok())
    } else {
        None
    };
    let all = pod
        .spec
        .containers
        .iter()
        .map(|c| (c, false))
        .chain(pod.spec.init_containers.iter().map(|c| (c, true)));
    let mut port_target_found = false;
    for (c, init) in all {
        let statuses = if init {
            &pod.status.init_container_statuses
        } else {
            &pod.status.container_statuses
        };
        let base: Vec<(String, String)> = vec![
            (format!("{META}pod_container_name"), c.name.clone()),
            (
                format!("{META}pod_container_id"),
                container_id(statuses, &c.name),
            ),
            (format!("{META}pod_container_image"), c.image.clone()),
            (format!("{META}pod_container_init"), init.to_string()),
        ];
        if c.ports.is_empty() {
            if wanted_port.is_none() && !init {
                let mut t = base.clone();
                t.push(("__address__".into(), ip.to_string()));
                group.targets.push(with_extra(t, &extra));
            }
            continue;
        }
        for p in &c.ports {
            if wanted_port.is_some_and(|w| w != p.container_port) {
                continue;
            }
            port_target_found = true;
            let mut t = base.clone();
            t.push(("__address__".into(), join_host_port(ip, p.container_port)));
            t.push((format!("{META}pod_container_port_name"), p.name.clone()));
            t.push((
                format!("{META}pod_container_port_number"),
                p.container_port.to_string(),
            ));
            t.push((
                format!("{META}pod_container_port_protocol"),
                p.protocol.clone().unwrap_or_else(|| "TCP".into()),
            ));
            group.targets.push(with_extra(t, &extra));
        }
    }
    if let (Some(port), false) = (wanted_port, port_target_found) {
        // The annotated port is not declared by any container: scrape it
        // anyway, as the annotation convention expects.
        let t = vec![("__address__".to_string(), join_host_port(ip, port))];
        group.targets.push(with_extra(t, &extra));
    }
    if wanted_port.is_some() && group.targets.len() > 1 {
        // The same port declared twice (e.g. TCP and UDP): one target.
        group.targets.truncate(1);
    }
    group
}

fn with_extra(mut t: Vec<(String, String)>, extra: &[(&str, String)]) -> Labels {
    t.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    Labels::new(t)
}
