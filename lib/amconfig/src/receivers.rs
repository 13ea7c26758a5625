//! Typed receiver settings: what the notifiers consume.
//!
//! Globals are already merged in (as Alertmanager does at load time), every
//! default is filled in, and template strings are kept verbatim: notifiers
//! render them. Secrets are [`SecretSource`]s: either the inline value or
//! the path of a `*_file`, which validation does **not** read (it is pure);
//! call [`SecretSource::resolve`] at the edge. No secret appears in `Debug`.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

/// A secret value; `Debug` prints `<secret>`.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Secret {
        Secret(s.into())
    }
    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

/// Where a secret comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSource {
    /// Written in the config.
    Inline(Secret),
    /// A `*_file` setting: the file's content, surrounding whitespace
    /// trimmed, read when the notifier needs it.
    File(PathBuf),
}

impl SecretSource {
    /// The secret, reading the file if needed (I/O).
    pub fn resolve(&self) -> std::io::Result<Secret> {
        match self {
            SecretSource::Inline(s) => Ok(s.clone()),
            SecretSource::File(p) => Ok(Secret(std::fs::read_to_string(p)?.trim().to_string())),
        }
    }

    /// The inline value, if the secret is inline.
    pub fn inline(&self) -> Option<&str> {
        match self {
            SecretSource::Inline(s) => Some(s.expose()),
            SecretSource::File(_) => None,
        }
    }

    pub(crate) fn pick(inline: Option<&str>, file: Option<&str>) -> Option<SecretSource> {
        match (
            inline.filter(|s| !s.is_empty()),
            file.filter(|s| !s.is_empty()),
        ) {
            (Some(s), _) => Some(SecretSource::Inline(Secret::new(s))),
            (None, Some(f)) => Some(SecretSource::File(PathBuf::from(f))),
            (None, None) => None,
        }
    }
}

/// `Authorization` header settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// Scheme, default `Bearer`.
    pub scheme: String,
    pub credentials: SecretSource,
}

/// HTTP basic auth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BasicAuth {
    pub username: String,
    pub password: Option<SecretSource>,
}

/// TLS client settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TlsConfig {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub server_name: Option<String>,
    pub insecure_skip_verify: bool,
    pub min_version: Option<String>,
}

/// The HTTP client settings of one integration (the receiver's own
/// `http_config`, else `global.http_config`; Alertmanager does not merge).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// From `authorization`, `bearer_token(_file)` or a Slack app token.
    pub authorization: Option<Authorization>,
    pub basic_auth: Option<BasicAuth>,
    pub proxy_url: Option<String>,
    pub tls: TlsConfig,
    /// Default true.
    pub follow_redirects: bool,
    /// Default true.
    pub enable_http2: bool,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            authorization: None,
            basic_auth: None,
            proxy_url: None,
            tls: TlsConfig::default(),
            follow_redirects: true,
            enable_http2: true,
        }
    }
}

/// An SMTP server address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub host: String,
    pub port: String,
}

impl fmt::Display for HostPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// A receiver: a name and its integrations.
#[derive(Debug, Clone, PartialEq)]
pub struct Receiver {
    pub name: String,
    pub webhook_configs: Vec<WebhookConfig>,
    pub pagerduty_configs: Vec<PagerDutyConfig>,
    pub slack_configs: Vec<SlackConfig>,
    pub email_configs: Vec<EmailConfig>,
}

impl Receiver {
    /// Number of integrations (0 for a "null" receiver that only groups).
    pub fn integration_count(&self) -> usize {
        self.webhook_configs.len()
            + self.pagerduty_configs.len()
            + self.slack_configs.len()
            + self.email_configs.len()
    }
}

/// A webhook integration.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookConfig {
    /// Default true.
    pub send_resolved: bool,
    pub http_config: HttpConfig,
    /// `url` (validated http/https) or `url_file`.
    pub url: SecretSource,
    /// 0 = no limit.
    pub max_alerts: u64,
    /// Request timeout in ms; 0 = none.
    pub timeout_ms: i64,
}

/// A PagerDuty image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagerDutyImage {
    pub src: String,
    pub alt: String,
    pub href: String,
}

/// A PagerDuty link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagerDutyLink {
    pub href: String,
    pub text: String,
}

/// A PagerDuty integration. With `routing_key` it uses Events API v2,
/// with only `service_key` the v1 API (as Alertmanager).
#[derive(Debug, Clone, PartialEq)]
pub struct PagerDutyConfig {
    /// Default true.
    pub send_resolved: bool,
    pub http_config: HttpConfig,
    pub routing_key: Option<SecretSource>,
    pub service_key: Option<SecretSource>,
    /// Default `global.pagerduty_url`.
    pub url: String,
    pub client: String,
    pub client_url: String,
    pub description: String,
    /// Defaults `firing`, `resolved`, `num_firing`, `num_resolved`
    /// merged under the configured ones.
    pub details: BTreeMap<String, String>,
    pub images: Vec<PagerDutyImage>,
    pub links: Vec<PagerDutyLink>,
    /// Default: `client`.
    pub source: String,
    /// Default `error`.
    pub severity: String,
    pub class: String,
    pub component: String,
    pub group: String,
}

