//! `traces:` validation: defaults, values, and errors with their position.

use std::time::Duration;

use watchfire_agent::config::AgentConfig;
use watchfire_agent::traces::config::{Protocol, TracesConfig};

const RW: &str = "remote_write:\n  url: http://127.0.0.1:9/api/v1/write\n";

fn check(traces: &str, want: Result<fn(&TracesConfig), &str>) {
    let text = format!("{RW}{traces}");
    match (AgentConfig::from_yaml("agent.yaml", &text), want) {
        (Ok(c), Ok(f)) => f(c.traces.as_ref().expect("traces section")),
        (Err(e), Err(msg)) => assert!(e.to_string().contains(msg), "{traces}: got {e}, want {msg}"),
        (Ok(_), Err(msg)) => panic!("{traces}: accepted, want error {msg}"),
        (Err(e), Ok(_)) => panic!("{traces}: {e}"),
    }
}

#[test]
fn traces_section() {
    check(
        "traces:\n  export:\n    endpoint: http://collector:4317\n",
        Ok(|c| {
            assert_eq!(c.grpc.as_ref().unwrap().listen_address.port(), 4317);
            assert_eq!(c.http.as_ref().unwrap().listen_address.port(), 4318);
            assert_eq!(c.grpc.as_ref().unwrap().max_request_size, 4 << 20);
            assert_eq!(c.sampling.probability, 0.1);
            assert_eq!(c.sampling.latency_threshold, Duration::from_secs(1));
            assert!(c.sampling.keep_errors);
            assert_eq!(c.export.protocol, Protocol::Grpc);
            assert!(c.export.gzip);
            assert_eq!(c.export.endpoint, "http://collector:4317");
            assert_eq!(c.span_metrics.as_ref().unwrap().max_series, 2000);
            // No redaction section anywhere: the engine's defaults.
            assert!(c
                .redaction
                .as_ref()
                .unwrap()
                .key_names
                .iter()
                .any(|k| k == "password"));
        }),
    );
    check(
        "traces:\n  http:\n    enabled: false\n    listen_address: nonsense\n  grpc:\n    listen_address: localhost:5317\n    max_request_size: 1MiB\n  sampling:\n    keep_errors: false\n    latency_threshold: 250ms\n    probability: 0.5\n  export:\n    endpoint: http://tempo:4318\n    protocol: http\n    compression: none\n    batch_max_spans: 10\n    queue_max_spans: 100\n    headers:\n      x-api-key: k\n  span_metrics:\n    max_series: 5\n    buckets: [0.1, 1]\n",
        Ok(|c| {
            assert!(c.http.is_none());
            assert_eq!(c.grpc.as_ref().unwrap().listen_address.to_string(), "127.0.0.1:5317");
            assert_eq!(c.grpc.as_ref().unwrap().max_request_size, 1 << 20);
            assert!(!c.sampling.keep_errors);
            assert_eq!(c.sampling.latency_threshold, Duration::from_millis(250));
            assert_eq!(c.sampling.probability, 0.5);
            assert_eq!(c.export.protocol, Protocol::Http);
            assert_eq!(c.export.endpoint, "http://tempo:4318/v1/traces");
            assert!(!c.export.gzip);
            assert_eq!((c.export.batch_max_spans, c.export.queue_max_spans), (10, 100));
            assert_eq!(c.export.headers, vec![("x-api-key".to_string(), "k".to_string())]);
            assert_eq!(c.span_metrics.as_ref().unwrap().buckets, vec![0.1, 1.0]);
        }),
    );
    check(
        "traces:\n  span_metrics:\n    enabled: false\n  export:\n    endpoint: http://c:4317\n",
        Ok(|c| assert!(c.span_metrics.is_none())),
    );
    check(
        "traces:\n  grpc: {}\n",
        Err("agent.yaml:4:3: traces.export is required"),
    );
    check(
        "traces:\n  export:\n    endpoint: http://c:4317\n  sampling:\n    probability: 1.5\n",
        Err("agent.yaml:7:18: traces.sampling.probability must be between 0 and 1"),
    );
    check(
        "traces:\n  export:\n    endpoint: ftp://c\n",
        Err("agent.yaml:5:15: traces.export.endpoint: scheme must be http or https"),
    );
    check(
        "traces:\n  export:\n    endpoint: http://c:4317\n    protocol: udp\n",
        Err("agent.yaml:6:15: traces.export.protocol: \"udp\" is not grpc or http"),
    );
    check(
        "traces:\n  export:\n    endpoint: http://c:4317\n    batch_max_spans: 0\n",
        Err("traces.export.batch_max_spans must be positive"),
    );
    check("traces:\n  export:\n    endpoint: http://c:4317\n    batch_max_spans: 10\n    queue_max_spans: 5\n", Err("queue_max_spans must be at least batch_max_spans"));
    check(
        "traces:\n  grpc:\n    listen_address: nope\n  export:\n    endpoint: http://c:4317\n",
        Err("agent.yaml:5:21: traces.grpc.listen_address"),
    );
    check(
        "traces:\n  http:\n    max_request_size: big\n  export:\n    endpoint: http://c:4317\n",
        Err("traces.http.max_request_size: \"big\" is not a positive size"),
    );
    check(
        "traces:\n  export:\n    endpoint: http://c:4317\n  span_metrics:\n    buckets: [1, 0.5]\n",
        Err("buckets must be finite and strictly ascending"),
    );
    check(
        "traces:\n  export:\n    endpoint: http://c:4317\n  sampler: {}\n",
        Err("agent.yaml:"),
    );
}

