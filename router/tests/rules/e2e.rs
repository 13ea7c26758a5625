//! End to end over the real pieces, no scripted engine: a rule file parsed
//! by `watchfire_rulefmt`, groups built by `rules::load::group_specs`,
//! series in a `MemStorage`, the PromQL engine and the Go template engine.
//! Each case evaluates every group at each of its interval ticks from 0 up
//! to the case's time, then checks a recorded sample or an alert.

use std::collections::BTreeMap;
use std::sync::Arc;

use watchfire_promql::storage::MemStorage;
use watchfire_promql::Labels;
use watchfire_promqltest::parse_series_line;
use watchfire_router::rules::{load, AlertState, EvalOptions, Group, RuleStorage};

const MIN: i64 = 60_000;

const RULES: &str = r#"
groups:
  - name: fine
    interval: 1m
    rules:
      - record: job:http_requests:rate2m
        expr: sum by (job) (rate(http_requests_total[2m]))
      - record: up:steps
        expr: count_over_time(up{instance="a:80"}[5m:])
        labels:
          every: 1m
      - alert: InstanceDown
        expr: up == 0
        for: 2m
        labels:
          severity: page
          owner: "{{ $labels.job }}-team"
        annotations:
          summary: "{{ $labels.instance }} of {{ $labels.job }} is down"
          traffic: '{{ with query "job:http_requests:rate2m" }}{{ . | first | value }}{{ end }}'
          where: "{{ $externalLabels.cluster }} at {{ $externalURL }}"
          plain: no template here
      - alert: HighTraffic
        expr: job:http_requests:rate2m * 1234 > 1000
        annotations:
          human: "{{ $value | humanize }}"
          fixed: '{{ printf "%.2f" $value }}'
          broken: '{{ humanize "abc" }}'
          badquery: '{{ query "sum(" }}'
  - name: coarse
    interval: 2m
    rules:
      - record: up:steps
        expr: count_over_time(up{instance="a:80"}[5m:])
        labels:
          every: 2m
"#;

/// Counters growing 2/s and 1/s, instance a down, b up; one sample a minute.
const SERIES: &[&str] = &[
    r#"http_requests_total{job="api",instance="a:80"} 1200+120x20"#,
    r#"http_requests_total{job="api",instance="b:80"} 600+60x20"#,
    r#"up{job="api",instance="a:80"} 0x20"#,
    r#"up{job="api",instance="b:80"} 1x20"#,
];

