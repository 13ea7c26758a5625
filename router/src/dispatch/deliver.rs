//! [`Notifiers`]: the receivers of the loaded `alertmanager.yml`, built as
//! `watchfire-notifiers` integrations behind one shared delivery policy
//! (retries with backoff and jitter, `Retry-After`, per-receiver rate
//! limits, dead letters), implementing the service's [`Deliverer`].
//!
//! Secrets in `*_file` settings are read here, when the receivers are
//! built (start-up and reload), never during config validation.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use watchfire_amconfig::{Config as AmConfig, HttpConfig, SecretSource};
use watchfire_dispatch::Outgoing;
use watchfire_notifiers::delivery::{Delivery, RateLimit, RetryPolicy};
use watchfire_notifiers::email::{EmailNotifier, EmailSettings};
use watchfire_notifiers::metrics::NotifierMetrics;
use watchfire_notifiers::pagerduty::{
    PagerDutyImage, PagerDutyLink, PagerDutyNotifier, PagerDutySettings,
};
use watchfire_notifiers::slack::{
    SlackMessageRef, SlackNotifier, SlackSettings, SlackTarget, SLACK_API_BASE,
};
use watchfire_notifiers::templates::{TemplateFile, Templates};
use watchfire_notifiers::webhook::{WebhookNotifier, WebhookSettings};
use watchfire_notifiers::{HttpAuth, HttpSettings, Notifier, NotifyError};
use watchfire_template::TemplateError;

use super::build::{integrations, Integration};
use super::service::{Deliverer, DeliveryFuture, Outcome};
use super::store::Change;

/// The router-side table of Slack message references (group key → the
/// posted message), so `chat.update` works after a restart.
pub const SLACK_TABLE: &str = "slack_messages";

/// Default per-receiver rate limit: sustained notifications per second
/// and burst. Generous on purpose: it protects receivers from a storm,
/// not from normal traffic.
pub const DEFAULT_RATE: RateLimit = RateLimit {
    per_second: 50.0,
    burst: 200,
};

struct Built {
    by_receiver: BTreeMap<String, Vec<Arc<dyn Notifier>>>,
    slack: Vec<Arc<SlackNotifier>>,
}

/// All receivers' integrations.
pub struct Notifiers {
    built: RwLock<Built>,
    delivery: Arc<Delivery>,
    slack_refs: Arc<Mutex<HashMap<String, SlackMessageRef>>>,
}

/// Why the notifiers could not be built from a config.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("template {path}: {source}")]
    TemplateFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("templates: {0}")]
    Templates(#[from] TemplateError),
    #[error("receiver {receiver:?} {kind} #{index}: {problem}")]
    Receiver {
        receiver: String,
        kind: &'static str,
        index: usize,
        #[source]
        problem: IntegrationError,
    },
}

