//! The function table: which names exist (checked at parse time, like Go's
//! `function "x" not defined`), their Go signatures (used for argument
//! count and type checks at execution), and Go's `text/template` builtins.
//! Prometheus's own functions live in [`crate::prom`].

use crate::gofmt;
use crate::prom::PromError;
use crate::value::Value;

/// Why a Go builtin failed. The texts are Go's `text/template` ones; the
/// executor adds `error calling NAME: `.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum FuncError {
    /// `printf` whose first argument is not a string.
    #[error("printf needs a format string")]
    PrintfFormat,
    /// `call` of nil.
    #[error("call of nil")]
    CallOfNil,
    /// `call` of a value that is not a function (none is, here).
    #[error("non-function of type {0}")]
    NotAFunction(String),
    /// A comparison with fewer than two operands.
    #[error("missing argument for comparison")]
    MissingComparisonArg,
    /// `len` of nil.
    #[error("len of nil pointer")]
    LenOfNil,
    /// `len` of a value without a length.
    #[error("len of type {0}")]
    LenOfType(String),
    /// An index argument that is nil.
    #[error("cannot index slice/array with nil")]
    IndexWithNil,
    /// An index argument that is not an integer.
    #[error("cannot index slice/array with type {0}")]
    IndexWithType(String),
    /// An index below zero or above the capacity.
    #[error("index out of range: {0}")]
    IndexOutOfRange(i128),
    /// A map key that is nil.
    #[error("value is nil; should be of type string")]
    NilMapKey,
    /// A map key that is not a string.
    #[error("value has type {0}; should be string")]
    MapKeyType(String),
    /// `index` without an item, or of nil.
    #[error("index of untyped nil")]
    IndexOfUntypedNil,
    /// An index equal to the length (reflect's panic).
    #[error("reflect: slice index out of range: {0}")]
    ReflectIndexOutOfRange(usize),
    /// Indexing into a nil value inside the chain.
    #[error("index of nil pointer")]
    IndexOfNilPointer,
    /// Indexing a value that cannot be indexed.
    #[error("can't index item of type {0}")]
    CannotIndex(String),
    /// `slice` without an item, or of nil.
    #[error("slice of untyped nil")]
    SliceOfUntypedNil,
    /// `slice` with more than three indexes.
    #[error("too many slice indexes: {0}")]
    TooManySliceIndexes(usize),
    /// `slice` of a string with three indexes.
    #[error("cannot 3-index slice a string")]
    ThreeIndexString,
    /// `slice` of a value that cannot be sliced.
    #[error("can't slice item of type {0}")]
    CannotSlice(String),
    /// Slice indexes in the wrong order.
    #[error("invalid slice index: {0} > {1}")]
    InvalidSliceIndex(usize, usize),
    /// Comparison of values of different kinds.
    #[error("incompatible types for comparison")]
    IncompatibleTypes,
    /// Ordering of values that have no order.
    #[error("invalid type for comparison")]
    InvalidComparisonType,
    /// `eq` of values that cannot be compared.
    #[error("non-comparable type {value}: {type_name}")]
    NonComparable {
        /// The value, as `%v` prints it.
        value: String,
        /// Its Go type.
        type_name: String,
    },
    /// A Prometheus function failed.
    #[error(transparent)]
    Prom(#[from] PromError),
}

/// A Go parameter type, as far as argument checking needs to know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Param {
    /// `interface{}`: anything.
    Any,
    /// `reflect.Value` (builtins): anything.
    Reflect,
    /// `string`.
    Str,
    /// `float64`.
    Float,
    /// `template.queryResult`.
    Vector,
    /// `*template.sample`.
    Sample,
}

impl Param {
    /// The Go type name for messages.
    pub fn go_name(self) -> &'static str {
        match self {
            Param::Any => "interface {}",
            Param::Reflect => "reflect.Value",
            Param::Str => "string",
            Param::Float => "float64",
            Param::Vector => "template.queryResult",
            Param::Sample => "*template.sample",
        }
    }
}

