//! CRI log lines (containerd, CRI-O):
//! `2016-10-06T00:17:09.669794202Z stdout P partial message`. The tag is
//! `P` (partial: the message continues on the next line) or `F` (full, or
//! the last part); a tag may carry more fields after `:`, as in `F:x`.
//! **Pure**.

use super::FormatError;

/// One CRI line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CriLine<'a> {
    pub time: String,
    pub stream: String,
    pub partial: bool,
    pub message: &'a str,
}

/// Parses one line (without its newline).
pub fn parse(line: &str) -> Result<CriLine<'_>, FormatError> {
    let mut it = line.splitn(4, ' ');
    let time = it.next().ok_or(FormatError::Cri)?;
    let stream = it.next().ok_or(FormatError::Cri)?;
    let tag = it.next().ok_or(FormatError::Cri)?;
    let message = it.next().unwrap_or("");
    if time.is_empty() || watchfire_promql::civil::parse_rfc3339(time).is_none() {
        return Err(FormatError::Cri);
    }
    if stream != "stdout" && stream != "stderr" {
        return Err(FormatError::Cri);
    }
    let partial = match tag.split(':').next() {
        Some("P") => true,
        Some("F") => false,
        _ => return Err(FormatError::Cri),
    };
    Ok(CriLine {
        time: time.to_string(),
        stream: stream.to_string(),
        partial,
        message,
    })
}
