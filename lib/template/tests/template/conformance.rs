//! Templates from the upstream promtool fixtures in
//! `/work/shared/conformance/rules` (read in place, never copied): every
//! template in the good rule files parses, the bad one fails like promtool,
//! and `rules.yml`'s annotations expand to what `unittest.yml` expects.

use std::collections::BTreeMap;

use watchfire_template::{alert_template_name, expand_alert_template, parse, AlertTemplateData};

fn rules_dir() -> String {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/conformance/rules"
    )
    .to_string()
}

/// The double-quoted template strings of `key: "..."` lines containing `{{`.
fn templates(file: &str) -> Vec<String> {
    let text =
        std::fs::read_to_string(format!("{}/{file}", rules_dir())).expect("fixture readable");
    text.lines()
        .filter(|l| l.contains("{{") && (l.contains("summary:") || l.contains("description:")))
        .filter_map(|l| {
            let v = l.split_once(": ")?.1.trim();
            Some(v.strip_prefix('"')?.strip_suffix('"')?.to_string())
        })
        .collect()
}

#[test]
fn fixture_templates_parse_like_promtool() {
    for file in ["rules.yml", "rules_extrafields.yml"] {
        let ts = templates(file);
        assert_eq!(ts.len(), 2, "{file}");
        for t in ts {
            assert!(parse("__alert_InstanceDown", &t).is_ok(), "{file}: {t}");
        }
    }
    let bad = templates("rules-bad.yml");
    let errors: Vec<String> = bad
        .iter()
        .filter_map(|t| parse("__alert_InstanceDown", t).err())
        .map(|e| e.to_string())
        .collect();
    assert_eq!(
        errors,
        vec!["template: __alert_InstanceDown:1: undefined variable \"$label\"".to_string()]
    );
}

#[test]
fn fixture_annotations_expand_like_unittest() {
    let ts = templates("rules.yml");
    let labels: BTreeMap<String, String> = [
        ("alertname", "InstanceDown"),
        ("instance", "localhost:9090"),
        ("job", "prometheus"),
        ("severity", "page"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let data = AlertTemplateData {
        labels,
        value: 0.0,
        ..Default::default()
    };
    let name = alert_template_name("InstanceDown");
    let got: Vec<String> = ts
        .iter()
        .map(|t| expand_alert_template(&name, t, &data, 0, None).expect("expands"))
        .collect();
    assert_eq!(
        got,
        vec![
            "Instance localhost:9090 down".to_string(),
            "localhost:9090 of job prometheus has been down for more than 5 minutes.".to_string(),
        ]
    );
}
