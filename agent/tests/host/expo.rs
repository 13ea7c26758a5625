//! A tiny Prometheus text-format reader for these tests (the real parser
//! lives in `lib/exposition`; the tests stay independent of it).

use std::collections::BTreeMap;

pub type LabelSet = Vec<(String, String)>;

#[derive(Debug, Default)]
pub struct Family {
    pub help: Option<String>,
    pub kind: Option<String>,
    /// Sorted label set → value.
    pub samples: BTreeMap<LabelSet, f64>,
}

/// Metric name → family. Panics (test failure) on anything malformed.
pub fn parse(text: &str) -> BTreeMap<String, Family> {
    let mut out: BTreeMap<String, Family> = BTreeMap::new();
    for (i, line) in text.lines().enumerate() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            out.entry(name.into()).or_default().help =
                Some(help.replace(r"\n", "\n").replace(r"\\", "\\"));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest
                .split_once(' ')
                .unwrap_or_else(|| panic!("line {}: {line}", i + 1));
            out.entry(name.into()).or_default().kind = Some(kind.into());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        let (name, labels, rest) = match line.find(['{', ' ']) {
            Some(p) if line.as_bytes()[p] == b'{' => {
                let (labels, rest) = parse_labels(&line[p + 1..])
                    .unwrap_or_else(|| panic!("line {}: {line}", i + 1));
                (&line[..p], labels, rest)
            }
            Some(p) => (&line[..p], Vec::new(), &line[p..]),
            None => panic!("line {}: no value: {line}", i + 1),
        };
        let value_str = rest
            .split_whitespace()
            .next()
            .unwrap_or_else(|| panic!("line {}: {line}", i + 1));
        let value = match value_str {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("line {}: bad value {v}", i + 1)),
        };
        let mut labels = labels;
        labels.sort();
        let prev = out
            .entry(name.into())
            .or_default()
            .samples
            .insert(labels, value);
        assert!(prev.is_none(), "line {}: duplicate series {line}", i + 1);
    }
    out
}

/// Parses `a="x",b="y"} rest` → labels and the text after `}`.
fn parse_labels(s: &str) -> Option<(LabelSet, &str)> {
    let mut labels = Vec::new();
    let mut rest = s;
    loop {
        rest = rest.trim_start_matches(',');
        if let Some(after) = rest.strip_prefix('}') {
            return Some((labels, after));
        }
        let (name, after) = rest.split_once("=\"")?;
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            let (j, c) = chars.next()?;
            match c {
                '\\' => match chars.next()?.1 {
                    'n' => value.push('\n'),
                    c => value.push(c),
                },
                '"' => break j,
                c => value.push(c),
            }
        };
        labels.push((name.to_string(), value));
        rest = &after[end + 1..];
    }
}
