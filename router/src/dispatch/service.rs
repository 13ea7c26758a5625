//! [`DispatchService`]: the I/O shell around the pure dispatch core.
//!
//! - API calls lock the core, apply their change, queue the resulting
//!   state changes to the [`Persister`] *under the lock* (so commits keep
//!   the core's order), and answer only once the commit is durable.
//! - One timer task asks the core for due notifications, persists the
//!   outbox entries that `due` created, then hands each to the
//!   [`Deliverer`] on its own task (a hanging receiver blocks nobody
//!   else). Each outcome goes back to the core (`delivered` / `failed`)
//!   and is persisted. The task sleeps until `next_wakeup`, or until an
//!   API call wakes it.
//!
//! kill -9 safety follows from the order: a notification is in the
//! durable outbox before it is sent and leaves it only after the 2xx, so
//! after a restart the outbox is re-sent (at least once); an escalation
//! step is marked fired in the same commit as its outbox entry, so it is
//! never fired twice.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use watchfire_dispatch::{
    prepare_batch, DispatchConfig, DispatchError, Dispatcher, Outgoing, PostableAlert,
    ReceiveReport, SilenceSpec,
};

use super::persister::{Arriving, CommitError, CommitResult, Persister};
use super::store::Change;

/// What became of one outgoing notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted by the receiver (2xx). `extra` are router-side rows to
    /// persist with it (Slack message references, for instance).
    Delivered { extra: Vec<Change> },
    /// Failed for good after retries: a dead letter.
    Failed { reason: String },
}

/// A boxed delivery future.
pub type DeliveryFuture = Pin<Box<dyn Future<Output = Outcome> + Send>>;

/// Sends notifications (retries, rate limits and timeouts included).
pub trait Deliverer: Send + Sync {
    fn deliver(&self, o: Outgoing) -> DeliveryFuture;
}

/// Milliseconds since the epoch; injected so tests control time.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Why a dispatch call failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Dispatch(#[from] DispatchError),
    #[error("persisting dispatch state: {0}")]
    Persist(#[from] CommitError),
}

/// Counters the service reports (the router registers them).
pub trait ServiceObserver: Send + Sync {
    fn delivered(&self, _o: &Outgoing) {}
    fn failed(&self, _o: &Outgoing, _reason: &str) {}
}

struct Inner {
    core: Mutex<Dispatcher>,
    persister: Persister,
    wake: tokio::sync::Notify,
    /// When the timer loop sleeps until (ms), or `i64::MIN` while it is
    /// awake: a change wakes it only if it makes something due earlier
    /// (most `POST`s add alerts to groups whose flush is already set).
    asleep_until: AtomicI64,
    /// The core's `resolve_timeout` (ms), so requests prepare their
    /// alerts before taking its lock; updated on reconfigure.
    resolve_timeout: AtomicI64,
    deliverer: RwLock<Arc<dyn Deliverer>>,
    clock: Clock,
    sending: Mutex<HashSet<u64>>,
    observer: Arc<dyn ServiceObserver>,
}

/// The running dispatcher; cheap to clone.
#[derive(Clone)]
pub struct DispatchService {
    inner: Arc<Inner>,
}

/// A handle that does not keep the service alive (for its own metrics,
/// which the service holds as its observer).
#[derive(Clone)]
pub struct WeakService(std::sync::Weak<Inner>);

impl WeakService {
    /// The service, if it still runs.
    pub fn upgrade(&self) -> Option<DispatchService> {
        self.0.upgrade().map(|inner| DispatchService { inner })
    }
}

impl DispatchService {
    /// Wraps a (restored) core. Call [`DispatchService::run`] to start the
    /// timer loop.
    pub fn new(
        core: Dispatcher,
        persister: Persister,
        deliverer: Arc<dyn Deliverer>,
        clock: Clock,
        observer: Arc<dyn ServiceObserver>,
    ) -> DispatchService {
        let resolve_timeout = AtomicI64::new(core.resolve_timeout());
        DispatchService {
            inner: Arc::new(Inner {
                core: Mutex::new(core),
                resolve_timeout,
                persister,
                wake: tokio::sync::Notify::new(),
                asleep_until: AtomicI64::new(i64::MIN),
                deliverer: RwLock::new(deliverer),
                clock,
                sending: Mutex::new(HashSet::new()),
                observer,
            }),
        }
    }

    /// A handle that does not keep the service alive.
    pub fn downgrade(&self) -> WeakService {
        WeakService(Arc::downgrade(&self.inner))
    }

    /// The service's current time.
    pub fn now(&self) -> i64 {
        (self.inner.clock)()
    }

    /// Runs `f` on the core under its lock, queues the changes it made,
    /// waits for them to be durable, and wakes the timer loop if it must
    /// act earlier than it planned.
    async fn mutate<T>(
        &self,
        f: impl FnOnce(&mut Dispatcher, i64) -> T,
    ) -> Result<T, ServiceError> {
        self.mutate_at(self.now(), f, None).await
    }

