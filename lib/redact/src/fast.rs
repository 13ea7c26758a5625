//! The fast path: proving that a JSON record needs no change, in one
//! validating pass, so that it can be passed through untouched.
//!
//! Most log records hold nothing to redact. For them the structural
//! rewrite ([`crate::json`]) is wasted work: it decodes every string and
//! runs the rule prefilter on each one. Instead:
//!
//! 1. **Gate.** The rule prefilter (the byte-scan gate of [`crate::gate`]
//!    on ASCII text, then, only if it says "maybe", the `RegexSet` of
//!    necessary conditions; and the base64 run scan) runs once over the
//!    whole raw line (the gate skipping the colons right after a `"`,
//!    which no match inside a string can end at). Every string
//!    without escapes is a contiguous slice of the line, and no prefilter
//!    pattern is anchored, so if the line has no hit, none of those strings
//!    has one either. (Only built-in rules qualify: user patterns may be
//!    anchored, so a config with user patterns never takes this path.)
//! 2. **Scan.** One hand-written pass ([`crate::scan`]) validates the
//!    document without building it: every object key goes through the
//!    key matcher, nesting depth is checked against the limit, strings
//!    with escapes (decoded by `serde_json`) go through the prefilter on
//!    their own, and any string that looks like an embedded JSON document
//!    sends the record to the slow path. The same pass keeps the
//!    top-level string fields for the caller ([`crate::Fields`]).
//!
//! Any doubt (a hit, a sensitive key, invalid JSON, too deep) answers
//! "not clean", and the caller runs the full, exact slow path. So the fast
//! path can only skip work, never change a result.

use crate::engine::Redactor;
use crate::scan::{report_fields, Scanner};
use crate::Fields;

impl Redactor {
    /// Whether the JSON document `line` certainly comes out of redaction
    /// unchanged (see the module docs). `false` means "maybe not": invalid
    /// JSON included. When clean and `fields` is given, the top-level
    /// string fields are reported to it.
    pub(crate) fn json_is_clean(&self, line: &str, fields: Option<&mut (dyn Fields + '_)>) -> bool {
        if !self.gate_ok() || self.strings_may_match(line) {
            return false;
        }
        let mut sc = Scanner::new(Some(self), line, fields.is_some());
        if sc.document().is_err() {
            return false;
        }
        if let Some(f) = fields {
            if !sc.report(f) {
                report_fields(line, f);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use crate::{CustomPattern, RawRedactionConfig, Redactor};

    /// `line` takes the fast path exactly when `clean`; and whenever it
    /// does, the exact slow path agrees that nothing changes.
    fn check(r: &Redactor, line: &str, clean: bool) {
        assert_eq!(r.json_is_clean(line, None), clean, "fast path for {line}");
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
