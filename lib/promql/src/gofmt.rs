//! Go's float formatting (`strconv.FormatFloat`, and so `fmt`'s `%e %f %g`
//! and `%v`): the one implementation behind PromQL's printer and error
//! texts, the template engine's `printf`/`humanize` and promtool's failure
//! messages. Pure.

/// Decimal digits of |v| (no trailing zeros) and the decimal point position,
/// as Go's `decimalSlice`: value = 0.d1d2... * 10^dp. Zero has no digits.
fn digits(v: f64, sig: Option<usize>) -> (Vec<u8>, i32) {
    let a = v.abs();
    if a == 0.0 {
        return (Vec::new(), 0);
    }
    let s = match sig {
        None => format!("{a:e}"),
        Some(n) => format!("{:.*e}", n.max(1) - 1, a),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while d.len() > 1 && d.last() == Some(&b'0') {
        d.pop();
    }
    (d, exp + 1)
}

fn fmt_e(d: &[u8], dp: i32, prec: usize, e: char) -> String {
    let mut out = String::new();
    out.push(d.first().map_or('0', |&c| c as char));
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(d.get(i).map_or('0', |&c| c as char));
        }
    }
    out.push(e);
    let mut exp = if d.is_empty() { 0 } else { dp - 1 };
    if exp < 0 {
        out.push('-');
        exp = -exp;
    } else {
        out.push('+');
    }
    if exp < 10 {
        out.push('0');
    }
    out.push_str(&exp.to_string());
    out
}

fn fmt_f(d: &[u8], dp: i32, prec: usize) -> String {
    let mut out = String::new();
    if dp > 0 {
        let dpu = dp as usize;
        for i in 0..dpu {
            out.push(d.get(i).map_or('0', |&c| c as char));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 1..=prec as i64 {
            let j = i64::from(dp) + i - 1;
            let c = if j >= 0 {
                d.get(j as usize).copied()
            } else {
                None
            };
            out.push(c.map_or('0', char::from));
        }
    }
    out
}

/// Go's `strconv.FormatFloat(v, verb, prec, 64)` for verbs e E f g G
/// (`prec` `None` = shortest). Infinities are `+Inf`/`-Inf`.
pub fn format_float(v: f64, verb: char, prec: Option<usize>) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    let neg = v.is_sign_negative();
    let body = match verb {
        'f' | 'F' => match prec {
            Some(p) => format!("{:.*}", p, v.abs()),
            None => {
                let (d, dp) = digits(v, None);
                fmt_f(&d, dp, (d.len() as i32 - dp).max(0) as usize)
            }
        },
        'e' | 'E' => {
            let (d, dp) = match prec {
                Some(p) => digits(v, Some(p + 1)),
                None => digits(v, None),
            };
            let p = prec.unwrap_or(d.len().saturating_sub(1));
            fmt_e(&d, dp, p, verb)
        }
        _ => {
            let e = if verb == 'G' { 'E' } else { 'e' };
            let shortest = prec.is_none();
            let (d, dp) = match prec {
                Some(p) => digits(v, Some(p.max(1))),
                None => digits(v, None),
            };
            let nd = d.len() as i32;
            let mut p = match prec {
                Some(p) => p.max(1) as i32,
                None => nd,
            };
            let mut eprec = p;
            if eprec > nd && nd >= dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = dp - 1;
            if exp < -4 || exp >= eprec {
                if p > nd {
                    p = nd;
                }
                fmt_e(&d, dp, (p - 1).max(0) as usize, e)
            } else {
                if p > dp {
                    p = nd;
                }
                fmt_f(&d, dp, (p - dp).max(0) as usize)
            }
        }
    };
    if neg {
        format!("-{body}")
    } else {
        body
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats() {
        let cases: &[(f64, char, Option<usize>, &str)] = &[
            (1234567.0, 'g', Some(4), "1.235e+06"),
            (1.5, 'g', Some(4), "1.5"),
            (100.0, 'g', Some(4), "100"),
            (0.0, 'g', Some(4), "0"),
            (0.12, 'g', Some(4), "0.12"),
            (0.0001, 'g', Some(4), "0.0001"),
            (0.00001, 'g', Some(4), "1e-05"),
            (1e6, 'g', None, "1e+06"),
            (123456.0, 'g', None, "123456"),
            (0.1, 'g', None, "0.1"),
            (1e21, 'g', None, "1e+21"),
            (-22.222, 'g', Some(4), "-22.22"),
            (9.223372036854776e18, 'g', None, "9.223372036854776e+18"),
            (3720.01, 'f', Some(2), "3720.01"),
            (1.0, 'e', Some(6), "1.000000e+00"),
            (0.0, 'e', Some(2), "0.00e+00"),
            (123.456, 'e', None, "1.23456e+02"),
            (f64::INFINITY, 'g', None, "+Inf"),
            (f64::NEG_INFINITY, 'f', Some(2), "-Inf"),
        ];
        for (v, verb, prec, want) in cases {
            assert_eq!(format_float(*v, *verb, *prec), *want, "{v} {verb} {prec:?}");
        }
    }

    #[test]
    fn shortest_forms() {
        let cases: &[(f64, char, &str)] = &[
            (f64::NAN, 'g', "NaN"),
            (1.5, 'g', "1.5"),
            (-0.5, 'g', "-0.5"),
            (123456.0, 'g', "123456"),
            (1234567.0, 'g', "1.234567e+06"),
            (0.00001, 'g', "1e-05"),
            (f64::INFINITY, 'g', "+Inf"),
            (0.0, 'g', "0"),
            (-0.0, 'g', "-0"),
            (1e21, 'f', "1000000000000000000000"),
            (1e-7, 'f', "0.0000001"),
            (-2.5, 'f', "-2.5"),
            (f64::NEG_INFINITY, 'f', "-Inf"),
            (1.0, 'E', "1E+00"),
            (0.0, 'E', "0E+00"),
            (1_704_067_200.0, 'E', "1.7040672E+09"),
            (-0.5, 'E', "-5E-01"),
            (2.9999999999999996, 'E', "2.9999999999999996E+00"),
            (1e-300, 'E', "1E-300"),
            (f64::NAN, 'E', "NaN"),
            (f64::NEG_INFINITY, 'E', "-Inf"),
        ];
        for &(v, verb, want) in cases {
            assert_eq!(format_float(v, verb, None), want, "{v} {verb}");
        }
    }
}
