//! The scripted side of the differential dispatch test: the shared
//! `alertmanager.yml` ([`am_config`]) and the deterministic stream of
//! alerts and silences ([`scenario`]), rendered into v2 API bodies per
//! batch ([`batch_alerts`], [`silence_body`]).
//!
//! Timing discipline: batches land on even seconds after the start; every
//! group_wait is odd (1 s, 3 s) and every group_interval even (2 s, 4 s), so
//! every group timer fires on an odd second, a full second away from any
//! event. Repeat intervals (7 s, 9 s) are odd, so a repeat is never due
//! exactly on a tick.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

/// RFC 3339 with milliseconds, as the v2 API takes it.
pub fn ts(ms: i64) -> String {
    watchfire_promql::civil::format_rfc3339_millis(ms)
}

pub type Labels = BTreeMap<String, String>;

/// Time between two batches; batch `k` is posted at `k * BATCH_MS`.
pub const BATCH_MS: i64 = 2_000;
/// The last batch (at 44 s).
pub const LAST_BATCH: u32 = 22;
/// When deliveries stop being recorded: an even second, 1 s after the last
/// possible timer tick.
pub const END_MS: i64 = 52_000;
pub const SEED: u64 = 0x5eed_4a11_d15c_a7c4;

// ---------------------------------------------------------------- config

/// Receivers of [`am_config`]; `(name, send_resolved)`.
pub const RECEIVERS: &[(&str, bool)] = &[
    ("default", true),
    ("audit", true),
    ("db", true),
    ("db-critical", true),
    ("db-noresolve", false),
    ("web", false),
    ("web-nonprod", true),
    ("legacy", true),
    ("inh", true),
    ("infra", true),
    ("sil", true),
    ("blip", true),
    ("muted", true),
    ("inactive", true),
];

/// The shared `alertmanager.yml`, with webhooks under `base`.
pub fn am_config(base: &str) -> String {
    let mut recv = String::new();
    for (name, resolved) in RECEIVERS {
        recv += &format!(
            "  - name: {name}\n    webhook_configs:\n      - url: '{base}/{name}'\n        send_resolved: {resolved}\n"
        );
    }
    format!(
        r#"global:
  resolve_timeout: 5m
route:
  receiver: default
  group_wait: 1s
  group_interval: 2s
  repeat_interval: 7s
  routes:
    - receiver: audit
      matchers: ['audit="yes"']
      group_by: [alertname, team]
      continue: true
    - receiver: db
      matchers: ['team="db"']
      group_by: [alertname, cluster]
      group_interval: 4s
      repeat_interval: 9s
      routes:
        - receiver: db-critical
          matchers: ['severity="critical"']
          group_wait: 3s
        - receiver: db-noresolve
          matchers: ['severity!="critical"', 'env=~"prod|staging"']
          group_by: ['...']
    - receiver: web
      matchers: ['service=~"web-.+"']
      group_by: [service]
      routes:
        - receiver: web-nonprod
          matchers: ['env!~"prod"']
          group_by: []
    - receiver: legacy
      match: {{team: legacy}}
      match_re: {{region: 'eu-.*'}}
    - receiver: inh
      matchers: ['team="inh"']
      group_by: [alertname, cluster]
    - receiver: infra
      matchers: ['team="infra"']
      group_by: [alertname, node]
    - receiver: sil
      matchers: ['team="sil"']
      group_by: [alertname]
    - receiver: blip
      matchers: ['team="blip"']
      group_by: [alertname]
      group_wait: 3s
    - receiver: muted
      matchers: ['team="night"']
      mute_time_intervals: [always]
    - receiver: inactive
      matchers: ['team="weekend"']
      active_time_intervals: [never]
inhibit_rules:
  - source_matchers: ['severity="critical"']
    target_matchers: ['severity="warning"']
    equal: [cluster, zone]
  - source_match: {{alertname: NodeDown}}
    target_match_re: {{alertname: 'Service.*'}}
    equal: [node]
mute_time_intervals:
  - name: always
    time_intervals:
      - weekdays: ['sunday:saturday']
time_intervals:
  - name: never
    time_intervals:
      - years: ['2000:2001']
receivers:
{recv}"#
    )
}

