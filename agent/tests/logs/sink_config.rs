//! `logs.sinks.elasticsearch` and `logs.sinks.loki` in the agent config.

use std::collections::BTreeMap;
use std::time::Duration;

use watchfire_agent::config::AgentConfig;
use watchfire_agent::logs::config::SinkConfig;
use watchfire_agent::logs::sink::elasticsearch::{BulkAction, IndexPattern};
use watchfire_agent::ship::config::Auth;

const HEAD: &str = "remote_write:\n  url: http://localhost:9/api/v1/write\nlogs:\n  include: ['/x/*.log']\n  sinks:\n";

fn check(sinks: &str, expect: Result<(), &str>) {
    let text = format!("{HEAD}{sinks}");
    match (AgentConfig::from_yaml("a.yml", &text), expect) {
        (Ok(_), Ok(())) => {}
        (Err(e), Err(want)) => assert!(e.to_string().contains(want), "{e} does not contain {want}"),
        (got, want) => panic!("{sinks}: got {:?}, want {want:?}", got.map(|_| ())),
    }
}

#[test]
fn both_sinks() {
    let text = format!(
        "{HEAD}    elasticsearch:\n      url: https://es:9200/\n      index: app-%Y.%m\n      action: index\n      compression: gzip\n      timeout: 5s\n      basic_auth: {{ username: u, password: p }}\n      min_backoff: 10ms\n      max_backoff: 1s\n      max_retry_after: 1m\n      dead_letter_path: /data/es-dead.jsonl\n    loki:\n      url: http://loki:3100\n      tenant_id: team-a\n      labels: {{ cluster: prod }}\n      bearer_token: t\n"
    );
    let l = AgentConfig::from_yaml("a.yml", &text)
        .unwrap()
        .logs
        .unwrap();
    let [SinkConfig::Elasticsearch(e), SinkConfig::Loki(k)] = &l.sinks[..] else {
        panic!("{:?}", l.sinks)
    };
    assert_eq!(e.http.url.as_str(), "https://es:9200/_bulk");
    assert_eq!(e.index, IndexPattern::parse("app-%Y.%m").unwrap());
    assert_eq!(e.action, BulkAction::Index);
    assert!(e.http.gzip);
    assert_eq!(e.http.timeout, Duration::from_secs(5));
    assert_eq!(
        e.http.auth,
        Auth::Basic {
            username: "u".into(),
            password: "p".into()
        }
    );
    assert_eq!(e.http.retry.min_backoff, Duration::from_millis(10));
    assert_eq!(e.http.retry.max_retry_after, Duration::from_secs(60));
    assert_eq!(
        e.http.dead_letter_path.as_deref(),
        Some("/data/es-dead.jsonl".as_ref())
    );
    assert_eq!(k.http.url.as_str(), "http://loki:3100/loki/api/v1/push");
    assert_eq!(k.tenant_id.as_deref(), Some("team-a"));
    assert_eq!(
        k.labels,
        BTreeMap::from([("cluster".into(), "prod".into())])
    );
    assert_eq!(k.http.auth, Auth::Bearer("t".into()));
    assert!(!k.http.gzip);

    // Defaults.
    let text = format!("{HEAD}    elasticsearch: {{ url: 'http://es:9200' }}\n    loki: {{ url: 'http://l:3100' }}\n");
    let l = AgentConfig::from_yaml("a.yml", &text)
        .unwrap()
        .logs
        .unwrap();
    let [SinkConfig::Elasticsearch(e), SinkConfig::Loki(k)] = &l.sinks[..] else {
        panic!("{:?}", l.sinks)
    };
    assert_eq!(
        e.index,
        IndexPattern::parse("watchfire-logs-%Y.%m.%d").unwrap()
    );
    assert_eq!(e.action, BulkAction::Create);
    assert_eq!(e.http.timeout, Duration::from_secs(30));
    assert_eq!(
        k.labels,
        BTreeMap::from([("job".into(), "watchfire-agent".into())])
    );
    assert_eq!(k.tenant_id, None);
}

#[test]
fn errors() {
    let cases: Vec<(&str, Result<(), &str>)> = vec![
        ("    elasticsearch: { url: 'http://es:9200' }\n", Ok(())),
        ("    elasticsearch: { url: 'ftp://es' }\n", Err("logs.sinks.elasticsearch.url: scheme")),
        ("    elasticsearch: { url: 'http://es', index: 'Logs' }\n", Err("logs.sinks.elasticsearch.index")),
        ("    elasticsearch: { url: 'http://es', index: 'l-%H' }\n", Err("unknown date field")),
        ("    elasticsearch: { url: 'http://es', action: upsert }\n", Err("create or index")),
        ("    elasticsearch: { url: 'http://es', compression: zstd }\n", Err("none or gzip")),
        ("    elasticsearch: { url: 'http://es', timeout: 0s }\n", Err("timeout must be positive")),
        ("    elasticsearch: { url: 'http://es', min_backoff: 2s, max_backoff: 1s }\n", Err("below min_backoff")),
        ("    elasticsearch: { url: 'http://es', bearer_token: t, basic_auth: { username: u } }\n", Err("at most one of")),
        ("    elasticsearch: { url: 'http://es', bogus: 1 }\n", Err("bogus")),
        ("    loki: { url: 'http://l' }\n", Ok(())),
        ("    loki: { url: 'http://l', labels: {} }\n", Err("at least one static label")),
        ("    loki: { url: 'http://l', labels: { pod: x } }\n", Err("comes from the records")),
        ("    loki: { url: 'http://l', labels: { 'a-b': x } }\n", Err("not a valid label name")),
        ("    loki: { url: 'http://l', tenant_id: '' }\n", Err("tenant_id")),
        ("    loki: { url: 'http://l', max_retry_after: soon }\n", Err("logs.sinks.loki.max_retry_after")),
        ("    loki: { url: 'http://l', extra: 1 }\n", Err("extra")),
    ];
    for (sinks, want) in cases {
        check(sinks, want);
    }
}

#[test]
fn blackhole_sink() {
    let text = format!("{HEAD}    blackhole: {{}}\n");
    let l = AgentConfig::from_yaml("a.yml", &text)
        .unwrap()
        .logs
        .unwrap();
    assert_eq!(l.sinks, vec![SinkConfig::Blackhole]);
    for (sinks, expect) in [
        ("    blackhole: {}\n    file: { path: /x.jsonl }\n", Ok(())),
        ("    blackhole: { path: /x }\n", Err("unknown field")),
    ] {
        check(sinks, expect);
    }
}
