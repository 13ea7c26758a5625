//! The delivery policy every integration shares: a timeout on every
//! attempt, exponential backoff with full jitter, `Retry-After`, a
//! per-receiver token-bucket rate limit, and a [`DeadLetter`] when giving
//! up. Time goes through [`Clock`] (tokio's clock by default, so tests can
//! use `tokio::time::pause()`), randomness through an injectable jitter
//! function.
//!
//! Alertmanager retries until the group's next flush with an unjittered
//! exponential backoff and ignores `Retry-After`; Watchfire bounds retries
//! by attempts and elapsed time and records what it gave up on.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::metrics::NotifierMetrics;
use crate::{Delivered, Notification, Notifier, NotifyError};

/// Retry bounds and backoff shape.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    pub multiplier: f64,
    /// Attempts in all (≥1).
    pub max_attempts: u32,
    /// No retry starts later than this after the first attempt.
    pub max_elapsed: Duration,
    /// Each attempt is cut off after this.
    pub attempt_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(60),
            multiplier: 2.0,
            max_attempts: 10,
            max_elapsed: Duration::from_secs(300),
            attempt_timeout: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// The backoff cap before attempt `retry` (1 = first retry):
    /// `min(max, initial * multiplier^(retry-1))`.
    pub fn backoff_cap(&self, retry: u32) -> Duration {
        let exp = self.multiplier.powi(retry.saturating_sub(1).min(64) as i32);
        let secs = self.initial_backoff.as_secs_f64() * exp;
        Duration::from_secs_f64(secs.min(self.max_backoff.as_secs_f64()))
    }
}

/// A token bucket: `per_second` sustained, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

/// A notification given up on.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    pub receiver: String,
    pub integration: &'static str,
    pub group_key: String,
    /// The last error's text.
    pub reason: String,
    pub attempts: u32,
    /// When (ms since the epoch, from the [`Clock`]).
    pub at: i64,
    pub last_error: NotifyError,
}

/// Boxed sleep future.
pub type Sleep = Pin<Box<dyn Future<Output = ()> + Send>>;

/// Time for the delivery policy.
pub trait Clock: Send + Sync {
    /// Milliseconds since the epoch.
    fn now_ms(&self) -> i64;
    fn sleep(&self, d: Duration) -> Sleep;
}

/// Wall time at creation advanced by tokio's (pausable) clock.
pub struct TokioClock {
    base_ms: i64,
    start: tokio::time::Instant,
}

impl TokioClock {
    pub fn new() -> TokioClock {
        let base_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        TokioClock {
            base_ms,
            start: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioClock {
    fn default() -> Self {
        TokioClock::new()
    }
}

impl Clock for TokioClock {
    fn now_ms(&self) -> i64 {
        self.base_ms + self.start.elapsed().as_millis() as i64
    }

    fn sleep(&self, d: Duration) -> Sleep {
        Box::pin(tokio::time::sleep(d))
    }
}

/// Picks the actual wait in `[0, cap]` (full jitter).
pub type Jitter = Arc<dyn Fn(Duration) -> Duration + Send + Sync>;

/// Uniform full jitter from `fastrand`.
pub fn random_jitter() -> Jitter {
    Arc::new(|cap: Duration| {
        let nanos = cap.as_nanos().min(u128::from(u64::MAX)) as u64;
        Duration::from_nanos(fastrand::u64(0..=nanos))
    })
}

struct Bucket {
    limit: RateLimit,
    tokens: f64,
    last_ms: i64,
}

/// Delivers notifications with retries, rate limits and dead letters.
pub struct Delivery {
    policy: RetryPolicy,
    metrics: NotifierMetrics,
    clock: Arc<dyn Clock>,
    jitter: Jitter,
    limits: Mutex<HashMap<String, Bucket>>,
}

impl Delivery {
    pub fn new(policy: RetryPolicy, metrics: NotifierMetrics) -> Delivery {
        Delivery {
            policy,
            metrics,
            clock: Arc::new(TokioClock::new()),
            jitter: random_jitter(),
            limits: Mutex::new(HashMap::new()),
        }
    }

    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Delivery {
        self.clock = clock;
        self
    }

    pub fn with_jitter(mut self, jitter: Jitter) -> Delivery {
        self.jitter = jitter;
        self
    }

    /// Limits the attempts sent for `receiver` (all its integrations).
    pub fn set_rate_limit(&self, receiver: &str, limit: RateLimit) {
        if let Ok(mut m) = self.limits.lock() {
            m.insert(
                receiver.to_string(),
                Bucket {
                    limit,
                    tokens: f64::from(limit.burst.max(1)),
                    last_ms: self.clock.now_ms(),
                },
            );
        }
    }

    /// How long to wait for a token of `receiver` (taking it when zero).
    fn take_token(&self, receiver: &str) -> Duration {
        let now = self.clock.now_ms();
        let Ok(mut m) = self.limits.lock() else {
            return Duration::ZERO;
        };
        let Some(b) = m.get_mut(receiver) else {
            return Duration::ZERO;
        };
        let rate = b.limit.per_second.max(1e-9);
        let burst = f64::from(b.limit.burst.max(1));
        b.tokens = (b.tokens + (now - b.last_ms).max(0) as f64 / 1000.0 * rate).min(burst);
        b.last_ms = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Duration::ZERO
        } else {
            Duration::from_secs_f64((1.0 - b.tokens) / rate)
        }
    }

    async fn acquire(&self, receiver: &str) {
        loop {
            let wait = self.take_token(receiver);
            if wait.is_zero() {
                return;
            }
            self.clock.sleep(wait).await;
        }
    }

    /// Delivers `n` through `notifier`, retrying per the policy.
    pub async fn deliver(
        &self,
        notifier: &dyn Notifier,
        n: &Notification,
    ) -> Result<Delivered, DeadLetter> {
        let integration = notifier.integration();
        let start = self.clock.now_ms();
        let mut attempts = 0u32;
        loop {
            self.acquire(&n.receiver).await;
            attempts += 1;
            self.metrics.total.with_label_values(&[integration]).inc();
            let t0 = tokio::time::Instant::now();
            let res = match tokio::time::timeout(self.policy.attempt_timeout, notifier.notify(n))
                .await
            {
                Ok(r) => r,
                Err(_) => Err(NotifyError::Transport {
                    integration,
                    message: format!("attempt timed out after {:?}", self.policy.attempt_timeout),
                    timeout: true,
                }),
            };
            self.metrics
                .latency
                .with_label_values(&[integration])
                .observe(t0.elapsed().as_secs_f64());
            let err = match res {
                Ok(d) => return Ok(d),
                Err(e) => e,
            };
            self.metrics
                .failed
                .with_label_values(&[integration, err.reason()])
                .inc();
            let wait = match err.retry_after() {
                Some(d) => d,
                None => (self.jitter)(self.policy.backoff_cap(attempts)),
            };
            let elapsed = Duration::from_millis((self.clock.now_ms() - start).max(0) as u64);
            let give_up = !err.retryable()
                || attempts >= self.policy.max_attempts
                || elapsed + wait > self.policy.max_elapsed;
            if give_up {
                self.metrics
                    .dead_lettered
                    .with_label_values(&[integration])
                    .inc();
                return Err(DeadLetter {
                    receiver: n.receiver.clone(),
                    integration,
                    group_key: n.group_key.clone(),
                    reason: err.to_string(),
                    attempts,
                    at: self.clock.now_ms(),
                    last_error: err,
                });
            }
            self.clock.sleep(wait).await;
        }
    }
}
