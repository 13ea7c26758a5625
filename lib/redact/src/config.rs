//! The redaction configuration, in two phases.
//!
//! 1. [`RawRedactionConfig`]: serde structs mirroring the YAML, with
//!    `deny_unknown_fields` and a doc comment on every field. It is a
//!    standalone section: the agent embeds it as `redaction:` for logs and
//!    traces, and `watchfire redact --config FILE` reads it as a whole file.
//! 2. [`RawRedactionConfig::validate`]: a pure function into
//!    [`RedactionConfig`] (actions, compiled user regexes, the hash key).
//!    Every error names the file, line and column.
//!
//! ```yaml
//! default_action: mask          # mask | hash | partial
//! hash_key: "at least sixteen bytes of secret"
//! keys:
//!   extra: [session_id]         # added to the default names
//!   action: mask
//! builtin:
//!   email: { action: hash }
//!   ipv4: { enabled: false }
//! patterns:
//!   - name: employee_id
//!     regex: 'EMP-[0-9]{6}'
//!     action: partial
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use regex::{Regex, RegexBuilder};
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::engine::Limits;
use crate::rules::{builtin_names, Action, DEFAULT_KEYS};

/// A configuration error, rendered as `file:line:col: message`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid YAML or a value is invalid.
    #[error("{path}:{line}:{col}: {msg}")]
    Invalid {
        path: String,
        line: usize,
        col: usize,
        msg: String,
    },
}

/// The raw `redaction:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRedactionConfig {
    /// Action of every rule that does not set its own: `mask` (the
    /// default), `hash` or `partial`.
    pub default_action: Option<Spanned<String>>,
    /// Secret for the `hash` action (HMAC-SHA-256), at least 16 bytes.
    /// Required when any rule hashes.
    pub hash_key: Option<Spanned<String>>,
    /// Redaction by key name (JSON keys at any depth, `key=value` in text).
    #[serde(default)]
    pub keys: RawKeys,
    /// Per built-in pattern settings, by pattern name (`email`, `ipv4`,
    /// `ipv6`, `card`, `ssn`, `jwt`, `bearer`, `basic`,
    /// `aws_access_key_id`, `aws_secret_access_key`, `github_token`,
    /// `slack_token`, `google_api_key`, `private_key`, `phone`, `iban`).
    #[serde(default)]
    pub builtin: BTreeMap<String, Spanned<RawBuiltin>>,
    /// User-defined value patterns, applied inside every string.
    #[serde(default)]
    pub patterns: Vec<RawPattern>,
    /// Largest record in bytes; larger records are dropped. Default 1 MiB.
    pub max_record_bytes: Option<Spanned<usize>>,
    /// Deepest JSON nesting accepted, JSON held in strings included;
    /// deeper records are dropped. Default 64.
    pub max_depth: Option<Spanned<usize>>,
    /// Whether strings that hold a JSON document (Docker's `log` field) are
    /// redacted structurally. Default true.
    pub embedded_json: Option<bool>,
}

/// `keys:` — redaction by key name.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKeys {
    /// Replaces the default names (`password`, `passwd`, `secret`, `token`,
    /// `authorization`, `api_key`, `cookie`, `set-cookie`, `ssn`,
    /// `credit_card`, `private_key`, `passphrase`, `pwd`, `credentials`,
    /// `cvv`, `cvc`). An empty list turns key redaction off.
    pub names: Option<Vec<Spanned<String>>>,
    /// Names added to the defaults (or to `names`).
    #[serde(default)]
    pub extra: Vec<Spanned<String>>,
    /// Action for values under these keys; default `default_action`.
    pub action: Option<Spanned<String>>,
    /// Whether `name=value` and `name: value` in free text are redacted
    /// too. Default true.
    pub in_text: Option<bool>,
}

