//! Silences with Alertmanager's semantics (`silence/silence.go` and the
//! v2 API's checks).
//!
//! - State: pending before `startsAt`, expired strictly after `endsAt`,
//!   else active (Alertmanager's `getState`; note `endsAt` itself is still
//!   active).
//! - `set` with an id updates in place only when `canUpdate` allows it
//!   (same matchers; an active silence keeps its start and may not end in
//!   the past; a pending one may not start in the past); otherwise the old
//!   silence is expired (unless already expired) and a new one is created
//!   with a fresh id from the caller's generator. A new silence starting in
//!   the past starts `now`.
//! - `expire` ends an active silence `now`; a pending one gets start and
//!   end `now`; an expired one is an error.
//! - Silences are dropped `retention` after their end.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use watchfire_alertmodel::{LabelSet, MatchType, Matcher, MatcherError, Silence, SilenceState};

use crate::labels::{go_quote, valid_label_name};

/// A matcher as plain data (persisted and accepted from the API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatcherRecord {
    pub name: String,
    /// `=`, `!=`, `=~` or `!~`.
    pub op: String,
    pub value: String,
}

impl MatcherRecord {
    pub fn from_matcher(m: &Matcher) -> MatcherRecord {
        MatcherRecord {
            name: m.name().to_string(),
            op: m.op().as_str().to_string(),
            value: m.value().to_string(),
        }
    }
}

/// A silence as the API posts it. `id: Some` asks for an update.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SilenceSpec {
    pub id: Option<String>,
    pub matchers: Vec<MatcherRecord>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub created_by: String,
    pub comment: String,
}

/// Why a silence was refused or not found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SilenceError {
    #[error("silence not found")]
    NotFound,
    #[error("start time must be before end time")]
    StartNotBeforeEnd,
    #[error("end time can't be in the past")]
    EndInPast,
    #[error("at least one matcher required")]
    NoMatchers,
    #[error("invalid label matcher {index}: invalid label name {}", go_quote(.name))]
    BadName { index: usize, name: String },
    #[error("invalid label matcher {index}: unknown operator {}", go_quote(.op))]
    BadOp { index: usize, op: String },
    #[error("invalid label matcher {index}: {source}")]
    BadMatcher { index: usize, source: MatcherError },
    #[error("at least one matcher must not match the empty string")]
    AllMatchEmpty,
    #[error("silence {0} already expired")]
    AlreadyExpired(String),
}

/// A stored silence with its plain matchers (for persistence and
/// `canUpdate`'s comparison).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceRecord {
    pub id: String,
    pub matchers: Vec<MatcherRecord>,
    pub starts_at: i64,
    pub ends_at: i64,
    pub updated_at: i64,
    pub created_by: String,
    pub comment: String,
}

/// Alertmanager's `getState`.
pub fn state(s: &Silence, now: i64) -> SilenceState {
    if now < s.starts_at {
        SilenceState::Pending
    } else if now > s.ends_at {
        SilenceState::Expired
    } else {
        SilenceState::Active
    }
}

fn parse_op(op: &str) -> Option<MatchType> {
    Some(match op {
        "=" => MatchType::Equal,
        "!=" => MatchType::NotEqual,
        "=~" => MatchType::Regexp,
        "!~" => MatchType::NotRegexp,
        _ => return None,
    })
}

/// Compiles and validates matchers (`validateSilence`'s matcher part).
pub fn compile(ms: &[MatcherRecord]) -> Result<Vec<Matcher>, SilenceError> {
    if ms.is_empty() {
        return Err(SilenceError::NoMatchers);
    }
    let mut out = Vec::with_capacity(ms.len());
    let mut all_empty = true;
    for (index, m) in ms.iter().enumerate() {
        if !valid_label_name(&m.name) {
            return Err(SilenceError::BadName {
                index,
                name: m.name.clone(),
            });
        }
        let op = parse_op(&m.op).ok_or_else(|| SilenceError::BadOp {
            index,
            op: m.op.clone(),
        })?;
        let c = Matcher::new(op, m.name.clone(), m.value.clone())
            .map_err(|source| SilenceError::BadMatcher { index, source })?;
        // Alertmanager's matchesEmpty: only `=` and `=~` can match "".
        all_empty &= matches!(op, MatchType::Equal | MatchType::Regexp) && c.matches("");
        out.push(c);
    }
    if all_empty {
        return Err(SilenceError::AllMatchEmpty);
    }
    Ok(out)
}

#[derive(Debug, Clone)]
struct Entry {
    rec: SilenceRecord,
    sil: Silence,
}

