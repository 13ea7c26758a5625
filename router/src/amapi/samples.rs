//! Sample `POST /api/v2/alerts` bodies, shared by the decoder's tests and
//! the ingest benchmarks (`benches/am_compare.rs`, `ingest_stages.rs`,
//! `router/benches/post_parse.rs`), so they all measure the same bytes.

/// Alerts `start..start + n` as the load benchmark posts them: four
/// labels (50 alert names), one annotation, a `generatorURL`, no times,
/// no escapes.
pub fn bench_json(start: usize, n: usize) -> String {
    array(start, n, |i| {
        format!(
            "{{\"labels\":{{\"alertname\":\"Load{}\",\"instance\":\"host-{i}\",\"job\":\"bench\",\"severity\":\"low\"}},\
             \"annotations\":{{\"summary\":\"load test alert {i}\"}},\"generatorURL\":\"http://bench/{i}\"}}",
            i % 50
        )
    })
}

/// Alerts `start..start + n` as Prometheus posts them: keys in the order
/// Go's encoding/json writes them, `&` escaped as `\u0026`, RFC 3339
/// times with nanoseconds and `Z` or an offset.
pub fn prometheus_json(start: usize, n: usize) -> String {
    array(start, n, |i| {
        format!(
            "{{\"annotations\":{{\"description\":\"host-{i}:9100 of job node has been down for more than 5 minutes.\",\
             \"summary\":\"Instance host-{i}:9100 down\"}},\
             \"endsAt\":\"2026-11-22T16:{:02}:07.{:09}Z\",\"startsAt\":\"2026-11-22T17:{:02}:07.5+01:00\",\
             \"generatorURL\":\"http://prometheus-0:9090/graph?g0.expr=up%7Bjob%3D%22node%22%7D+%3D%3D+0\\u0026g0.tab=1\",\
             \"labels\":{{\"alertname\":\"InstanceDown\",\"instance\":\"host-{i}:9100\",\"job\":\"node\",\"severity\":\"critical\"}}}}",
            i % 60,
            i * 7_919 % 1_000_000_000,
            i % 60,
        )
    })
}

fn array(start: usize, n: usize, alert: impl Fn(usize) -> String) -> String {
    let items: Vec<String> = (start..start + n).map(alert).collect();
    format!("[{}]", items.join(","))
}
