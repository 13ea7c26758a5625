//! Per-span sampling. **Pure.**
//!
//! A span is kept when any rule says so, in this order:
//!
//! 1. its status is ERROR ([`Policy::keep_errors`]);
//! 2. it lasted at least [`Policy::latency_threshold`];
//! 3. consistent probability sampling keeps its trace
//!    ([`Policy::probability`]).
//!
//! Rule 3 follows OpenTelemetry's consistent probability sampling: the
//! randomness value R is the 56 low bits of the trace id (the last 7
//! bytes), or the `rv:` sub-key of the span's `ot` tracestate entry when
//! set; the rejection threshold T is `(1 - p) * 2^56`; the span is kept
//! when `R >= T`. Every agent computes the same R and T for a trace, so
//! all agents keep the same traces. When the span carries an `ot=th:`
//! threshold (an upstream sampler already kept it with that threshold), the
//! effective threshold is the larger of the two, and kept spans get the new
//! threshold written back into `tracestate` so downstream adjusted counts
//! stay right.
//!
//! Rules 1 and 2 are per span: a kept slow or failed span can arrive
//! without its parent or children when those were dropped. See
//! `docs/traces.md` for the limits of per-node sampling compared with tail
//! sampling in a Collector.

use std::time::Duration;

/// 2^56: the range of R and T.
pub const MAX_THRESHOLD: u64 = 1 << 56;

/// What is kept.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Policy {
    pub keep_errors: bool,
    /// Zero turns the latency rule off.
    pub latency_threshold: Duration,
    /// Fraction of the remaining traces kept, 0 to 1.
    pub probability: f64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            keep_errors: true,
            latency_threshold: Duration::from_secs(1),
            probability: 0.1,
        }
    }
}

/// Why a span was kept or dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    KeepError,
    KeepSlow,
    /// Kept by the probability rule; `threshold` is the effective T, to be
    /// written back into `tracestate`.
    KeepSampled {
        threshold: u64,
    },
    Drop,
}

impl Decision {
    /// A metric label: `error`, `latency`, `probability` or `dropped`.
    pub fn reason(&self) -> &'static str {
        match self {
            Decision::KeepError => "error",
            Decision::KeepSlow => "latency",
            Decision::KeepSampled { .. } => "probability",
            Decision::Drop => "probability",
        }
    }

    pub fn keep(&self) -> bool {
        !matches!(self, Decision::Drop)
    }
}

/// What sampling looks at in a span.
#[derive(Debug, Clone, Copy)]
pub struct SpanFacts<'a> {
    pub trace_id: &'a [u8],
    pub trace_state: &'a str,
    pub is_error: bool,
    pub start_unix_nano: u64,
    pub end_unix_nano: u64,
}

/// The rejection threshold for probability `p`: `round((1 - p) * 2^56)`,
/// clamped to `[0, 2^56]`. `p = 1` gives 0 (keep all), `p = 0` gives 2^56
/// (keep none).
pub fn threshold_for(p: f64) -> u64 {
    if p.is_nan() || p <= 0.0 {
        return MAX_THRESHOLD;
    }
    if p >= 1.0 {
        return 0;
    }
    let t = ((1.0 - p) * MAX_THRESHOLD as f64).round();
    (t as u64).min(MAX_THRESHOLD)
}

/// R from the trace id: its 7 last bytes, big-endian. `None` for an id
/// that is not 16 bytes.
pub fn randomness_from_trace_id(trace_id: &[u8]) -> Option<u64> {
    let id: &[u8; 16] = trace_id.try_into().ok()?;
    let mut b = [0u8; 8];
    b[1..].copy_from_slice(&id[9..]);
    Some(u64::from_be_bytes(b))
}

/// The `th` and `rv` sub-keys of the `ot` entry of a W3C tracestate.
/// Malformed values are ignored (as if absent).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OtState {
    pub th: Option<u64>,
    pub rv: Option<u64>,
}

