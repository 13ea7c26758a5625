//! A small positioned YAML tree, built from `yaml-rust2`'s event parser.
//!
//! Why `yaml-rust2`'s low-level event API: rule-file errors must name the
//! line and column of the offending *node* (key, value, mapping), the way
//! Prometheus' `yaml.v3` nodes do. `yaml-rust2` is maintained, pure Rust, a
//! full YAML 1.2 parser, and its `MarkedEventReceiver` reports a marker for
//! every event. Its higher-level `Yaml` value drops those markers, and the
//! serde front-ends (`serde_yaml` is deprecated; `serde_yaml_ng`, `serde-saphyr`)
//! stop at the first error or lose positions for unknown fields, while
//! Prometheus reports *all* errors of a file. So we build our own tiny tree
//! ([`Node`]) that keeps, for each node, its 1-based position and its scalar
//! style, and decode rule files from it by hand.
//!
//! Only the first document of a stream is read, like Go's `yaml.Decoder`.
//! While parsing, an alias shares its anchored subtree (`Rc`); the tree is
//! expanded into plain [`Node`]s at the end, after the bytes that aliases
//! add have been checked against a budget (so a "billion laughs" file
//! fails fast with a positioned error).

use std::collections::HashMap;
use std::rc::Rc;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::types::Pos;

/// How a scalar was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `foo`
    Plain,
    /// `'foo'`
    SingleQuoted,
    /// `"foo"`
    DoubleQuoted,
    /// `|` block
    Literal,
    /// `>` block
    Folded,
}

/// A YAML node with its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// 1-based position of the node (for block scalars: of the content).
    pub pos: Pos,
    /// The node itself.
    pub kind: NodeKind,
}

/// The shape of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// A scalar: its text, style and whether it carries an explicit tag
    /// (`!!str` and friends).
    Scalar {
        /// The scalar's value after unescaping/folding.
        value: String,
        /// How it was written.
        style: Style,
        /// The tag suffix, if an explicit tag was given (e.g. `str`).
        tag: Option<String>,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order (duplicate keys are kept).
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// True for a plain null scalar (`~`, `null`, or nothing at all).
    pub fn is_null(&self) -> bool {
        match &self.kind {
            NodeKind::Scalar {
                value,
                style: Style::Plain,
                tag: None,
            } => {
                matches!(value.as_str(), "" | "~" | "null" | "Null" | "NULL")
            }
            NodeKind::Scalar { tag: Some(t), .. } => t == "null",
            _ => false,
        }
    }

    /// The YAML-ish name of this node's type, as Go's yaml.v3 prints it
    /// (`!!map`, `!!seq`, `!!str`, `!!int`, ...).
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            NodeKind::Seq(_) => "!!seq",
            NodeKind::Map(_) => "!!map",
            NodeKind::Scalar { value, style, tag } => {
                if let Some(t) = tag {
                    return match t.as_str() {
                        "int" => "!!int",
                        "float" => "!!float",
                        "bool" => "!!bool",
                        "null" => "!!null",
                        _ => "!!str",
                    };
                }
                if *style != Style::Plain {
                    return "!!str";
                }
                if self.is_null() {
                    "!!null"
                } else if matches!(
                    value.as_str(),
                    "true" | "True" | "TRUE" | "false" | "False" | "FALSE"
                ) {
                    "!!bool"
                } else if value.parse::<i64>().is_ok() {
                    "!!int"
                } else if value.parse::<f64>().is_ok() {
                    "!!float"
                } else {
                    "!!str"
                }
            }
        }
    }
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{msg}")]
pub struct SyntaxError {
    /// Where the scanner or parser stopped.
    pub pos: Pos,
    /// What went wrong.
    pub msg: String,
}

/// Converts a `yaml-rust2` marker (1-based line, 0-based column) to a [`Pos`].
fn pos_of(m: &Marker) -> Pos {
    Pos {
        line: m.line().max(1),
        col: m.col() + 1,
    }
}

/// Most bytes that alias expansion may add to a document, counting each
/// node as `size_of::<Node>()` plus its scalar text: a "billion laughs"
/// file is rejected at the first alias over the budget, in microseconds,
/// instead of exhausting memory.
const MAX_ALIAS_BYTES: usize = 16 << 20;
/// Deepest tree accepted after alias expansion (keeps recursive drops and
/// walks of the tree off the end of the stack).
const MAX_DEPTH: usize = 1_000;

