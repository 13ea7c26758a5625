//! Inhibition cost: N alerts checked against 100 rules, for N = 1k, 5k
//! and 10k. Each rule indexes its sources by the `equal` labels, so the
//! time per alert should stay flat (linear total).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use watchfire_alertmodel::{Alert, InhibitRule, LabelSet, MatchType, Matcher};
use watchfire_dispatch::Inhibitor;

fn m(n: &str, v: &str) -> Matcher {
    Matcher::new(MatchType::Equal, n, v).expect("valid matcher")
}

fn rules() -> Vec<InhibitRule> {
    (0..100)
        .map(|i| InhibitRule {
            source: vec![
                m("alertname", &format!("Src{i}")),
                m("severity", "critical"),
            ],
            target: vec![m("severity", "warning")],
            equal: vec!["cluster".into(), "service".into()],
        })
        .collect()
}

/// 10% sources (critical), 90% warnings, spread over 50 clusters.
fn alerts(n: usize) -> Vec<Alert> {
    (0..n)
        .map(|i| {
            let mut l = LabelSet::new();
            let src = i % 10 == 0;
            let name = if src {
                format!("Src{}", i % 100)
            } else {
                format!("Warn{}", i % 37)
            };
            l.insert("alertname".into(), name);
            l.insert(
                "severity".into(),
                if src { "critical" } else { "warning" }.into(),
            );
            l.insert("cluster".into(), format!("c{}", i % 50));
            l.insert("service".into(), format!("s{}", i % 7));
            l.insert("instance".into(), format!("host{i}"));
            Alert {
                labels: l,
                annotations: LabelSet::new(),
                starts_at: 0,
                ends_at: 1_000_000,
                generator_url: String::new(),
                updated_at: 0,
                timeout: false,
            }
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("inhibit_100_rules");
    g.sample_size(10);
    for n in [1_000usize, 5_000, 10_000] {
        let alerts = alerts(n);
        let mut ih = Inhibitor::new(rules());
        for a in &alerts {
            ih.upsert(a.fingerprint(), a);
        }
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::new("mutes_all", n), &alerts, |b, alerts| {
            b.iter(|| {
                alerts
                    .iter()
                    .filter(|a| ih.mutes(&a.labels, 10).is_some())
                    .count()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
