//! Phase two for receivers: raw integration settings → typed
//! [`crate::receivers`] values, merging `global:` the way Alertmanager's
//! `Config.UnmarshalYAML` does and applying each integration's defaults
//! and checks (with Alertmanager's messages).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_saphyr::Spanned;

use crate::error::ConfigError;
use crate::raw::*;
use crate::receivers::*;
use crate::validate::{check_url, Ctx, GlobalConfig};

pub(crate) fn tls(t: &RawTlsConfig) -> TlsConfig {
    TlsConfig {
        ca_file: t.ca_file.as_ref().map(PathBuf::from),
        cert_file: t.cert_file.as_ref().map(PathBuf::from),
        key_file: t.key_file.as_ref().map(PathBuf::from),
        server_name: t.server_name.clone(),
        insecure_skip_verify: t.insecure_skip_verify.unwrap_or(false),
        min_version: t.min_version.clone(),
    }
}

/// prometheus/common `HTTPClientConfig.Validate`, for the fields we keep.
pub(crate) fn http_config(cx: &Ctx, h: &Spanned<RawHttpConfig>) -> Result<HttpConfig, ConfigError> {
    let r = &h.value;
    let fail = |m: &str| Err(cx.err(h, m.to_string()));
    let bearer = r.bearer_token.is_some() || r.bearer_token_file.is_some();
    if r.bearer_token.is_some() && r.bearer_token_file.is_some() {
        return fail("at most one of bearer_token & bearer_token_file must be configured");
    }
    if r.basic_auth.is_some() && bearer {
        return fail("at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured");
    }
    if let Some(b) = &r.basic_auth {
        if b.password.is_some() && b.password_file.is_some() {
            return fail("at most one of basic_auth password & password_file must be configured");
        }
    }
    let mut authorization = None;
    if let Some(a) = &r.authorization {
        if bearer {
            return fail("authorization is not compatible with bearer_token & bearer_token_file");
        }
        if a.credentials.is_some() && a.credentials_file.is_some() {
            return fail(
                "at most one of authorization credentials & credentials_file must be configured",
            );
        }
        let scheme = a
            .type_
            .clone()
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| "Bearer".into());
        if scheme.eq_ignore_ascii_case("basic") {
            return fail(
                r#"authorization type cannot be set to "basic", use "basic_auth" instead"#,
            );
        }
        if r.basic_auth.is_some() {
            return fail("at most one of basic_auth, oauth2 & authorization must be configured");
        }
        let credentials =
            SecretSource::pick(a.credentials.as_deref(), a.credentials_file.as_deref())
                .unwrap_or(SecretSource::Inline(Secret::default()));
        authorization = Some(Authorization {
            scheme,
            credentials,
        });
    } else if let Some(c) =
        SecretSource::pick(r.bearer_token.as_deref(), r.bearer_token_file.as_deref())
    {
        authorization = Some(Authorization {
            scheme: "Bearer".into(),
            credentials: c,
        });
    }
    Ok(HttpConfig {
        authorization,
        basic_auth: r.basic_auth.as_ref().map(|b| BasicAuth {
            username: b.username.clone().unwrap_or_default(),
            password: SecretSource::pick(b.password.as_deref(), b.password_file.as_deref()),
        }),
        proxy_url: r.proxy_url.clone(),
        tls: r.tls_config.as_ref().map(tls).unwrap_or_default(),
        follow_redirects: r.follow_redirects.unwrap_or(true),
        enable_http2: r.enable_http2.unwrap_or(true),
    })
}

/// `host:port` as Go's `net.SplitHostPort`; the empty string is "unset".
pub(crate) fn host_port(cx: &Ctx, s: &SStr) -> Result<Option<HostPort>, ConfigError> {
    let v = s.value.as_str();
    if v.is_empty() {
        return Ok(None);
    }
    let split = if let Some(rest) = v.strip_prefix('[') {
        rest.split_once("]:")
    } else {
        match v.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => {
                return Err(cx.err(s, format!("address {v}: too many colons in address")))
            }
            other => other,
        }
    };
    let Some((host, port)) = split else {
        return Err(cx.err(s, format!("address {v}: missing port in address")));
    };
    if port.is_empty() {
        return Err(cx.err(s, format!("address {v:?}: port cannot be empty")));
    }
    Ok(Some(HostPort {
        host: host.to_string(),
        port: port.to_string(),
    }))
}