/// A function signature. When `variadic`, the last param is the element
/// type of the `...` parameter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sig {
    pub params: &'static [Param],
    pub variadic: bool,
}

const fn sig(params: &'static [Param], variadic: bool) -> Sig {
    Sig { params, variadic }
}

use Param::{Any, Float as F, Reflect as R, Sample as S, Str, Vector as V};

/// Looks up a function's signature; `None` if it does not exist.
pub(crate) fn signature(name: &str) -> Option<Sig> {
    let _ = F;
    Some(match name {
        // Go builtins.
        "and" | "or" | "index" | "slice" | "eq" | "call" => sig(&[R, R], true),
        "not" | "len" => sig(&[R], false),
        "ne" | "lt" | "le" | "gt" | "ge" => sig(&[R, R], false),
        "print" | "println" | "html" | "js" | "urlquery" => sig(&[Any], true),
        "printf" => sig(&[Str, Any], true),
        // Prometheus.
        "query" | "title" | "toUpper" | "toLower" | "graphLink" | "tableLink" | "safeHtml"
        | "stripPort" | "stripDomain" | "parseDuration" => sig(&[Str], false),
        "first" => sig(&[V], false),
        "label" => sig(&[Str, S], false),
        "value" | "strvalue" => sig(&[S], false),
        "args" => sig(&[Any], true),
        "reReplaceAll" => sig(&[Str, Str, Str], false),
        "match" => sig(&[Str, Str], false),
        "sortByLabel" => sig(&[Str, V], false),
        "humanize" | "humanize1024" | "humanizeDuration" | "humanizePercentage"
        | "humanizeTimestamp" | "toTime" | "toDuration" => sig(&[Any], false),
        "pathPrefix" | "externalURL" | "now" => sig(&[], false),
        _ => return None,
    })
}

/// Whether a function named `name` exists (parse-time check).
pub(crate) fn exists(name: &str) -> bool {
    signature(name).is_some()
}

/// Calls a builtin other than `and`/`or` (which the executor short-circuits).
pub(crate) fn call(
    name: &str,
    args: Vec<Value>,
    env: &crate::exec::Env<'_>,
) -> Result<Value, FuncError> {
    match name {
        "not" => Ok(Value::Bool(!args.first().is_some_and(Value::truth))),
        "len" => length(args.first().unwrap_or(&Value::Nil)),
        "index" => index(&args),
        "slice" => slice(&args),
        "eq" => eq(&args).map(Value::Bool),
        "ne" => pair(&args)
            .and_then(|(a, b)| eq(&[a.clone(), b.clone()]))
            .map(|t| Value::Bool(!t)),
        "lt" => pair(&args).and_then(|(a, b)| lt(a, b)).map(Value::Bool),
        "le" => pair(&args).and_then(|(a, b)| le(a, b)).map(Value::Bool),
        "gt" => pair(&args)
            .and_then(|(a, b)| le(a, b))
            .map(|t| Value::Bool(!t)),
        "ge" => pair(&args)
            .and_then(|(a, b)| lt(a, b))
            .map(|t| Value::Bool(!t)),
        "print" => Ok(Value::String(gofmt::sprint(&args))),
        "println" => Ok(Value::String(gofmt::sprintln(&args))),
        "printf" => match args.split_first() {
            Some((Value::String(f), rest)) => Ok(Value::String(gofmt::sprintf(f, rest))),
            _ => Err(FuncError::PrintfFormat),
        },
        "html" => Ok(Value::String(html_escape(&eval_args(&args)))),
        "js" => Ok(Value::String(js_escape(&eval_args(&args)))),
        "urlquery" => Ok(Value::String(query_escape(&eval_args(&args)))),
        "call" => match args.first() {
            Some(Value::Nil) | None => Err(FuncError::CallOfNil),
            Some(v) => Err(FuncError::NotAFunction(v.type_name())),
        },
        _ => Ok(crate::prom::call(name, args, env)?),
    }
}

