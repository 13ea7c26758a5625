//! Table-driven edge cases for both formats, plus the public helpers
//! (`negotiate`, `duplicate_series`, float-label normalisation). Every case
//! goes through one `check(format, input, expect)` helper: `expect` is
//! either the rendered samples (one per line) or `ERR line:col: msg-prefix`.

use watchfire_exposition::{
    duplicate_series, format_om_float, negotiate, normalize_float_label, parse, parse_with_options,
    Entry, Format, ParseOptions, Parser, Sample, ACCEPT_HEADER, NORMAL_NAN_BITS,
};

const P: Format = Format::PrometheusText;
const OM: Format = Format::OpenMetrics;

/// Renders a sample as `name{k="v",...} value[ @ts][ # {..} v[ @ts]]`,
/// values unescaped and shown with `{:?}`.
fn render(s: &Sample<'_>) -> String {
    let labels = |set: &watchfire_exposition::LabelSet<'_>| {
        set.iter()
            .map(|l| format!("{}={:?}", l.name, l.value))
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut out = format!("{}{{{}}} {}", s.name, labels(&s.labels), s.value);
    if let Some(t) = s.timestamp_ms {
        out += &format!(" @{t}");
    }
    if let Some(e) = &s.exemplar {
        out += &format!(" # {{{}}} {}", labels(&e.labels), e.value);
        if let Some(t) = e.timestamp_ms {
            out += &format!(" @{t}");
        }
    }
    out
}

fn check(format: Format, input: &str, expect: &str) {
    let got = match parse(input.as_bytes(), format) {
        Ok(samples) => samples.iter().map(render).collect::<Vec<_>>().join("\n"),
        Err(e) => format!("ERR {e}"),
    };
    if let Some(prefix) = expect.strip_prefix("ERR ") {
        assert!(
            got.starts_with(&format!("ERR {prefix}")),
            "input {input:?}: expected error {prefix:?}, got {got:?}"
        );
    } else {
        assert_eq!(got, expect, "input {input:?}");
    }
}

#[test]
fn prometheus_text_cases() {
    let cases: &[(&str, &str)] = &[
        ("a 1\n", "a{} 1"),
        ("a 1", "a{} 1"),
        ("  a{b=\"c\"}   2.5   123  \n\n\n", "a{b=\"c\"} 2.5 @123"),
        (
            "a { b = \"c\" , d=\"e\" , } -Inf\n",
            "a{b=\"c\",d=\"e\"} -inf",
        ),
        ("a{b=\"c\" d=\"e\"} +Inf\n", "a{b=\"c\",d=\"e\"} inf"),
        (
            "a{b=\"x\\\\y\\\"z\\nw\\q\"} 1\n",
            "a{b=\"x\\\\y\\\"z\\nw\\\\q\"} 1",
        ),
        ("a{b=\"}\"}1\n", "a{b=\"}\"} 1"),
        ("a 1e3 -0\n", "ERR 1:7: expected timestamp"),
        ("a 1 -5\n", "ERR 1:5: expected timestamp"),
        ("a 1 99999999999999999999\n", "ERR 1:5: invalid timestamp"),
        (
            "a 1 12 13\n",
            "ERR 1:8: expected end of line after timestamp",
        ),
        ("a NaN\n", "a{} NaN"),
        ("a +NaN\n", "ERR 1:3: invalid value"),
        ("a Infinity\n", "a{} inf"),
        ("a 0x1p-3\n", "ERR 1:3: invalid value"),
        ("a 1_000\n", "ERR 1:3: invalid value"),
        ("a .5\n", "a{} 0.5"),
        ("a\n", "ERR 1:2: expected value after metric"),
        ("a{b=\"c\"}\n", "ERR 1:9: expected value after metric"),
        ("a{b=c} 1\n", "ERR 1:5: expected quoted label value"),
        ("a{b=\"c} 1\n", "ERR 1:5: unterminated label value"),
        ("a{b=\"c\",,d=\"e\"} 1\n", "ERR 1:9: expected label name"),
        ("a{b=\"1\",b=\"2\"} 1\n", "ERR 1:9: duplicate label name"),
        (
            "a{__name__=\"b\"} 1\n",
            "ERR 1:3: label __name__ duplicates",
        ),
        ("{\"my.metric\",a=\"b\"} 1\n", "my.metric{a=\"b\"} 1"),
        ("a{\"my.metric\"} 1\n", "ERR 1:2: metric name already set"),
        ("{a=\"b\"} 1\n", "ERR 1:1: metric name not set"),
        ("a{\"label.x\"=\"v\"} 1\n", "a{label.x=\"v\"} 1"),
        ("0a 1\n", "ERR 1:1: expected a valid start token"),
        ("a-b 1\n", "ERR 1:2: invalid value \"-b\""),
        ("# any comment {\n#nospace\n#\n", ""),
        (
            "# HELP a some \\\\ help \\n\n# TYPE a counter\na_total 1\n",
            "a_total{} 1",
        ),
        (
            "# TYPE a  counter\n",
            "ERR 1:10: invalid metric type \" counter\"",
        ),
        (
            "# TYPE a counter \n",
            "ERR 1:10: invalid metric type \"counter \"",
        ),
        ("# TYPE a gaugehistogram\n", "ERR 1:10: invalid metric type"),
        (
            "# TYPE 1a counter\n",
            "ERR 1:8: expected metric name after TYPE",
        ),
        ("# HELP\n# HELPx a b\n", ""),
        ("# HELP \n", "ERR 1:8: expected metric name after HELP"),
        ("a 1\n\0garbage that is never read\n", "a{} 1"),
        ("a{b=\"caf\u{e9}\"} 1\n", "a{b=\"caf\u{e9}\"} 1"),
    ];
    for (input, expect) in cases {
        check(P, input, expect);
    }
}

