//! The routing tree: Alertmanager's `dispatch.Route` built from the raw
//! `route:` section, with its option inheritance, matcher order, `Key()`
//! and `ID()`, and `Match` (depth first, left to right, honouring
//! `continue`). [`RouteTree`] implements [`Routing`].
//!
//! Inheritance follows Alertmanager 0.25 exactly: `receiver`, `group_by`,
//! `group_wait`, `group_interval`, `repeat_interval` (and Watchfire's
//! `escalation_policy`) come from the parent unless set; the time interval
//! lists are not inherited. In 0.25 an explicit `group_by: []` counts as
//! unset and inherits the parent's labels.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use serde_saphyr::Spanned;
use watchfire_alertmodel::parse::matcher_string;
use watchfire_alertmodel::{GroupBy, LabelSet, MatchType, Matcher, RouteOpts, Routing};

use crate::error::ConfigError;
use crate::raw::RawRoute;
use crate::timeinterval::TimeIntervals;
use crate::validate::{is_label_name, label_map, matcher_list, Ctx};

/// Names the tree may refer to.
pub(crate) struct Known<'a> {
    pub receivers: &'a BTreeSet<String>,
    pub intervals: &'a TimeIntervals,
    pub policies: &'a HashSet<String>,
}

/// One node of the routing tree.
#[derive(Debug, Clone)]
pub struct RouteNode {
    /// The options an alert matched by this node gets (inherited values
    /// filled in). `opts.route_key` is Alertmanager's `Route.Key()`.
    pub opts: Arc<RouteOpts>,
    /// Sorted as Alertmanager sorts them (name, value, operator).
    pub matchers: Vec<Matcher>,
    pub continue_: bool,
    pub routes: Vec<RouteNode>,
    /// Alertmanager's `Route.ID()`: the key plus the node's position
    /// among its siblings (`{}/{team="db"}/0`); unique in the tree.
    pub id: String,
}

/// The routing tree.
#[derive(Debug, Clone)]
pub struct RouteTree {
    pub root: RouteNode,
}

/// Alertmanager's `Matchers.String()`: `{a="b",c=~"d"}`.
pub fn matchers_string(ms: &[Matcher]) -> String {
    let parts: Vec<String> = ms.iter().map(matcher_string).collect();
    format!("{{{}}}", parts.join(","))
}

fn op_rank(op: MatchType) -> u8 {
    match op {
        MatchType::Equal => 0,
        MatchType::NotEqual => 1,
        MatchType::Regexp => 2,
        MatchType::NotRegexp => 3,
    }
}

fn sort_matchers(ms: &mut [Matcher]) {
    ms.sort_by(|a, b| {
        (a.name(), a.value(), op_rank(a.op())).cmp(&(b.name(), b.value(), op_rank(b.op())))
    });
}

impl RouteNode {
    /// Whether every matcher of this node matches.
    pub fn matches(&self, labels: &LabelSet) -> bool {
        self.matchers.iter().all(|m| m.matches_labels(labels))
    }

    /// Alertmanager's `Route.Match`: the matching leaves in tree order.
    pub fn match_nodes<'a>(&'a self, labels: &LabelSet, out: &mut Vec<&'a RouteNode>) -> bool {
        self.match_each(labels, &mut |n| out.push(n))
    }

    /// [`RouteNode::match_nodes`] as a visit: `each(node)` for every
    /// matched node in order. Returns whether this node matched.
    fn match_each<'a>(&'a self, labels: &LabelSet, each: &mut dyn FnMut(&'a RouteNode)) -> bool {
        if !self.matches(labels) {
            return false;
        }
        let mut any = false;
        for child in &self.routes {
            if child.match_each(labels, each) {
                any = true;
                if !child.continue_ {
                    break;
                }
            }
        }
        if !any {
            each(self);
        }
        true
    }

    /// Visits this node and its descendants depth first.
    pub fn walk<'a>(&'a self, visit: &mut dyn FnMut(&'a RouteNode)) {
        visit(self);
        for c in &self.routes {
            c.walk(visit);
        }
    }
}

impl RouteTree {
    /// The matching nodes for a label set (never empty).
    pub fn match_nodes(&self, labels: &LabelSet) -> Vec<&RouteNode> {
        let mut out = Vec::new();
        self.root.match_nodes(labels, &mut out);
        if out.is_empty() {
            out.push(&self.root);
        }
        out
    }
}

impl Routing for RouteTree {
    fn route(&self, labels: &LabelSet) -> Vec<Arc<RouteOpts>> {
        let mut out = Vec::new();
        self.route_each(labels, &mut |r| out.push(r.clone()));
        out
    }

    fn route_each(&self, labels: &LabelSet, each: &mut dyn FnMut(&Arc<RouteOpts>)) {
        if !self.root.match_each(labels, &mut |n| each(&n.opts)) {
            each(&self.root.opts);
        }
    }
}

/// What a node inherits from its parent.
struct Inherited {
    receiver: String,
    group_by: GroupBy,
    group_wait: i64,
    group_interval: i64,
    repeat_interval: i64,
    escalation_policy: Option<String>,
    key: String,
}

