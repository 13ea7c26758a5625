//! The `logs:` section of the agent config.

use std::time::Duration;

use watchfire_agent::config::AgentConfig;
use watchfire_agent::logs::config::SinkConfig;
use watchfire_agent::logs::format::Format;
use watchfire_agent::logs::tail::ReadFrom;

const HEAD: &str = "remote_write:\n  url: http://localhost:9/api/v1/write\n";

fn check(logs: &str, expect: Result<(), &str>) {
    let text = format!("{HEAD}logs:\n{logs}");
    match (AgentConfig::from_yaml("a.yml", &text), expect) {
        (Ok(_), Ok(())) => {}
        (Err(e), Err(want)) => assert!(e.to_string().contains(want), "{e} does not contain {want}"),
        (got, want) => panic!("{logs}: got {:?}, want {want:?}", got.map(|_| ())),
    }
}

#[test]
fn full_section() {
    let text = format!(
        "{HEAD}logs:\n  include: ['/var/log/pods/*/*/*.log']\n  exclude: ['/var/log/pods/kube-system_*/*/*.log']\n  format: cri\n  read_from: end\n  ignore_older: 24h\n  max_line_bytes: 64KiB\n  fingerprint_bytes: 512\n  poll_interval: 1s\n  batch_lines: 100\n  queue_batches: 4\n  checkpoint_path: /data/logs.redb\n  redaction:\n    keys:\n      extra: [session]\n  sinks:\n    file:\n      path: /data/out.jsonl\n"
    );
    let cfg = AgentConfig::from_yaml("a.yml", &text).unwrap();
    let l = cfg.logs.unwrap();
    assert_eq!(l.tail.format, Format::Cri);
    assert_eq!(l.tail.read_from, ReadFrom::End);
    assert_eq!(l.tail.ignore_older, Some(Duration::from_secs(86400)));
    assert_eq!(l.tail.max_line_bytes, 64 * 1024);
    assert_eq!(l.tail.fingerprint_bytes, 512);
    assert_eq!(l.tail.exclude.len(), 1);
    assert_eq!(l.poll_interval, Duration::from_secs(1));
    assert_eq!((l.batch_lines, l.queue_batches), (100, 4));
    assert!(l.redaction.key_names.iter().any(|k| k == "session"));
    assert_eq!(
        l.sinks,
        [SinkConfig::File {
            path: "/data/out.jsonl".into()
        }]
    );
    assert!(AgentConfig::from_yaml("a.yml", HEAD)
        .unwrap()
        .logs
        .is_none());
}

#[test]
fn errors() {
    let sink = "  sinks: { file: { path: /tmp/o } }\n";
    let cases: Vec<(String, Result<(), &str>)> = vec![
        (format!("  include: ['/x/*.log']\n{sink}"), Ok(())),
        (
            format!("  include: []\n{sink}"),
            Err("a.yml:4:3: logs.include: at least one"),
        ),
        ("  include: ['/x']\n".into(), Err("at least one sink")),
        (
            format!("  include: ['/x']\n  format: xml\n{sink}"),
            Err("a.yml:5:11: logs.format: unknown format"),
        ),
        (
            format!("  include: ['/x']\n  read_from: middle\n{sink}"),
            Err("a.yml:5:14: logs.read_from"),
        ),
        (
            format!("  include: ['/x']\n  max_line_bytes: lots\n{sink}"),
            Err("logs.max_line_bytes"),
        ),
        (
            format!("  include: ['/x']\n  batch_lines: 0\n{sink}"),
            Err("logs.batch_lines must be positive"),
        ),
        (format!("  include: ['/x[']\n{sink}"), Err("logs.include")),
        (
            format!("  include: ['/x']\n  bogus: 1\n{sink}"),
            Err("bogus"),
        ),
        (
            format!("  include: ['/x']\n  redaction:\n    default_action: hash\n{sink}"),
            Err("hash_key"),
        ),
    ];
    for (logs, want) in cases {
        check(&logs, want);
    }
}
