//! From a validated `alertmanager.yml` ([`watchfire_amconfig::Config`]) to
//! what the dispatch core takes ([`DispatchConfig`]).
//!
//! Integrations are numbered per receiver in one fixed order: webhook,
//! email, PagerDuty, Slack configs, each in file order. The core keys its
//! notification log by that index and the deliverer resolves it back to
//! the integration, so both sides must use [`integrations`].

use std::collections::BTreeMap;
use std::sync::Arc;

use watchfire_amconfig::{Config as AmConfig, Receiver};
use watchfire_dispatch::{DispatchConfig, EscalationPolicy, Step};

/// One integration of a receiver, in the fixed order.
#[derive(Debug, Clone, Copy)]
pub enum Integration<'a> {
    Webhook(&'a watchfire_amconfig::WebhookConfig),
    Email(&'a watchfire_amconfig::EmailConfig),
    PagerDuty(&'a watchfire_amconfig::PagerDutyConfig),
    Slack(&'a watchfire_amconfig::SlackConfig),
}

impl Integration<'_> {
    /// The integration's name in metrics and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Integration::Webhook(_) => "webhook",
            Integration::Email(_) => "email",
            Integration::PagerDuty(_) => "pagerduty",
            Integration::Slack(_) => "slack",
        }
    }

    pub fn send_resolved(&self) -> bool {
        match self {
            Integration::Webhook(c) => c.send_resolved,
            Integration::Email(c) => c.send_resolved,
            Integration::PagerDuty(c) => c.send_resolved,
            Integration::Slack(c) => c.send_resolved,
        }
    }
}

/// A receiver's integrations in the order the core indexes them.
pub fn integrations(r: &Receiver) -> Vec<Integration<'_>> {
    let mut v = Vec::new();
    v.extend(r.webhook_configs.iter().map(Integration::Webhook));
    v.extend(r.email_configs.iter().map(Integration::Email));
    v.extend(r.pagerduty_configs.iter().map(Integration::PagerDuty));
    v.extend(r.slack_configs.iter().map(Integration::Slack));
    v
}

/// The core's configuration.
pub fn dispatch_config(am: &AmConfig, external_url: &str) -> DispatchConfig {
    let mut cfg = DispatchConfig::new(
        Arc::new(am.route.clone()),
        Arc::new(am.time_intervals.clone()),
    );
    cfg.inhibit_rules = am.inhibit_rules.clone();
    cfg.policies = am
        .escalation_policies
        .iter()
        .map(|p| EscalationPolicy {
            name: p.name.clone(),
            steps: p
                .steps
                .iter()
                .map(|s| Step {
                    after_ms: s.after_ms,
                    receivers: s.notify.clone(),
                })
                .collect(),
            repeat: p.repeat,
        })
        .collect();
    cfg.receivers = am
        .receivers
        .iter()
        .map(|r| {
            (
                r.name.clone(),
                integrations(r).iter().map(|i| i.send_resolved()).collect(),
            )
        })
        .collect::<BTreeMap<_, _>>();
    cfg.resolve_timeout = am.global.resolve_timeout_ms;
    cfg.external_url = external_url.to_string();
    cfg
}

/// The built-in configuration used when none is given: everything goes to
/// one receiver with no integrations (grouped, listed, not sent).
pub const DEFAULT_AM_CONFIG: &str = "\
route:
  receiver: default
  group_by: [alertname]
receivers:
  - name: default
";
