//! Go `text/template` semantics, independent of Prometheus: control
//! structures, variables, builtins, literals, printf, and execution limits.
//! Expected outputs are what Go's `text/template` produces.

use std::collections::BTreeMap;

use watchfire_template::{ExecContext, Template, TemplateError, Value};

fn data() -> Value {
    let mut m = BTreeMap::new();
    m.insert("Name".to_string(), Value::from("web"));
    m.insert("Items".to_string(), Value::from(vec!["a", "b", "c"]));
    m.insert("Empty".to_string(), Value::List(vec![]));
    m.insert("N".to_string(), Value::Int(3));
    m.insert("F".to_string(), Value::Float(2.5));
    m.insert(
        "Labels".to_string(),
        Value::StrMap(
            [("b", "2"), ("a", "1")]
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
    );
    Value::Map(m)
}

fn run(text: &str) -> Result<String, TemplateError> {
    Template::parse("t", text)?.execute(&data(), &ExecContext::default())
}

/// `expect` is the output, or the error message as Go prints it.
fn check(text: &str, expect: Result<&str, &str>) {
    let want = expect.map(str::to_string).map_err(str::to_string);
    assert_eq!(
        run(text).map_err(|e| e.to_string()),
        want,
        "template {text:?}"
    );
}

#[test]
fn control_structures() {
    let cases: &[(&str, &str)] = &[
        ("a  {{- 1 -}}  b", "a1b"),
        ("a {{/* c */}} b", "a  b"),
        ("{{ if .N }}yes{{ end }}", "yes"),
        ("{{ if .Empty }}yes{{ else }}no{{ end }}", "no"),
        (
            "{{ if eq .N 1 }}one{{ else if eq .N 3 }}three{{ else }}other{{ end }}",
            "three",
        ),
        ("{{ with .Name }}[{{ . }}]{{ end }}", "[web]"),
        (
            "{{ with .Missing }}x{{ else with .Name }}{{ . }}{{ end }}",
            "web",
        ),
        ("{{ range .Items }}{{ . }},{{ end }}", "a,b,c,"),
        (
            "{{ range $i, $e := .Items }}{{ $i }}={{ $e }} {{ end }}",
            "0=a 1=b 2=c ",
        ),
        ("{{ range $e := .Items }}{{ $e }}{{ end }}", "abc"),
        ("{{ range .Empty }}x{{ else }}empty{{ end }}", "empty"),
        ("{{ range .Missing }}x{{ else }}none{{ end }}", "none"),
        (
            "{{ range $k, $v := .Labels }}{{ $k }}{{ $v }}{{ end }}",
            "a1b2",
        ),
        (
            "{{ range .Items }}{{ if eq . \"b\" }}{{ break }}{{ end }}{{ . }}{{ end }}",
            "a",
        ),
        (
            "{{ range .Items }}{{ if eq . \"b\" }}{{ continue }}{{ end }}{{ . }}{{ end }}",
            "ac",
        ),
        ("{{ range 3 }}{{ . }}{{ end }}", "012"),
        ("{{ range $i := 2 }}{{ $i }}{{ end }}", "01"),
        (
            "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}",
            "2",
        ),
        (
            "{{ $x := 1 }}{{ if true }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}",
            "21",
        ),
        ("{{ range .Items }}{{ $ | len }}{{ end }}", "666"),
        (
            "{{ define \"T\" }}<{{ . }}>{{ end }}{{ template \"T\" .Name }}{{ template \"T\" }}",
            "<web><<no value>>",
        ),
        ("{{ block \"B\" .N }}b{{ . }}{{ end }}", "b3"),
        (
            "{{ .Labels.a }}{{ .Labels.zz }}|{{ .Nope }}",
            "1|<no value>",
        ),
        ("{{ (index .Items 1) }}{{ index .Labels \"b\" }}", "b2"),
        ("{{ slice .Name 1 }} {{ slice .Items 1 2 }}", "eb [b]"),
        (
            "{{ len .Items }} {{ len .Labels }} {{ len .Name }}",
            "3 2 3",
        ),
    ];
    for (text, want) in cases {
        check(text, Ok(want));
    }
}

#[test]
fn builtins_and_literals() {
    let cases: &[(&str, &str)] = &[
        ("{{ and 1 0 }} {{ and 1 2 }} {{ or 0 \"\" \"x\" }} {{ or 0 0 }}", "0 2 x 0"),
        ("{{ not 0 }} {{ not .Name }}", "true false"),
        ("{{ eq 1 2 1 }} {{ ne \"a\" \"b\" }} {{ lt 1 2 }} {{ le 2 2 }} {{ gt 1.5 2.5 }} {{ ge \"b\" \"a\" }}", "true true true true false true"),
        ("{{ print 1 2 \"a\" 3 }}|{{ println 1 \"a\" }}|", "1 2a3|1 a\n|"),
        ("{{ html \"<a href='x'>&\" }}", "&lt;a href=&#39;x&#39;&gt;&amp;"),
        ("{{ js \"it's <b>\" }}", "it\\'s \\u003Cb\\u003E"),
        ("{{ urlquery \"a b&c\" }}", "a+b%26c"),
        ("{{ \"a\\tb\\u00e9\\x41\" }}|{{ `raw\\n` }}", "a\tbéA|raw\\n"),
        ("{{ 'a' }} {{ 0x10 }} {{ 0o17 }} {{ 1e3 }} {{ 1.5e6 }} {{ -3 }} {{ 1_000 }}", "97 16 15 1000 1.5e+06 -3 1000"),
        ("{{ true }} {{ false | not }}", "true true"),
        ("{{ .F }} {{ .N }} {{ .Items }} {{ .Labels }}", "2.5 3 [a b c] map[a:1 b:2]"),
        ("{{ printf \"%d|%5.2f|%-4s|%q|%x|%e|%g|%v|%%\" 42 3.14159 \"ab\" \"q\" 255 1234.5678 0.00001 .Items }}", "42| 3.14|ab  |\"q\"|ff|1.234568e+03|1e-05|[a b c]|%"),
        ("{{ printf \"%s\" 1 }} {{ printf \"%d\" }}", "%!s(int=1) %!d(MISSING)"),
        ("{{ printf \"%T %T %T\" .F .Labels .Items }}", "float64 map[string]string []interface {}"),
        ("{{ .Name | printf \"%s-%s\" \"x\" }}", "x-web"),
        ("{{ (printf \"%s\" .Name) | len }}", "3"),
        ("{{ humanize 1234 | printf \"%s!\" }}", "1.234k!"),
        ("{{ $m := args 1 \"two\" }}{{ $m.arg0 }}{{ $m.arg1 }}{{ $m.arg9 }}", "1two<no value>"),
        ("{{ reReplaceAll \"(\\\\w+)@(\\\\w+)\" \"$2 at $1\" \"me@host\" }}", "host at me"),
        ("{{ toDuration 90.5 }} {{ (toDuration 90.5).Seconds }}", "1m30.5s 90.5"),
        ("{{ (toTime 0).Unix }} {{ (toTime 86400.5).Format \"2006-01-02T15:04:05.000Z07:00\" }}", "0 1970-01-02T00:00:00.500Z"),
        ("{{ parseDuration \"1d\" }} {{ parseDuration \"0\" }}", "86400 0"),
        ("{{ safeHtml \"<b>\" }}", "<b>"),
    ];
    for (text, want) in cases {
        check(text, Ok(want));
    }
}

#[test]
fn execution_errors() {
    let cases: &[(&str, &str)] = &[
        ("{{ 1 2 }}", "template: t:1:3: executing \"t\" at <1>: can't give argument to non-function 1"),
        ("{{ nil }}", "template: t:1:3: executing \"t\" at <nil>: nil is not a command"),
        ("{{ humanize }}", "template: t:1:3: executing \"t\" at <humanize>: wrong number of args for humanize: want 1 got 0"),
        ("{{ printf 1 }}", "template: t:1:10: executing \"t\" at <1>: expected string; found 1"),
        ("{{ printf .N }}", "template: t:1:10: executing \"t\" at <.N>: wrong type for value; expected string; got int"),
        ("{{ index .Items 5 }}", "template: t:1:3: executing \"t\" at <index .Items 5>: error calling index: index out of range: 5"),
        ("{{ len .N }}", "template: t:1:3: executing \"t\" at <len .N>: error calling len: len of type int"),
        ("{{ gt .F 1 }}", "template: t:1:3: executing \"t\" at <gt .F 1>: error calling gt: incompatible types for comparison"),
        ("{{ template \"nope\" }}", "template: t:1:12: executing \"t\" at <{{template \"nope\"}}>: template \"nope\" not defined"),
        ("{{ range .F }}{{ end }}", "template: t:1:9: executing \"t\" at <.F>: range can't iterate over 2.5"),
        ("{{ .Name.Foo }}", "template: t:1:8: executing \"t\" at <.Name.Foo>: can't evaluate field Foo in type string"),
        ("{{ .Labels.a 1 }}", "template: t:1:10: executing \"t\" at <.Labels.a>: a is not a method but has arguments"),
        ("{{ match \"(\" \"x\" }}", "template: t:1:3: executing \"t\" at <match \"(\" \"x\">: error calling match: error parsing regexp: unclosed group: `(`"),
        ("{{ $x = 1 }}", "template: t:1:8: executing \"t\" at <1>: undefined variable: $x"),
        ("{{ toTime \"NaN\" }}", "template: t:1:3: executing \"t\" at <toTime \"NaN\">: error calling toTime: value is NaN or Inf"),
        ("{{ parseDuration \"1x\" }}", "template: t:1:3: executing \"t\" at <parseDuration \"1x\">: error calling parseDuration: unknown unit \"x\" in duration \"1x\""),
        ("{{ humanize true }}", "template: t:1:3: executing \"t\" at <humanize true>: error calling humanize: can't convert bool to float"),
        ("{{ first .Items }}", "template: t:1:9: executing \"t\" at <.Items>: wrong type for value; expected template.queryResult; got []interface {}"),
    ];
    for (text, want) in cases {
        check(text, Err(want));
    }
}

#[test]
fn runaway_templates_are_stopped() {
    let recursive = run("{{ define \"r\" }}{{ template \"r\" . }}{{ end }}{{ template \"r\" . }}")
        .unwrap_err()
        .to_string();
    assert!(
        recursive.contains("exceeded maximum template depth"),
        "{recursive}"
    );
    let long = run("{{ range 100000000 }}x{{ end }}")
        .unwrap_err()
        .to_string();
    assert!(long.contains("exceeded"), "{long}");
    let nested = format!("{}1{}", "(".repeat(500), ")".repeat(500));
    let deep = Template::parse("t", &format!("{{{{ {nested} }}}}")).unwrap_err();
    assert_eq!(deep.message(), "max expression depth exceeded");
    let wide = run("{{ range 2000 }}{{ range 2000 }}xxxxxxxxxx{{ end }}{{ end }}")
        .unwrap_err()
        .to_string();
    assert!(wide.contains("exceeded"), "{wide}");
}

#[test]
fn deep_but_legal_nesting_executes() {
    let ifs = format!("{}x{}", "{{ if 1 }}".repeat(60), "{{ end }}".repeat(60));
    assert_eq!(run(&ifs), Ok("x".to_string()));
    let parens = format!("{{{{ {}1{} }}}}", "(".repeat(90), ")".repeat(90));
    assert_eq!(run(&parens), Ok("1".to_string()));
    let too_deep = format!("{}x{}", "{{ if 1 }}".repeat(101), "{{ end }}".repeat(101));
    let e = Template::parse("t", &too_deep).unwrap_err();
    assert_eq!(e.message(), "max expression depth exceeded");
    let recursive_with_nesting = "{{ define \"r\" }}{{ if 1 }}{{ with . }}{{ template \"r\" . }}{{ end }}{{ end }}{{ end }}{{ template \"r\" 1 }}";
    let e = run(recursive_with_nesting).unwrap_err().to_string();
    assert!(e.contains("exceeded maximum template depth"), "{e}");
}
