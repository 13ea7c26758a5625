//! Label sets and Alertmanager's label-set fingerprint.

use std::collections::BTreeMap;

/// A set of labels, sorted by name (the order Alertmanager hashes and
/// prints them in).
pub type LabelSet = BTreeMap<String, String>;

const OFFSET64: u64 = 14_695_981_039_346_656_037;
const PRIME64: u64 = 1_099_511_628_211;
const SEPARATOR: u8 = 0xff;

fn add(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(PRIME64);
    }
    h
}

/// The fingerprint Alertmanager (prometheus/common `model.LabelSet`)
/// gives a label set: FNV-1a 64 over `name 0xff value 0xff` in name order.
/// The empty set hashes to the FNV offset basis.
pub fn fingerprint(labels: &LabelSet) -> u64 {
    let mut h = OFFSET64;
    for (k, v) in labels {
        h = add(h, k.as_bytes());
        h = add(h, &[SEPARATOR]);
        h = add(h, v.as_bytes());
        h = add(h, &[SEPARATOR]);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(pairs: &[(&str, &str)], expect: u64) {
        let ls: LabelSet = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(fingerprint(&ls), expect, "{pairs:?}");
    }

    #[test]
    fn fingerprints_match_prometheus_common() {
        // Values from prometheus/common model/signature_test.go
        // (TestLabelsToSignature) and model/fingerprinting_test.go.
        check(&[], 14_695_981_039_346_656_037);
        check(
            &[("name", "garland, briggs"), ("fear", "love is not enough")],
            5_799_056_148_416_392_346,
        );
    }
}
