//! Parse tree of a template, mirroring Go's `text/template/parse` nodes.
//!
//! Every node keeps its byte offset in the source so execution errors can
//! report Go's `NAME:LINE:COL` location. The `Display` impls reproduce Go's
//! `Node.String()` output, which appears in execution errors as
//! `at <CONTEXT>`.

use std::fmt;

/// A numeric literal, with every interpretation Go's `NumberNode` allows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Number {
    pub text: String,
    pub is_int: bool,
    pub is_uint: bool,
    pub is_float: bool,
    pub int: i64,
    pub uint: u64,
    pub float: f64,
}

/// An operand (Go's argument node types).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Bool(usize, bool),
    Dot(usize),
    Nil(usize),
    Number(usize, Number),
    /// Position, quoted source text, unquoted value.
    String(usize, String, String),
    /// `.A.b`: the field names.
    Field(usize, Vec<String>),
    /// `$x.A.b`: `["$x", "A", "b"]`.
    Variable(usize, Vec<String>),
    /// A function name.
    Identifier(usize, String),
    /// `(pipe).A.b` or `$x.A` when the term is not a plain variable.
    Chain(usize, Box<Node>, Vec<String>),
    /// A parenthesised pipeline.
    Pipe(Box<Pipe>),
}

impl Node {
    pub fn pos(&self) -> usize {
        match self {
            Node::Bool(p, _)
            | Node::Dot(p)
            | Node::Nil(p)
            | Node::Number(p, _)
            | Node::String(p, _, _)
            | Node::Field(p, _)
            | Node::Variable(p, _)
            | Node::Identifier(p, _)
            | Node::Chain(p, _, _) => *p,
            Node::Pipe(p) => p.pos,
        }
    }
}

/// A command: function/field/operand followed by arguments.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Command {
    pub pos: usize,
    pub args: Vec<Node>,
}

/// A pipeline, with optional variable declarations.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pipe {
    pub pos: usize,
    pub is_assign: bool,
    /// Declared variables: position and name (with `$`).
    pub decl: Vec<(usize, String)>,
    pub cmds: Vec<Command>,
}

/// `if`, `range` and `with` share this shape.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Branch {
    pub pos: usize,
    pub pipe: Pipe,
    pub list: Vec<Item>,
    pub else_list: Option<Vec<Item>>,
}

/// A list element (Go's statement-level nodes).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Item {
    Text(usize, String),
    Action(usize, Pipe),
    If(Branch),
    Range(Branch),
    With(Branch),
    /// `{{template "name" pipe}}`.
    Template(usize, String, Option<Pipe>),
    Break(usize),
    Continue(usize),
}

impl Item {
    pub fn pos(&self) -> usize {
        match self {
            Item::Text(p, _)
            | Item::Action(p, _)
            | Item::Template(p, _, _)
            | Item::Break(p)
            | Item::Continue(p) => *p,
            Item::If(b) | Item::Range(b) | Item::With(b) => b.pos,
        }
    }
}

/// What the executor is looking at, for error context (Go's `state.node`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum At<'a> {
    None,
    Node(&'a Node),
    Cmd(&'a Command),
    Pipe(&'a Pipe),
    Item(&'a Item),
}

impl At<'_> {
    pub fn pos(&self) -> Option<usize> {
        match self {
            At::None => None,
            At::Node(n) => Some(n.pos()),
            At::Cmd(c) => Some(c.pos),
            At::Pipe(p) => Some(p.pos),
            At::Item(i) => Some(i.pos()),
        }
    }

    pub fn context(&self) -> String {
        match self {
            At::None => String::new(),
            At::Node(n) => n.to_string(),
            At::Cmd(c) => c.to_string(),
            At::Pipe(p) => p.to_string(),
            At::Item(i) => i.to_string(),
        }
    }
}

impl fmt::Display for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Node::Bool(_, b) => write!(f, "{b}"),
            Node::Dot(_) => write!(f, "."),
            Node::Nil(_) => write!(f, "nil"),
            Node::Number(_, n) => write!(f, "{}", n.text),
            Node::String(_, quoted, _) => write!(f, "{quoted}"),
            Node::Field(_, idents) => {
                for i in idents {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Node::Variable(_, idents) => write!(f, "{}", idents.join(".")),
            Node::Identifier(_, name) => write!(f, "{name}"),
            Node::Chain(_, node, fields) => {
                match node.as_ref() {
                    Node::Pipe(p) => write!(f, "({p})")?,
                    other => write!(f, "{other}")?,
                }
                for field in fields {
                    write!(f, ".{field}")?;
                }
                Ok(())
            }
            Node::Pipe(p) => write!(f, "{p}"),
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, arg) in self.args.iter().enumerate() {
            if i > 0 {
                write!(f, " ")?;
            }
            match arg {
                Node::Pipe(p) => write!(f, "({p})")?,
                other => write!(f, "{other}")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            let names: Vec<&str> = self.decl.iter().map(|(_, n)| n.as_str()).collect();
            write!(f, "{}", names.join(", "))?;
            write!(f, "{}", if self.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                write!(f, " | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

fn write_list(f: &mut fmt::Formatter<'_>, list: &[Item]) -> fmt::Result {
    for item in list {
        write!(f, "{item}")?;
    }
    Ok(())
}

fn write_branch(f: &mut fmt::Formatter<'_>, name: &str, b: &Branch) -> fmt::Result {
    write!(f, "{{{{{name} {}}}}}", b.pipe)?;
    write_list(f, &b.list)?;
    if let Some(e) = &b.else_list {
        write!(f, "{{{{else}}}}")?;
        write_list(f, e)?;
    }
    write!(f, "{{{{end}}}}")
}

impl fmt::Display for Item {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Item::Text(_, t) => write!(f, "{}", crate::gofmt::quote(t)),
            Item::Action(_, p) => write!(f, "{{{{{p}}}}}"),
            Item::If(b) => write_branch(f, "if", b),
            Item::Range(b) => write_branch(f, "range", b),
            Item::With(b) => write_branch(f, "with", b),
            Item::Template(_, name, pipe) => match pipe {
                Some(p) => write!(f, "{{{{template {} {p}}}}}", crate::gofmt::quote(name)),
                None => write!(f, "{{{{template {}}}}}", crate::gofmt::quote(name)),
            },
            Item::Break(_) => write!(f, "{{{{break}}}}"),
            Item::Continue(_) => write!(f, "{{{{continue}}}}"),
        }
    }
}