/// What is wrong with one integration of a receiver.
#[derive(Debug, thiserror::Error)]
pub enum IntegrationError {
    #[error("{what}: {source}")]
    Secret {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("only the Events API v2 (routing_key) is supported, not service_key")]
    ServiceKey,
    #[error("smarthost port {0:?} is not a number")]
    Port(String),
    #[error("{0}")]
    Notifier(#[from] NotifyError),
}

fn secret(s: &SecretSource, what: &'static str) -> Result<String, IntegrationError> {
    s.resolve()
        .map(|s| s.expose().to_string())
        .map_err(|source| IntegrationError::Secret { what, source })
}

fn http(h: &HttpConfig, timeout_ms: i64) -> Result<HttpSettings, IntegrationError> {
    let auth = if let Some(a) = &h.authorization {
        HttpAuth::Authorization {
            scheme: a.scheme.clone(),
            credentials: secret(&a.credentials, "http_config.authorization.credentials")?,
        }
    } else if let Some(b) = &h.basic_auth {
        HttpAuth::Basic {
            username: b.username.clone(),
            password: match &b.password {
                Some(p) => secret(p, "http_config.basic_auth.password")?,
                None => String::new(),
            },
        }
    } else {
        HttpAuth::None
    };
    Ok(HttpSettings {
        auth,
        timeout: if timeout_ms > 0 {
            Duration::from_millis(timeout_ms as u64)
        } else {
            watchfire_notifiers::DEFAULT_TIMEOUT
        },
    })
}

fn templates(am: &AmConfig) -> Result<Templates, BuildError> {
    let mut files = Vec::new();
    for p in watchfire_amconfig::expand_templates(&am.templates) {
        let text = std::fs::read_to_string(&p).map_err(|source| BuildError::TemplateFile {
            path: p.display().to_string(),
            source,
        })?;
        files.push(TemplateFile {
            name: p.display().to_string(),
            text,
        });
    }
    Ok(Templates::new(&files)?)
}

fn build(am: &AmConfig) -> Result<Built, BuildError> {
    let tpl = Arc::new(templates(am)?);
    let mut by_receiver = BTreeMap::new();
    let mut slack = Vec::new();
    for r in &am.receivers {
        let mut list: Vec<Arc<dyn Notifier>> = Vec::new();
        for (i, integ) in integrations(r).into_iter().enumerate() {
            let kind = integ.kind();
            let ctx = |problem: IntegrationError| BuildError::Receiver {
                receiver: r.name.clone(),
                kind,
                index: i,
                problem,
            };
            let n: Arc<dyn Notifier> = match integ {
                Integration::Webhook(c) => {
                    let s = WebhookSettings {
                        url: secret(&c.url, "url").map_err(ctx)?,
                        send_resolved: c.send_resolved,
                        max_alerts: c.max_alerts as usize,
                        http: http(&c.http_config, c.timeout_ms).map_err(ctx)?,
                    };
                    Arc::new(WebhookNotifier::new(s).map_err(|e| ctx(e.into()))?)
                }
                Integration::PagerDuty(c) => {
                    let key = match (&c.routing_key, &c.service_key) {
                        (Some(k), _) => secret(k, "routing_key").map_err(ctx)?,
                        (None, _) => return Err(ctx(IntegrationError::ServiceKey)),
                    };
                    let mut s = PagerDutySettings::new(key);
                    s.url = c.url.clone();
                    s.client = c.client.clone();
                    s.client_url = c.client_url.clone();
                    s.description = c.description.clone();
                    s.details = c.details.clone();
                    s.images = c
                        .images
                        .iter()
                        .map(|i| PagerDutyImage {
                            src: i.src.clone(),
                            alt: i.alt.clone(),
                            href: i.href.clone(),
                        })
                        .collect();
                    s.links = c
                        .links
                        .iter()
                        .map(|l| PagerDutyLink {
                            href: l.href.clone(),
                            text: l.text.clone(),
                        })
                        .collect();
                    s.source = (!c.source.is_empty()).then(|| c.source.clone());
                    s.severity = (!c.severity.is_empty()).then(|| c.severity.clone());
                    s.class = c.class.clone();
                    s.component = c.component.clone();
                    s.group = c.group.clone();
                    s.send_resolved = c.send_resolved;
                    s.http = http(&c.http_config, 0).map_err(ctx)?;
                    Arc::new(PagerDutyNotifier::new(s, tpl.clone()).map_err(|e| ctx(e.into()))?)
                }
                Integration::Slack(c) => {
                    let target = match &c.app_token {
                        Some(t) => SlackTarget::Bot {
                            token: secret(t, "app_token").map_err(ctx)?,
                            api_base: if c.app_url.is_empty() {
                                SLACK_API_BASE.to_string()
                            } else {
                                c.app_url
                                    .trim_end_matches('/')
                                    .trim_end_matches("/chat.postMessage")
                                    .to_string()
                            },
                        },
                        None => SlackTarget::Webhook {
                            url: secret(&c.api_url, "api_url").map_err(ctx)?,
                        },
                    };
                    let mut s = SlackSettings::new(target);
                    s.channel = c.channel.clone();
                    s.username = c.username.clone();
                    s.title = c.title.clone();
                    s.title_link = c.title_link.clone();
                    s.text = c.text.clone();
                    s.send_resolved = c.send_resolved;
                    s.http = http(&c.http_config, 0).map_err(ctx)?;
                    let n =
                        Arc::new(SlackNotifier::new(s, tpl.clone()).map_err(|e| ctx(e.into()))?);
                    slack.push(n.clone());
                    n
                }
                Integration::Email(c) => {
                    let port: u16 = c
                        .smarthost
                        .port
                        .parse()
                        .map_err(|_| ctx(IntegrationError::Port(c.smarthost.port.clone())))?;
                    let mut s = EmailSettings::new(&c.to, &c.from, &c.smarthost.host, port);
                    s.hello = c.hello.clone();
                    s.auth_username = c.auth_username.clone();
                    s.auth_password = match &c.auth_password {
                        Some(p) => secret(p, "auth_password").map_err(ctx)?,
                        None => String::new(),
                    };
                    s.require_tls = c.require_tls;
                    s.insecure_skip_verify = c.tls.insecure_skip_verify;
                    for (k, v) in &c.headers {
                        s.headers.insert(k.clone(), v.clone());
                    }
                    s.html = c.html.clone();
                    s.text = c.text.clone();
                    s.send_resolved = c.send_resolved;
                    Arc::new(EmailNotifier::new(s, tpl.clone()).map_err(|e| ctx(e.into()))?)
                }
            };
            list.push(n);
        }
        by_receiver.insert(r.name.clone(), list);
    }
    Ok(Built { by_receiver, slack })
}

impl Notifiers {
    /// Builds every receiver; registers the notifier metrics.
    pub fn build(am: &AmConfig, registry: &prometheus::Registry) -> Result<Notifiers, BuildError> {
        let metrics = NotifierMetrics::new(registry)?;
        let delivery = Arc::new(Delivery::new(RetryPolicy::default(), metrics));
        let built = build(am)?;
        for name in built.by_receiver.keys() {
            delivery.set_rate_limit(name, DEFAULT_RATE);
        }
        Ok(Notifiers {
            built: RwLock::new(built),
            delivery,
            slack_refs: Arc::new(Mutex::new(HashMap::new())),
        })
    }

