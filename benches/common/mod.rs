//! Deterministic synthetic data for the rule benchmarks: about 100k series
//! that look like a fleet of HTTP services and nodes, with a few planted
//! anomalies so that the benchmark rules fire real alerts.
//!
//! The same generator feeds the in-process criterion bench and the
//! side-by-side harness against Prometheus, so both see identical data.
#![allow(dead_code)]

/// One generated series: sorted label pairs (metric name included) and a
/// value function of the sample index.
pub struct GenSeries {
    pub labels: Vec<(String, String)>,
    kind: Kind,
    seed: u64,
}

#[derive(Clone, Copy)]
enum Kind {
    /// Counter growing by `rate` per second.
    Counter(f64),
    /// Gauge around a base value with a slope per second.
    Gauge(f64, f64),
}

fn mix(mut x: u64) -> u64 {
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ceb9fe1a85ec53);
    x ^ (x >> 33)
}

fn unit(seed: u64) -> f64 {
    (mix(seed) >> 11) as f64 / (1u64 << 53) as f64
}

impl GenSeries {
    /// The value at sample index `i` with `step_s` seconds between samples.
    pub fn value(&self, i: usize, step_s: f64) -> f64 {
        let t = i as f64 * step_s;
        let jitter = unit(self.seed ^ (i as u64).wrapping_mul(0x9e37)) - 0.5;
        match self.kind {
            Kind::Counter(rate) => {
                (rate * t + jitter.abs() * rate).floor().max(0.0) + 1000.0 * unit(self.seed)
            }
            Kind::Gauge(base, slope) => base + slope * t + base * 0.02 * jitter,
        }
    }
}

fn push(out: &mut Vec<GenSeries>, mut labels: Vec<(&str, String)>, kind: Kind) {
    labels.sort();
    let seed = mix(out.len() as u64 + 1);
    out.push(GenSeries {
        labels: labels
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
        kind,
        seed,
    });
}

/// Generates the fleet. Returns exactly 100,000 series.
pub fn fleet() -> Vec<GenSeries> {
    let mut out = Vec::with_capacity(100_000);
    let jobs = 50;
    let per_job = 20;
    let les = [
        "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf",
    ];
    for j in 0..jobs {
        let job = format!("svc-{j}");
        for i in 0..per_job {
            let inst = format!("10.0.{j}.{i}:8080");
            for m in ["GET", "POST", "PUT", "DELETE"] {
                for code in ["200", "201", "404", "500", "503"] {
                    let base = match code {
                        "200" => 20.0,
                        "201" => 5.0,
                        "404" => 1.0,
                        _ if j == 3 => 4.0, // svc-3 fails a lot
                        _ => 0.05,
                    };
                    push(
                        &mut out,
                        vec![
                            ("__name__", "http_requests_total".into()),
                            ("job", job.clone()),
                            ("instance", inst.clone()),
                            ("method", m.into()),
                            ("code", code.into()),
                        ],
                        Kind::Counter(base),
                    );
                }
            }
            // Latency histogram: cumulative buckets. svc-7 is slow.
            let slow = j == 7;
            for (k, le) in les.iter().enumerate() {
                let frac = if le == &"+Inf" {
                    1.0
                } else {
                    let shift = if slow { 8.0 } else { 3.0 };
                    1.0 / (1.0 + (-(k as f64 - shift)).exp())
                };
                push(
                    &mut out,
                    vec![
                        ("__name__", "http_request_duration_seconds_bucket".into()),
                        ("job", job.clone()),
                        ("instance", inst.clone()),
                        ("le", (*le).into()),
                    ],
                    Kind::Counter(30.0 * frac),
                );
            }
            let mean = if slow { 2.5 } else { 0.05 };
            push(
                &mut out,
                vec![
                    ("__name__", "http_request_duration_seconds_sum".into()),
                    ("job", job.clone()),
                    ("instance", inst.clone()),
                ],
                Kind::Counter(30.0 * mean),
            );
            push(
                &mut out,
                vec![
                    ("__name__", "http_request_duration_seconds_count".into()),
                    ("job", job.clone()),
                    ("instance", inst.clone()),
                ],
                Kind::Counter(30.0),
            );
            let up = if j == 5 && i == 0 { 0.0 } else { 1.0 };
            push(
                &mut out,
                vec![
                    ("__name__", "up".into()),
                    ("job", job.clone()),
                    ("instance", inst.clone()),
                ],
                Kind::Gauge(up, 0.0),
            );
            push(
                &mut out,
                vec![
                    ("__name__", "process_resident_memory_bytes".into()),
                    ("job", job.clone()),
                    ("instance", inst.clone()),
                ],
                Kind::Gauge(if j == 9 { 1.95e9 } else { 2.0e8 }, 0.0),
            );
            for q in 0..20 {
                let (base, slope) = if j == 11 {
                    (950.0, 1.0)
                } else {
                    (100.0 + q as f64, 0.0)
                };
                push(
                    &mut out,
                    vec![
                        ("__name__", "queue_depth".into()),
                        ("job", job.clone()),
                        ("instance", inst.clone()),
                        ("queue", format!("q{q}")),
                    ],
                    Kind::Gauge(base, slope),
                );
            }
        }
    }
    for n in 0..1000 {
        let inst = format!("node-{n}:9100");
        for cpu in 0..4 {
            for mode in [
                "idle", "user", "system", "iowait", "irq", "softirq", "steal", "nice",
            ] {
                let rate = match mode {
                    "idle" if n == 17 => 0.02,
                    "idle" => 0.7,
                    "user" if n == 17 => 0.9,
                    "user" => 0.2,
                    _ => 0.01,
                };
                push(
                    &mut out,
                    vec![
                        ("__name__", "node_cpu_seconds_total".into()),
                        ("instance", inst.clone()),
                        ("cpu", cpu.to_string()),
                        ("mode", mode.into()),
                    ],
                    Kind::Counter(rate),
                );
            }
        }
        for mp in ["/", "/var", "/data"] {
            let size = 1e11;
            let (avail, slope) = match (n, mp) {
                (23, "/") => (5e9, -2e5),
                (42, "/") => (2e9, -5e6),
                _ => (5e10, 0.0),
            };
            push(
                &mut out,
                vec![
                    ("__name__", "node_filesystem_avail_bytes".into()),
                    ("instance", inst.clone()),
                    ("mountpoint", mp.into()),
                ],
                Kind::Gauge(avail, slope),
            );
            push(
                &mut out,
                vec![
                    ("__name__", "node_filesystem_size_bytes".into()),
                    ("instance", inst.clone()),
                    ("mountpoint", mp.into()),
                ],
                Kind::Gauge(size, 0.0),
            );
        }
        push(
            &mut out,
            vec![
                ("__name__", "node_memory_MemTotal_bytes".into()),
                ("instance", inst.clone()),
            ],
            Kind::Gauge(1.6e10, 0.0),
        );
        let avail = if n == 31 { 5e8 } else { 8e9 };
        push(
            &mut out,
            vec![
                ("__name__", "node_memory_MemAvailable_bytes".into()),
                ("instance", inst.clone()),
            ],
            Kind::Gauge(avail, 0.0),
        );
        for dev in ["eth0", "eth1", "lo", "docker0"] {
            push(
                &mut out,
                vec![
                    ("__name__", "node_network_receive_bytes_total".into()),
                    ("instance", inst.clone()),
                    ("device", dev.into()),
                ],
                Kind::Counter(if n == 7 && dev == "eth0" { 2e8 } else { 1e5 }),
            );
        }
    }
    debug_assert_eq!(out.len(), 100_000);
    out
}
