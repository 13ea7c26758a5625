//! End-to-end tests of the `watchfire` binary against its real peers.
//!
//! Every test here runs real processes: the `watchfire` binary cargo built
//! for this test run, and Debian's `promtool` and `prometheus`. Each test
//! starts its own processes on free loopback ports in its own temporary
//! folder and kills them when it ends (see [`harness::Proc`]). A missing
//! peer binary fails the test with a message naming it; nothing is skipped.
//!
//! - [`promtool_compare`]: `watchfire check-rules` / `test-rules` against
//!   `promtool check rules` / `test rules` on the upstream fixtures and on
//!   the shipped `rules/`.
//! - [`reload`]: hot reload keeps the old rules on a bad file; SIGHUP,
//!   `POST /-/reload` and config errors with `file:line:col`.
//! - [`crash`]: alert state (`activeAt`, `for` progress) survives `kill -9`.
//! - [`prometheus_interop`]: a real Prometheus remote-writes to the router.
//! - [`amtool`]: the real `amtool` and `prometheus` against the router's
//!   Alertmanager v2 API.
//! - [`web_page`]: the alert page in headless Chromium; Ack stops the
//!   escalation.
//! - [`dispatch_api`]: bad input to the dispatch API gets a 4xx with a
//!   reason; signed Slack/PagerDuty acks; a hanging receiver; and
//!   `watchfire routes test|show` against `amtool config routes`.
//! - [`dispatch_diff`]: the same config and timed stream of 356 alerts to
//!   the real Alertmanager 0.25 and to the router; the webhook
//!   notifications must match group for group.
//! - [`dispatch_crash`]: 200 escalation lifecycles with 5 `kill -9`s of the
//!   router: no lost, duplicate or late page, no lost resolve.
//! - [`content`]: the shipped `rules/` (labels, annotations, runbooks),
//!   `dashboards/` (every query parses and names emitted metrics) and
//!   `deploy/` (Kubernetes schemas, mounted configs pass `check-config`).

#![forbid(unsafe_code)]

#[path = "e2e/agent.rs"]
mod agent;
#[path = "e2e/amtool.rs"]
mod amtool;
#[path = "e2e/content.rs"]
mod content;
#[path = "e2e/crash.rs"]
mod crash;
#[path = "e2e/dispatch_api.rs"]
mod dispatch_api;
#[path = "e2e/dispatch_crash.rs"]
mod dispatch_crash;
#[path = "e2e/dispatch_diff.rs"]
mod dispatch_diff;
#[path = "e2e/harness.rs"]
mod harness;
#[path = "e2e/logs_chaos.rs"]
mod logs_chaos;
#[path = "e2e/prometheus_interop.rs"]
mod prometheus_interop;
#[path = "e2e/promtool_compare.rs"]
mod promtool_compare;
#[path = "e2e/reload.rs"]
mod reload;
#[path = "e2e/web_page.rs"]
mod web_page;
#[path = "e2e/webdriver.rs"]
mod webdriver;
