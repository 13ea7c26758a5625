//! The executor: walks a parsed template against a [`Value`], a port of
//! Go's `text/template/exec.go` with Prometheus's `missingkey=zero` option.
//!
//! It mirrors Go's bookkeeping of "the node being evaluated" so execution
//! errors name the same `<context>` and position Go would. Execution is
//! bounded: a step budget, an output-size cap and a nesting-depth limit stop
//! runaway templates, so a template can never hang or overflow the stack of
//! the rule engine.

use crate::ast::{At, Command, Item, Node, Pipe};
use crate::error::TemplateError;
use crate::funcs::{self, Param, Sig};
use crate::value::Value;
use crate::{QueryFn, Template};

/// Maximum number of evaluation steps per execution.
const MAX_STEPS: u64 = 2_000_000;
/// Maximum output size in bytes.
const MAX_OUTPUT: usize = 4 << 20;
/// Maximum nesting of template calls, control structures and pipelines.
const MAX_DEPTH: usize = 150;

/// What Prometheus functions need from the outside world.
pub(crate) struct Env<'a> {
    pub query: Option<&'a dyn QueryFn>,
    pub ts_ms: i64,
    pub external_url: &'a str,
}

/// Control flow out of a walk: `break`, `continue`, or an error.
enum Flow {
    Break,
    Continue,
    Err(Box<TemplateError>),
}

type R<T> = Result<T, Flow>;

struct State<'a> {
    tmpl: &'a Template,
    exec_name: &'a str,
    env: &'a Env<'a>,
    vars: Vec<(String, Value)>,
    at: At<'a>,
    depth: usize,
    steps: u64,
    out: String,
}

/// Executes the main tree of `tmpl` with `data` as dot.
pub(crate) fn execute(
    tmpl: &Template,
    data: &Value,
    env: &Env<'_>,
) -> Result<String, TemplateError> {
    let mut s = State {
        tmpl,
        exec_name: &tmpl.name,
        env,
        vars: vec![("$".to_string(), data.clone())],
        at: At::None,
        depth: 0,
        steps: 0,
        out: String::new(),
    };
    let Some(root) = tmpl.trees.get(&tmpl.name) else {
        return Ok(String::new());
    };
    match s.walk_list(data, root) {
        Ok(()) => Ok(s.out),
        Err(Flow::Err(e)) => Err(*e),
        Err(Flow::Break | Flow::Continue) => Ok(s.out),
    }
}

/// Whether a param type accepts a runtime value (Go's `validateType`).
fn assignable(p: Param, v: &Value) -> bool {
    match p {
        Param::Any | Param::Reflect => true,
        Param::Str => matches!(v, Value::String(_)),
        Param::Float => matches!(v, Value::Float(_)),
        Param::Vector => matches!(v, Value::Vector(_)),
        Param::Sample => matches!(v, Value::Sample(_)),
    }
}

impl<'a> State<'a> {
    fn errorf<T>(&self, msg: impl Into<String>) -> R<T> {
        Err(Flow::Err(Box::new(self.make_error(msg.into()))))
    }

    fn make_error(&self, message: String) -> TemplateError {
        let text = &self.tmpl.text;
        let pos = self.at.pos().unwrap_or(0).min(text.len());
        let before = &text[..pos];
        let go_col = match before.rfind('\n') {
            Some(i) => pos - i - 1,
            None => pos,
        };
        let (line, column) = self.tmpl.user_position(pos);
        let context = self.at.context();
        TemplateError::Exec {
            name: self.tmpl.name.clone(),
            exec_name: self.exec_name.to_string(),
            line,
            column,
            go_col,
            context,
            message,
        }
    }