/// The tree while it is built: anchored subtrees are shared (`Rc`), so an
/// alias costs a pointer; [`Builder::finish`] expands it into [`Node`]s
/// once the alias budget has been checked.
struct INode {
    pos: Pos,
    kind: IKind,
}

enum IKind {
    Scalar {
        value: String,
        style: Style,
        tag: Option<String>,
    },
    Seq(Vec<Rc<INode>>),
    Map(Vec<(Rc<INode>, Rc<INode>)>),
}

impl INode {
    fn empty(pos: Pos) -> Rc<INode> {
        Rc::new(INode {
            pos,
            kind: IKind::Scalar {
                value: String::new(),
                style: Style::Plain,
                tag: None,
            },
        })
    }

    /// The expanded tree (depth bounded by [`MAX_DEPTH`]).
    fn expand(&self) -> Node {
        let kind = match &self.kind {
            IKind::Scalar { value, style, tag } => NodeKind::Scalar {
                value: value.clone(),
                style: *style,
                tag: tag.clone(),
            },
            IKind::Seq(items) => NodeKind::Seq(items.iter().map(|n| n.expand()).collect()),
            IKind::Map(pairs) => NodeKind::Map(
                pairs
                    .iter()
                    .map(|(k, v)| (k.expand(), v.expand()))
                    .collect(),
            ),
        };
        Node {
            pos: self.pos,
            kind,
        }
    }
}

/// The bytes a node adds to the expanded tree, children excluded.
fn own_bytes(kind: &IKind) -> usize {
    let base = std::mem::size_of::<Node>();
    match kind {
        IKind::Scalar { value, tag, .. } => {
            base + value.len() + tag.as_ref().map_or(0, String::len)
        }
        IKind::Seq(_) | IKind::Map(_) => base,
    }
}

#[derive(Clone, Copy, PartialEq)]
enum FrameKind {
    Seq,
    Map,
}

struct Frame {
    kind: FrameKind,
    pos: Pos,
    anchor: usize,
    items: Vec<Rc<INode>>,
    /// Expanded bytes of this subtree so far (itself included).
    bytes: usize,
    /// Height of this subtree so far.
    depth: usize,
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    /// Anchored nodes with their expanded bytes and height.
    anchors: HashMap<usize, (Rc<INode>, usize, usize)>,
    root: Option<Rc<INode>>,
    done: bool,
    alias_bytes: usize,
    error: Option<SyntaxError>,
}

impl Builder {
    fn push_node(&mut self, node: Rc<INode>, anchor: usize, bytes: usize, depth: usize) {
        if depth > MAX_DEPTH {
            self.fail(node.pos, "document nesting too deep");
            return;
        }
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), bytes, depth));
        }
        match self.stack.last_mut() {
            Some(f) => {
                f.items.push(node);
                f.bytes = f.bytes.saturating_add(bytes);
                f.depth = f.depth.max(depth + 1);
            }
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
        }
    }

    fn fail(&mut self, pos: Pos, msg: &str) {
        if self.error.is_none() {
            self.error = Some(SyntaxError {
                pos,
                msg: msg.to_string(),
            });
        }
        self.done = true;
        self.stack.clear();
        self.anchors.clear();
        self.root = None;
    }

    fn start(&mut self, kind: FrameKind, pos: Pos, anchor: usize) {
        self.stack.push(Frame {
            kind,
            pos,
            anchor,
            items: Vec::new(),
            bytes: std::mem::size_of::<Node>(),
            depth: 0,
        });
    }

    fn end(&mut self) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        let Frame {
            kind,
            pos,
            anchor,
            items,
            bytes,
            depth,
        } = frame;
        let node = match kind {
            FrameKind::Seq => INode {
                pos,
                kind: IKind::Seq(items),
            },
            FrameKind::Map => {
                // Block mappings get a marker past their first key; Go
                // reports a mapping at its first key, so take the earlier
                // of the two.
                let pos = match items.first() {
                    Some(k) if k.pos < pos => k.pos,
                    _ => pos,
                };
                let mut pairs = Vec::with_capacity(items.len() / 2);
                let mut it = items.into_iter();
                while let Some(k) = it.next() {
                    let v = it.next().unwrap_or_else(|| INode::empty(k.pos));
                    pairs.push((k, v));
                }
                INode {
                    pos,
                    kind: IKind::Map(apply_merge_keys(pairs)),
                }
            }
        };
        self.push_node(Rc::new(node), anchor, bytes, depth);
    }

    fn finish(self) -> Result<Option<Node>, SyntaxError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.root.map(|r| r.expand())),
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.done || self.error.is_some() {
            return;
        }
        let pos = pos_of(&mark);
        match ev {
            Event::Scalar(value, style, anchor, tag) => {
                let style = match style {
                    TScalarStyle::Plain => Style::Plain,
                    TScalarStyle::SingleQuoted => Style::SingleQuoted,
                    TScalarStyle::DoubleQuoted => Style::DoubleQuoted,
                    TScalarStyle::Literal => Style::Literal,
                    TScalarStyle::Folded => Style::Folded,
                };
                let tag = tag.map(|t| t.suffix);
                let kind = IKind::Scalar { value, style, tag };
                let bytes = own_bytes(&kind);
                self.push_node(Rc::new(INode { pos, kind }), anchor, bytes, 0);
            }
            Event::Alias(id) => {
                let (node, bytes, depth) = match self.anchors.get(&id) {
                    Some((n, b, d)) => (n.clone(), *b, *d),
                    None => {
                        let n = INode::empty(pos);
                        let b = own_bytes(&n.kind);
                        (n, b, 0)
                    }
                };
                self.alias_bytes = self.alias_bytes.saturating_add(bytes);
                if self.alias_bytes > MAX_ALIAS_BYTES {
                    self.fail(pos, "document contains excessive aliasing");
                    return;
                }
                self.push_node(node, 0, bytes, depth);
            }
            Event::SequenceStart(anchor, _) => self.start(FrameKind::Seq, pos, anchor),
            Event::MappingStart(anchor, _) => self.start(FrameKind::Map, pos, anchor),
            Event::SequenceEnd | Event::MappingEnd => self.end(),
            Event::DocumentEnd => {
                if self.root.is_some() {
                    self.done = true;
                }
            }
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentStart => {}
        }
    }
}