    /// Rebuilds from a new config (reload); on error nothing changes.
    pub fn rebuild(&self, am: &AmConfig) -> Result<(), BuildError> {
        let built = build(am)?;
        for name in built.by_receiver.keys() {
            self.delivery.set_rate_limit(name, DEFAULT_RATE);
        }
        let refs = self.slack_refs.lock().clone();
        for s in &built.slack {
            for (k, m) in &refs {
                s.remember(k, m.clone());
            }
        }
        *self.built.write() = built;
        Ok(())
    }

    /// Loads persisted Slack message references (start-up).
    pub fn restore_slack(&self, rows: &[(String, Vec<u8>)]) {
        let mut refs = self.slack_refs.lock();
        for (k, v) in rows {
            match serde_json::from_slice::<SlackMessageRef>(v) {
                Ok(m) => {
                    refs.insert(k.clone(), m);
                }
                Err(e) => {
                    tracing::warn!(group = %k, error = %e, "unreadable Slack message reference")
                }
            }
        }
        for s in &self.built.read().slack {
            for (k, m) in refs.iter() {
                s.remember(k, m.clone());
            }
        }
    }
}

impl Deliverer for Notifiers {
    fn deliver(&self, o: Outgoing) -> DeliveryFuture {
        let targets: Option<Vec<Arc<dyn Notifier>>> = {
            let b = self.built.read();
            b.by_receiver
                .get(&o.notification.receiver)
                .map(|v| match o.integration {
                    Some(i) => v.get(i as usize).cloned().into_iter().collect(),
                    None => v.clone(),
                })
        };
        let delivery = self.delivery.clone();
        let remember: Vec<Arc<SlackNotifier>> = self.built.read().slack.clone();
        let refs = self.slack_refs.clone();
        Box::pin(async move {
            let Some(targets) = targets else {
                return Outcome::Failed {
                    reason: format!("receiver {:?} is not configured", o.notification.receiver),
                };
            };
            let mut failures = Vec::new();
            let mut extra = Vec::new();
            for n in targets {
                match delivery.deliver(n.as_ref(), &o.notification).await {
                    Ok(d) => {
                        if let Some(m) = d.slack_message {
                            for s in &remember {
                                s.remember(&o.notification.group_key, m.clone());
                            }
                            refs.lock()
                                .insert(o.notification.group_key.clone(), m.clone());
                            if let Ok(value) = serde_json::to_vec(&m) {
                                extra.push(Change::Put {
                                    table: SLACK_TABLE,
                                    key: o.notification.group_key.clone(),
                                    value,
                                });
                            }
                        }
                    }
                    Err(dl) => failures.push(format!("{}: {}", dl.integration, dl.reason)),
                }
            }
            if failures.is_empty() {
                Outcome::Delivered { extra }
            } else {
                Outcome::Failed {
                    reason: failures.join("; "),
                }
            }
        })
    }
}
