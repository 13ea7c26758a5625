//! Phase one: serde structs that mirror `alertmanager.yml` exactly.
//!
//! Every struct denies unknown fields, so a typo is an error with a
//! position rather than a silently ignored setting. Values that are checked
//! later are kept as [`Spanned`] so [`crate::validate`] can point at them.
//! Receiver sections live in [`crate::raw_receivers`].

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, IgnoredAny, Visitor};
use serde::{Deserialize, Deserializer};
use serde_saphyr::Spanned;

pub use crate::raw_receivers::*;

/// A YAML scalar read as text, whatever its YAML type: Go's yaml.v2 turns
/// `test: 2` into the string `"2"` for `map[string]string`, and so do we.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A spanned text value.
pub type SStr = Spanned<String>;
/// A label map of `match:`/`source_match:` style; values may be null or
/// non-string scalars.
pub type RawLabelMap = BTreeMap<String, Option<Spanned<Scalar>>>;

/// The whole `alertmanager.yml`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Defaults for every receiver, and `resolve_timeout`.
    pub global: Option<Spanned<RawGlobal>>,
    /// The root of the routing tree. Required.
    pub route: Option<Spanned<RawRoute>>,
    /// Inhibition rules.
    pub inhibit_rules: Option<Vec<Spanned<RawInhibitRule>>>,
    /// Notification receivers, referenced by name from routes.
    pub receivers: Option<Vec<Spanned<RawReceiver>>>,
    /// Notification template files (glob patterns, relative to the
    /// config file's folder).
    pub templates: Option<Vec<SStr>>,
    /// Deprecated spelling of `time_intervals`; same content.
    pub mute_time_intervals: Option<Vec<Spanned<RawNamedInterval>>>,
    /// Named time intervals for `mute_time_intervals` and
    /// `active_time_intervals` on routes.
    pub time_intervals: Option<Vec<Spanned<RawNamedInterval>>>,
    /// Alertmanager's tracing section: accepted and ignored.
    pub tracing: Option<IgnoredAny>,
    /// Watchfire extension: escalation policies routes can attach.
    pub escalation_policies: Option<Vec<Spanned<RawEscalationPolicy>>>,
    /// Watchfire extension: the receivers the default severity policies
    /// (`critical`, `high`, `medium`, `low`) page. When set, those four
    /// policies exist unless `escalation_policies` defines the same name.
    pub severity_receivers: Option<Spanned<RawSeverityReceivers>>,
}

/// Watchfire extension: `severity_receivers:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSeverityReceivers {
    /// The primary on-call pager (e.g. a PagerDuty receiver).
    pub pager: Option<SStr>,
    /// The team chat (e.g. a Slack receiver).
    pub chat: Option<SStr>,
    /// Email or a digest receiver.
    pub email: Option<SStr>,
    /// Who is paged when nobody acknowledges.
    pub escalation: Option<SStr>,
}

