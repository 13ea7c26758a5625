//! Label matchers with Alertmanager's four operators.
//!
//! A [`Matcher`] is built through [`Matcher::new`], which compiles (and
//! anchors) the regex, so a value of this type is always valid. Parsing
//! matchers from text (`foo=~"bar|baz"`, `{a="b",c!="d"}`) lives in
//! [`crate::parse`] when present; this module only models and evaluates.

use std::fmt;

use regex::Regex;

use crate::labels::LabelSet;

/// The four matcher operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchType {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~`
    Regexp,
    /// `!~`
    NotRegexp,
}

impl MatchType {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            MatchType::Equal => "=",
            MatchType::NotEqual => "!=",
            MatchType::Regexp => "=~",
            MatchType::NotRegexp => "!~",
        }
    }

    /// Whether the operator is a negative one (`!=`, `!~`).
    pub fn is_negative(self) -> bool {
        matches!(self, MatchType::NotEqual | MatchType::NotRegexp)
    }

    /// Whether the operator is a regex one (`=~`, `!~`).
    pub fn is_regex(self) -> bool {
        matches!(self, MatchType::Regexp | MatchType::NotRegexp)
    }
}

/// A matcher that could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatcherError {
    #[error("invalid regular expression {value:?} for label {name:?}: {reason}")]
    BadRegex {
        name: String,
        value: String,
        reason: String,
    },
    #[error("invalid label name {0:?}")]
    BadName(String),
    #[error("bad matcher at offset {offset}: {reason}")]
    Syntax { offset: usize, reason: String },
}

/// One label matcher. The regex (for `=~`/`!~`) is anchored at both ends,
/// as in Alertmanager.
#[derive(Debug, Clone)]
pub struct Matcher {
    name: String,
    op: MatchType,
    value: String,
    re: Option<Regex>,
}

impl PartialEq for Matcher {
    fn eq(&self, o: &Self) -> bool {
        self.name == o.name && self.op == o.op && self.value == o.value
    }
}
impl Eq for Matcher {}

impl Matcher {
    /// Builds a matcher, compiling `^(?:value)$` for regex operators.
    pub fn new(
        op: MatchType,
        name: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<Matcher, MatcherError> {
        let name = name.into();
        let value = value.into();
        if name.is_empty() {
            return Err(MatcherError::BadName(name));
        }
        let re = if op.is_regex() {
            Some(
                Regex::new(&format!("^(?:{value})$")).map_err(|e| MatcherError::BadRegex {
                    name: name.clone(),
                    value: value.clone(),
                    reason: e.to_string(),
                })?,
            )
        } else {
            None
        };
        Ok(Matcher {
            name,
            op,
            value,
            re,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn op(&self) -> MatchType {
        self.op
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    /// Whether a label value (the empty string for an absent label)
    /// satisfies the matcher.
    pub fn matches(&self, v: &str) -> bool {
        match (self.op, &self.re) {
            (MatchType::Equal, _) => v == self.value,
            (MatchType::NotEqual, _) => v != self.value,
            (MatchType::Regexp, Some(re)) => re.is_match(v),
            (MatchType::NotRegexp, Some(re)) => !re.is_match(v),
            // Unreachable through `new`; fail safe by not matching.
            (MatchType::Regexp | MatchType::NotRegexp, None) => false,
        }
    }

    /// Whether the label set satisfies the matcher (an absent label is "").
    pub fn matches_labels(&self, ls: &LabelSet) -> bool {
        self.matches(ls.get(&self.name).unwrap_or(""))
    }
}

impl fmt::Display for Matcher {
    /// Alertmanager's form: `name="value"` with the value quoted and escaped.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{:?}", self.name, self.op.as_str(), self.value)
    }
}

/// A conjunction of matchers: all must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Matchers(pub Vec<Matcher>);

impl Matchers {
    /// Whether every matcher matches the label set (true when empty).
    pub fn matches(&self, ls: &LabelSet) -> bool {
        self.0.iter().all(|m| m.matches_labels(ls))
    }
}

impl fmt::Display for Matchers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, m) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{m}")?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(op: MatchType, value: &str, input: &str, expect: bool) {
        let m = Matcher::new(op, "l", value).unwrap();
        assert_eq!(m.matches(input), expect, "{m} against {input:?}");
    }

    #[test]
    fn operators() {
        use MatchType::*;
        check(Equal, "a", "a", true);
        check(Equal, "a", "ab", false);
        check(NotEqual, "a", "b", true);
        check(Regexp, "a|b", "b", true);
        check(Regexp, "a", "ba", false); // anchored
        check(Regexp, ".*", "", true);
        check(NotRegexp, "a.*", "abc", false);
        check(NotRegexp, "a.*", "bc", true);
        check(Regexp, "a.b", "a\nb", false); // Alertmanager compiles `^(?:v)$`: `.` stops at newlines
    }

    #[test]
    fn bad_regex_is_an_error() {
        assert!(matches!(
            Matcher::new(MatchType::Regexp, "l", "("),
            Err(MatcherError::BadRegex { .. })
        ));
        assert!(Matcher::new(MatchType::Equal, "", "x").is_err());
    }
}
