//! Watchfire's notifier edge: turns a [`Notification`] from the dispatch
//! core into PagerDuty Events v2, Slack, webhook (Alertmanager v4) and
//! SMTP deliveries, the way Alertmanager 0.25's integrations do.
//!
//! - [`Notifier`]: one integration of a receiver. Implementations:
//!   [`webhook::WebhookNotifier`], [`pagerduty::PagerDutyNotifier`],
//!   [`slack::SlackNotifier`], [`email::EmailNotifier`]. Each takes typed,
//!   already-validated settings (`*Settings`) that the caller maps from
//!   `alertmanager.yml`, and the shared [`templates::Templates`].
//! - [`delivery::Delivery`]: the policy every integration shares: per
//!   attempt timeouts, exponential backoff with full jitter, `Retry-After`,
//!   per-receiver rate limits, dead letters and metrics
//!   ([`metrics::NotifierMetrics`]).
//! - [`inbound`]: Slack and PagerDuty webhook signature checks and the
//!   parsing of their interactive / incident events (acknowledgements).
//! - [`data`]: Alertmanager's template data model and the webhook JSON.
//! - `testing` (feature `test-servers`): axum fakes of PagerDuty, Slack,
//!   a webhook receiver and an SMTP server that check requests against the
//!   documented APIs.
#![forbid(unsafe_code)]

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use watchfire_alertmodel::Notification;

pub mod data;
pub mod delivery;
pub mod email;
mod error;
mod http;
pub mod inbound;
pub mod metrics;
pub mod pagerduty;
pub mod slack;
mod slack_blocks;
pub mod templates;
#[cfg(feature = "test-servers")]
pub mod testing;
pub mod webhook;

pub use error::{parse_retry_after, NotifyError};
pub use http::{HttpAuth, HttpSettings};

/// What a successful [`Notifier::notify`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Delivered {
    /// False when nothing was sent (e.g. only resolved alerts and
    /// `send_resolved: false`).
    pub sent: bool,
    /// Slack bot mode: the message posted or updated for the group; the
    /// caller persists it and hands it back through
    /// [`slack::SlackNotifier::remember`] after a restart.
    pub slack_message: Option<slack::SlackMessageRef>,
    /// PagerDuty: the `dedup_key` used (SHA-256 hex of the group key).
    pub dedup_key: Option<String>,
}

impl Delivered {
    /// Nothing was sent, and that is fine.
    pub fn skipped() -> Delivered {
        Delivered::default()
    }

    /// Something was sent.
    pub fn sent() -> Delivered {
        Delivered {
            sent: true,
            ..Delivered::default()
        }
    }
}

/// The future [`Notifier::notify`] returns.
pub type NotifyFuture<'a> =
    Pin<Box<dyn Future<Output = Result<Delivered, NotifyError>> + Send + 'a>>;

/// One integration of a receiver (Alertmanager's `notify.Notifier`). One
/// call is one attempt: retries belong to [`delivery::Delivery`].
pub trait Notifier: Send + Sync {
    /// `"webhook"`, `"pagerduty"`, `"slack"` or `"email"` (the metric label).
    fn integration(&self) -> &'static str;

    /// Sends the notification once.
    fn notify<'a>(&'a self, n: &'a Notification) -> NotifyFuture<'a>;
}

/// The default per-request timeout when settings give none.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
