//! The alert log against a model: after every commit, replaying the
//! simulated table must give exactly the model's alerts, and the index
//! must match what a fresh replay rebuilds.

use std::collections::BTreeMap;
use std::sync::Arc;

use watchfire_alertmodel::Alert;

use super::*;

/// An alert named `name` at version `v` (kept in `updated_at`).
fn alert(name: &str, v: i64) -> Arc<Alert> {
    Arc::new(Alert {
        labels: [("alertname".to_string(), name.to_string())].into(),
        annotations: Default::default(),
        starts_at: 1,
        ends_at: 0,
        generator_url: String::new(),
        updated_at: v,
        timeout: false,
    })
}

fn fp(name: &str) -> u64 {
    alert(name, 0).fingerprint()
}

/// The redb table, simulated.
type Table = BTreeMap<u64, Vec<u8>>;

fn apply(t: &mut Table, w: LogWrite) {
    for (seq, v) in w.puts {
        assert!(t.insert(seq, v).is_none(), "row {seq} written twice");
    }
    for seq in w.deletes {
        assert!(t.remove(&seq).is_some(), "row {seq} deleted but absent");
    }
}

/// What a replay of the table yields: name → version.
fn replayed(t: &Table) -> BTreeMap<String, i64> {
    let rows = t.iter().map(|(k, v)| (*k, v.clone())).collect();
    let (_, live, _) = AlertLog::replay(rows, |e| panic!("{e}"));
    live.iter()
        .map(|a| (a.labels.get("alertname").unwrap().to_string(), a.updated_at))
        .collect()
}

fn small(row_ops: usize, slack: u64) -> AlertLog {
    AlertLog {
        row_ops,
        slack,
        ..AlertLog::default()
    }
}

/// A row's ops.
fn ops_in(row: &[u8]) -> usize {
    decode_row(0, row).expect("row decodes").len()
}

/// Runs commits of ops (`+name` puts a new version, `-name` deletes) and
/// checks the replay after each against the model; returns the final
/// (replayed alerts, rows in the table).
fn run(log: &mut AlertLog, t: &mut Table, commits: &[&str]) -> (BTreeMap<String, i64>, usize) {
    let mut model: BTreeMap<String, i64> = replayed(t);
    let mut v = 1000;
    for c in commits {
        let mut ops = Vec::new();
        for op in c.split_whitespace() {
            v += 1;
            let (kind, name) = op.split_at(1);
            if kind == "+" {
                model.insert(name.to_string(), v);
                ops.push(Op::Put(alert(name, v)));
            } else {
                model.remove(name);
                ops.push(Op::Del(fp(name)));
            }
        }
        let snapshot = t.clone();
        let w = log
            .append(ops, |seq| Ok(snapshot.get(&seq).cloned()))
            .unwrap();
        apply(t, w);
        assert_eq!(replayed(t), model, "after commit {c:?}");
        consistent(log, t);
    }
    (model, t.len())
}

/// The index agrees with the one a fresh replay builds: same current
/// versions, same rows and counts. A replay may see that a kept `Del`
/// cancels nothing (the rows it was for are gone) and drop its row; doing
/// so must not change what the table replays to.
fn consistent(log: &AlertLog, t: &Table) {
    let rows = t.iter().map(|(k, v)| (*k, v.clone())).collect();
    let (fresh, live, drop) = AlertLog::replay(rows, |e| panic!("{e}"));
    assert_eq!(fresh.latest, log.latest);
    assert_eq!(
        t.keys().copied().collect::<Vec<_>>(),
        log.rows.keys().copied().collect::<Vec<_>>()
    );
    let dropped: u64 = drop.iter().map(|s| u64::from(log.rows[s].puts)).sum();
    assert_eq!(fresh.stored, log.stored - dropped);
    for (seq, r) in &log.rows {
        if drop.contains(seq) {
            assert_eq!(r.live, 0, "row {seq} dropped by replay holds live versions");
            continue;
        }
        let f = fresh.rows[seq];
        assert_eq!((f.live, f.puts), (r.live, r.puts), "row {seq}");
        assert!(!f.has_dels || r.has_dels, "row {seq}");
    }
    let mut pruned = t.clone();
    for seq in &drop {
        pruned.remove(seq);
    }
    let names = |l: &[Arc<Alert>]| l.iter().map(|a| a.fingerprint()).collect::<Vec<_>>();
    let rows = pruned.iter().map(|(k, v)| (*k, v.clone())).collect();
    let (_, after, _) = AlertLog::replay(rows, |e| panic!("{e}"));
    assert_eq!(
        names(&after),
        names(&live),
        "dropping {drop:?} changed the replay"
    );
}

