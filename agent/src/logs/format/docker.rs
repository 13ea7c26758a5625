//! Docker `json-file` lines:
//! `{"log":"message\n","stream":"stdout","time":"2024-01-01T00:00:00.1Z"}`.
//! Docker splits messages over 16 KiB into several lines; every part but
//! the last lacks the trailing newline, which is how partial parts are
//! recognised. **Pure**.

use serde::Deserialize;

use super::FormatError;

#[derive(Deserialize)]
struct Raw {
    log: String,
    #[serde(default)]
    stream: String,
    #[serde(default)]
    time: String,
}

/// One Docker line, the message without its trailing newline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerLine {
    pub time: String,
    pub stream: String,
    pub partial: bool,
    pub message: String,
}

/// Parses one line (without the file's newline).
pub fn parse(line: &str) -> Result<DockerLine, FormatError> {
    let raw: Raw = serde_json::from_str(line).map_err(|e| FormatError::Docker(e.to_string()))?;
    let (message, partial) = match raw.log.strip_suffix('\n') {
        Some(m) => (m.strip_suffix('\r').unwrap_or(m).to_string(), false),
        None => (raw.log, true),
    };
    Ok(DockerLine {
        time: raw.time,
        stream: raw.stream,
        partial,
        message,
    })
}
