//! Runs the default rules over the labelled PII corpus and checks recall
//! and precision with the same definitions as `score.py`:
//!
//! - a secret leaks when the output line still holds any run of it of
//!   `max(10, len/2)` characters (the whole secret when shorter), raw,
//!   JSON-escaped once or twice;
//! - a keeper is kept when it survives verbatim;
//! - a JSON input line must still be valid JSON.
//!
//! Skipped, with a message, when the corpus is not there.

use std::collections::BTreeMap;
use std::path::Path;

use watchfire_redact::Redactor;

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/corpus/pii/dev.jsonl"
);

fn escaped(s: &str) -> String {
    let q = serde_json::to_string(s).expect("string encodes");
    q[1..q.len() - 1].to_string()
}

fn leaked(secret: &str, out: &str) -> bool {
    let once = escaped(secret);
    let twice = escaped(&once);
    [secret.to_string(), once, twice].iter().any(|f| {
        let chars: Vec<char> = f.chars().collect();
        let w = if chars.len() <= 10 {
            chars.len()
        } else {
            (chars.len() / 2).max(10)
        };
        (0..=chars.len() - w).any(|i| {
            let run: String = chars[i..i + w].iter().collect();
            out.contains(&run)
        })
    })
}

#[test]
fn dev_corpus_recall_and_precision() {
    if !Path::new(CORPUS).exists() {
        println!("skipping: corpus not found at {CORPUS}");
        return;
    }
    let text = std::fs::read_to_string(CORPUS).expect("corpus readable");
    let r = Redactor::with_defaults().expect("defaults build");
    let mut stats = r.stats();
    let (mut n_sec, mut n_leak, mut n_keep, mut n_kept) = (0usize, 0usize, 0usize, 0usize);
    let (mut json_in, mut json_ok) = (0usize, 0usize);
    let mut by_kind: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut leaks = Vec::new();
    let mut lost = Vec::new();
    for rec in text.lines() {
        let rec: serde_json::Value = serde_json::from_str(rec).expect("corpus record");
        let line = rec["line"].as_str().expect("line").replace('\n', "\\n");
        let out = r.redact_line(&line, &mut stats).unwrap_or_default();
        let secrets = rec["secrets"].as_array().expect("secrets");
        let kinds = rec["kinds"].as_array().expect("kinds");
        for (s, k) in secrets.iter().zip(kinds) {
            let (s, k) = (s.as_str().expect("secret"), k.as_str().expect("kind"));
            n_sec += 1;
            let e = by_kind.entry(k.to_string()).or_default();
            e.0 += 1;
            if leaked(s, &out) {
                n_leak += 1;
                e.1 += 1;
                leaks.push(format!("{k}: {s:?} in {out}"));
            }
        }
        for k in rec["keep"].as_array().expect("keep") {
            let k = k.as_str().expect("keeper");
            n_keep += 1;
            if out.contains(k) {
                n_kept += 1;
            } else {
                lost.push(format!("{k:?} in {out}"));
            }
        }
        if line.starts_with('{') {
            json_in += 1;
            if serde_json::from_str::<serde_json::Value>(&out).is_ok() {
                json_ok += 1;
            }
        }
    }
    let recall = 1.0 - n_leak as f64 / n_sec as f64;
    let precision = n_kept as f64 / n_keep as f64;
    for (k, (t, l)) in &by_kind {
        println!("{k:15} {t:6} {l:6}");
    }
    for l in leaks.iter().take(20) {
        println!("LEAK {l}");
    }
    for l in lost.iter().take(20) {
        println!("LOST {l}");
    }
    println!(
        "recall={recall:.4} precision={precision:.4} json={json_ok}/{json_in} dropped={}",
        stats.dropped()
    );
    assert_eq!(stats.dropped(), 0, "no corpus record should be dropped");
    assert_eq!(json_ok, json_in, "every JSON line stays valid JSON");
    assert!(recall >= 0.995, "recall {recall:.4} below 0.995");
    assert!(precision >= 0.99, "precision {precision:.4} below 0.99");
}
