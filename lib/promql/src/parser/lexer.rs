//! The PromQL lexer.
//!
//! A port of the state machine in Prometheus's `promql/parser/lex.go`: the
//! same token boundaries, the same keyword table (case-insensitive), the
//! same handling of braces and brackets, and the same error messages. It
//! lexes the whole input up front into a vector of tokens that ends with
//! either [`Tok::Eof`] or a single [`Tok::Error`] (lexing stops at the
//! first error, as in Prometheus). Comments are dropped.

use crate::ast::AggOp;

use super::quote::{go_unicode_fmt, quote_opt};
pub(crate) use super::quote::{quote_rune, quote_str};

/// Keywords (recognised case-insensitively outside braces).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kw {
    And,
    Or,
    Unless,
    Atan2,
    Agg(AggOp),
    Offset,
    By,
    Without,
    On,
    Ignoring,
    GroupLeft,
    GroupRight,
    Bool,
    Start,
    End,
}

/// Token kinds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tok {
    Eof,
    /// A lexing error; always the last token.
    Error(String),
    Comma,
    LParen,
    RParen,
    LBrace,
    RBrace,
    LBracket,
    RBracket,
    Colon,
    At,
    /// `=`
    Eql,
    /// `=~`
    EqlRegex,
    /// `!~`
    NeqRegex,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    /// `==`
    Eqlc,
    /// `!=`
    Neq,
    Lss,
    Lte,
    Gtr,
    Gte,
    Number,
    Duration,
    /// A quoted string, quotes included in the token text.
    Str,
    Ident,
    /// An identifier containing a colon.
    MetricIdent,
    Kw(Kw),
}

/// A token and its byte span in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub tok: Tok,
    pub start: usize,
    pub end: usize,
}

fn keyword(word: &str) -> Option<Tok> {
    let lower = word.to_ascii_lowercase();
    let kw = match lower.as_str() {
        "and" => Kw::And,
        "or" => Kw::Or,
        "unless" => Kw::Unless,
        "atan2" => Kw::Atan2,
        "sum" => Kw::Agg(AggOp::Sum),
        "avg" => Kw::Agg(AggOp::Avg),
        "count" => Kw::Agg(AggOp::Count),
        "min" => Kw::Agg(AggOp::Min),
        "max" => Kw::Agg(AggOp::Max),
        "group" => Kw::Agg(AggOp::Group),
        "stddev" => Kw::Agg(AggOp::Stddev),
        "stdvar" => Kw::Agg(AggOp::Stdvar),
        "topk" => Kw::Agg(AggOp::Topk),
        "bottomk" => Kw::Agg(AggOp::Bottomk),
        "count_values" => Kw::Agg(AggOp::CountValues),
        "quantile" => Kw::Agg(AggOp::Quantile),
        "limitk" => Kw::Agg(AggOp::Limitk),
        "limit_ratio" => Kw::Agg(AggOp::LimitRatio),
        "offset" => Kw::Offset,
        "by" => Kw::By,
        "without" => Kw::Without,
        "on" => Kw::On,
        "ignoring" => Kw::Ignoring,
        "group_left" => Kw::GroupLeft,
        "group_right" => Kw::GroupRight,
        "bool" => Kw::Bool,
        "start" => Kw::Start,
        "end" => Kw::End,
        "inf" | "nan" => return Some(Tok::Number),
        _ => return None,
    };
    Some(Tok::Kw(kw))
}

pub(crate) fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

fn is_alpha(c: char) -> bool {
    c == '_' || c.is_ascii_alphabetic()
}

fn is_alnum(c: char) -> bool {
    is_alpha(c) || c.is_ascii_digit()
}

