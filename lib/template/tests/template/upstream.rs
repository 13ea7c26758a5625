//! The table of Prometheus's `template/template_test.go`
//! (`TestTemplateExpansion`), ported case by case. Cases exercising HTML
//! mode or the `missingkey=error` option are left out: Prometheus only
//! uses text mode with `missingkey=zero` for rules.

use std::collections::BTreeMap;

use watchfire_template::{
    ExecContext, QueryError, QueryFn, QuerySample, Template, TemplateError, Value,
};

struct FixedQuery(Vec<QuerySample>);

impl QueryFn for FixedQuery {
    fn query(&self, _q: &str, _ts_ms: i64) -> Result<Vec<QuerySample>, QueryError> {
        Ok(self.0.clone())
    }
}

fn sample(labels: &[(&str, &str)], value: f64) -> QuerySample {
    QuerySample {
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
        value,
    }
}

/// Expands like upstream's `Expander.Expand` (name "test", time 0,
/// external URL http://testhost:9090/path/prefix).
fn expand(text: &str, input: Value, result: Vec<QuerySample>) -> Result<String, TemplateError> {
    let q = FixedQuery(result);
    let ctx = ExecContext {
        ts_ms: 0,
        external_url: "http://testhost:9090/path/prefix",
        query: Some(&q),
    };
    Template::parse("test", text)?.execute(&input, &ctx)
}

/// `expect` is the output, or the error as the expander wraps it.
fn check(text: &str, input: Value, result: Vec<QuerySample>, expect: Result<&str, &str>) {
    let got = expand(text, input, result).map_err(|e| e.expander_message());
    let want = expect.map(str::to_string).map_err(str::to_string);
    assert_eq!(got, want, "template {text:?}");
}

fn floats(v: &[f64]) -> Value {
    Value::List(v.iter().map(|f| Value::Float(*f)).collect())
}
fn strs(v: &[&str]) -> Value {
    Value::List(v.iter().map(|s| Value::from(*s)).collect())
}
fn ints(v: &[i64]) -> Value {
    Value::List(v.iter().map(|i| Value::Int(*i)).collect())
}
fn uints(v: &[u64]) -> Value {
    Value::List(v.iter().map(|u| Value::Uint(*u)).collect())
}

#[test]
fn upstream_basic() {
    let n = Value::Nil;
    check("plain text", n.clone(), vec![], Ok("plain text"));
    check("{{ 1 }}", n.clone(), vec![], Ok("1"));
    check(
        "{{\u{a0}}}",
        n.clone(),
        vec![],
        Err("error parsing template test: template: test:1: unrecognized character in action: U+00A0"),
    );
    check("{{ \"<b>\" }}", n.clone(), vec![], Ok("<b>"));
    check(
        "{{define \"x\"}}{{.arg0}} {{.arg1}}{{end}}{{template \"x\" (args 1 \"2\")}}",
        n.clone(),
        vec![],
        Ok("1 2"),
    );
    check("{{ .Foo }}", n.clone(), vec![], Ok("<no value>"));
    check(
        "{{",
        n.clone(),
        vec![],
        Err("error parsing template test: template: test:1: unclosed action"),
    );
    check(
        "{{ reReplaceAll \"(a)b\" \"x$1\" \"ab\" }}",
        n.clone(),
        vec![],
        Ok("xa"),
    );
    check(
        "{{ \"aa bb CC\" | title }}",
        n.clone(),
        vec![],
        Ok("Aa Bb CC"),
    );
    check(
        "{{ \"aa bb CC\" | toUpper }}",
        n.clone(),
        vec![],
        Ok("AA BB CC"),
    );
    check(
        "{{ \"aA bB CC\" | toLower }}",
        n.clone(),
        vec![],
        Ok("aa bb cc"),
    );
    check(
        "{{ match \"a+\" \"aa\" }} {{ match \"a+\" \"b\" }}",
        n.clone(),
        vec![],
        Ok("true false"),
    );
    check(
        "{{ graphLink \"up\" }}",
        n.clone(),
        vec![],
        Ok("/graph?g0.expr=up&g0.tab=0"),
    );
    check(
        "{{ tableLink \"up\" }}",
        n.clone(),
        vec![],
        Ok("/graph?g0.expr=up&g0.tab=1"),
    );
    check("{{ pathPrefix }}", n.clone(), vec![], Ok("/path/prefix"));
    check(
        "{{ externalURL }}",
        n.clone(),
        vec![],
        Ok("http://testhost:9090/path/prefix"),
    );
    check(
        "{{ printf \"%0.2f\" (parseDuration \"1h2m10ms\") }}",
        n,
        vec![],
        Ok("3720.01"),
    );
}

