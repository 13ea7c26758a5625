//! A port of the parts of Go's `fmt` and `strconv` formatting that templates
//! reach: `%v` printing of values, `Sprint`/`Sprintln`/`Sprintf` with flags,
//! width and precision (floats go through `watchfire_promql::gofmt`), and
//! `strconv.Quote`.

use crate::value::Value;
use watchfire_promql::gofmt::format_float;

/// Go's `unicode.IsPrint`, approximated with the categories Rust exposes.
pub(crate) fn is_print(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = c as u32;
    let format_or_private = matches!(u,
        0xAD | 0x600..=0x605 | 0x61C | 0x6DD | 0x70F | 0x180E | 0x200B..=0x200F
        | 0x202A..=0x202E | 0x2060..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB
        | 0xE000..=0xF8FF | 0xF0000..=0x10FFFF);
    !format_or_private
}

/// Go's `strconv.Quote`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        escape_rune(&mut out, c, '"');
    }
    out.push('"');
    out
}

fn escape_rune(out: &mut String, c: char, q: char) {
    match c {
        _ if c == q || c == '\\' => {
            out.push('\\');
            out.push(c);
        }
        '\u{7}' => out.push_str("\\a"),
        '\u{8}' => out.push_str("\\b"),
        '\u{c}' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\u{b}' => out.push_str("\\v"),
        _ if is_print(c) => out.push(c),
        _ if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
        _ if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
        _ => out.push_str(&format!("\\U{:08x}", c as u32)),
    }
}

/// Go's `strconv.QuoteRune`.
fn quote_rune(c: char) -> String {
    let mut out = String::from("'");
    escape_rune(&mut out, c, '\'');
    out.push('\'');
    out
}

/// Printf flags for one verb.
#[derive(Debug, Default, Clone, Copy)]
struct Flags {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    plus_v: bool,
    wid: Option<usize>,
    prec: Option<usize>,
}

fn pad(out: &mut String, s: &str, f: &Flags) {
    let n = s.chars().count();
    let w = f.wid.unwrap_or(0);
    if n >= w {
        out.push_str(s);
        return;
    }
    let fill = if f.zero { '0' } else { ' ' };
    let padding: String = std::iter::repeat_n(fill, w - n).collect();
    if f.minus {
        out.push_str(s);
        out.push_str(&padding.replace('0', " "));
    } else {
        out.push_str(&padding);
        out.push_str(s);
    }
}

fn fmt_integer(out: &mut String, neg: bool, mut u: u128, base: u32, verb: char, f: &Flags) {
    let mut prec = 0usize;
    if let Some(p) = f.prec {
        prec = p;
        if p == 0 && u == 0 {
            let g = Flags { zero: false, ..*f };
            pad(out, "", &g);
            return;
        }
    } else if f.zero && !f.minus && f.wid.is_some() {
        prec = f.wid.unwrap_or(0);
        if neg || f.plus || f.space {
            prec = prec.saturating_sub(1);
        }
    }
    let upper = verb == 'X';
    let mut buf: Vec<char> = Vec::new();
    if u == 0 {
        buf.push('0');
    }
    while u > 0 {
        let d = (u % u128::from(base)) as u32;
        let c = std::char::from_digit(d, base).unwrap_or('0');
        buf.push(if upper { c.to_ascii_uppercase() } else { c });
        u /= u128::from(base);
    }
    while buf.len() < prec {
        buf.push('0');
    }
    if f.sharp {
        match base {
            2 => buf.extend(['b', '0']),
            8 if buf.last() != Some(&'0') => buf.push('0'),
            16 => buf.extend([if upper { 'X' } else { 'x' }, '0']),
            _ => {}
        }
    }
    if verb == 'O' {
        buf.extend(['o', '0']);
    }
    if neg {
        buf.push('-');
    } else if f.plus {
        buf.push('+');
    } else if f.space {
        buf.push(' ');
    }
    let s: String = buf.into_iter().rev().collect();
    let g = Flags { zero: false, ..*f };
    pad(out, &s, &g);
}