fn check(commits: &[&str], alerts: &[(&str, i64)], rows: usize) {
    let (mut log, mut t) = (small(2, 100), Table::new());
    let (got, n) = run(&mut log, &mut t, commits);
    let want: BTreeMap<String, i64> = alerts.iter().map(|(n, v)| (n.to_string(), *v)).collect();
    assert_eq!((got, n), (want, rows), "{commits:?}");
}

#[test]
fn table() {
    // Two ops per row.
    check(&["+a +b +c"], &[("a", 1001), ("b", 1002), ("c", 1003)], 2);
    // A row whose versions are all superseded goes; no delete needed.
    check(&["+a +b", "+a +b"], &[("a", 1003), ("b", 1004)], 1);
    // Superseded within one commit: the row is never written.
    check(&["+a +b +a +b"], &[("a", 1003), ("b", 1004)], 1);
    // A delete of an alert whose only row is the oldest: both go.
    check(&["+a", "-a"], &[], 0);
    // A delete must stay while an older row might hold the alert.
    check(&["+x", "+a", "+a", "-a"], &[("x", 1001)], 2);
    // Deleting something never stored writes nothing.
    check(&["-nope"], &[], 0);
    // Delete then put again in one commit.
    check(&["+a", "-a +a"], &[("a", 1003)], 1);
}

#[test]
fn random_histories_replay_to_the_model_and_stay_bounded() {
    for seed in 1..=12u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let mut log = small(rng.usize(1..=6), rng.u64(0..20));
        if seed % 2 == 0 {
            // Rows cut by size (an alert here takes about 20 bytes).
            log.row_ops = ROW_OPS;
            log.row_bytes = rng.usize(20..200);
        }
        let mut t = Table::new();
        let names = rng.u64(4..64);
        let mut commits: Vec<String> = Vec::new();
        for _ in 0..300 {
            let n = rng.u64(1..=12);
            let ops: Vec<String> = (0..n)
                .map(|_| {
                    let kind = if rng.u8(0..4) == 0 { '-' } else { '+' };
                    format!("{kind}n{}", rng.u64(0..names))
                })
                .collect();
            commits.push(ops.join(" "));
        }
        let refs: Vec<&str> = commits.iter().map(String::as_str).collect();
        let mut peak = 0u64;
        for c in refs.chunks(1) {
            run(&mut log, &mut t, c);
            let live = log.live() as u64;
            let over = log.stored.saturating_sub(2 * live + log.slack);
            peak = peak.max(over);
        }
        // Garbage above the budget stays within a few rows' worth.
        assert!(
            peak <= (live_bound(&log) + 8 * log.row_ops) as u64,
            "seed {seed}: {peak} versions over budget"
        );
    }
}

fn live_bound(log: &AlertLog) -> usize {
    log.live() + 64
}