pub(crate) fn build(
    cx: &Ctx,
    raw: &Spanned<RawRoute>,
    known: &Known,
) -> Result<RouteTree, ConfigError> {
    let r = &raw.value;
    // Alertmanager's root checks, in its order.
    match &r.receiver {
        Some(s) if !s.value.is_empty() => {}
        _ => return Err(cx.err(raw, "root route must specify a default receiver")),
    }
    let has = |m: &Option<Spanned<crate::raw::RawLabelMap>>| {
        m.as_ref().is_some_and(|m| !m.value.is_empty())
    };
    if has(&r.match_) || has(&r.match_re) || r.matchers.as_ref().is_some_and(|m| !m.is_empty()) {
        return Err(cx.err(raw, "root route must not have any matchers"));
    }
    if let Some(m) = r.mute_time_intervals.as_ref().and_then(|m| m.first()) {
        return Err(cx.err(m, "root route must not have any mute time intervals"));
    }
    if let Some(m) = r.active_time_intervals.as_ref().and_then(|m| m.first()) {
        return Err(cx.err(m, "root route must not have any active time intervals"));
    }
    if let Some(c) = r.continue_.as_ref().filter(|c| c.value) {
        return Err(cx.err(c, "cannot have continue in root route"));
    }
    let defaults = Inherited {
        receiver: String::new(),
        group_by: GroupBy::Labels(Vec::new()),
        group_wait: 30_000,
        group_interval: 5 * 60_000,
        repeat_interval: 4 * 3_600_000,
        escalation_policy: None,
        key: String::new(),
    };
    Ok(RouteTree {
        root: node(cx, raw, &defaults, None, known)?,
    })
}

fn node(
    cx: &Ctx,
    raw: &Spanned<RawRoute>,
    parent: &Inherited,
    position: Option<usize>,
    known: &Known,
) -> Result<RouteNode, ConfigError> {
    let r = &raw.value;
    let receiver = match &r.receiver {
        Some(s) if !s.value.is_empty() => {
            if !known.receivers.contains(&s.value) {
                return Err(cx.err(s, format!("undefined receiver {:?} used in route", s.value)));
            }
            s.value.clone()
        }
        _ => parent.receiver.clone(),
    };
    let group_by = match &r.group_by {
        None => parent.group_by.clone(),
        Some(list) => {
            let mut labels: Vec<String> = Vec::new();
            let mut all = false;
            for l in &list.value {
                if l.value == "..." {
                    all = true;
                } else if !is_label_name(&l.value) {
                    return Err(cx.err(
                        l,
                        format!("invalid label name {:?} in group_by list", l.value),
                    ));
                } else if labels.contains(&l.value) {
                    return Err(cx.err(l, format!("duplicated label {:?} in group_by", l.value)));
                } else {
                    labels.push(l.value.clone());
                }
            }
            if all && !labels.is_empty() {
                return Err(cx.err(
                    list,
                    "cannot have wildcard group_by (`...`) and other labels at the same time",
                ));
            }
            if all {
                GroupBy::All
            } else if labels.is_empty() {
                parent.group_by.clone() // Alertmanager 0.25: `[]` is "unset"
            } else {
                GroupBy::Labels(labels)
            }
        }
    };
    let dur = |v: &Option<crate::raw::SStr>,
               field: &str,
               d: i64,
               nonzero: bool|
     -> Result<i64, ConfigError> {
        match v {
            None => Ok(d),
            Some(s) => {
                let ms = cx.duration(s, field)?;
                if nonzero && ms == 0 {
                    return Err(cx.err(s, format!("{field} cannot be zero")));
                }
                Ok(ms)
            }
        }
    };
    let group_wait = dur(&r.group_wait, "group_wait", parent.group_wait, false)?;
    let group_interval = dur(
        &r.group_interval,
        "group_interval",
        parent.group_interval,
        true,
    )?;
    let repeat_interval = dur(
        &r.repeat_interval,
        "repeat_interval",
        parent.repeat_interval,
        true,
    )?;

    let mut matchers = Vec::new();
    if let Some(m) = &r.match_ {
        matchers.extend(label_map(cx, m, MatchType::Equal)?);
    }
    if let Some(m) = &r.match_re {
        matchers.extend(label_map(cx, m, MatchType::Regexp)?);
    }
    if let Some(l) = &r.matchers {
        matchers.extend(matcher_list(cx, l)?);
    }
    sort_matchers(&mut matchers);

    let names = |list: &Option<Vec<crate::raw::SStr>>| -> Result<Vec<String>, ConfigError> {
        let mut out = Vec::new();
        for n in list.iter().flatten() {
            if !known.intervals.contains_name(&n.value) {
                return Err(cx.err(
                    n,
                    format!("undefined time interval {:?} used in route", n.value),
                ));
            }
            out.push(n.value.clone());
        }
        Ok(out)
    };
    let mute_time_intervals = names(&r.mute_time_intervals)?;
    let active_time_intervals = names(&r.active_time_intervals)?;

    let escalation_policy = match &r.escalation_policy {
        Some(p) if !known.policies.contains(&p.value) => {
            return Err(cx.err(
                p,
                format!("undefined escalation policy {:?} used in route", p.value),
            ));
        }
        Some(p) => Some(p.value.clone()),
        None => parent.escalation_policy.clone(),
    };

    let key = if position.is_some() {
        format!("{}/{}", parent.key, matchers_string(&matchers))
    } else {
        matchers_string(&matchers)
    };
    let id = match position {
        Some(i) => format!("{key}/{i}"),
        None => key.clone(),
    };
    let here = Inherited {
        receiver: receiver.clone(),
        group_by: group_by.clone(),
        group_wait,
        group_interval,
        repeat_interval,
        escalation_policy: escalation_policy.clone(),
        key: key.clone(),
    };
    let mut routes = Vec::new();
    for (i, child) in r.routes.iter().flatten().enumerate() {
        routes.push(node(cx, child, &here, Some(i), known)?);
    }
    Ok(RouteNode {
        opts: Arc::new(RouteOpts {
            route_key: key,
            receiver,
            group_by,
            group_wait,
            group_interval,
            repeat_interval,
            mute_time_intervals,
            active_time_intervals,
            escalation_policy,
        }),
        matchers,
        continue_: r.continue_.as_ref().is_some_and(|c| c.value),
        routes,
        id,
    })
}