// -------------------------------------------------------------- scenario

/// One alert's life: fired at batch `fire`, resolved (endsAt = that
/// batch's time) at `resolve`; `ends_after_ms` gives it an explicit future
/// `endsAt` instead; `born_resolved` posts it already resolved.
#[derive(Debug, Clone)]
pub struct AlertSpec {
    pub labels: Labels,
    pub fire: u32,
    pub resolve: Option<u32>,
    pub ends_after_ms: Option<i64>,
    pub born_resolved: bool,
}

/// A silence created at batch `create`, expired with DELETE at `expire`.
/// Matchers are `(name, op, value)` with op one of `= != =~ !~`.
#[derive(Debug, Clone)]
pub struct SilenceSpec {
    pub key: &'static str,
    pub create: u32,
    pub expire: Option<u32>,
    pub matchers: Vec<(&'static str, &'static str, &'static str)>,
}

#[derive(Debug, Default)]
pub struct Scenario {
    pub alerts: Vec<AlertSpec>,
    pub silences: Vec<SilenceSpec>,
    rng: u64,
}

pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl Scenario {
    /// splitmix64: deterministic, no dependency.
    fn next(&mut self, n: u64) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }

    /// A resolve batch `lo..=hi` batches after `fire`, or never (1 in 4).
    fn maybe_resolve(&mut self, fire: u32, lo: u32, hi: u32) -> Option<u32> {
        if self.next(4) == 0 {
            return None;
        }
        let r = fire + lo + self.next(u64::from(hi - lo + 1)) as u32;
        (r <= LAST_BATCH).then_some(r)
    }

    fn add(&mut self, l: Labels, fire: u32, resolve: Option<u32>) {
        self.alerts.push(AlertSpec {
            labels: l,
            fire,
            resolve,
            ends_after_ms: None,
            born_resolved: false,
        });
    }
}

