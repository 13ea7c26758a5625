//! The rule model: actions, the built-in value patterns and the default
//! sensitive key names.
//!
//! Every pattern is ASCII-only (`(?-u:\b)` boundaries, explicit classes), so
//! the lazy DFA behind `RegexSet` never has to fall back to a slower engine
//! on non-ASCII text.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// What happens to a matched value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Replace with `[REDACTED:<label>]`.
    Mask,
    /// Replace with `[HASH:<label>:<16 hex>]`: the first 8 bytes of
    /// HMAC-SHA-256 under the configured key, so equal values stay joinable.
    Hash,
    /// Keep the last four letters or digits: `[REDACTED:<label>:*1234]`.
    /// Values with fewer than eight letters or digits are masked whole.
    Partial,
}

impl Action {
    /// Parses `mask`, `hash` or `partial`.
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "mask" => Some(Action::Mask),
            "hash" => Some(Action::Hash),
            "partial" => Some(Action::Partial),
            _ => None,
        }
    }
}

/// How a value is normalised before hashing, so that one value written two
/// ways hashes the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Normalize {
    /// Hash the value as found.
    None,
    /// Lowercase (email addresses, IPv6).
    Lower,
    /// Keep letters and digits only, uppercase (cards, IBANs, phones, SSNs).
    Compact,
}

/// The candidate check a text rule runs after its regex matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    None,
    Card,
    Ssn,
    Ipv4,
    Ipv6,
    Phone,
    Iban,
    Bearer,
    Basic,
    AwsSecret,
    Standalone,
    /// `key=value` in free text: the key is checked by the key matcher and
    /// the value's extent is computed by the engine.
    KeyValue,
}

/// How a rule takes part in the one-pass prefilter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Prefilter {
    /// A cheap necessary condition of the rule, added to the `RegexSet`.
    /// Counted repetitions are kept short: they multiply DFA states.
    Regex(&'static str),
    /// A hand-written byte scan for a run of 40+ base64 characters (a
    /// `{40}` repetition would blow up the set's DFA).
    Base64Run,
}

/// A built-in value pattern.
pub(crate) struct Builtin {
    pub name: &'static str,
    /// The full pattern, run only on strings its prefilter matched.
    pub regex: &'static str,
    pub prefilter: Prefilter,
    /// Capture group holding the secret (0: the whole match).
    pub group: usize,
    pub check: Check,
    pub normalize: Normalize,
}

/// The built-in value patterns, in priority order (earlier wins when two
/// rules find the same span).
pub(crate) const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "private_key",
        regex: r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----(?:(?s:.)*?-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----|(?s:.)*)",
        prefilter: Prefilter::Regex(r"-----BEGIN[ A-Z0-9]*PRIVATE KEY"),
        group: 0,
        check: Check::None,
        normalize: Normalize::None,
    },
    Builtin {
        name: "jwt",
        regex: r"(?-u:\b)eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*",
        prefilter: Prefilter::Regex(r"eyJ[A-Za-z0-9_-]{4,}\."),
        group: 0,
        check: Check::None,
        normalize: Normalize::None,
    },
    Builtin {
        name: "github_token",
        regex: r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})(?-u:\b)",
        prefilter: Prefilter::Regex(r"(?:gh[pousr]_|github_pat_)"),
        group: 0,
        check: Check::None,
        normalize: Normalize::None,
    },
    Builtin {
        name: "slack_token",
        regex: r"(?-u:\b)(?:xox[abposre]-[A-Za-z0-9-]{10,250}|xapp-[0-9]-[A-Za-z0-9-]{10,250}|https://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/+-]{8,})",
        prefilter: Prefilter::Regex(r"(?:xox[abposre]-|xapp-|hooks\.slack\.com/)"),
        group: 0,
        check: Check::None,
        normalize: Normalize::None,
    },
    Builtin {
        name: "google_api_key",
        regex: r"(?:AIza[0-9A-Za-z_-]{35}|ya29\.[0-9A-Za-z_-]{20,}|GOCSPX-[0-9A-Za-z_-]{28})",
        prefilter: Prefilter::Regex(r"(?:AIza|ya29\.|GOCSPX-)"),
        group: 0,
        check: Check::Standalone,
        normalize: Normalize::None,
    },
    Builtin {
        name: "aws_access_key_id",
        regex: r"(?-u:\b)(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA|A3T[A-Z0-9])[A-Z0-9]{16}(?-u:\b)",
        prefilter: Prefilter::Regex(
            r"(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|APKA|A3T)[A-Z0-9]{12}",
        ),
        group: 0,
        check: Check::None,
        normalize: Normalize::None,
    },
    Builtin {
        name: "aws_secret_access_key",
        regex: r"[A-Za-z0-9/+]{40,}",
        prefilter: Prefilter::Base64Run,
        group: 0,
        check: Check::AwsSecret,
        normalize: Normalize::None,
    },
    Builtin {
        name: "bearer",
        regex: r"(?i)(?-u:\b)bearer[ \t]+([A-Za-z0-9._~+/=-]+)",
        prefilter: Prefilter::Regex(r"(?i)bearer[ \t]"),
        group: 1,
        check: Check::Bearer,
        normalize: Normalize::None,
    },
    Builtin {
        name: "basic",
        regex: r"(?i)(?-u:\b)basic[ \t]+([A-Za-z0-9+/_=-]{6,})",
        prefilter: Prefilter::Regex(r"(?i)basic[ \t]"),
        group: 1,
        check: Check::Basic,
        normalize: Normalize::None,
    },
    Builtin {
        name: "email",
        regex: r"(?-u:\b)[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?-u:\b)",
        prefilter: Prefilter::Regex(r"[A-Za-z0-9._%+-]@[A-Za-z0-9-]+\."),
        group: 0,
        check: Check::None,
        normalize: Normalize::Lower,
    },
    Builtin {
        name: "iban",
        regex: r"(?-u:\b)[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?-u:\b)",
        prefilter: Prefilter::Regex(r"[A-Z]{2}[0-9]{2} ?[A-Z0-9]{4}"),
        group: 0,
        check: Check::Iban,
        normalize: Normalize::Compact,
    },
    Builtin {
        name: "card",
        regex: r"(?-u:\b)[0-9](?:[ -]?[0-9]){12,18}(?-u:\b)",
        prefilter: Prefilter::Regex(r"[0-9](?:[ -]?[0-9]){12}"),
        group: 0,
        check: Check::Card,
        normalize: Normalize::Compact,
    },
    Builtin {
        name: "ssn",
        regex: r"(?-u:\b)[0-9]{3}-[0-9]{2}-[0-9]{4}(?-u:\b)",
        prefilter: Prefilter::Regex(r"[0-9]{3}-[0-9]{2}-[0-9]{4}"),
        group: 0,
        check: Check::Ssn,
        normalize: Normalize::Compact,
    },
    Builtin {
        name: "phone",
        regex: r"\+[1-9](?:[ .-]?(?:\([0-9]{1,4}\)|[0-9]{1,8})){1,6}",
        // The check wants at least eight digits; between two digits the
        // regex allows at most `)`, one separator and `(`. (A bare `\+[1-9]`
        // would fire on every `+10:00` time zone offset.)
        prefilter: Prefilter::Regex(r"\+[1-9](?:[ .()-]{0,3}[0-9]){7}"),
        group: 0,
        check: Check::Phone,
        normalize: Normalize::Compact,
    },
    Builtin {
        name: "ipv4",
        regex: r"(?-u:\b)(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])(?:\.(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])){3}(?-u:\b)",
        prefilter: Prefilter::Regex(r"[0-9]\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]"),
        group: 0,
        check: Check::Ipv4,
        normalize: Normalize::None,
    },
    Builtin {
        name: "ipv6",
        regex: r"(?i)(?:[0-9a-f]{0,4}:){2,7}(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9a-f]{1,4})?",
        // An address that parses has a `::`, or at least six colons between
        // groups of one to four hex digits. (A bare `:[0-9A-Fa-f]{0,4}:`
        // would fire on every `12:30:45` time of day.)
        prefilter: Prefilter::Regex(r"::|(?:[0-9A-Fa-f]{1,4}:){4}"),
        group: 0,
        check: Check::Ipv6,
        normalize: Normalize::Lower,
    },
];

