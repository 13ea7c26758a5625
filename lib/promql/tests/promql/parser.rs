//! Parser tests: a table of inputs with the canonical printed form or the
//! exact Prometheus error, every query of the in-scope promqltest files,
//! printer round trips, and no-panic checks on mutated input.

use watchfire_promql::ast::{AtModifier, Expr};
use watchfire_promql::parser::{parse, ParseError, MAX_BINARY_OPS, MAX_DEPTH};

#[path = "parser_cases.rs"]
mod parser_cases;

const CONFORMANCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/conformance/promql"
);

/// Runs one table case: `want` is either the canonical printed form
/// (`Ok`) or the full Prometheus error text (`Err`, `line:col: parse
/// error: ...`).
fn check(input: &str, want: Result<&str, &str>) {
    let got = parse(input);
    match (&got, want) {
        (Ok(e), Ok(printed)) => {
            assert_eq!(e.to_string(), printed, "printed form of {input:?}");
            let again = parse(&e.to_string()).unwrap_or_else(|err| panic!("reparse of {e}: {err}"));
            assert_eq!(again.to_string(), printed, "round trip of {input:?}");
        }
        (Err(e), Err(msg)) => assert_eq!(e.to_string(), msg, "error for {input:?}"),
        (Ok(e), Err(msg)) => panic!("{input:?} parsed as {e}, want error {msg:?}"),
        (Err(e), Ok(p)) => panic!("{input:?} failed with {e}, want {p:?}"),
    }
}

#[test]
fn table() {
    let mut failures = Vec::new();
    for (input, want) in parser_cases::CASES {
        if let Err(e) = std::panic::catch_unwind(|| check(input, *want)) {
            let msg = e.downcast_ref::<String>().cloned().unwrap_or_default();
            failures.push(msg);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        parser_cases::CASES.len(),
        failures.join("\n")
    );
}

/// One `eval` query of a promqltest file.
struct EvalQuery {
    file: String,
    line: usize,
    query: String,
    expect_fail: bool,
}

fn eval_queries() -> Vec<EvalQuery> {
    let mut out = Vec::new();
    for name in watchfire_promql::IN_SCOPE_TEST_FILES {
        let path = format!("{CONFORMANCE}/{name}.test");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let Some(query) = eval_query(line) else {
                continue;
            };
            let mut expect_fail = line.starts_with("eval_fail");
            for next in &lines[i + 1..] {
                let t = next.trim();
                if !next.starts_with([' ', '\t']) || t.is_empty() {
                    break;
                }
                expect_fail |= t.starts_with("expect fail");
            }
            out.push(EvalQuery {
                file: name.to_string(),
                line: i + 1,
                query: query.to_string(),
                expect_fail,
            });
        }
    }
    out
}

/// The query of an `eval instant at <t> <q>` / `eval range from <a> to <b>
/// step <s> <q>` line.
fn eval_query(line: &str) -> Option<&str> {
    let words_before =
        if line.starts_with("eval instant at ") || line.starts_with("eval_fail instant at ") {
            4
        } else if line.starts_with("eval range from ") {
            8
        } else {
            return None;
        };
    let mut rest = line;
    for _ in 0..words_before {
        rest = rest.trim_start();
        rest = &rest[rest.find(' ')?..];
    }
    Some(rest.trim())
}

/// Queries in the in-scope files that fail with `expect fail` because
/// Prometheus rejects them at parse time (the others fail at evaluation).
const PARSE_FAILURES: &[&str] = &[];

