//! Prometheus relabelling, as a pure function over label sets.
//!
//! [`RelabelConfig`] is the validated form of one `relabel_configs` /
//! `metric_relabel_configs` entry; [`process`] applies a list of them in
//! order and returns `None` when a `keep`/`drop`/`keepequal`/`dropequal`
//! step drops the set. Semantics follow `model/relabel/relabel.go`:
//! regexes are fully anchored (`^(?s:…)$`), source values are joined with
//! `separator`, `replacement` expands `$1`, `${1}`, `$name` and `${name}`
//! (an unknown group expands to ""), and a `replace` whose expanded
//! target is not a valid label name does nothing.

use md5::{Digest, Md5};
use regex::Regex;
use watchfire_promql::Labels;

/// The default regex, `(.*)`.
pub const DEFAULT_REGEX: &str = "(.*)";
/// The default separator for `source_labels`.
pub const DEFAULT_SEPARATOR: &str = ";";
/// The default replacement.
pub const DEFAULT_REPLACEMENT: &str = "$1";

/// A relabel action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

impl Action {
    /// Parses the lower-case YAML spelling.
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s.to_ascii_lowercase().as_str() {
            "replace" => Action::Replace,
            "keep" => Action::Keep,
            "drop" => Action::Drop,
            "keepequal" => Action::KeepEqual,
            "dropequal" => Action::DropEqual,
            "hashmod" => Action::HashMod,
            "labelmap" => Action::LabelMap,
            "labeldrop" => Action::LabelDrop,
            "labelkeep" => Action::LabelKeep,
            "lowercase" => Action::Lowercase,
            "uppercase" => Action::Uppercase,
            _ => return None,
        })
    }
}

/// Why a relabel entry is invalid (positions are added by the config layer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelabelError {
    #[error("unknown relabel action {0:?}")]
    UnknownAction(String),
    #[error("invalid regular expression {pattern:?}: {reason}")]
    BadRegex { pattern: String, reason: String },
    #[error("relabel action {0} requires 'target_label' value")]
    MissingTarget(&'static str),
    #[error("{target:?} is invalid 'target_label' for {action} action")]
    InvalidTarget {
        target: String,
        action: &'static str,
    },
    #[error("relabel action hashmod requires non-zero 'modulus'")]
    ZeroModulus,
    #[error("{action} action requires only 'regex', and no other fields")]
    OnlyRegex { action: &'static str },
    #[error(
        "{action} action requires only 'source_labels' and 'target_label', and no other fields"
    )]
    OnlySourceAndTarget { action: &'static str },
}

/// One validated relabel step.
#[derive(Debug, Clone)]
pub struct RelabelConfig {
    pub source_labels: Vec<String>,
    pub separator: String,
    /// The anchored regex.
    pub regex: Regex,
    /// The regex as written (unanchored), for messages and defaults.
    pub regex_src: String,
    pub modulus: u64,
    pub target_label: String,
    pub replacement: String,
    pub action: Action,
}

/// The fields of one entry as written; `None` means "not set".
#[derive(Debug, Clone, Default)]
pub struct RelabelSpec<'a> {
    pub source_labels: Option<Vec<String>>,
    pub separator: Option<&'a str>,
    pub regex: Option<&'a str>,
    pub modulus: Option<u64>,
    pub target_label: Option<&'a str>,
    pub replacement: Option<&'a str>,
    pub action: Option<&'a str>,
}

/// Compiles `re` fully anchored, as Prometheus does.
pub fn anchored(re: &str) -> Result<Regex, RelabelError> {
    Regex::new(&format!("^(?s:{re})$")).map_err(|e| RelabelError::BadRegex {
        pattern: re.to_string(),
        reason: regex_reason(&e),
    })
}

/// The regex crate's message without its multi-line caret rendering.
fn regex_reason(e: &regex::Error) -> String {
    let s = e.to_string();
    let last = s.lines().last().unwrap_or("invalid regex").trim();
    last.strip_prefix("error: ").unwrap_or(last).to_string()
}

/// Whether `s` is a valid (legacy) Prometheus label name.
pub fn is_valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Whether `s` is a valid `replace` target: label-name characters and
/// `$name`/`${name}` references, not starting with a digit.
pub fn is_valid_replace_target(s: &str) -> bool {
    // ^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$
    static_re_target().is_match(s)
}

fn static_re_target() -> &'static Regex {
    use std::sync::OnceLock;
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        // The pattern is a constant, so this cannot fail at run time.
        #[allow(clippy::unwrap_used)]
        Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$").unwrap()
    })
}

