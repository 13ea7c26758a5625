//! Strict decoding of the positioned YAML tree into raw (unvalidated) rule
//! groups, the way Go's `yaml.v3` decoder with `KnownFields(true)` fills
//! `rulefmt.RuleGroups`: unknown keys, duplicate keys and values of the wrong
//! YAML type are errors, `null` means "zero value", and every error keeps
//! going so that all of them are reported.

use crate::error::{ErrorKind, RuleError};
use crate::types::Pos;
use crate::yaml::{Node, NodeKind, Style};

/// A scalar string with where it was and how it was written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Str {
    pub value: String,
    /// Position of the value node.
    pub pos: Pos,
    /// Position of the key it was under (where "this field" errors point).
    pub key_pos: Pos,
    pub style: Style,
}

/// A decoded field: absent, present but of the wrong type (already
/// reported), or present.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) enum Field<T> {
    #[default]
    Absent,
    Bad,
    Present(T),
}

impl<T> Field<T> {
    pub fn present(&self) -> Option<&T> {
        match self {
            Field::Present(v) => Some(v),
            _ => None,
        }
    }
}

/// A string map (`labels`, `annotations`) in file order.
pub(crate) type StrMap = Vec<(Str, Str)>;

#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct RawRule {
    pub pos: Pos,
    pub record: Field<Str>,
    pub alert: Field<Str>,
    pub expr: Field<Str>,
    pub for_: Field<Str>,
    pub keep_firing_for: Field<Str>,
    pub labels: Field<StrMap>,
    pub annotations: Field<StrMap>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct RawGroup {
    pub pos: Pos,
    pub name: Field<Str>,
    pub interval: Field<Str>,
    pub query_offset: Field<Str>,
    pub limit: Field<i64>,
    pub labels: Field<StrMap>,
    pub rules: Vec<RawRule>,
}

pub(crate) struct Decoder<'a> {
    pub path: &'a str,
    pub strict: bool,
    pub errors: Vec<RuleError>,
}

const GROUPS_FIELDS: &[&str] = &["groups"];
const GROUP_FIELDS: &[&str] = &[
    "name",
    "interval",
    "query_offset",
    "limit",
    "rules",
    "labels",
];
const RULE_FIELDS: &[&str] = &[
    "record",
    "alert",
    "expr",
    "for",
    "keep_firing_for",
    "labels",
    "annotations",
];

/// A short rendering of a node for type errors.
fn show(node: &Node) -> String {
    match &node.kind {
        NodeKind::Scalar { value, .. } => {
            let mut s: String = value.chars().take(40).collect();
            if value.chars().count() > 40 {
                s.push_str("...");
            }
            s
        }
        NodeKind::Seq(_) => "[...]".to_string(),
        NodeKind::Map(_) => "{...}".to_string(),
    }
}

impl<'a> Decoder<'a> {
    pub fn new(path: &'a str, strict: bool) -> Self {
        Self {
            path,
            strict,
            errors: Vec::new(),
        }
    }

    fn err(&mut self, pos: Pos, kind: ErrorKind) {
        self.errors.push(RuleError {
            path: self.path.to_string(),
            pos,
            kind,
        });
    }

    fn wrong_type(&mut self, node: &Node, expected: &'static str) {
        let kind = ErrorKind::WrongType {
            found: node.type_name(),
            value: show(node),
            expected,
        };
        self.err(node.pos, kind);
    }