fn pair(args: &[Value]) -> Result<(&Value, &Value), FuncError> {
    match args {
        [a, b] => Ok((a, b)),
        _ => Err(FuncError::MissingComparisonArg),
    }
}

/// Go's `evalArgs`: a lone string as is, otherwise `fmt.Sprint`.
fn eval_args(args: &[Value]) -> String {
    if let [Value::String(s)] = args {
        return s.clone();
    }
    let printable: Vec<Value> = args
        .iter()
        .map(|a| match a {
            Value::Nil => Value::String("<no value>".into()),
            other => other.clone(),
        })
        .collect();
    gofmt::sprint(&printable)
}

/// Go's `template.HTMLEscapeString`.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Go's `template.JSEscapeString`.
fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if (c as u32) < 0x80 || gofmt::is_print(c) => out.push(c),
            c => out.push_str(&format!("\\u{:04X}", c as u32)),
        }
    }
    out
}

/// Go's `url.QueryEscape`.
pub fn query_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn length(v: &Value) -> Result<Value, FuncError> {
    let n = match v {
        Value::String(s) => s.len(),
        Value::List(l) => l.len(),
        Value::Map(m) => m.len(),
        Value::StrMap(m) => m.len(),
        Value::Vector(v) => v.len(),
        Value::Nil => return Err(FuncError::LenOfNil),
        other => return Err(FuncError::LenOfType(other.type_name())),
    };
    Ok(Value::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

fn index_arg(idx: &Value, cap: usize) -> Result<usize, FuncError> {
    let x: i128 = match idx {
        Value::Int(i) => (*i).into(),
        Value::Uint(u) => (*u).into(),
        Value::Duration(d) => (*d).into(),
        Value::Nil => return Err(FuncError::IndexWithNil),
        other => return Err(FuncError::IndexWithType(other.type_name())),
    };
    if x < 0 || x > cap as i128 {
        return Err(FuncError::IndexOutOfRange(x));
    }
    Ok(x as usize)
}

fn map_key(idx: &Value) -> Result<&str, FuncError> {
    match idx {
        Value::String(s) => Ok(s),
        Value::Nil => Err(FuncError::NilMapKey),
        other => Err(FuncError::MapKeyType(other.type_name())),
    }
}

fn index(args: &[Value]) -> Result<Value, FuncError> {
    let Some((item, idxs)) = args.split_first() else {
        return Err(FuncError::IndexOfUntypedNil);
    };
    if matches!(item, Value::Nil) {
        return Err(FuncError::IndexOfUntypedNil);
    }
    let mut item = item.clone();
    for idx in idxs {
        let out_of_range = FuncError::ReflectIndexOutOfRange;
        item = match &item {
            Value::List(l) => {
                let x = index_arg(idx, l.len())?;
                l.get(x).cloned().ok_or_else(|| out_of_range(x))?
            }
            Value::Vector(v) => {
                let x = index_arg(idx, v.len())?;
                v.get(x)
                    .cloned()
                    .map(Value::Sample)
                    .ok_or_else(|| out_of_range(x))?
            }
            Value::String(s) => {
                let x = index_arg(idx, s.len())?;
                s.as_bytes()
                    .get(x)
                    .map(|b| Value::Int((*b).into()))
                    .ok_or_else(|| out_of_range(x))?
            }
            Value::Map(m) => m.get(map_key(idx)?).cloned().unwrap_or(Value::Nil),
            Value::StrMap(m) => Value::String(m.get(map_key(idx)?).cloned().unwrap_or_default()),
            Value::Nil => return Err(FuncError::IndexOfNilPointer),
            other => return Err(FuncError::CannotIndex(other.type_name())),
        };
    }
    Ok(item)
}

fn slice(args: &[Value]) -> Result<Value, FuncError> {
    let Some((item, idxs)) = args.split_first() else {
        return Err(FuncError::SliceOfUntypedNil);
    };
    if idxs.len() > 3 {
        return Err(FuncError::TooManySliceIndexes(idxs.len()));
    }
    let len = match item {
        Value::String(s) => {
            if idxs.len() == 3 {
                return Err(FuncError::ThreeIndexString);
            }
            s.len()
        }
        Value::List(l) => l.len(),
        Value::Vector(v) => v.len(),
        Value::Nil => return Err(FuncError::SliceOfUntypedNil),
        other => return Err(FuncError::CannotSlice(other.type_name())),
    };
    let mut idx = [0, len, len];
    for (i, x) in idxs.iter().enumerate() {
        idx[i] = index_arg(x, len)?;
    }
    if idx[0] > idx[1] {
        return Err(FuncError::InvalidSliceIndex(idx[0], idx[1]));
    }
    if idxs.len() == 3 && idx[1] > idx[2] {
        return Err(FuncError::InvalidSliceIndex(idx[1], idx[2]));
    }
    let (i, j) = (idx[0], idx[1]);
    Ok(match item {
        Value::String(s) => {
            Value::String(String::from_utf8_lossy(&s.as_bytes()[i..j]).into_owned())
        }
        Value::List(l) => Value::List(l[i..j].to_vec()),
        Value::Vector(v) => Value::Vector(v[i..j].to_vec()),
        _ => Value::Nil,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Uint,
    Float,
    String,
    Other,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Nil => Kind::Invalid,
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) | Value::Duration(_) => Kind::Int,
        Value::Uint(_) => Kind::Uint,
        Value::Float(_) => Kind::Float,
        Value::String(_) => Kind::String,
        _ => Kind::Other,
    }
}

fn as_i(v: &Value) -> i128 {
    match v {
        Value::Int(i) | Value::Duration(i) => (*i).into(),
        Value::Uint(u) => (*u).into(),
        _ => 0,
    }
}

fn eq(args: &[Value]) -> Result<bool, FuncError> {
    let Some((a, rest)) = args.split_first() else {
        return Err(FuncError::MissingComparisonArg);
    };
    if rest.is_empty() {
        return Err(FuncError::MissingComparisonArg);
    }
    let k1 = kind(a);
    for b in rest {
        let k2 = kind(b);
        let truth = if k1 != k2 {
            match (k1, k2) {
                (Kind::Int, Kind::Uint) | (Kind::Uint, Kind::Int) => as_i(a) == as_i(b),
                _ if k1 == Kind::Invalid || k2 == Kind::Invalid => false,
                _ => return Err(FuncError::IncompatibleTypes),
            }
        } else {
            match (a, b) {
                (Value::Bool(x), Value::Bool(y)) => x == y,
                (Value::Float(x), Value::Float(y)) => x == y,
                (Value::String(x), Value::String(y)) => x == y,
                _ if k1 == Kind::Int || k1 == Kind::Uint => as_i(a) == as_i(b),
                (Value::Nil, Value::Nil) => true,
                (Value::Sample(x), Value::Sample(y)) => x == y,
                (Value::Time(x), Value::Time(y)) => x == y,
                _ => {
                    return Err(FuncError::NonComparable {
                        value: gofmt::format_v(b),
                        type_name: b.type_name(),
                    });
                }
            }
        };
        if truth {
            return Ok(true);
        }
    }
    Ok(false)
}

fn lt(a: &Value, b: &Value) -> Result<bool, FuncError> {
    let (k1, k2) = (kind(a), kind(b));
    for k in [k1, k2] {
        if matches!(k, Kind::Invalid | Kind::Other) {
            return Err(FuncError::InvalidComparisonType);
        }
    }
    if k1 != k2 {
        return match (k1, k2) {
            (Kind::Int, Kind::Uint) | (Kind::Uint, Kind::Int) => Ok(as_i(a) < as_i(b)),
            _ => Err(FuncError::IncompatibleTypes),
        };
    }
    match (a, b) {
        (Value::Bool(_), _) => Err(FuncError::InvalidComparisonType),
        (Value::Float(x), Value::Float(y)) => Ok(x < y),
        (Value::String(x), Value::String(y)) => Ok(x < y),
        _ => Ok(as_i(a) < as_i(b)),
    }
}

fn le(a: &Value, b: &Value) -> Result<bool, FuncError> {
    if lt(a, b)? {
        return Ok(true);
    }
    eq(&[a.clone(), b.clone()])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(
            html_escape("<a href=\"x\">'&'</a>"),
            "&lt;a href=&#34;x&#34;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(
            js_escape("a'b\"<=>\n"),
            "a\\'b\\\"\\u003C\\u003D\\u003E\\u000A"
        );
        for (input, expect) in [
            ("a b&c=d/é", "a+b%26c%3Dd%2F%C3%A9"),
            ("up == 0", "up+%3D%3D+0"),
            ("a{b=\"c\"}", "a%7Bb%3D%22c%22%7D"),
            ("x_y.z~-", "x_y.z~-"),
        ] {
            assert_eq!(query_escape(input), expect, "{input}");
        }
    }

    /// The error message Go prints, or `None` on success.
    fn shown<T>(r: Result<T, FuncError>) -> Option<String> {
        r.err().map(|e| e.to_string())
    }

    #[test]
    fn comparisons() {
        assert_eq!(eq(&[Value::Int(1), Value::Int(2), Value::Int(1)]), Ok(true));
        assert_eq!(
            shown(eq(&[Value::Float(1.0), Value::Int(1)])),
            Some("incompatible types for comparison".to_string())
        );
        assert_eq!(eq(&[Value::Nil, Value::Int(1)]), Ok(false));
        assert_eq!(lt(&Value::from("a"), &Value::from("b")), Ok(true));
        assert_eq!(lt(&Value::Int(-1), &Value::Uint(0)), Ok(true));
        assert_eq!(
            shown(lt(&Value::Bool(true), &Value::Bool(false))),
            Some("invalid type for comparison".to_string())
        );
        assert_eq!(le(&Value::Float(2.0), &Value::Float(2.0)), Ok(true));
        assert_eq!(
            shown(eq(&[Value::Int(1)])),
            Some("missing argument for comparison".to_string())
        );
    }

    #[test]
    fn indexing() {
        let list = Value::from(vec!["a", "b"]);
        assert_eq!(index(&[list.clone(), Value::Int(1)]), Ok(Value::from("b")));
        assert_eq!(
            shown(index(&[list.clone(), Value::Int(5)])),
            Some("index out of range: 5".to_string())
        );
        assert_eq!(
            shown(index(&[list.clone(), Value::Int(2)])),
            Some("reflect: slice index out of range: 2".to_string())
        );
        assert_eq!(
            slice(&[list.clone(), Value::Int(1)]),
            Ok(Value::from(vec!["b"]))
        );
        assert_eq!(
            shown(slice(&[list, Value::Int(2), Value::Int(1)])),
            Some("invalid slice index: 2 > 1".to_string())
        );
        assert_eq!(
            slice(&[Value::from("hello"), Value::Int(1), Value::Int(3)]),
            Ok(Value::from("el"))
        );
        let m = Value::StrMap([("k".to_string(), "v".to_string())].into());
        assert_eq!(index(&[m.clone(), Value::from("k")]), Ok(Value::from("v")));
        assert_eq!(index(&[m.clone(), Value::from("zz")]), Ok(Value::from("")));
        assert_eq!(
            shown(index(&[m, Value::Int(1)])),
            Some("value has type int; should be string".to_string())
        );
        assert_eq!(length(&Value::from("héllo")), Ok(Value::Int(6)));
        assert_eq!(
            shown(length(&Value::Int(1))),
            Some("len of type int".to_string())
        );
    }
}
