//! Phase one, receivers: the serde structs of `receivers:` entries and the
//! HTTP client settings they share. Integrations Watchfire does not
//! implement are read as opaque values so validation can name them.

use std::collections::BTreeMap;

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::raw::SStr;

/// One receiver.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReceiver {
    /// Unique name routes refer to.
    pub name: Option<SStr>,
    /// Generic webhooks (Alertmanager's v4 payload).
    pub webhook_configs: Option<Vec<Option<Spanned<RawWebhookConfig>>>>,
    /// PagerDuty integrations.
    pub pagerduty_configs: Option<Vec<Option<Spanned<RawPagerDutyConfig>>>>,
    /// Slack integrations.
    pub slack_configs: Option<Vec<Option<Spanned<RawSlackConfig>>>>,
    /// Email integrations.
    pub email_configs: Option<Vec<Option<Spanned<RawEmailConfig>>>>,
    /// Not supported by Watchfire.
    pub opsgenie_configs: Option<Spanned<IgnoredAny>>,
    /// Not supported by Watchfire.
    pub victorops_configs: Option<Spanned<IgnoredAny>>,
    /// Not supported by Watchfire.
    pub pushover_configs: Option<Spanned<IgnoredAny>>,
    /// Not supported by Watchfire.
    pub wechat_configs: Option<Spanned<IgnoredAny>>,
    /// Not supported by Watchfire.
    pub sns_configs: Option<Spanned<IgnoredAny>>,
    /// Not supported by Watchfire.
    pub telegram_configs: Option<Spanned<IgnoredAny>>,
    /// Not supported by Watchfire.
    pub discord_configs: Option<Spanned<IgnoredAny>>,
    /// Not supported by Watchfire.
    pub webex_configs: Option<Spanned<IgnoredAny>>,
    /// Not supported by Watchfire.
    pub msteams_configs: Option<Spanned<IgnoredAny>>,
    /// Not supported by Watchfire.
    pub msteamsv2_configs: Option<Spanned<IgnoredAny>>,
    /// Not supported by Watchfire.
    pub jira_configs: Option<Spanned<IgnoredAny>>,
    /// Not supported by Watchfire.
    pub rocketchat_configs: Option<Spanned<IgnoredAny>>,
    /// Not supported by Watchfire.
    pub mattermost_configs: Option<Spanned<IgnoredAny>>,
    /// Not supported by Watchfire.
    pub incidentio_configs: Option<Spanned<IgnoredAny>>,
}

impl RawReceiver {
    /// The unsupported integrations present, in declaration order, with the
    /// position of their value.
    pub fn unsupported(&self) -> Vec<(&'static str, &Spanned<IgnoredAny>)> {
        let all = [
            ("opsgenie_configs", &self.opsgenie_configs),
            ("victorops_configs", &self.victorops_configs),
            ("pushover_configs", &self.pushover_configs),
            ("wechat_configs", &self.wechat_configs),
            ("sns_configs", &self.sns_configs),
            ("telegram_configs", &self.telegram_configs),
            ("discord_configs", &self.discord_configs),
            ("webex_configs", &self.webex_configs),
            ("msteams_configs", &self.msteams_configs),
            ("msteamsv2_configs", &self.msteamsv2_configs),
            ("jira_configs", &self.jira_configs),
            ("rocketchat_configs", &self.rocketchat_configs),
            ("mattermost_configs", &self.mattermost_configs),
            ("incidentio_configs", &self.incidentio_configs),
        ];
        let mut out: Vec<_> = all
            .into_iter()
            .filter_map(|(k, v)| v.as_ref().map(|s| (k, s)))
            .collect();
        out.sort_by_key(|(_, s)| (s.referenced.line(), s.referenced.column()));
        out
    }
}

/// `http_config:`: the subset of prometheus/common's HTTP client settings
/// Watchfire's notifiers honour.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHttpConfig {
    /// `Authorization` header credentials.
    pub authorization: Option<RawAuthorization>,
    /// HTTP basic auth.
    pub basic_auth: Option<RawBasicAuth>,
    /// Bearer token (legacy spelling of `authorization`).
    pub bearer_token: Option<String>,
    /// File holding the bearer token.
    pub bearer_token_file: Option<String>,
    /// HTTP proxy URL.
    pub proxy_url: Option<String>,
    /// TLS settings.
    pub tls_config: Option<RawTlsConfig>,
    /// Follow 3xx redirects. Default true.
    pub follow_redirects: Option<bool>,
    /// Allow HTTP/2. Default true.
    pub enable_http2: Option<bool>,
}

