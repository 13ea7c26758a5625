//! Prometheus's template functions (`template/template.go` upstream):
//! `query` and the sample helpers, the `humanize*` family, time and
//! duration conversions, string helpers, links and URL helpers. Output
//! formats follow upstream exactly (e.g. `humanize` is `%.4g` plus an SI
//! prefix).

use regex::Regex;
use watchfire_promql::duration::DurationError;
use watchfire_promql::gofmt::format_float;

use crate::error::QueryError;
use crate::exec::Env;
use crate::strconv::ParseFloatError;
use crate::value::{QuerySample, Time, Value};

/// Why a Prometheus template function failed. The texts are Prometheus's
/// (Go's) own; the executor adds `error calling NAME: `.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum PromError {
    /// `ConvertToFloat` of a value of this Go type.
    #[error("can't convert {0} to float")]
    NotConvertible(String),
    /// `ConvertToFloat` of a string that is not a number.
    #[error(transparent)]
    ParseFloat(#[from] ParseFloatError),
    /// A sample function given something other than a sample (Go panics
    /// dereferencing the nil `*sample`).
    #[error("runtime error: invalid memory address or nil pointer dereference")]
    NilSample,
    /// `query` without a query engine.
    #[error("no query engine available")]
    NoQueryEngine,
    /// `query` failed.
    #[error(transparent)]
    Query(#[from] QueryError),
    /// `first` of an empty vector.
    #[error("first() called on vector with no elements")]
    FirstOfEmpty,
    /// `reReplaceAll` with a bad pattern (Go's `regexp.MustCompile` panic).
    #[error("regexp: Compile({quoted}): {0}", quoted = compile_quote(&.0.pattern))]
    RegexCompile(RegexSyntaxError),
    /// `match` with a bad pattern.
    #[error(transparent)]
    RegexSyntax(RegexSyntaxError),
    /// `toTime` of NaN or an infinity.
    #[error("value is NaN or Inf")]
    NanOrInf,
    /// Seconds too large for an int64 count of nanoseconds.
    #[error("{} cannot be represented as a nanoseconds timestamp since it overflows int64", crate::gofmt::format_v(&Value::Float(*.0)))]
    TimeOverflow(f64),
    /// `parseDuration` of a bad duration.
    #[error(transparent)]
    Duration(#[from] DurationError),
    /// A known function with no implementation here.
    #[error("function {0:?} not implemented")]
    NotImplemented(String),
}

/// Go's `*syntax.Error` text, with the Rust regex crate's reason inside:
/// ``error parsing regexp: REASON: `PATTERN` ``.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("error parsing regexp: {reason}: `{pattern}`")]
pub(crate) struct RegexSyntaxError {
    /// The pattern as given.
    pattern: String,
    /// Why it does not compile.
    reason: String,
}

fn g4(v: f64) -> String {
    format_float(v, 'g', Some(4))
}

/// Prometheus `ConvertToFloat`.
fn to_float(v: &Value) -> Result<f64, PromError> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::String(s) => Ok(crate::strconv::parse_float(s)?),
        Value::Int(i) => Ok(*i as f64),
        Value::Uint(u) => Ok(*u as f64),
        Value::Duration(d) => Ok(*d as f64 / 1e9),
        // `Value::Nil` is Go's `<nil>`.
        other => Err(PromError::NotConvertible(other.type_name())),
    }
}

fn arg(args: &[Value], i: usize) -> &Value {
    args.get(i).unwrap_or(&Value::Nil)
}

fn str_arg(args: &[Value], i: usize) -> String {
    match arg(args, i) {
        Value::String(s) => s.clone(),
        _ => String::new(),
    }
}

fn sample_arg(args: &[Value], i: usize) -> Result<QuerySample, PromError> {
    match arg(args, i) {
        Value::Sample(s) => Ok(s.clone()),
        _ => Err(PromError::NilSample),
    }
}