#[test]
fn openmetrics_cases() {
    let cases: &[(&str, &str)] = &[
        ("a 1\n# EOF\n", "a{} 1"),
        ("a 1\n# EOF", "a{} 1"),
        ("a 1\n", "ERR 1:1: missing # EOF"),
        ("", "ERR 1:1: missing # EOF"),
        ("a 1.5 1.5\n# EOF\n", "a{} 1.5 @1500"),
        ("a 1 -1.0001\n# EOF\n", "a{} 1 @-1000"),
        ("a{b=\"c\",d=\"e\"} 1\n# EOF\n", "a{b=\"c\",d=\"e\"} 1"),
        ("a{b=\"c\", d=\"e\"} 1\n# EOF\n", "ERR 1:9: expected label name"),
        ("a {b=\"c\"} 1\n# EOF\n", "ERR 1:3: invalid value"),
        ("a  1\n# EOF\n", "ERR 1:3: invalid value \"\""),
        ("a\t1\n# EOF\n", "ERR 1:2: expected a single space"),
        (
            "# TYPE a counter\na_total 1 # {t=\"x\\\"y\"} 0.5 2\n# EOF\n",
            "a_total{} 1 # {t=\"x\\\"y\"} 0.5 @2000",
        ),
        ("# TYPE a counter\na_total 1 # {} 0.5\n# EOF\n", "a_total{} 1 # {} 0.5"),
        ("# TYPE a counter\na_total 1  # {} 0.5\n# EOF\n", "ERR 2:11: invalid timestamp"),
        ("# TYPE a counter\na_total 1 # {\"q\"} 0.5\n# EOF\n", "ERR 2:15: exemplar labels cannot contain"),
        ("# TYPE a counter\na_total 1\na_created 17e8\n# EOF\n", "a_total{} 1\na_created{} 1700000000"),
        ("# TYPE a counter\na 1\n# EOF\n", "ERR 3:1: clashing name a"),
        ("b 1\na 1\nb 2\n# EOF\n", "ERR 4:1: clashing name b"),
        ("# HELP a h \\\" \\n\n# EOF\n", ""),
        ("a 1\n# EOF\n\n", "ERR 3:1: unexpected data after # EOF"),
        ("#  HELP a x\n# EOF\n", "ERR 1:1: invalid line"),
        ("# TYPE a histogram\na_bucket{le=\"1\"} 0\na_bucket{le=\"+Inf\"} 2\na_count 2\na_sum 3\n# EOF\n",
         "a_bucket{le=\"1\"} 0\na_bucket{le=\"+Inf\"} 2\na_count{} 2\na_sum{} 3"),
        ("# TYPE a stateset\na{a=\"x\"} 1\na{a=\"y\"} 0\n# EOF\n", "a{a=\"x\"} 1\na{a=\"y\"} 0"),
        ("# TYPE a info\na_info{v=\"1\"} 1\n# EOF\n", "a_info{v=\"1\"} 1"),
        ("# TYPE a summary\na{quantile=\"0.9\"} NaN\na_count 0\na_sum 0\n# EOF\n",
         "a{quantile=\"0.9\"} NaN\na_count{} 0\na_sum{} 0"),
    ];
    for (input, expect) in cases {
        check(OM, input, expect);
    }
}

#[test]
fn entries_metadata_and_eof() {
    let input = "# HELP a_seconds Time \\\\ spent.\n# TYPE a_seconds gauge\n# UNIT a_seconds seconds\na_seconds 1\n# EOF\n";
    let entries: Vec<Entry<'_>> = Parser::new(input.as_bytes(), OM)
        .collect::<Result<_, _>>()
        .expect("parses");
    assert_eq!(entries.len(), 5);
    assert!(
        matches!(&entries[0], Entry::Help { name, help } if name == "a_seconds" && help == "Time \\ spent.")
    );
    assert!(matches!(
        &entries[1],
        Entry::Type {
            metric_type: watchfire_exposition::MetricType::Gauge,
            ..
        }
    ));
    assert!(matches!(&entries[2], Entry::Unit { unit, .. } if unit == "seconds"));
    assert!(
        matches!(&entries[3], Entry::Sample(s) if s.metric_type == watchfire_exposition::MetricType::Gauge)
    );
    assert_eq!(entries[4], Entry::Eof);
    let prom: Vec<_> = Parser::new(b"# just a note\n", P)
        .collect::<Result<_, _>>()
        .expect("parses");
    assert_eq!(prom, vec![Entry::Comment("# just a note")]);
}

