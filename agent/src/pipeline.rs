//! The hand-off between what produces samples (scrapers, the host
//! collector) and the shipper.

use tokio::sync::oneshot;
use watchfire_promql::Labels;

/// One sample bound for shipping. `t` is milliseconds since the epoch;
/// `v` may be a staleness marker (`watchfire_promql::storage::stale_nan`).
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub labels: Labels,
    pub t: i64,
    pub v: f64,
}

/// Where producers hand their samples. Implementations must not lose an
/// accepted batch (the shipper makes it durable before returning) and must
/// not block for long: callers run on the async runtime.
pub trait Appender: Send + Sync {
    /// Hands over one scrape's (or one collection's) samples.
    fn append(&self, batch: Vec<Point>);

    /// Hands over a batch without blocking, when the implementation can:
    /// the receiver completes once the batch is accepted as `append`
    /// would have (durable, for the shipper). `Err` gives the batch back
    /// for [`Appender::append`] (the default, for appenders without a
    /// queue of their own).
    fn try_submit(&self, batch: Vec<Point>) -> Result<oneshot::Receiver<()>, Vec<Point>> {
        Err(batch)
    }
}
