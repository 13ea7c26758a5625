//! Alertmanager's matcher text syntax (`pkg/labels/parse.go`, the classic
//! parser of Alertmanager 0.25): `foo="bar"`, `foo=~"a|b"`, `foo!=bar`,
//! unquoted values, and lists with an optional `{...}` around them.
//!
//! One matcher is three tokens: a label name (`[a-zA-Z_:][a-zA-Z0-9_:]*`),
//! an operator (`=`, `!=`, `=~`, `!~`) and a value that may be wrapped in
//! double quotes. Whitespace around each token is dropped. Inside the value
//! `\"`, `\n` and `\\` are escapes; any other backslash is literal. An
//! unescaped `"` may only open and close the value.
//!
//! A list is split on commas outside double quotes; one leading `{` and one
//! trailing `}` are optional, and a trailing comma is tolerated.
//! [`escape_value`] is the inverse used when printing (`name="value"`).

use crate::matcher::{MatchType, Matcher, MatcherError};

/// Go's `\s` in RE2: `[\t\n\f\r ]`.
fn is_go_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

fn syntax(offset: usize, reason: String) -> MatcherError {
    MatcherError::Syntax { offset, reason }
}

/// Parses a comma-separated list of matchers, e.g. `{foo="bar", baz=~"x|y"}`
/// or `foo=bar,dings!=bums`. The empty string (or `{}`) is no matchers.
pub fn parse_matchers(s: &str) -> Result<Vec<Matcher>, MatcherError> {
    let inner = s.strip_prefix('{').unwrap_or(s);
    let inner = inner.strip_suffix('}').unwrap_or(inner);
    let mut tokens: Vec<&str> = Vec::new();
    let (mut inside_quotes, mut escaped, mut start) = (false, false, 0usize);
    for (i, c) in inner.char_indices() {
        match c {
            ',' if !inside_quotes => {
                tokens.push(&inner[start..i]);
                start = i + 1;
                continue;
            }
            // Go's switch does not reset `escaped` for a quoted comma.
            ',' => {}
            '"' => {
                if escaped {
                    escaped = false;
                } else {
                    inside_quotes = !inside_quotes;
                }
            }
            '\\' => escaped = !escaped,
            _ => escaped = false,
        }
    }
    let last = inner[start..].trim_matches(is_go_space);
    if !last.is_empty() {
        tokens.push(last);
    }
    tokens.into_iter().map(parse_matcher).collect()
}

/// Parses one matcher such as `foo="bar"`, `foo=~a|b` or `foo != "x"`.
pub fn parse_matcher(s: &str) -> Result<Matcher, MatcherError> {
    let bad = || syntax(0, format!("bad matcher format: {s}"));
    let rest = s.trim_start_matches(is_go_space);
    let name_len = rest
        .char_indices()
        .find(|&(i, c)| {
            !(c.is_ascii_alphabetic() || c == '_' || c == ':' || (i > 0 && c.is_ascii_digit()))
        })
        .map(|(i, _)| i)
        .unwrap_or(rest.len());
    if name_len == 0 {
        return Err(bad());
    }
    let name = &rest[..name_len];
    let rest = rest[name_len..].trim_start_matches(is_go_space);
    let (op, rest) = if let Some(r) = rest.strip_prefix("=~") {
        (MatchType::Regexp, r)
    } else if let Some(r) = rest.strip_prefix('=') {
        (MatchType::Equal, r)
    } else if let Some(r) = rest.strip_prefix("!=") {
        (MatchType::NotEqual, r)
    } else if let Some(r) = rest.strip_prefix("!~") {
        (MatchType::NotRegexp, r)
    } else {
        return Err(bad());
    };
    let raw = rest.trim_matches(is_go_space);
    let value_offset = s.len() - rest.trim_start_matches(is_go_space).len();
    let value = unescape(raw, value_offset)?;
    Matcher::new(op, name, value)
}

/// Undoes OpenMetrics escaping in a (possibly quoted) matcher value, with
/// Alertmanager's tolerance for stray backslashes and line feeds. The value
/// starts at byte `offset` of the matcher, where a syntax error points.
fn unescape(raw_value: &str, offset: usize) -> Result<String, MatcherError> {
    let unquoted_err = || {
        syntax(
            offset,
            format!("matcher value contains unescaped double quote: {raw_value}"),
        )
    };
    let (raw, mut expect_trailing_quote) = match raw_value.strip_prefix('"') {
        Some(r) => (r, true),
        None => (raw_value, false),
    };
    let mut value = String::with_capacity(raw.len());
    let mut escaped = false;
    for (i, c) in raw.char_indices() {
        if escaped {
            escaped = false;
            match c {
                'n' => value.push('\n'),
                '"' | '\\' => value.push(c),
                _ => {
                    value.push('\\');
                    value.push(c);
                }
            }
            continue;
        }
        match c {
            '\\' if i < raw.len() - 1 => escaped = true,
            '\\' => value.push('\\'),
            '"' => {
                if !expect_trailing_quote || i < raw.len() - 1 {
                    return Err(unquoted_err());
                }
                expect_trailing_quote = false;
            }
            _ => value.push(c),
        }
    }
    if expect_trailing_quote {
        return Err(unquoted_err());
    }
    Ok(value)
}