fn fmt_float_verb(out: &mut String, v: f64, verb: char, f: &Flags) {
    let (verb, default_prec) = match verb {
        'v' => ('g', None),
        'f' | 'F' | 'e' | 'E' => (verb, Some(6)),
        _ => (verb, None),
    };
    let prec = f.prec.or(default_prec);
    let mut num = format_float(v, verb, prec);
    if !num.starts_with(['-', '+']) {
        num.insert(0, '+');
    }
    if f.space && num.starts_with('+') && !f.plus {
        num.replace_range(0..1, " ");
    }
    let special = num[1..].starts_with(['I', 'N']);
    if special {
        if num[1..].starts_with('N') && !f.space && !f.plus {
            num.remove(0);
        }
        pad(out, &num, &Flags { zero: false, ..*f });
        return;
    }
    if f.plus || !num.starts_with('+') {
        if f.zero && !f.minus && f.wid.is_some_and(|w| w > num.len()) {
            let w = f.wid.unwrap_or(0);
            out.push_str(&num[..1]);
            out.push_str(&"0".repeat(w - num.len()));
            out.push_str(&num[1..]);
            return;
        }
        pad(out, &num, f);
        return;
    }
    pad(out, &num[1..], f);
}

fn fmt_string(out: &mut String, s: &str, verb: char, f: &Flags) {
    match verb {
        'v' | 's' => {
            let s: String = match f.prec {
                Some(p) => s.chars().take(p).collect(),
                None => s.to_string(),
            };
            pad(out, &s, f);
        }
        'q' => {
            if f.sharp
                && !s.contains(['`', '\r'])
                && s.chars().all(|c| c == '\t' || !c.is_control())
            {
                pad(out, &format!("`{s}`"), f);
            } else {
                pad(out, &quote(s), f);
            }
        }
        'x' | 'X' => {
            let mut h = String::new();
            for (i, b) in s.bytes().enumerate() {
                if f.space && i > 0 {
                    h.push(' ');
                }
                if f.sharp && (f.space || i == 0) {
                    h.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                if verb == 'x' {
                    h.push_str(&format!("{b:02x}"));
                } else {
                    h.push_str(&format!("{b:02X}"));
                }
            }
            pad(out, &h, f);
        }
        _ => bad_verb(out, &Value::String(s.to_string()), verb),
    }
}

fn bad_verb(out: &mut String, v: &Value, verb: char) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    match v {
        Value::Nil => out.push_str("<nil>"),
        _ => {
            out.push_str(&v.type_name());
            out.push('=');
            print_arg(out, v, 'v', &Flags::default());
        }
    }
    out.push(')');
}

fn print_arg(out: &mut String, v: &Value, verb: char, f: &Flags) {
    if verb == 'T' {
        fmt_string(out, &v.type_name(), 's', f);
        return;
    }
    match v {
        Value::Nil => match verb {
            'v' => pad(out, "<nil>", f),
            _ => bad_verb(out, v, verb),
        },
        Value::Bool(b) => match verb {
            't' | 'v' => pad(out, if *b { "true" } else { "false" }, f),
            _ => bad_verb(out, v, verb),
        },
        Value::Int(i) => print_int(out, v, *i < 0, u128::from(i.unsigned_abs()), verb, f),
        Value::Uint(u) => print_int(out, v, false, u128::from(*u), verb, f),
        Value::Float(x) => match verb {
            'v' | 'b' | 'g' | 'G' | 'x' | 'X' | 'f' | 'F' | 'e' | 'E' => {
                let verb = if matches!(verb, 'b' | 'x' | 'X') {
                    'g'
                } else {
                    verb
                };
                fmt_float_verb(out, *x, verb, f);
            }
            _ => bad_verb(out, v, verb),
        },
        Value::String(s) => fmt_string(out, s, verb, f),
        Value::Time(t) => match verb {
            'v' | 's' | 'x' | 'X' | 'q' => fmt_string(out, &crate::gotime::time_string(t), verb, f),
            _ => bad_verb(out, v, verb),
        },
        Value::Duration(d) => match verb {
            'v' | 's' | 'x' | 'X' | 'q' => {
                fmt_string(out, &crate::gotime::duration_string(*d), verb, f)
            }
            _ => print_int(out, v, *d < 0, u128::from(d.unsigned_abs()), verb, f),
        },
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_arg(out, item, verb, f);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, val)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                fmt_string(out, k, verb, f);
                out.push(':');
                print_arg(out, val, verb, f);
            }
            out.push(']');
        }
        Value::StrMap(m) => print_strmap(out, m, verb, f),
        Value::Vector(samples) => {
            out.push('[');
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print_arg(out, &Value::Sample(s.clone()), verb, f);
            }
            out.push(']');
        }
        Value::Sample(s) => {
            out.push_str("&{");
            if f.plus_v {
                out.push_str("Labels:");
            }
            print_strmap(out, &s.labels, verb, f);
            out.push(' ');
            if f.plus_v {
                out.push_str("Value:");
            }
            print_arg(out, &Value::Float(s.value), verb, f);
            out.push('}');
        }
        Value::Struct(st) => {
            out.push('{');
            for (i, (name, val)) in st.fields.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                if f.plus_v {
                    out.push_str(name);
                    out.push(':');
                }
                print_arg(out, val, verb, f);
            }
            out.push('}');
        }
    }
}