impl RelabelConfig {
    /// Validates one entry, applying Prometheus's defaults.
    pub fn new(spec: RelabelSpec<'_>) -> Result<RelabelConfig, RelabelError> {
        let action_s = spec.action.unwrap_or("replace");
        let action = Action::parse(action_s)
            .ok_or_else(|| RelabelError::UnknownAction(action_s.to_string()))?;
        let name = action_name(action);
        let regex_src = spec.regex.unwrap_or(DEFAULT_REGEX).to_string();
        let regex = anchored(&regex_src)?;
        let target = spec.target_label.unwrap_or("");
        let needs_target = matches!(
            action,
            Action::Replace
                | Action::HashMod
                | Action::Lowercase
                | Action::Uppercase
                | Action::KeepEqual
                | Action::DropEqual
        );
        if needs_target && target.is_empty() {
            return Err(RelabelError::MissingTarget(name));
        }
        let invalid = RelabelError::InvalidTarget {
            target: target.to_string(),
            action: name,
        };
        match action {
            Action::Replace if !is_valid_replace_target(target) => return Err(invalid),
            Action::Lowercase
            | Action::Uppercase
            | Action::HashMod
            | Action::KeepEqual
            | Action::DropEqual
                if !is_valid_label_name(target) =>
            {
                return Err(invalid)
            }
            _ => {}
        }
        if action == Action::HashMod && spec.modulus.unwrap_or(0) == 0 {
            return Err(RelabelError::ZeroModulus);
        }
        if matches!(action, Action::LabelDrop | Action::LabelKeep)
            && (spec.source_labels.as_ref().is_some_and(|s| !s.is_empty())
                || !target.is_empty()
                || spec.modulus.is_some_and(|m| m != 0)
                || spec.separator.is_some_and(|s| s != DEFAULT_SEPARATOR)
                || spec.replacement.is_some_and(|r| r != DEFAULT_REPLACEMENT))
        {
            return Err(RelabelError::OnlyRegex { action: name });
        }
        if matches!(action, Action::KeepEqual | Action::DropEqual)
            && (spec.regex.is_some_and(|r| r != DEFAULT_REGEX)
                || spec.modulus.is_some_and(|m| m != 0)
                || spec.separator.is_some_and(|s| s != DEFAULT_SEPARATOR)
                || spec.replacement.is_some_and(|r| r != DEFAULT_REPLACEMENT))
        {
            return Err(RelabelError::OnlySourceAndTarget { action: name });
        }
        Ok(RelabelConfig {
            source_labels: spec.source_labels.unwrap_or_default(),
            separator: spec.separator.unwrap_or(DEFAULT_SEPARATOR).to_string(),
            regex,
            regex_src,
            modulus: spec.modulus.unwrap_or(0),
            target_label: target.to_string(),
            replacement: spec.replacement.unwrap_or(DEFAULT_REPLACEMENT).to_string(),
            action,
        })
    }
}

fn action_name(a: Action) -> &'static str {
    match a {
        Action::Replace => "replace",
        Action::Keep => "keep",
        Action::Drop => "drop",
        Action::KeepEqual => "keepequal",
        Action::DropEqual => "dropequal",
        Action::HashMod => "hashmod",
        Action::LabelMap => "labelmap",
        Action::LabelDrop => "labeldrop",
        Action::LabelKeep => "labelkeep",
        Action::Lowercase => "lowercase",
        Action::Uppercase => "uppercase",
    }
}

/// Applies `cfgs` in order. `None` means the set was dropped.
pub fn process(labels: &Labels, cfgs: &[RelabelConfig]) -> Option<Labels> {
    if cfgs.is_empty() {
        return Some(labels.clone());
    }
    let mut b = labels.builder();
    for cfg in cfgs {
        if !step(cfg, &mut b) {
            return None;
        }
    }
    Some(b.build())
}

fn has_var(s: &str) -> bool {
    s.contains('$')
}

fn step(cfg: &RelabelConfig, b: &mut watchfire_promql::labels::LabelsBuilder) -> bool {
    let current = b.build();
    let val = cfg
        .source_labels
        .iter()
        .map(|n| current.get(n))
        .collect::<Vec<_>>()
        .join(&cfg.separator);
    match cfg.action {
        Action::Drop => return !cfg.regex.is_match(&val),
        Action::Keep => return cfg.regex.is_match(&val),
        Action::DropEqual => return current.get(&cfg.target_label) != val,
        Action::KeepEqual => return current.get(&cfg.target_label) == val,
        Action::Replace => {
            if val.is_empty()
                && cfg.regex_src == DEFAULT_REGEX
                && !has_var(&cfg.target_label)
                && !has_var(&cfg.replacement)
            {
                b.set(&cfg.target_label, &cfg.replacement);
                return true;
            }
            let Some(caps) = cfg.regex.captures(&val) else {
                return true;
            };
            let mut target = String::new();
            caps.expand(&cfg.target_label, &mut target);
            if !is_valid_label_name(&target) {
                return true;
            }
            let mut res = String::new();
            caps.expand(&cfg.replacement, &mut res);
            if res.is_empty() {
                b.del(&target);
            } else {
                b.set(&target, &res);
            }
        }
        Action::Lowercase => {
            b.set(&cfg.target_label, &val.to_lowercase());
        }
        Action::Uppercase => {
            b.set(&cfg.target_label, &val.to_uppercase());
        }
        Action::HashMod => {
            let sum = Md5::digest(val.as_bytes());
            let mut last = [0u8; 8];
            last.copy_from_slice(&sum[8..16]);
            let m = u64::from_be_bytes(last) % cfg.modulus.max(1);
            b.set(&cfg.target_label, &m.to_string());
        }
        Action::LabelMap => {
            for l in current.iter() {
                if let Some(caps) = cfg.regex.captures(&l.name) {
                    let mut name = String::new();
                    caps.expand(&cfg.replacement, &mut name);
                    b.set(&name, &l.value);
                }
            }
        }
        Action::LabelDrop => {
            b.retain(|l| !cfg.regex.is_match(&l.name));
        }
        Action::LabelKeep => {
            b.retain(|l| cfg.regex.is_match(&l.name));
        }
    }
    true
}