/// `authorization:`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuthorization {
    /// Scheme. Default `Bearer`.
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// The credentials.
    pub credentials: Option<String>,
    /// File holding the credentials.
    pub credentials_file: Option<String>,
}

/// `basic_auth:`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBasicAuth {
    /// User name.
    pub username: Option<String>,
    /// Password.
    pub password: Option<String>,
    /// File holding the password.
    pub password_file: Option<String>,
}

/// `tls_config:`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTlsConfig {
    /// CA bundle used to verify the server.
    pub ca_file: Option<String>,
    /// Client certificate.
    pub cert_file: Option<String>,
    /// Client key.
    pub key_file: Option<String>,
    /// Server name for SNI and verification.
    pub server_name: Option<String>,
    /// Skip server certificate verification.
    pub insecure_skip_verify: Option<bool>,
    /// Lowest TLS version, e.g. `TLS12`.
    pub min_version: Option<String>,
}

/// `webhook_configs:` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWebhookConfig {
    /// Notify about resolved alerts. Default true.
    pub send_resolved: Option<bool>,
    /// HTTP client settings; replaces `global.http_config`.
    pub http_config: Option<Spanned<RawHttpConfig>>,
    /// Endpoint URL.
    pub url: Option<SStr>,
    /// File holding the endpoint URL.
    pub url_file: Option<String>,
    /// Most alerts per payload; 0 means all. Default 0.
    pub max_alerts: Option<u64>,
    /// Request timeout; 0 or absent means none beyond the notifier's.
    pub timeout: Option<SStr>,
}

/// `pagerduty_configs:` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPagerDutyConfig {
    /// Notify about resolved alerts. Default true.
    pub send_resolved: Option<bool>,
    /// HTTP client settings; replaces `global.http_config`.
    pub http_config: Option<Spanned<RawHttpConfig>>,
    /// Events API v2 integration key.
    pub routing_key: Option<String>,
    /// File holding the routing key.
    pub routing_key_file: Option<String>,
    /// Events API v1 service key.
    pub service_key: Option<String>,
    /// File holding the service key.
    pub service_key_file: Option<String>,
    /// Events API URL. Default `global.pagerduty_url`.
    pub url: Option<SStr>,
    /// Client name (template).
    pub client: Option<String>,
    /// Client link (template).
    pub client_url: Option<String>,
    /// Incident summary (template).
    pub description: Option<String>,
    /// Custom details (templates); merged over the defaults.
    pub details: Option<BTreeMap<String, String>>,
    /// Images attached to the incident.
    pub images: Option<Vec<RawPagerDutyImage>>,
    /// Links attached to the incident.
    pub links: Option<Vec<RawPagerDutyLink>>,
    /// Event source (template). Default: `client`.
    pub source: Option<String>,
    /// Severity (template). Default `error`.
    pub severity: Option<String>,
    /// Event class (template).
    pub class: Option<String>,
    /// Component (template).
    pub component: Option<String>,
    /// Group (template).
    pub group: Option<String>,
}

/// A PagerDuty image.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPagerDutyImage {
    /// Image URL (template).
    pub src: Option<String>,
    /// Alt text (template).
    pub alt: Option<String>,
    /// Link (template).
    pub href: Option<String>,
}

/// A PagerDuty link.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPagerDutyLink {
    /// Link URL (template).
    pub href: Option<String>,
    /// Link text (template).
    pub text: Option<String>,
}

