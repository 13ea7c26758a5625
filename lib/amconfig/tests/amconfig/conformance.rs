//! Runs every file of `shared/conformance/alertmanager/config_testdata/`
//! against the expectations in its `SOURCE.md` (Alertmanager's
//! `config_test.go`), plus `simple.yml` and the `cli_testdata` routing
//! table. Files that Alertmanager loads but that use an integration
//! Watchfire does not implement must fail with the "not supported" error.

use std::path::PathBuf;

use watchfire_alertmodel::LabelSet;
use watchfire_amconfig::{load_file, routes_test, ConfigError};

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/conformance/alertmanager")
}

/// What a file must do.
enum Expect {
    /// Loads.
    Ok,
    /// Fails with this Alertmanager message (a fragment of ours).
    Err(&'static str),
    /// Alertmanager loads it; we reject the named integration.
    Unsupported(&'static str),
    /// Alertmanager rejects it; so do we, as the integration is unsupported.
    ErrUnsupported(&'static str),
}
use Expect::*;

const FILES: &[(&str, Expect)] = &[
    ("conf.empty-fields.yml", Ok),
    ("conf.good.yml", Unsupported("victorops_configs")),
    ("conf.group-by-all.yml", Ok),
    ("conf.http-config.good.yml", Ok),
    ("conf.mattermost-both-webhook-url-and-file.yml", Err("at most one of mattermost_webhook_url & mattermost_webhook_url_file must be configured")),
    ("conf.mattermost-default-webhook-url-file.yml", Unsupported("mattermost_configs")),
    ("conf.mattermost-default-webhook-url.yml", Unsupported("mattermost_configs")),
    ("conf.mattermost-no-webhook-url.yml", ErrUnsupported("mattermost_configs")),
    ("conf.mattermost-valid-receiver-both-webhook-url-and-file.yml", Err("at most one of mattermost_webhook_url & mattermost_webhook_url_file must be configured")),
    ("conf.nil-match_re-route.yml", Err("invalid_label")),
    ("conf.nil-source_match_re-inhibition.yml", Err("invalid_source_label")),
    ("conf.nil-target_match_re-inhibition.yml", Err("invalid_target_label")),
    ("conf.opsgenie-both-file-and-apikey.yml", Err("at most one of opsgenie_api_key & opsgenie_api_key_file must be configured")),
    ("conf.opsgenie-default-apikey-file.yml", Unsupported("opsgenie_configs")),
    ("conf.opsgenie-default-apikey-old-team.yml", ErrUnsupported("opsgenie_configs")),
    ("conf.opsgenie-default-apikey.yml", Unsupported("opsgenie_configs")),
    ("conf.opsgenie-no-apikey.yml", ErrUnsupported("opsgenie_configs")),
    ("conf.rocketchat-both-token-and-tokenfile.yml", Err("at most one of rocketchat_token & rocketchat_token_file must be configured")),
    ("conf.rocketchat-both-tokenid-and-tokenidfile.yml", Err("at most one of rocketchat_token_id & rocketchat_token_id_file must be configured")),
    ("conf.rocketchat-default-token-file.yml", Unsupported("rocketchat_configs")),
    ("conf.rocketchat-default-token.yml", Unsupported("rocketchat_configs")),
    ("conf.rocketchat-no-token.yml", ErrUnsupported("rocketchat_configs")),
    ("conf.slack-both-file-and-token.yml", Err("at most one of slack_app_token & slack_app_token_file must be configured")),
    ("conf.slack-both-file-and-url.yml", Err("at most one of slack_api_url & slack_api_url_file must be configured")),
    ("conf.slack-both-url-and-token.yml", Err("at most one of slack_app_token/slack_app_token_file & slack_api_url/slack_api_url_file must be configured")),
    ("conf.slack-default-api-url-file.yml", Ok),
    ("conf.slack-default-app-token.yml", Ok),
    ("conf.slack-no-api-url-or-token.yml", Err("no Slack API URL nor App token set either inline or in a file")),
    ("conf.slack-update-message-and-webhook.yml", Err("update_message can only be used with bot tokens. api_url must be set to https://slack.com/api/chat.postMessage")),
    ("conf.smtp-both-password-and-file.yml", Err("at most one of smtp_auth_password & smtp_auth_password_file must be configured")),
    ("conf.smtp-no-username-or-password.yml", Ok),
    ("conf.smtp-password-global-and-local.yml", Ok),
    ("conf.sns-invalid.yml", ErrUnsupported("sns_configs")),
    ("conf.sns-topic-arn.yml", Unsupported("sns_configs")),
    ("conf.telegram-both-bot-token-and-file.yml", Err("at most one of telegram_bot_token & telegram_bot_token_file must be configured")),
    ("conf.telegram-default-bot-token-file.yml", Unsupported("telegram_configs")),
    ("conf.telegram-default-bot-token.yml", Unsupported("telegram_configs")),
    ("conf.telegram-no-bot-token.yml", ErrUnsupported("telegram_configs")),
    ("conf.telegram-valid-receiver-both-bot-token-and-file.yml", Err("at most one of telegram_bot_token & telegram_bot_token_file must be configured")),
    ("conf.victorops-both-file-and-apikey.yml", Err("at most one of victorops_api_key & victorops_api_key_file must be configured")),
    ("conf.victorops-default-apikey-file.yml", Unsupported("victorops_configs")),
    ("conf.victorops-default-apikey.yml", Unsupported("victorops_configs")),
    ("conf.victorops-no-apikey.yml", ErrUnsupported("victorops_configs")),
    ("conf.wechat-both-file-and-secret.yml", Err("at most one of wechat_api_secret & wechat_api_secret_file must be configured")),
    ("conf.wechat-default-api-secret-file.yml", Unsupported("wechat_configs")),
    ("conf.wechat-no-api-secret.yml", ErrUnsupported("wechat_configs")),
];

fn describe(r: &Result<watchfire_amconfig::Config, ConfigError>) -> String {
    match r {
        Result::Ok(_) => "loaded".to_string(),
        Result::Err(e) => e.to_string(),
    }
}

#[test]
fn config_testdata_matches_source_md() {
    let d = dir().join("config_testdata");
    let mut on_disk: Vec<String> = std::fs::read_dir(&d)
        .unwrap_or_else(|e| panic!("{}: {e}", d.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".yml"))
        .collect();
    on_disk.sort();
    let listed: Vec<String> = FILES.iter().map(|(n, _)| n.to_string()).collect();
    assert_eq!(on_disk, listed, "every file has exactly one expectation");

    let mut failures = Vec::new();
    println!("{:<62} {:<16} result", "file", "expected");
    for (file, expect) in FILES {
        let got = load_file(d.join(file));
        let (label, pass) = match (expect, &got) {
            (Ok, Result::Ok(_)) => ("load OK", true),
            (Err(frag), Result::Err(e)) => ("error", e.message().contains(frag)),
            (Unsupported(kind), Result::Err(ConfigError::Unsupported { kind: k, .. }))
            | (ErrUnsupported(kind), Result::Err(ConfigError::Unsupported { kind: k, .. })) => {
                ("unsupported", k == kind)
            }
            (Ok, _) => ("load OK", false),
            (Err(_), _) => ("error", false),
            (Unsupported(_), _) => ("unsupported", false),
            (ErrUnsupported(_), _) => ("error/unsupp.", false),
        };
        println!(
            "{:<62} {:<16} {} {}",
            file,
            label,
            if pass { "PASS" } else { "FAIL" },
            describe(&got)
        );
        if !pass {
            failures.push(format!("{file}: {}", describe(&got)));
        }
    }
    assert!(failures.is_empty(), "failures:\n{}", failures.join("\n"));
}

#[test]
fn simple_yml_loads() {
    let cfg = load_file(dir().join("simple.yml")).unwrap();
    assert_eq!(cfg.receivers.len(), 5);
    assert_eq!(cfg.inhibit_rules.len(), 1);
    let ls: LabelSet = [("service", "database"), ("owner", "team-X")]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    assert_eq!(routes_test(&cfg, &ls), ["team-X-pager"]);
}

#[test]
fn cli_routing_expectations() {
    let cases: &[(&str, &str, &[&str])] = &[
        ("conf.routing.yml", "1", &["test1"]),
        ("conf.routing.yml", "2", &["test1", "test2"]),
        ("conf.routing-reverted.yml", "2", &["test2", "test1"]),
        ("conf.routing.yml", "volovina", &["default"]),
    ];
    for (file, test, want) in cases {
        let cfg = load_file(dir().join("cli_testdata").join(file)).unwrap();
        let ls: LabelSet = [("test".to_string(), test.to_string())].into();
        assert_eq!(routes_test(&cfg, &ls), *want, "{file} test={test}");
    }
}