fn print_strmap(
    out: &mut String,
    m: &std::collections::BTreeMap<String, String>,
    verb: char,
    f: &Flags,
) {
    out.push_str("map[");
    for (i, (k, val)) in m.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        fmt_string(out, k, verb, f);
        out.push(':');
        fmt_string(out, val, verb, f);
    }
    out.push(']');
}

fn print_int(out: &mut String, v: &Value, neg: bool, u: u128, verb: char, f: &Flags) {
    match verb {
        'v' | 'd' => fmt_integer(out, neg, u, 10, verb, f),
        'b' => fmt_integer(out, neg, u, 2, verb, f),
        'o' | 'O' => fmt_integer(out, neg, u, 8, verb, f),
        'x' | 'X' => fmt_integer(out, neg, u, 16, verb, f),
        'c' => {
            let c = if neg {
                None
            } else {
                u32::try_from(u).ok().and_then(char::from_u32)
            };
            pad(out, &c.unwrap_or('\u{FFFD}').to_string(), f);
        }
        'q' => {
            let c = if neg {
                None
            } else {
                u32::try_from(u).ok().and_then(char::from_u32)
            };
            pad(out, &quote_rune(c.unwrap_or('\u{FFFD}')), f);
        }
        'U' => {
            let s = format!("U+{u:04X}");
            pad(out, &s, &Flags { zero: false, ..*f });
        }
        _ => bad_verb(out, v, verb),
    }
}

/// `fmt.Sprint`: spaces between operands when neither is a string.
pub(crate) fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(a, Value::String(_));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        print_arg(&mut out, a, 'v', &Flags::default());
        prev_string = is_string;
    }
    out
}

/// `fmt.Sprintln`: always spaces, trailing newline.
pub(crate) fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        print_arg(&mut out, a, 'v', &Flags::default());
    }
    out.push('\n');
    out
}

/// `fmt.Sprint` of a single value (`%v`).
pub(crate) fn format_v(v: &Value) -> String {
    let mut out = String::new();
    print_arg(&mut out, v, 'v', &Flags::default());
    out
}

fn parse_num(b: &[u8], mut i: usize) -> (Option<usize>, usize) {
    let start = i;
    let mut n: usize = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        n = n
            .saturating_mul(10)
            .saturating_add(usize::from(b[i] - b'0'));
        if n > 1_000_000 {
            return (None, i);
        }
        i += 1;
    }
    if i == start {
        (None, i)
    } else {
        (Some(n), i)
    }
}

fn int_from_arg(args: &[Value], n: &mut usize) -> Option<i64> {
    let v = match args.get(*n) {
        Some(Value::Int(i)) => Some(*i),
        Some(Value::Uint(u)) => i64::try_from(*u).ok(),
        _ => None,
    };
    if *n < args.len() {
        *n += 1;
    }
    v.filter(|v| v.abs() <= 1_000_000)
}

