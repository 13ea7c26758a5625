//! Runs every case of the OpenMetrics parser test suite
//! (`openmetrics/parsers/*/{metrics,test.json}`) through the OpenMetrics
//! parser and compares "parsed" with `shouldParse`.

use watchfire_exposition::{Format, Parser};

/// Agreement floor: the test fails below this many agreeing cases.
const FLOOR: usize = 211;

/// Parses a whole input, draining every entry; `Err` on the first error.
fn parses(input: &[u8]) -> Result<usize, watchfire_exposition::ParseError> {
    let mut n = 0;
    for e in Parser::new(input, Format::OpenMetrics) {
        e?;
        n += 1;
    }
    Ok(n)
}

#[test]
fn openmetrics_conformance_suite() {
    let dir = crate::data_dir().join("openmetrics/parsers");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    let (mut agree, mut failed) = (0, Vec::new());
    for case in &cases {
        let name = case.file_name().unwrap().to_string_lossy().to_string();
        let spec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(case.join("test.json")).unwrap()).unwrap();
        let should = spec["shouldParse"].as_bool().expect("shouldParse");
        let file = spec["file"].as_str().unwrap_or("metrics");
        let input = std::fs::read(case.join(file)).unwrap();
        let got = parses(&input);
        let ok = got.is_ok() == should;
        let detail = match &got {
            Ok(n) => format!("parsed ({n} entries)"),
            Err(e) => format!("rejected: {e}"),
        };
        println!(
            "{} {name}: expected {}, {detail}",
            if ok { "ok  " } else { "FAIL" },
            if should { "parse" } else { "reject" }
        );
        if ok {
            agree += 1;
        } else {
            failed.push(name);
        }
    }
    println!("OpenMetrics conformance: {agree}/{} agree", cases.len());
    assert_eq!(cases.len(), 211, "expected the full suite");
    assert!(
        agree >= FLOOR,
        "agreement {agree} below floor {FLOOR}; failing: {failed:?}"
    );
}
