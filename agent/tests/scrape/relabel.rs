//! Relabelling, ported from Prometheus's `model/relabel/relabel_test.go`
//! (`TestRelabel`, `TestRelabelValidate`, `TestTargetLabelValidity`).

use watchfire_agent::scrape::config::{relabels, RawRelabelConfig};
use watchfire_agent::scrape::relabel::{is_valid_replace_target, process};

use super::common::labels;

/// Applies the YAML relabel list to `input`; `expect` None means dropped.
fn check(input: &[(&str, &str)], yaml: &str, expect: Option<&[(&str, &str)]>) {
    let raw: Vec<RawRelabelConfig> = serde_saphyr::from_str(yaml).unwrap();
    let cfgs = relabels(&raw, "test.yml").unwrap_or_else(|e| panic!("{yaml}: {e}"));
    let got = process(&labels(input), &cfgs);
    assert_eq!(got, expect.map(labels), "relabel {yaml} on {input:?}");
}

/// `(input labels, relabel YAML, expected labels or None when dropped)`.
type Case<'a> = (
    &'a [(&'a str, &'a str)],
    &'a str,
    Option<&'a [(&'a str, &'a str)]>,
);

#[test]
fn relabel_table() {
    let abc: &[(&str, &str)] = &[("a", "foo"), ("b", "bar"), ("c", "baz")];
    let cases: Vec<Case> = vec![
        (
            abc,
            "- {source_labels: [a], regex: 'f(.*)', target_label: d, separator: ';', replacement: 'ch${1}-ch${1}', action: replace}",
            Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "choo-choo")]),
        ),
        (
            abc,
            "- {source_labels: [a, b], regex: 'f(.*);(.*)r', target_label: a, separator: ';', replacement: 'b${1}${2}m'}\n- {source_labels: [c, a], regex: '(b).*b(.*)ba(.*)', target_label: d, separator: ';', replacement: '$1$2$2$3'}",
            Some(&[("a", "boobam"), ("b", "bar"), ("c", "baz"), ("d", "boooom")]),
        ),
        (
            &[("a", "foo")],
            "- {source_labels: [a], regex: '.*o.*', action: drop}\n- {source_labels: [a], regex: 'f(.*)', target_label: d, replacement: 'ch$1-ch$1'}",
            None,
        ),
        (&[("a", "foo"), ("b", "bar")], "- {source_labels: [a], regex: '.*o.*', action: drop}", None),
        (
            &[("a", "abc")],
            "- {source_labels: [a], regex: '.*(b).*', target_label: d, replacement: '$1'}",
            Some(&[("a", "abc"), ("d", "b")]),
        ),
        (&[("a", "foo")], "- {source_labels: [a], regex: no-match, action: drop}", Some(&[("a", "foo")])),
        // Anchored: "f|o" does not match "foo".
        (&[("a", "foo")], "- {source_labels: [a], regex: 'f|o', action: drop}", Some(&[("a", "foo")])),
        (&[("a", "foo")], "- {source_labels: [a], regex: no-match, action: keep}", None),
        (&[("a", "foo")], "- {source_labels: [a], regex: 'f.*', action: keep}", Some(&[("a", "foo")])),
        // No replacement without a match.
        (&[("a", "boo")], "- {source_labels: [a], regex: f, target_label: b, replacement: bar}", Some(&[("a", "boo")])),
        (
            abc,
            "- {source_labels: [c], target_label: d, separator: ';', action: hashmod, modulus: 1000}",
            Some(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "976")]),
        ),
        (
            &[("a", "foo\nbar")],
            "- {source_labels: [a], target_label: b, separator: ';', action: hashmod, modulus: 1000}",
            Some(&[("a", "foo\nbar"), ("b", "734")]),
        ),
        (
            &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
            "- {regex: '(b.*)', replacement: 'bar_${1}', action: labelmap}",
            Some(&[("a", "foo"), ("b1", "bar"), ("b2", "baz"), ("bar_b1", "bar"), ("bar_b2", "baz")]),
        ),
        (
            &[("a", "foo"), ("__meta_my_bar", "aaa"), ("__meta_my_baz", "bbb"), ("__meta_other", "ccc")],
            "- {regex: '__meta_(my.*)', replacement: '${1}', action: labelmap}",
            Some(&[
                ("a", "foo"),
                ("__meta_my_bar", "aaa"),
                ("__meta_my_baz", "bbb"),
                ("__meta_other", "ccc"),
                ("my_bar", "aaa"),
                ("my_baz", "bbb"),
            ]),
        ),
        (
            &[("a", "some-name-value")],
            "- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', action: replace, replacement: '${2}', target_label: '${1}'}",
            Some(&[("a", "some-name-value"), ("name", "value")]),
        ),
        // Replacement expanding to "" deletes the (expanded) target.
        (
            &[("a", "some-name-value")],
            "- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', action: replace, replacement: '${3}', target_label: '${1}'}",
            Some(&[("a", "some-name-value")]),
        ),
        // An expanded target that is not a label name does nothing.
        (
            &[("a", "some-name-0")],
            "- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', action: replace, replacement: '${1}', target_label: '${3}'}\n- {source_labels: [a], regex: 'some-([^-]+)(-[^,]+)', action: replace, replacement: '${1}', target_label: '${3}'}",
            Some(&[("a", "some-name-0")]),
        ),
        (
            &[("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar")],
            "- {source_labels: [__meta_sd_tags], regex: '(?:.+,|^)path:(/[^,]+).*', action: replace, replacement: '${1}', target_label: __metrics_path__}\n- {source_labels: [__meta_sd_tags], regex: '(?:.+,|^)job:([^,]+).*', action: replace, replacement: '${1}', target_label: job}\n- {source_labels: [__meta_sd_tags], regex: '(?:.+,|^)label:([^=]+)=([^,]+).*', action: replace, replacement: '${2}', target_label: '${1}'}",
            Some(&[
                ("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar"),
                ("__metrics_path__", "/secret"),
                ("job", "some-job"),
                ("foo", "bar"),
            ]),
        ),
        (
            &[("__meta_kubernetes_pod_container_port_name", "foo"), ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091")],
            "- {regex: '^__meta_kubernetes_pod_container_port_name$', action: labeldrop}\n- {source_labels: [__meta_kubernetes_pod_annotation_XXX_metrics_port], regex: '(.+)', action: replace, replacement: metrics, target_label: __meta_kubernetes_pod_container_port_name}\n- {source_labels: [__meta_kubernetes_pod_container_port_name], regex: '^metrics$', action: keep}",
            Some(&[
                ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
                ("__meta_kubernetes_pod_container_port_name", "metrics"),
            ]),
        ),
        (&[("a", "foo"), ("b1", "bar"), ("b2", "baz")], "- {regex: '(b.*)', action: labelkeep}", Some(&[("b1", "bar"), ("b2", "baz")])),
        (&[("a", "foo"), ("b1", "bar"), ("b2", "baz")], "- {regex: '(b.*)', action: labeldrop}", Some(&[("a", "foo")])),
        (
            &[("foo", "bAr123Foo")],
            "- {source_labels: [foo], action: uppercase, target_label: foo_uppercase}\n- {source_labels: [foo], action: lowercase, target_label: foo_lowercase}",
            Some(&[("foo", "bAr123Foo"), ("foo_lowercase", "bar123foo"), ("foo_uppercase", "BAR123FOO")]),
        ),
        (
            &[("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")],
            "- {source_labels: [__tmp_port], action: keepequal, target_label: __port1}",
            Some(&[("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")]),
        ),
        (&[("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")], "- {source_labels: [__tmp_port], action: dropequal, target_label: __port1}", None),
        (
            &[("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")],
            "- {source_labels: [__tmp_port], action: dropequal, target_label: __port2}",
            Some(&[("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")]),
        ),
        (&[("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")], "- {source_labels: [__tmp_port], action: keepequal, target_label: __port2}", None),
        // Fast path: empty source, default regex: sets the label.
        (&[("a", "x")], "- {target_label: env, replacement: prod}", Some(&[("a", "x"), ("env", "prod")])),
        // A regex that can match newlines ((?s)).
        (&[("a", "x\ny")], "- {source_labels: [a], regex: 'x.y', action: keep}", Some(&[("a", "x\ny")])),
    ];
    for (input, yaml, expect) in cases {
        check(input, yaml, expect);
    }
}

