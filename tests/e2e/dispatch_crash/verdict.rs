//! The pure judgement of the crash test: given what the driver did (when
//! each post and ack may have reached the router), when the router was
//! down, and what the fake receivers accepted (and when), decide per
//! alert lifecycle whether a page was lost, duplicated, unexpected, late,
//! or whether a resolve or an acknowledgement went missing.
//!
//! Timing rule (issue 4): a notification due at `due` must arrive by
//! `due + TOLERANCE_MS`; when the router was down at some moment of
//! `[due, due + TOLERANCE_MS]`, by `TOLERANCE_MS` after the restart that
//! ended that outage ("fell due while the router was down").
//!
//! Duplicates: a page sent twice is a failure, except one resent because
//! the router was killed while it was in flight — the receiver had
//! answered, but the `kill -9` came within [`IN_FLIGHT_MS`] of that
//! arrival, before the router could commit "delivered". No sender can
//! tell that case from a lost request without an idempotent receiver
//! (PagerDuty dedups it by `dedup_key`), so it is reported, not failed,
//! as the metrics outage test allows "the batch in flight at the cut".

use std::fmt::Write as _;

/// How late a page may arrive.
pub const TOLERANCE_MS: i64 = 2_000;
/// How early a page may arrive (clock granularity; the core never fires
/// before the deadline).
pub const EARLY_MS: i64 = 100;
/// How long after a page's arrival a kill counts as "while it was in
/// flight" (response on the wire, then the fsync'd commit).
pub const IN_FLIGHT_MS: i64 = 50;
/// `after` of the second escalation step.
pub const STEP1_AFTER_MS: i64 = 4_000;

/// One `kill -9` and restart (ms since the epoch).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outage {
    pub killed_at: i64,
    pub spawned_at: i64,
    /// When `/-/ready` answered again.
    pub ready_at: i64,
}

/// When an action may have reached the router: from the first attempt
/// the router may have seen (not a refused connection) to the 2xx.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub lo: i64,
    pub hi: i64,
}

/// The latest arrival allowed for a notification due at `due`, and the
/// outage that extended it, if any.
pub fn deadline(due: i64, outages: &[Outage]) -> (i64, Option<usize>) {
    for (i, o) in outages.iter().enumerate() {
        if o.killed_at <= due + TOLERANCE_MS && o.ready_at >= due {
            return (o.ready_at + TOLERANCE_MS, Some(i));
        }
    }
    (due + TOLERANCE_MS, None)
}

/// How late a page that first arrived at `first` was, for a step due in
/// `due` (lo, hi): against the schedule when it came within
/// [`TOLERANCE_MS`] of it, else against the restart of an outage that
/// covered part of `[due, due + TOLERANCE_MS]`, if it came within
/// [`TOLERANCE_MS`] of that restart. `None` (with the deadline) when it
/// was too early or too late.
pub fn timeliness(first: i64, due: (i64, i64), outages: &[Outage]) -> (Option<Lateness>, i64) {
    if first < due.0 - EARLY_MS {
        return (None, due.1 + TOLERANCE_MS);
    }
    if first <= due.1 + TOLERANCE_MS {
        let ms = first - due.0;
        return (Some(Lateness { outage: None, ms }), due.1 + TOLERANCE_MS);
    }
    match deadline(due.1, outages) {
        (dl, Some(i)) if first <= dl => {
            let ms = first - outages[i].ready_at;
            (
                Some(Lateness {
                    outage: Some(i),
                    ms,
                }),
                dl,
            )
        }
        (dl, _) => (None, dl),
    }
}

/// Whether a step due in `[due_lo, due_hi]` must page, given when the
/// lifecycle was stopped (acked or resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Page,
    NoPage,
    /// The stop and the due time are too close to tell.
    Either,
}

pub fn expect_page(due_lo: i64, due_hi: i64, stop: Option<Window>, outages: &[Outage]) -> Expect {
    let Some(stop) = stop else {
        return Expect::Page;
    };
    if stop.hi < due_lo {
        return Expect::NoPage;
    }
    if stop.lo > deadline(due_hi, outages).0 {
        return Expect::Page;
    }
    Expect::Either
}

/// A PagerDuty event kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PdAction {
    Trigger,
    Acknowledge,
    Resolve,
}

/// What a Slack request was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlackKind {
    /// `chat.postMessage` of a firing notification (a page).
    Post,
    AckUpdate,
    ResolvedUpdate,
    /// An ack or resolve that had to post a new message.
    AckPost,
    ResolvedPost,
    Other,
}

