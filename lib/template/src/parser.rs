//! Recursive-descent parser for Go `text/template`, a port of Go's
//! `text/template/parse/parse.go`: same grammar, same checks (undefined
//! variables and functions, `break` outside `range`, non-executable pipeline
//! stages) and the same error wording. `define`/`block` bodies become
//! separate named trees.

use std::collections::BTreeMap;

use crate::ast::{Branch, Command, Item, Node, Number, Pipe};
use crate::lexer::{self, Item as Token, Tok};

/// Maximum nesting of parentheses and control structures.
const MAX_DEPTH: usize = 100;

/// A parse error: byte offset of the offending token and Go's message.
#[derive(Debug)]
pub(crate) struct ParseErr {
    pub pos: usize,
    pub msg: String,
}

type PResult<T> = Result<T, ParseErr>;

/// The trees of one parse: the main template under `name`, plus defines.
pub(crate) type Trees = BTreeMap<String, Vec<Item>>;

/// Parses `text` (template `name`) into trees.
pub(crate) fn parse(name: &str, text: &str) -> Result<Trees, ParseErr> {
    let mut p = Parser {
        name,
        text,
        toks: lexer::lex(text),
        idx: 0,
        furthest: 0,
        vars: vec!["$".to_string()],
        range_depth: 0,
        action_pos: None,
        depth: 0,
        trees: BTreeMap::new(),
    };
    let root = p.parse_top()?;
    add_tree(&mut p.trees, name, root).map_err(|e| ParseErr {
        pos: 0,
        msg: e.to_string(),
    })?;
    Ok(p.trees)
}

fn is_empty_tree(list: &[Item]) -> bool {
    list.iter().all(|i| match i {
        Item::Text(_, t) => t.trim().is_empty(),
        _ => false,
    })
}

/// Go's error for a second non-empty definition of the same template name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template: multiple definition of template {}", crate::gofmt::quote(.0))]
struct MultipleDefinition(String);

fn add_tree(trees: &mut Trees, name: &str, root: Vec<Item>) -> Result<(), MultipleDefinition> {
    match trees.get(name) {
        Some(existing) if !is_empty_tree(existing) => {
            if !is_empty_tree(&root) {
                return Err(MultipleDefinition(name.to_string()));
            }
            Ok(())
        }
        _ => {
            trees.insert(name.to_string(), root);
            Ok(())
        }
    }
}