fn url_value(cx: &Ctx, u: &SStr, field: &str) -> Result<String, ConfigError> {
    check_url(&u.value).map_err(|m| cx.err(u, format!("{field}: {m}")))?;
    Ok(u.value.clone())
}

fn opt(s: &Option<String>, default: &str) -> String {
    s.clone().unwrap_or_else(|| default.to_string())
}

/// One receiver entry, globals merged in.
pub(crate) fn receiver(
    cx: &Ctx,
    r: &Spanned<RawReceiver>,
    g: &GlobalConfig,
) -> Result<Receiver, ConfigError> {
    let raw = &r.value;
    let name = match &raw.name {
        Some(n) if !n.value.is_empty() => n.value.clone(),
        Some(n) => return Err(cx.err(n, "missing name in receiver")),
        None => return Err(cx.err(r, "missing name in receiver")),
    };
    if let Some((kind, at)) = raw.unsupported().first() {
        return Err(ConfigError::Unsupported {
            path: cx.name.to_string(),
            line: (at.referenced.line() as usize).max(1),
            col: (at.referenced.column() as usize).max(1),
            receiver: name,
            kind: kind.to_string(),
        });
    }
    let missing = |what: &str| cx.err(r, format!("missing {what} config"));
    let http = |h: &Option<Spanned<RawHttpConfig>>| -> Result<HttpConfig, ConfigError> {
        match h {
            Some(h) => http_config(cx, h),
            None => Ok(g.http_config.clone()),
        }
    };

    let mut webhook_configs = Vec::new();
    for w in raw.webhook_configs.iter().flatten() {
        let w = w.as_ref().ok_or_else(|| missing("webhook"))?;
        let v = &w.value;
        let url = match (&v.url, &v.url_file) {
            (Some(_), Some(_)) => {
                return Err(cx.err(w, "at most one of url & url_file must be configured"))
            }
            (None, None) => return Err(cx.err(w, "one of url or url_file must be configured")),
            (Some(u), None) => SecretSource::Inline(Secret::new(url_value(cx, u, "url")?)),
            (None, Some(f)) => SecretSource::File(PathBuf::from(f)),
        };
        webhook_configs.push(WebhookConfig {
            send_resolved: v.send_resolved.unwrap_or(true),
            http_config: http(&v.http_config)?,
            url,
            max_alerts: v.max_alerts.unwrap_or(0),
            timeout_ms: match &v.timeout {
                Some(t) => cx.duration(t, "timeout")?,
                None => 0,
            },
        });
    }

    let mut pagerduty_configs = Vec::new();
    for p in raw.pagerduty_configs.iter().flatten() {
        let p = p.as_ref().ok_or_else(|| missing("pagerduty"))?;
        pagerduty_configs.push(pagerduty(cx, p, g, http(&p.value.http_config)?)?);
    }

    let mut slack_configs = Vec::new();
    for s in raw.slack_configs.iter().flatten() {
        let Some(s) = s.as_ref() else {
            return Err(cx.err(
                r,
                "no Slack API URL nor App token set either inline or in a file",
            ));
        };
        slack_configs.push(slack(cx, s, g)?);
    }

    let mut email_configs = Vec::new();
    for e in raw.email_configs.iter().flatten() {
        let e = e.as_ref().ok_or_else(|| missing("email"))?;
        email_configs.push(email(cx, e, g)?);
    }

    Ok(Receiver {
        name,
        webhook_configs,
        pagerduty_configs,
        slack_configs,
        email_configs,
    })
}