/// Settings of one built-in pattern.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBuiltin {
    /// Whether the pattern runs. Default true.
    pub enabled: Option<bool>,
    /// Its action; default `default_action`.
    pub action: Option<Spanned<String>>,
}

/// A user-defined pattern.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPattern {
    /// Rule name: the replacement label and the counter name
    /// (`[a-z0-9_]+`, not a built-in name).
    pub name: Spanned<String>,
    /// Regular expression (Rust `regex` syntax). When it has a group named
    /// `value`, only that group is replaced.
    pub regex: Spanned<String>,
    /// Its action; default `default_action`.
    pub action: Option<Spanned<String>>,
}

/// A validated user pattern.
#[derive(Debug, Clone)]
pub struct CustomPattern {
    pub name: String,
    pub regex: Regex,
    pub action: Action,
}

/// The validated redaction configuration. [`Default`] is the built-in rule
/// set with every action `mask`.
#[derive(Debug, Clone)]
pub struct RedactionConfig {
    pub default_action: Action,
    /// HMAC key for `hash`.
    pub hash_key: Option<Vec<u8>>,
    /// Sensitive key names.
    pub key_names: Vec<String>,
    pub key_action: Action,
    /// Whether `name=value` in free text is redacted.
    pub key_value_in_text: bool,
    /// Built-in patterns with their own settings: `None` disables one.
    pub builtins: BTreeMap<String, Option<Action>>,
    pub custom: Vec<CustomPattern>,
    pub limits: Limits,
}

impl Default for RedactionConfig {
    fn default() -> Self {
        RedactionConfig {
            default_action: Action::Mask,
            hash_key: None,
            key_names: DEFAULT_KEYS.iter().map(|s| s.to_string()).collect(),
            key_action: Action::Mask,
            key_value_in_text: true,
            builtins: BTreeMap::new(),
            custom: Vec::new(),
            limits: Limits::default(),
        }
    }
}

impl RedactionConfig {
    /// The action of built-in pattern `name`, `None` when it is disabled.
    pub fn builtin_action(&self, name: &str) -> Option<Action> {
        match self.builtins.get(name) {
            Some(setting) => *setting,
            None => Some(self.default_action),
        }
    }

    /// Reads and validates a file holding the section.
    pub fn load(path: &Path) -> Result<RedactionConfig, ConfigError> {
        let name = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: name.clone(),
            source,
        })?;
        Self::from_yaml(&name, &text)
    }

    /// Parses and validates the section's YAML text; `name` is used in
    /// errors.
    pub fn from_yaml(name: &str, text: &str) -> Result<RedactionConfig, ConfigError> {
        let raw: RawRedactionConfig = if text.trim().is_empty() {
            RawRedactionConfig::default()
        } else {
            serde_saphyr::from_str(text).map_err(|e| yaml_error(name, &e))?
        };
        raw.validate(name)
    }
}

/// Turns a serde-saphyr error into a positioned [`ConfigError`].
fn yaml_error(name: &str, e: &serde_saphyr::Error) -> ConfigError {
    let at = watchfire_yamlpos::locate(e);
    ConfigError::Invalid {
        path: name.to_string(),
        line: at.line,
        col: at.col,
        msg: at.msg,
    }
}

struct Ctx<'a> {
    name: &'a str,
    hash_key: bool,
}

impl Ctx<'_> {
    fn err<T>(&self, at: &Spanned<T>, msg: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.name.to_string(),
            line: at.referenced.line() as usize,
            col: at.referenced.column() as usize,
            msg: msg.into(),
        }
    }

    fn action(&self, v: &Option<Spanned<String>>, default: Action) -> Result<Action, ConfigError> {
        let Some(s) = v else {
            return Ok(default);
        };
        let a = Action::parse(&s.value).ok_or_else(|| {
            self.err(
                s,
                format!("unknown action {:?} (mask, hash or partial)", s.value),
            )
        })?;
        if a == Action::Hash && !self.hash_key {
            return Err(self.err(s, "action hash needs hash_key"));
        }
        Ok(a)
    }

    fn key_name(&self, s: &Spanned<String>) -> Result<String, ConfigError> {
        if !s.value.chars().any(|c| c.is_ascii_alphanumeric()) {
            return Err(self.err(
                s,
                format!("key name {:?} has no letters or digits", s.value),
            ));
        }
        Ok(s.value.clone())
    }
}

