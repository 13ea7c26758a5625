//! The fast path: one validating pass over a JSON record that proves it
//! needs no change, or plans the few changes it needs.
//!
//! Most log records hold nothing to redact, and most of those that do
//! hold it in one or two strings. The structural rewrite
//! ([`crate::json`]) decodes every string and runs the rule prefilter on
//! each one. Instead:
//!
//! 1. **Marks.** The whole-line checks of the byte-scan gate
//!    ([`crate::gate::Gate::marks`]: digit runs, IBAN starts,
//!    case-sensitive literals, base64 runs) mark a byte of every place
//!    where a prefilter match may sit.
//! 2. **Scan.** One hand-written pass ([`crate::scan`]) validates the
//!    document without building it and plans its redaction: the string
//!    loop runs the gate's local shape checks at trigger bytes (`@ + : .
//!    =`, spaces, non-ASCII); a string with a firing trigger or a mark,
//!    or with escapes whose decoded text may match, is listed for the
//!    text rules; so is a number holding a mark (or with one in the
//!    spaces just before it: a digit run may start there) or whose
//!    exponent's `+` fires the phone trigger, since the rewrite runs the
//!    text rules on a number's literal text too; every key goes through
//!    the key matcher, and the strings and numbers under a sensitive key
//!    are listed for replacement. Nesting
//!    over the limit and embedded JSON documents stop the pass. The same
//!    pass keeps the top-level string fields for the caller
//!    ([`crate::Fields`]).
//! 3. **Patch.** Nothing listed: the record is passed through untouched.
//!    Otherwise the listed tokens get exactly what the rewrite gives them
//!    (the text rules' result, or the key rule's replacement, re-encoded
//!    by `serde_json`; a number the text rules change becomes a string
//!    holding the redacted text, one they leave is copied as written) and
//!    everything else is copied.
//!
//! A string or number that is not listed cannot match any text rule
//! (every prefilter match inside it would have fired a trigger or left a
//! mark in it, or, for a number, in the spaces before it), and the
//! rewrite leaves such a token as it is; everything else is done as the
//! rewrite does it. Only built-in rules qualify (user
//! patterns may be anchored, and the gate does not know them), so a config
//! with user patterns never takes this path; any doubt (invalid JSON, too
//! deep, embedded JSON, an undecodable string) takes the exact slow path.
//! `tests/fastpath.rs` checks both agree, byte for byte.

use std::borrow::Cow;

use crate::engine::Redactor;
use crate::scan::{report_fields, EditKind, Scanner};
use crate::{Fields, RedactError};

/// What the fast path made of a record.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Fast {
    /// Nothing to change.
    Clean,
    /// The redacted record.
    Changed(String),
    /// Take the exact slow path.
    Slow,
}

impl Redactor {
    /// The fast path over the JSON document `line` (see the module docs).
    /// Rule hits go to `tally` (nothing is left there on [`Fast::Slow`]).
    /// When `fields` is given, the top-level string fields of the output
    /// are reported to it (unless [`Fast::Slow`]).
    pub(crate) fn json_fast(
        &self,
        line: &str,
        fields: Option<&mut (dyn Fields + '_)>,
        tally: &mut Vec<usize>,
    ) -> Fast {
        if !self.gate_ok() {
            return Fast::Slow;
        }
        let mut marks = Vec::new();
        if let Some(g) = &self.quick {
            g.marks(line.as_bytes(), self.has_run_rules(), &mut marks);
            if marks.len() > 1 {
                marks.sort_unstable();
            }
        }
        let mut sc = Scanner::gated(self, line, fields.is_some(), &marks);
        if sc.document().is_err() {
            return Fast::Slow;
        }
        if !sc.edits.is_empty() {
            let before = tally.len();
            match self.patch(line, &sc, tally) {
                Ok(Some(out)) => {
                    if let Some(f) = fields {
                        if !sc.report_unedited(f) {
                            report_fields(&out, f);
                        }
                    }
                    return Fast::Changed(out);
                }
                Ok(None) => {}
                Err(_) => {
                    tally.truncate(before);
                    return Fast::Slow;
                }
            }
        }
        if let Some(f) = fields {
            if !sc.report(f) {
                report_fields(line, f);
            }
        }
        Fast::Clean
    }

    /// Applies the plan of `sc` to `line`: `None` when nothing changed.
    fn patch(
        &self,
        line: &str,
        sc: &Scanner<'_>,
        tally: &mut Vec<usize>,
    ) -> Result<Option<String>, RedactError> {
        let mut out = String::new();
        let mut done = 0;
        for e in &sc.edits {
            let raw = &line[e.start..e.end];
            let text = if raw.starts_with('"') {
                crate::json::decode(raw)?
            } else {
                // A number: its literal text.
                Cow::Borrowed(raw)
            };
            let new = match e.kind {
                EditKind::Text => match self.text_inner(&text, tally) {
                    Cow::Borrowed(_) => continue,
                    Cow::Owned(red) => red,
                },
                EditKind::Replace(rule) => {
                    let mut rep = String::new();
                    self.replace(rule, &text, &mut rep, tally);
                    rep
                }
            };
            if out.capacity() == 0 {
                out.reserve(line.len() + 64);
            }
            out.push_str(&line[done..e.start]);
            crate::json::push_encoded(&mut out, &new)?;
            done = e.end;
        }
        if done == 0 {
            return Ok(None);
        }
        out.push_str(&line[done..]);
        Ok(Some(out))
    }
}

#[cfg(test)]
mod tests {
    use super::Fast;
    use crate::{CustomPattern, RawRedactionConfig, Redactor};

