//! Kubernetes metadata from the kubelet's log path:
//! `…/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log` (rotated
//! files keep the prefix: `0.log.20240101-000000`). Namespaces, pod names
//! and uids cannot contain `_`, so the split is unambiguous. **Pure**.

use std::path::Path;

/// Where a container's log file comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct K8sMeta {
    pub namespace: String,
    pub pod: String,
    pub uid: String,
    pub container: String,
}

/// The metadata of a kubelet log path, or `None` for any other path.
pub fn from_path(path: &Path) -> Option<K8sMeta> {
    let file = path.file_name()?.to_str()?;
    let container_dir = path.parent()?;
    let pod_dir = container_dir.parent()?;
    let pods = pod_dir.parent()?;
    if pods.file_name()? != "pods" {
        return None;
    }
    let (restart, rest) = file.split_once(".log")?;
    if restart.is_empty()
        || !restart.bytes().all(|b| b.is_ascii_digit())
        || !(rest.is_empty() || rest.starts_with('.'))
    {
        return None;
    }
    let container = container_dir.file_name()?.to_str()?;
    let mut parts = pod_dir.file_name()?.to_str()?.split('_');
    let (namespace, pod, uid) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some()
        || [namespace, pod, uid, container]
            .iter()
            .any(|s| s.is_empty())
    {
        return None;
    }
    Some(K8sMeta {
        namespace: namespace.to_string(),
        pod: pod.to_string(),
        uid: uid.to_string(),
        container: container.to_string(),
    })
}