/// Expands YAML merge keys (`<<: *anchor` or `<<: [*a, *b]`), as Go's
/// yaml.v3 does when decoding: keys written in the mapping win over merged
/// ones, and earlier merged mappings win over later ones.
fn apply_merge_keys(pairs: Vec<(Rc<INode>, Rc<INode>)>) -> Vec<(Rc<INode>, Rc<INode>)> {
    let is_merge = |k: &INode| matches!(&k.kind, IKind::Scalar { value, style: Style::Plain, .. } if value == "<<");
    if !pairs.iter().any(|(k, _)| is_merge(k)) {
        return pairs;
    }
    let key_text = |n: &INode| match &n.kind {
        IKind::Scalar { value, .. } => Some(value.clone()),
        _ => None,
    };
    let mut own = Vec::with_capacity(pairs.len());
    let mut merged: Vec<(Rc<INode>, Rc<INode>)> = Vec::new();
    for (k, v) in pairs {
        if !is_merge(&k) {
            own.push((k, v));
            continue;
        }
        let sources: Vec<&Vec<(Rc<INode>, Rc<INode>)>> = match &v.kind {
            IKind::Map(m) => vec![m],
            IKind::Seq(items) => items
                .iter()
                .filter_map(|n| match &n.kind {
                    IKind::Map(m) => Some(m),
                    _ => None,
                })
                .collect(),
            // Not mergeable: keep it as a (then unknown) key.
            IKind::Scalar { .. } => {
                own.push((k, v));
                continue;
            }
        };
        for (mk, mv) in sources.into_iter().flatten() {
            let name = key_text(mk);
            if !merged.iter().any(|(k2, _)| key_text(k2) == name) {
                merged.push((mk.clone(), mv.clone()));
            }
        }
    }
    for (mk, mv) in merged {
        let name = key_text(&mk);
        if !own.iter().any(|(k, _)| key_text(k) == name) {
            own.push((mk, mv));
        }
    }
    own
}

