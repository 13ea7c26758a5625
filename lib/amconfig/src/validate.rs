//! Phase two: [`RawConfig`] → [`Config`]. Pure: no file is read (secret
//! `*_file`s stay paths, template globs are resolved by [`crate::load_file`]).
//!
//! Checks follow Alertmanager's `config.Load` in its order, so the first
//! error reported is the one Alertmanager would report, with a position.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use serde_saphyr::{Location, Spanned};
use watchfire_alertmodel::{InhibitRule, MatchType, Matcher};

use crate::error::ConfigError;
use crate::escalation;
use crate::raw::*;
use crate::receivers::*;
use crate::recv_validate;
use crate::route;
use crate::timeinterval::{self, TimeIntervals};
use crate::Config;

/// Validation context: the file name for error messages.
pub(crate) struct Ctx<'a> {
    pub name: &'a str,
}

impl Ctx<'_> {
    pub fn at(&self, loc: &Location, msg: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.name.to_string(),
            line: (loc.line() as usize).max(1),
            col: (loc.column() as usize).max(1),
            msg: msg.into(),
        }
    }

    pub fn err<T>(&self, s: &Spanned<T>, msg: impl Into<String>) -> ConfigError {
        self.at(&s.referenced, msg)
    }

    /// An error with no better place than the top of the file.
    pub fn top(&self, msg: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            path: self.name.to_string(),
            line: 1,
            col: 1,
            msg: msg.into(),
        }
    }

    /// A Prometheus duration in ms.
    pub fn duration(&self, s: &SStr, field: &str) -> Result<i64, ConfigError> {
        watchfire_promql::duration::parse_duration(&s.value)
            .map_err(|e| self.err(s, format!("{field}: {e}")))
    }
}

/// Prometheus's classic label-name rule.
pub(crate) fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Why a URL fails Alertmanager's check (the caller adds the field name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UrlError {
    /// Not a URL at all.
    #[error("invalid URL {url:?}: {source}")]
    Parse {
        /// The text as given.
        url: String,
        /// Why it does not parse.
        source: url::ParseError,
    },
    /// Neither `http` nor `https`.
    #[error("unsupported scheme {0:?} for URL")]
    Scheme(String),
    /// No host.
    #[error("host is missing in URL")]
    NoHost,
}

/// Alertmanager's URL check: http(s) with a host.
pub(crate) fn check_url(s: &str) -> Result<(), UrlError> {
    let u = url::Url::parse(s).map_err(|source| UrlError::Parse {
        url: s.to_string(),
        source,
    })?;
    if u.scheme() != "http" && u.scheme() != "https" {
        return Err(UrlError::Scheme(u.scheme().to_string()));
    }
    if u.host_str().unwrap_or("").is_empty() {
        return Err(UrlError::NoHost);
    }
    Ok(())
}

/// The validated `global:` section.
#[derive(Debug, Clone, PartialEq)]
pub struct GlobalConfig {
    /// Default 5m.
    pub resolve_timeout_ms: i64,
    pub http_config: HttpConfig,
    pub smtp_from: String,
    /// Default `localhost`.
    pub smtp_hello: String,
    pub smtp_smarthost: Option<HostPort>,
    pub smtp_auth_username: String,
    pub smtp_auth_password: Option<SecretSource>,
    pub smtp_auth_secret: Option<SecretSource>,
    pub smtp_auth_identity: String,
    /// Default true.
    pub smtp_require_tls: bool,
    pub smtp_tls: TlsConfig,
    pub slack_api_url: Option<SecretSource>,
    pub slack_app_token: Option<SecretSource>,
    /// Default `https://slack.com/api/chat.postMessage`.
    pub slack_app_url: String,
    /// Default `https://events.pagerduty.com/v2/enqueue`.
    pub pagerduty_url: String,
}

fn both(a: &Option<String>, b: &Option<String>) -> bool {
    a.as_deref().is_some_and(|s| !s.is_empty()) && b.as_deref().is_some_and(|s| !s.is_empty())
}

