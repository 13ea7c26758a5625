//! [`FanoutSink`]: hands every batch to several sinks. A failing sink does
//! not keep the batch from the others; the first error is returned after
//! all have been tried.

use std::sync::Arc;

use super::{Alert, AlertSink, SinkFuture};

/// Sends each batch to every inner sink in turn.
#[derive(Clone, Default)]
pub struct FanoutSink {
    sinks: Vec<Arc<dyn AlertSink>>,
}

impl FanoutSink {
    pub fn new(sinks: Vec<Arc<dyn AlertSink>>) -> Self {
        FanoutSink { sinks }
    }

    pub fn len(&self) -> usize {
        self.sinks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sinks.is_empty()
    }
}

impl AlertSink for FanoutSink {
    fn send<'a>(&'a self, alerts: &'a [Alert]) -> SinkFuture<'a> {
        Box::pin(async move {
            let mut first_err = None;
            for s in &self.sinks {
                if let Err(e) = s.send(alerts).await {
                    first_err.get_or_insert(e);
                }
            }
            first_err.map_or(Ok(()), Err)
        })
    }
}
