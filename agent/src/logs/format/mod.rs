//! Log line formats: each file gets a [`Decoder`] that turns raw lines
//! (without their newline) into [`Entry`]s, merging the partial lines of
//! CRI (`P` … `F`) and Docker `json-file` (a `log` without a trailing
//! newline) so that one entry is one application record. **Pure**.
//!
//! - [`cri`]: containerd's `<time> <stream> <P|F> <message>`.
//! - [`docker`]: Docker's `json-file` driver.
//! - JSON lines and plain text need no decoding: the line is the message
//!   (a JSON object stays structured downstream).
//! - [`k8s`]: namespace, pod, uid and container from a
//!   `/var/log/pods/<ns>_<pod>_<uid>/<container>/N.log` path.
//! - [`level`]: the level and service a record reports, for the
//!   `log_messages_total` counters.

pub mod cri;
pub mod docker;
pub mod k8s;
pub mod level;

use std::path::Path;

/// The format of a file's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CRI (containerd, CRI-O) with `P`/`F` partial lines.
    Cri,
    /// Docker `json-file`.
    Docker,
    /// One JSON object per line.
    Json,
    /// Plain text.
    Plain,
    /// By path: `…/pods/…` is CRI, `…/containers/<id>/<id>-json.log` is
    /// Docker; anything else is JSON lines when a line is a JSON object,
    /// plain text otherwise (decided per line).
    Auto,
}

impl Format {
    /// Parses a config value: `cri`, `docker`, `json`, `plain`, `auto`.
    pub fn parse(s: &str) -> Option<Format> {
        Some(match s {
            "cri" => Format::Cri,
            "docker" => Format::Docker,
            "json" => Format::Json,
            "plain" => Format::Plain,
            "auto" => Format::Auto,
            _ => return None,
        })
    }

    /// The concrete format for `path` (resolves [`Format::Auto`] where the
    /// path says; `Auto` stays `Auto` otherwise).
    pub fn for_path(self, path: &Path) -> Format {
        if self != Format::Auto {
            return self;
        }
        if k8s::from_path(path).is_some() {
            return Format::Cri;
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let parent = path.parent().and_then(|p| p.parent());
        let under_containers = parent
            .and_then(|p| p.file_name())
            .is_some_and(|n| n == "containers");
        if under_containers && name.contains("-json.log") {
            return Format::Docker;
        }
        Format::Auto
    }
}

/// One decoded record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entry {
    /// The timestamp the runtime wrote (RFC 3339), when the format has one.
    pub time: Option<String>,
    /// `stdout` or `stderr`, when the format says.
    pub stream: Option<String>,
    /// The message (for JSON lines, the whole line).
    pub message: String,
    /// Whether the message is a JSON object (kept structured downstream).
    pub json: bool,
    /// `json` is only claimed, not checked (a [`Decoder::lazy_json`]
    /// decoder of [`Format::Json`]): the consumer validates the record
    /// (the redactor does, in the pass it makes anyway) and drops it as
    /// undecodable when it is not a JSON object.
    pub unchecked: bool,
    /// Whether partial lines were merged beyond the size limit and cut.
    pub truncated: bool,
}

/// Why a line could not be decoded (the line is dropped and counted as
/// `reason="parse"`).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum FormatError {
    #[error("not a CRI log line")]
    Cri,
    #[error("not a Docker json-file line: {0}")]
    Docker(String),
    #[error("not valid UTF-8")]
    Utf8,
    #[error("not a JSON object")]
    Json,
}

/// Per-file decoding state.
#[derive(Debug)]
pub struct Decoder {
    format: Format,
    max_bytes: usize,
    /// A partial (CRI `P`, Docker without newline) message being merged.
    partial: Option<Entry>,
    /// [`Format::Json`] lines are not validated here (see
    /// [`Entry::unchecked`]).
    lazy_json: bool,
}

impl Decoder {
    /// A decoder for a file of `format` (resolve `Auto` with
    /// [`Format::for_path`] first). Merged messages are cut at `max_bytes`.
    pub fn new(format: Format, max_bytes: usize) -> Decoder {
        Decoder {
            format,
            max_bytes,
            partial: None,
            lazy_json: false,
        }
    }

    /// Leaves the validation of [`Format::Json`] lines to the consumer:
    /// a line that starts like an object is passed on with
    /// [`Entry::unchecked`] set, saving a parse of every line when the
    /// consumer parses it anyway.
    pub fn lazy_json(mut self) -> Decoder {
        self.lazy_json = true;
        self
    }

    /// Whether a partial record is waiting for its final line.
    pub fn has_partial(&self) -> bool {
        self.partial.is_some()
    }

    /// Decodes one line. `Ok(None)` means the line was a partial one and is
    /// kept for the next.
    pub fn push(&mut self, line: &[u8]) -> Result<Option<Entry>, FormatError> {
        let text = std::str::from_utf8(line).map_err(|_| FormatError::Utf8)?;
        let text = text.strip_suffix('\r').unwrap_or(text);
        match self.format {
            Format::Cri => {
                let l = cri::parse(text)?;
                Ok(self.merge(l.time, l.stream, l.message, l.partial))
            }
            Format::Docker => {
                let l = docker::parse(text)?;
                Ok(self.merge(l.time, l.stream, &l.message, l.partial))
            }
            Format::Json => {
                let claimed = self.lazy_json && text.trim_start().starts_with('{');
                if !claimed && !is_json_object(text) {
                    return Err(FormatError::Json);
                }
                Ok(Some(Entry {
                    message: text.to_string(),
                    json: true,
                    unchecked: claimed,
                    ..Entry::default()
                }))
            }
            Format::Plain => Ok(Some(Entry {
                message: text.to_string(),
                ..Entry::default()
            })),
            Format::Auto => Ok(Some(Entry {
                message: text.to_string(),
                json: is_json_object(text),
                ..Entry::default()
            })),
        }
    }

    fn merge(
        &mut self,
        time: String,
        stream: String,
        message: &str,
        partial: bool,
    ) -> Option<Entry> {
        let e = self.partial.get_or_insert_with(|| Entry {
            time: Some(time),
            stream: Some(stream),
            ..Entry::default()
        });
        let room = self.max_bytes.saturating_sub(e.message.len());
        if message.len() > room {
            let mut cut = room;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            e.message.push_str(&message[..cut]);
            e.truncated = true;
        } else {
            e.message.push_str(message);
        }
        if partial {
            return None;
        }
        let mut done = self.partial.take()?;
        done.json = is_json_object(&done.message);
        Some(done)
    }
}

/// Whether `s` is one JSON object (as `serde_json` reads it, Unicode
/// whitespace before it allowed), by the redaction engine's hand-written
/// scanner.
pub fn is_json_object(s: &str) -> bool {
    watchfire_redact::is_json_object(s)
}