/// A Slack attachment field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackField {
    pub title: String,
    pub value: String,
    /// `None`: use `short_fields`.
    pub short: Option<bool>,
}

/// A Slack confirmation dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackConfirm {
    pub title: String,
    pub text: String,
    pub ok_text: String,
    pub dismiss_text: String,
}

/// A Slack attachment action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlackAction {
    pub type_: String,
    pub text: String,
    pub url: String,
    pub style: String,
    pub name: String,
    pub value: String,
    pub confirm: Option<SlackConfirm>,
}

/// A Slack integration. When `app_token` is set, `api_url` is the Web API
/// URL (`chat.postMessage`) and `http_config.authorization` carries the
/// token as `Bearer`, as in Alertmanager; otherwise `api_url` is an
/// incoming webhook (or a Web API URL with a bearer token in
/// `http_config`).
#[derive(Debug, Clone, PartialEq)]
pub struct SlackConfig {
    /// Default false.
    pub send_resolved: bool,
    pub http_config: HttpConfig,
    pub api_url: SecretSource,
    pub app_token: Option<SecretSource>,
    /// Default `global.slack_app_url`.
    pub app_url: String,
    pub update_message: bool,
    pub channel: String,
    pub username: String,
    pub color: String,
    pub title: String,
    pub title_link: String,
    pub pretext: String,
    pub text: String,
    pub fields: Vec<SlackField>,
    pub short_fields: bool,
    pub footer: String,
    pub fallback: String,
    pub callback_id: String,
    pub icon_emoji: String,
    pub icon_url: String,
    pub image_url: String,
    pub thumb_url: String,
    pub link_names: bool,
    pub mrkdwn_in: Vec<String>,
    pub actions: Vec<SlackAction>,
}

/// An email integration.
#[derive(Debug, Clone, PartialEq)]
pub struct EmailConfig {
    /// Default false.
    pub send_resolved: bool,
    pub to: String,
    pub from: String,
    pub hello: String,
    pub smarthost: HostPort,
    pub auth_username: String,
    pub auth_password: Option<SecretSource>,
    pub auth_secret: Option<SecretSource>,
    pub auth_identity: String,
    /// Header names in Go's `strings.Title` form; `Subject`, `To` and
    /// `From` are filled in with Alertmanager's defaults when absent.
    pub headers: BTreeMap<String, String>,
    pub html: String,
    pub text: String,
    pub require_tls: bool,
    pub tls: TlsConfig,
}

/// Alertmanager's template defaults, verbatim.
pub mod defaults {
    pub const PD_CLIENT: &str = r#"{{ template "pagerduty.default.client" . }}"#;
    pub const PD_CLIENT_URL: &str = r#"{{ template "pagerduty.default.clientURL" . }}"#;
    pub const PD_DESCRIPTION: &str = r#"{{ template "pagerduty.default.description" .}}"#;
    pub const PD_DETAILS: [(&str, &str); 4] = [
        (
            "firing",
            r#"{{ template "pagerduty.default.instances" .Alerts.Firing }}"#,
        ),
        ("num_firing", r#"{{ .Alerts.Firing | len }}"#),
        ("num_resolved", r#"{{ .Alerts.Resolved | len }}"#),
        (
            "resolved",
            r#"{{ template "pagerduty.default.instances" .Alerts.Resolved }}"#,
        ),
    ];
    pub const SLACK_COLOR: &str = r#"{{ if eq .Status "firing" }}danger{{ else }}good{{ end }}"#;
    pub const SLACK_USERNAME: &str = r#"{{ template "slack.default.username" . }}"#;
    pub const SLACK_TITLE: &str = r#"{{ template "slack.default.title" . }}"#;
    pub const SLACK_TITLE_LINK: &str = r#"{{ template "slack.default.titlelink" . }}"#;
    pub const SLACK_PRETEXT: &str = r#"{{ template "slack.default.pretext" . }}"#;
    pub const SLACK_TEXT: &str = r#"{{ template "slack.default.text" . }}"#;
    pub const SLACK_FOOTER: &str = r#"{{ template "slack.default.footer" . }}"#;
    pub const SLACK_FALLBACK: &str = r#"{{ template "slack.default.fallback" . }}"#;
    pub const SLACK_CALLBACK_ID: &str = r#"{{ template "slack.default.callbackid" . }}"#;
    pub const SLACK_ICON_EMOJI: &str = r#"{{ template "slack.default.iconemoji" . }}"#;
    pub const SLACK_ICON_URL: &str = r#"{{ template "slack.default.iconurl" . }}"#;
    pub const EMAIL_HTML: &str = r#"{{ template "email.default.html" . }}"#;
    pub const EMAIL_SUBJECT: &str = r#"{{ template "email.default.subject" . }}"#;
    pub const PAGERDUTY_URL: &str = "https://events.pagerduty.com/v2/enqueue";
    pub const SLACK_APP_URL: &str = "https://slack.com/api/chat.postMessage";
}
