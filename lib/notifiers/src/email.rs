//! Email over SMTP with `lettre`, like Alertmanager 0.25's `notify/email`.
//!
//! `smarthost` is `host:port`; port 465 means implicit TLS, otherwise
//! `require_tls` (default true) demands STARTTLS and false sends in the
//! clear (Alertmanager never upgrades opportunistically either).
//! `auth_username` with `auth_password` authenticates (PLAIN or LOGIN;
//! Alertmanager's CRAM-MD5 `auth_secret` is not supported). The message is
//! `multipart/alternative` with the rendered `text` (when non-empty) and
//! `html` parts; `Subject`, `To` and `From` come from the headers map,
//! defaulted as in Alertmanager. Transient SMTP failures (4xx replies,
//! connection errors) are retried, permanent (5xx) ones are not.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::transport::smtp::extension::ClientId;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::data::{select_alerts, TemplateData};
use crate::templates::Templates;
use crate::{Delivered, Notification, Notifier, NotifyError, NotifyFuture};

const INTEGRATION: &str = "email";

/// An email receiver's settings (`email_configs[]`); `to`, `from`,
/// header values, `html` and `text` are templates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSettings {
    /// Comma-separated addresses.
    pub to: String,
    pub from: String,
    /// The EHLO name; Alertmanager's default `localhost`.
    pub hello: String,
    pub smarthost_host: String,
    pub smarthost_port: u16,
    pub auth_username: String,
    pub auth_password: String,
    /// Alertmanager's default: true.
    pub require_tls: bool,
    /// `tls_config.insecure_skip_verify`.
    pub insecure_skip_verify: bool,
    /// Extra/overriding headers; `Subject` defaults to
    /// `email.default.subject`.
    pub headers: BTreeMap<String, String>,
    pub html: String,
    pub text: String,
    /// Alertmanager's default: false.
    pub send_resolved: bool,
    pub timeout: Duration,
}

impl EmailSettings {
    /// Alertmanager's defaults.
    pub fn new(to: &str, from: &str, host: &str, port: u16) -> EmailSettings {
        EmailSettings {
            to: to.into(),
            from: from.into(),
            hello: "localhost".into(),
            smarthost_host: host.into(),
            smarthost_port: port,
            auth_username: String::new(),
            auth_password: String::new(),
            require_tls: true,
            insecure_skip_verify: false,
            headers: BTreeMap::from([(
                "Subject".to_string(),
                r#"{{ template "email.default.subject" . }}"#.to_string(),
            )]),
            html: r#"{{ template "email.default.html" . }}"#.into(),
            text: String::new(),
            send_resolved: false,
            timeout: crate::DEFAULT_TIMEOUT,
        }
    }
}

fn invalid(message: String) -> NotifyError {
    NotifyError::Invalid {
        integration: INTEGRATION,
        message,
    }
}

/// Builds the email, or `None` when there is nothing to send
/// (acknowledgements, a Watchfire notion, send nothing).
pub fn build_email(
    n: &Notification,
    s: &EmailSettings,
    templates: &Templates,
) -> Result<Option<Message>, NotifyError> {
    if matches!(
        n.kind,
        watchfire_alertmodel::NotifyKind::Acknowledged { .. }
    ) {
        return Ok(None);
    }
    let alerts = select_alerts(n, s.send_resolved);
    if alerts.is_empty() {
        return Ok(None);
    }
    let data = TemplateData::new(n, &alerts);
    let tmpl = |t: &str| templates.render_for(INTEGRATION, t, &data);
    let from: Mailbox = tmpl(&s.from)?
        .parse()
        .map_err(|e| invalid(format!("parse 'from' address: {e}")))?;
    let mut b = Message::builder().from(from);
    let mut has_to = false;
    for addr in tmpl(&s.to)?
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        let mb: Mailbox = addr
            .parse()
            .map_err(|e| invalid(format!("parse 'to' address {addr:?}: {e}")))?;
        b = b.to(mb);
        has_to = true;
    }
    if !has_to {
        return Err(invalid("no 'to' address".into()));
    }
    for (k, v) in &s.headers {
        let value = tmpl(v)?;
        match k.to_ascii_lowercase().as_str() {
            "subject" => b = b.subject(value),
            "to" | "from" => {}
            _ => {
                let name = HeaderName::new_from_ascii(k.clone())
                    .map_err(|e| invalid(format!("header {k:?}: {e}")))?;
                b = b.raw_header(HeaderValue::new(name, value));
            }
        }
    }
    let html = tmpl(&s.html)?;
    let text = tmpl(&s.text)?;
    let msg = match (text.is_empty(), html.is_empty()) {
        (false, false) => b.multipart(
            MultiPart::alternative()
                .singlepart(SinglePart::plain(text))
                .singlepart(SinglePart::html(html)),
        ),
        (true, _) => b.multipart(MultiPart::alternative().singlepart(SinglePart::html(html))),
        (false, true) => b.multipart(MultiPart::alternative().singlepart(SinglePart::plain(text))),
    };
    msg.map(Some)
        .map_err(|e| invalid(format!("build message: {e}")))
}

/// Sends email through a smarthost.
pub struct EmailNotifier {
    settings: EmailSettings,
    templates: Arc<Templates>,
    transport: AsyncSmtpTransport<Tokio1Executor>,
}

impl EmailNotifier {
    pub fn new(
        settings: EmailSettings,
        templates: Arc<Templates>,
    ) -> Result<EmailNotifier, NotifyError> {
        let host = settings.smarthost_host.clone();
        let tls_params = || {
            TlsParameters::builder(host.clone())
                .dangerous_accept_invalid_certs(settings.insecure_skip_verify)
                .build()
                .map_err(|e| invalid(format!("TLS parameters: {e}")))
        };
        let tls = if settings.smarthost_port == 465 {
            Tls::Wrapper(tls_params()?)
        } else if settings.require_tls {
            Tls::Required(tls_params()?)
        } else {
            Tls::None
        };
        let mut b = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(settings.smarthost_port)
            .tls(tls)
            .timeout(Some(settings.timeout))
            .hello_name(ClientId::Domain(settings.hello.clone()));
        if !settings.auth_username.is_empty() {
            b = b
                .credentials(Credentials::new(
                    settings.auth_username.clone(),
                    settings.auth_password.clone(),
                ))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        Ok(EmailNotifier {
            transport: b.build(),
            settings,
            templates,
        })
    }

    async fn send(&self, n: &Notification) -> Result<Delivered, NotifyError> {
        let Some(msg) = build_email(n, &self.settings, &self.templates)? else {
            return Ok(Delivered::skipped());
        };
        self.transport
            .send(msg)
            .await
            .map_err(|e| NotifyError::Smtp {
                retryable: !e.is_permanent(),
                message: e.to_string(),
            })?;
        Ok(Delivered::sent())
    }
}

impl Notifier for EmailNotifier {
    fn integration(&self) -> &'static str {
        INTEGRATION
    }

    fn notify<'a>(&'a self, n: &'a Notification) -> NotifyFuture<'a> {
        Box::pin(self.send(n))
    }
}