    /// The gate's marks over `line`, in order (what the fast path scans
    /// with).
    fn sorted_marks(r: &Redactor, line: &str) -> Vec<u32> {
        let mut m = Vec::new();
        r.quick
            .as_ref()
            .unwrap()
            .marks(line.as_bytes(), true, &mut m);
        m.sort_unstable();
        m
    }

    /// `line` takes the fast path exactly when `clean`; and whenever it
    /// does, the exact slow path agrees that nothing changes.
    fn check(r: &Redactor, line: &str, clean: bool) {
        let fast = r.json_fast(line, None, &mut Vec::new());
        assert_eq!(fast == Fast::Clean, clean, "fast path for {line}: {fast:?}");
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

    /// Random strings from [`PIECES`](crate::gate::tests::PIECES) (and non-ASCII ones) as keys and
    /// values of a JSON record: whenever the `RegexSet` or the base64 run
    /// scan matches a string, the fast path's plan lists it (so the text
    /// rules run on it), and the plan agrees with the exact rewrite.
    #[test]
    fn plan_lists_every_string_the_rules_may_match() {
        use crate::gate::tests::PIECES;
        use crate::scan::Scanner;
        let r = crate::Redactor::with_defaults().unwrap();
        let mut next = crate::gate::tests::xorshift(0x2545_f491_4f6c_dd1d);
        let (mut hits, mut n) = (0, 0);
        while n < 40_000 {
            let (kn, vn) = (1 + next() % 4, 1 + next() % 14);
            let mut piece = |n: u64| -> String {
                (0..n)
                    .map(|_| match next() % 40 {
                        0 => "é",
                        1 => "ſ",
                        _ => PIECES[(next() % PIECES.len() as u64) as usize],
                    })
                    .filter(|p| !p.contains('"') && !p.contains('\\'))
                    .collect()
            };
            let (k, v) = (piece(kn), piece(vn));
            let line = format!(r#"{{"id":"{k}","{k}":"{v}","n":{{"m":["{v} x","a {k}"]}}}}"#);
            n += 1;
            let marks = sorted_marks(&r, &line);
            let mut sc = Scanner::gated(&r, &line, false, &marks);
            if sc.document().is_err() {
                // Embedded JSON or too deep: the slow path takes it.
                continue;
            }
            // Listed for the text rules, or for replacement under a
            // sensitive key (where the rewrite runs no text rule either).
            let listed = |s: &str| {
                sc.edits
                    .iter()
                    .any(|e| line.get(e.start + 1..e.end.saturating_sub(1)) == Some(s))
            };
            for s in [&k, &v, &format!("{v} x"), &format!("a {k}")] {
                if r.set_is_match(s) || crate::engine::has_base64_run(s) {
                    hits += 1;
                    assert!(listed(s), "{s:?} not listed in {line}");
                }
            }
            let fast = r.json_fast(&line, None, &mut Vec::new());
            let slow = r.json_document(&line, 0, &mut Vec::new());
            match (fast, slow) {
                (Fast::Clean, Ok(Some(out))) => assert_eq!(out, line),
                (Fast::Changed(a), Ok(Some(b))) => assert_eq!(a, b),
                (Fast::Slow, _) => {}
                (f, s) => panic!("{line}: fast {f:?}, slow {s:?}"),
            }
        }
        assert!(
            hits > 5_000,
            "too few matching strings to mean anything: {hits}"
        );
    }

    /// Random numbers (digit runs of every length around the card and
    /// base64 thresholds, signs, fractions, exponents with `+`), after
    /// random whitespace at every place a number can be: whenever the
    /// `RegexSet` or the base64 run scan matches a number's text, the
    /// plan lists that number, and the fast path agrees with the rewrite.
    #[test]
    fn plan_lists_every_number_the_rules_may_match() {
        use crate::scan::Scanner;
        const DIGITS: &[&str] = &[
            "4111",
            "1111",
            "0",
            "7",
            "12",
            "555",
            "4111111111111111",
            "12345678",
            "99999",
        ];
        const WS: &[&str] = &["", " ", "  ", "\t", "\n ", " \r\n  "];
        let r = crate::Redactor::with_defaults().unwrap();
        let mut next = crate::gate::tests::xorshift(0x5851_f42d_4c95_7f2d);
        let (mut hits, mut n) = (0, 0);
        while n < 30_000 {
            n += 1;
            /// A run of 1 to `max` pieces of [`DIGITS`], no leading 0.
            fn run(next: &mut dyn FnMut() -> u64, max: u64) -> String {
                let k = 1 + next() % max;
                let mut s: String = (0..k)
                    .map(|_| DIGITS[(next() % DIGITS.len() as u64) as usize])
                    .collect();
                if s.len() > 1 && s.starts_with('0') {
                    s.replace_range(..1, "4");
                }
                s
            }
            let mut number = || {
                let mut s = String::new();
                if next().is_multiple_of(3) {
                    s.push('-');
                }
                s.push_str(&run(&mut next, 8));
                if next().is_multiple_of(4) {
                    s.push('.');
                    s.push_str(&run(&mut next, 6));
                }
                if next().is_multiple_of(4) {
                    s.push_str(["e", "E+", "e-", "e+"][(next() % 4) as usize]);
                    s.push_str(&run(&mut next, 4));
                }
                s
            };
            let nums = [number(), number(), number()];
            let mut ws = || WS[(next() % WS.len() as u64) as usize];
            // Each number's span, as the line is built.
            let mut line = String::new();
            let mut spans = Vec::new();
            for (i, part) in [r#"{"a":"#, r#","b":["#, r#",{"c":"#, "}]}"]
                .iter()
                .enumerate()
            {
                line.push_str(part);
                if let Some(num) = nums.get(i) {
                    line.push_str(ws());
                    spans.push((line.len(), line.len() + num.len()));
                    line.push_str(num);
                    line.push_str(ws());
                }
            }
            let marks = sorted_marks(&r, &line);
            let mut sc = Scanner::gated(&r, &line, false, &marks);
            assert!(sc.document().is_ok(), "{line}");
            for (num, &(start, end)) in nums.iter().zip(&spans) {
                let may = r.set_is_match(num) || crate::engine::has_base64_run(num);
                // The rewrite's shortcut for short numbers.
                assert!(!may || num.len() >= crate::json::SHORT_NUMBER, "{num}");
                if may {
                    hits += 1;
                    assert!(
                        sc.edits.iter().any(|e| (e.start, e.end) == (start, end)),
                        "{num:?} not listed in {line:?}"
                    );
                }
            }
            let fast = r.json_fast(&line, None, &mut Vec::new());
            let slow = r.json_document(&line, 0, &mut Vec::new());
            match (fast, slow) {
                (Fast::Clean, Ok(Some(out))) => assert_eq!(out, line),
                (Fast::Changed(a), Ok(Some(b))) => assert_eq!(a, b),
                (f, s) => panic!("{line}: fast {f:?}, slow {s:?}"),
            }
        }
        assert!(
            hits > 10_000,
            "too few matching numbers to mean anything: {hits}"
        );
    }
}