/// Lexes `input` into tokens (see the module docs).
pub fn lex(input: &str) -> Vec<Token> {
    let mut l = Lexer {
        input,
        pos: 0,
        start: 0,
        paren_depth: 0,
        brace_open: false,
        bracket_open: false,
        got_colon: false,
        dur_mode: false,
        out: Vec::new(),
    };
    l.run();
    l.out
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    start: usize,
    paren_depth: i64,
    brace_open: bool,
    bracket_open: bool,
    got_colon: bool,
    /// Right after `[`: the duration-expression state of Prometheus.
    dur_mode: bool,
    out: Vec<Token>,
}

/// Lexing stops.
struct Stop;

type LResult = Result<(), Stop>;

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.input[self.pos..].chars().next()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn accept(&mut self, valid: &str) -> bool {
        match self.peek() {
            Some(c) if valid.contains(c) => {
                self.pos += c.len_utf8();
                true
            }
            _ => false,
        }
    }

    fn accept_run(&mut self, valid: &str) {
        while self.accept(valid) {}
    }

    fn is(&self, valid: &str) -> bool {
        self.peek().is_some_and(|c| valid.contains(c))
    }

    fn emit(&mut self, tok: Tok) {
        self.out.push(Token {
            tok,
            start: self.start,
            end: self.pos,
        });
        self.start = self.pos;
    }

    fn error(&mut self, msg: String) -> LResult {
        self.out.push(Token {
            tok: Tok::Error(msg),
            start: self.start,
            end: self.input.len(),
        });
        Err(Stop)
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(is_space) {
            self.next();
        }
        self.start = self.pos;
    }

    fn run(&mut self) {
        loop {
            let r = if self.brace_open {
                self.inside_braces()
            } else if self.dur_mode {
                self.duration_expr()
            } else {
                self.statements()
            };
            if r.is_err() {
                return;
            }
            if matches!(self.out.last(), Some(Token { tok: Tok::Eof, .. })) {
                return;
            }
        }
    }

    fn line_comment(&mut self) {
        while let Some(c) = self.peek() {
            if c == '\n' || c == '\r' {
                break;
            }
            self.next();
        }
        self.start = self.pos;
    }

    fn statements(&mut self) -> LResult {
        if self.input[self.pos..].starts_with('#') {
            self.line_comment();
            return Ok(());
        }
        let Some(r) = self.next() else {
            if self.paren_depth != 0 {
                return self.error("unclosed left parenthesis".into());
            }
            if self.bracket_open {
                return self.error("unclosed left bracket".into());
            }
            self.emit(Tok::Eof);
            return Ok(());
        };
        match r {
            ',' => self.emit(Tok::Comma),
            c if is_space(c) => self.skip_spaces(),
            '*' => self.emit(Tok::Mul),
            '/' => self.emit(Tok::Div),
            '%' => self.emit(Tok::Mod),
            '+' => self.emit(Tok::Add),
            '-' => self.emit(Tok::Sub),
            '^' => self.emit(Tok::Pow),
            '=' => match self.peek() {
                Some('=') => {
                    self.next();
                    self.emit(Tok::Eqlc)
                }
                Some('~') => {
                    return self.error(format!(
                        "unexpected character after '=': {}",
                        quote_rune('~')
                    ))
                }
                _ => self.emit(Tok::Eql),
            },
            '!' => match self.next() {
                Some('=') => self.emit(Tok::Neq),
                t => {
                    return self.error(format!("unexpected character after '!': {}", quote_opt(t)))
                }
            },
            '<' => {
                if self.accept("=") {
                    self.emit(Tok::Lte)
                } else {
                    self.emit(Tok::Lss)
                }
            }
            '>' => {
                if self.accept("=") {
                    self.emit(Tok::Gte)
                } else {
                    self.emit(Tok::Gtr)
                }
            }
            c if c.is_ascii_digit()
                || (c == '.' && self.peek().is_some_and(|d| d.is_ascii_digit())) =>
            {
                self.pos -= 1;
                return self.number_or_duration();
            }
            '"' | '\'' => return self.string(r),
            '`' => return self.raw_string(),
            c if is_alpha(c) || c == ':' => {
                if !self.bracket_open {
                    self.pos -= 1;
                    self.keyword_or_identifier();
                    return Ok(());
                }
                if c == ':' {
                    if self.got_colon {
                        return self.error(format!("unexpected colon {}", quote_rune(c)));
                    }
                    self.emit(Tok::Colon);
                    self.got_colon = true;
                    return Ok(());
                }
                return self.error(format!(
                    "unexpected character: {}, expected {}",
                    quote_rune(c),
                    quote_rune(':')
                ));
            }
            '(' => {
                self.emit(Tok::LParen);
                self.paren_depth += 1;
            }
            ')' => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    // Prometheus reports this after the parenthesis.
                    self.start = self.pos;
                    return self.error(format!("unexpected right parenthesis {}", quote_rune(r)));
                }
                self.emit(Tok::RParen);
            }
            '{' => {
                self.emit(Tok::LBrace);
                self.brace_open = true;
            }
            '[' => {
                if self.bracket_open {
                    return self.error(format!("unexpected left bracket {}", quote_rune(r)));
                }
                self.got_colon = false;
                self.emit(Tok::LBracket);
                self.skip_spaces();
                self.bracket_open = true;
                self.dur_mode = true;
            }
            ']' => {
                if !self.bracket_open {
                    return self.error(format!("unexpected right bracket {}", quote_rune(r)));
                }
                self.emit(Tok::RBracket);
                self.bracket_open = false;
            }
            '@' => self.emit(Tok::At),
            c => return self.error(format!("unexpected character: {}", quote_rune(c))),
        }
        Ok(())
    }

    /// Prometheus's `lexDurationExpr`, entered right after `[`.
    fn duration_expr(&mut self) -> LResult {
        let Some(r) = self.next() else {
            return self.error("unexpected end of input in duration expression".into());
        };
        match r {
            ']' => {
                self.emit(Tok::RBracket);
                self.bracket_open = false;
                self.got_colon = false;
                self.dur_mode = false;
            }
            ':' => {
                self.emit(Tok::Colon);
                return self
                    .error("unexpected colon before duration in duration expression".into());
            }
            '(' => {
                self.emit(Tok::LParen);
                self.paren_depth += 1;
            }
            ')' => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    // Prometheus reports this after the parenthesis.
                    self.start = self.pos;
                    return self.error(format!("unexpected right parenthesis {}", quote_rune(r)));
                }
                self.emit(Tok::RParen);
            }
            c if is_space(c) => self.skip_spaces(),
            '+' => self.emit(Tok::Add),
            '-' => self.emit(Tok::Sub),
            '*' => self.emit(Tok::Mul),
            '/' => self.emit(Tok::Div),
            '%' => self.emit(Tok::Mod),
            '^' => self.emit(Tok::Pow),
            ',' => self.emit(Tok::Comma),
            c if c.is_ascii_digit()
                || (c == '.' && self.peek().is_some_and(|d| d.is_ascii_digit())) =>
            {
                self.pos -= 1;
                self.dur_mode = false;
                return self.number_or_duration();
            }
            c => {
                return self.error(format!(
                    "unexpected character in duration expression: {}",
                    quote_rune(c)
                ))
            }
        }
        Ok(())
    }

    fn inside_braces(&mut self) -> LResult {
        if self.input[self.pos..].starts_with('#') {
            self.line_comment();
            return Ok(());
        }
        let Some(r) = self.next() else {
            return self.error("unexpected end of input inside braces".into());
        };
        match r {
            c if is_space(c) => self.skip_spaces(),
            c if is_alpha(c) => {
                while self.peek().is_some_and(is_alnum) {
                    self.next();
                }
                self.emit(Tok::Ident);
            }
            ',' => self.emit(Tok::Comma),
            '"' | '\'' => return self.string(r),
            '`' => return self.raw_string(),
            '=' => {
                if self.accept("~") {
                    self.emit(Tok::EqlRegex)
                } else {
                    self.emit(Tok::Eql)
                }
            }
            '!' => match self.next() {
                Some('~') => self.emit(Tok::NeqRegex),
                Some('=') => self.emit(Tok::Neq),
                t => {
                    return self.error(format!(
                        "unexpected character after '!' inside braces: {}",
                        quote_opt(t)
                    ))
                }
            },
            '{' => return self.error(format!("unexpected left brace {}", quote_rune(r))),
            '}' => {
                self.emit(Tok::RBrace);
                self.brace_open = false;
            }
            c => {
                return self.error(format!(
                    "unexpected character inside braces: {}",
                    quote_rune(c)
                ))
            }
        }
        Ok(())
    }

    fn keyword_or_identifier(&mut self) {
        while self.peek().is_some_and(|c| is_alnum(c) || c == ':') {
            self.next();
        }
        let word = &self.input[self.start..self.pos];
        let tok = match keyword(word) {
            Some(t) => t,
            None if word.contains(':') => Tok::MetricIdent,
            None => Tok::Ident,
        };
        self.emit(tok);
    }

    fn string(&mut self, quote: char) -> LResult {
        loop {
            match self.next() {
                Some('\\') => self.escape(quote)?,
                Some('\u{FFFD}') => return self.error("invalid UTF-8 rune".into()),
                None | Some('\n') => return self.error("unterminated quoted string".into()),
                Some(c) if c == quote => break,
                Some(_) => {}
            }
        }
        self.emit(Tok::Str);
        Ok(())
    }

    fn escape(&mut self, quote: char) -> LResult {
        let ch = self.next();
        let (mut n, base, max, mut ch) = match ch {
            Some('a' | 'b' | 'f' | 'n' | 'r' | 't' | 'v' | '\\') => return Ok(()),
            Some(c) if c == quote => return Ok(()),
            Some(c @ '0'..='7') => (3, 8, 255, Some(c)),
            Some('x') => (2, 16, 255, self.next()),
            Some('u') => (4, 16, 0x10FFFF, self.next()),
            Some('U') => (8, 16, 0x10FFFF, self.next()),
            None => return self.error("escape sequence not terminated".into()),
            Some(c) => return self.error(format!("unknown escape sequence {}", go_unicode_fmt(c))),
        };
        let mut x: u32 = 0;
        while n > 0 {
            let d = ch.and_then(|c| c.to_digit(16)).unwrap_or(16);
            if d >= base {
                return match ch {
                    None => self.error("escape sequence not terminated".into()),
                    Some(c) => self.error(format!(
                        "illegal character {} in escape sequence",
                        go_unicode_fmt(c)
                    )),
                };
            }
            x = x.wrapping_mul(base).wrapping_add(d);
            n -= 1;
            if n > 0 {
                ch = self.next();
            }
        }
        if x > max || (0xD800..0xE000).contains(&x) {
            return self.error("escape sequence is an invalid Unicode code point".into());
        }
        Ok(())
    }

    fn raw_string(&mut self) -> LResult {
        loop {
            match self.next() {
                Some('\u{FFFD}') => return self.error("invalid UTF-8 rune".into()),
                None => return self.error("unterminated raw string".into()),
                Some('`') => break,
                Some(_) => {}
            }
        }
        self.emit(Tok::Str);
        Ok(())
    }

    fn number_or_duration(&mut self) -> LResult {
        if self.scan_number() {
            self.emit(Tok::Number);
            return Ok(());
        }
        if self.accept_remaining_duration() {
            self.emit(Tok::Duration);
            return Ok(());
        }
        let text = self.input[self.start..self.pos].to_string();
        self.error(format!(
            "bad number or duration syntax: {}",
            quote_str(&text)
        ))
    }

    /// Prometheus's `acceptRemainingDuration`; on success the position is
    /// right after the duration.
    fn accept_remaining_duration(&mut self) -> bool {
        if !self.accept("smhdwy") {
            return false;
        }
        self.accept("s");
        while self.accept("0123456789") {
            self.accept_run("0123456789");
            if !self.accept("smhdw") {
                return false;
            }
            self.accept("s");
        }
        match self.peek() {
            Some(c) if is_alnum(c) => {
                self.next();
                false
            }
            _ => true,
        }
    }

    /// Prometheus's `scanNumber` (except that `e`/`E` are plain digits in
    /// hexadecimal numbers).
    fn scan_number(&mut self) -> bool {
        let initial = self.pos;
        let mut digits = "0123456789";
        let mut hex = false;
        if self.accept("0") && self.accept("xX") {
            self.accept("_");
            digits = "0123456789abcdefABCDEF";
            hex = true;
        }
        self.accept(".");
        self.accept(digits);
        let mut dot = false;
        let mut exp = false;
        let at_end = |l: &Self| l.peek().is_none();
        loop {
            let more = self.is(digits) || self.is("._") || (!hex && self.is("eE"));
            if !more {
                break;
            }
            if self.is(".") && dot {
                self.accept(".");
                return false;
            }
            if !hex && self.is("eE") && exp {
                self.accept("eE");
                return false;
            }
            if self.accept(".") {
                dot = true;
                if self.accept("_.") || hex {
                    return false;
                }
                continue;
            }
            if !hex && self.accept("eE") {
                exp = true;
                self.accept("+-");
                if self.accept("._eE") || at_end(self) {
                    return false;
                }
                continue;
            }
            if self.accept("_") {
                if self.accept("._eE") || at_end(self) {
                    return false;
                }
                continue;
            }
            self.accept_run(digits);
        }
        if self.pos == initial {
            return false;
        }
        !self.peek().is_some_and(is_alnum)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<Tok> {
        lex(s).into_iter().map(|t| t.tok).collect()
    }

    #[test]
    fn basic_tokens() {
        use Tok::*;
        let cases: &[(&str, Vec<Tok>)] = &[
            (
                "foo{a=\"b\"}",
                vec![Ident, LBrace, Ident, Eql, Str, RBrace, Eof],
            ),
            (
                "a:b[5m:1m]",
                vec![
                    MetricIdent,
                    LBracket,
                    Duration,
                    Colon,
                    Duration,
                    RBracket,
                    Eof,
                ],
            ),
            (
                "1e3 0x1F .5 5. Inf nan",
                vec![Number, Number, Number, Number, Number, Number, Eof],
            ),
            (
                "SUM by",
                vec![Kw(self::Kw::Agg(AggOp::Sum)), Kw(self::Kw::By), Eof],
            ),
            ("a # comment\n+ b", vec![Ident, Add, Ident, Eof]),
            ("1h30m", vec![Duration, Eof]),
            ("0xBEEF", vec![Number, Eof]),
            ("1_000", vec![Number, Eof]),
        ];
        for (input, want) in cases {
            assert_eq!(&kinds(input), want, "{input}");
        }
    }

    #[test]
    fn errors() {
        let cases: &[(&str, &str)] = &[
            (")", "unexpected right parenthesis ')'"),
            ("(", "unclosed left parenthesis"),
            ("foo{", "unexpected end of input inside braces"),
            ("\"abc", "unterminated quoted string"),
            ("`abc", "unterminated raw string"),
            ("\"\\c\"", "unknown escape sequence U+0063 'c'"),
            ("foo[5m", "unclosed left bracket"),
            ("foo[", "unexpected end of input in duration expression"),
            ("5mx", "bad number or duration syntax: \"5mx\""),
            ("a=~b", "unexpected character after '=': '~'"),
            ("a ! b", "unexpected character after '!': ' '"),
            ("foo[5m:1m:1m]", "unexpected colon ':'"),
        ];
        for (input, want) in cases {
            let toks = lex(input);
            match &toks.last().unwrap().tok {
                Tok::Error(m) => assert_eq!(m, want, "{input}"),
                t => panic!("{input}: expected error, got {t:?}"),
            }
        }
    }
}