    /// [`DispatchService::mutate`] at a given time, for an announced
    /// request or not: the announcement is withdrawn once its changes are
    /// queued.
    async fn mutate_at<T>(
        &self,
        now: i64,
        f: impl FnOnce(&mut Dispatcher, i64) -> T,
        arriving: Option<Arriving>,
    ) -> Result<T, ServiceError> {
        let (out, done, next) = {
            let mut core = self.inner.core.lock();
            let out = f(&mut core, now);
            let ch = core.take_changes();
            let done = (!ch.is_empty()).then(|| self.inner.persister.queue(ch, Vec::new()));
            drop(arriving);
            (out, done, core.next_wakeup())
        };
        if let Some(done) = done {
            wait(done).await?;
        }
        // The loop marks itself awake before it reads `next_wakeup` under
        // the lock, and publishes its deadline after: so either it saw this
        // change, or this reads "awake" (or the deadline it computed with
        // the change) and wakes it.
        let until = self.inner.asleep_until.load(Ordering::Acquire);
        if until == i64::MIN || next.is_some_and(|t| t < until) {
            self.inner.wake.notify_one();
        }
        Ok(out)
    }

    /// `POST /api/v2/alerts` (or the rule engine, in process). An
    /// announced request ([`DispatchService::arriving`]) withdraws its
    /// announcement once its changes are queued. The alerts are validated,
    /// completed and fingerprinted before the core's lock is taken (the
    /// lock serialises every request, so what runs under it bounds the
    /// ingest rate).
    pub async fn receive(
        &self,
        alerts: Vec<PostableAlert>,
        arriving: Option<Arriving>,
    ) -> Result<ReceiveReport, ServiceError> {
        let now = self.now();
        let timeout = self.inner.resolve_timeout.load(Ordering::Relaxed);
        let batch = prepare_batch(alerts, now, timeout);
        self.mutate_at(now, |c, _| c.receive_prepared(batch), arriving)
            .await
    }

    /// Announces a `POST /api/v2/alerts` whose body is still being
    /// decoded, so a commit starting meanwhile waits for it (briefly).
    pub fn arriving(&self) -> Arriving {
        self.inner.persister.arriving()
    }

    /// `POST /api/v2/silences`: the silence's id.
    pub async fn set_silence(&self, spec: SilenceSpec) -> Result<String, ServiceError> {
        let r = self
            .mutate(|c, now| {
                let mut id = || uuid::Uuid::new_v4().to_string();
                c.set_silence(spec, &mut id, now)
            })
            .await?;
        Ok(r?)
    }

    /// `DELETE /api/v2/silence/{id}`.
    pub async fn expire_silence(&self, id: &str) -> Result<(), ServiceError> {
        Ok(self.mutate(|c, now| c.expire_silence(id, now)).await??)
    }

    /// Acknowledges a group's escalation; `Ok(false)` when already acked.
    pub async fn ack(&self, group_key: &str, by: &str) -> Result<bool, ServiceError> {
        Ok(self.mutate(|c, now| c.ack(group_key, by, now)).await??)
    }

    /// Applies a new configuration (and notifier set).
    pub async fn reconfigure(
        &self,
        cfg: DispatchConfig,
        deliverer: Arc<dyn Deliverer>,
    ) -> Result<(), ServiceError> {
        *self.inner.deliverer.write() = deliverer;
        self.mutate(|c, now| {
            c.reconfigure(cfg, now);
            let timeout = c.resolve_timeout();
            self.inner.resolve_timeout.store(timeout, Ordering::Relaxed);
        })
        .await
    }

    /// Read access to the core (API listings, the web page).
    pub fn read<T>(&self, f: impl FnOnce(&Dispatcher, i64) -> T) -> T {
        let now = self.now();
        f(&self.inner.core.lock(), now)
    }

