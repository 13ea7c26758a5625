//! PII and secret redaction for log records and span attributes (SPEC
//! §3.2 "Redaction"). **Pure**: no I/O apart from
//! [`RedactionConfig::load`].
//!
//! - By key: values under sensitive key names (case-insensitive, at any
//!   JSON depth, and `key=value` in free text) are replaced whole
//!   ([`keys`] explains the matching).
//! - By value: built-in patterns (email, IPv4/IPv6, Luhn-checked cards,
//!   SSNs with valid ranges, JWTs, Bearer/Basic credentials, AWS, GitHub,
//!   Slack and Google credentials, PEM private keys, E.164 phones,
//!   mod-97-checked IBANs) and user patterns, inside every string, and in
//!   the literal text of every JSON number (`4111111111111111` as a
//!   number is a card too): a number the patterns change becomes a JSON
//!   string holding the redacted text (`"[REDACTED:card]"`), any other
//!   number is kept byte for byte. Of the built-ins only `card` can fire on
//!   a number (13 to 19 digits in a row, issuer prefix, Luhn); user
//!   patterns apply to numbers as to strings.
//! - Actions: mask, keyed hash, partial ([`Action`]).
//! - Cost: one `RegexSet` pass per string; per-rule regexes and checks
//!   only run for rules that matched.
//! - Fail closed: a record that cannot be redacted is an error; the caller
//!   drops it. Drops and per-rule redactions are counted in [`Stats`].
//!
//! ```
//! use watchfire_redact::Redactor;
//! let r = Redactor::with_defaults().unwrap();
//! let mut stats = r.stats();
//! let out = r.redact_line(r#"{"msg":"mail bob@example.com","password":"hunter2"}"#, &mut stats).unwrap();
//! assert_eq!(out, r#"{"msg":"mail [REDACTED:email]","password":"[REDACTED:password]"}"#);
//! assert_eq!(stats.count("email"), 1);
//! ```
#![forbid(unsafe_code)]

mod config;
mod engine;
mod fast;
mod gate;
mod json;
pub mod keys;
mod rules;
mod scan;
mod validators;

use std::sync::Arc;

pub use config::{
    ConfigError, CustomPattern, RawBuiltin, RawKeys, RawPattern, RawRedactionConfig,
    RedactionConfig,
};
pub use engine::{Fields, Limits, Redacted, Redactor};
pub use rules::{builtin_names, Action, DEFAULT_KEYS};
pub use scan::is_json_object;

/// Why a record could not be redacted. The record must be dropped.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RedactError {
    #[error("record is not valid UTF-8")]
    InvalidUtf8,
    #[error("record of {size} bytes is over the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("JSON nested deeper than {limit} levels")]
    TooDeep { limit: usize },
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl RedactError {
    /// A short label for metrics: `invalid_utf8`, `too_large`, `too_deep`,
    /// `internal`.
    pub fn reason(&self) -> &'static str {
        match self {
            RedactError::InvalidUtf8 => "invalid_utf8",
            RedactError::TooLarge { .. } => "too_large",
            RedactError::TooDeep { .. } => "too_deep",
            RedactError::Internal(_) => "internal",
        }
    }

    fn index(&self) -> usize {
        match self {
            RedactError::InvalidUtf8 => 0,
            RedactError::TooLarge { .. } => 1,
            RedactError::TooDeep { .. } => 2,
            RedactError::Internal(_) => 3,
        }
    }
}

const DROP_REASONS: [&str; 4] = ["invalid_utf8", "too_large", "too_deep", "internal"];

/// Error building a [`Redactor`] from a validated config.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("rule {0}: {1}")]
    Regex(String, #[source] regex::Error),
    #[error("unusable hash key")]
    HashKey,
}

/// Counters of one caller: redactions per rule and dropped records per
/// reason. Plain data, for export as metrics. Counts only cover records
/// that were redacted successfully.
#[derive(Debug, Clone)]
pub struct Stats {
    names: Arc<[String]>,
    counts: Vec<u64>,
    drops: [u64; 4],
    /// Rule hits of the record in progress.
    pending: Vec<usize>,
}

impl Stats {
    fn new(names: Arc<[String]>) -> Stats {
        Stats {
            counts: vec![0; names.len()],
            names,
            drops: [0; 4],
            pending: Vec::new(),
        }
    }

    fn commit(&mut self) {
        for &r in &self.pending {
            if let Some(c) = self.counts.get_mut(r) {
                *c += 1;
            }
        }
        self.pending.clear();
    }

    fn drop_for(&mut self, e: &RedactError) {
        self.pending.clear();
        self.drops[e.index()] += 1;
    }

    /// Redactions per rule name, every rule included (zeros too).
    pub fn counts(&self) -> impl Iterator<Item = (&str, u64)> {
        self.names
            .iter()
            .map(String::as_str)
            .zip(self.counts.iter().copied())
    }

    /// Redactions by the rule called `name` (`email`, `key:password`, …).
    pub fn count(&self, name: &str) -> u64 {
        self.counts()
            .find(|(n, _)| *n == name)
            .map_or(0, |(_, c)| c)
    }

    /// All redactions.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Dropped records per reason (see [`RedactError::reason`]).
    pub fn drops(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        DROP_REASONS.iter().copied().zip(self.drops.iter().copied())
    }

    /// All dropped records.
    pub fn dropped(&self) -> u64 {
        self.drops.iter().sum()
    }

    /// Adds `other`'s counts (from the same [`Redactor`]) to these.
    pub fn merge(&mut self, other: &Stats) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        for (a, b) in self.drops.iter_mut().zip(other.drops) {
            *a += b;
        }
    }
}