/// Calls the Prometheus function `name`.
pub(crate) fn call(name: &str, args: Vec<Value>, env: &Env<'_>) -> Result<Value, PromError> {
    Ok(match name {
        "query" => {
            let q = str_arg(&args, 0);
            let Some(qf) = env.query else {
                return Err(PromError::NoQueryEngine);
            };
            Value::Vector(qf.query(&q, env.ts_ms)?)
        }
        "first" => match arg(&args, 0) {
            Value::Vector(v) if !v.is_empty() => Value::Sample(v[0].clone()),
            _ => return Err(PromError::FirstOfEmpty),
        },
        "label" => {
            let s = sample_arg(&args, 1)?;
            Value::String(
                s.labels
                    .get(&str_arg(&args, 0))
                    .cloned()
                    .unwrap_or_default(),
            )
        }
        "value" => Value::Float(sample_arg(&args, 0)?.value),
        "strvalue" => Value::String(
            sample_arg(&args, 0)?
                .labels
                .get("__value__")
                .cloned()
                .unwrap_or_default(),
        ),
        "args" => Value::Map(
            args.into_iter()
                .enumerate()
                .map(|(i, a)| (format!("arg{i}"), a))
                .collect(),
        ),
        "reReplaceAll" => {
            let re = compile(&str_arg(&args, 0)).map_err(PromError::RegexCompile)?;
            Value::String(
                re.replace_all(&str_arg(&args, 2), str_arg(&args, 1).as_str())
                    .into_owned(),
            )
        }
        "match" => {
            let pattern = str_arg(&args, 0);
            let re = compile(&pattern).map_err(PromError::RegexSyntax)?;
            Value::Bool(re.is_match(&str_arg(&args, 1)))
        }
        "safeHtml" => Value::String(str_arg(&args, 0)),
        "title" => Value::String(title(&str_arg(&args, 0))),
        "toUpper" => Value::String(str_arg(&args, 0).to_uppercase()),
        "toLower" => Value::String(str_arg(&args, 0).to_lowercase()),
        "graphLink" | "tableLink" => Value::String(format!(
            "/graph?g0.expr={}&g0.tab={}",
            crate::funcs::query_escape(&str_arg(&args, 0)),
            if name == "graphLink" { 0 } else { 1 }
        )),
        "sortByLabel" => {
            let label = str_arg(&args, 0);
            let mut v = match arg(&args, 1) {
                Value::Vector(v) => v.clone(),
                _ => Vec::new(),
            };
            v.sort_by(|a, b| a.labels.get(&label).cmp(&b.labels.get(&label)));
            Value::Vector(v)
        }
        "stripPort" => {
            let hp = str_arg(&args, 0);
            Value::String(match split_host_port(&hp) {
                Some((host, _)) => host,
                None => hp,
            })
        }
        "stripDomain" => Value::String(strip_domain(&str_arg(&args, 0))),
        "humanize" => Value::String(humanize(to_float(arg(&args, 0))?)),
        "humanize1024" => Value::String(humanize1024(to_float(arg(&args, 0))?)),
        "humanizeDuration" => Value::String(humanize_duration(to_float(arg(&args, 0))?)),
        "humanizePercentage" => Value::String(format!("{}%", g4(to_float(arg(&args, 0))? * 100.0))),
        "humanizeTimestamp" => {
            let v = to_float(arg(&args, 0))?;
            if v.is_nan() || v.is_infinite() {
                Value::String(g4(v))
            } else {
                Value::String(crate::gotime::time_string(&float_to_time(v)?))
            }
        }
        "toTime" => {
            let v = to_float(arg(&args, 0))?;
            if v.is_nan() || v.is_infinite() {
                return Err(PromError::NanOrInf);
            }
            Value::Time(float_to_time(v)?)
        }
        "toDuration" => {
            let v = to_float(arg(&args, 0))?;
            Value::Duration(go_f64_to_i64(v * 1e9))
        }
        "parseDuration" => {
            let ns = crate::gotime::parse_prom_duration(&str_arg(&args, 0))?;
            Value::Float(ns as f64 / 1e9)
        }
        "pathPrefix" => Value::String(url_path(env.external_url)),
        "externalURL" => Value::String(env.external_url.to_string()),
        "now" => Value::Float(env.ts_ms as f64 / 1000.0),
        other => return Err(PromError::NotImplemented(other.to_string())),
    })
}

/// Go's conversion of an out-of-range float to int64 (amd64 gives MinInt64).
fn go_f64_to_i64(v: f64) -> i64 {
    // 2^63 as f64: the first value outside int64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if v.is_nan() || !(-LIMIT..LIMIT).contains(&v) {
        i64::MIN
    } else {
        v as i64
    }
}

/// Compiles `pattern`, describing a failure as Go would.
fn compile(pattern: &str) -> Result<Regex, RegexSyntaxError> {
    Regex::new(pattern).map_err(|e| RegexSyntaxError {
        pattern: pattern.to_string(),
        reason: regex_reason(&e),
    })
}

/// How `regexp.MustCompile`'s panic quotes the pattern (`strconv.Quote`
/// unless a raw string literal can hold it).
fn compile_quote(pattern: &str) -> String {
    if pattern.contains(['`', '\r']) || pattern.chars().any(|c| c != '\t' && c.is_control()) {
        crate::gofmt::quote(pattern)
    } else {
        format!("`{pattern}`")
    }
}

/// The reason part of the Rust regex crate's error.
fn regex_reason(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(s) => s
            .lines()
            .rev()
            .find(|l| l.starts_with("error:"))
            .map(|l| l.trim_start_matches("error:").trim().to_string())
            .unwrap_or_else(|| s.clone()),
        other => other.to_string(),
    }
}

/// Prometheus `floatToTime`: seconds to a millisecond-precision instant.
fn float_to_time(v: f64) -> Result<Time, PromError> {
    let ts = v * 1e9;
    if ts > i64::MAX as f64 || ts < i64::MIN as f64 {
        return Err(PromError::TimeOverflow(v));
    }
    let ns = go_f64_to_i64(ts);
    let ms = ns / 1_000_000;
    Ok(Time::from_unix(ms / 1000, (ms % 1000) * 1_000_000))
}