/// What the fakes accepted for one group, with arrival times.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub pd_primary: Vec<(PdAction, i64)>,
    pub pd_secondary: Vec<(PdAction, i64)>,
    pub slack: Vec<(SlackKind, i64)>,
    /// Flush notifications of the route's receiver: (resolved?, at).
    pub hook: Vec<(bool, i64)>,
}

/// What the driver did for one lifecycle.
#[derive(Debug, Clone)]
pub struct Facts {
    pub name: String,
    pub fire: Window,
    pub ack: Option<Window>,
    pub resolve: Window,
    /// The escalation's `started_at` as the router reported it.
    pub esc_started: Option<i64>,
}

/// How late a page arrived: against its schedule, or against the
/// restart of the outage it fell into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lateness {
    pub outage: Option<usize>,
    pub ms: i64,
}

/// The judgement of one lifecycle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Distinct (receiver, step) pages delivered.
    pub pages: usize,
    pub duplicates: Vec<String>,
    /// Pages sent twice because a kill hit while the first was in flight
    /// (see the module docs): reported, not failed.
    pub in_flight_repeats: Vec<String>,
    pub lost_pages: Vec<String>,
    pub unexpected_pages: Vec<String>,
    pub lost_resolves: Vec<String>,
    /// A trigger or firing message after the last resolve (the incident
    /// would be open again).
    pub reopened: Vec<String>,
    pub lost_acks: Vec<String>,
    pub timing: Vec<String>,
    pub lateness: Vec<Lateness>,
    pub step1_undecided: bool,
    pub step1_paged: bool,
    /// Pages that fell due while the router was down.
    pub due_while_down: usize,
    /// Resolves or acks delivered more than once (harmless, reported).
    pub repeated_updates: Vec<String>,
    /// Flush (route receiver) notifications delivered more than once.
    pub repeated_flushes: Vec<String>,
}

/// `t` as seconds from `t0`.
pub fn rel(t: i64, t0: i64) -> String {
    format!("t{:+.3}s", (t - t0) as f64 / 1000.0)
}

fn times(v: &[i64], t0: i64) -> String {
    let mut s = String::new();
    for (i, t) in v.iter().enumerate() {
        let _ = write!(s, "{}{}", if i > 0 { ", " } else { "" }, rel(*t, t0));
    }
    s
}

struct Judge<'a> {
    f: &'a Facts,
    outages: &'a [Outage],
    t0: i64,
    v: Verdict,
}

impl Judge<'_> {
    /// Checks the pages (`arrivals`) of one step to one receiver.
    fn page(&mut self, what: &str, arrivals: &[i64], expect: Expect, due: (i64, i64)) {
        let (f, t0) = (self.f, self.t0);
        match (arrivals.len(), expect) {
            (0, Expect::Page) => self.v.lost_pages.push(format!(
                "{} {what}: no page (due {})",
                f.name,
                rel(due.0, t0)
            )),
            (0, _) => {}
            (n, e) => {
                self.v.pages += 1;
                if e == Expect::NoPage {
                    self.v.unexpected_pages.push(format!(
                        "{} {what}: paged at {} although stopped at {} (due {})",
                        f.name,
                        times(arrivals, t0),
                        rel(f.ack.map_or(f.resolve.hi, |a| a.hi.min(f.resolve.hi)), t0),
                        rel(due.0, t0)
                    ));
                }
                if n > 1 {
                    let kill = self
                        .outages
                        .iter()
                        .min_by_key(|o| (o.killed_at - arrivals[0]).abs())
                        .map_or(String::new(), |o| {
                            format!(
                                "; nearest kill at {}, ready {}",
                                rel(o.killed_at, t0),
                                rel(o.ready_at, t0)
                            )
                        });
                    let line = format!(
                        "{} {what}: {n} pages at {} (due {}{kill})",
                        f.name,
                        times(arrivals, t0),
                        rel(due.0, t0)
                    );
                    let in_flight = n == 2
                        && self
                            .outages
                            .iter()
                            .any(|o| (0..=IN_FLIGHT_MS).contains(&(o.killed_at - arrivals[0])));
                    if in_flight {
                        self.v.in_flight_repeats.push(line);
                    } else {
                        self.v.duplicates.push(line);
                    }
                }
                let first = arrivals.iter().copied().min().unwrap_or(0);
                if self
                    .outages
                    .iter()
                    .any(|o| o.killed_at <= due.0 && due.0 <= o.ready_at)
                {
                    self.v.due_while_down += 1;
                }
                let (lateness, dl) = timeliness(first, due, self.outages);
                if let Some(l) = lateness {
                    self.v.lateness.push(l);
                } else {
                    self.v.timing.push(format!(
                        "{} {what}: arrived {} but due {} (allowed from {} until {})",
                        f.name,
                        rel(first, t0),
                        rel(due.0, t0),
                        rel(due.0 - EARLY_MS, t0),
                        rel(dl, t0)
                    ));
                }
            }
        }
    }

    /// A receiver that was paged must end resolved.
    fn resolved(&mut self, what: &str, pages: &[i64], resolves: &[i64]) {
        let (name, t0) = (&self.f.name, self.t0);
        if pages.is_empty() {
            return;
        }
        match resolves.iter().max() {
            None => self.v.lost_resolves.push(format!(
                "{name} {what}: paged at {} but never resolved",
                times(pages, t0)
            )),
            Some(last) => {
                if pages.iter().any(|p| p > last) {
                    self.v.reopened.push(format!(
                        "{name} {what}: paged at {} after its last resolve at {}",
                        times(pages, t0),
                        rel(*last, t0)
                    ));
                }
                if resolves.len() > 1 {
                    self.v.repeated_updates.push(format!(
                        "{name} {what}: resolved at {}",
                        times(resolves, t0)
                    ));
                }
            }
        }
    }
}

