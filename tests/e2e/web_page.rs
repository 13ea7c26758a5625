//! The router's web page in a real browser (headless Debian `chromium`
//! driven by `chromedriver`, see [`crate::webdriver`]).
//!
//! The page is plain server-rendered HTML: it lists firing alerts by
//! group with the escalation step and an Ack form. The test:
//!
//! 1. posts an alert routed to an escalation policy (step 1 at 0 s to the
//!    `first` webhook, step 2 at [`STEP2_SECS`] to `second`);
//! 2. opens the page, checks it lists the alert, its group and the step;
//! 3. tries Ack with a wrong token (refused, nothing acked), then with
//!    the right one, and sees "acknowledged by web page", also in
//!    `GET /api/watchfire/v1/escalations`;
//! 4. posts a control alert in another group that nobody acks, waits for
//!    its second step to reach `second` (so the acked group's step 2 is
//!    overdue by then), and checks `second` never got the acked group.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use watchfire_notifiers::testing::{webhook, FakeState};

use crate::harness::{get_text, http, poll, Router};
use crate::webdriver::Browser;

const TOKEN: &str = "page-token-42";

/// Delay of the second escalation step: long enough for the browser to
/// ack on a busy machine, short enough to wait out.
const STEP2_SECS: u64 = 10;

fn am_yml(first: &str, second: &str) -> String {
    format!(
        "\
route:
  receiver: first
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1m
  repeat_interval: 1h
  routes:
    - matchers: [severity=\"critical\"]
      escalation_policy: page
receivers:
  - name: first
    webhook_configs: [{{url: \"{first}/hook\"}}]
  - name: second
    webhook_configs: [{{url: \"{second}/hook\"}}]
escalation_policies:
  - name: page
    steps:
      - after: 0s
        notify: [first]
      - after: {STEP2_SECS}s
        notify: [second]
"
    )
}

fn post_alert(r: &Router, name: &str) {
    let resp = http()
        .post(r.url("/api/v2/alerts"))
        .bearer_auth(TOKEN)
        .json(&json!([{
            "labels": {"alertname": name, "severity": "critical", "instance": "db1"},
            "annotations": {"summary": format!("{name} on db1")}
        }]))
        .send()
        .expect("POST /api/v2/alerts");
    assert_eq!(resp.status().as_u16(), 200, "{:?}", resp.text());
}

fn escalations(r: &Router) -> Vec<Value> {
    let body = get_text(&http(), &r.url("/api/watchfire/v1/escalations"))
        .expect("GET /api/watchfire/v1/escalations");
    serde_json::from_str::<Value>(&body)
        .expect("escalations JSON")
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn escalation_of(r: &Router, alertname: &str) -> Option<Value> {
    let needle = format!("alertname=\"{alertname}\"");
    escalations(r)
        .into_iter()
        .find(|e| e["group_key"].as_str().is_some_and(|k| k.contains(&needle)))
}

/// The alert names in the payloads a fake webhook accepted.
fn paged_names(fake: &FakeState) -> Vec<String> {
    fake.accepted()
        .iter()
        .flat_map(|r| {
            r.json()["alerts"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|a| a["labels"]["alertname"].as_str().map(str::to_string))
        })
        .collect()
}

/// Waits (a form post navigates) until the browser's page has every
/// `present` string and none of `absent`; panics with the page if not.
fn check_page(browser: &Browser, present: &[&str], absent: &[&str]) {
    let ok = |html: &str| {
        present.iter().all(|s| html.contains(s)) && !absent.iter().any(|s| html.contains(s))
    };
    if poll(Duration::from_secs(10), || {
        ok(&browser.source()).then_some(())
    })
    .is_some()
    {
        return;
    }
    let html = browser.source();
    for s in present {
        assert!(html.contains(s), "page lacks {s:?}:\n{html}");
    }
    for s in absent {
        assert!(!html.contains(s), "page has {s:?}:\n{html}");
    }
}

#[test]
fn web_page_ack_stops_the_escalation() {
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let first = rt.block_on(webhook::start()).expect("first webhook fake");
    let second = rt.block_on(webhook::start()).expect("second webhook fake");
    let (first_state, second_state): (Arc<FakeState>, Arc<FakeState>) =
        (first.state.clone(), second.state.clone());
    let mut r = Router::new(&[], "1s", "0s")
        .with_dispatch(&am_yml(&first.base_url(), &second.base_url()), Some(TOKEN));
    r.start();
    // The browser first: it is the slow part to start.
    let browser = Browser::start(r.dir.path());
    browser.goto(&r.url("/"));
    check_page(&browser, &["No firing alerts"], &["DiskFull"]);

    post_alert(&r, "DiskFull");
    // Step 1 fires at the group's first flush (group_wait 1 s).
    r.wait_for("DiskFull paged to `first`", Duration::from_secs(20), |_| {
        paged_names(&first_state)
            .iter()
            .any(|n| n == "DiskFull")
            .then_some(())
    });
    let esc = r.wait_for("the DiskFull escalation", Duration::from_secs(10), |r| {
        escalation_of(r, "DiskFull")
    });
    assert!(esc["acked"].is_null(), "{esc}");
    assert_eq!(esc["policy"], "page", "{esc}");

    browser.goto(&r.url("/"));
    check_page(
        &browser,
        &[
            "DiskFull on db1",
            "{alertname=\"DiskFull\"} → first",
            "escalation <b>page</b>: step 1 of 2",
            "next step at",
            "id=\"ack-0\"",
            "type=\"password\"",
        ],
        &["<script", "acknowledged by"],
    );

    // A wrong token is refused and acks nothing.
    browser.type_into("input[name=token]", "not-the-token");
    browser.click("#ack-0");
    check_page(
        &browser,
        &["Not acknowledged: wrong API token.", "id=\"ack-0\""],
        &["acknowledged by web page"],
    );
    assert!(escalation_of(&r, "DiskFull").expect("escalation")["acked"].is_null());

    browser.type_into("input[name=token]", TOKEN);
    browser.click("#ack-0");
    check_page(
        &browser,
        &[
            "Acknowledged: the escalation stopped.",
            "acknowledged by web page",
        ],
        &["id=\"ack-0\""],
    );
    let esc = escalation_of(&r, "DiskFull").expect("escalation after ack");
    assert_eq!(esc["acked"]["by"], "web page", "{esc}");
    assert!(
        esc["next_at"].is_null(),
        "acked escalation still scheduled: {esc}"
    );

    // Control: an unacked group escalates to `second`. It started after
    // DiskFull's, so once its step 2 arrived DiskFull's was due too.
    post_alert(&r, "CpuHot");
    r.wait_for(
        "CpuHot's step 2 on `second`",
        Duration::from_secs(STEP2_SECS + 30),
        |_| {
            paged_names(&second_state)
                .iter()
                .any(|n| n == "CpuHot")
                .then_some(())
        },
    );
    let second_names = paged_names(&second_state);
    assert!(
        !second_names.iter().any(|n| n == "DiskFull"),
        "the acked group was still escalated to `second`: {second_names:?}"
    );
    let esc = escalation_of(&r, "DiskFull").expect("escalation at the end");
    assert_eq!(esc["acked"]["by"], "web page", "{esc}");
    // The page still shows the ack after a reload.
    browser.goto(&r.url("/"));
    check_page(&browser, &["acknowledged by web page", "CpuHot"], &[]);
    drop(browser);
    drop((first, second));
}