/// All silences, by id.
#[derive(Debug, Default)]
pub struct Silences {
    by_id: BTreeMap<String, Entry>,
}

impl Silences {
    /// Loads a persisted silence (its matchers are compiled again).
    pub fn load(&mut self, rec: SilenceRecord) -> Result<(), SilenceError> {
        let matchers = compile(&rec.matchers)?;
        self.insert(rec, matchers);
        Ok(())
    }

    fn insert(&mut self, rec: SilenceRecord, matchers: Vec<Matcher>) {
        let sil = Silence {
            id: rec.id.clone(),
            matchers,
            starts_at: rec.starts_at,
            ends_at: rec.ends_at,
            updated_at: rec.updated_at,
            created_by: rec.created_by.clone(),
            comment: rec.comment.clone(),
        };
        self.by_id.insert(rec.id.clone(), Entry { rec, sil });
    }

    /// Creates or updates a silence; returns its id and the ids whose
    /// records changed.
    pub fn set(
        &mut self,
        spec: SilenceSpec,
        new_id: &mut dyn FnMut() -> String,
        now: i64,
    ) -> Result<(String, Vec<String>), SilenceError> {
        if spec.starts_at >= spec.ends_at {
            return Err(SilenceError::StartNotBeforeEnd);
        }
        if spec.ends_at < now {
            return Err(SilenceError::EndInPast);
        }
        let matchers = compile(&spec.matchers)?;
        let mut changed = Vec::new();
        if let Some(id) = &spec.id {
            let prev = self.by_id.get(id).ok_or(SilenceError::NotFound)?;
            let st = state(&prev.sil, now);
            let can_update = prev.rec.matchers == spec.matchers
                && match st {
                    SilenceState::Active => {
                        spec.starts_at == prev.rec.starts_at && spec.ends_at >= now
                    }
                    SilenceState::Pending => spec.starts_at >= now,
                    SilenceState::Expired => false,
                };
            if can_update {
                let rec = SilenceRecord {
                    id: id.clone(),
                    matchers: spec.matchers,
                    starts_at: spec.starts_at,
                    ends_at: spec.ends_at,
                    updated_at: now,
                    created_by: spec.created_by,
                    comment: spec.comment,
                };
                self.insert(rec, matchers);
                return Ok((id.clone(), vec![id.clone()]));
            }
            if st != SilenceState::Expired {
                self.expire(id, now)?;
                changed.push(id.clone());
            }
        }
        let id = new_id();
        let rec = SilenceRecord {
            id: id.clone(),
            matchers: spec.matchers,
            starts_at: spec.starts_at.max(now),
            ends_at: spec.ends_at,
            updated_at: now,
            created_by: spec.created_by,
            comment: spec.comment,
        };
        self.insert(rec, matchers);
        changed.push(id.clone());
        Ok((id, changed))
    }