#[test]
fn upstream_query() {
    let n = Value::Nil;
    let inst_a = vec![sample(&[("__name__", "metric"), ("instance", "a")], 11.0)];
    check(
        "{{ query \"1.5\" | first | value }}",
        n.clone(),
        vec![sample(&[], 1.5)],
        Ok("1.5"),
    );
    check(
        "{{ query \"metric{instance='a'}\" | first | value }}",
        n.clone(),
        inst_a.clone(),
        Ok("11"),
    );
    check(
        "{{ query \"metric{instance='a'}\" | first | label \"instance\" }}",
        n.clone(),
        inst_a.clone(),
        Ok("a"),
    );
    check(
        "{{ query \"metric{__value__='a'}\" | first | strvalue }}",
        n.clone(),
        vec![sample(&[("__name__", "metric"), ("__value__", "a")], 11.0)],
        Ok("a"),
    );
    check(
        "{{ query \"metric{instance='a'}\" | first | label \"foo\" }}",
        n.clone(),
        inst_a.clone(),
        Ok(""),
    );
    check(
        "{{ $x := query \"metric\" | first }}{{ $x.Labels.foo }}",
        n.clone(),
        inst_a,
        Ok(""),
    );
    check(
        "{{ range query \"metric\" | sortByLabel \"instance\" }}{{.Labels.instance}}:{{.Value}}: {{end}}",
        n.clone(),
        vec![
            sample(&[("__name__", "metric"), ("instance", "b")], 21.0),
            sample(&[("__name__", "metric"), ("instance", "a")], 11.0),
        ],
        Ok("a:11: b:21: "),
    );
    check(
        "{{ query \"missing\" | first }}",
        n.clone(),
        vec![],
        Err("error executing template test: template: test:1:21: executing \"test\" at <first>: error calling first: first() called on vector with no elements"),
    );
    check(
        "{{ (query \"missing\").banana }}",
        n,
        vec![],
        Err("error executing template test: template: test:1:10: executing \"test\" at <\"missing\">: can't evaluate field banana in type template.queryResult"),
    );
}

#[test]
fn upstream_strip() {
    let cases: &[(&str, &str, &str)] = &[
        ("foo.example.com", "foo.example.com", "foo"),
        ("foo.example.com:12345", "foo.example.com", "foo:12345"),
        ("192.0.2.1", "192.0.2.1", "192.0.2.1"),
        ("192.0.2.1:12345", "192.0.2.1", "192.0.2.1:12345"),
        ("2001:0DB8::1", "2001:0DB8::1", "2001:0DB8::1"),
        (
            "[2001:0DB8::1]:12345",
            "2001:0DB8::1",
            "[2001:0DB8::1]:12345",
        ),
        (
            "[2001:0DB8::1]::12345",
            "[2001:0DB8::1]::12345",
            "[2001:0DB8::1]::12345",
        ),
    ];
    for (input, port, domain) in cases {
        check(
            &format!("{{{{ {input:?} | stripPort }}}}"),
            Value::Nil,
            vec![],
            Ok(port),
        );
        check(
            &format!("{{{{ {input:?} | stripDomain }}}}"),
            Value::Nil,
            vec![],
            Ok(domain),
        );
    }
}