    /// The known `(key, key node, value node)` entries of a mapping;
    /// reports duplicate and (when strict) unknown keys. `None` when the
    /// node is not a mapping (reported); a null node is an empty mapping.
    fn fields<'n>(
        &mut self,
        node: &'n Node,
        ty: &'static str,
        known: &[&str],
    ) -> Option<Vec<(&'n str, &'n Node, &'n Node)>> {
        let pairs = match &node.kind {
            NodeKind::Map(pairs) => pairs,
            _ if node.is_null() => return Some(Vec::new()),
            _ => {
                self.wrong_type(node, ty);
                return None;
            }
        };
        let mut out: Vec<(&str, &Node, &Node)> = Vec::with_capacity(pairs.len());
        for (k, v) in pairs {
            let key = match &k.kind {
                NodeKind::Scalar { value, .. } => value.as_str(),
                _ => {
                    self.wrong_type(k, "string");
                    continue;
                }
            };
            if let Some((_, first, _)) = out.iter().find(|(name, _, _)| *name == key) {
                let first_line = first.pos.line;
                self.err(
                    k.pos,
                    ErrorKind::DuplicateKey {
                        key: key.to_string(),
                        first_line,
                    },
                );
                continue;
            }
            if !known.contains(&key) {
                if self.strict {
                    self.err(
                        k.pos,
                        ErrorKind::UnknownField {
                            field: key.to_string(),
                            ty,
                        },
                    );
                }
                continue;
            }
            out.push((key, k, v));
        }
        Some(out)
    }

    fn string(&mut self, key: &Node, node: &Node) -> Field<Str> {
        match &node.kind {
            NodeKind::Scalar { value, style, .. } => {
                let value = if node.is_null() {
                    String::new()
                } else {
                    value.clone()
                };
                Field::Present(Str {
                    value,
                    pos: node.pos,
                    key_pos: key.pos,
                    style: *style,
                })
            }
            _ => {
                self.wrong_type(node, "string");
                Field::Bad
            }
        }
    }

    fn int(&mut self, node: &Node) -> Field<i64> {
        if node.is_null() {
            return Field::Present(0);
        }
        if node.type_name() == "!!int" {
            if let NodeKind::Scalar { value, .. } = &node.kind {
                if let Ok(v) = value.parse::<i64>() {
                    return Field::Present(v);
                }
            }
        }
        self.wrong_type(node, "int");
        Field::Bad
    }

    fn string_map(&mut self, node: &Node) -> Field<StrMap> {
        let pairs = match &node.kind {
            NodeKind::Map(pairs) => pairs,
            _ if node.is_null() => return Field::Present(Vec::new()),
            _ => {
                self.wrong_type(node, "map[string]string");
                return Field::Bad;
            }
        };
        let mut out: StrMap = Vec::with_capacity(pairs.len());
        let mut bad = false;
        for (k, v) in pairs {
            let Field::Present(key) = self.string(k, k) else {
                bad = true;
                continue;
            };
            if let Some((first, _)) = out.iter().find(|(name, _)| name.value == key.value) {
                let first_line = first.pos.line;
                self.err(
                    k.pos,
                    ErrorKind::DuplicateKey {
                        key: key.value,
                        first_line,
                    },
                );
                continue;
            }
            match self.string(k, v) {
                Field::Present(val) => out.push((key, val)),
                _ => bad = true,
            }
        }
        if bad {
            Field::Bad
        } else {
            Field::Present(out)
        }
    }

    /// Decodes the whole document (`None` = empty file).
    pub fn groups(&mut self, root: Option<&Node>) -> Vec<RawGroup> {
        let Some(root) = root else { return Vec::new() };
        let Some(fields) = self.fields(root, "rulefmt.RuleGroups", GROUPS_FIELDS) else {
            return Vec::new();
        };
        let mut groups = Vec::new();
        for (_, _, v) in fields {
            match &v.kind {
                NodeKind::Seq(items) => {
                    groups.extend(items.iter().filter_map(|g| self.group(g)));
                }
                _ if v.is_null() => {}
                _ => self.wrong_type(v, "[]rulefmt.RuleGroup"),
            }
        }
        groups
    }

    fn group(&mut self, node: &Node) -> Option<RawGroup> {
        let fields = self.fields(node, "rulefmt.RuleGroup", GROUP_FIELDS)?;
        let mut g = RawGroup {
            pos: node.pos,
            ..RawGroup::default()
        };
        for (key, k, v) in fields {
            match key {
                "name" => g.name = self.string(k, v),
                "interval" => g.interval = self.string(k, v),
                "query_offset" => g.query_offset = self.string(k, v),
                "limit" => g.limit = self.int(v),
                "labels" => g.labels = self.string_map(v),
                "rules" => match &v.kind {
                    NodeKind::Seq(items) => {
                        g.rules = items.iter().filter_map(|r| self.rule(r)).collect();
                    }
                    _ if v.is_null() => {}
                    _ => self.wrong_type(v, "[]rulefmt.Rule"),
                },
                _ => {}
            }
        }
        Some(g)
    }

    fn rule(&mut self, node: &Node) -> Option<RawRule> {
        let fields = self.fields(node, "rulefmt.Rule", RULE_FIELDS)?;
        let mut r = RawRule {
            pos: node.pos,
            ..RawRule::default()
        };
        for (key, k, v) in fields {
            match key {
                "record" => r.record = self.string(k, v),
                "alert" => r.alert = self.string(k, v),
                "expr" => r.expr = self.string(k, v),
                "for" => r.for_ = self.string(k, v),
                "keep_firing_for" => r.keep_firing_for = self.string(k, v),
                "labels" => r.labels = self.string_map(v),
                "annotations" => r.annotations = self.string_map(v),
                _ => {}
            }
        }
        Some(r)
    }
}