    fn step(&mut self) -> R<()> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return self.errorf(format!("template execution exceeded {MAX_STEPS} steps"));
        }
        if self.out.len() > MAX_OUTPUT {
            return self.errorf(format!("template output exceeded {MAX_OUTPUT} bytes"));
        }
        Ok(())
    }

    fn enter(&mut self) -> R<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.errorf(format!("exceeded maximum template depth ({MAX_DEPTH})"));
        }
        Ok(())
    }

    fn walk_list(&mut self, dot: &Value, list: &'a [Item]) -> R<()> {
        for item in list {
            self.walk(dot, item)?;
        }
        Ok(())
    }

    fn walk(&mut self, dot: &Value, item: &'a Item) -> R<()> {
        self.step()?;
        self.at = At::Item(item);
        match item {
            Item::Text(_, t) => {
                self.out.push_str(t);
                Ok(())
            }
            Item::Action(_, pipe) => {
                let v = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    self.print_value(&v);
                }
                Ok(())
            }
            Item::Break(_) => Err(Flow::Break),
            Item::Continue(_) => Err(Flow::Continue),
            Item::If(b) | Item::With(b) => {
                self.enter()?;
                let mark = self.vars.len();
                let val = self.eval_pipeline(dot, &b.pipe);
                let r = match val {
                    Ok(val) => {
                        if val.truth() {
                            if matches!(item, Item::With(_)) {
                                self.walk_list(&val, &b.list)
                            } else {
                                self.walk_list(dot, &b.list)
                            }
                        } else if let Some(e) = &b.else_list {
                            self.walk_list(dot, e)
                        } else {
                            Ok(())
                        }
                    }
                    Err(e) => Err(e),
                };
                self.vars.truncate(mark);
                self.depth -= 1;
                r
            }
            Item::Range(b) => {
                self.enter()?;
                let mark = self.vars.len();
                let r = self.walk_range(dot, b);
                self.vars.truncate(mark);
                self.depth -= 1;
                match r {
                    Err(Flow::Break) => Ok(()),
                    other => other,
                }
            }
            Item::Template(_, name, pipe) => {
                let Some(tree) = self.tmpl.trees.get(name) else {
                    return self.errorf(format!(
                        "template {} not defined",
                        crate::gofmt::quote(name)
                    ));
                };
                self.enter()?;
                let new_dot = match pipe {
                    Some(p) => self.eval_pipeline(dot, p)?,
                    None => Value::Nil,
                };
                let saved_vars =
                    std::mem::replace(&mut self.vars, vec![("$".to_string(), new_dot.clone())]);
                let saved_name = std::mem::replace(&mut self.exec_name, name.as_str());
                let r = self.walk_list(&new_dot, tree);
                self.vars = saved_vars;
                self.exec_name = saved_name;
                self.depth -= 1;
                match r {
                    Err(Flow::Err(e)) => Err(Flow::Err(e)),
                    _ => Ok(()),
                }
            }
        }
    }

    fn walk_range(&mut self, dot: &Value, b: &'a crate::ast::Branch) -> R<()> {
        let val = self.eval_pipeline(dot, &b.pipe)?;
        let mark = self.vars.len();
        let mut pairs: Vec<(Value, Value)> = Vec::new();
        match &val {
            Value::List(l) => {
                pairs = l
                    .iter()
                    .enumerate()
                    .map(|(i, v)| (Value::Int(i as i64), v.clone()))
                    .collect();
            }
            Value::Vector(v) => {
                pairs = v
                    .iter()
                    .enumerate()
                    .map(|(i, s)| (Value::Int(i as i64), Value::Sample(s.clone())))
                    .collect();
            }
            Value::Map(m) => {
                pairs = m
                    .iter()
                    .map(|(k, v)| (Value::from(k.as_str()), v.clone()))
                    .collect()
            }
            Value::StrMap(m) => {
                pairs = m
                    .iter()
                    .map(|(k, v)| (Value::from(k.as_str()), Value::from(v.as_str())))
                    .collect();
            }
            Value::Int(_) | Value::Uint(_) => {
                if b.pipe.decl.len() > 1 {
                    return self.errorf(format!(
                        "can't use {} to iterate over more than one variable",
                        crate::gofmt::format_v(&val)
                    ));
                }
                let n = match val {
                    Value::Int(i) => i.max(0) as u64,
                    Value::Uint(u) => u,
                    _ => 0,
                };
                for i in 0..n {
                    let v = Value::Int(i as i64);
                    if self.one_iteration(b, mark, v.clone(), v)? {
                        break;
                    }
                }
                if n > 0 {
                    return Ok(());
                }
            }
            Value::Nil => {}
            other => {
                return self.errorf(format!(
                    "range can't iterate over {}",
                    crate::gofmt::format_v(other)
                ));
            }
        }
        if !pairs.is_empty() {
            for (k, v) in pairs {
                if self.one_iteration(b, mark, k, v)? {
                    break;
                }
            }
            return Ok(());
        }
        if let Some(e) = &b.else_list {
            self.walk_list(dot, e)?;
        }
        Ok(())
    }

    /// Runs one range iteration; returns true on `break`.
    fn one_iteration(
        &mut self,
        b: &'a crate::ast::Branch,
        mark: usize,
        index: Value,
        elem: Value,
    ) -> R<bool> {
        self.step()?;
        let decl = &b.pipe.decl;
        if !decl.is_empty() {
            if b.pipe.is_assign {
                let (first, second) = if decl.len() > 1 {
                    (index.clone(), Some(elem.clone()))
                } else {
                    (elem.clone(), None)
                };
                self.set_var(&decl[0].1, first)?;
                if let (Some(v), Some(d)) = (second, decl.get(1)) {
                    self.set_var(&d.1, v)?;
                }
            } else {
                // Declared variables were pushed by the pipeline: the last
                // is the element, the one before (if two) the index.
                let n = self.vars.len();
                if let Some(top) = self.vars.get_mut(n - 1) {
                    top.1 = elem.clone();
                }
                if decl.len() > 1 && n >= 2 {
                    self.vars[n - 2].1 = index;
                }
            }
        }
        let r = self.walk_list(&elem, &b.list);
        self.vars.truncate(mark);
        match r {
            Ok(()) | Err(Flow::Continue) => Ok(false),
            Err(Flow::Break) => Ok(true),
            Err(e) => Err(e),
        }
    }

    fn set_var(&mut self, name: &str, v: Value) -> R<()> {
        for slot in self.vars.iter_mut().rev() {
            if slot.0 == name {
                slot.1 = v;
                return Ok(());
            }
        }
        self.errorf(format!("undefined variable: {name}"))
    }

    fn var_value(&self, name: &str) -> R<Value> {
        for slot in self.vars.iter().rev() {
            if slot.0 == name {
                return Ok(slot.1.clone());
            }
        }
        self.errorf(format!("undefined variable: {name}"))
    }

    fn print_value(&mut self, v: &Value) {
        match v {
            Value::Nil => self.out.push_str("<no value>"),
            Value::Sample(s) => {
                let text = crate::gofmt::format_v(&Value::Sample(s.clone()));
                self.out.push_str(text.strip_prefix('&').unwrap_or(&text));
            }
            other => self.out.push_str(&crate::gofmt::format_v(other)),
        }
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &'a Pipe) -> R<Value> {
        self.enter()?;
        self.at = At::Pipe(pipe);
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            match self.eval_command(dot, cmd, value.take()) {
                Ok(v) => value = Some(v),
                Err(e) => {
                    self.depth -= 1;
                    return Err(e);
                }
            }
        }
        self.depth -= 1;
        let value = value.unwrap_or(Value::Nil);
        for (_, name) in &pipe.decl {
            if pipe.is_assign {
                self.set_var(name, value.clone())?;
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn not_a_function(&self, args: &[Node], fin: &Option<Value>) -> R<()> {
        if args.len() > 1 || fin.is_some() {
            return self.errorf(format!("can't give argument to non-function {}", args[0]));
        }
        Ok(())
    }

    fn eval_command(&mut self, dot: &Value, cmd: &'a Command, fin: Option<Value>) -> R<Value> {
        self.step()?;
        let first = &cmd.args[0];
        match first {
            Node::Field(_, idents) => {
                self.at = At::Node(first);
                return self.eval_field_chain(dot, dot.clone(), idents, &cmd.args, fin);
            }
            Node::Chain(..) => return self.eval_chain(dot, first, &cmd.args, fin),
            Node::Identifier(_, name) => {
                self.at = At::Node(first);
                return self.eval_function(dot, name, At::Cmd(cmd), &cmd.args, fin);
            }
            Node::Pipe(p) => {
                self.not_a_function(&cmd.args, &fin)?;
                return self.eval_pipeline(dot, p);
            }
            Node::Variable(_, idents) => {
                self.at = At::Node(first);
                return self.eval_variable(dot, idents, &cmd.args, fin);
            }
            _ => {}
        }
        self.at = At::Node(first);
        self.not_a_function(&cmd.args, &fin)?;
        match first {
            Node::Bool(_, b) => Ok(Value::Bool(*b)),
            Node::Dot(_) => Ok(dot.clone()),
            Node::Nil(_) => self.errorf("nil is not a command"),
            Node::Number(_, n) => self.ideal_constant(n),
            Node::String(_, _, s) => Ok(Value::String(s.clone())),
            other => self.errorf(format!(
                "can't evaluate command {}",
                crate::gofmt::quote(&other.to_string())
            )),
        }
    }

    fn ideal_constant(&self, n: &crate::ast::Number) -> R<Value> {
        let t = &n.text;
        let hex_int =
            t.len() > 2 && (t.starts_with("0x") || t.starts_with("0X")) && !t.contains(['p', 'P']);
        let rune = t.starts_with('\'');
        if n.is_float && !hex_int && !rune && t.contains(['.', 'e', 'E', 'p', 'P']) {
            return Ok(Value::Float(n.float));
        }
        if n.is_int {
            return Ok(Value::Int(n.int));
        }
        if n.is_uint {
            return self.errorf(format!("{t} overflows int"));
        }
        Ok(Value::Nil)
    }

    fn eval_variable(
        &mut self,
        dot: &Value,
        idents: &'a [String],
        args: &'a [Node],
        fin: Option<Value>,
    ) -> R<Value> {
        let value = self.var_value(&idents[0])?;
        if idents.len() == 1 {
            self.not_a_function(args, &fin)?;
            return Ok(value);
        }
        self.eval_field_chain(dot, value, &idents[1..], args, fin)
    }

    fn eval_chain(
        &mut self,
        dot: &Value,
        chain: &'a Node,
        args: &'a [Node],
        fin: Option<Value>,
    ) -> R<Value> {
        self.at = At::Node(chain);
        let Node::Chain(_, inner, fields) = chain else {
            return self.errorf("internal error: not a chain");
        };
        if matches!(inner.as_ref(), Node::Nil(_)) {
            return self.errorf(format!("indirection through explicit nil in {chain}"));
        }
        let recv = self.eval_arg(dot, Param::Any, inner)?;
        self.eval_field_chain(dot, recv, fields, args, fin)
    }

    fn eval_field_chain(
        &mut self,
        dot: &Value,
        mut recv: Value,
        idents: &'a [String],
        args: &'a [Node],
        fin: Option<Value>,
    ) -> R<Value> {
        let n = idents.len();
        for ident in &idents[..n - 1] {
            recv = self.eval_field(dot, ident, &[], None, recv)?;
        }
        self.eval_field(dot, &idents[n - 1], args, fin, recv)
    }

    fn eval_field(
        &mut self,
        dot: &Value,
        name: &str,
        args: &'a [Node],
        fin: Option<Value>,
        recv: Value,
    ) -> R<Value> {
        if let Some(sig) = crate::gotime::method_sig(&recv, name) {
            let call_at = self.at;
            let vals = self.eval_call_args(dot, name, sig, args, fin)?;
            return match crate::gotime::call_method(&recv, name, &vals) {
                Ok(v) => Ok(v),
                Err(e) => {
                    self.at = call_at;
                    self.errorf(format!("error calling {name}: {e}"))
                }
            };
        }
        let has_args = args.len() > 1 || fin.is_some();
        let found = match &recv {
            Value::Nil => return Ok(Value::Nil),
            Value::Struct(s) => s
                .fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone()),
            Value::Sample(s) => Value::sample_field(s, name),
            Value::Map(m) => {
                if has_args {
                    return self.errorf(format!("{name} is not a method but has arguments"));
                }
                return Ok(m.get(name).cloned().unwrap_or(Value::Nil));
            }
            Value::StrMap(m) => {
                if has_args {
                    return self.errorf(format!("{name} is not a method but has arguments"));
                }
                return Ok(Value::String(m.get(name).cloned().unwrap_or_default()));
            }
            _ => None,
        };
        match found {
            Some(v) => {
                if has_args {
                    return self.errorf(format!(
                        "{name} has arguments but cannot be invoked as function"
                    ));
                }
                Ok(v)
            }
            None => self.errorf(format!(
                "can't evaluate field {name} in type {}",
                recv.type_name()
            )),
        }
    }

    fn eval_function(
        &mut self,
        dot: &Value,
        name: &str,
        call_at: At<'a>,
        args: &'a [Node],
        fin: Option<Value>,
    ) -> R<Value> {
        let Some(sig) = funcs::signature(name) else {
            return self.errorf(format!(
                "{} is not a defined function",
                crate::gofmt::quote(name)
            ));
        };
        if name == "and" || name == "or" {
            return self.eval_and_or(dot, name, sig, args, fin);
        }
        let vals = self.eval_call_args(dot, name, sig, args, fin)?;
        match funcs::call(name, vals, self.env) {
            Ok(v) => Ok(v),
            Err(e) => {
                self.at = call_at;
                self.errorf(format!("error calling {name}: {e}"))
            }
        }
    }

    fn check_arg_count(&self, name: &str, sig: Sig, nargs: usize, num_in: usize) -> R<()> {
        if sig.variadic {
            let fixed = sig.params.len() - 1;
            if num_in < fixed {
                return self.errorf(format!(
                    "wrong number of args for {name}: want at least {fixed} got {nargs}"
                ));
            }
        } else if num_in != sig.params.len() {
            return self.errorf(format!(
                "wrong number of args for {name}: want {} got {num_in}",
                sig.params.len()
            ));
        }
        Ok(())
    }

    fn param_at(sig: Sig, i: usize) -> Param {
        sig.params
            .get(i)
            .copied()
            .unwrap_or_else(|| sig.params.last().copied().unwrap_or(Param::Any))
    }

    fn eval_and_or(
        &mut self,
        dot: &Value,
        name: &str,
        sig: Sig,
        args: &'a [Node],
        fin: Option<Value>,
    ) -> R<Value> {
        let rest = args.get(1..).unwrap_or(&[]);
        let num_in = rest.len() + usize::from(fin.is_some());
        self.check_arg_count(name, sig, rest.len(), num_in)?;
        let mut v = Value::Nil;
        for a in rest {
            v = self.eval_arg(dot, Param::Reflect, a)?;
            if v.truth() == (name == "or") {
                return Ok(v);
            }
        }
        if let Some(f) = fin {
            v = f;
        }
        Ok(v)
    }

    fn eval_call_args(
        &mut self,
        dot: &Value,
        name: &str,
        sig: Sig,
        args: &'a [Node],
        fin: Option<Value>,
    ) -> R<Vec<Value>> {
        let rest = args.get(1..).unwrap_or(&[]);
        let num_in = rest.len() + usize::from(fin.is_some());
        self.check_arg_count(name, sig, rest.len(), num_in)?;
        let mut vals = Vec::with_capacity(num_in);
        for (i, a) in rest.iter().enumerate() {
            vals.push(self.eval_arg(dot, Self::param_at(sig, i), a)?);
        }
        if let Some(f) = fin {
            let p = Self::param_at(sig, num_in - 1);
            vals.push(self.validate(f, p)?);
        }
        Ok(vals)
    }

    fn validate(&self, v: Value, p: Param) -> R<Value> {
        if matches!(v, Value::Nil) {
            return match p {
                Param::Str | Param::Float => {
                    self.errorf(format!("invalid value; expected {}", p.go_name()))
                }
                _ => Ok(v),
            };
        }
        if !assignable(p, &v) {
            return self.errorf(format!(
                "wrong type for value; expected {}; got {}",
                p.go_name(),
                v.type_name()
            ));
        }
        Ok(v)
    }

    fn eval_arg(&mut self, dot: &Value, p: Param, n: &'a Node) -> R<Value> {
        self.at = At::Node(n);
        let v = match n {
            Node::Dot(_) => dot.clone(),
            Node::Nil(_) => {
                return match p {
                    Param::Str | Param::Float | Param::Reflect => {
                        self.errorf(format!("cannot assign nil to {}", p.go_name()))
                    }
                    _ => Ok(Value::Nil),
                };
            }
            Node::Field(_, idents) => {
                self.eval_field_chain(dot, dot.clone(), idents, std::slice::from_ref(n), None)?
            }
            Node::Variable(_, idents) => self.eval_variable(dot, idents, &[], None)?,
            Node::Pipe(pipe) => self.eval_pipeline(dot, pipe)?,
            Node::Identifier(_, name) => {
                self.eval_function(dot, name, At::Node(n), std::slice::from_ref(n), None)?
            }
            Node::Chain(..) => self.eval_chain(dot, n, &[], None)?,
            Node::Bool(_, b) => match p {
                Param::Any | Param::Reflect => Value::Bool(*b),
                _ => return self.literal_mismatch(p, n),
            },
            Node::String(_, _, s) => match p {
                Param::Any | Param::Reflect | Param::Str => Value::String(s.clone()),
                _ => return self.literal_mismatch(p, n),
            },
            Node::Number(_, num) => match p {
                Param::Any | Param::Reflect => self.ideal_constant(num)?,
                Param::Float if num.is_float => Value::Float(num.float),
                _ => return self.literal_mismatch(p, n),
            },
        };
        self.validate(v, p)
    }

    fn literal_mismatch<T>(&self, p: Param, n: &Node) -> R<T> {
        match p {
            Param::Str => self.errorf(format!("expected string; found {n}")),
            Param::Float => self.errorf(format!("expected float; found {n}")),
            _ => self.errorf(format!("can't handle {n} for arg of type {}", p.go_name())),
        }
    }
}