/// `fmt.Sprintf` (no explicit argument indexes).
pub(crate) fn sprintf(format: &str, args: &[Value]) -> String {
    let b = format.as_bytes();
    let end = b.len();
    let mut out = String::new();
    let mut arg = 0usize;
    let mut i = 0usize;
    while i < end {
        let last = i;
        while i < end && b[i] != b'%' {
            i += 1;
        }
        out.push_str(&format[last..i]);
        if i >= end {
            break;
        }
        i += 1;
        let mut f = Flags::default();
        while i < end {
            match b[i] {
                b'#' => f.sharp = true,
                b'0' => f.zero = !f.minus,
                b'+' => f.plus = true,
                b'-' => {
                    f.minus = true;
                    f.zero = false;
                }
                b' ' => f.space = true,
                _ => break,
            }
            i += 1;
        }
        if i < end && b[i] == b'*' {
            i += 1;
            match int_from_arg(args, &mut arg) {
                Some(w) => {
                    if w < 0 {
                        f.minus = true;
                        f.zero = false;
                    }
                    f.wid = Some(w.unsigned_abs() as usize);
                }
                None => out.push_str("%!(BADWIDTH)"),
            }
        } else {
            let (w, ni) = parse_num(b, i);
            f.wid = w;
            i = ni;
        }
        if i + 1 < end && b[i] == b'.' {
            i += 1;
            if i < end && b[i] == b'*' {
                i += 1;
                match int_from_arg(args, &mut arg) {
                    Some(p) if p >= 0 => f.prec = Some(p as usize),
                    Some(_) => {}
                    None => out.push_str("%!(BADPREC)"),
                }
            } else {
                let (p, ni) = parse_num(b, i);
                f.prec = Some(p.unwrap_or(0));
                i = ni;
            }
        }
        if i >= end {
            out.push_str("%!(NOVERB)");
            break;
        }
        let verb = format[i..].chars().next().unwrap_or('?');
        i += verb.len_utf8();
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(a) = args.get(arg) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        if verb == 'v' {
            f.plus_v = f.plus;
            f.plus = false;
            f.sharp = false;
        }
        print_arg(&mut out, a, verb, &f);
        arg += 1;
    }
    if arg < args.len() {
        out.push_str("%!(EXTRA ");
        for (k, a) in args[arg..].iter().enumerate() {
            if k > 0 {
                out.push_str(", ");
            }
            match a {
                Value::Nil => out.push_str("<nil>"),
                _ => {
                    out.push_str(&a.type_name());
                    out.push('=');
                    print_arg(&mut out, a, 'v', &Flags::default());
                }
            }
        }
        out.push(')');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(format: &str, args: Vec<Value>, expect: &str) {
        assert_eq!(sprintf(format, &args), expect, "format {format:?}");
    }

    #[test]
    fn printf() {
        check("%s=%d", vec!["a".into(), Value::Int(5)], "a=5");
        check(
            "%5.1f|%-6s|%05d",
            vec![1.96321.into(), "ab".into(), Value::Int(-42)],
            "  2.0|ab    |-0042",
        );
        check("%.2f%%", vec![0.5.into()], "0.50%");
        check(
            "%q %x %X",
            vec!["a\"b".into(), Value::Int(255), "hi".into()],
            "\"a\\\"b\" ff 6869",
        );
        check(
            "%v %v",
            vec![Value::Float(1e6), Value::Bool(true)],
            "1e+06 true",
        );
        check("%d", vec!["x".into()], "%!d(string=x)");
        check("%s", vec![Value::Int(3)], "%!s(int=3)");
        check("%d %d", vec![Value::Int(1)], "1 %!d(MISSING)");
        check("%d", vec![Value::Int(1), "a".into()], "1%!(EXTRA string=a)");
        check("%", vec![], "%!(NOVERB)");
        check("%g", vec![Value::Float(f64::NAN)], "NaN");
        check("%+d % d", vec![Value::Int(3), Value::Int(3)], "+3  3");
        check(
            "%#x %o %b",
            vec![Value::Int(255), Value::Int(8), Value::Int(5)],
            "0xff 10 101",
        );
        check("%c%q", vec![Value::Int(65), Value::Int(66)], "A'B'");
        check(
            "%*d|%.*f",
            vec![Value::Int(4), Value::Int(7), Value::Int(1), 2.25.into()],
            "   7|2.2",
        );
        check(
            "%v",
            vec![Value::List(vec![Value::Int(1), "a".into()])],
            "[1 a]",
        );
        check(
            "%T %T",
            vec![Value::Float(1.0), Value::Nil],
            "float64 <nil>",
        );
        check("%e", vec![Value::Float(123456.0)], "1.234560e+05");
        check("%.3s", vec!["abcdef".into()], "abc");
        check("%8.3g|", vec![Value::Float(1.96321)], "    1.96|");
    }

    #[test]
    fn sprints() {
        assert_eq!(
            sprint(&[Value::Int(1), Value::Int(2), "a".into(), Value::Int(3)]),
            "1 2a3"
        );
        assert_eq!(sprintln(&[Value::Int(1), "a".into()]), "1 a\n");
        assert_eq!(quote("a\nb\u{1}é"), "\"a\\nb\\x01é\"");
    }
}