/// The scripted stream. Group label values are unique per episode and no
/// alert joins a group after all its alerts resolved: Alertmanager only
/// drops empty groups on a 30 s GC tick unrelated to the scenario.
pub fn scenario() -> Scenario {
    let mut s = Scenario {
        rng: SEED,
        ..Scenario::default()
    };
    // Root route (no group_by: one group), kept non-empty by Watchdog.
    s.add(labels(&[("alertname", "Watchdog")]), 1, None);
    for k in 1..=20 {
        for j in 0..2 + s.next(3) {
            let inst = format!("p{k}-{j}");
            let r = s.maybe_resolve(k, 1, 5);
            s.add(
                labels(&[
                    ("alertname", "Plain"),
                    ("instance", &inst),
                    ("severity", "info"),
                ]),
                k,
                r,
            );
        }
    }
    // Explicit future endsAt (+4 s): resolves with no further post.
    for n in 0..10u32 {
        let k = 3 + (n * 17) % 18;
        s.alerts.push(AlertSpec {
            labels: labels(&[("alertname", &format!("Expiring{n}")), ("team", "exp")]),
            fire: k,
            resolve: None,
            ends_after_ms: Some(2 * BATCH_MS),
            born_resolved: false,
        });
    }
    // continue: true (team=x only on audit; team=db also on db).
    for n in 0..6u32 {
        let k = 2 + 3 * n;
        for j in 0..4 {
            let team = if j % 2 == 0 { "db" } else { "x" };
            let r = s.maybe_resolve(k, 2, 6);
            let l = labels(&[
                ("alertname", &format!("Audit{n}")),
                ("audit", "yes"),
                ("team", team),
                ("cluster", &format!("ca{n}")),
                ("instance", &format!("a{j}")),
                ("severity", "info"),
            ]);
            s.add(l, k, r);
        }
    }
    // db-critical (group_wait 3s): n=2 resolves before group_wait, n=4 has
    // one alert resolved before the first notification.
    for n in 0..7u32 {
        let k = 1 + 3 * n;
        for j in 0..3 {
            let r = match n {
                2 => Some(k + 1),
                4 if j == 0 => Some(k + 1),
                _ => s.maybe_resolve(k, 3, 8),
            };
            let l = labels(&[
                ("alertname", &format!("DbCrit{n}")),
                ("team", "db"),
                ("severity", "critical"),
                ("cluster", &format!("c{n}")),
                ("instance", &format!("d{j}")),
            ]);
            s.add(l, k, r);
        }
    }
    // db-noresolve (group_by '...', send_resolved false); clusters c* are
    // inhibited while that DbCrit is firing.
    for n in 0..30u32 {
        let k = 1 + s.next(20) as u32;
        let cluster = if n % 3 == 0 {
            format!("w{n}")
        } else {
            format!("c{}", s.next(7))
        };
        let env = if n % 2 == 0 { "prod" } else { "staging" };
        let r = s.maybe_resolve(k, 2, 7);
        let l = labels(&[
            ("alertname", "DbWarn"),
            ("team", "db"),
            ("severity", "warning"),
            ("env", env),
            ("cluster", &cluster),
            ("instance", &format!("w{n}")),
        ]);
        s.add(l, k, r);
    }
    // db itself (inherited group_by, group_interval 4s, repeat 9s); one
    // alert joins 2 s after the others.
    for i in 0..5u32 {
        let k = 2 + 4 * i;
        for j in 0..4u32 {
            let fire = if j == 3 { k + 1 } else { k };
            let r = s.maybe_resolve(k, 2, 7);
            let l = labels(&[
                ("alertname", &format!("DbDev{i}")),
                ("team", "db"),
                ("severity", "warning"),
                ("env", "dev"),
                ("cluster", &format!("d{i}")),
                ("instance", &format!("v{j}")),
            ]);
            s.add(l, fire, r);
        }
    }
    // web (send_resolved false) and web-nonprod (`group_by: []`).
    s.add(
        labels(&[
            ("alertname", "WebPerm"),
            ("service", "web-perm"),
            ("env", "dev"),
        ]),
        1,
        None,
    );
    for n in 0..8u32 {
        let k = 1 + 2 * n;
        for (j, env) in ["prod", "prod", "dev", "staging", "qa"].iter().enumerate() {
            let r = s.maybe_resolve(k, 1, 6);
            let l = labels(&[
                ("alertname", &format!("WebErr{n}")),
                ("service", &format!("web-{n}")),
                ("env", env),
                ("instance", &format!("h{j}")),
            ]);
            s.add(l, k, r);
        }
    }
    // Deprecated match/match_re; region us-1 falls through to the root.
    s.add(
        labels(&[
            ("alertname", "LegacyPerm"),
            ("team", "legacy"),
            ("region", "eu-0"),
        ]),
        1,
        None,
    );
    for n in 0..20u32 {
        let k = 1 + s.next(20) as u32;
        let region = ["eu-1", "eu-2", "us-1"][n as usize % 3];
        let r = s.maybe_resolve(k, 1, 6);
        s.add(
            labels(&[
                ("alertname", &format!("Legacy{n}")),
                ("team", "legacy"),
                ("region", region),
            ]),
            k,
            r,
        );
    }
    // Always muted / never active: no delivery on either side.
    for n in 0..20u32 {
        let team = if n % 2 == 0 { "night" } else { "weekend" };
        let k = 1 + n;
        let r = s.maybe_resolve(k, 1, 4);
        s.add(
            labels(&[("alertname", &format!("Quiet{n}")), ("team", team)]),
            k,
            r,
        );
    }
    inhibition_cases(&mut s);
    silence_cases(&mut s);
    blip_cases(&mut s);
    s
}