/// `slack_configs:` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlackConfig {
    /// Notify about resolved alerts. Default false.
    pub send_resolved: Option<bool>,
    /// HTTP client settings; replaces `global.http_config`.
    pub http_config: Option<Spanned<RawHttpConfig>>,
    /// Incoming webhook URL (or Web API URL with a bearer token).
    pub api_url: Option<SStr>,
    /// File holding `api_url`.
    pub api_url_file: Option<String>,
    /// Slack app (bot) token for `chat.postMessage`/`chat.update`.
    pub app_token: Option<String>,
    /// File holding the app token.
    pub app_token_file: Option<String>,
    /// Web API URL used with the app token.
    pub app_url: Option<SStr>,
    /// Update the posted message instead of posting a new one (bot tokens only).
    pub update_message: Option<Spanned<bool>>,
    /// Channel or user to post to.
    pub channel: Option<String>,
    /// Bot user name (template).
    pub username: Option<String>,
    /// Attachment colour (template).
    pub color: Option<String>,
    /// Title (template).
    pub title: Option<String>,
    /// Title link (template).
    pub title_link: Option<String>,
    /// Pretext (template).
    pub pretext: Option<String>,
    /// Text (template).
    pub text: Option<String>,
    /// Attachment fields.
    pub fields: Option<Vec<Spanned<RawSlackField>>>,
    /// Whether fields are short by default.
    pub short_fields: Option<bool>,
    /// Footer (template).
    pub footer: Option<String>,
    /// Fallback text (template).
    pub fallback: Option<String>,
    /// Callback id (template).
    pub callback_id: Option<String>,
    /// Icon emoji (template).
    pub icon_emoji: Option<String>,
    /// Icon URL (template).
    pub icon_url: Option<String>,
    /// Image URL.
    pub image_url: Option<String>,
    /// Thumbnail URL.
    pub thumb_url: Option<String>,
    /// Link channel and user names.
    pub link_names: Option<bool>,
    /// Fields rendered as markdown.
    pub mrkdwn_in: Option<Vec<String>>,
    /// Attachment actions (buttons).
    pub actions: Option<Vec<Spanned<RawSlackAction>>>,
}

/// A Slack attachment field.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlackField {
    /// Title (template). Required.
    pub title: Option<String>,
    /// Value (template). Required.
    pub value: Option<String>,
    /// Short field; default `short_fields`.
    pub short: Option<bool>,
}

/// A Slack attachment action.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlackAction {
    /// Action type, e.g. `button`. Required.
    #[serde(rename = "type")]
    pub type_: Option<String>,
    /// Button text (template). Required.
    pub text: Option<String>,
    /// Link (template); one of `url` or `name` is required.
    pub url: Option<String>,
    /// Style.
    pub style: Option<String>,
    /// Name (interactive actions).
    pub name: Option<String>,
    /// Value (interactive actions).
    pub value: Option<String>,
    /// Confirmation dialog.
    pub confirm: Option<RawSlackConfirm>,
}

/// A Slack confirmation dialog.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSlackConfirm {
    /// Title.
    pub title: Option<String>,
    /// Text. Required.
    pub text: Option<String>,
    /// OK button text.
    pub ok_text: Option<String>,
    /// Dismiss button text.
    pub dismiss_text: Option<String>,
}

/// `email_configs:` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEmailConfig {
    /// Notify about resolved alerts. Default false.
    pub send_resolved: Option<bool>,
    /// Recipient address(es), comma separated (template). Required.
    pub to: Option<String>,
    /// Sender. Default `global.smtp_from`.
    pub from: Option<String>,
    /// HELO name. Default `global.smtp_hello`.
    pub hello: Option<String>,
    /// SMTP server `host:port`. Default `global.smtp_smarthost`.
    pub smarthost: Option<SStr>,
    /// Auth user name. Default `global.smtp_auth_username`.
    pub auth_username: Option<String>,
    /// Auth password. Default the global one.
    pub auth_password: Option<String>,
    /// File holding the auth password.
    pub auth_password_file: Option<String>,
    /// CRAM-MD5 secret.
    pub auth_secret: Option<String>,
    /// File holding the CRAM-MD5 secret.
    pub auth_secret_file: Option<String>,
    /// PLAIN identity.
    pub auth_identity: Option<String>,
    /// Extra headers (templates); names are case-insensitive.
    pub headers: Option<BTreeMap<String, String>>,
    /// HTML body (template).
    pub html: Option<String>,
    /// Text body (template).
    pub text: Option<String>,
    /// Require STARTTLS. Default `global.smtp_require_tls`.
    pub require_tls: Option<bool>,
    /// TLS settings. Default `global.smtp_tls_config`.
    pub tls_config: Option<RawTlsConfig>,
}
