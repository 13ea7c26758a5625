//! `deploy/`: every Kubernetes manifest validates against the Kubernetes
//! OpenAPI schemas, and the configs the manifests mount pass the
//! binary's own checks.

use super::*;

/// Every resource file a kustomization pulls in, following directories.
fn kustomize_resources(dir: &Path, out: &mut Vec<PathBuf>, generated: &mut Vec<PathBuf>) {
    let k = ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("no kustomization in {}", dir.display()));
    let node = yaml(&k);
    for r in scalars(get(&node, "resources")) {
        let p = dir.join(&r);
        if p.is_dir() {
            kustomize_resources(&p, out, generated);
        } else {
            assert!(p.is_file(), "{}: resource {r} does not exist", k.display());
            out.push(p);
        }
    }
    for f in generator_files(&node) {
        let p = dir.join(&f);
        assert!(
            p.is_file(),
            "{}: generator file {f} does not exist",
            k.display()
        );
        generated.push(p);
    }
}

/// Runs `kubernetes-validate --strict` (through `python3 -m`, so a fresh
/// pip install needs no shim) on `files`.
fn validate(files: &[PathBuf]) -> crate::harness::Output {
    let mut args = vec![
        "-m".to_string(),
        "kubernetes_validate".into(),
        "--strict".into(),
    ];
    args.extend(files.iter().map(|p| p.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(Path::new("python3"), &args, &repo());
    assert!(
        !out.stderr.contains("No module named kubernetes_validate"),
        "kubernetes-validate is missing: `python3 -m pip install kubernetes-validate` (.ci/run does this)"
    );
    out
}

#[test]
fn deploy_manifests_match_the_kubernetes_schemas() {
    let mut resources = Vec::new();
    let mut generated = Vec::new();
    kustomize_resources(&repo().join("deploy"), &mut resources, &mut generated);
    let kinds: BTreeSet<String> = resources
        .iter()
        .filter_map(|p| match get(&yaml(p), "kind").map(|n| &n.kind) {
            Some(NodeKind::Scalar { value, .. }) => Some(value.clone()),
            _ => None,
        })
        .collect();
    for k in [
        "DaemonSet",
        "StatefulSet",
        "Service",
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
    ] {
        assert!(kinds.contains(k), "no {k} in deploy/: {kinds:?}");
    }
    let out = validate(&resources);
    assert_eq!(
        out.code, 0,
        "kubernetes-validate failed:\n{}\n{}",
        out.stdout, out.stderr
    );

    // The validator is not a rubber stamp: a wrong type and an unknown
    // field (strict mode) are refused.
    let tmp = TempDir::new().expect("tempdir");
    let bad = tmp.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {name: x}\nspec:\n  replicas: many\n  serviceName: x\n  selector: {matchLabels: {a: b}}\n  template:\n    metadata: {labels: {a: b}}\n    spec:\n      containers: [{name: c, image: i, livenessProbe: {httpGet: {path: /, port: 1}, period: 1}}]\n",
    )
    .expect("writing bad.yaml");
    let out = validate(&[bad]);
    assert_ne!(out.code, 0, "an invalid manifest passed:\n{}", out.stdout);
}

#[test]
fn mounted_configs_pass_watchfire_checks() {
    let deploy = repo().join("deploy");
    let router_yml = deploy.join("router/router.yml");
    let out = run(
        &watchfire(),
        &[
            "check-config",
            "--role",
            "router",
            &router_yml.display().to_string(),
        ],
        &repo(),
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    // The agent's container substitutes the node IP for __HOST_IP__ first.
    let tmp = TempDir::new().expect("tempdir");
    let agent_yml = tmp.path().join("agent.yml");
    let text = read(&deploy.join("agent/agent.yml"));
    assert!(
        text.contains("__HOST_IP__"),
        "agent.yml no longer has the __HOST_IP__ placeholder the DaemonSet fills in"
    );
    std::fs::write(&agent_yml, text.replace("__HOST_IP__", "10.0.0.7")).expect("writing agent.yml");
    let out = run(
        &watchfire(),
        &[
            "check-config",
            "--role",
            "agent",
            &agent_yml.display().to_string(),
        ],
        &repo(),
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let am = deploy.join("router/alertmanager.yml").display().to_string();
    let out = run(
        &watchfire(),
        &[
            "routes",
            "test",
            "--config.file",
            &am,
            "--verify.receivers",
            "pager",
            "severity=critical",
        ],
        &repo(),
    );
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    // The paths the configs name are where the manifests mount things.
    let sts = read(&deploy.join("router/statefulset.yaml"));
    let router = read(&router_yml);
    for (in_config, mount) in [
        (
            "/etc/watchfire/rules/*.yml",
            "mountPath: /etc/watchfire/rules",
        ),
        (
            "/etc/watchfire/config/alertmanager.yml",
            "mountPath: /etc/watchfire/config",
        ),
        (
            "/var/lib/watchfire/router.redb",
            "mountPath: /var/lib/watchfire",
        ),
    ] {
        assert!(
            router.contains(in_config),
            "router.yml does not use {in_config}"
        );
        assert!(sts.contains(mount), "statefulset.yaml lacks {mount}");
    }
    let ds = read(&deploy.join("agent/daemonset.yaml"));
    for m in [
        "mountPath: /var/lib/watchfire-agent",
        "mountPath: /var/log/pods",
        "mountPath: /var/log/containers",
        "path: /health/live",
        "path: /health/ready",
        "fieldPath: spec.nodeName",
    ] {
        assert!(ds.contains(m), "daemonset.yaml lacks {m}");
    }
}