/// The `ot` entry's value in `tracestate`, if any.
fn ot_entry(trace_state: &str) -> Option<&str> {
    trace_state
        .split(',')
        .map(str::trim)
        .find_map(|m| m.strip_prefix("ot="))
}

/// Parses `th` (1 to 14 hex digits, right-padded with zeros) and `rv`
/// (exactly 14 hex digits).
pub fn parse_ot(trace_state: &str) -> OtState {
    let mut out = OtState::default();
    let Some(v) = ot_entry(trace_state) else {
        return out;
    };
    for kv in v.split(';') {
        if let Some(th) = kv.strip_prefix("th:") {
            if (1..=14).contains(&th.len()) && th.bytes().all(|c| c.is_ascii_hexdigit()) {
                if let Ok(x) = u64::from_str_radix(th, 16) {
                    out.th = Some(x << (4 * (14 - th.len())));
                }
            }
        } else if let Some(rv) = kv.strip_prefix("rv:") {
            if rv.len() == 14 && rv.bytes().all(|c| c.is_ascii_hexdigit()) {
                out.rv = u64::from_str_radix(rv, 16).ok();
            }
        }
    }
    out
}

/// `th` encoding of `t`: 14 hex digits with trailing zeros removed (`0`
/// for zero).
pub fn encode_threshold(t: u64) -> String {
    let s = format!("{:014x}", t.min(MAX_THRESHOLD - 1));
    let s = s.trim_end_matches('0');
    if s.is_empty() {
        "0".into()
    } else {
        s.to_string()
    }
}

/// `trace_state` with the `ot` entry's `th` set to `threshold` (other
/// sub-keys and entries kept; the `ot` entry moves to the front as W3C
/// asks of an updated entry). `threshold == 0` (keep all) removes `th`.
pub fn with_threshold(trace_state: &str, threshold: u64) -> String {
    let mut subkeys: Vec<String> = Vec::new();
    if threshold > 0 && threshold < MAX_THRESHOLD {
        subkeys.push(format!("th:{}", encode_threshold(threshold)));
    }
    let mut others: Vec<&str> = Vec::new();
    for m in trace_state
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
    {
        match m.strip_prefix("ot=") {
            Some(v) => subkeys.extend(
                v.split(';')
                    .filter(|kv| !kv.is_empty() && !kv.starts_with("th:"))
                    .map(str::to_string),
            ),
            None => others.push(m),
        }
    }
    let mut out = Vec::new();
    if !subkeys.is_empty() {
        out.push(format!("ot={}", subkeys.join(";")));
    }
    out.extend(others.iter().map(|s| s.to_string()));
    out.join(",")
}

