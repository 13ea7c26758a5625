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
//! Aliases are resolved by copying the anchored node.

use std::collections::HashMap;

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

/// Most nodes that alias expansion may add to a document (a "billion
/// laughs" file is rejected instead of exhausting memory).
const MAX_ALIAS_NODES: usize = 1_000_000;
/// Deepest tree accepted after alias expansion (keeps recursive drops and
/// walks of the tree off the end of the stack).
const MAX_DEPTH: usize = 1_000;

#[derive(Clone, Copy, PartialEq)]
enum FrameKind {
    Seq,
    Map,
}

struct Frame {
    kind: FrameKind,
    pos: Pos,
    anchor: usize,
    items: Vec<Node>,
    /// Nodes in this subtree so far (itself included).
    size: usize,
    /// Height of this subtree so far.
    depth: usize,
}

#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    /// Anchored nodes with their size and height.
    anchors: HashMap<usize, (Node, usize, usize)>,
    root: Option<Node>,
    done: bool,
    alias_nodes: usize,
    error: Option<SyntaxError>,
}

impl Builder {
    fn push_node(&mut self, node: Node, anchor: usize, size: usize, depth: usize) {
        if depth > MAX_DEPTH {
            self.fail(node.pos, "document nesting too deep");
            return;
        }
        if anchor != 0 {
            self.anchors.insert(anchor, (node.clone(), size, depth));
        }
        match self.stack.last_mut() {
            Some(f) => {
                f.items.push(node);
                f.size += size;
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
                let node = Node {
                    pos,
                    kind: NodeKind::Scalar { value, style, tag },
                };
                self.push_node(node, anchor, 1, 0);
            }
            Event::Alias(id) => {
                let (node, size, depth) = self.anchors.get(&id).cloned().unwrap_or((
                    Node {
                        pos,
                        kind: NodeKind::Scalar {
                            value: String::new(),
                            style: Style::Plain,
                            tag: None,
                        },
                    },
                    1,
                    0,
                ));
                self.alias_nodes = self.alias_nodes.saturating_add(size);
                if self.alias_nodes > MAX_ALIAS_NODES {
                    self.fail(pos, "document contains excessive aliasing");
                    return;
                }
                self.push_node(node, 0, size, depth);
            }
            Event::SequenceStart(anchor, _) => {
                self.stack.push(Frame {
                    kind: FrameKind::Seq,
                    pos,
                    anchor,
                    items: Vec::new(),
                    size: 1,
                    depth: 0,
                });
            }
            Event::MappingStart(anchor, _) => {
                self.stack.push(Frame {
                    kind: FrameKind::Map,
                    pos,
                    anchor,
                    items: Vec::new(),
                    size: 1,
                    depth: 0,
                });
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let Some(frame) = self.stack.pop() else {
                    return;
                };
                let Frame {
                    kind,
                    pos,
                    anchor,
                    items,
                    size,
                    depth,
                } = frame;
                let node = match kind {
                    FrameKind::Seq => Node {
                        pos,
                        kind: NodeKind::Seq(items),
                    },
                    FrameKind::Map => {
                        // Block mappings get a marker past their first key;
                        // Go reports a mapping at its first key, so take the
                        // earlier of the two.
                        let pos = match items.first() {
                            Some(k) if k.pos < pos => k.pos,
                            _ => pos,
                        };
                        let mut pairs = Vec::with_capacity(items.len() / 2);
                        let mut it = items.into_iter();
                        while let Some(k) = it.next() {
                            let v = it.next().unwrap_or(Node {
                                pos: k.pos,
                                kind: NodeKind::Scalar {
                                    value: String::new(),
                                    style: Style::Plain,
                                    tag: None,
                                },
                            });
                            pairs.push((k, v));
                        }
                        Node {
                            pos,
                            kind: NodeKind::Map(apply_merge_keys(pairs)),
                        }
                    }
                };
                self.push_node(node, anchor, size, depth);
            }
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
fn apply_merge_keys(pairs: Vec<(Node, Node)>) -> Vec<(Node, Node)> {
    let is_merge = |k: &Node| matches!(&k.kind, NodeKind::Scalar { value, style: Style::Plain, .. } if value == "<<");
    if !pairs.iter().any(|(k, _)| is_merge(k)) {
        return pairs;
    }
    let mut own = Vec::with_capacity(pairs.len());
    let mut merged: Vec<(Node, Node)> = Vec::new();
    for (k, v) in pairs {
        if !is_merge(&k) {
            own.push((k, v));
            continue;
        }
        let sources = match v.kind {
            NodeKind::Map(m) => vec![m],
            NodeKind::Seq(items) => items
                .into_iter()
                .filter_map(|n| match n.kind {
                    NodeKind::Map(m) => Some(m),
                    _ => None,
                })
                .collect(),
            // Not mergeable: keep it as a (then unknown) key.
            kind => {
                own.push((k, Node { pos: v.pos, kind }));
                continue;
            }
        };
        for (mk, mv) in sources.into_iter().flatten() {
            let key_of = |n: &Node| match &n.kind {
                NodeKind::Scalar { value, .. } => Some(value.clone()),
                _ => None,
            };
            let name = key_of(&mk);
            if !merged.iter().any(|(k2, _)| key_of(k2) == name) {
                merged.push((mk, mv));
            }
        }
    }
    let key_text = |n: &Node| match &n.kind {
        NodeKind::Scalar { value, .. } => Some(value.clone()),
        _ => None,
    };
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
    match builder.error {
        Some(e) => Err(e),
        None => Ok(builder.root),
    }
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