/// 1-based line of byte offset `pos` in `text`.
fn line_of(text: &str, pos: usize) -> usize {
    1 + text.as_bytes()[..pos.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

struct Parser<'a> {
    name: &'a str,
    text: &'a str,
    toks: Vec<Token>,
    idx: usize,
    furthest: usize,
    vars: Vec<String>,
    range_depth: usize,
    action_pos: Option<usize>,
    depth: usize,
    trees: Trees,
}

enum Ending {
    End,
    Else,
}

impl Parser<'_> {
    fn next(&mut self) -> Token {
        let i = self.idx.min(self.toks.len().saturating_sub(1));
        self.idx = i + 1;
        self.furthest = self.furthest.max(i);
        self.toks.get(i).cloned().unwrap_or(Token {
            typ: Tok::Eof,
            pos: self.text.len(),
            val: String::new(),
        })
    }

    fn backup(&mut self) {
        self.idx = self.idx.saturating_sub(1);
    }

    fn peek(&mut self) -> Token {
        let t = self.next();
        self.backup();
        t
    }

    fn next_non_space(&mut self) -> Token {
        loop {
            let t = self.next();
            if t.typ != Tok::Space {
                return t;
            }
        }
    }

    fn peek_non_space(&mut self) -> Token {
        let t = self.next_non_space();
        self.backup();
        t
    }

    fn errorf<T>(&self, msg: String) -> PResult<T> {
        let pos = self
            .toks
            .get(self.furthest)
            .map(|t| t.pos)
            .unwrap_or(self.text.len());
        Err(ParseErr { pos, msg })
    }

    /// An error about a specific token: reported at that token.
    fn error_at<T>(&self, pos: usize, msg: String) -> PResult<T> {
        Err(ParseErr { pos, msg })
    }

    fn unexpected<T>(&self, tok: &Token, context: &str) -> PResult<T> {
        if tok.typ == Tok::Error {
            let mut extra = String::new();
            if let Some(ap) = self.action_pos {
                let aline = line_of(self.text, ap);
                if aline != line_of(self.text, tok.pos) {
                    extra = format!(" in action started at {}:{}", self.name, aline);
                    if tok.val.ends_with(" action") {
                        extra = extra[" in action".len()..].to_string();
                    }
                }
            }
            return self.error_at(tok.pos, format!("{tok}{extra}"));
        }
        self.error_at(tok.pos, format!("unexpected {tok} in {context}"))
    }

    fn expect(&mut self, typ: Tok, context: &str) -> PResult<Token> {
        let t = self.next_non_space();
        if t.typ != typ {
            return self.unexpected(&t, context);
        }
        Ok(t)
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.errorf("max expression depth exceeded".into());
        }
        Ok(())
    }

    fn parse_top(&mut self) -> PResult<Vec<Item>> {
        let mut root = Vec::new();
        while self.peek().typ != Tok::Eof {
            if self.peek().typ == Tok::LeftDelim {
                let save = self.idx;
                self.next();
                if self.next_non_space().typ == Tok::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.idx = save;
            }
            match self.text_or_action()? {
                Ok(item) => root.push(item),
                Err(Ending::End) => return self.errorf("unexpected {{end}}".into()),
                Err(Ending::Else) => return self.errorf("unexpected {{else}}".into()),
            }
        }
        Ok(root)
    }

    fn parse_definition(&mut self) -> PResult<()> {
        const CONTEXT: &str = "define clause";
        let tok = self.next_non_space();
        if tok.typ != Tok::String && tok.typ != Tok::RawString {
            return self.unexpected(&tok, CONTEXT);
        }
        let Some(name) = crate::strconv::unquote(&tok.val) else {
            return self.errorf("invalid syntax".into());
        };
        self.expect(Tok::RightDelim, CONTEXT)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let saved_range = std::mem::replace(&mut self.range_depth, 0);
        let (list, end) = self.item_list()?;
        self.vars = saved_vars;
        self.range_depth = saved_range;
        if let Ending::Else = end {
            return self.errorf(format!("unexpected {{{{else}}}} in {CONTEXT}"));
        }
        if let Err(e) = add_tree(&mut self.trees, &name, list) {
            return self.errorf(e.to_string());
        }
        Ok(())
    }

    /// Items up to `{{end}}` or `{{else}}`.
    fn item_list(&mut self) -> PResult<(Vec<Item>, Ending)> {
        let mut list = Vec::new();
        while self.peek_non_space().typ != Tok::Eof {
            match self.text_or_action()? {
                Ok(item) => list.push(item),
                Err(end) => return Ok((list, end)),
            }
        }
        self.errorf("unexpected EOF".into())
    }

    fn text_or_action(&mut self) -> PResult<Result<Item, Ending>> {
        let tok = self.next_non_space();
        match tok.typ {
            Tok::Text => Ok(Ok(Item::Text(tok.pos, tok.val))),
            Tok::LeftDelim => {
                let saved = self.action_pos.replace(tok.pos);
                let r = self.action();
                self.action_pos = saved;
                r
            }
            _ => self.unexpected(&tok, "input"),
        }
    }

    fn action(&mut self) -> PResult<Result<Item, Ending>> {
        let tok = self.next_non_space();
        match tok.typ {
            Tok::Block => return self.block_control().map(Ok),
            Tok::Break | Tok::Continue => {
                let word = if tok.typ == Tok::Break {
                    "break"
                } else {
                    "continue"
                };
                let t = self.next_non_space();
                if t.typ != Tok::RightDelim {
                    return self.unexpected(&t, &format!("{{{{{word}}}}}"));
                }
                if self.range_depth == 0 {
                    return self.errorf(format!("{{{{{word}}}}} outside {{{{range}}}}"));
                }
                return Ok(Ok(if tok.typ == Tok::Break {
                    Item::Break(tok.pos)
                } else {
                    Item::Continue(tok.pos)
                }));
            }
            Tok::Else => {
                let peek = self.peek_non_space();
                if peek.typ != Tok::If && peek.typ != Tok::With {
                    self.expect(Tok::RightDelim, "else")?;
                }
                return Ok(Err(Ending::Else));
            }
            Tok::End => {
                self.expect(Tok::RightDelim, "end")?;
                return Ok(Err(Ending::End));
            }
            Tok::If => return self.control("if").map(|b| Ok(Item::If(b))),
            Tok::Range => return self.control("range").map(|b| Ok(Item::Range(b))),
            Tok::With => return self.control("with").map(|b| Ok(Item::With(b))),
            Tok::Template => return self.template_control().map(Ok),
            _ => {}
        }
        self.backup();
        let pos = self.peek().pos;
        let pipe = self.pipeline("command", Tok::RightDelim)?;
        Ok(Ok(Item::Action(pos, pipe)))
    }

    fn control(&mut self, context: &str) -> PResult<Branch> {
        self.enter()?;
        let nvars = self.vars.len();
        let r = self.control_inner(context);
        self.vars.truncate(nvars);
        self.depth -= 1;
        r
    }

    fn control_inner(&mut self, context: &str) -> PResult<Branch> {
        let pipe = self.pipeline(context, Tok::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let r = self.item_list();
        if context == "range" {
            self.range_depth -= 1;
        }
        let (list, next) = r?;
        let mut else_list = None;
        if let Ending::Else = next {
            let peek = self.peek();
            if context == "if" && peek.typ == Tok::If {
                self.next();
                let b = self.control("if")?;
                else_list = Some(vec![Item::If(b)]);
            } else if context == "with" && peek.typ == Tok::With {
                self.next();
                let b = self.control("with")?;
                else_list = Some(vec![Item::With(b)]);
            } else {
                let (l, n) = self.item_list()?;
                if let Ending::Else = n {
                    return self.errorf("expected end; found {{else}}".into());
                }
                else_list = Some(l);
            }
        }
        Ok(Branch {
            pos: pipe.pos,
            pipe,
            list,
            else_list,
        })
    }

    fn template_name(&mut self, tok: &Token, context: &str) -> PResult<String> {
        match tok.typ {
            Tok::String | Tok::RawString => match crate::strconv::unquote(&tok.val) {
                Some(s) => Ok(s),
                None => self.errorf("invalid syntax".into()),
            },
            _ => self.unexpected(tok, context),
        }
    }

    fn template_control(&mut self) -> PResult<Item> {
        const CONTEXT: &str = "template clause";
        let tok = self.next_non_space();
        let name = self.template_name(&tok, CONTEXT)?;
        let pipe = if self.next_non_space().typ != Tok::RightDelim {
            self.backup();
            Some(self.pipeline(CONTEXT, Tok::RightDelim)?)
        } else {
            None
        };
        Ok(Item::Template(tok.pos, name, pipe))
    }

    fn block_control(&mut self) -> PResult<Item> {
        const CONTEXT: &str = "block clause";
        let tok = self.next_non_space();
        let name = self.template_name(&tok, CONTEXT)?;
        let pipe = self.pipeline(CONTEXT, Tok::RightDelim)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let saved_range = std::mem::replace(&mut self.range_depth, 0);
        let r = self.item_list();
        self.vars = saved_vars;
        self.range_depth = saved_range;
        let (list, end) = r?;
        if let Ending::Else = end {
            return self.errorf(format!("unexpected {{{{else}}}} in {CONTEXT}"));
        }
        if let Err(e) = add_tree(&mut self.trees, &name, list) {
            return self.errorf(e.to_string());
        }
        Ok(Item::Template(tok.pos, name, Some(pipe)))
    }

    fn pipeline(&mut self, context: &str, end: Tok) -> PResult<Pipe> {
        let start = self.peek_non_space();
        let mut pipe = Pipe {
            pos: start.pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        loop {
            let v = self.peek_non_space();
            if v.typ != Tok::Variable {
                break;
            }
            let save = self.idx;
            self.next_non_space();
            let after = self.peek();
            let next = self.peek_non_space();
            if next.typ == Tok::Assign || next.typ == Tok::Declare {
                pipe.is_assign = next.typ == Tok::Assign;
                self.next_non_space();
                pipe.decl.push((v.pos, v.val.clone()));
                self.vars.push(v.val);
                break;
            } else if next.typ == Tok::Char && next.val == "," {
                self.next_non_space();
                pipe.decl.push((v.pos, v.val.clone()));
                self.vars.push(v.val);
                if context == "range" && pipe.decl.len() < 2 {
                    match self.peek_non_space().typ {
                        Tok::Variable | Tok::RightDelim | Tok::RightParen => continue,
                        _ => return self.errorf("range can only initialize variables".into()),
                    }
                }
                return self.errorf(format!("too many declarations in {context}"));
            } else {
                let _ = after;
                self.idx = save;
                break;
            }
        }
        loop {
            let tok = self.next_non_space();
            if tok.typ == end {
                self.check_pipeline(&pipe, context)?;
                return Ok(pipe);
            }
            match tok.typ {
                Tok::Bool
                | Tok::CharConstant
                | Tok::Complex
                | Tok::Dot
                | Tok::Field
                | Tok::Identifier
                | Tok::Number
                | Tok::Nil
                | Tok::RawString
                | Tok::String
                | Tok::Variable
                | Tok::LeftParen => {
                    self.backup();
                    let cmd = self.command()?;
                    pipe.cmds.push(cmd);
                }
                _ => return self.unexpected(&tok, context),
            }
        }
    }

    fn check_pipeline(&self, pipe: &Pipe, context: &str) -> PResult<()> {
        if pipe.cmds.is_empty() {
            return self.errorf(format!("missing value for {context}"));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if matches!(
                c.args.first(),
                Some(
                    Node::Bool(..)
                        | Node::Dot(_)
                        | Node::Nil(_)
                        | Node::Number(..)
                        | Node::String(..)
                )
            ) {
                return self.errorf(format!(
                    "non executable command in pipeline stage {}",
                    i + 1
                ));
            }
        }
        Ok(())
    }

    fn command(&mut self) -> PResult<Command> {
        let pos = self.peek_non_space().pos;
        let mut cmd = Command {
            pos,
            args: Vec::new(),
        };
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let tok = self.next();
            match tok.typ {
                Tok::Space => continue,
                Tok::RightDelim | Tok::RightParen => self.backup(),
                Tok::Pipe => {}
                _ => return self.unexpected(&tok, "operand"),
            }
            break;
        }
        if cmd.args.is_empty() {
            return self.errorf("empty command".into());
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Node>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().typ != Tok::Field {
            return Ok(Some(node));
        }
        let chain_pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().typ == Tok::Field {
            let f = self.next();
            fields.push(f.val[1..].to_string());
        }
        Ok(Some(match node {
            Node::Field(_, mut idents) => {
                idents.extend(fields);
                Node::Field(chain_pos, idents)
            }
            Node::Variable(_, mut idents) => {
                idents.extend(fields);
                Node::Variable(chain_pos, idents)
            }
            Node::Bool(..) | Node::String(..) | Node::Number(..) | Node::Nil(_) | Node::Dot(_) => {
                return self.error_at(
                    chain_pos,
                    format!(
                        "unexpected . after term {}",
                        crate::gofmt::quote(&node.to_string())
                    ),
                );
            }
            other => Node::Chain(chain_pos, Box::new(other), fields),
        }))
    }

    fn term(&mut self) -> PResult<Option<Node>> {
        let tok = self.next_non_space();
        Ok(Some(match tok.typ {
            Tok::Identifier => {
                if !crate::funcs::exists(&tok.val) {
                    return self.error_at(
                        tok.pos,
                        format!("function {} not defined", crate::gofmt::quote(&tok.val)),
                    );
                }
                Node::Identifier(tok.pos, tok.val)
            }
            Tok::Dot => Node::Dot(tok.pos),
            Tok::Nil => Node::Nil(tok.pos),
            Tok::Variable => {
                if !self.vars.contains(&tok.val) {
                    return self.error_at(
                        tok.pos,
                        format!("undefined variable {}", crate::gofmt::quote(&tok.val)),
                    );
                }
                Node::Variable(tok.pos, vec![tok.val])
            }
            Tok::Field => Node::Field(tok.pos, vec![tok.val[1..].to_string()]),
            Tok::Bool => Node::Bool(tok.pos, tok.val == "true"),
            Tok::CharConstant | Tok::Complex | Tok::Number => {
                Node::Number(tok.pos, self.number(&tok)?)
            }
            Tok::LeftParen => {
                self.enter()?;
                let p = self.pipeline("parenthesized pipeline", Tok::RightParen)?;
                self.depth -= 1;
                Node::Pipe(Box::new(p))
            }
            Tok::String | Tok::RawString => match crate::strconv::unquote(&tok.val) {
                Some(s) => Node::String(tok.pos, tok.val, s),
                None => return self.error_at(tok.pos, "invalid syntax".into()),
            },
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }

    fn number(&self, tok: &Token) -> PResult<Number> {
        let text = tok.val.clone();
        let mut n = Number {
            text: text.clone(),
            is_int: false,
            is_uint: false,
            is_float: false,
            int: 0,
            uint: 0,
            float: 0.0,
        };
        if tok.typ == Tok::CharConstant {
            let Some(c) = crate::strconv::unquote(&text).and_then(|s| s.chars().next()) else {
                return self.error_at(tok.pos, format!("malformed character constant: {text}"));
            };
            let v = c as u32;
            n.is_int = true;
            n.int = v.into();
            n.is_uint = true;
            n.uint = v.into();
            n.is_float = true;
            n.float = v.into();
            return Ok(n);
        }
        if tok.typ == Tok::Complex || text.ends_with('i') {
            return self.error_at(
                tok.pos,
                format!(
                    "complex constants are not supported: {}",
                    crate::gofmt::quote(&text)
                ),
            );
        }
        if let Some(v) = crate::strconv::parse_int_base0(&text) {
            if let Ok(u) = u64::try_from(v) {
                if !text.starts_with(['+', '-']) || v == 0 {
                    n.is_uint = true;
                    n.uint = u;
                }
            }
            if let Ok(i) = i64::try_from(v) {
                n.is_int = true;
                n.int = i;
            }
        }
        if n.is_int {
            n.is_float = true;
            n.float = n.int as f64;
        } else if n.is_uint {
            n.is_float = true;
            n.float = n.uint as f64;
        } else if let Ok(f) = text.replace('_', "").parse::<f64>() {
            if !text.contains(['.', 'e', 'E', 'p', 'P']) {
                return self.error_at(
                    tok.pos,
                    format!("integer overflow: {}", crate::gofmt::quote(&text)),
                );
            }
            n.is_float = true;
            n.float = f;
            if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 {
                n.is_int = true;
                n.int = f as i64;
            }
            if f.fract() == 0.0 && f >= 0.0 && f < u64::MAX as f64 {
                n.is_uint = true;
                n.uint = f as u64;
            }
        }
        if !n.is_int && !n.is_uint && !n.is_float {
            return self.error_at(
                tok.pos,
                format!("illegal number syntax: {}", crate::gofmt::quote(&text)),
            );
        }
        Ok(n)
    }
}
