//! The alert-rule API: `parse` (rule-file validation, with positions inside
//! the template text) and `expand_alert_template` (the rule engine).

use std::collections::BTreeMap;

use watchfire_template::{
    alert_template_name, expand_alert_template, parse, AlertTemplateData, QueryError, QueryFn,
    QuerySample, TemplateError,
};

fn data(value: f64) -> AlertTemplateData {
    let labels: BTreeMap<String, String> = [
        ("alertname", "HighLatency"),
        ("instance", "host1:9100"),
        ("job", "node"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    AlertTemplateData {
        labels,
        external_labels: [("cluster".to_string(), "prod".to_string())].into(),
        external_url: "https://prom.example.com/prom".into(),
        value,
    }
}

struct Engine;

impl QueryFn for Engine {
    fn query(&self, q: &str, ts_ms: i64) -> Result<Vec<QuerySample>, QueryError> {
        if q == "bad(" {
            return Err(QueryError::new("parse error: unexpected end of input"));
        }
        let mut labels = BTreeMap::new();
        labels.insert("q".to_string(), q.to_string());
        Ok(vec![QuerySample {
            labels,
            value: ts_ms as f64 / 1000.0,
        }])
    }
}

fn expand(text: &str, value: f64) -> Result<String, TemplateError> {
    expand_alert_template(
        &alert_template_name("HighLatency"),
        text,
        &data(value),
        60_000,
        Some(&Engine),
    )
}

/// `expect` is the output, or the error message as Prometheus prints it.
fn check(text: &str, value: f64, expect: Result<&str, &str>) {
    let want = expect.map(str::to_string).map_err(str::to_string);
    assert_eq!(
        expand(text, value).map_err(|e| e.to_string()),
        want,
        "template {text:?}"
    );
}

#[test]
fn expands_alert_templates() {
    let cases: &[(&str, f64, &str)] = &[
        ("{{ $labels.instance }} is down", 1.0, "host1:9100 is down"),
        ("{{ .Labels.job }}/{{ $labels.missing }}/", 1.0, "node//"),
        ("{{ $value }}", 1234567.0, "1.234567e+06"),
        ("{{ $value }}", 0.5, "0.5"),
        ("{{ $value }}", 3.0, "3"),
        ("{{ .Value }}", f64::NAN, "NaN"),
        ("{{ $value | humanize }}", 1234567.0, "1.235M"),
        ("{{ humanizePercentage $value }}", 0.256, "25.6%"),
        ("{{ humanizeDuration $value }}", 93784.0, "1d 2h 3m 4s"),
        ("{{ printf \"%.2f\" $value }}", 2.34567, "2.35"),
        (
            "{{ $externalLabels.cluster }} {{ $externalURL }}",
            0.0,
            "prod https://prom.example.com/prom",
        ),
        (
            "{{ if gt $value 100.0 }}high{{ else }}low{{ end }}",
            250.0,
            "high",
        ),
        (
            "{{ if gt $value 100.0 }}high{{ else }}low{{ end }}",
            50.0,
            "low",
        ),
        (
            "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}",
            0.0,
            "alertname=HighLatency;instance=host1:9100;job=node;",
        ),
        ("{{ $labels.instance | stripPort }}", 0.0, "host1"),
        (
            "{{ with query \"up\" }}{{ . | first | label \"q\" }}={{ . | first | value }}{{ end }}",
            0.0,
            "up=60",
        ),
        ("{{ now }}", 0.0, "60"),
        ("{{ pathPrefix }}", 0.0, "/prom"),
        ("{{ .ExternalURL }}", 0.0, "https://prom.example.com/prom"),
        ("{{- /* a comment */ -}}  x  {{- \"\" }}", 0.0, "x"),
    ];
    for (text, value, want) in cases {
        check(text, *value, Ok(want));
    }
}

#[test]
fn alert_execution_errors_match_prometheus() {
    check(
        "{{ .Foo }}",
        0.0,
        Err("template: __alert_HighLatency:1:115: executing \"__alert_HighLatency\" at <.Foo>: can't evaluate field Foo in type struct { Labels map[string]string; ExternalLabels map[string]string; ExternalURL string; Value float64 }"),
    );
    check(
        "{{ if gt $value 100 }}x{{ end }}",
        0.0,
        Err("template: __alert_HighLatency:1:118: executing \"__alert_HighLatency\" at <gt $value 100>: error calling gt: incompatible types for comparison"),
    );
    check(
        "{{ query \"bad(\" }}",
        0.0,
        Err("template: __alert_HighLatency:1:115: executing \"__alert_HighLatency\" at <query \"bad(\">: error calling query: parse error: unexpected end of input"),
    );
    check(
        "{{ $value.Foo }}",
        0.0,
        Err("template: __alert_HighLatency:1:121: executing \"__alert_HighLatency\" at <$value.Foo>: can't evaluate field Foo in type float64"),
    );
    let e = expand_alert_template("__alert_X", "a\n{{ .Nope }}", &data(0.0), 0, None).unwrap_err();
    assert_eq!((e.line(), e.column()), (2, 4));
    assert!(
        e.expander_message()
            .starts_with("error executing template __alert_X: template: __alert_X:2:3:"),
        "{e}"
    );
    let e =
        expand_alert_template("__alert_X", "{{ query \"up\" }}", &data(0.0), 0, None).unwrap_err();
    assert_eq!(
        e.message(),
        "error calling query: no query engine available"
    );
}

fn parse_err(text: &str) -> TemplateError {
    match parse("__alert_X", text) {
        Ok(_) => panic!("{text:?} parsed"),
        Err(e) => e,
    }
}

#[test]
fn parse_errors_carry_positions() {
    // (text, Go message, line, column within `text`)
    let cases: &[(&str, &str, usize, usize)] = &[
        (
            "{{ .Labels.instance }",
            "template: __alert_X:1: unexpected \"}\" in operand",
            1,
            21,
        ),
        (
            "{{ $labels.instance }",
            "template: __alert_X:1: unexpected \"}\" in operand",
            1,
            21,
        ),
        (
            "line1\n{{ .Labels.x | nosuch }}",
            "template: __alert_X:2: function \"nosuch\" not defined",
            2,
            16,
        ),
        (
            "{{ $nope }}",
            "template: __alert_X:1: undefined variable \"$nope\"",
            1,
            4,
        ),
        (
            "{{ if .X }}a",
            "template: __alert_X:1: unexpected EOF",
            1,
            13,
        ),
        (
            "a {{ end }}",
            "template: __alert_X:1: unexpected {{end}}",
            1,
            10,
        ),
        (
            "{{ else }}",
            "template: __alert_X:1: unexpected {{else}}",
            1,
            9,
        ),
        ("{{", "template: __alert_X:1: unclosed action", 1, 3),
        (
            "{{ .X\n\n",
            "template: __alert_X:3: unclosed action started at __alert_X:1",
            3,
            1,
        ),
        (
            "{{ \"abc }}",
            "template: __alert_X:1: unterminated quoted string",
            1,
            4,
        ),
        (
            "é {{ 1.2.3 }}",
            "template: __alert_X:1: unexpected \".3\" in operand",
            1,
            9,
        ),
        (
            "{{ break }}",
            "template: __alert_X:1: {{break}} outside {{range}}",
            1,
            10,
        ),
        (
            "{{ 1 | 2 }}",
            "template: __alert_X:1: non executable command in pipeline stage 2",
            1,
            10,
        ),
        (
            "{{ }}",
            "template: __alert_X:1: missing value for command",
            1,
            4,
        ),
        (
            "{{ if }}{{ end }}",
            "template: __alert_X:1: missing value for if",
            1,
            7,
        ),
        (
            "{{ 'ab' }}",
            "template: __alert_X:1: malformed character constant: 'ab'",
            1,
            4,
        ),
        (
            "{{ \"\\q\" }}",
            "template: __alert_X:1: invalid syntax",
            1,
            4,
        ),
        (
            "{{ 99999999999999999999 }}",
            "template: __alert_X:1: integer overflow: \"99999999999999999999\"",
            1,
            4,
        ),
        (
            "{{ 3k }}",
            "template: __alert_X:1: bad number syntax: \"3k\"",
            1,
            4,
        ),
        // Go accepts a trailing pipe.
        ("{{ $labels.a | }}", "", 0, 0),
        (
            "{{ range $i, $v, $w := . }}{{ end }}",
            "template: __alert_X:1: too many declarations in range",
            1,
            16,
        ),
        (
            "{{ range $i, 1 }}{{ end }}",
            "template: __alert_X:1: range can only initialize variables",
            1,
            14,
        ),
        (
            "{{ with $x := 1, 2 }}{{ end }}",
            "template: __alert_X:1: unexpected \",\" in operand",
            1,
            16,
        ),
        (
            "{{ with $x, $y := 1 }}{{ end }}",
            "template: __alert_X:1: too many declarations in with",
            1,
            11,
        ),
        (
            "{{ (1 }}",
            "template: __alert_X:1: unclosed left paren",
            1,
            7,
        ),
        (
            "{{ 1) }}",
            "template: __alert_X:1: unexpected right paren",
            1,
            5,
        ),
        (
            "{{ \"a\".b }}",
            "template: __alert_X:1: unexpected . after term \"\\\"a\\\"\"",
            1,
            7,
        ),
        ("{{ template \"x\" }}", "", 0, 0),
        (
            "{{define \"a\"}}x{{end}}{{define \"a\"}}y{{end}}",
            "template: __alert_X:1: template: multiple definition of template \"a\"",
            1,
            43,
        ),
    ];
    for (text, msg, line, col) in cases {
        if msg.is_empty() {
            assert!(parse("__alert_X", text).is_ok(), "{text:?} should parse");
            continue;
        }
        let e = parse_err(text);
        assert_eq!(e.to_string(), *msg, "{text:?}");
        assert_eq!((e.line(), e.column()), (*line, *col), "{text:?}");
    }
}

#[test]
fn accepts_what_promtool_accepts() {
    let ok = [
        "{{ $labels.instance }} has {{ $value | humanizePercentage }} errors",
        "{{ with $labels.pod }}pod {{ . }}{{ else }}no pod{{ end }}",
        "{{ range query \"up == 0\" }}{{ .Labels.instance }} {{ end }}",
        "{{ $x := 1 }}{{ $x = 2 }}{{ $x }}",
        "{{ $nope = 1 }}",
        "{{ define \"t\" }}{{ . }}{{ end }}{{ template \"t\" $value }}",
        "{{ if and (gt $value 1.0) (lt $value 5.0) }}mid{{ else if gt $value 5.0 }}hi{{ end }}",
        "{{ printf `%s:%d` \"a\" 3 }}",
        "{{ 'x' }} {{ 0x1F }} {{ 1e3 }} {{ -2 }} {{ nil | len }}",
    ];
    for text in ok {
        assert!(
            parse("__alert_X", text).is_ok(),
            "{text:?}: {:?}",
            parse("__alert_X", text).err()
        );
    }
}