/// What a text must look like.
enum Text {
    Is(&'static str),
    StartsWith(&'static str),
}

enum Expect {
    /// The sample of `series` written at the case time (`None`: no sample).
    Sample(&'static str, Option<f64>),
    /// The active alert of `alertname` (`None`: there is none), with at
    /// least these labels and exactly these annotation texts.
    Alert {
        alertname: &'static str,
        state: Option<AlertState>,
        labels: &'static [(&'static str, &'static str)],
        annotations: &'static [(&'static str, Text)],
    },
}

struct Case {
    name: &'static str,
    at_min: i64,
    expect: Expect,
}

fn series_labels(s: &str) -> Labels {
    parse_series_line(s).expect("series labels").0
}

/// Runs the rule file from 0 to `at_min` and checks `expect`.
fn check(c: Case) {
    let file = watchfire_rulefmt::parse_rule_file("e2e.yml", RULES).expect("rule file parses");
    let opts = Arc::new(EvalOptions {
        external_labels: BTreeMap::from([("cluster".to_string(), "eu1".to_string())]),
        external_url: "http://router:9090".into(),
        ..EvalOptions::default()
    });
    let mut groups: Vec<Group> = load::group_specs(&file, MIN, 0)
        .into_iter()
        .map(|s| Group::new(s, opts.clone()))
        .collect();
    let mut st = MemStorage::default();
    for line in SERIES {
        let (labels, values) = parse_series_line(line).expect("series line");
        for (i, v) in values.iter().enumerate() {
            if let Some(v) = v.as_f64() {
                st.append(&labels, i as i64 * MIN, v);
            }
        }
    }
    let at = c.at_min * MIN;
    for ts in (0..=at).step_by(MIN as usize) {
        for g in groups.iter_mut().filter(|g| ts % g.interval_ms() == 0) {
            let out = g.eval(&mut st, ts);
            for r in &out.rules {
                assert_eq!(r.error, None, "{}: rule {} at {ts}", c.name, r.name);
            }
        }
    }
    match c.expect {
        Expect::Sample(series, want) => {
            let l = series_labels(series);
            let got = st
                .series
                .iter()
                .find(|s| s.labels == l)
                .and_then(|s| s.samples.iter().find(|p| p.t == at))
                .map(|p| p.v);
            match (got, want) {
                (Some(g), Some(w)) => assert!((g - w).abs() < 1e-9, "{}: {g} != {w}", c.name),
                (g, w) => assert_eq!(g, w, "{}: {series}", c.name),
            }
        }
        Expect::Alert {
            alertname,
            state,
            labels,
            annotations,
        } => {
            let active: Vec<_> = groups
                .iter()
                .flat_map(|g| g.active_alerts(Some(alertname)))
                .collect();
            let Some(want_state) = state else {
                assert!(active.is_empty(), "{}: unexpected {active:?}", c.name);
                return;
            };
            assert_eq!(active.len(), 1, "{}: {active:?}", c.name);
            let a = &active[0];
            assert_eq!(a.state, want_state, "{}: state", c.name);
            for (k, v) in labels {
                assert_eq!(
                    a.labels.get(*k).map(String::as_str),
                    Some(*v),
                    "{}: label {k}",
                    c.name
                );
            }
            assert_eq!(
                a.annotations.len(),
                annotations.len(),
                "{}: {:?}",
                c.name,
                a.annotations
            );
            for (k, want) in annotations {
                let got = a.annotations.get(*k).map_or("<missing>", String::as_str);
                match want {
                    Text::Is(w) => assert_eq!(got, *w, "{}: annotation {k}", c.name),
                    Text::StartsWith(w) => {
                        assert!(got.starts_with(w), "{}: annotation {k}: {got}", c.name)
                    }
                }
            }
        }
    }
}

const DOWN_ANNOTATIONS_T0: &[(&str, Text)] = &[
    ("summary", Text::Is("a:80 of api is down")),
    // No rate yet at t=0: `with` skips its body.
    ("traffic", Text::Is("")),
    ("where", Text::Is("eu1 at http://router:9090")),
    ("plain", Text::Is("no template here")),
];

const DOWN_ANNOTATIONS: &[(&str, Text)] = &[
    ("summary", Text::Is("a:80 of api is down")),
    // The query sees what the recording rule wrote earlier in this
    // evaluation: 2/s + 1/s.
    ("traffic", Text::Is("3")),
    ("where", Text::Is("eu1 at http://router:9090")),
    ("plain", Text::Is("no template here")),
];

const HIGH_ANNOTATIONS: &[(&str, Text)] = &[
    ("human", Text::Is("3.702k")),
    ("fixed", Text::Is("3702.00")),
    // Go's column (115) counts the header Prometheus prepends (112 bytes).
    (
        "broken",
        Text::Is(
            "<error expanding template: error executing template __alert_HighTraffic: \
             template: __alert_HighTraffic:1:115: executing \"__alert_HighTraffic\" at \
             <humanize \"abc\">: error calling humanize: \
             strconv.ParseFloat: parsing \"abc\": invalid syntax>",
        ),
    ),
    (
        "badquery",
        Text::StartsWith(
            "<error expanding template: error executing template __alert_HighTraffic: \
             template: __alert_HighTraffic:1:115: executing \"__alert_HighTraffic\" at \
             <query \"sum(\">: error calling query: ",
        ),
    ),
];

#[test]
fn rule_file_end_to_end() {
    let down = |at_min, state, annotations| Case {
        name: "InstanceDown",
        at_min,
        expect: Expect::Alert {
            alertname: "InstanceDown",
            state: Some(state),
            labels: &[
                ("alertname", "InstanceDown"),
                ("instance", "a:80"),
                ("job", "api"),
                ("severity", "page"),
                ("owner", "api-team"),
            ],
            annotations,
        },
    };
    let cases = vec![
        Case {
            name: "no rate from one sample",
            at_min: 0,
            expect: Expect::Sample(r#"job:http_requests:rate2m{job="api"}"#, None),
        },
        Case {
            name: "recorded rate",
            at_min: 1,
            expect: Expect::Sample(r#"job:http_requests:rate2m{job="api"}"#, Some(3.0)),
        },
        Case {
            name: "recorded rate later",
            at_min: 7,
            expect: Expect::Sample(r#"job:http_requests:rate2m{job="api"}"#, Some(3.0)),
        },
        Case {
            name: "subquery without step uses the 1m group interval",
            at_min: 10,
            expect: Expect::Sample(
                r#"up:steps{job="api",instance="a:80",every="1m"}"#,
                Some(5.0),
            ),
        },
        Case {
            name: "subquery without step uses the 2m group interval",
            at_min: 10,
            expect: Expect::Sample(
                r#"up:steps{job="api",instance="a:80",every="2m"}"#,
                Some(3.0),
            ),
        },
        down(0, AlertState::Pending, DOWN_ANNOTATIONS_T0),
        down(1, AlertState::Pending, DOWN_ANNOTATIONS),
        down(2, AlertState::Firing, DOWN_ANNOTATIONS),
        down(5, AlertState::Firing, DOWN_ANNOTATIONS),
        Case {
            name: "HighTraffic needs a rate",
            at_min: 0,
            expect: Expect::Alert {
                alertname: "HighTraffic",
                state: None,
                labels: &[],
                annotations: &[],
            },
        },
        Case {
            name: "HighTraffic fires at once (no for)",
            at_min: 1,
            expect: Expect::Alert {
                alertname: "HighTraffic",
                state: Some(AlertState::Firing),
                labels: &[("alertname", "HighTraffic"), ("job", "api")],
                annotations: HIGH_ANNOTATIONS,
            },
        },
    ];
    for c in cases {
        check(c);
    }
}
