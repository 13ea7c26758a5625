//! `amtool config routes [show|test]` as pure functions, with amtool
//! 0.25's output byte for byte (treeprint's box drawing, two-space slug
//! separators, `default-route` for a node without matchers).
//!
//! - [`routes_test`]: the receivers a label set routes to, in tree order;
//! - [`format_routes_test`]: what `amtool config routes test [--tree]
//!   [--verify.receivers=a,b] label=value...` prints, and whether it
//!   succeeded;
//! - [`format_routes_show`]: what `amtool config routes show` prints.

use watchfire_alertmodel::{parse_matcher, LabelSet, MatchType, MatcherError};

use crate::route::{matchers_string, RouteNode};
use crate::Config;

/// A bad `label=value` argument.
#[derive(Debug, thiserror::Error)]
pub enum LabelArgError {
    #[error("Failed to parse labels: {0}")]
    Parse(#[from] MatcherError),
    #[error("Labels must be specified as key=value pairs")]
    NotEqual,
}

/// Parses amtool's label arguments (`team=db`, `severity="critical"`).
pub fn parse_label_args<S: AsRef<str>>(args: &[S]) -> Result<LabelSet, LabelArgError> {
    let mut ls = LabelSet::new();
    for a in args {
        let m = parse_matcher(a.as_ref())?;
        if m.op() != MatchType::Equal {
            return Err(LabelArgError::NotEqual);
        }
        ls.insert(m.name().to_string(), m.value().to_string());
    }
    Ok(ls)
}

/// The receivers the labels route to, in order (`continue` may give
/// several; a receiver can repeat).
pub fn routes_test(cfg: &Config, labels: &LabelSet) -> Vec<String> {
    cfg.route
        .match_nodes(labels)
        .into_iter()
        .map(|n| n.opts.receiver.clone())
        .collect()
}

/// The printed result of `routes test`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutesTestOutput {
    /// Standard output, exactly as amtool prints it.
    pub stdout: String,
    /// False when `--verify.receivers` was given and did not match (amtool
    /// exits 1).
    pub ok: bool,
}

/// `amtool config routes test`: optional matching tree, the receivers
/// joined by commas, and the verification warning.
pub fn format_routes_test(
    cfg: &Config,
    labels: &LabelSet,
    tree: bool,
    verify_receivers: Option<&str>,
) -> RoutesTestOutput {
    let mut out = String::new();
    if tree {
        let mut t = Tree::new();
        matching_tree(&cfg.route.root, labels, &mut t, 0);
        out.push_str("Matching routes:\n");
        out.push_str(&t.render());
        out.push_str("\n\n");
    }
    let slug = routes_test(cfg, labels).join(",");
    out.push_str(&slug);
    out.push('\n');
    let ok = match verify_receivers {
        Some(want) if !want.is_empty() && want != slug => {
            out.push_str("WARNING: Expected receivers did not match resolved receivers.\n");
            false
        }
        _ => true,
    };
    RoutesTestOutput { stdout: out, ok }
}

/// `amtool config routes show`.
pub fn format_routes_show(cfg: &Config) -> String {
    let mut t = Tree::new();
    show_tree(&cfg.route.root, &mut t, 0);
    format!("Routing tree:\n{}\n", t.render())
}

fn slug(n: &RouteNode, show_continue: bool, show_receiver: bool) -> String {
    let mut s = if n.matchers.is_empty() {
        "default-route".to_string()
    } else {
        matchers_string(&n.matchers)
    };
    if n.continue_ && show_continue {
        s.push_str("  continue: true");
    }
    if show_receiver {
        s.push_str("  receiver: ");
        s.push_str(&n.opts.receiver);
    }
    s
}

fn show_tree(n: &RouteNode, t: &mut Tree, depth: usize) {
    t.add(depth, slug(n, true, true));
    for c in &n.routes {
        show_tree(c, t, depth + 1);
    }
}

fn matching_tree(n: &RouteNode, labels: &LabelSet, t: &mut Tree, depth: usize) {
    let idx = t.add(depth, slug(n, false, false));
    let mut last = true;
    for c in &n.routes {
        if c.matches(labels) {
            matching_tree(c, labels, t, depth + 1);
            last = false;
            if !c.continue_ {
                break;
            }
        }
    }
    if last {
        t.nodes[idx].1 = slug(n, false, true);
    }
}

/// A minimal xlab/treeprint: nodes in preorder with their depth, root `.`.
/// Its vertical-bar indent is `│` + two no-break spaces + a space.
struct Tree {
    nodes: Vec<(usize, String)>,
}

impl Tree {
    fn new() -> Tree {
        Tree { nodes: Vec::new() }
    }

    fn add(&mut self, depth: usize, value: String) -> usize {
        self.nodes.push((depth, value));
        self.nodes.len() - 1
    }

    /// Whether node `i` is the last child of its parent.
    fn is_last(&self, i: usize) -> bool {
        let d = self.nodes[i].0;
        for (nd, _) in &self.nodes[i + 1..] {
            if *nd < d {
                return true;
            }
            if *nd == d {
                return false;
            }
        }
        true
    }

    fn render(&self) -> String {
        let mut out = String::from(".\n");
        // open[d]: whether the ancestor at depth d has later siblings.
        let mut open: Vec<bool> = Vec::new();
        for (i, (d, v)) in self.nodes.iter().enumerate() {
            open.truncate(*d);
            for o in &open {
                out.push_str(if *o { "│\u{a0}\u{a0} " } else { "    " });
            }
            let last = self.is_last(i);
            out.push_str(if last { "└── " } else { "├── " });
            out.push_str(v);
            out.push('\n');
            open.push(!last);
        }
        out
    }
}