/// Decides one span.
pub fn decide(p: &Policy, s: &SpanFacts<'_>) -> Decision {
    if p.keep_errors && s.is_error {
        return Decision::KeepError;
    }
    if !p.latency_threshold.is_zero() {
        let d = s.end_unix_nano.saturating_sub(s.start_unix_nano);
        if u128::from(d) >= p.latency_threshold.as_nanos() {
            return Decision::KeepSlow;
        }
    }
    let ot = parse_ot(s.trace_state);
    let Some(r) = ot.rv.or_else(|| randomness_from_trace_id(s.trace_id)) else {
        return Decision::Drop;
    };
    let t = threshold_for(p.probability).max(ot.th.unwrap_or(0));
    if t < MAX_THRESHOLD && r >= t {
        Decision::KeepSampled { threshold: t }
    } else {
        Decision::Drop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tid(low56: u64, high: u8) -> Vec<u8> {
        let mut id = vec![high; 16];
        id[9..].copy_from_slice(&low56.to_be_bytes()[1..]);
        id
    }

    struct Case {
        name: &'static str,
        policy: Policy,
        trace_id: Vec<u8>,
        trace_state: &'static str,
        error: bool,
        dur_ms: u64,
        want: Decision,
    }

    fn check(c: Case) {
        let facts = SpanFacts {
            trace_id: &c.trace_id,
            trace_state: c.trace_state,
            is_error: c.error,
            start_unix_nano: 1_000_000_000,
            end_unix_nano: 1_000_000_000 + c.dur_ms * 1_000_000,
        };
        assert_eq!(decide(&c.policy, &facts), c.want, "{}", c.name);
    }

    #[test]
    fn decisions() {
        let d = Policy::default();
        let t10 = threshold_for(0.1);
        let none = Policy {
            probability: 0.0,
            ..d
        };
        let cases = vec![
            Case {
                name: "error kept",
                policy: none,
                trace_id: tid(0, 0),
                trace_state: "",
                error: true,
                dur_ms: 1,
                want: Decision::KeepError,
            },
            Case {
                name: "error rule off",
                policy: Policy {
                    keep_errors: false,
                    ..none
                },
                trace_id: tid(0, 0),
                trace_state: "",
                error: true,
                dur_ms: 1,
                want: Decision::Drop,
            },
            Case {
                name: "slow kept",
                policy: none,
                trace_id: tid(0, 0),
                trace_state: "",
                error: false,
                dur_ms: 1000,
                want: Decision::KeepSlow,
            },
            Case {
                name: "just under threshold",
                policy: none,
                trace_id: tid(0, 0),
                trace_state: "",
                error: false,
                dur_ms: 999,
                want: Decision::Drop,
            },
            Case {
                name: "latency rule off",
                policy: Policy {
                    latency_threshold: Duration::ZERO,
                    ..none
                },
                trace_id: tid(0, 0),
                trace_state: "",
                error: false,
                dur_ms: 5000,
                want: Decision::Drop,
            },
            Case {
                name: "R at T kept",
                policy: d,
                trace_id: tid(t10, 0),
                trace_state: "",
                error: false,
                dur_ms: 1,
                want: Decision::KeepSampled { threshold: t10 },
            },
            Case {
                name: "R below T dropped",
                policy: d,
                trace_id: tid(t10 - 1, 0),
                trace_state: "",
                error: false,
                dur_ms: 1,
                want: Decision::Drop,
            },
            Case {
                name: "high byte ignored",
                policy: d,
                trace_id: tid(t10 - 1, 0xff),
                trace_state: "",
                error: false,
                dur_ms: 1,
                want: Decision::Drop,
            },
            Case {
                name: "max R kept",
                policy: d,
                trace_id: tid(MAX_THRESHOLD - 1, 0),
                trace_state: "",
                error: false,
                dur_ms: 1,
                want: Decision::KeepSampled { threshold: t10 },
            },
            Case {
                name: "p=1 keeps R=0",
                policy: Policy {
                    probability: 1.0,
                    ..d
                },
                trace_id: tid(0, 0),
                trace_state: "",
                error: false,
                dur_ms: 1,
                want: Decision::KeepSampled { threshold: 0 },
            },
            Case {
                name: "p=0 keeps nothing",
                policy: none,
                trace_id: tid(MAX_THRESHOLD - 1, 0),
                trace_state: "",
                error: false,
                dur_ms: 1,
                want: Decision::Drop,
            },
            Case {
                name: "rv overrides trace id",
                policy: d,
                trace_id: tid(0, 0),
                trace_state: "ot=rv:ffffffffffffff",
                error: false,
                dur_ms: 1,
                want: Decision::KeepSampled { threshold: t10 },
            },
            Case {
                name: "rv low drops",
                policy: d,
                trace_id: tid(MAX_THRESHOLD - 1, 0),
                trace_state: "vendor=x,ot=rv:00000000000001",
                error: false,
                dur_ms: 1,
                want: Decision::Drop,
            },
            Case {
                name: "malformed rv ignored",
                policy: d,
                trace_id: tid(MAX_THRESHOLD - 1, 0),
                trace_state: "ot=rv:zz",
                error: false,
                dur_ms: 1,
                want: Decision::KeepSampled { threshold: t10 },
            },
            // Upstream kept at 1% (th:fd70a3d70a3d7): its threshold is higher
            // than ours, so it is the one applied.
            Case {
                name: "upstream th stricter",
                policy: d,
                trace_id: tid(0xfd70a3d70a3d70, 0),
                trace_state: "ot=th:fd70a3d70a3d7",
                error: false,
                dur_ms: 1,
                want: Decision::KeepSampled {
                    threshold: 0xfd70a3d70a3d70,
                },
            },
            Case {
                name: "upstream th looser",
                policy: d,
                trace_id: tid(t10, 0),
                trace_state: "ot=th:8",
                error: false,
                dur_ms: 1,
                want: Decision::KeepSampled { threshold: t10 },
            },
            Case {
                name: "wrong id length",
                policy: d,
                trace_id: vec![0xff; 8],
                trace_state: "",
                error: false,
                dur_ms: 1,
                want: Decision::Drop,
            },
            Case {
                name: "end before start",
                policy: none,
                trace_id: tid(0, 0),
                trace_state: "",
                error: false,
                dur_ms: 0,
                want: Decision::Drop,
            },
        ];
        for c in cases {
            check(c);
        }
    }

    #[test]
    fn thresholds() {
        for (p, want) in [
            (1.0, 0),
            (0.0, MAX_THRESHOLD),
            (0.5, 0x80000000000000),
            (0.25, 0xc0000000000000),
            (-1.0, MAX_THRESHOLD),
            (f64::NAN, MAX_THRESHOLD),
        ] {
            assert_eq!(threshold_for(p), want, "p={p}");
        }
        // 10%: th:e666666666666 per the OTel spec's table (rounded).
        assert_eq!(encode_threshold(threshold_for(0.1)), "e6666666666668");
        assert_eq!(encode_threshold(0x80000000000000), "8");
        assert_eq!(encode_threshold(0), "0");
    }

    #[test]
    fn tracestate() {
        for (ts, want) in [
            ("", OtState::default()),
            (
                "ot=th:8",
                OtState {
                    th: Some(0x80000000000000),
                    rv: None,
                },
            ),
            (
                "a=b, ot=th:c;rv:0123456789abcd",
                OtState {
                    th: Some(0xc0000000000000),
                    rv: Some(0x0123456789abcd),
                },
            ),
            ("ot=th:123456789abcdef", OtState::default()),
            ("ot=th:;rv:1", OtState::default()),
            ("xot=th:8", OtState::default()),
        ] {
            assert_eq!(parse_ot(ts), want, "{ts:?}");
        }
        for (ts, t, want) in [
            ("", 0x80000000000000, "ot=th:8"),
            ("a=b", 0xc0000000000000, "ot=th:c,a=b"),
            (
                "a=b,ot=th:8;rv:0123456789abcd",
                0xc0000000000000,
                "ot=th:c;rv:0123456789abcd,a=b",
            ),
            ("ot=th:8", 0, ""),
        ] {
            assert_eq!(with_threshold(ts, t), want, "{ts:?}");
        }
    }

    #[test]
    fn consistent_fraction() {
        // Over many random trace ids, about p of them are kept, and the same
        // id always gets the same answer.
        let p = Policy::default();
        let mut rng = fastrand::Rng::with_seed(7);
        let n = 100_000;
        let mut kept = 0;
        for _ in 0..n {
            let id: Vec<u8> = (0..16).map(|_| rng.u8(..)).collect();
            let f = SpanFacts {
                trace_id: &id,
                trace_state: "",
                is_error: false,
                start_unix_nano: 0,
                end_unix_nano: 1,
            };
            let a = decide(&p, &f);
            assert_eq!(a, decide(&p, &f));
            kept += usize::from(a.keep());
        }
        let frac = kept as f64 / n as f64;
        assert!((0.095..0.105).contains(&frac), "kept fraction {frac}");
    }
}