#[test]
fn nan_is_normalised_and_escapes_copy_only_when_needed() {
    let s = parse(b"a{x=\"plain\",y=\"q\\\"d\"} NaN\n", P).expect("parses");
    assert_eq!(s[0].value.to_bits(), NORMAL_NAN_BITS);
    let labels: Vec<_> = s[0].labels.iter().collect();
    assert!(matches!(
        labels[0].value,
        std::borrow::Cow::Borrowed("plain")
    ));
    assert!(matches!(&labels[1].value, std::borrow::Cow::Owned(v) if v == "q\"d"));
    assert_eq!(s[0].labels.get("y").as_deref(), Some("q\"d"));
}

#[test]
fn errors_and_limits() {
    let e = parse(b"a 1\nb{x=\"\xff\"} 1\n", P).expect_err("invalid UTF-8");
    assert_eq!(e.to_string(), "2:6: invalid UTF-8");
    let e = parse("a{x=\"\u{e9}\u{e9}\",y} 1\n".as_bytes(), P).expect_err("bad");
    assert_eq!((e.line, e.col), (1, 11), "column counts characters");
    let small = ParseOptions {
        max_label_value_len: 3,
        max_labels: 2,
        ..Default::default()
    };
    let cases: &[(&str, Option<&str>)] = &[
        ("a{x=\"abc\"} 1\n", None),
        ("a{x=\"abcd\"} 1\n", Some("1:5: label value too long")),
        ("a{x=\"a\",y=\"b\"} 1\n", None),
        (
            "a{x=\"a\",y=\"b\",z=\"c\"} 1\n",
            Some("1:15: too many labels"),
        ),
    ];
    for (input, want) in cases {
        let got = parse_with_options(input.as_bytes(), P, small)
            .err()
            .map(|e| e.to_string());
        assert_eq!(got.as_deref(), *want, "{input}");
    }
    // Never panics on arbitrary bytes (cheap deterministic fuzz).
    let alphabet = b"a{}=\",# \n\\\"01.eE+-InfNa_:\t\0TYPEHELPUNIT\xc3\xa9\xff";
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for _ in 0..20_000 {
        let mut buf = Vec::new();
        for _ in 0..(x % 40) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf.push(alphabet[(x % alphabet.len() as u64) as usize]);
        }
        for f in [P, OM] {
            for e in Parser::new(&buf, f) {
                if let Err(err) = e {
                    assert!(err.line >= 1 && err.col >= 1);
                }
            }
        }
    }
}

#[test]
fn negotiation() {
    let cases: &[(Option<&str>, Format)] = &[
        (
            Some("application/openmetrics-text; version=1.0.0; charset=utf-8"),
            OM,
        ),
        (Some("application/openmetrics-text;version=0.0.1"), OM),
        (Some("Application/OpenMetrics-Text"), OM),
        (Some("text/plain; version=0.0.4"), P),
        (Some("application/json"), P),
        (Some(""), P),
        (None, P),
    ];
    for (ct, want) in cases {
        assert_eq!(negotiate(*ct), *want, "{ct:?}");
    }
    assert!(ACCEPT_HEADER.starts_with("application/openmetrics-text;version=1.0.0,"));
    assert_eq!(negotiate(Some(OM.content_type())), OM);
    assert_eq!(negotiate(Some(P.content_type())), P);
}

#[test]
fn duplicates_and_float_labels() {
    let input =
        b"a{x=\"1\",y=\"2\"} 1\na{y=\"2\",x=\"1\"} 2\na{x=\"1\",y=\"2\"} 3 5\nb 1\nb 2 5\nb 3 5\n";
    let s = parse(input, P).expect("parses");
    assert_eq!(duplicate_series(&s), vec![1, 5]);
    let cases: &[(f64, &str)] = &[
        (1.0, "1.0"),
        (0.5, "0.5"),
        (100000.0, "100000.0"),
        (1e6, "1e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (-2.5e-7, "-2.5e-07"),
        (f64::INFINITY, "+Inf"),
        (1.5e300, "1.5e+300"),
    ];
    for (f, want) in cases {
        assert_eq!(format_om_float(*f), *want);
    }
    assert_eq!(normalize_float_label("1"), "1.0");
    assert_eq!(normalize_float_label("+Inf"), "+Inf");
    assert_eq!(normalize_float_label("foo"), "foo");
    let h = parse(b"# TYPE h histogram\nh_bucket{le=\"1\"} 1\n", P).expect("parses");
    assert_eq!(
        h[0].label_pairs(),
        vec![
            ("__name__".into(), "h_bucket".into()),
            ("le".into(), "1.0".into())
        ]
    );
}
