//! [`ConfigError`]: every way loading an `alertmanager.yml` can fail, each
//! rendered `file:line:col: message`.

/// A configuration error. Positions are 1-based; errors that belong to no
/// particular place (a missing `route:`) point at `1:1`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed, has an unknown field, or a value fails
    /// Alertmanager's (or Watchfire's) validation.
    #[error("{path}:{line}:{col}: {msg}")]
    Invalid {
        path: String,
        line: usize,
        col: usize,
        msg: String,
    },
    /// A receiver uses an integration Watchfire does not implement
    /// (`opsgenie_configs`, `victorops_configs`, ...).
    #[error("{path}:{line}:{col}: receiver {receiver:?}: {kind} is not supported by Watchfire (supported: email, pagerduty, slack, webhook)")]
    Unsupported {
        path: String,
        line: usize,
        col: usize,
        /// The receiver's name.
        receiver: String,
        /// The YAML key, e.g. `opsgenie_configs`.
        kind: String,
    },
}

impl ConfigError {
    /// The message without the `file:line:col: ` prefix.
    pub fn message(&self) -> String {
        match self {
            ConfigError::Read { source, .. } => format!("cannot read: {source}"),
            ConfigError::Invalid { msg, .. } => msg.clone(),
            ConfigError::Unsupported { receiver, kind, .. } => format!(
                "receiver {receiver:?}: {kind} is not supported by Watchfire (supported: email, pagerduty, slack, webhook)"
            ),
        }
    }

    /// `(line, col)` of the error, when it has one.
    pub fn position(&self) -> Option<(usize, usize)> {
        match self {
            ConfigError::Read { .. } => None,
            ConfigError::Invalid { line, col, .. } | ConfigError::Unsupported { line, col, .. } => {
                Some((*line, *col))
            }
        }
    }
}
