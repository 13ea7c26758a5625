//! Lexer for Go `text/template` source, a port of the state machine in Go's
//! `text/template/parse/lex.go` (default `{{`/`}}` delimiters, trim markers,
//! comments). It produces the whole token stream up front; lexing stops at the
//! first error, which is emitted as an [`Tok::Error`] item.

const LEFT: &str = "{{";
const RIGHT: &str = "}}";
const LEFT_COMMENT: &str = "/*";
const RIGHT_COMMENT: &str = "*/";

/// Token kinds (Go's `itemType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tok {
    Error,
    Bool,
    Char,
    CharConstant,
    Complex,
    Assign,
    Declare,
    Eof,
    Field,
    Identifier,
    LeftDelim,
    LeftParen,
    Number,
    Pipe,
    RawString,
    RightDelim,
    RightParen,
    Space,
    String,
    Text,
    Variable,
    // Keywords.
    Block,
    Break,
    Continue,
    Dot,
    Define,
    Else,
    End,
    If,
    Nil,
    Range,
    Template,
    With,
}

impl Tok {
    fn is_keyword(self) -> bool {
        matches!(
            self,
            Tok::Block
                | Tok::Break
                | Tok::Continue
                | Tok::Dot
                | Tok::Define
                | Tok::Else
                | Tok::End
                | Tok::If
                | Tok::Nil
                | Tok::Range
                | Tok::Template
                | Tok::With
        )
    }
}

/// One token: kind, byte offset in the source, and text.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Item {
    pub typ: Tok,
    pub pos: usize,
    pub val: String,
}

impl std::fmt::Display for Item {
    /// Go's `item.String()`, used in "unexpected X in Y" messages.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.typ {
            Tok::Eof => write!(f, "EOF"),
            Tok::Error => write!(f, "{}", self.val),
            t if t.is_keyword() => write!(f, "<{}>", self.val),
            _ if self.val.chars().count() > 10 => {
                let head: String = self.val.chars().take(10).collect();
                write!(f, "{}...", crate::gofmt::quote(&head))
            }
            _ => write!(f, "{}", crate::gofmt::quote(&self.val)),
        }
    }
}

fn keyword(word: &str) -> Option<Tok> {
    Some(match word {
        "." => Tok::Dot,
        "block" => Tok::Block,
        "break" => Tok::Break,
        "continue" => Tok::Continue,
        "define" => Tok::Define,
        "else" => Tok::Else,
        "end" => Tok::End,
        "if" => Tok::If,
        "range" => Tok::Range,
        "nil" => Tok::Nil,
        "template" => Tok::Template,
        "with" => Tok::With,
        _ => return None,
    })
}

pub(crate) fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

pub(crate) fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphabetic() || c.is_numeric()
}

fn has_left_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && b[0] == b'-' && is_space(b[1] as char)
}

fn has_right_trim(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() >= 2 && is_space(b[0] as char) && b[1] == b'-'
}

/// Formats a rune like Go's `%#U`: `U+0041 'A'` (quote part only if printable).
pub(crate) fn go_sharp_u(c: char) -> String {
    if crate::gofmt::is_print(c) {
        format!("U+{:04X} '{}'", c as u32, c)
    } else {
        format!("U+{:04X}", c as u32)
    }
}

struct Lexer<'a> {
    input: &'a str,
    pos: usize,
    start: usize,
    paren_depth: i32,
    items: Vec<Item>,
}

enum State {
    Text,
    LeftDelim,
    Comment,
    RightDelim,
    InsideAction,
    Space,
    Quote,
    RawQuote,
    Char,
    Number,
    Identifier,
    FieldOrVar(Tok),
    Done,
}

