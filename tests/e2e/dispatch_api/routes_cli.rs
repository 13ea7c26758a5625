//! `watchfire routes test|show` against Debian's `amtool config routes
//! test|show` (Alertmanager 0.25): same standard output, same exit
//! status, on the upstream `simple.yml` and `cli/testdata` configs.

use std::path::{Path, PathBuf};

use crate::harness::{peer, run, watchfire};

/// `shared/conformance/alertmanager` (relative to the repository).
fn am_conformance() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../shared/conformance/alertmanager"
    ))
}

/// `simple.yml` without its `tracing:` block, which Alertmanager 0.25
/// (Debian's amtool) predates and refuses.
fn simple_for_025(dir: &Path) -> PathBuf {
    let text = std::fs::read_to_string(am_conformance().join("simple.yml")).expect("simple.yml");
    let mut out = String::new();
    let mut skipping = false;
    for line in text.lines() {
        let top_level = !line.starts_with([' ', '#']) && !line.is_empty();
        if top_level {
            skipping = line.starts_with("tracing:");
        }
        if !skipping {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(!out.contains("tracing:") && out.contains("team-DB-pager"));
    let p = dir.join("simple-0.25.yml");
    std::fs::write(&p, out).expect("writing simple-0.25.yml");
    p
}

/// Runs `amtool config routes <args>` and `watchfire routes <args>` and
/// compares standard output and exit status; returns amtool's status.
fn check_routes(dir: &Path, file: &Path, args: &[&str]) -> i32 {
    let cfg = format!("--config.file={}", file.display());
    let mut am_args = vec!["config", "routes"];
    am_args.extend_from_slice(&args[..1]);
    am_args.push(&cfg);
    am_args.extend_from_slice(&args[1..]);
    let mut wf_args = vec!["routes"];
    wf_args.extend_from_slice(&args[..1]);
    wf_args.push(&cfg);
    wf_args.extend_from_slice(&args[1..]);
    let am = run(&peer("amtool"), &am_args, dir);
    let wf = run(&watchfire(), &wf_args, dir);
    let what = format!("routes {args:?} on {}", file.display());
    assert_eq!(
        (wf.code, &wf.stdout),
        (am.code, &am.stdout),
        "{what}: watchfire (left) vs amtool (right)\nwatchfire stderr: {}\namtool stderr: {}",
        wf.stderr,
        am.stderr
    );
    if am.code != 0 && am.stdout.is_empty() {
        assert!(
            !wf.stderr.trim().is_empty(),
            "{what}: failed without a message"
        );
    }
    am.code
}

#[test]
fn routes_test_matches_amtool() {
    let dir = tempfile::TempDir::new().expect("tempdir");
    let simple_buf = simple_for_025(dir.path());
    let cli = am_conformance().join("cli_testdata");
    let (routing_buf, reverted_buf) = (
        cli.join("conf.routing.yml"),
        cli.join("conf.routing-reverted.yml"),
    );
    let (simple, routing, reverted) = (
        simple_buf.as_path(),
        routing_buf.as_path(),
        reverted_buf.as_path(),
    );
    // (config, arguments, amtool's exit status)
    #[rustfmt::skip]
    let rows: Vec<(&Path, Vec<&str>, i32)> = vec![
        (routing, vec!["test"], 0),
        (routing, vec!["test", "test=1"], 0),
        (routing, vec!["test", "test=2"], 0),
        (routing, vec!["test", "test=3"], 0),
        (routing, vec!["test", "--tree", "test=2"], 0),
        (routing, vec!["test", "--tree", "test=3"], 0),
        (routing, vec!["test", "--verify.receivers=test1,test2", "test=2"], 0),
        (routing, vec!["test", "--verify.receivers=test1", "test=2"], 1),
        (routing, vec!["test", "test=\"2\""], 0),
        (routing, vec!["test", "a!=b"], 1),
        (routing, vec!["test", "foo"], 1),
        (routing, vec!["show"], 0),
        (reverted, vec!["test", "test=2"], 0),
        (reverted, vec!["test", "--tree", "test=2"], 0),
        (reverted, vec!["test", "test=1"], 0),
        (reverted, vec!["show"], 0),
        (simple, vec!["show"], 0),
        (simple, vec!["test"], 0),
        (simple, vec!["test", "service=foo1"], 0),
        (simple, vec!["test", "service=foo1", "severity=critical"], 0),
        (simple, vec!["test", "--tree", "service=baz", "severity=critical"], 0),
        (simple, vec!["test", "service=files", "severity=critical"], 0),
        (simple, vec!["test", "--tree", "service=files", "severity=warning"], 0),
        (simple, vec!["test", "service=database", "owner=team-X"], 0),
        (simple, vec!["test", "--tree", "service=database", "owner=team-X"], 0),
        (simple, vec!["test", "service=database", "owner=team-Y"], 0),
        (simple, vec!["test", "--verify.receivers=team-X-pager", "service=foo2", "severity=critical"], 0),
        (simple, vec!["test", "--verify.receivers=team-X-mails", "service=foo2", "severity=critical"], 1),
    ];
    for (file, args, code) in &rows {
        assert_eq!(
            check_routes(dir.path(), file, args),
            *code,
            "amtool {args:?} on {}",
            file.display()
        );
    }
    // A missing file and a broken one fail with status 1 and a message;
    // a config error points at file:line:col.
    let broken = dir.path().join("broken.yml");
    std::fs::write(
        &broken,
        "route:\n  receiver: nobody\nreceivers:\n  - name: x\n",
    )
    .expect("broken.yml");
    for file in [dir.path().join("missing.yml"), broken.clone()] {
        assert_eq!(check_routes(dir.path(), &file, &["test", "a=b"]), 1);
    }
    let cfg = format!("--config.file={}", broken.display());
    let out = run(&watchfire(), &["routes", "show", &cfg], dir.path());
    assert_eq!(out.code, 1, "{out:?}");
    let at = format!("{}:", broken.display());
    assert!(
        out.stderr.contains(&at) && out.stderr.contains("nobody"),
        "config error without position: {}",
        out.stderr
    );
}