#[test]
fn upstream_humanize() {
    let r = "{{ range . }}{{ humanize . }}:{{ end }}";
    check(
        r,
        floats(&[0.0, 1.0, 1234567.0, 0.12]),
        vec![],
        Ok("0:1:1.235M:120m:"),
    );
    check(
        r,
        strs(&["0.0", "1.0", "1234567.0", ".12"]),
        vec![],
        Ok("0:1:1.235M:120m:"),
    );
    check(
        r,
        ints(&[0, -1, 1, 1234567, i64::MAX]),
        vec![],
        Ok("0:-1:1:1.235M:9.223E:"),
    );
    check(
        r,
        uints(&[0, 1, 1234567, u64::MAX]),
        vec![],
        Ok("0:1:1.235M:18.45E:"),
    );
    check(
        "{{ humanize \"one\" }}",
        Value::Nil,
        vec![],
        Err("error executing template test: template: test:1:3: executing \"test\" at <humanize \"one\">: error calling humanize: strconv.ParseFloat: parsing \"one\": invalid syntax"),
    );
    let r = "{{ range . }}{{ humanize1024 . }}:{{ end }}";
    check(
        r,
        floats(&[0.0, 1.0, 1048576.0, 0.12]),
        vec![],
        Ok("0:1:1Mi:0.12:"),
    );
    check(
        r,
        strs(&["0.0", "1.0", "1048576.0", ".12"]),
        vec![],
        Ok("0:1:1Mi:0.12:"),
    );
    check(
        r,
        ints(&[0, -1, 1, 1234567, i64::MAX]),
        vec![],
        Ok("0:-1:1:1.177Mi:8Ei:"),
    );
    check(
        r,
        uints(&[0, 1, 1234567, u64::MAX]),
        vec![],
        Ok("0:1:1.177Mi:16Ei:"),
    );
    check(
        "{{ humanize1024 \"one\" }}",
        Value::Nil,
        vec![],
        Err("error executing template test: template: test:1:3: executing \"test\" at <humanize1024 \"one\">: error calling humanize1024: strconv.ParseFloat: parsing \"one\": invalid syntax"),
    );
}

#[test]
fn upstream_humanize_duration() {
    let r = "{{ range . }}{{ humanizeDuration . }}:{{ end }}";
    check(
        r,
        floats(&[
            0.0,
            1.0,
            60.0,
            3600.0,
            86400.0,
            86400.0 + 3600.0,
            -(86400.0 * 2.0 + 3600.0 * 3.0 + 60.0 * 4.0 + 5.0),
            899.99,
        ]),
        vec![],
        Ok("0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:"),
    );
    check(
        r,
        strs(&["0", "1", "60", "3600", "86400"]),
        vec![],
        Ok("0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:"),
    );
    check(
        r,
        floats(&[0.1, 0.0001, 0.12345, 60.1, 60.5, 1.2345, 12.345]),
        vec![],
        Ok("100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:"),
    );
    check(
        r,
        strs(&[".1", ".0001", ".12345", "60.1", "60.5", "1.2345", "12.345"]),
        vec![],
        Ok("100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:"),
    );
    check(
        "{{ humanizeDuration \"one\" }}",
        Value::Nil,
        vec![],
        Err("error executing template test: template: test:1:3: executing \"test\" at <humanizeDuration \"one\">: error calling humanizeDuration: strconv.ParseFloat: parsing \"one\": invalid syntax"),
    );
    check(
        r,
        ints(&[0, -1, 1, 1234567]),
        vec![],
        Ok("0s:-1s:1s:14d 6h 56m 7s:"),
    );
    check(
        r,
        uints(&[0, 1, 1234567]),
        vec![],
        Ok("0s:1s:14d 6h 56m 7s:"),
    );
    let all = "{{ range . }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:{{humanizeTimestamp .}}:{{ end }}";
    let want = "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:";
    check(
        all,
        floats(&[f64::INFINITY, f64::NEG_INFINITY, f64::NAN]),
        vec![],
        Ok(want),
    );
    check(all, strs(&["+Inf", "-Inf", "NaN"]), vec![], Ok(want));
}