fn global(cx: &Ctx, g: Option<&Spanned<RawGlobal>>) -> Result<GlobalConfig, ConfigError> {
    let default = RawGlobal::default();
    let at = g.map(|g| g.referenced);
    let g = g.map(|g| &g.value).unwrap_or(&default);
    let at_most = |what: &str| {
        let msg = format!("at most one of {what} must be configured");
        match &at {
            Some(l) => cx.at(l, msg),
            None => cx.top(msg),
        }
    };
    let slack_url_set = g.slack_api_url.is_some() || g.slack_api_url_file.is_some();
    let slack_token_set = g.slack_app_token.is_some() || g.slack_app_token_file.is_some();
    if both(&g.slack_app_token, &g.slack_app_token_file) {
        return Err(at_most("slack_app_token & slack_app_token_file"));
    }
    if g.slack_api_url.is_some() && g.slack_api_url_file.is_some() {
        return Err(at_most("slack_api_url & slack_api_url_file"));
    }
    let slack_app_url = match &g.slack_app_url {
        Some(u) => {
            check_url(&u.value).map_err(|m| cx.err(u, format!("slack_app_url: {m}")))?;
            u.value.clone()
        }
        None => defaults::SLACK_APP_URL.to_string(),
    };
    if slack_url_set
        && slack_token_set
        && g.slack_api_url.as_ref().map(|u| u.value.as_str()) != Some(slack_app_url.as_str())
    {
        return Err(at_most(
            "slack_app_token/slack_app_token_file & slack_api_url/slack_api_url_file",
        ));
    }
    let pairs = [
        (
            &g.opsgenie_api_key,
            &g.opsgenie_api_key_file,
            "opsgenie_api_key & opsgenie_api_key_file",
        ),
        (
            &g.victorops_api_key,
            &g.victorops_api_key_file,
            "victorops_api_key & victorops_api_key_file",
        ),
        (
            &g.telegram_bot_token,
            &g.telegram_bot_token_file,
            "telegram_bot_token & telegram_bot_token_file",
        ),
        (
            &g.smtp_auth_password,
            &g.smtp_auth_password_file,
            "smtp_auth_password & smtp_auth_password_file",
        ),
        (
            &g.rocketchat_token,
            &g.rocketchat_token_file,
            "rocketchat_token & rocketchat_token_file",
        ),
        (
            &g.rocketchat_token_id,
            &g.rocketchat_token_id_file,
            "rocketchat_token_id & rocketchat_token_id_file",
        ),
        (
            &g.smtp_auth_secret,
            &g.smtp_auth_secret_file,
            "smtp_auth_secret & smtp_auth_secret_file",
        ),
        (
            &g.wechat_api_secret,
            &g.wechat_api_secret_file,
            "wechat_api_secret & wechat_api_secret_file",
        ),
        (
            &g.mattermost_webhook_url,
            &g.mattermost_webhook_url_file,
            "mattermost_webhook_url & mattermost_webhook_url_file",
        ),
    ];
    for (a, b, what) in pairs {
        let set = |v: &Option<String>| v.is_some();
        if set(a) && set(b) {
            return Err(at_most(what));
        }
    }
    let resolve_timeout_ms = match &g.resolve_timeout {
        Some(s) => cx.duration(s, "resolve_timeout")?,
        None => 5 * 60_000,
    };
    let smtp_smarthost = match &g.smtp_smarthost {
        Some(s) => recv_validate::host_port(cx, s)?,
        None => None,
    };
    let slack_api_url = match &g.slack_api_url {
        Some(u) => {
            check_url(&u.value).map_err(|m| cx.err(u, format!("slack_api_url: {m}")))?;
            Some(SecretSource::Inline(Secret::new(u.value.clone())))
        }
        None => SecretSource::pick(None, g.slack_api_url_file.as_deref()),
    };
    let pagerduty_url = match &g.pagerduty_url {
        Some(u) => {
            check_url(&u.value).map_err(|m| cx.err(u, format!("pagerduty_url: {m}")))?;
            u.value.clone()
        }
        None => defaults::PAGERDUTY_URL.to_string(),
    };
    Ok(GlobalConfig {
        resolve_timeout_ms,
        http_config: match &g.http_config {
            Some(h) => recv_validate::http_config(cx, h)?,
            None => HttpConfig::default(),
        },
        smtp_from: g.smtp_from.clone().unwrap_or_default(),
        smtp_hello: g
            .smtp_hello
            .clone()
            .unwrap_or_else(|| "localhost".to_string()),
        smtp_smarthost,
        smtp_auth_username: g.smtp_auth_username.clone().unwrap_or_default(),
        smtp_auth_password: SecretSource::pick(
            g.smtp_auth_password.as_deref(),
            g.smtp_auth_password_file.as_deref(),
        ),
        smtp_auth_secret: SecretSource::pick(
            g.smtp_auth_secret.as_deref(),
            g.smtp_auth_secret_file.as_deref(),
        ),
        smtp_auth_identity: g.smtp_auth_identity.clone().unwrap_or_default(),
        smtp_require_tls: g.smtp_require_tls.unwrap_or(true),
        smtp_tls: g
            .smtp_tls_config
            .as_ref()
            .map(recv_validate::tls)
            .unwrap_or_default(),
        slack_api_url,
        slack_app_token: SecretSource::pick(
            g.slack_app_token.as_deref(),
            g.slack_app_token_file.as_deref(),
        ),
        slack_app_url,
        pagerduty_url,
    })
}