    /// The timer loop; returns when `shutdown` completes.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            self.inner.asleep_until.store(i64::MIN, Ordering::Release);
            let now = self.now();
            let (due, done) = {
                let mut core = self.inner.core.lock();
                let due = core.due(now);
                let ch = core.take_changes();
                let done = (!ch.is_empty()).then(|| self.inner.persister.queue(ch, Vec::new()));
                (due, done)
            };
            let persisted = match done {
                Some(d) => wait(d).await,
                None => Ok(()),
            };
            match persisted {
                Ok(()) => {
                    for o in due {
                        self.spawn_delivery(o);
                    }
                }
                Err(e) => {
                    // Not durable: do not send. The outbox entries stay in
                    // memory and are handed out again after a restart; try
                    // again shortly.
                    tracing::error!(error = %e, "dispatch state not persisted; holding notifications");
                    let mut core = self.inner.core.lock();
                    for o in due {
                        let _ = core.failed(o.id, now, &format!("state not persisted: {e}"));
                    }
                }
            }
            let next = self.inner.core.lock().next_wakeup();
            // `next_wakeup` is `i64::MIN` when notifications are ready
            // (an ack made while this loop was persisting): saturate, so
            // that means "now" instead of an overflow (in debug builds a
            // panic that silently ended this task: no more flushes or
            // escalation steps until a restart).
            let sleep_ms = match next {
                Some(t) => t.saturating_sub(self.now()).clamp(0, 3_600_000),
                None => 3_600_000,
            };
            self.inner
                .asleep_until
                .store(self.now().saturating_add(sleep_ms), Ordering::Release);
            if sleep_ms == 0 && next.is_some_and(|t| t <= now) {
                // Work due at a time we already processed: yield once so a
                // busy core cannot spin this task.
                tokio::task::yield_now().await;
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(sleep_ms as u64)) => {}
            }
        }
    }

    fn spawn_delivery(&self, o: Outgoing) {
        if !self.inner.sending.lock().insert(o.id) {
            return;
        }
        let svc = self.clone();
        let deliverer = self.inner.deliverer.read().clone();
        tokio::spawn(async move {
            let id = o.id;
            let outcome = deliverer.deliver(o.clone()).await;
            let now = svc.now();
            let done = {
                let mut core = svc.inner.core.lock();
                let (res, extra) = match outcome {
                    Outcome::Delivered { extra } => {
                        svc.inner.observer.delivered(&o);
                        (core.delivered(id, now), extra)
                    }
                    Outcome::Failed { reason } => {
                        svc.inner.observer.failed(&o, &reason);
                        tracing::warn!(receiver = %o.notification.receiver, group = %o.notification.group_key, %reason, "notification dead-lettered");
                        (core.failed(id, now, &reason), Vec::new())
                    }
                };
                if let Err(e) = res {
                    tracing::warn!(error = %e, id, "delivery outcome for an unknown notification");
                }
                let ch = core.take_changes();
                svc.inner.persister.queue(ch, extra)
            };
            if let Err(e) = wait(done).await {
                tracing::error!(error = %e, "persisting a delivery outcome failed");
            }
            svc.inner.sending.lock().remove(&id);
            svc.inner.wake.notify_one();
        });
    }
}

async fn wait(rx: tokio::sync::oneshot::Receiver<CommitResult>) -> Result<(), ServiceError> {
    match rx.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ServiceError::Persist(e)),
        Err(_) => Err(ServiceError::Persist(CommitError::Stopped)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatch::persister::start_at;
    use watchfire_alertmodel::LabelSet;

    struct Nobody;
    impl Deliverer for Nobody {
        fn deliver(&self, _o: Outgoing) -> DeliveryFuture {
            Box::pin(async { Outcome::Delivered { extra: Vec::new() } })
        }
    }
    struct Quiet;
    impl ServiceObserver for Quiet {}

    fn cfg(resolve_timeout: i64, receiver: &str) -> DispatchConfig {
        let yml = format!(
            "route:\n  receiver: {receiver}\n  group_by: [alertname]\nreceivers:\n  - name: {receiver}\n"
        );
        let am = watchfire_amconfig::load_str(&yml, "t.yml").unwrap();
        DispatchConfig {
            resolve_timeout,
            ..crate::dispatch::build::dispatch_config(&am, "http://t")
        }
    }

    fn alert(name: &str) -> PostableAlert {
        PostableAlert {
            labels: [("alertname", name)].into_iter().collect::<LabelSet>(),
            ..PostableAlert::default()
        }
    }

    /// Alerts are completed before the lock is taken, with the
    /// `resolve_timeout` of the config in force, so a reload must reach
    /// that copy too; invalid alerts keep their index in the request.
    #[tokio::test]
    async fn alerts_prepared_outside_the_lock_follow_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let persister = start_at(&dir.path().join("d.redb"));
        let now = 1_000_000;
        let svc = DispatchService::new(
            Dispatcher::new(cfg(300_000, "first")),
            persister,
            Arc::new(Nobody),
            Arc::new(move || now),
            Arc::new(Quiet),
        );
        // (ends_at, timeout, the receiver of its group)
        let ends = |svc: &DispatchService, name: &str| {
            svc.read(|c, now| {
                let a = c.alerts(now).into_iter().find(|v| v.alert.name() == name)?;
                let g = c
                    .alert_groups(now)
                    .into_iter()
                    .find(|g| g.alerts.iter().any(|v| v.alert.name() == name))?;
                Some((a.alert.ends_at, a.alert.timeout, g.receiver))
            })
        };

        let r = svc.receive(vec![alert("A")], None).await.unwrap();
        assert_eq!((r.accepted, r.errors.len()), (1, 0));
        let first = Some((now + 300_000, true, "first".to_string()));
        assert_eq!(ends(&svc, "A"), first);

        svc.reconfigure(cfg(60_000, "second"), Arc::new(Nobody))
            .await
            .unwrap();
        let bad = PostableAlert::default();
        let r = svc.receive(vec![bad, alert("B")], None).await.unwrap();
        assert_eq!(r.accepted, 1);
        assert_eq!(r.errors.iter().map(|e| e.index).collect::<Vec<_>>(), [0]);
        assert_eq!(ends(&svc, "B"), Some((now + 60_000, true, "second".into())));
    }
}