fn pagerduty(
    cx: &Ctx,
    p: &Spanned<RawPagerDutyConfig>,
    g: &GlobalConfig,
    http_config: HttpConfig,
) -> Result<PagerDutyConfig, ConfigError> {
    let v = &p.value;
    let set = |s: &Option<String>| s.as_deref().is_some_and(|s| !s.is_empty());
    if !set(&v.routing_key)
        && !set(&v.service_key)
        && !set(&v.routing_key_file)
        && !set(&v.service_key_file)
    {
        return Err(cx.err(p, "missing service or routing key in PagerDuty config"));
    }
    if set(&v.routing_key) && set(&v.routing_key_file) {
        return Err(cx.err(
            p,
            "at most one of routing_key & routing_key_file must be configured",
        ));
    }
    if set(&v.service_key) && set(&v.service_key_file) {
        return Err(cx.err(
            p,
            "at most one of service_key & service_key_file must be configured",
        ));
    }
    let mut details = v.details.clone().unwrap_or_default();
    for (k, d) in defaults::PD_DETAILS {
        details
            .entry(k.to_string())
            .or_insert_with(|| d.to_string());
    }
    let client = opt(&v.client, defaults::PD_CLIENT);
    Ok(PagerDutyConfig {
        send_resolved: v.send_resolved.unwrap_or(true),
        http_config,
        routing_key: SecretSource::pick(v.routing_key.as_deref(), v.routing_key_file.as_deref()),
        service_key: SecretSource::pick(v.service_key.as_deref(), v.service_key_file.as_deref()),
        url: match &v.url {
            Some(u) => url_value(cx, u, "url")?,
            None => g.pagerduty_url.clone(),
        },
        source: v
            .source
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| client.clone()),
        client,
        client_url: opt(&v.client_url, defaults::PD_CLIENT_URL),
        description: opt(&v.description, defaults::PD_DESCRIPTION),
        details,
        images: v
            .images
            .iter()
            .flatten()
            .map(|i| PagerDutyImage {
                src: i.src.clone().unwrap_or_default(),
                alt: i.alt.clone().unwrap_or_default(),
                href: i.href.clone().unwrap_or_default(),
            })
            .collect(),
        links: v
            .links
            .iter()
            .flatten()
            .map(|l| PagerDutyLink {
                href: l.href.clone().unwrap_or_default(),
                text: l.text.clone().unwrap_or_default(),
            })
            .collect(),
        severity: v
            .severity
            .clone()
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "error".into()),
        class: v.class.clone().unwrap_or_default(),
        component: v.component.clone().unwrap_or_default(),
        group: v.group.clone().unwrap_or_default(),
    })
}

