//! Parse-checking of alert label and annotation templates, delegated to
//! `watchfire-template` (the Go `text/template` subset Prometheus uses; its
//! `parse` prepends the `$labels`/`$value`/... header Prometheus uses, so
//! messages and line numbers match promtool's).

/// A template that does not parse: the template parser's message and the
/// byte offset of the problem inside the template text, when known.
pub(crate) struct TemplateProblem {
    pub message: String,
    pub offset: Option<usize>,
}

/// Byte offset of a 1-based (line, column-in-chars) position in `text`.
fn offset_of(text: &str, line: usize, col: usize) -> Option<usize> {
    let line_start = if line <= 1 {
        0
    } else {
        text.match_indices('\n').nth(line - 2).map(|(i, _)| i + 1)?
    };
    let rest = &text[line_start..];
    let within = rest
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(rest.len()))
        .nth(col.saturating_sub(1))?;
    Some(line_start + within)
}

/// Parses `text` as the alert template `name`.
pub(crate) fn check(name: &str, text: &str) -> Result<(), TemplateProblem> {
    match watchfire_template::parse(name, text) {
        Ok(_) => Ok(()),
        Err(e) => Err(TemplateProblem {
            message: e.to_string(),
            offset: offset_of(text, e.line(), e.column()),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::offset_of;

    #[test]
    fn offsets() {
        assert_eq!(offset_of("abc", 1, 1), Some(0));
        assert_eq!(offset_of("abc", 1, 4), Some(3));
        assert_eq!(offset_of("abc", 1, 5), None);
        assert_eq!(offset_of("ab\ncé\nd", 2, 3), Some(6));
        assert_eq!(offset_of("ab\ncé\nd", 3, 1), Some(7));
        assert_eq!(offset_of("ab", 3, 1), None);
    }
}