/// Parses the first YAML document of `text`. `Ok(None)` for an empty stream
/// (no document, or only comments).
pub fn parse(text: &str) -> Result<Option<Node>, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, false).map_err(|e| SyntaxError {
        pos: pos_of(e.marker()),
        msg: e.info().to_string(),
    })?;
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_maps_start_at_first_key() {
        let n = parse("groups:\n  - name: \"é\"\n    rules: []\n")
            .unwrap()
            .unwrap();
        assert_eq!(n.pos, Pos::new(1, 1));
        let NodeKind::Map(m) = &n.kind else {
            panic!("map")
        };
        let NodeKind::Seq(s) = &m[0].1.kind else {
            panic!("seq")
        };
        assert_eq!(s[0].pos, Pos::new(2, 5));
        let NodeKind::Map(g) = &s[0].kind else {
            panic!("map")
        };
        assert_eq!(g[0].1.pos, Pos::new(2, 11));
        assert_eq!(g[1].0.pos, Pos::new(3, 5));
    }

    #[test]
    fn empty_and_errors() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("# only a comment\n").unwrap(), None);
        let e = parse("a: [1, 2\n").unwrap_err();
        assert_eq!(e.pos.line, 2);
    }

    #[test]
    fn aliases_are_copied() {
        let n = parse("a: &x {b: 1}\nc: *x\n").unwrap().unwrap();
        let NodeKind::Map(m) = &n.kind else {
            panic!("map")
        };
        assert!(matches!(m[1].1.kind, NodeKind::Map(_)));
    }

    #[test]
    fn alias_bombs_and_deep_aliases_are_rejected() {
        let mut bomb = String::from("a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n");
        for i in 1..9 {
            let refs = vec![format!("*a{}", i - 1); 10].join(",");
            bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let e = parse(&bomb).unwrap_err();
        assert_eq!(e.msg, "document contains excessive aliasing");

        let mut deep = String::from("x0: &x0 1\n");
        for i in 1..20 {
            deep.push_str(&format!(
                "x{i}: &x{i} {}*x{}{}\n",
                "[".repeat(100),
                i - 1,
                "]".repeat(100)
            ));
        }
        let e = parse(&deep).unwrap_err();
        assert_eq!(e.msg, "document nesting too deep");
    }

    #[test]
    fn billion_laughs_fails_fast_with_a_position() {
        // The classic: 9 levels of 9 references, ~10^9 "lol"s expanded.
        let mut bomb = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        for w in names.windows(2) {
            let refs = vec![format!("*{}", w[0]); 9].join(",");
            bomb.push_str(&format!("{}: &{} [{refs}]\n", w[1], w[1]));
        }
        let started = std::time::Instant::now();
        let e = parse(&bomb).unwrap_err();
        assert_eq!(e.msg, "document contains excessive aliasing");
        assert!(e.pos.line > 1 && e.pos.line <= 9, "{:?}", e.pos);
        // Generous bound for slow debug builds; the bomb itself takes
        // gigabytes and seconds.
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }

    #[test]
    fn alias_budget_counts_bytes_not_nodes() {
        // Few nodes (about 11,000) but each a 10 KB string: 100 MB expanded.
        let big = "x".repeat(10_000);
        let mut doc = format!("a0: &a0 \"{big}\"\n");
        for i in 1..5 {
            let refs = vec![format!("*a{}", i - 1); 10].join(",");
            doc.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let e = parse(&doc).unwrap_err();
        assert_eq!(e.msg, "document contains excessive aliasing");
        assert_eq!(e.pos.line, 5, "{:?}", e.pos);
        // Within the budget, aliases expand into independent copies.
        let ok = parse(&format!("a: &a \"{big}\"\nb: [*a, *a]\n"))
            .unwrap()
            .unwrap();
        let NodeKind::Map(m) = &ok.kind else {
            panic!("map")
        };
        let NodeKind::Seq(s) = &m[1].1.kind else {
            panic!("seq")
        };
        assert_eq!(s.len(), 2);
        assert!(matches!(&s[1].kind, NodeKind::Scalar { value, .. } if value.len() == 10_000));
    }

    #[test]
    fn merge_keys() {
        let n = parse("a: &x {b: 1, c: 2}\nd:\n  <<: *x\n  c: 3\n")
            .unwrap()
            .unwrap();
        let NodeKind::Map(m) = &n.kind else {
            panic!("map")
        };
        let NodeKind::Map(d) = &m[1].1.kind else {
            panic!("map")
        };
        let got: Vec<(String, String)> = d
            .iter()
            .map(|(k, v)| match (&k.kind, &v.kind) {
                (NodeKind::Scalar { value: k, .. }, NodeKind::Scalar { value: v, .. }) => {
                    (k.clone(), v.clone())
                }
                _ => panic!("scalars"),
            })
            .collect();
        let want = [("c", "3"), ("b", "1")].map(|(k, v)| (k.to_string(), v.to_string()));
        assert_eq!(got, want);
    }

    #[test]
    fn type_names() {
        let n = parse("[1, x, true, ~, '1', 1.5]").unwrap().unwrap();
        let NodeKind::Seq(s) = &n.kind else {
            panic!("seq")
        };
        let names: Vec<_> = s.iter().map(Node::type_name).collect();
        assert_eq!(
            names,
            ["!!int", "!!str", "!!bool", "!!null", "!!str", "!!float"]
        );
    }
}