/// Lexes `input` into tokens, ending with `Eof` or `Error`.
pub(crate) fn lex(input: &str) -> Vec<Item> {
    let mut l = Lexer {
        input,
        pos: 0,
        start: 0,
        paren_depth: 0,
        items: Vec::new(),
    };
    let mut state = State::Text;
    loop {
        state = match state {
            State::Text => l.lex_text(),
            State::LeftDelim => l.lex_left_delim(),
            State::Comment => l.lex_comment(),
            State::RightDelim => l.lex_right_delim(),
            State::InsideAction => l.lex_inside_action(),
            State::Space => l.lex_space(),
            State::Quote => l.lex_quote('"', "unterminated quoted string", Tok::String),
            State::RawQuote => l.lex_raw_quote(),
            State::Char => l.lex_quote('\'', "unterminated character constant", Tok::CharConstant),
            State::Number => l.lex_number(),
            State::Identifier => l.lex_identifier(),
            State::FieldOrVar(t) => l.lex_field_or_var(t),
            State::Done => break,
        };
    }
    l.items
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        &self.input[self.pos..]
    }

    fn next(&mut self) -> Option<char> {
        let c = self.rest().chars().next()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn backup(&mut self, c: Option<char>) {
        if let Some(c) = c {
            self.pos -= c.len_utf8();
        }
    }

    fn emit(&mut self, typ: Tok) -> State {
        let val = self.input[self.start..self.pos].to_string();
        self.items.push(Item {
            typ,
            pos: self.start,
            val,
        });
        self.start = self.pos;
        State::InsideAction
    }

    fn ignore(&mut self) {
        self.start = self.pos;
    }

    fn errorf(&mut self, msg: String) -> State {
        self.items.push(Item {
            typ: Tok::Error,
            pos: self.start,
            val: msg,
        });
        State::Done
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

    fn lex_text(&mut self) -> State {
        if let Some(x) = self.rest().find(LEFT) {
            if x > 0 {
                self.pos += x;
                let delim_end = self.pos + LEFT.len();
                let trim = if has_left_trim(&self.input[delim_end..]) {
                    let text = &self.input[self.start..self.pos];
                    text.len() - text.trim_end_matches(is_space).len()
                } else {
                    0
                };
                let text = &self.input[self.start..self.pos - trim];
                if !text.is_empty() {
                    self.items.push(Item {
                        typ: Tok::Text,
                        pos: self.start,
                        val: text.to_string(),
                    });
                }
                self.start = self.pos;
            }
            return State::LeftDelim;
        }
        self.pos = self.input.len();
        if self.pos > self.start {
            self.items.push(Item {
                typ: Tok::Text,
                pos: self.start,
                val: self.input[self.start..].to_string(),
            });
            self.start = self.pos;
        }
        self.items.push(Item {
            typ: Tok::Eof,
            pos: self.pos,
            val: String::new(),
        });
        State::Done
    }

    fn lex_left_delim(&mut self) -> State {
        self.pos += LEFT.len();
        let trim = has_left_trim(self.rest());
        let after = if trim { 2 } else { 0 };
        if self.input[self.pos + after..].starts_with(LEFT_COMMENT) {
            self.pos += after;
            self.ignore();
            return State::Comment;
        }
        self.items.push(Item {
            typ: Tok::LeftDelim,
            pos: self.start,
            val: LEFT.to_string(),
        });
        self.pos += after;
        self.ignore();
        self.paren_depth = 0;
        State::InsideAction
    }

    fn at_right_delim(&self) -> (bool, bool) {
        let r = self.rest();
        if has_right_trim(r) && r[2..].starts_with(RIGHT) {
            return (true, true);
        }
        (r.starts_with(RIGHT), false)
    }

    fn skip_left_trim_space(&mut self) {
        let r = self.rest();
        self.pos += r.len() - r.trim_start_matches(is_space).len();
    }

    fn lex_comment(&mut self) -> State {
        self.pos += LEFT_COMMENT.len();
        let Some(x) = self.rest().find(RIGHT_COMMENT) else {
            return self.errorf("unclosed comment".into());
        };
        self.pos += x + RIGHT_COMMENT.len();
        let (delim, trim) = self.at_right_delim();
        if !delim {
            return self.errorf("comment ends before closing delimiter".into());
        }
        if trim {
            self.pos += 2;
        }
        self.pos += RIGHT.len();
        if trim {
            self.skip_left_trim_space();
        }
        self.ignore();
        State::Text
    }

    fn lex_right_delim(&mut self) -> State {
        let (_, trim) = self.at_right_delim();
        if trim {
            self.pos += 2;
            self.ignore();
        }
        self.pos += RIGHT.len();
        self.items.push(Item {
            typ: Tok::RightDelim,
            pos: self.start,
            val: RIGHT.to_string(),
        });
        if trim {
            self.skip_left_trim_space();
        }
        self.ignore();
        State::Text
    }

    fn lex_inside_action(&mut self) -> State {
        let (delim, _) = self.at_right_delim();
        if delim {
            if self.paren_depth == 0 {
                return State::RightDelim;
            }
            return self.errorf("unclosed left paren".into());
        }
        let Some(r) = self.next() else {
            return self.errorf("unclosed action".into());
        };
        match r {
            c if is_space(c) => {
                self.backup(Some(c));
                State::Space
            }
            '=' => self.emit(Tok::Assign),
            ':' => {
                if self.next() != Some('=') {
                    return self.errorf("expected :=".into());
                }
                self.emit(Tok::Declare)
            }
            '|' => self.emit(Tok::Pipe),
            '"' => State::Quote,
            '`' => State::RawQuote,
            '$' => State::FieldOrVar(Tok::Variable),
            '\'' => State::Char,
            '.' => match self.peek() {
                Some(c) if c.is_ascii_digit() => {
                    self.backup(Some('.'));
                    State::Number
                }
                _ => State::FieldOrVar(Tok::Field),
            },
            '+' | '-' | '0'..='9' => {
                self.backup(Some(r));
                State::Number
            }
            c if is_alnum(c) => {
                self.backup(Some(c));
                State::Identifier
            }
            '(' => {
                self.paren_depth += 1;
                self.emit(Tok::LeftParen)
            }
            ')' => {
                self.paren_depth -= 1;
                if self.paren_depth < 0 {
                    return self.errorf("unexpected right paren".into());
                }
                self.emit(Tok::RightParen)
            }
            c if c.is_ascii() && !c.is_ascii_control() => self.emit(Tok::Char),
            c => self.errorf(format!(
                "unrecognized character in action: {}",
                go_sharp_u(c)
            )),
        }
    }

    fn lex_space(&mut self) -> State {
        let mut n = 0;
        while let Some(c) = self.peek() {
            if !is_space(c) {
                break;
            }
            self.pos += c.len_utf8();
            n += 1;
        }
        // A trim-marked right delimiter: " -}}". Leave the last space to it.
        let before = &self.input[self.pos - 1..];
        if has_right_trim(before) && before[2..].starts_with(RIGHT) {
            self.pos -= 1;
            if n == 1 {
                return State::InsideAction;
            }
        }
        self.emit(Tok::Space)
    }

    fn lex_quote(&mut self, q: char, unterminated: &str, typ: Tok) -> State {
        loop {
            match self.next() {
                Some('\\') => match self.next() {
                    Some(c) if c != '\n' => {}
                    _ => return self.errorf(unterminated.into()),
                },
                None | Some('\n') => return self.errorf(unterminated.into()),
                Some(c) if c == q => break,
                _ => {}
            }
        }
        self.emit(typ)
    }

    fn lex_raw_quote(&mut self) -> State {
        loop {
            match self.next() {
                None => return self.errorf("unterminated raw quoted string".into()),
                Some('`') => break,
                _ => {}
            }
        }
        self.emit(Tok::RawString)
    }

    fn at_terminator(&self) -> bool {
        match self.peek() {
            None => true,
            Some(c) if is_space(c) => true,
            Some('.' | ',' | '|' | ':' | ')' | '(') => true,
            _ => self.rest().starts_with(RIGHT),
        }
    }

    fn lex_field_or_var(&mut self, typ: Tok) -> State {
        if self.at_terminator() {
            return self.emit(if typ == Tok::Variable {
                Tok::Variable
            } else {
                Tok::Dot
            });
        }
        let last = loop {
            let r = self.next();
            match r {
                Some(c) if is_alnum(c) => {}
                _ => {
                    self.backup(r);
                    break r;
                }
            }
        };
        if !self.at_terminator() {
            let c = last.unwrap_or('\u{0}');
            return self.errorf(format!("bad character {}", go_sharp_u(c)));
        }
        self.emit(typ)
    }

    fn lex_identifier(&mut self) -> State {
        loop {
            let r = self.next();
            match r {
                Some(c) if is_alnum(c) => {}
                _ => {
                    self.backup(r);
                    let word = &self.input[self.start..self.pos];
                    if !self.at_terminator() {
                        let c = r.unwrap_or('\u{0}');
                        return self.errorf(format!("bad character {}", go_sharp_u(c)));
                    }
                    let typ = match keyword(word) {
                        Some(k) => k,
                        None if word == "true" || word == "false" => Tok::Bool,
                        None => Tok::Identifier,
                    };
                    return self.emit(typ);
                }
            }
        }
    }

    fn scan_number(&mut self) -> bool {
        self.accept("+-");
        let mut digits = "0123456789_";
        if self.accept("0") {
            if self.accept("xX") {
                digits = "0123456789abcdefABCDEF_";
            } else if self.accept("oO") {
                digits = "01234567_";
            } else if self.accept("bB") {
                digits = "01_";
            }
        }
        self.accept_run(digits);
        if self.accept(".") {
            self.accept_run(digits);
        }
        if digits.len() == 11 && self.accept("eE") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        if digits.len() == 23 && self.accept("pP") {
            self.accept("+-");
            self.accept_run("0123456789_");
        }
        self.accept("i");
        if self.peek().is_some_and(is_alnum) {
            self.next();
            return false;
        }
        true
    }

    fn lex_number(&mut self) -> State {
        if !self.scan_number() {
            let s = self.input[self.start..self.pos].to_string();
            return self.errorf(format!("bad number syntax: {}", crate::gofmt::quote(&s)));
        }
        if matches!(self.peek(), Some('+' | '-')) {
            if !self.scan_number() || !self.input[..self.pos].ends_with('i') {
                let s = self.input[self.start..self.pos].to_string();
                return self.errorf(format!("bad number syntax: {}", crate::gofmt::quote(&s)));
            }
            return self.emit(Tok::Complex);
        }
        self.emit(Tok::Number)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expect: &[(Tok, &str)]) {
        let got: Vec<(Tok, String)> = lex(input).into_iter().map(|i| (i.typ, i.val)).collect();
        let want: Vec<(Tok, String)> = expect.iter().map(|(t, v)| (*t, v.to_string())).collect();
        assert_eq!(got, want, "input {input:?}");
    }

    #[test]
    fn lexes() {
        use Tok::*;
        check("a", &[(Text, "a"), (Eof, "")]);
        check(
            "x {{- .A.b | f 1 -}} y",
            &[
                (Text, "x"),
                (LeftDelim, "{{"),
                (Field, ".A"),
                (Field, ".b"),
                (Space, " "),
                (Pipe, "|"),
                (Space, " "),
                (Identifier, "f"),
                (Space, " "),
                (Number, "1"),
                (RightDelim, "}}"),
                (Text, "y"),
                (Eof, ""),
            ],
        );
        check("a {{/* c */}} b", &[(Text, "a "), (Text, " b"), (Eof, "")]);
        check(
            "a {{- /* c */ -}} b",
            &[(Text, "a"), (Text, "b"), (Eof, "")],
        );
        check(
            "{{$x := `r`}}",
            &[
                (LeftDelim, "{{"),
                (Variable, "$x"),
                (Space, " "),
                (Declare, ":="),
                (Space, " "),
                (RawString, "`r`"),
                (RightDelim, "}}"),
                (Eof, ""),
            ],
        );
        check("{{", &[(LeftDelim, "{{"), (Error, "unclosed action")]);
        check(
            "{{ \u{a0}}}",
            &[
                (LeftDelim, "{{"),
                (Space, " "),
                (Error, "unrecognized character in action: U+00A0"),
            ],
        );
        check(
            "{{ 3k }}",
            &[
                (LeftDelim, "{{"),
                (Space, " "),
                (Error, "bad number syntax: \"3k\""),
            ],
        );
        check(
            "{{ (1 }}",
            &[
                (LeftDelim, "{{"),
                (Space, " "),
                (LeftParen, "("),
                (Number, "1"),
                (Space, " "),
                (Error, "unclosed left paren"),
            ],
        );
        check("{{/* x", &[(Error, "unclosed comment")]);
        check(
            "{{/* x */ }}",
            &[(Error, "comment ends before closing delimiter")],
        );
    }
}