/// Builds matchers from a deprecated `match`/`match_re` map.
pub(crate) fn label_map(
    cx: &Ctx,
    m: &Spanned<RawLabelMap>,
    op: MatchType,
) -> Result<Vec<Matcher>, ConfigError> {
    let mut out = Vec::new();
    for (k, v) in &m.value {
        if !is_label_name(k) {
            return Err(cx.err(m, format!("invalid label name {k:?}")));
        }
        let value = match v {
            // Alertmanager's `config.Regexp` keeps the anchored form, and
            // route keys (hence group keys) print it: `^(?:v)$`.
            Some(v) if op.is_regex() => format!("^(?:{})$", v.value.0),
            Some(v) => v.value.0.clone(),
            None if op.is_regex() => {
                return Err(cx.err(m, format!("invalid regexp value for {k:?}")));
            }
            None => String::new(),
        };
        let loc = v.as_ref().map(|v| &v.referenced).unwrap_or(&m.referenced);
        out.push(Matcher::new(op, k.clone(), value).map_err(|e| cx.at(loc, e.to_string()))?);
    }
    Ok(out)
}

/// Parses `matchers:`-style lists (each entry may hold several matchers).
pub(crate) fn matcher_list(cx: &Ctx, list: &[SStr]) -> Result<Vec<Matcher>, ConfigError> {
    let mut out = Vec::new();
    for line in list {
        let ms = watchfire_alertmodel::parse_matchers(&line.value)
            .map_err(|e| cx.err(line, e.to_string()))?;
        out.extend(ms);
    }
    Ok(out)
}

fn inhibit_rule(cx: &Ctx, r: &Spanned<RawInhibitRule>) -> Result<InhibitRule, ConfigError> {
    let r = &r.value;
    let mut source = Vec::new();
    let mut target = Vec::new();
    if let Some(m) = &r.source_match {
        source.extend(label_map(cx, m, MatchType::Equal)?);
    }
    if let Some(m) = &r.source_match_re {
        source.extend(label_map(cx, m, MatchType::Regexp)?);
    }
    if let Some(l) = &r.source_matchers {
        source.extend(matcher_list(cx, l)?);
    }
    if let Some(m) = &r.target_match {
        target.extend(label_map(cx, m, MatchType::Equal)?);
    }
    if let Some(m) = &r.target_match_re {
        target.extend(label_map(cx, m, MatchType::Regexp)?);
    }
    if let Some(l) = &r.target_matchers {
        target.extend(matcher_list(cx, l)?);
    }
    let mut equal = Vec::new();
    for l in r.equal.iter().flatten() {
        if !is_label_name(&l.value) {
            return Err(cx.err(l, format!("invalid label name {:?} in equal list", l.value)));
        }
        equal.push(l.value.clone());
    }
    Ok(InhibitRule {
        source,
        target,
        equal,
    })
}