/// `(yaml, expected error substring)`; "" means valid.
#[test]
fn relabel_validate_table() {
    let cases = [
        ("- {action: replace}", "requires 'target_label' value"),
        ("- {action: lowercase}", "requires 'target_label' value"),
        ("- {action: lowercase, target_label: '${3}'}", "\"${3}\" is invalid 'target_label'"),
        ("- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', action: replace, replacement: '${1}', target_label: '${3}'}", ""),
        ("- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', action: replace, replacement: '${1}', target_label: '0${3}'}", "\"0${3}\" is invalid 'target_label'"),
        ("- {source_labels: [a], regex: 'some-([^-]+)-([^,]+)', action: replace, replacement: '${1}', target_label: '-${3}'}", "\"-${3}\" is invalid 'target_label' for replace action"),
        ("- {action: hashmod, target_label: x}", "non-zero 'modulus'"),
        ("- {action: labeldrop, regex: a, target_label: x}", "labeldrop action requires only 'regex'"),
        ("- {action: explode}", "unknown relabel action"),
        ("- {source_labels: [a], regex: '(unclosed', action: keep}", "1:31: invalid regular expression \"(unclosed\": unclosed group"),
    ];
    for (yaml, want) in cases {
        let raw: Vec<RawRelabelConfig> = serde_saphyr::from_str(yaml).unwrap();
        match relabels(&raw, "r.yml") {
            Ok(_) => assert_eq!(want, "", "{yaml} should fail with {want}"),
            Err(e) => {
                assert!(!want.is_empty(), "{yaml} should pass, got {e}");
                assert!(e.to_string().contains(want), "{yaml}: got {e}, want {want}");
                assert!(e.to_string().starts_with("r.yml:1:"), "{e}");
            }
        }
    }
}

#[test]
fn replace_target_validity() {
    let cases = [
        ("-label", false),
        ("label", true),
        ("label${1}", true),
        ("${1}label", true),
        ("${1}", true),
        ("${", false),
        ("$", false),
        ("${}", false),
        ("foo${", false),
        ("$1", true),
        ("asd$2asd", true),
        ("-foo${1}bar-", false),
        ("_${1}_", true),
        ("foo${bar}foo", true),
    ];
    for (s, valid) in cases {
        assert_eq!(is_valid_replace_target(s), valid, "{s}");
    }
}
