//! The `alertmanager.yml` the ingest benchmarks use (`am_compare.rs`
//! gives both servers this file; `ingest_stages.rs` feeds the same routes
//! to the dispatch core in process).

/// Everything to a receiver with no integrations, grouped by
/// `alertname`; alerts labelled `bench="latency"` to a webhook on
/// `hook_port`, one group per alert, no `group_wait`.
pub fn am_yml(hook_port: u16) -> String {
    format!(
        "route:
  receiver: blackhole
  group_by: [alertname]
  group_wait: 30s
  group_interval: 5m
  routes:
    - matchers: ['bench=\"latency\"']
      receiver: hook
      group_by: ['...']
      group_wait: 0s
      group_interval: 1m
receivers:
  - name: blackhole
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:{hook_port}/hook
        send_resolved: false
"
    )
}