/// Escapes a matcher value the way Alertmanager prints it inside double
/// quotes (`\` → `\\`, line feed → `\n`, `"` → `\"`), so that
/// `format!("{name}{op}\"{}\"", escape_value(v))` is Alertmanager's
/// `Matcher.String()`.
pub fn escape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len() + 2);
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' => out.push_str("\\\""),
            _ => out.push(c),
        }
    }
    out
}

/// Alertmanager's `Matcher.String()`: `name="value"` with [`escape_value`].
pub fn matcher_string(m: &Matcher) -> String {
    format!(
        "{}{}\"{}\"",
        m.name(),
        m.op().as_str(),
        escape_value(m.value())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `expect`: the matchers printed as `name op "value"` joined by `,`,
    /// or `Err` with a fragment of the message.
    fn check(input: &str, expect: Result<&str, &str>) {
        let got = parse_matchers(input);
        match (got, expect) {
            (Ok(ms), Ok(want)) => {
                let s: Vec<String> = ms.iter().map(matcher_string).collect();
                assert_eq!(s.join(","), want, "input {input:?}");
            }
            (Err(e), Err(frag)) => {
                assert!(e.to_string().contains(frag), "input {input:?}: {e}")
            }
            (got, want) => panic!("input {input:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn matcher_lists() {
        check(r#"foo="bar""#, Ok(r#"foo="bar""#));
        check(r#"foo=~"a|b""#, Ok(r#"foo=~"a|b""#));
        check("foo!=bar", Ok(r#"foo!="bar""#));
        check("foo!~bar.*", Ok(r#"foo!~"bar.*""#));
        check(" foo = bar ", Ok(r#"foo="bar""#));
        check("foo=", Ok(r#"foo="""#));
        check(r#"foo="""#, Ok(r#"foo="""#));
        check(
            r#"{foo = "bar", dings != "bums", }"#,
            Ok(r#"foo="bar",dings!="bums""#),
        );
        check("foo=bar,dings!=bums", Ok(r#"foo="bar",dings!="bums""#));
        check("{}", Ok(""));
        check("", Ok(""));
        check(r#"{foo="bar,baz"}"#, Ok(r#"foo="bar,baz""#));
        check(
            r#"quote="She said: \"Hi, ladies!\"""#,
            Ok(r#"quote="She said: \"Hi, ladies!\"""#),
        );
        check(r#"statuscode=~"5..""#, Ok(r#"statuscode=~"5..""#));
        check(r#"foo="a\nb""#, Ok(r#"foo="a\nb""#));
        check(r#"foo="a\\b""#, Ok(r#"foo="a\\b""#));
        check(r#"foo=a\b"#, Ok(r#"foo="a\\b""#)); // stray backslash is literal
        check(r#"foo=ab\"#, Ok(r#"foo="ab\\""#)); // trailing backslash is literal
        check("a:b_c=1", Ok(r#"a:b_c="1""#));
        check("foo=~bar=baz", Ok(r#"foo=~"bar=baz""#));
        check(r#"foo==bar"#, Ok(r#"foo="=bar""#)); // Alertmanager keeps the second `=`
    }

    #[test]
    fn invalid_matchers() {
        check("foo", Err("bad matcher format: foo"));
        check("1foo=bar", Err("bad matcher format"));
        check("foo-bar=baz", Err("bad matcher format"));
        check("foo=bar,,baz=qux", Err("bad matcher format"));
        check(
            r#"foo = "bar"#,
            Err(r#"bad matcher at offset 6: matcher value contains unescaped double quote: "bar"#),
        );
        check(r#"foo=bar""#, Err("unescaped double quote"));
        check(r#"foo="b"ar""#, Err("unescaped double quote"));
        check(r#"foo=~"(""#, Err("invalid regular expression"));
        check("=bar", Err("bad matcher format"));
        check("foo<bar", Err("bad matcher format"));
    }

    #[test]
    fn escape_round_trip() {
        for v in ["plain", "a\"b", "a\\b", "line\nfeed", "ünï"] {
            let text = format!("l=\"{}\"", escape_value(v));
            let m = parse_matcher(&text).unwrap();
            assert_eq!(m.value(), v, "{text}");
        }
    }
}
