//! Fakes (routing, time intervals) and a driver that runs the core like
//! the router's loop: sleep until `next_wakeup` or the next event, call
//! `due`, deliver everything (or fail what the scenario says).

use std::collections::BTreeMap;
use std::sync::Arc;

use watchfire_alertmodel::{
    GroupBy, LabelSet, MatchType, Matcher, NotifyKind, RouteOpts, Routing, TimeIntervalSet,
};
use watchfire_dispatch::{
    DispatchConfig, Dispatcher, EscalationPolicy, Outgoing, PostableAlert, Step,
};

pub const S: i64 = 1000;
pub const M: i64 = 60 * S;

pub fn ls(s: &str) -> LabelSet {
    s.split(',')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

pub fn eq(n: &str, v: &str) -> Matcher {
    Matcher::new(MatchType::Equal, n, v).unwrap()
}

/// A root route plus first-match children (no `continue`).
pub struct FakeRouting {
    pub root: Arc<RouteOpts>,
    pub children: Vec<(Vec<Matcher>, Arc<RouteOpts>)>,
}

impl Routing for FakeRouting {
    fn route(&self, labels: &LabelSet) -> Vec<Arc<RouteOpts>> {
        for (ms, r) in &self.children {
            if ms.iter().all(|m| m.matches_labels(labels)) {
                return vec![r.clone()];
            }
        }
        vec![self.root.clone()]
    }
}

/// Named intervals as lists of `[start, end)` ranges.
#[derive(Default)]
pub struct FakeIntervals(pub BTreeMap<String, Vec<(i64, i64)>>);

impl TimeIntervalSet for FakeIntervals {
    fn contains(&self, name: &str, t: i64) -> Option<bool> {
        self.0
            .get(name)
            .map(|v| v.iter().any(|(a, b)| *a <= t && t < *b))
    }
}

pub fn route(receiver: &str, gw: i64, gi: i64, ri: i64) -> RouteOpts {
    RouteOpts {
        route_key: "{}".into(),
        receiver: receiver.into(),
        group_by: GroupBy::Labels(vec!["alertname".into()]),
        group_wait: gw,
        group_interval: gi,
        repeat_interval: ri,
        mute_time_intervals: vec![],
        active_time_intervals: vec![],
        escalation_policy: None,
    }
}

pub fn policy(name: &str, steps: &[(i64, &[&str])], repeat: u32) -> EscalationPolicy {
    EscalationPolicy {
        name: name.into(),
        steps: steps
            .iter()
            .map(|(a, rs)| Step {
                after_ms: *a,
                receivers: rs.iter().map(|s| s.to_string()).collect(),
            })
            .collect(),
        repeat,
    }
}

pub fn config(root: RouteOpts, send_resolved: &[bool]) -> DispatchConfig {
    let routing = Arc::new(FakeRouting {
        root: Arc::new(root.clone()),
        children: vec![],
    });
    let mut cfg = DispatchConfig::new(routing, Arc::new(FakeIntervals::default()));
    cfg.receivers
        .insert(root.receiver.clone(), send_resolved.to_vec());
    cfg
}

/// An alert named `name` (plus `extra` labels) posted with optional times.
pub fn alert(name: &str, extra: &str, starts: Option<i64>, ends: Option<i64>) -> PostableAlert {
    let mut labels = ls(extra);
    labels.insert("alertname".into(), name.into());
    PostableAlert {
        labels,
        starts_at: starts,
        ends_at: ends,
        ..Default::default()
    }
}

/// Arbitrary work on the dispatcher at a scenario time.
pub type Action = Box<dyn Fn(&mut Dispatcher, i64)>;

/// A scenario event at a time.
pub enum Ev {
    Post(Vec<PostableAlert>),
    Ack(String, String),
    /// Fail every delivery from now on (`true`) or deliver (`false`).
    FailDeliveries(bool),
    Call(Action),
}

/// One line per notification: `t=<s> <receiver>[/<integration>] <kind>
/// firing[..] resolved[..]` (alerts by `alertname`), plus ` esc=<step>.<round>`.
pub fn describe(o: &Outgoing, t: i64) -> String {
    let n = &o.notification;
    let names = |resolved: bool| -> String {
        let v: Vec<&str> = n
            .alerts
            .iter()
            .filter(|a| a.resolved_at(n.now) == resolved)
            .map(|a| a.name())
            .collect();
        v.join(",")
    };
    let who = match o.integration {
        Some(i) => format!("{}/{i}", n.receiver),
        None => n.receiver.clone(),
    };
    let kind = match &n.kind {
        NotifyKind::Alerts => "alerts".to_string(),
        NotifyKind::Acknowledged { by } => format!("ack:{by}"),
    };
    let esc = n
        .escalation
        .as_ref()
        .map(|(_, s, r)| format!(" esc={s}.{r}"))
        .unwrap_or_default();
    format!(
        "t={} {who} {kind} firing[{}] resolved[{}]{esc}",
        t / S,
        names(false),
        names(true)
    )
}

/// Runs `events` (sorted by time) until `end`, delivering every
/// notification at once; returns the described notifications.
pub fn run(d: &mut Dispatcher, events: Vec<(i64, Ev)>, end: i64) -> Vec<String> {
    let mut out = Vec::new();
    let mut fail = false;
    let mut events = events.into_iter().peekable();
    let mut now = 0;
    loop {
        let next_ev = events.peek().map(|(t, _)| *t);
        let wake = d.next_wakeup().map(|w| w.max(now));
        let t = match (next_ev, wake) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b,
            (None, None) => break,
        };
        if t > end {
            break;
        }
        now = t;
        while events.peek().is_some_and(|(et, _)| *et == now) {
            let Some((_, ev)) = events.next() else { break };
            match ev {
                Ev::Post(a) => {
                    let r = d.receive(now, a);
                    assert!(r.errors.is_empty(), "{:?}", r.errors);
                }
                Ev::Ack(g, by) => {
                    d.ack(&g, &by, now).unwrap();
                }
                Ev::FailDeliveries(f) => fail = f,
                Ev::Call(f) => f(d, now),
            }
        }
        for o in d.due(now) {
            out.push(describe(&o, now));
            if fail {
                d.failed(o.id, now, "boom").unwrap();
            } else {
                d.delivered(o.id, now).unwrap();
            }
        }
        let _ = d.take_changes();
    }
    out
}

/// Builds a dispatcher from `cfg`, runs, and compares line by line.
pub fn check(cfg: DispatchConfig, events: Vec<(i64, Ev)>, end: i64, expect: &[&str]) {
    let mut d = Dispatcher::new(cfg);
    let got = run(&mut d, events, end);
    assert_eq!(got, expect, "\n got: {got:#?}\nwant: {expect:#?}");
}