/// Inhibition: `equal: [cluster, zone]` with zone absent on both sides, a
/// target whose zone differs, one in another cluster; and NodeDown.
pub fn inhibition_cases(s: &mut Scenario) {
    for n in 0..5u32 {
        let k = 2 + 4 * n;
        let (src_fire, src_resolve) = match n {
            0 => (k + 1, Some(k + 4)), // targets notified before the source
            4 => (k, None),
            _ => (k, Some(k + 3)),
        };
        let c = format!("i{n}");
        let src = labels(&[
            ("alertname", &format!("InhSrc{n}")),
            ("team", "inh"),
            ("severity", "critical"),
            ("cluster", &c),
        ]);
        s.add(src, src_fire, src_resolve);
        let tgt = format!("InhTgt{n}");
        for (inst, cluster, zone) in [
            ("t0", c.as_str(), ""),
            ("t1", &c, ""),
            ("t2", &c, ""),
            ("tz", &c, "z1"),
            ("tx", &format!("{c}x"), ""),
        ] {
            let mut l = labels(&[
                ("alertname", &tgt),
                ("team", "inh"),
                ("severity", "warning"),
                ("cluster", cluster),
                ("instance", inst),
            ]);
            if !zone.is_empty() {
                l.insert("zone".into(), zone.into());
            }
            s.add(
                l,
                k,
                (inst == "t2").then_some(k + 6).filter(|r| *r <= LAST_BATCH),
            );
        }
    }
    for i in 0..5u32 {
        let k = 3 + 4 * i;
        let node = format!("n{i}");
        let resolve = (i != 2).then_some(k + 3);
        s.add(
            labels(&[
                ("alertname", "NodeDown"),
                ("team", "infra"),
                ("node", &node),
            ]),
            k,
            resolve,
        );
        for (name, nd) in [
            ("ServiceLatency", node.clone()),
            ("ServiceErrors", node.clone()),
            ("ServiceLatency", format!("{node}b")),
        ] {
            s.add(
                labels(&[("alertname", name), ("team", "infra"), ("node", &nd)]),
                k,
                None,
            );
        }
    }
}

/// Silences through the API, with all four matcher operators, one created
/// in the same batch as its alerts, two expired mid-run with DELETE.
pub fn silence_cases(s: &mut Scenario) {
    let sil = |s: &mut Scenario, name: &str, n: usize, fire: u32, extra: &[(&str, &str)]| {
        for j in 0..n {
            let host = format!("h{j}");
            let mut l = labels(&[("alertname", name), ("team", "sil"), ("host", &host)]);
            for (k, v) in extra {
                l.insert(k.to_string(), v.to_string());
            }
            let r = if j == 4 { Some(fire + 3) } else { None };
            s.add(l, fire, r);
        }
    };
    sil(s, "SilEq", 6, 3, &[]);
    sil(s, "SilReA", 6, 2, &[]);
    sil(s, "SilReB", 3, 7, &[]);
    sil(s, "SilLate", 5, 10, &[]);
    for (j, env) in ["prod", "staging", "dev", "qa"].iter().enumerate() {
        let inst = format!("e{j}");
        s.add(
            labels(&[
                ("alertname", "SilNeq"),
                ("team", "sil"),
                ("env", env),
                ("instance", &inst),
            ]),
            8,
            None,
        );
    }
    s.silences = vec![
        SilenceSpec {
            key: "eq",
            create: 2,
            expire: Some(9),
            matchers: vec![("alertname", "=", "SilEq")],
        },
        SilenceSpec {
            key: "re",
            create: 5,
            expire: None,
            matchers: vec![("alertname", "=~", "SilRe.*"), ("host", "!=", "h0")],
        },
        SilenceSpec {
            key: "nre",
            create: 8,
            expire: None,
            matchers: vec![("alertname", "=", "SilNeq"), ("env", "!~", "prod|staging")],
        },
        SilenceSpec {
            key: "late",
            create: 12,
            expire: Some(17),
            matchers: vec![("alertname", "=", "SilLate")],
        },
    ];
}