/// `global:`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawGlobal {
    /// How long after its last update an alert without `endsAt` is
    /// resolved. Default `5m`.
    pub resolve_timeout: Option<SStr>,
    /// Default HTTP client settings of every HTTP integration.
    pub http_config: Option<Spanned<RawHttpConfig>>,
    /// Default SMTP sender address.
    pub smtp_from: Option<String>,
    /// Host name sent in SMTP `HELO`/`EHLO`. Default `localhost`.
    pub smtp_hello: Option<String>,
    /// Default SMTP server, `host:port`.
    pub smtp_smarthost: Option<SStr>,
    /// Default SMTP auth user name.
    pub smtp_auth_username: Option<String>,
    /// Default SMTP auth password.
    pub smtp_auth_password: Option<String>,
    /// File holding the default SMTP auth password.
    pub smtp_auth_password_file: Option<String>,
    /// Default SMTP CRAM-MD5 secret.
    pub smtp_auth_secret: Option<String>,
    /// File holding the default SMTP CRAM-MD5 secret.
    pub smtp_auth_secret_file: Option<String>,
    /// Default SMTP PLAIN auth identity.
    pub smtp_auth_identity: Option<String>,
    /// Whether SMTP requires STARTTLS. Default true.
    pub smtp_require_tls: Option<bool>,
    /// Default SMTP TLS settings.
    pub smtp_tls_config: Option<RawTlsConfig>,
    /// Default Slack incoming-webhook URL.
    pub slack_api_url: Option<SStr>,
    /// File holding the default Slack webhook URL.
    pub slack_api_url_file: Option<String>,
    /// Default Slack app (bot) token.
    pub slack_app_token: Option<String>,
    /// File holding the default Slack app token.
    pub slack_app_token_file: Option<String>,
    /// Slack Web API URL used with app tokens. Default
    /// `https://slack.com/api/chat.postMessage`.
    pub slack_app_url: Option<SStr>,
    /// PagerDuty Events API URL. Default
    /// `https://events.pagerduty.com/v2/enqueue`.
    pub pagerduty_url: Option<SStr>,
    /// Alertmanager setting for an unsupported integration (opsgenie);
    /// checked for conflicts and otherwise ignored.
    pub opsgenie_api_url: Option<IgnoredAny>,
    /// Unsupported integration (opsgenie): checked, ignored.
    pub opsgenie_api_key: Option<String>,
    /// Unsupported integration (opsgenie): checked, ignored.
    pub opsgenie_api_key_file: Option<String>,
    /// Unsupported integration (wechat): ignored.
    pub wechat_api_url: Option<IgnoredAny>,
    /// Unsupported integration (wechat): checked, ignored.
    pub wechat_api_secret: Option<String>,
    /// Unsupported integration (wechat): checked, ignored.
    pub wechat_api_secret_file: Option<String>,
    /// Unsupported integration (wechat): ignored.
    pub wechat_api_corp_id: Option<IgnoredAny>,
    /// Unsupported integration (victorops): ignored.
    pub victorops_api_url: Option<IgnoredAny>,
    /// Unsupported integration (victorops): checked, ignored.
    pub victorops_api_key: Option<String>,
    /// Unsupported integration (victorops): checked, ignored.
    pub victorops_api_key_file: Option<String>,
    /// Unsupported integration (telegram): ignored.
    pub telegram_api_url: Option<IgnoredAny>,
    /// Unsupported integration (telegram): checked, ignored.
    pub telegram_bot_token: Option<String>,
    /// Unsupported integration (telegram): checked, ignored.
    pub telegram_bot_token_file: Option<String>,
    /// Unsupported integration (webex): ignored.
    pub webex_api_url: Option<IgnoredAny>,
    /// Unsupported integration (jira): ignored.
    pub jira_api_url: Option<IgnoredAny>,
    /// Unsupported integration (rocketchat): ignored.
    pub rocketchat_api_url: Option<IgnoredAny>,
    /// Unsupported integration (rocketchat): checked, ignored.
    pub rocketchat_token: Option<String>,
    /// Unsupported integration (rocketchat): checked, ignored.
    pub rocketchat_token_file: Option<String>,
    /// Unsupported integration (rocketchat): checked, ignored.
    pub rocketchat_token_id: Option<String>,
    /// Unsupported integration (rocketchat): checked, ignored.
    pub rocketchat_token_id_file: Option<String>,
    /// Unsupported integration (mattermost): checked, ignored.
    pub mattermost_webhook_url: Option<String>,
    /// Unsupported integration (mattermost): checked, ignored.
    pub mattermost_webhook_url_file: Option<String>,
}

