//! Redaction of OTLP attributes through the shared engine
//! ([`watchfire_redact::Redactor`]). **Pure.**
//!
//! - A string under a sensitive key (`password`, `authorization`, …) is
//!   replaced whole; so are ints, doubles and bytes under one (they become
//!   the replacement string). Arrays and key-value lists under a sensitive
//!   key have every leaf replaced; booleans are kept.
//! - Every other string goes through the value patterns (email, cards,
//!   tokens, …); so do attribute keys, span and event names and status
//!   messages; bytes that are UTF-8 text are redacted as text (and become a
//!   string when something was replaced).
//! - Fail closed: a value nested deeper than the engine's `max_depth`, or a
//!   string longer than its `max_record_bytes`, is an error; the caller
//!   drops the span (or, for resource attributes, the resource's spans).

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use watchfire_redact::{Limits, RedactError, Redactor, Stats};

/// The engine plus the limits it was built with.
pub struct AttrRedactor<'a> {
    pub redactor: &'a Redactor,
    pub limits: Limits,
}

impl AttrRedactor<'_> {
    fn check_len(&self, s: &str) -> Result<(), RedactError> {
        if s.len() > self.limits.max_record_bytes {
            return Err(RedactError::TooLarge {
                size: s.len(),
                limit: self.limits.max_record_bytes,
            });
        }
        Ok(())
    }

    /// Redacts free text in place (names, messages).
    pub fn text(&self, s: &mut String, stats: &mut Stats) -> Result<(), RedactError> {
        self.check_len(s)?;
        if let Cow::Owned(o) = self.redactor.redact_text(s, stats) {
            *s = o;
        }
        Ok(())
    }

    /// Redacts a list of attributes in place.
    pub fn attributes(&self, kvs: &mut [KeyValue], stats: &mut Stats) -> Result<(), RedactError> {
        self.kvs(kvs, None, 1, stats)
    }

    fn check_depth(&self, depth: usize) -> Result<(), RedactError> {
        if depth > self.limits.max_depth {
            return Err(RedactError::TooDeep {
                limit: self.limits.max_depth,
            });
        }
        Ok(())
    }

    fn kvs(
        &self,
        kvs: &mut [KeyValue],
        sensitive: Option<&str>,
        depth: usize,
        stats: &mut Stats,
    ) -> Result<(), RedactError> {
        self.check_depth(depth)?;
        for kv in kvs {
            let own = self
                .redactor
                .is_sensitive_key(&kv.key)
                .then_some(kv.key.as_str());
            let key_for_value = sensitive.or(own).map(str::to_string);
            if let Some(v) = kv.value.as_mut() {
                self.any(v, &kv.key, key_for_value.as_deref(), depth, stats)?;
            }
            self.text(&mut kv.key, stats)?;
        }
        Ok(())
    }

    /// `key` is the attribute's own key, `sensitive` the sensitive key the
    /// value sits under, if any.
    fn any(
        &self,
        v: &mut AnyValue,
        key: &str,
        sensitive: Option<&str>,
        depth: usize,
        stats: &mut Stats,
    ) -> Result<(), RedactError> {
        self.check_depth(depth)?;
        let Some(val) = v.value.as_mut() else {
            return Ok(());
        };
        let replace_whole = |s: &str, stats: &mut Stats| -> Option<String> {
            sensitive.map(|k| self.redactor.redact_attribute(k, s, stats).into_owned())
        };
        match val {
            Value::StringValue(s) => {
                self.check_len(s)?;
                let out = match sensitive {
                    Some(k) => self.redactor.redact_attribute(k, s, stats),
                    None => self.redactor.redact_attribute(key, s, stats),
                };
                if let Cow::Owned(o) = out {
                    *s = o;
                }
            }
            Value::IntValue(i) => {
                if let Some(r) = replace_whole(&i.to_string(), stats) {
                    *val = Value::StringValue(r);
                }
            }
            Value::DoubleValue(d) => {
                if let Some(r) = replace_whole(&d.to_string(), stats) {
                    *val = Value::StringValue(r);
                }
            }
            Value::BytesValue(b) => {
                if b.len() > self.limits.max_record_bytes {
                    return Err(RedactError::TooLarge {
                        size: b.len(),
                        limit: self.limits.max_record_bytes,
                    });
                }
                match (sensitive, std::str::from_utf8(b)) {
                    (Some(k), _) if !b.is_empty() => {
                        // Not text: mask a fixed stand-in.
                        let text = std::str::from_utf8(b).unwrap_or("bytes");
                        *val = Value::StringValue(
                            self.redactor.redact_attribute(k, text, stats).into_owned(),
                        );
                    }
                    (None, Ok(t)) => {
                        if let Cow::Owned(o) = self.redactor.redact_text(t, stats) {
                            *val = Value::StringValue(o);
                        }
                    }
                    _ => {}
                }
            }
            Value::ArrayValue(a) => {
                for item in &mut a.values {
                    self.any(item, key, sensitive, depth + 1, stats)?;
                }
            }
            Value::KvlistValue(l) => {
                self.kvs(&mut l.values, sensitive, depth + 1, stats)?;
            }
            Value::BoolValue(_) | Value::StringValueStrindex(_) => {}
        }
        Ok(())
    }

    /// Redacts a span in place: name, attributes, events (name and
    /// attributes), link attributes, status message.
    pub fn span(&self, s: &mut Span, stats: &mut Stats) -> Result<(), RedactError> {
        self.text(&mut s.name, stats)?;
        self.attributes(&mut s.attributes, stats)?;
        for e in &mut s.events {
            self.text(&mut e.name, stats)?;
            self.attributes(&mut e.attributes, stats)?;
        }
        for l in &mut s.links {
            self.attributes(&mut l.attributes, stats)?;
        }
        if let Some(st) = s.status.as_mut() {
            self.text(&mut st.message, stats)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::common::v1::{ArrayValue, KeyValueList};

    fn s(v: &str) -> AnyValue {
        AnyValue {
            value: Some(Value::StringValue(v.into())),
        }
    }
    fn kv(k: &str, v: AnyValue) -> KeyValue {
        KeyValue {
            key: k.into(),
            value: Some(v),
            key_strindex: 0,
        }
    }
    fn int(i: i64) -> AnyValue {
        AnyValue {
            value: Some(Value::IntValue(i)),
        }
    }
    fn list(kvs: Vec<KeyValue>) -> AnyValue {
        AnyValue {
            value: Some(Value::KvlistValue(KeyValueList { values: kvs })),
        }
    }
    fn arr(vs: Vec<AnyValue>) -> AnyValue {
        AnyValue {
            value: Some(Value::ArrayValue(ArrayValue { values: vs })),
        }
    }
    fn nested(depth: usize) -> AnyValue {
        let mut v = s("leaf");
        for _ in 0..depth {
            v = list(vec![kv("k", v)]);
        }
        v
    }

    fn check(input: Vec<KeyValue>, want: Result<Vec<KeyValue>, &str>) {
        let r = Redactor::with_defaults().unwrap();
        let ar = AttrRedactor {
            redactor: &r,
            limits: Limits {
                max_record_bytes: 1024,
                ..Limits::default()
            },
        };
        let mut stats = r.stats();
        let mut got = input.clone();
        match (ar.attributes(&mut got, &mut stats), want) {
            (Ok(()), Ok(w)) => assert_eq!(got, w, "input {input:?}"),
            (Err(e), Err(reason)) => assert_eq!(e.reason(), reason, "input {input:?}"),
            (g, w) => panic!("input {input:?}: got {g:?} / {got:?}, want {w:?}"),
        }
    }

    #[test]
    fn attributes() {
        let m = |rule: &str| s(&format!("[REDACTED:{rule}]"));
        check(
            vec![kv("http.method", s("GET"))],
            Ok(vec![kv("http.method", s("GET"))]),
        );
        check(
            vec![kv("user", s("mail bob@example.com"))],
            Ok(vec![kv("user", s("mail [REDACTED:email]"))]),
        );
        check(
            vec![kv("password", s("hunter2"))],
            Ok(vec![kv("password", m("password"))]),
        );
        check(
            vec![kv("password", int(1234))],
            Ok(vec![kv("password", m("password"))]),
        );
        check(
            vec![kv("count", int(1234))],
            Ok(vec![kv("count", int(1234))]),
        );
        check(
            vec![kv(
                "headers",
                list(vec![
                    kv("authorization", s("Basic abc")),
                    kv("accept", s("*/*")),
                ]),
            )],
            Ok(vec![kv(
                "headers",
                list(vec![
                    kv("authorization", m("authorization")),
                    kv("accept", s("*/*")),
                ]),
            )]),
        );
        check(
            vec![kv(
                "token",
                arr(vec![
                    s("a1"),
                    int(2),
                    AnyValue {
                        value: Some(Value::BoolValue(true)),
                    },
                ]),
            )],
            Ok(vec![kv(
                "token",
                arr(vec![
                    m("token"),
                    m("token"),
                    AnyValue {
                        value: Some(Value::BoolValue(true)),
                    },
                ]),
            )]),
        );
        check(
            vec![kv("emails", arr(vec![s("a@example.com")]))],
            Ok(vec![kv("emails", arr(vec![s("[REDACTED:email]")]))]),
        );
        check(
            vec![kv(
                "raw",
                AnyValue {
                    value: Some(Value::BytesValue(b"to bob@example.com".to_vec())),
                },
            )],
            Ok(vec![kv("raw", s("to [REDACTED:email]"))]),
        );
        let bin = AnyValue {
            value: Some(Value::BytesValue(vec![0xff, 0xfe])),
        };
        check(vec![kv("raw", bin.clone())], Ok(vec![kv("raw", bin)]));
        check(
            vec![kv("deep", nested(10))],
            Ok(vec![kv("deep", nested(10))]),
        );
        check(vec![kv("deep", nested(1000))], Err("too_deep"));
        check(vec![kv("big", s(&"x".repeat(2000)))], Err("too_large"));
        check(
            vec![kv("novalue", AnyValue { value: None })],
            Ok(vec![kv("novalue", AnyValue { value: None })]),
        );
    }

    #[test]
    fn span_fields() {
        let r = Redactor::with_defaults().unwrap();
        let ar = AttrRedactor {
            redactor: &r,
            limits: Limits::default(),
        };
        let mut stats = r.stats();
        let mut sp = Span {
            name: "GET /u/bob@example.com".into(),
            events: vec![opentelemetry_proto::tonic::trace::v1::span::Event {
                name: "mail bob@example.com".into(),
                attributes: vec![kv("secret", s("x"))],
                ..Default::default()
            }],
            status: Some(opentelemetry_proto::tonic::trace::v1::Status {
                message: "for bob@example.com".into(),
                code: 2,
            }),
            ..Default::default()
        };
        ar.span(&mut sp, &mut stats).unwrap();
        assert_eq!(sp.name, "GET /u/[REDACTED:email]");
        assert_eq!(sp.events[0].name, "mail [REDACTED:email]");
        assert_eq!(
            sp.events[0].attributes,
            vec![kv("secret", s("[REDACTED:secret]"))]
        );
        assert_eq!(sp.status.unwrap().message, "for [REDACTED:email]");
        assert_eq!(stats.count("email"), 3);
    }
}