#[test]
fn conformance_queries_parse() {
    let queries = eval_queries();
    assert!(queries.len() > 1000, "only {} queries found", queries.len());
    let mut parsed = 0;
    let mut failures = Vec::new();
    for q in &queries {
        match parse(&q.query) {
            Ok(e) => {
                parsed += 1;
                if PARSE_FAILURES.contains(&q.query.as_str()) {
                    failures.push(format!(
                        "{}:{}: {} parsed but Prometheus rejects it",
                        q.file, q.line, q.query
                    ));
                }
                // The printed form parses back to the same printed form.
                let printed = e.to_string();
                match parse(&printed) {
                    Ok(again) => assert_eq!(again.to_string(), printed, "{}:{}", q.file, q.line),
                    Err(err) => failures.push(format!(
                        "{}:{}: reparse of {printed}: {err}",
                        q.file, q.line
                    )),
                }
            }
            Err(err) if q.expect_fail && PARSE_FAILURES.contains(&q.query.as_str()) => {
                let _ = err;
            }
            Err(err) => failures.push(format!("{}:{}: {}: {err}", q.file, q.line, q.query)),
        }
    }
    eprintln!(
        "conformance: {parsed} of {} eval queries parsed",
        queries.len()
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Deterministic xorshift, so the mutation test needs no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Every error must point inside the query and render a position.
fn assert_sane_error(input: &str, e: &ParseError) {
    assert!(
        e.span.start <= input.len(),
        "{input:?}: span {:?} out of range",
        e.span
    );
    assert!(!e.msg.is_empty(), "{input:?}: empty message");
    assert!(e.to_string().contains(": parse error: "), "{input:?}: {e}");
}

#[test]
fn mutated_queries_never_panic() {
    let queries = eval_queries();
    let pieces = [
        "(",
        ")",
        "[",
        "]",
        "{",
        "}",
        "\"",
        "'",
        "`",
        ",",
        ":",
        "@",
        "offset",
        "-",
        "by",
        "on",
        "group_left",
        "5m",
        "1e",
        "0x",
        "\\",
        "#",
        "\n",
        "é",
        "=~",
        "!",
        "sum",
        "bool",
        "start()",
        "[5m:]",
        "^",
        "\u{FFFD}",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut runs = 0;
    for q in &queries {
        let text = &q.query;
        let cuts: Vec<usize> = text
            .char_indices()
            .map(|(i, _)| i)
            .chain([text.len()])
            .collect();
        // Every prefix.
        for &c in &cuts {
            if let Err(e) = parse(&text[..c]) {
                assert_sane_error(&text[..c], &e);
            }
            runs += 1;
        }
        // Random insertions and deletions.
        for _ in 0..8 {
            let a = cuts[rng.below(cuts.len())];
            let b = cuts[rng.below(cuts.len())];
            let (a, b) = (a.min(b), a.max(b));
            let mutated = if rng.below(2) == 0 {
                format!(
                    "{}{}{}",
                    &text[..a],
                    pieces[rng.below(pieces.len())],
                    &text[a..]
                )
            } else {
                format!("{}{}", &text[..a], &text[b..])
            };
            if let Err(e) = parse(&mutated) {
                assert_sane_error(&mutated, &e);
            }
            runs += 1;
        }
    }
    eprintln!("mutations: {runs} parses without panic");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let cases = [
        format!("{}1{}", "(".repeat(100_000), ")".repeat(100_000)),
        format!("{}1", "-".repeat(100_000)),
        format!("foo{}", "[5m:]".repeat(10_000)),
        format!("{}foo{}", "abs(".repeat(10_000), ")".repeat(10_000)),
        format!("{}foo{}", "sum(".repeat(10_000), ")".repeat(10_000)),
        "2 ^ ".repeat(10_000) + "2",
    ];
    // Run on a small stack, as a test or server thread would have.
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            for input in &cases {
                let err = parse(input).expect_err("too deep");
                assert!(
                    err.msg.contains("nesting too deep"),
                    "{}: {err}",
                    &input[..20]
                );
            }
            // Too many binary operators: a clear error, not a crash.
            let err = parse(&vec!["1"; 50_000].join(" + ")).expect_err("too long");
            assert!(err.msg.contains("too many binary operators"), "{err}");
            // Just under the limit still parses (and prints and checks).
            let ok = format!(
                "{}1{}",
                "(".repeat(MAX_DEPTH / 2 - 1),
                ")".repeat(MAX_DEPTH / 2 - 1)
            );
            let e = parse(&ok).expect("within limit");
            assert_eq!(e.to_string(), ok);
        })
        .expect("spawn");
    handle.join().expect("no stack overflow");
}

#[test]
fn ast_details() {
    // Offsets, @ and ranges in milliseconds, on the right nodes.
    match parse("foo[5m] offset -1h30m @ 100.5").unwrap() {
        Expr::MatrixSelector { vs, range, .. } => {
            assert_eq!(range, 300_000);
            assert_eq!(vs.offset, -5_400_000);
            assert_eq!(vs.at, Some(AtModifier::Timestamp(100_500)));
            assert_eq!(vs.name.as_deref(), Some("foo"));
        }
        e => panic!("{e:?}"),
    }
    match parse("rate(foo[1m])[30m:] @ end() offset 1m").unwrap() {
        Expr::Subquery {
            range,
            step,
            offset,
            at,
            ..
        } => {
            assert_eq!(
                (range, step, offset, at),
                (1_800_000, None, 60_000, Some(AtModifier::End))
            );
        }
        e => panic!("{e:?}"),
    }
    // Unary minus folds into number literals; -2^2 is -(2^2).
    match parse("-2^2").unwrap() {
        Expr::Unary {
            neg: true, expr, ..
        } => assert!(matches!(*expr, Expr::Binary { .. })),
        e => panic!("{e:?}"),
    }
    assert!(matches!(parse("-1").unwrap(), Expr::Number { val, .. } if val == -1.0));
    // Positions are 1-based line:col, bytes as in Prometheus.
    let e = parse("foo +\n  bar{").unwrap_err();
    assert_eq!((e.line_col(), e.span.start), ((2, 7), 12));
}

#[test]
fn long_operator_chains_parse_and_evaluate_on_a_small_stack() {
    use watchfire_promql::eval::{Engine, Value};
    use watchfire_promql::storage::MemStorage;
    // (term, count, operator, expected value); Prometheus accepts such
    // chains, which used to fail with "nesting too deep" past 512 terms.
    let cases: Vec<(&str, usize, &str, f64)> = vec![
        ("1", 5_000, " + ", 5_000.0),
        ("1", 5_000, " * ", 1.0),
        (
            "1",
            MAX_BINARY_OPS + 1,
            " - ",
            -(MAX_BINARY_OPS as f64 - 1.0),
        ),
        ("vector(1)", 2_000, " + ", 2_000.0),
    ];
    let handle = std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            for (term, n, op, want) in cases {
                let name = format!("{n} x {term}{op}");
                let q = vec![term; n].join(op);
                let e = parse(&q).unwrap_or_else(|err| panic!("{name}: {err}"));
                assert_eq!(e.to_string(), q, "{name}");
                let st = MemStorage::default();
                let got = Engine::default().instant(&st, &e, 0).expect("evaluates");
                let v = match got.value {
                    Value::Scalar { v, .. } => v,
                    Value::Vector(v) if v.len() == 1 => v[0].v,
                    other => panic!("{name}: {other:?}"),
                };
                assert_eq!(v, want, "{name}");
                let r = Engine::default()
                    .range(&st, &e, 0, 60_000, 15_000)
                    .expect("range");
                match r.value {
                    Value::Matrix(m) => {
                        assert_eq!(m.len(), 1, "{name}");
                        assert_eq!(m[0].samples.len(), 5, "{name}");
                        assert!(m[0].samples.iter().all(|p| p.v == want), "{name}");
                    }
                    other => panic!("{name}: {other:?}"),
                }
                drop(e);
            }
        })
        .expect("spawn");
    handle.join().expect("no stack overflow");
}