#[test]
fn export_buffer() {
    let ep = "traces:\n  export:\n    endpoint: http://c:4317\n";
    check(ep, Ok(|c| assert_eq!(c.export.buffer, None)));
    check(
        &format!("{ep}    buffer: {{}}\n"),
        Ok(|c| {
            let b = c.export.buffer.as_ref().unwrap();
            assert_eq!(b.path.to_str(), Some("./data/traces.redb"));
            assert_eq!(b.max_bytes, 256 << 20);
        }),
    );
    check(
        &format!("{ep}    buffer:\n      path: /var/lib/wf/t.redb\n      max_size: 2GiB\n"),
        Ok(|c| {
            let b = c.export.buffer.as_ref().unwrap();
            assert_eq!(b.path.to_str(), Some("/var/lib/wf/t.redb"));
            assert_eq!(b.max_bytes, 2 << 30);
        }),
    );
    check(
        &format!("{ep}    buffer:\n      max_size: 2097152\n"),
        Ok(|c| assert_eq!(c.export.buffer.as_ref().unwrap().max_bytes, 2 << 20)),
    );
    check(
        &format!("{ep}    buffer:\n      max_size: 1000\n"),
        Err("agent.yaml:7:17: traces.export.buffer.max_size must be at least 1048576 bytes"),
    );
    check(
        &format!("{ep}    buffer:\n      max_size: lots\n"),
        Err("agent.yaml:7:17: traces.export.buffer.max_size: invalid size"),
    );
    check(
        &format!("{ep}    buffer:\n      path: ''\n"),
        Err("traces.export.buffer.path must not be empty"),
    );
    check(
        &format!("{ep}    buffer:\n      max_age: 1h\n"),
        Err("max_age"),
    );
}

#[test]
fn redaction_follows_logs_unless_set() {
    let logs = "logs:\n  include: ['/tmp/none/*.log']\n  sinks:\n    file:\n      path: /tmp/none/out\n  redaction:\n    keys:\n      extra: [tenant_key]\n";
    let tr = "traces:\n  export:\n    endpoint: http://c:4317\n";
    let c = AgentConfig::from_yaml("a.yaml", &format!("{RW}{logs}{tr}")).unwrap();
    let keys = &c.traces.unwrap().redaction.unwrap().key_names;
    assert!(keys.iter().any(|k| k == "tenant_key"), "{keys:?}");
    let own = "traces:\n  export:\n    endpoint: http://c:4317\n  redaction:\n    keys:\n      names: [only_this]\n";
    let c = AgentConfig::from_yaml("a.yaml", &format!("{RW}{logs}{own}")).unwrap();
    assert_eq!(
        c.traces.unwrap().redaction.unwrap().key_names,
        vec!["only_this".to_string()]
    );
}