#[test]
fn upstream_humanize_percentage() {
    check(
        "{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}",
        Value::Nil,
        vec![],
        Ok("-22.22%:0%:12.35%:123.5%"),
    );
    let r = "{{ range . }}{{ humanizePercentage . }}:{{ end }}";
    check(
        r,
        ints(&[0, -1, 1, 1234567, i64::MAX]),
        vec![],
        Ok("0%:-100%:100%:1.235e+08%:9.223e+20%:"),
    );
    check(
        r,
        uints(&[0, 1, 1234567, u64::MAX]),
        vec![],
        Ok("0%:100%:1.235e+08%:1.845e+21%:"),
    );
    check(
        "{{ \"-0.22222\" | humanizePercentage }}:{{ \"0.0\" | humanizePercentage }}:{{ \"0.1234567\" | humanizePercentage }}:{{ \"1.23456\" | humanizePercentage }}",
        Value::Nil,
        vec![],
        Ok("-22.22%:0%:12.35%:123.5%"),
    );
    check(
        "{{ \"one\" | humanizePercentage }}",
        Value::Nil,
        vec![],
        Err("error executing template test: template: test:1:11: executing \"test\" at <humanizePercentage>: error calling humanizePercentage: strconv.ParseFloat: parsing \"one\": invalid syntax"),
    );
}

#[test]
fn upstream_timestamps() {
    let r = "{{ range . }}{{ humanizeTimestamp . }}:{{ end }}";
    check(
        r,
        ints(&[0, -1, 1, 1234567, 9223372036]),
        vec![],
        Ok("1970-01-01 00:00:00 +0000 UTC:1969-12-31 23:59:59 +0000 UTC:1970-01-01 00:00:01 +0000 UTC:1970-01-15 06:56:07 +0000 UTC:2262-04-11 23:47:16 +0000 UTC:"),
    );
    check(
        r,
        uints(&[0, 1, 1234567, 9223372036]),
        vec![],
        Ok("1970-01-01 00:00:00 +0000 UTC:1970-01-01 00:00:01 +0000 UTC:1970-01-15 06:56:07 +0000 UTC:2262-04-11 23:47:16 +0000 UTC:"),
    );
    check(
        r,
        ints(&[i64::MIN, i64::MAX]),
        vec![],
        Err("error executing template test: template: test:1:16: executing \"test\" at <humanizeTimestamp .>: error calling humanizeTimestamp: -9.223372036854776e+18 cannot be represented as a nanoseconds timestamp since it overflows int64"),
    );
    check(
        r,
        uints(&[u64::MAX]),
        vec![],
        Err("error executing template test: template: test:1:16: executing \"test\" at <humanizeTimestamp .>: error calling humanizeTimestamp: 1.8446744073709552e+19 cannot be represented as a nanoseconds timestamp since it overflows int64"),
    );
    check(
        "{{ 1435065584.128 | humanizeTimestamp }}",
        Value::Nil,
        vec![],
        Ok("2015-06-23 13:19:44.128 +0000 UTC"),
    );
    check(
        "{{ \"1435065584.128\" | humanizeTimestamp }}",
        Value::Nil,
        vec![],
        Ok("2015-06-23 13:19:44.128 +0000 UTC"),
    );
    check(
        "{{ (1435065584.128 | toTime).Format \"2006\" }}",
        Value::Nil,
        vec![],
        Ok("2015"),
    );
    check(
        "{{ (\"1435065584.128\" | toTime).Format \"2006\" }}",
        Value::Nil,
        vec![],
        Ok("2015"),
    );
}
