//! The fast path: proving that a JSON record needs no change, in one
//! validating pass, so that it can be passed through untouched.
//!
//! Most log records hold nothing to redact. For them the structural
//! rewrite ([`crate::json`]) is wasted work: it decodes every string and
//! runs the rule prefilter on each one. Instead:
//!
//! 1. **Gate.** The rule prefilter (`RegexSet` of necessary conditions, and
//!    the base64 run scan) runs once over the whole raw line. Every string
//!    without escapes is a contiguous slice of the line, and no prefilter
//!    pattern is anchored, so if the line has no hit, none of those strings
//!    has one either. (Only built-in rules qualify: user patterns may be
//!    anchored, so a config with user patterns never takes this path.)
//! 2. **Scan.** One `serde_json` pass validates the document and visits
//!    it without building it: every object key goes through the key
//!    matcher, nesting depth is checked against the limit, strings with
//!    escapes (decoded by serde) go through the prefilter on their own,
//!    and any string that looks like an embedded JSON document sends the
//!    record to the slow path.
//!
//! Any doubt (a hit, a sensitive key, invalid JSON, too deep) answers
//! "not clean", and the caller runs the full, exact slow path. So the fast
//! path can only skip work, never change a result.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use crate::engine::{looks_like_json, Redactor};

/// Why the scan stopped early; any stop means "take the slow path".
#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("record needs the slow path")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        Stop
    }
}

impl Redactor {
    /// Whether the JSON document `line` certainly comes out of redaction
    /// unchanged (see the module docs). `false` means "maybe not": invalid
    /// JSON included.
    pub(crate) fn json_is_clean(&self, line: &str) -> bool {
        if !self.gate_ok() || self.text_may_match(line) {
            return false;
        }
        let mut de = serde_json::Deserializer::from_str(line);
        let seed = Value { r: self, depth: 0 };
        // serde_json's own errors and our `Stop` both end up here.
        match seed.deserialize(&mut de) {
            Ok(()) => de.end().is_ok(),
            Err(_) => false,
        }
    }
}

/// Visits one JSON value at nesting `depth`.
#[derive(Clone, Copy)]
struct Value<'r> {
    r: &'r Redactor,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for Value<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'r> Value<'r> {
    /// The nesting inside an object or array here, if within the limit.
    fn enter<E: de::Error>(self) -> Result<Value<'r>, E> {
        let depth = self.depth + 1;
        if depth > self.r.limits.max_depth {
            return Err(E::custom(Stop));
        }
        Ok(Value { r: self.r, depth })
    }

    /// A decoded string with escapes: not covered by the gate.
    fn decoded<E: de::Error>(self, v: &str) -> Result<(), E> {
        if looks_like_json(v) || self.r.text_may_match(v) {
            return Err(E::custom(Stop));
        }
        Ok(())
    }
}

impl<'de> Visitor<'de> for Value<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
        // A slice of the line: the gate covered its text.
        if looks_like_json(v) {
            return Err(E::custom(Stop));
        }
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.decoded(v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let inner = self.enter()?;
        while seq.next_element_seed(inner)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let inner = self.enter()?;
        while let Some(key) = map.next_key_seed(Key(self.r))? {
            if self.r.is_sensitive_key(&key) {
                return Err(de::Error::custom(Stop));
            }
            map.next_value_seed(inner)?;
        }
        Ok(())
    }
}

/// Reads an object key, borrowed when it has no escapes.
#[derive(Clone, Copy)]
struct Key<'r>(&'r Redactor);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Cow<'de, str>, E> {
        if self.0.text_may_match(v) {
            return Err(E::custom(Stop));
        }
        Ok(Cow::Owned(v.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use crate::{CustomPattern, RawRedactionConfig, Redactor};

    /// `line` takes the fast path exactly when `clean`; and whenever it
    /// does, the exact slow path agrees that nothing changes.
    fn check(r: &Redactor, line: &str, clean: bool) {
        assert_eq!(r.json_is_clean(line), clean, "fast path for {line}");
        let mut tally = Vec::new();
        let slow = r.json_document(line, 0, &mut tally);
        if clean {
            assert_eq!(slow, Ok(Some(line.to_string())), "slow path for {line}");
            assert!(tally.is_empty());
        }
    }

    #[test]
    fn clean_lines_only() {
        let r = Redactor::with_defaults().unwrap();
        for (line, clean) in [
            (
                r#"{"ts":"2026-11-22T07:46:09.123+10:00","level":"info","msg":"ok"}"#,
                true,
            ),
            (
                r#"{"a":[1,2.5,-3e2,true,false,null,{"b":"c"}],"d":{}}"#,
                true,
            ),
            (r#" {"padded" : "yes"} "#, true),
            (r#"{"msg":"line one\nline two \"quoted\" \u00e9"}"#, true),
            (
                r#"{"path":"/api/v1/orders/42","status":200,"ua":"curl/8.5"}"#,
                true,
            ),
            (r#"{"created_at":"x","session":"y","offset":3}"#, true),
            ("[1,2,3]", true),
            // Something to redact: a value, a key, an escaped value.
            (r#"{"msg":"mail bob@example.com"}"#, false),
            (r#"{"password":"x"}"#, false),
            (r#"{"nested":{"deeper":{"api_key":1}}}"#, false),
            (r#"{"msg":"Bearer\tabcdef123456"}"#, false),
            (r#"{"msg":"bob\u0040example.com"}"#, false),
            (r#"{"k\u0065y":"10.1.2.3"}"#, false),
            // Embedded JSON goes to the slow path.
            (r#"{"log":"{\"a\":1}"}"#, false),
            (r#"{"log":"[1]"}"#, false),
            // Not valid JSON, or trailing data.
            (r#"{"a":1"#, false),
            (r#"{"a":1} x"#, false),
            (r#"{"a":01}"#, false),
        ] {
            check(&r, line, clean);
        }
    }

    #[test]
    fn depth_limit_and_user_patterns_take_the_slow_path() {
        let r = Redactor::with_defaults().unwrap();
        let deep = format!("{}{}", "[".repeat(64), "]".repeat(64));
        check(&r, &deep, true);
        let too_deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        check(&r, &too_deep, false);

        let mut cfg = RawRedactionConfig::default().validate("t").unwrap();
        cfg.custom.push(CustomPattern {
            name: "emp".into(),
            regex: regex::Regex::new("^EMP").unwrap(),
            action: crate::Action::Mask,
        });
        let r = Redactor::new(&cfg).unwrap();
        check(&r, r#"{"a":"b"}"#, false);
    }
}