fn slack(
    cx: &Ctx,
    s: &Spanned<RawSlackConfig>,
    g: &GlobalConfig,
) -> Result<SlackConfig, ConfigError> {
    let v = &s.value;
    if v.api_url.is_some() && v.api_url_file.is_some() {
        return Err(cx.err(
            s,
            "at most one of api_url & api_url_file must be configured",
        ));
    }
    if v.app_token.is_some() && v.app_token_file.is_some() {
        return Err(cx.err(
            s,
            "at most one of app_token & app_token_file must be configured",
        ));
    }
    let mut fields = Vec::new();
    for f in v.fields.iter().flatten() {
        let title = f.value.title.clone().unwrap_or_default();
        let value = f.value.value.clone().unwrap_or_default();
        if title.is_empty() {
            return Err(cx.err(f, "missing title in Slack field configuration"));
        }
        if value.is_empty() {
            return Err(cx.err(f, "missing value in Slack field configuration"));
        }
        fields.push(SlackField {
            title,
            value,
            short: f.value.short,
        });
    }
    let mut actions = Vec::new();
    for a in v.actions.iter().flatten() {
        let r = &a.value;
        let text = r.text.clone().unwrap_or_default();
        let type_ = r.type_.clone().unwrap_or_default();
        let (url, name) = (
            r.url.clone().unwrap_or_default(),
            r.name.clone().unwrap_or_default(),
        );
        if type_.is_empty() {
            return Err(cx.err(a, "missing type in Slack action configuration"));
        }
        if text.is_empty() {
            return Err(cx.err(a, "missing text in Slack action configuration"));
        }
        if url.is_empty() && name.is_empty() {
            return Err(cx.err(a, "missing name or url in Slack action configuration"));
        }
        let confirm = match &r.confirm {
            Some(c) if c.text.as_deref().unwrap_or("").is_empty() => {
                return Err(cx.err(a, "missing text in Slack confirmation configuration"))
            }
            Some(c) => Some(SlackConfirm {
                title: c.title.clone().unwrap_or_default(),
                text: c.text.clone().unwrap_or_default(),
                ok_text: c.ok_text.clone().unwrap_or_default(),
                dismiss_text: c.dismiss_text.clone().unwrap_or_default(),
            }),
            None => None,
        };
        actions.push(SlackAction {
            type_,
            text,
            url,
            style: r.style.clone().unwrap_or_default(),
            name,
            value: r.value.clone().unwrap_or_default(),
            confirm,
        });
    }
    let app_url = match &v.app_url {
        Some(u) => url_value(cx, u, "app_url")?,
        None => g.slack_app_url.clone(),
    };
    let mut http_config = match &v.http_config {
        Some(h) => http_config(cx, h)?,
        None => g.http_config.clone(),
    };
    let local_auth = v.http_config.as_ref().is_some_and(|h| {
        h.value.authorization.is_some()
            || h.value.bearer_token.is_some()
            || h.value.bearer_token_file.is_some()
    });
    let mut app_token = SecretSource::pick(v.app_token.as_deref(), v.app_token_file.as_deref());
    let mut api_url = match &v.api_url {
        Some(u) => Some(SecretSource::Inline(Secret::new(url_value(
            cx, u, "api_url",
        )?))),
        None => SecretSource::pick(None, v.api_url_file.as_deref()),
    };
    if app_token.is_none() && !local_auth && v.api_url.is_none() {
        app_token = g.slack_app_token.clone();
    }
    if api_url.is_none() {
        api_url = g.slack_api_url.clone();
    }
    if api_url.is_none() && app_token.is_none() {
        return Err(cx.err(
            s,
            "no Slack API URL nor App token set either inline or in a file",
        ));
    }
    if let Some(t) = &app_token {
        if local_auth {
            return Err(cx.err(
                s,
                "http authorization can't be set when using Slack App tokens",
            ));
        }
        http_config.authorization = Some(Authorization {
            scheme: "Bearer".into(),
            credentials: t.clone(),
        });
        api_url = Some(SecretSource::Inline(Secret::new(app_url.clone())));
    }
    let update_message = v.update_message.as_ref().is_some_and(|u| u.value);
    if let (true, Some(SecretSource::Inline(u))) = (update_message, &api_url) {
        if app_token.is_none() && !u.expose().ends_with("/api/chat.postMessage") {
            let at = v
                .update_message
                .as_ref()
                .map(|u| &u.referenced)
                .unwrap_or(&s.referenced);
            return Err(cx.at(
                at,
                "update_message can only be used with bot tokens. api_url must be set to https://slack.com/api/chat.postMessage",
            ));
        }
    }
    let Some(api_url) = api_url else {
        return Err(cx.err(
            s,
            "no Slack API URL nor App token set either inline or in a file",
        ));
    };
    Ok(SlackConfig {
        send_resolved: v.send_resolved.unwrap_or(false),
        http_config,
        api_url,
        app_token,
        app_url,
        update_message,
        channel: v.channel.clone().unwrap_or_default(),
        username: opt(&v.username, defaults::SLACK_USERNAME),
        color: opt(&v.color, defaults::SLACK_COLOR),
        title: opt(&v.title, defaults::SLACK_TITLE),
        title_link: opt(&v.title_link, defaults::SLACK_TITLE_LINK),
        pretext: opt(&v.pretext, defaults::SLACK_PRETEXT),
        text: opt(&v.text, defaults::SLACK_TEXT),
        fields,
        short_fields: v.short_fields.unwrap_or(false),
        footer: opt(&v.footer, defaults::SLACK_FOOTER),
        fallback: opt(&v.fallback, defaults::SLACK_FALLBACK),
        callback_id: opt(&v.callback_id, defaults::SLACK_CALLBACK_ID),
        icon_emoji: opt(&v.icon_emoji, defaults::SLACK_ICON_EMOJI),
        icon_url: opt(&v.icon_url, defaults::SLACK_ICON_URL),
        image_url: v.image_url.clone().unwrap_or_default(),
        thumb_url: v.thumb_url.clone().unwrap_or_default(),
        link_names: v.link_names.unwrap_or(false),
        mrkdwn_in: v
            .mrkdwn_in
            .clone()
            .unwrap_or_else(|| vec!["fallback".into(), "pretext".into(), "text".into()]),
        actions,
    })
}