fn pd(v: &[(PdAction, i64)], a: PdAction) -> Vec<i64> {
    v.iter().filter(|(x, _)| *x == a).map(|(_, t)| *t).collect()
}

fn slack(v: &[(SlackKind, i64)], kinds: &[SlackKind]) -> Vec<i64> {
    v.iter()
        .filter(|(k, _)| kinds.contains(k))
        .map(|(_, t)| *t)
        .collect()
}

/// Judges one lifecycle.
pub fn judge(f: &Facts, seen: &Seen, outages: &[Outage], t0: i64) -> Verdict {
    let mut j = Judge {
        f,
        outages,
        t0,
        v: Verdict::default(),
    };
    // Step 0: due when the first post reached the router.
    let step0 = (f.fire.lo, f.fire.lo);
    let p0 = pd(&seen.pd_primary, PdAction::Trigger);
    let s0 = slack(&seen.slack, &[SlackKind::Post]);
    j.page("step 0 pd-primary", &p0, Expect::Page, step0);
    j.page("step 0 slack-oncall", &s0, Expect::Page, step0);

    // Step 1: due `after` the escalation's start.
    let due1 = match f.esc_started {
        Some(s) => (s + STEP1_AFTER_MS, s + STEP1_AFTER_MS),
        None => {
            let hi = p0.iter().min().copied().unwrap_or(f.fire.hi + TOLERANCE_MS);
            (f.fire.lo + STEP1_AFTER_MS, hi + STEP1_AFTER_MS)
        }
    };
    let stop = match f.ack {
        Some(a) => Window {
            lo: a.lo.min(f.resolve.lo),
            hi: a.hi.min(f.resolve.hi),
        },
        None => f.resolve,
    };
    let expect1 = expect_page(due1.0, due1.1, Some(stop), outages);
    j.v.step1_undecided = expect1 == Expect::Either;
    let p1 = pd(&seen.pd_secondary, PdAction::Trigger);
    j.page("step 1 pd-secondary", &p1, expect1, due1);
    j.v.step1_paged = !p1.is_empty();

    // Resolves, and nothing firing after them.
    j.resolved("pd-primary", &p0, &pd(&seen.pd_primary, PdAction::Resolve));
    j.resolved(
        "pd-secondary",
        &p1,
        &pd(&seen.pd_secondary, PdAction::Resolve),
    );
    let s_res = slack(
        &seen.slack,
        &[SlackKind::ResolvedUpdate, SlackKind::ResolvedPost],
    );
    j.resolved("slack-oncall", &s0, &s_res);
    if !s0.is_empty() && slack(&seen.slack, &[SlackKind::ResolvedUpdate]).is_empty() {
        j.v.lost_resolves.push(format!(
            "{} slack-oncall: the message was never updated to resolved",
            f.name
        ));
    }
    let fired: Vec<i64> = seen.hook.iter().filter(|h| !h.0).map(|h| h.1).collect();
    let flushed: Vec<i64> = seen.hook.iter().filter(|h| h.0).map(|h| h.1).collect();
    if fired.is_empty() {
        j.v.lost_pages
            .push(format!("{} route receiver: no firing notification", f.name));
    }
    j.resolved("route receiver", &fired, &flushed);
    if fired.len() > 1 {
        j.v.repeated_flushes.push(format!(
            "{} route receiver: firing at {}",
            f.name,
            times(&fired, t0)
        ));
    }

    // Acknowledgements made while the group was still firing.
    if let Some(a) = f.ack.filter(|a| a.hi < f.resolve.lo) {
        let acks = pd(&seen.pd_primary, PdAction::Acknowledge);
        if acks.is_empty() {
            j.v.lost_acks.push(format!(
                "{} pd-primary: acked at {}, no acknowledge event",
                f.name,
                rel(a.hi, t0)
            ));
        } else if acks.len() > 1 {
            j.v.repeated_updates.push(format!(
                "{} pd-primary: acknowledged at {}",
                f.name,
                times(&acks, t0)
            ));
        }
        let s_ack = slack(&seen.slack, &[SlackKind::AckUpdate, SlackKind::AckPost]);
        if slack(&seen.slack, &[SlackKind::AckUpdate]).is_empty() {
            j.v.lost_acks.push(format!(
                "{} slack-oncall: acked at {}, message not updated (ack posts at {})",
                f.name,
                rel(a.hi, t0),
                times(&s_ack, t0)
            ));
        }
    }
    let other = slack(&seen.slack, &[SlackKind::Other]);
    if !other.is_empty() {
        j.v.unexpected_pages.push(format!(
            "{} slack-oncall: unexpected messages at {}",
            f.name,
            times(&other, t0)
        ));
    }
    j.v
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUT: [Outage; 1] = [Outage {
        killed_at: 10_000,
        spawned_at: 10_005,
        ready_at: 11_500,
    }];

    fn check_deadline(due: i64, expect: (i64, Option<usize>)) {
        assert_eq!(deadline(due, &OUT), expect, "due {due}");
    }

    #[test]
    fn deadlines() {
        check_deadline(5_000, (7_000, None));
        check_deadline(7_999, (9_999, None));
        check_deadline(8_000, (13_500, Some(0))); // down before due + 2 s
        check_deadline(10_500, (13_500, Some(0))); // due while down
        check_deadline(11_500, (13_500, Some(0)));
        check_deadline(11_501, (13_501, None)); // due after the restart
    }

    fn check_timeliness(first: i64, due: i64, expect: Option<(Option<usize>, i64)>) {
        let got = timeliness(first, (due, due), &OUT).0;
        let want = expect.map(|(outage, ms)| Lateness { outage, ms });
        assert_eq!(got, want, "first {first}, due {due}");
    }

    #[test]
    fn lateness() {
        check_timeliness(5_100, 5_000, Some((None, 100)));
        check_timeliness(4_950, 5_000, Some((None, -50)));
        check_timeliness(4_850, 5_000, None); // early
        check_timeliness(7_000, 5_000, Some((None, 2_000)));
        check_timeliness(7_001, 5_000, None); // late, no outage near
        check_timeliness(9_000, 8_500, Some((None, 500))); // on time despite the kill
        check_timeliness(11_600, 8_500, Some((Some(0), 100))); // after the restart
        check_timeliness(13_600, 8_500, None); // too long after the restart
        check_timeliness(12_000, 10_500, Some((None, 1_500)));
        check_timeliness(13_000, 10_500, Some((Some(0), 1_500)));
    }

    fn check_expect(due: i64, stop: Option<(i64, i64)>, expect: Expect) {
        let stop = stop.map(|(lo, hi)| Window { lo, hi });
        assert_eq!(expect_page(due, due, stop, &OUT), expect, "{due} {stop:?}");
    }

    #[test]
    fn step_expectations() {
        check_expect(5_000, None, Expect::Page);
        check_expect(5_000, Some((4_000, 4_990)), Expect::NoPage);
        check_expect(5_000, Some((4_990, 5_010)), Expect::Either);
        check_expect(5_000, Some((7_001, 7_050)), Expect::Page);
        check_expect(5_000, Some((6_000, 6_050)), Expect::Either);
        // Due while down: the restart fires it before taking posts.
        check_expect(10_500, Some((13_600, 13_700)), Expect::Page);
        check_expect(10_500, Some((9_000, 12_000)), Expect::Either);
    }

    fn facts(ack: Option<(i64, i64)>, resolve: (i64, i64)) -> Facts {
        Facts {
            name: "lc".into(),
            fire: Window { lo: 0, hi: 10 },
            ack: ack.map(|(lo, hi)| Window { lo, hi }),
            resolve: Window {
                lo: resolve.0,
                hi: resolve.1,
            },
            esc_started: Some(20),
        }
    }

    /// (lost, duplicates, unexpected, lost resolves, reopened, lost acks, timing)
    fn counts(v: &Verdict) -> [usize; 7] {
        [
            v.lost_pages.len(),
            v.duplicates.len(),
            v.unexpected_pages.len(),
            v.lost_resolves.len(),
            v.reopened.len(),
            v.lost_acks.len(),
            v.timing.len(),
        ]
    }

    fn check(f: &Facts, seen: &Seen, expect: [usize; 7]) {
        check_with(f, seen, &[], expect, 0);
    }

    /// With outages; `in_flight` is the expected count of in-flight
    /// repeats.
    fn check_with(
        f: &Facts,
        seen: &Seen,
        outages: &[Outage],
        expect: [usize; 7],
        in_flight: usize,
    ) {
        let v = judge(f, seen, outages, 0);
        assert_eq!(counts(&v), expect, "{v:#?}");
        assert_eq!(v.in_flight_repeats.len(), in_flight, "{v:#?}");
    }

    fn kill(at: i64) -> Outage {
        Outage {
            killed_at: at,
            spawned_at: at + 100,
            ready_at: at + 300,
        }
    }

    fn healthy(step1: bool) -> Seen {
        use PdAction::*;
        let mut s = Seen {
            pd_primary: vec![(Trigger, 100), (Resolve, 7_000)],
            pd_secondary: vec![],
            slack: vec![(SlackKind::Post, 120), (SlackKind::ResolvedUpdate, 7_010)],
            hook: vec![(false, 90), (true, 7_005)],
        };
        if step1 {
            s.pd_secondary = vec![(Trigger, 4_100), (Resolve, 7_020)];
        }
        s
    }

    #[test]
    fn judgements() {
        let long = facts(None, (6_500, 6_510));
        let short = facts(None, (2_000, 2_010));
        check(&long, &healthy(true), [0; 7]);
        check(&short, &healthy(false), [0; 7]);
        check(&long, &healthy(false), [1, 0, 0, 0, 0, 0, 0]);
        check(&short, &healthy(true), [0, 0, 1, 0, 0, 0, 0]);
        let mut dup = healthy(true);
        dup.pd_primary.push((PdAction::Trigger, 900));
        check(&long, &dup, [0, 1, 0, 0, 0, 0, 0]);
        // A kill 20 ms after the first trigger arrived: the resend is the
        // page in flight at the kill. 500 ms after: a real duplicate; so
        // are three pages, or a kill before the first arrival.
        let mut resent = healthy(true);
        resent.pd_primary.push((PdAction::Trigger, 400));
        check_with(&long, &resent, &[kill(120)], [0; 7], 1);
        check_with(&long, &resent, &[kill(600)], [0, 1, 0, 0, 0, 0, 0], 0);
        check_with(&long, &resent, &[kill(90)], [0, 1, 0, 0, 0, 0, 0], 0);
        resent.pd_primary.push((PdAction::Trigger, 450));
        check_with(&long, &resent, &[kill(120)], [0, 1, 0, 0, 0, 0, 0], 0);
        let mut reopened = healthy(true);
        reopened.pd_secondary.push((PdAction::Trigger, 8_000));
        check(&long, &reopened, [0, 1, 0, 0, 1, 0, 0]);
        let mut late = healthy(true);
        late.pd_secondary[0].1 = 6_100;
        check(&long, &late, [0, 0, 0, 0, 0, 0, 1]);
        let mut unresolved = healthy(false);
        unresolved.slack.pop();
        check(&short, &unresolved, [0, 0, 0, 2, 0, 0, 0]);
        let acked = facts(Some((1_000, 1_010)), (6_500, 6_510));
        check(&acked, &healthy(false), [0, 0, 0, 0, 0, 2, 0]);
        let mut ack_seen = healthy(false);
        ack_seen.pd_primary.push((PdAction::Acknowledge, 1_100));
        ack_seen.slack.push((SlackKind::AckUpdate, 1_100));
        check(&acked, &ack_seen, [0; 7]);
    }
}
