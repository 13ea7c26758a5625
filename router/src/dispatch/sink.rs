//! The rule engine's alerts feed the dispatcher in-process: an
//! [`AlertSink`] that hands each batch to [`DispatchService::receive`],
//! exactly as `POST /api/v2/alerts` would.

use crate::notify::{Alert, AlertSink, SinkError, SinkFuture};

use super::service::DispatchService;
use watchfire_dispatch::PostableAlert;

/// Feeds rule alerts into the dispatcher.
#[derive(Clone)]
pub struct DispatchSink(pub DispatchService);

impl AlertSink for DispatchSink {
    fn send<'a>(&'a self, alerts: &'a [Alert]) -> SinkFuture<'a> {
        Box::pin(async move {
            let batch = alerts
                .iter()
                .map(|a| PostableAlert {
                    labels: a.labels.iter().collect(),
                    annotations: a.annotations.iter().collect(),
                    starts_at: Some(a.starts_at),
                    ends_at: a.ends_at,
                    generator_url: a.generator_url.clone(),
                })
                .collect();
            let report = self
                .0
                .receive(batch, None)
                .await
                .map_err(|e| SinkError::Send {
                    target: "dispatcher".into(),
                    reason: e.to_string(),
                })?;
            if report.errors.is_empty() {
                Ok(())
            } else {
                Err(SinkError::Send {
                    target: "dispatcher".into(),
                    reason: report.message(),
                })
            }
        })
    }
}