/// Go's `strings.Title` on a header name: upper-case after non-letters.
fn title_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

fn email(
    cx: &Ctx,
    e: &Spanned<RawEmailConfig>,
    g: &GlobalConfig,
) -> Result<EmailConfig, ConfigError> {
    let v = &e.value;
    let to = v.to.clone().unwrap_or_default();
    if to.is_empty() {
        return Err(cx.err(e, "missing to address in email config"));
    }
    if v.auth_password.is_some() && v.auth_password_file.is_some() {
        return Err(cx.err(
            e,
            "at most one of auth_password & auth_password_file must be configured",
        ));
    }
    if v.auth_secret.is_some() && v.auth_secret_file.is_some() {
        return Err(cx.err(
            e,
            "at most one of auth_secret & auth_secret_file must be configured",
        ));
    }
    let mut headers = BTreeMap::new();
    for (k, val) in v.headers.iter().flatten() {
        let norm = title_case(k);
        if headers.insert(norm.clone(), val.clone()).is_some() {
            return Err(cx.err(e, format!("duplicate header {norm:?} in email config")));
        }
    }
    let smarthost = match &v.smarthost {
        Some(s) => host_port(cx, s)?,
        None => None,
    };
    let Some(smarthost) = smarthost.or_else(|| g.smtp_smarthost.clone()) else {
        return Err(cx.err(e, "no global SMTP smarthost set"));
    };
    let from = v
        .from
        .clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| g.smtp_from.clone());
    if from.is_empty() {
        return Err(cx.err(e, "no global SMTP from set"));
    }
    headers
        .entry("Subject".into())
        .or_insert_with(|| defaults::EMAIL_SUBJECT.to_string());
    headers.entry("To".into()).or_insert_with(|| to.clone());
    headers.entry("From".into()).or_insert_with(|| from.clone());
    let nonempty = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    Ok(EmailConfig {
        send_resolved: v.send_resolved.unwrap_or(false),
        to,
        from,
        hello: nonempty(&v.hello).unwrap_or_else(|| g.smtp_hello.clone()),
        smarthost,
        auth_username: nonempty(&v.auth_username).unwrap_or_else(|| g.smtp_auth_username.clone()),
        auth_password: SecretSource::pick(
            v.auth_password.as_deref(),
            v.auth_password_file.as_deref(),
        )
        .or_else(|| g.smtp_auth_password.clone()),
        auth_secret: SecretSource::pick(v.auth_secret.as_deref(), v.auth_secret_file.as_deref())
            .or_else(|| g.smtp_auth_secret.clone()),
        auth_identity: nonempty(&v.auth_identity).unwrap_or_else(|| g.smtp_auth_identity.clone()),
        headers,
        html: opt(&v.html, defaults::EMAIL_HTML),
        text: v.text.clone().unwrap_or_default(),
        require_tls: v.require_tls.unwrap_or(g.smtp_require_tls),
        tls: v
            .tls_config
            .as_ref()
            .map(tls)
            .unwrap_or_else(|| g.smtp_tls.clone()),
    })
}
