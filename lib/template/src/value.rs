//! The value model templates operate on: a small dynamic type system that
//! stands in for the Go values Prometheus hands to `text/template`
//! (`map[string]string` label sets, query results, `float64` values, ...).
//!
//! Each variant knows its Go type name (for error messages such as
//! `wrong type for value; expected string; got float64`) and its truth value
//! under Go's `if` rules.

use std::collections::BTreeMap;

/// One sample of a query result (Prometheus's template `sample` type).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QuerySample {
    /// The series labels, including `__name__` if present.
    pub labels: BTreeMap<String, String>,
    /// The sample value.
    pub value: f64,
}

/// A Go struct value: fields in declaration order.
#[derive(Debug, Clone, PartialEq)]
pub struct StructValue {
    /// Go type name shown in error messages.
    pub type_name: String,
    /// Field names and values, in declaration order.
    pub fields: Vec<(String, Value)>,
}

impl StructValue {
    /// An anonymous struct; its Go type name is derived from the fields,
    /// e.g. `struct { Labels map[string]string; Value float64 }`.
    pub fn anonymous(fields: Vec<(String, Value)>) -> Self {
        let parts: Vec<String> = fields
            .iter()
            .map(|(n, v)| format!("{n} {}", v.type_name()))
            .collect();
        StructValue {
            type_name: format!("struct {{ {} }}", parts.join("; ")),
            fields,
        }
    }
}

/// An instant, as Go's `time.Time` in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Time {
    /// Seconds since the Unix epoch.
    pub secs: i64,
    /// Nanoseconds within the second, `0..1_000_000_000`.
    pub nanos: u32,
}

impl Time {
    /// Builds a time from Unix seconds and (possibly out-of-range) nanoseconds.
    pub fn from_unix(secs: i64, nanos: i64) -> Self {
        let total = i128::from(secs) * 1_000_000_000 + i128::from(nanos);
        Self::from_unix_nanos(total)
    }

    /// Builds a time from Unix nanoseconds.
    pub fn from_unix_nanos(ns: i128) -> Self {
        let secs = ns.div_euclid(1_000_000_000);
        let nanos = ns.rem_euclid(1_000_000_000);
        Time {
            secs: i64::try_from(secs).unwrap_or(if secs < 0 { i64::MIN } else { i64::MAX }),
            nanos: u32::try_from(nanos).unwrap_or(0),
        }
    }

    /// Unix nanoseconds.
    pub fn unix_nanos(&self) -> i128 {
        i128::from(self.secs) * 1_000_000_000 + i128::from(self.nanos)
    }
}

/// A template value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Value {
    /// Go's "no value" (an invalid `reflect.Value` / nil interface).
    #[default]
    Nil,
    /// `bool`.
    Bool(bool),
    /// `int`.
    Int(i64),
    /// `uint64`.
    Uint(u64),
    /// `float64`.
    Float(f64),
    /// `string`.
    String(String),
    /// `[]interface {}`.
    List(Vec<Value>),
    /// `map[string]interface {}` (a missing key yields [`Value::Nil`]).
    Map(BTreeMap<String, Value>),
    /// `map[string]string`, e.g. label sets (a missing key yields `""`).
    StrMap(BTreeMap<String, String>),
    /// A query result (`template.queryResult`).
    Vector(Vec<QuerySample>),
    /// One query-result element (`*template.sample`).
    Sample(QuerySample),
    /// A struct, such as the alert template data.
    Struct(StructValue),
    /// `*time.Time`.
    Time(Time),
    /// `*time.Duration`, in nanoseconds.
    Duration(i64),
}

impl Value {
    /// The Go type name, as `%T` prints it.
    pub fn type_name(&self) -> String {
        match self {
            Value::Nil => "<nil>".into(),
            Value::Bool(_) => "bool".into(),
            Value::Int(_) => "int".into(),
            Value::Uint(_) => "uint64".into(),
            Value::Float(_) => "float64".into(),
            Value::String(_) => "string".into(),
            Value::List(_) => "[]interface {}".into(),
            Value::Map(_) => "map[string]interface {}".into(),
            Value::StrMap(_) => "map[string]string".into(),
            Value::Vector(_) => "template.queryResult".into(),
            Value::Sample(_) => "*template.sample".into(),
            Value::Struct(s) => s.type_name.clone(),
            Value::Time(_) => "*time.Time".into(),
            Value::Duration(_) => "*time.Duration".into(),
        }
    }

    /// Go's `isTrue`: `None` if the value has no truth (never for this model).
    pub fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Uint(u) => *u != 0,
            Value::Float(f) => *f != 0.0,
            Value::String(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::StrMap(m) => !m.is_empty(),
            Value::Vector(v) => !v.is_empty(),
            Value::Sample(_) | Value::Struct(_) | Value::Time(_) | Value::Duration(_) => true,
        }
    }

    /// A sample as the struct-like value templates see (`.Labels`, `.Value`).
    pub(crate) fn sample_field(s: &QuerySample, name: &str) -> Option<Value> {
        match name {
            "Labels" => Some(Value::StrMap(s.labels.clone())),
            "Value" => Some(Value::Float(s.value)),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<BTreeMap<String, String>> for Value {
    fn from(m: BTreeMap<String, String>) -> Self {
        Value::StrMap(m)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Self {
        Value::List(v.into_iter().map(Into::into).collect())
    }
}