/// Prometheus `humanize`.
pub fn humanize(mut v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    if v.abs() >= 1.0 {
        let mut prefix = "";
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
        return format!("{}{prefix}", g4(v));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}", g4(v))
}

/// Prometheus `humanize1024`.
pub fn humanize1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", g4(v))
}

/// Prometheus `humanizeDuration` (seconds in).
pub fn humanize_duration(mut v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return g4(v);
    }
    if v == 0.0 {
        return format!("{}s", g4(v));
    }
    if v.abs() >= 1.0 {
        let mut sign = "";
        if v < 0.0 {
            sign = "-";
            v = -v;
        }
        let d = go_f64_to_i64(v);
        let (s, m, h, days) = (d % 60, d / 60 % 60, d / 3600 % 24, d / 86_400);
        if days != 0 {
            return format!("{sign}{days}d {h}h {m}m {s}s");
        }
        if h != 0 {
            return format!("{sign}{h}h {m}m {s}s");
        }
        if m != 0 {
            return format!("{sign}{m}m {s}s");
        }
        return format!("{sign}{}s", g4(v));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", g4(v))
}

/// Go's deprecated `strings.Title`.
fn title(s: &str) -> String {
    let is_sep = |c: char| -> bool {
        if c.is_ascii() {
            return !(c.is_ascii_alphanumeric() || c == '_');
        }
        if c.is_alphanumeric() {
            return false;
        }
        c.is_whitespace()
    };
    let mut prev = ' ';
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_sep(prev) {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

/// Go's `net.SplitHostPort`; `None` where Go returns an error.
fn split_host_port(hp: &str) -> Option<(String, String)> {
    let i = hp.rfind(':')?;
    let (host, port) = if hp.starts_with('[') {
        let end = hp.find(']')?;
        if end + 1 == hp.len() {
            return None; // missing port
        }
        if end + 1 != i {
            return None; // "[::1]::12345" and the like
        }
        (&hp[1..end], &hp[i + 1..])
    } else {
        let host = &hp[..i];
        if host.contains(':') {
            return None; // too many colons
        }
        (host, &hp[i + 1..])
    };
    if hp[..i].contains('[') && !hp.starts_with('[') || hp[i + 1..].contains(['[', ']']) {
        return None;
    }
    Some((host.to_string(), port.to_string()))
}

fn is_ip(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
}

/// Prometheus `stripDomain`: keep the first label of a hostname (and port).
fn strip_domain(hp: &str) -> String {
    let (host, port) = match split_host_port(hp) {
        Some((h, p)) => (h, p),
        None => (hp.to_string(), String::new()),
    };
    if is_ip(&host) {
        return hp.to_string();
    }
    let first = host.split('.').next().unwrap_or("").to_string();
    if port.is_empty() {
        first
    } else if first.contains(':') {
        format!("[{first}]:{port}")
    } else {
        format!("{first}:{port}")
    }
}

/// The path part of a URL (Go's `url.URL.Path`).
fn url_path(u: &str) -> String {
    let rest = match u.find("://") {
        Some(i) => &u[i + 3..],
        None => u,
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    match rest.find('/') {
        Some(i) if u.contains("://") => rest[i..].to_string(),
        _ if !u.contains("://") => rest.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(title("aa bb CC"), "Aa Bb CC");
        assert_eq!(title("hello-world foo_bar"), "Hello-World Foo_bar");
        assert_eq!(url_path("http://testhost:9090/path/prefix"), "/path/prefix");
        assert_eq!(url_path("http://testhost:9090"), "");
        assert_eq!(
            split_host_port("[::1]:80"),
            Some(("::1".into(), "80".into()))
        );
        assert_eq!(split_host_port("a:b:c"), None);
        assert_eq!(strip_domain("foo.example.com:12345"), "foo:12345");
        assert_eq!(humanize(-1234.0), "-1.234k");
        assert_eq!(humanize(0.000001), "1u");
        assert_eq!(humanize_duration(-0.5), "-500ms");
    }

    #[test]
    fn error_messages() {
        let compile_err = |p: &str| compile(p).map(|_| ()).map_err(PromError::RegexCompile);
        let cases: Vec<(Result<(), PromError>, &str)> = vec![
            (
                compile_err("("),
                "regexp: Compile(`(`): error parsing regexp: unclosed group: `(`",
            ),
            (
                compile_err("a`("),
                "regexp: Compile(\"a`(\"): error parsing regexp: unclosed group: `a`(`",
            ),
            (
                to_float(&Value::Nil).map(|_| ()),
                "can't convert <nil> to float",
            ),
            (
                sample_arg(&[Value::Int(1)], 0).map(|_| ()),
                "runtime error: invalid memory address or nil pointer dereference",
            ),
            (
                float_to_time(1e300).map(|_| ()),
                "1e+300 cannot be represented as a nanoseconds timestamp since it overflows int64",
            ),
        ];
        for (got, want) in cases {
            assert_eq!(got.map_err(|e| e.to_string()), Err(want.to_string()));
        }
    }
}