/// `blip` (group_wait 3s): groups resolved before group_wait, a group with
/// one alert resolved before its first notification, and alerts posted
/// already resolved.
pub fn blip_cases(s: &mut Scenario) {
    for n in 0..6u32 {
        let k = 2 + 3 * n;
        for j in 0..2 {
            let inst = format!("b{j}");
            s.add(
                labels(&[
                    ("alertname", &format!("Blip{n}")),
                    ("team", "blip"),
                    ("instance", &inst),
                ]),
                k,
                Some(k + 1),
            );
        }
        for j in 0..3 {
            let inst = format!("m{j}");
            let r = if j == 0 {
                Some(k + 1)
            } else {
                s.maybe_resolve(k, 2, 5)
            };
            s.add(
                labels(&[
                    ("alertname", &format!("BlipMixed{n}")),
                    ("team", "blip"),
                    ("instance", &inst),
                ]),
                k,
                r,
            );
        }
        s.alerts.push(AlertSpec {
            labels: labels(&[("alertname", &format!("BlipDead{n}")), ("team", "blip")]),
            fire: k,
            resolve: None,
            ends_after_ms: None,
            born_resolved: true,
        });
    }
}

/// The `/api/v2/alerts` body of batch `k`, for a run that started at
/// `t0_ms`: first posts, resolves, and re-sends of firing alerts on even
/// batches.
pub fn batch_alerts(s: &Scenario, k: u32, t0_ms: i64) -> Vec<Value> {
    let at = |b: u32| ts(t0_ms + i64::from(b) * BATCH_MS);
    let mut out = Vec::new();
    for a in &s.alerts {
        let body = |starts: String, ends: Option<String>| {
            let mut v = json!({
                "labels": a.labels,
                "annotations": {"summary": format!("scenario alert fired at batch {}", a.fire)},
                "startsAt": starts,
                "generatorURL": "http://dispatch-diff.invalid/graph",
            });
            if let Some(e) = ends {
                v["endsAt"] = json!(e);
            }
            v
        };
        let live = a.resolve.is_none_or(|r| k < r) && a.ends_after_ms.is_none() && !a.born_resolved;
        if a.fire == k {
            let ends = if a.born_resolved {
                Some(at(k))
            } else {
                a.ends_after_ms
                    .map(|d| ts(t0_ms + i64::from(k) * BATCH_MS + d))
            };
            out.push(body(at(k), ends));
        } else if a.resolve == Some(k) {
            out.push(body(at(a.fire), Some(at(k))));
        } else if a.fire < k && live && k & 1 == 0 {
            out.push(body(at(a.fire), None));
        }
    }
    out
}

pub fn silence_body(sp: &SilenceSpec, now: i64) -> Value {
    let matchers: Vec<Value> = sp
        .matchers
        .iter()
        .map(|(name, op, value)| {
            json!({"name": name, "value": value, "isRegex": op.contains('~'), "isEqual": !op.starts_with('!')})
        })
        .collect();
    json!({
        "matchers": matchers,
        "startsAt": ts(now),
        "endsAt": ts(now + 3_600_000),
        "createdBy": "dispatch_diff",
        "comment": format!("scenario silence {}", sp.key),
    })
}

#[test]
fn scenario_is_deterministic_and_well_formed() {
    let (a, b) = (scenario(), scenario());
    let key = |s: &Scenario| format!("{:?}{:?}", s.alerts, s.silences);
    assert_eq!(key(&a), key(&b));
    let distinct: BTreeSet<&Labels> = a.alerts.iter().map(|x| &x.labels).collect();
    assert_eq!(
        distinct.len(),
        a.alerts.len(),
        "alert label sets must be distinct"
    );
    assert!(distinct.len() >= 300, "only {} alerts", distinct.len());
    for x in &a.alerts {
        assert!((1..=LAST_BATCH).contains(&x.fire), "{x:?}");
        assert!(
            x.resolve.is_none_or(|r| r > x.fire && r <= LAST_BATCH),
            "{x:?}"
        );
    }
    let posts: usize = (1..=LAST_BATCH).map(|k| batch_alerts(&a, k, 0).len()).sum();
    assert!(posts > distinct.len(), "re-sends expected: {posts}");
    let t = batch_alerts(&a, 1, 1_000);
    assert_eq!(t[0]["startsAt"], "1970-01-01T00:00:03.000Z");
}
