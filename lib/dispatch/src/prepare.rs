//! Preparing `POST /api/v2/alerts` outside the dispatcher's lock.
//!
//! Every request is applied to the core under one lock, so what runs
//! there bounds the ingest rate of the whole router. What depends only on
//! the request and `resolve_timeout` is done before taking it
//! ([`prepare_batch`]): validating and completing each alert
//! (Alertmanager's defaults), its fingerprint and its allocation. Under
//! the lock, [`crate::Dispatcher::receive_prepared`] only stores, indexes
//! and groups them.
//!
//! (Routing and group keys could be computed here too, against the
//! routing tree in force. Measured, it did not pay: see
//! docs/PERFORMANCE.md, "Alerts in".)

use std::sync::Arc;

use watchfire_alertmodel::Alert;

use crate::store::{prepare, AlertError, PostableAlert};

/// A request's alerts made ready for the store ([`prepare_batch`]).
#[derive(Debug)]
pub struct PreparedBatch {
    /// The time the alerts were completed with (`updatedAt`, the defaults).
    pub(crate) now: i64,
    /// Valid alerts with their fingerprints, in request order.
    pub(crate) alerts: Vec<(u64, Arc<Alert>)>,
    /// The refused ones.
    pub(crate) errors: Vec<AlertError>,
}

/// Validates and completes a request's alerts at `now`
/// (`resolve_timeout`: [`crate::Dispatcher::resolve_timeout`]),
/// fingerprints them and allocates them where they will be stored. Pure:
/// needs no lock on the dispatcher.
pub fn prepare_batch(alerts: Vec<PostableAlert>, now: i64, resolve_timeout: i64) -> PreparedBatch {
    let mut out = PreparedBatch {
        now,
        alerts: Vec::with_capacity(alerts.len()),
        errors: Vec::new(),
    };
    for (index, p) in alerts.into_iter().enumerate() {
        match prepare(p, now, resolve_timeout) {
            Ok(a) => out.alerts.push((a.fingerprint(), Arc::new(a))),
            Err(error) => out.errors.push(AlertError { index, error }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use watchfire_alertmodel::LabelSet;

    fn post(labels: &[(&str, &str)], s: Option<i64>, e: Option<i64>) -> PostableAlert {
        PostableAlert {
            labels: labels.iter().copied().collect::<LabelSet>(),
            starts_at: s,
            ends_at: e,
            ..Default::default()
        }
    }

    /// Refused alerts keep their index in the request; valid ones carry
    /// their fingerprint and are completed at the batch's time.
    #[test]
    fn prepared_batches() {
        let batch = prepare_batch(
            vec![
                post(&[("a", "1")], None, None),
                post(&[], None, None),
                post(&[("b", "2")], Some(600), Some(500)),
            ],
            1000,
            300,
        );
        assert_eq!(batch.now, 1000);
        let idx: Vec<usize> = batch.errors.iter().map(|e| e.index).collect();
        assert_eq!(idx, [1, 2]);
        assert_eq!(batch.alerts.len(), 1);
        let (fp, a) = &batch.alerts[0];
        assert_eq!(*fp, a.fingerprint());
        assert_eq!((a.starts_at, a.ends_at, a.updated_at), (1000, 1300, 1000));
    }
}