    /// Expires a silence now.
    pub fn expire(&mut self, id: &str, now: i64) -> Result<(), SilenceError> {
        let e = self.by_id.get_mut(id).ok_or(SilenceError::NotFound)?;
        match state(&e.sil, now) {
            SilenceState::Expired => return Err(SilenceError::AlreadyExpired(id.to_string())),
            SilenceState::Active => e.rec.ends_at = now,
            SilenceState::Pending => {
                e.rec.starts_at = now;
                e.rec.ends_at = now;
            }
        }
        e.rec.updated_at = now;
        e.sil.starts_at = e.rec.starts_at;
        e.sil.ends_at = e.rec.ends_at;
        e.sil.updated_at = now;
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<&Silence> {
        self.by_id.get(id).map(|e| &e.sil)
    }

    pub fn record(&self, id: &str) -> Option<&SilenceRecord> {
        self.by_id.get(id).map(|e| &e.rec)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Silence> {
        self.by_id.values().map(|e| &e.sil)
    }

    /// Ids of the active silences matching `labels`, sorted.
    pub fn mutes(&self, labels: &LabelSet, now: i64) -> Vec<String> {
        self.by_id
            .values()
            .filter(|e| state(&e.sil, now) == SilenceState::Active && e.sil.matches(labels))
            .map(|e| e.sil.id.clone())
            .collect()
    }

    /// Drops silences that ended more than `retention` ago; returns their ids.
    pub fn gc(&mut self, now: i64, retention: i64) -> Vec<String> {
        let old: Vec<String> = self
            .by_id
            .values()
            .filter(|e| e.sil.ends_at.saturating_add(retention) < now)
            .map(|e| e.sil.id.clone())
            .collect();
        for id in &old {
            self.by_id.remove(id);
        }
        old
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, op: &str, value: &str) -> MatcherRecord {
        MatcherRecord {
            name: name.into(),
            op: op.into(),
            value: value.into(),
        }
    }

    fn check_compile(ms: Vec<MatcherRecord>, expect: Result<usize, &str>) {
        let got = compile(&ms).map(|v| v.len()).map_err(|e| e.to_string());
        assert_eq!(got, expect.map_err(str::to_string), "{ms:?}");
    }

    #[test]
    fn validation() {
        check_compile(vec![], Err("at least one matcher required"));
        check_compile(
            vec![m("a", "=", "")],
            Err("at least one matcher must not match the empty string"),
        );
        check_compile(
            vec![m("a", "=~", ".*")],
            Err("at least one matcher must not match the empty string"),
        );
        check_compile(vec![m("a", "!=", "")], Ok(1));
        check_compile(vec![m("a", "=~", ".*"), m("b", "=", "x")], Ok(2));
        check_compile(
            vec![m("1a", "=", "x")],
            Err("invalid label matcher 0: invalid label name \"1a\""),
        );
        let e = compile(&[m("a", "=~", "(")]).unwrap_err();
        assert!(
            matches!(e, SilenceError::BadMatcher { index: 0, .. }),
            "{e}"
        );
        assert!(e
            .to_string()
            .starts_with("invalid label matcher 0: invalid regular expression"));
    }

    fn spec(id: Option<&str>, value: &str, s: i64, e: i64) -> SilenceSpec {
        SilenceSpec {
            id: id.map(str::to_string),
            matchers: vec![m("a", "=", value)],
            starts_at: s,
            ends_at: e,
            ..Default::default()
        }
    }

    fn gen() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("id{n}")
        }
    }

    #[test]
    fn states_and_updates() {
        let mut g = gen();
        let mut s = Silences::default();
        let (id, _) = s.set(spec(None, "x", 50, 200), &mut g, 100).unwrap();
        assert_eq!(id, "id1");
        let sil = s.get(&id).unwrap();
        // Starting in the past means starting now.
        assert_eq!(sil.starts_at, 100);
        for (t, st) in [
            (99, SilenceState::Pending),
            (100, SilenceState::Active),
            (200, SilenceState::Active),
            (201, SilenceState::Expired),
        ] {
            assert_eq!(state(sil, t), st, "t={t}");
        }
        // Extending an active silence keeps its id.
        let (id2, ch) = s
            .set(spec(Some("id1"), "x", 100, 300), &mut g, 150)
            .unwrap();
        assert_eq!((id2.as_str(), ch), ("id1", vec!["id1".to_string()]));
        // Changing its matchers expires it and creates a new one.
        let (id3, ch) = s
            .set(spec(Some("id1"), "y", 100, 300), &mut g, 160)
            .unwrap();
        assert_eq!(id3, "id2");
        assert_eq!(ch, vec!["id1".to_string(), "id2".to_string()]);
        assert_eq!(s.get("id1").unwrap().ends_at, 160);
        assert_eq!(state(s.get("id1").unwrap(), 161), SilenceState::Expired);
        // Unknown id.
        assert_eq!(
            s.set(spec(Some("nope"), "y", 100, 300), &mut g, 160),
            Err(SilenceError::NotFound)
        );
        // API checks.
        assert_eq!(
            s.set(spec(None, "y", 300, 300), &mut g, 160),
            Err(SilenceError::StartNotBeforeEnd)
        );
        assert_eq!(
            s.set(spec(None, "y", 10, 20), &mut g, 160),
            Err(SilenceError::EndInPast)
        );
        // Expire: pending gets start=end=now; expired is an error.
        let (p, _) = s.set(spec(None, "z", 500, 600), &mut g, 160).unwrap();
        s.expire(&p, 170).unwrap();
        let ps = s.get(&p).unwrap();
        assert_eq!((ps.starts_at, ps.ends_at), (170, 170));
        assert_eq!(
            s.expire(&p, 171),
            Err(SilenceError::AlreadyExpired(p.clone()))
        );
        // Muting only by active silences.
        let l: LabelSet = [("a".to_string(), "y".to_string())].into();
        assert_eq!(s.mutes(&l, 170), vec!["id2".to_string()]);
        assert!(s.mutes(&l, 301).is_empty());
        // GC after retention.
        assert_eq!(
            s.gc(1000, 100),
            vec!["id1".to_string(), "id2".to_string(), p]
        );
    }
}