impl RawRedactionConfig {
    /// Checks every value and converts to typed form. Pure.
    pub fn validate(self, name: &str) -> Result<RedactionConfig, ConfigError> {
        let mut cx = Ctx {
            name,
            hash_key: false,
        };
        let hash_key = match &self.hash_key {
            Some(k) if k.value.len() < 16 => {
                return Err(cx.err(k, "hash_key must be at least 16 bytes"));
            }
            Some(k) => Some(k.value.as_bytes().to_vec()),
            None => None,
        };
        cx.hash_key = hash_key.is_some();
        let default_action = cx.action(&self.default_action, Action::Mask)?;

        let mut key_names = match &self.keys.names {
            Some(names) => names
                .iter()
                .map(|n| cx.key_name(n))
                .collect::<Result<Vec<_>, _>>()?,
            None => DEFAULT_KEYS.iter().map(|s| s.to_string()).collect(),
        };
        for n in &self.keys.extra {
            key_names.push(cx.key_name(n)?);
        }
        let key_action = cx.action(&self.keys.action, default_action)?;

        let mut builtins = BTreeMap::new();
        for (bname, b) in &self.builtin {
            if !builtin_names().any(|n| n == bname) {
                let known: Vec<&str> = builtin_names().collect();
                return Err(cx.err(
                    b,
                    format!(
                        "unknown built-in pattern {bname:?} (one of {})",
                        known.join(", ")
                    ),
                ));
            }
            let setting = if b.value.enabled == Some(false) {
                None
            } else {
                Some(cx.action(&b.value.action, default_action)?)
            };
            builtins.insert(bname.clone(), setting);
        }

        let mut custom: Vec<CustomPattern> = Vec::new();
        for p in &self.patterns {
            let n = &p.name.value;
            let good = !n.is_empty()
                && n.bytes()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
            if !good {
                return Err(cx.err(&p.name, format!("pattern name {n:?} must match [a-z0-9_]+")));
            }
            if builtin_names().any(|b| b == n) || custom.iter().any(|c| &c.name == n) {
                return Err(cx.err(&p.name, format!("pattern name {n:?} is already used")));
            }
            let regex = RegexBuilder::new(&p.regex.value)
                .size_limit(1 << 20)
                .build()
                .map_err(|e| {
                    let detail = e.to_string();
                    let last = detail.lines().last().unwrap_or("invalid regex").trim();
                    cx.err(&p.regex, format!("invalid regex: {last}"))
                })?;
            if regex.is_match("") {
                return Err(cx.err(&p.regex, "regex matches the empty string"));
            }
            custom.push(CustomPattern {
                name: n.clone(),
                regex,
                action: cx.action(&p.action, default_action)?,
            });
        }

        let mut limits = Limits::default();
        if let Some(v) = &self.max_record_bytes {
            if v.value == 0 {
                return Err(cx.err(v, "max_record_bytes must be positive"));
            }
            limits.max_record_bytes = v.value;
        }
        if let Some(v) = &self.max_depth {
            if v.value == 0 || v.value > 1000 {
                return Err(cx.err(v, "max_depth must be between 1 and 1000"));
            }
            limits.max_depth = v.value;
        }
        if let Some(e) = self.embedded_json {
            limits.embedded_json = e;
        }
        Ok(RedactionConfig {
            default_action,
            hash_key,
            key_names,
            key_action,
            key_value_in_text: self.keys.in_text.unwrap_or(true),
            builtins,
            custom,
            limits,
        })
    }
}
