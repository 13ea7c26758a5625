//! The label-set half of a series line: `metric{a="b", "odd.name"="v"}`,
//! `{__name__="x"}`, `{"quoted.metric"}` or a bare metric name.
//!
//! This is a small, self-contained parser (not the PromQL parser) so the
//! notation does not depend on the query parser's progress. String literals
//! follow PromQL/Go quoting: `"..."` and `'...'` with escapes, or raw
//! backquoted `` `...` ``.

use super::NotationError;
use watchfire_promql::labels::{Labels, METRIC_NAME};

/// A byte cursor over one line, reporting 1-based character columns.
pub(crate) struct Cursor<'a> {
    pub(crate) src: &'a str,
    pub(crate) pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(src: &'a str) -> Self {
        Cursor { src, pos: 0 }
    }

    pub(crate) fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    pub(crate) fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    pub(crate) fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    pub(crate) fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += c.len_utf8();
            true
        } else {
            false
        }
    }

    pub(crate) fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(c) if c.is_whitespace()) {
            self.bump();
        }
    }

    /// 1-based character column of the cursor.
    pub(crate) fn col(&self) -> usize {
        self.src[..self.pos].chars().count() + 1
    }

    pub(crate) fn err(&self, msg: impl Into<String>) -> NotationError {
        NotationError {
            col: self.col(),
            msg: msg.into(),
        }
    }

    /// Consumes `[A-Za-z_:][A-Za-z0-9_:]*` (colons only when `colons`).
    pub(crate) fn ident(&mut self, colons: bool) -> Option<&'a str> {
        let start = self.pos;
        let ok_first = |c: char| c.is_ascii_alphabetic() || c == '_' || (colons && c == ':');
        let ok_rest = |c: char| c.is_ascii_alphanumeric() || c == '_' || (colons && c == ':');
        match self.peek() {
            Some(c) if ok_first(c) => {
                self.bump();
            }
            _ => return None,
        }
        while matches!(self.peek(), Some(c) if ok_rest(c)) {
            self.bump();
        }
        Some(&self.src[start..self.pos])
    }
}

/// Parses the label-set part at the start of `cur` (leading whitespace
/// allowed) and leaves the cursor after it.
pub(crate) fn parse_label_set(cur: &mut Cursor<'_>) -> Result<Labels, NotationError> {
    cur.skip_ws();
    let mut pairs: Vec<(String, String)> = Vec::new();
    if let Some(name) = cur.ident(true) {
        pairs.push((METRIC_NAME.to_string(), name.to_string()));
    }
    if cur.eat('{') {
        loop {
            cur.skip_ws();
            if cur.eat('}') {
                break;
            }
            let name_col = cur.col();
            let (name, quoted) = match cur.peek() {
                Some('"' | '\'' | '`') => (parse_string(cur)?, true),
                _ => match cur.ident(false) {
                    Some(n) => (n.to_string(), false),
                    None => return Err(cur.err("expected label name or '}'")),
                },
            };
            cur.skip_ws();
            if cur.eat('=') {
                cur.skip_ws();
                if !matches!(cur.peek(), Some('"' | '\'' | '`')) {
                    return Err(cur.err("expected quoted label value"));
                }
                let value = parse_string(cur)?;
                pairs.push((name, value));
            } else if quoted {
                // A lone quoted string is the metric name.
                pairs.push((METRIC_NAME.to_string(), name));
            } else {
                return Err(NotationError {
                    col: name_col,
                    msg: format!("expected '=' after label name {name:?}"),
                });
            }
            cur.skip_ws();
            if cur.eat(',') {
                continue;
            }
            if cur.eat('}') {
                break;
            }
            return Err(cur.err("expected ',' or '}' in label set"));
        }
    } else if pairs.is_empty() {
        return Err(cur.err("expected metric name or '{'"));
    }
    Ok(Labels::new(pairs))
}

/// Parses a quoted string literal at the cursor (Go/PromQL rules).
pub(crate) fn parse_string(cur: &mut Cursor<'_>) -> Result<String, NotationError> {
    let start_col = cur.col();
    let quote = match cur.bump() {
        Some(q @ ('"' | '\'' | '`')) => q,
        _ => return Err(cur.err("expected string")),
    };
    let mut out = String::new();
    loop {
        let c = cur.bump().ok_or_else(|| NotationError {
            col: start_col,
            msg: "unterminated string".into(),
        })?;
        if c == quote {
            return Ok(out);
        }
        if c == '\\' && quote != '`' {
            let esc_col = cur.col();
            let e = cur.bump().ok_or_else(|| cur.err("unterminated escape"))?;
            match e {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                'r' => out.push('\r'),
                'a' => out.push('\u{7}'),
                'b' => out.push('\u{8}'),
                'f' => out.push('\u{c}'),
                'v' => out.push('\u{b}'),
                '\\' | '"' | '\'' => out.push(e),
                'x' | 'u' | 'U' => {
                    let n = match e {
                        'x' => 2,
                        'u' => 4,
                        _ => 8,
                    };
                    let code = take_radix(cur, n, 16).ok_or(NotationError {
                        col: esc_col,
                        msg: "invalid escape".into(),
                    })?;
                    out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                }
                '0'..='7' => {
                    let mut code = e.to_digit(8).unwrap_or(0);
                    let more = take_radix(cur, 2, 8).ok_or(NotationError {
                        col: esc_col,
                        msg: "invalid octal escape".into(),
                    })?;
                    code = code * 64 + more;
                    out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
                }
                _ => {
                    return Err(NotationError {
                        col: esc_col,
                        msg: format!("unknown escape sequence \\{e}"),
                    })
                }
            }
        } else {
            out.push(c);
        }
    }
}

fn take_radix(cur: &mut Cursor<'_>, n: usize, radix: u32) -> Option<u32> {
    let mut v: u32 = 0;
    for _ in 0..n {
        let d = cur.peek()?.to_digit(radix)?;
        cur.bump();
        v = v.checked_mul(radix)?.checked_add(d)?;
    }
    Some(v)
}