/// The default sensitive key names: the SPEC's list plus a few names that
/// only ever hold secrets.
pub const DEFAULT_KEYS: &[&str] = &[
    "password",
    "passwd",
    "secret",
    "token",
    "authorization",
    "api_key",
    "cookie",
    "set-cookie",
    "ssn",
    "credit_card",
    "private_key",
    "passphrase",
    "pwd",
    "credentials",
    "cvv",
    "cvc",
];

/// Names of the built-in value patterns, for configuration.
pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTINS.iter().map(|b| b.name)
}

/// One compiled rule: what its matches are called and what is done to them.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    /// Counter name (`email`, `key:password`, custom names).
    pub name: String,
    /// Label written in the replacement (`email`, `password`).
    pub label: String,
    pub action: Action,
    pub normalize: Normalize,
}

/// Applies `rule`'s action to `value`, appending the replacement to `out`.
pub(crate) fn apply(rule: &Rule, mac: Option<&Hmac<Sha256>>, value: &str, out: &mut String) {
    use std::fmt::Write;
    match (rule.action, mac) {
        (Action::Hash, Some(mac)) => {
            let norm: String = match rule.normalize {
                Normalize::None => value.to_string(),
                Normalize::Lower => value.to_ascii_lowercase(),
                Normalize::Compact => value
                    .chars()
                    .filter(char::is_ascii_alphanumeric)
                    .map(|c| c.to_ascii_uppercase())
                    .collect(),
            };
            let mut m = mac.clone();
            m.update(norm.as_bytes());
            let digest = m.finalize().into_bytes();
            let _ = write!(out, "[HASH:{}:", rule.label);
            for b in &digest[..8] {
                let _ = write!(out, "{b:02x}");
            }
            out.push(']');
        }
        (Action::Partial, _) => {
            let tail: Vec<char> = value.chars().filter(char::is_ascii_alphanumeric).collect();
            if tail.len() >= 8 {
                let last: String = tail[tail.len() - 4..].iter().collect();
                let _ = write!(out, "[REDACTED:{}:*{}]", rule.label, last);
            } else {
                let _ = write!(out, "[REDACTED:{}]", rule.label);
            }
        }
        // Hash without a key cannot happen after validation; mask rather
        // than leak.
        _ => {
            let _ = write!(out, "[REDACTED:{}]", rule.label);
        }
    }
}

/// Builds the HMAC state for the hash key.
pub(crate) fn hmac_for(key: &[u8]) -> Option<Hmac<Sha256>> {
    <Hmac<Sha256> as KeyInit>::new_from_slice(key).ok()
}
