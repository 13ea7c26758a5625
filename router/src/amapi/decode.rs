//! Decoding a `POST /api/v2/alerts` body into the alerts the dispatcher
//! takes: the fast path ([`super::fastpost`]) when it is sure, else the
//! serde path, which also words every error.

use watchfire_dispatch::PostableAlert;

use super::fastpost;
use super::wire::{self, WireError};

/// Why a body was refused (the API answers 400 with this text).
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("invalid JSON body: {0}")]
    Json(#[from] serde_json::Error),
    #[error("alert {index}: {source}")]
    Alert { index: usize, source: WireError },
}

/// The posted alerts: times as given (`None` when unset or Go's zero
/// time). Defaults and validation are the dispatcher's.
pub fn decode_alerts(body: &[u8]) -> Result<Vec<PostableAlert>, DecodeError> {
    match fastpost::parse_alerts(body) {
        Some(alerts) => Ok(alerts),
        None => decode_alerts_serde(body),
    }
}

/// The general path: serde into [`wire::PostableAlert`], then the model.
pub fn decode_alerts_serde(body: &[u8]) -> Result<Vec<PostableAlert>, DecodeError> {
    let wire: Vec<wire::PostableAlert> = serde_json::from_slice(body)?;
    wire.into_iter()
        .enumerate()
        .map(|(index, w)| {
            let a = w
                .into_alert()
                .map_err(|source| DecodeError::Alert { index, source })?;
            Ok(PostableAlert {
                labels: a.labels,
                annotations: a.annotations,
                starts_at: (a.starts_at != 0).then_some(a.starts_at),
                ends_at: (a.ends_at != 0).then_some(a.ends_at),
                generator_url: a.generator_url,
            })
        })
        .collect()
}