#[test]
fn a_blind_index_never_drops_unknown_rows_and_writes_every_delete() {
    // A table the index could not read holds an old version of `a`.
    let mut t = Table::new();
    let mut known = small(4, 0);
    apply(
        &mut t,
        known
            .append([Op::Put(alert("a", 1))], |_| Ok(None))
            .unwrap(),
    );
    let mut blind = AlertLog {
        row_ops: 4,
        slack: 0,
        ..AlertLog::blind(1 << 62)
    };
    // Deleting `a`, unknown to the blind index, must still be written.
    let w = blind.append([Op::Del(fp("a"))], |_| Ok(None)).unwrap();
    assert_eq!(w.puts.len(), 1);
    assert!(w.deletes.is_empty());
    apply(&mut t, w);
    assert_eq!(replayed(&t), BTreeMap::new());
    // More churn never drops the unknown row or the delete.
    for v in 2..50 {
        let w = blind
            .append([Op::Put(alert("b", v)), Op::Put(alert("c", v))], |s| {
                Ok(t.get(&s).cloned())
            })
            .unwrap();
        assert!(!w.deletes.contains(&0), "unknown row dropped");
        apply(&mut t, w);
    }
    assert!(t.contains_key(&0));
    assert_eq!(
        replayed(&t),
        [("b".to_string(), 49), ("c".to_string(), 49)].into()
    );
}

#[test]
fn an_unreadable_row_is_reported_and_kept_until_oldest() {
    let mut t = Table::new();
    let mut log = small(4, 0);
    apply(
        &mut t,
        log.append([Op::Put(alert("a", 1))], |_| Ok(None)).unwrap(),
    );
    t.insert(log.next_seq, b"\xff\xff garbage".to_vec());
    let rows = t.iter().map(|(k, v)| (*k, v.clone())).collect();
    let mut errors = 0;
    let (log, live, drop) = AlertLog::replay(rows, |_| errors += 1);
    assert_eq!(errors, 1);
    assert_eq!(live.len(), 1);
    assert!(drop.is_empty());
    assert_eq!(log.rows(), 2);
}

#[test]
fn rows_are_cut_to_their_byte_budget() {
    // (row budget in bytes, alerts in one commit) → ops per written row.
    fn check(row_bytes: usize, n: usize, want: &[usize]) {
        let mut log = AlertLog {
            row_bytes,
            ..AlertLog::default()
        };
        let ops = (0..n).map(|i| Op::Put(alert(&format!("a{i:02}"), 1)));
        let w = log.append(ops, |_| Ok(None)).unwrap();
        let got: Vec<usize> = w.puts.iter().map(|(_, r)| ops_in(r)).collect();
        assert_eq!(got, want, "row_bytes {row_bytes}, {n} alerts");
        for (_, r) in &w.puts {
            assert!(r.len() <= row_bytes || ops_in(r) == 1, "{} bytes", r.len());
        }
        let mut t = Table::new();
        apply(&mut t, w);
        assert_eq!(replayed(&t).len(), n);
        consistent(&log, &t);
    }
    // One such alert is 22 bytes as an op; a row adds its count (1 byte).
    let one = {
        let mut body = Vec::new();
        encode::op(&mut body, &Op::Put(alert("a00", 1)));
        body.len()
    };
    assert_eq!(one, 22);
    check(1 + 3 * one, 7, &[3, 3, 1]);
    check(3 * one, 7, &[2, 2, 2, 1]);
    check(1 + one, 2, &[1, 1]);
    // An op larger than the budget gets a row of its own.
    check(10, 3, &[1, 1, 1]);
    check(ROW_BYTES, 5, &[5]);
    // The default: a row fills a 32 KiB redb page at most (alerts of ~60
    // bytes, so the byte budget binds before `ROW_OPS`).
    let big: Vec<Op> = (0..2_000)
        .map(|i| Op::Put(alert(&format!("b{i:04}{}", "x".repeat(40)), 1)))
        .collect();
    let w = AlertLog::default().append(big, |_| Ok(None)).unwrap();
    assert!(w.puts.len() > 1);
    for (_, r) in &w.puts[..w.puts.len() - 1] {
        assert!(
            r.len() <= ROW_BYTES && r.len() > ROW_BYTES - 64,
            "{}",
            r.len()
        );
    }
}