impl RawConfig {
    /// Checks every value and converts to typed form. Pure. `base` is the
    /// config file's folder: template patterns are joined to it.
    pub fn validate(self, name: &str, base: &Path) -> Result<Config, ConfigError> {
        let cx = Ctx { name };
        let global = global(&cx, self.global.as_ref())?;

        let mut names = BTreeSet::new();
        let mut receivers = Vec::new();
        for r in self.receivers.iter().flatten() {
            let rcv = recv_validate::receiver(&cx, r, &global)?;
            if !names.insert(rcv.name.clone()) {
                let at = r.value.name.as_ref().map(|n| &n.referenced);
                return Err(cx.at(
                    at.unwrap_or(&r.referenced),
                    format!("notification config name {:?} is not unique", rcv.name),
                ));
            }
            receivers.push(rcv);
        }

        let Some(raw_route) = &self.route else {
            return Err(cx.top("no routes provided"));
        };

        // Time intervals (deprecated top-level list first, as Alertmanager).
        let mut intervals = TimeIntervals::default();
        for (list, what) in [
            (&self.mute_time_intervals, "mute time interval"),
            (&self.time_intervals, "time interval"),
        ] {
            for ti in list.iter().flatten() {
                let (n, set) = timeinterval::named(&cx, ti, what)?;
                if intervals.contains_name(&n) {
                    let at = ti.value.name.as_ref().map(|s| &s.referenced);
                    return Err(cx.at(
                        at.unwrap_or(&ti.referenced),
                        format!("{what} {n:?} is not unique"),
                    ));
                }
                intervals.insert(n, set);
            }
        }

        let mut policies = escalation::policies(&cx, self.escalation_policies.as_deref(), &names)?;
        if let Some(sr) = &self.severity_receivers {
            let pick = |v: &Option<SStr>, field: &str| -> Result<String, ConfigError> {
                match v {
                    Some(n) if names.contains(&n.value) => Ok(n.value.clone()),
                    Some(n) => Err(cx.err(
                        n,
                        format!(
                            "undefined receiver {:?} used in severity_receivers.{field}",
                            n.value
                        ),
                    )),
                    None => Err(cx.err(sr, format!("severity_receivers: missing `{field}`"))),
                }
            };
            let defaults = escalation::default_policies(&escalation::SeverityReceivers {
                pager: pick(&sr.value.pager, "pager")?,
                chat: pick(&sr.value.chat, "chat")?,
                email: pick(&sr.value.email, "email")?,
                escalation: pick(&sr.value.escalation, "escalation")?,
            });
            escalation::merge_defaults(&mut policies, defaults);
        }
        let policy_names: HashSet<String> = policies.iter().map(|p| p.name.clone()).collect();

        let route = route::build(
            &cx,
            raw_route,
            &route::Known {
                receivers: &names,
                intervals: &intervals,
                policies: &policy_names,
            },
        )?;

        let mut inhibit_rules = Vec::new();
        for r in self.inhibit_rules.iter().flatten() {
            inhibit_rules.push(inhibit_rule(&cx, r)?);
        }

        let mut templates = Vec::new();
        for t in self.templates.iter().flatten() {
            if let Err(e) = glob::Pattern::new(&t.value) {
                return Err(cx.err(t, format!("invalid template glob {:?}: {e}", t.value)));
            }
            templates.push(base.join(&t.value));
        }

        Ok(Config {
            global,
            route,
            receivers,
            inhibit_rules,
            time_intervals: intervals,
            templates,
            escalation_policies: policies,
        })
    }
}

/// Expands template globs into the files they match, sorted, each pattern
/// in order (I/O: lists folders).
pub fn expand_templates(patterns: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in patterns {
        let Some(s) = p.to_str() else { continue };
        if let Ok(paths) = glob::glob(s) {
            let mut found: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
            found.sort();
            out.extend(found);
        }
    }
    out
}