/// One node of the routing tree.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// Receiver name; inherited from the parent when absent.
    pub receiver: Option<SStr>,
    /// Labels to group by; `['...']` groups by every label. Inherited.
    pub group_by: Option<Spanned<Vec<SStr>>>,
    /// Deprecated equality matchers.
    #[serde(rename = "match")]
    pub match_: Option<Spanned<RawLabelMap>>,
    /// Deprecated regex matchers (anchored).
    pub match_re: Option<Spanned<RawLabelMap>>,
    /// Matchers in Alertmanager's text syntax, e.g. `severity=~"high|critical"`.
    pub matchers: Option<Vec<SStr>>,
    /// Names of time intervals during which the route is muted.
    pub mute_time_intervals: Option<Vec<SStr>>,
    /// Names of time intervals outside which the route is muted.
    pub active_time_intervals: Option<Vec<SStr>>,
    /// Keep matching later siblings after this route matched.
    #[serde(rename = "continue")]
    pub continue_: Option<Spanned<bool>>,
    /// Child routes.
    pub routes: Option<Vec<Spanned<RawRoute>>>,
    /// Wait before the first notification of a new group. Inherited;
    /// default `30s`.
    pub group_wait: Option<SStr>,
    /// Wait between notifications about changes of a group. Inherited;
    /// default `5m`.
    pub group_interval: Option<SStr>,
    /// Wait before re-sending an unchanged group. Inherited; default `4h`.
    pub repeat_interval: Option<SStr>,
    /// Watchfire extension: escalation policy name. Inherited.
    pub escalation_policy: Option<SStr>,
}

/// One inhibition rule.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawInhibitRule {
    /// Optional name (newer Alertmanager); informational.
    pub name: Option<String>,
    /// Deprecated equality matchers for the source alert.
    pub source_match: Option<Spanned<RawLabelMap>>,
    /// Deprecated regex matchers for the source alert.
    pub source_match_re: Option<Spanned<RawLabelMap>>,
    /// Matchers the source (inhibiting) alert must satisfy.
    pub source_matchers: Option<Vec<SStr>>,
    /// Deprecated equality matchers for the target alert.
    pub target_match: Option<Spanned<RawLabelMap>>,
    /// Deprecated regex matchers for the target alert.
    pub target_match_re: Option<Spanned<RawLabelMap>>,
    /// Matchers the target (muted) alert must satisfy.
    pub target_matchers: Option<Vec<SStr>>,
    /// Labels whose values must be equal in source and target.
    pub equal: Option<Vec<SStr>>,
}

/// A named set of time intervals.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawNamedInterval {
    /// The name routes refer to.
    pub name: Option<SStr>,
    /// The intervals; a time is in the set when it is in any of them.
    pub time_intervals: Option<Vec<RawTimeInterval>>,
}

/// One time interval: a time is in it when every given field matches.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeInterval {
    /// Time-of-day ranges, `HH:MM` to `HH:MM` (end exclusive).
    pub times: Option<Vec<RawTimeRange>>,
    /// Day names or ranges, `monday:friday`.
    pub weekdays: Option<Vec<Spanned<Scalar>>>,
    /// Day-of-month numbers or ranges; negative counts from the month's end.
    pub days_of_month: Option<Vec<Spanned<Scalar>>>,
    /// Month names or numbers, or ranges of them.
    pub months: Option<Vec<Spanned<Scalar>>>,
    /// Years or year ranges.
    pub years: Option<Vec<Spanned<Scalar>>>,
    /// IANA time zone the other fields are read in. Default `UTC`.
    pub location: Option<SStr>,
}

/// A time-of-day range.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTimeRange {
    /// Start, `HH:MM`, inclusive.
    pub start_time: Option<SStr>,
    /// End, `HH:MM` (up to `24:00`), exclusive.
    pub end_time: Option<SStr>,
}

/// Watchfire extension: an escalation policy.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEscalationPolicy {
    /// Unique name routes refer to with `escalation_policy:`.
    pub name: Option<SStr>,
    /// Steps, in order of `after`.
    pub steps: Option<Vec<Spanned<RawEscalationStep>>>,
    /// How many more times to run the steps from the top while the group
    /// stays unacknowledged and firing. Default 0.
    pub repeat: Option<Spanned<u32>>,
}

/// One escalation step.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEscalationStep {
    /// Delay after the group's first notification (per round).
    pub after: Option<SStr>,
    /// Receivers notified at this step.
    pub notify: Option<Vec<SStr>>,
}
