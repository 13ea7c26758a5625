//! HTTP endpoints of the dispatcher: the Alertmanager v2 subset that
//! Prometheus, amtool and Grafana use, Watchfire's own escalation and ack
//! endpoints, and the web page's form.
//!
//! - `GET|POST /api/v2/alerts`, `GET /api/v2/alerts/groups`,
//!   `GET|POST /api/v2/silences`, `GET|DELETE /api/v2/silence/{id}`,
//!   `GET /api/v2/status`, `GET /api/v2/receivers`;
//! - `GET /api/watchfire/v1/escalations`, `POST /api/watchfire/v1/ack`,
//!   `GET /api/watchfire/v1/dead-letters`;
//! - `GET /` (the page), `POST /ui/ack` (its Ack button).
//!
//! Writes (POST, DELETE) need `Authorization: Bearer <token>` when a token
//! is configured. Bodies are capped by the server's body limit. Every
//! error is a 4xx/5xx with a JSON body `{"error": "..."}`.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, RawQuery, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use parking_lot::RwLock;
use serde::Deserialize;
use watchfire_alertmodel::parse::parse_matcher;
use watchfire_alertmodel::{LabelSet, Matcher};
use watchfire_dispatch::{AlertView, MatcherRecord, SilenceSpec};

use super::service::{DispatchService, ServiceError};
use super::ui;
use crate::amapi::decode::decode_alerts;
use crate::amapi::wire::{
    format_time, AlertGroupJson, AlertStatusJson, ErrorBody, GettableAlert, GettableSilence,
    PostableSilence, ReceiverName,
};

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    pub service: DispatchService,
    /// The bearer token writes need, if any.
    pub token: Option<Arc<str>>,
    /// The loaded alertmanager.yml text and receiver names (for status and
    /// receivers); replaced on reload.
    pub config: Arc<RwLock<LoadedConfig>>,
    pub started_at: i64,
    /// Slack signing secret, for the interactive buttons.
    pub slack_secret: Option<Arc<str>>,
    /// PagerDuty webhook secret, for acks from PagerDuty.
    pub pagerduty_secret: Option<Arc<str>>,
}

/// The parts of the loaded config the API reports.
#[derive(Debug, Clone, Default)]
pub struct LoadedConfig {
    pub original: String,
    pub receivers: Vec<String>,
    /// Steps per escalation policy (for the page).
    pub policy_steps: BTreeMap<String, u32>,
}

/// The dispatcher's routes, to merge into the server's router.
pub fn routes(state: ApiState) -> Router {
    Router::new()
        .route("/api/v2/alerts", get(get_alerts).post(post_alerts))
        .route("/api/v2/alerts/groups", get(get_groups))
        .route("/api/v2/silences", get(get_silences).post(post_silence))
        .route(
            "/api/v2/silence/{id}",
            get(get_silence).delete(delete_silence),
        )
        .route("/api/v2/status", get(get_status))
        .route("/api/v2/receivers", get(get_receivers))
        .route("/api/watchfire/v1/escalations", get(get_escalations))
        .route("/api/watchfire/v1/ack", post(post_ack))
        .route("/api/watchfire/v1/dead-letters", get(get_dead_letters))
        .route("/", get(page))
        .route("/ui/ack", post(ui_ack))
        .route(
            "/api/watchfire/v1/slack/actions",
            post(super::inbound::slack_actions),
        )
        .route(
            "/api/watchfire/v1/pagerduty/webhook",
            post(super::inbound::pagerduty_webhook),
        )
        .with_state(state)
}

/// An API error: status and message, rendered as JSON.
pub struct ApiError(pub StatusCode, pub String);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.0, Json(ErrorBody { error: self.1 })).into_response()
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Persist(m) => ApiError(StatusCode::SERVICE_UNAVAILABLE, m.to_string()),
            ServiceError::Dispatch(d) => {
                let msg = d.to_string();
                let code = if msg.contains("not found") || msg.contains("no escalation") {
                    StatusCode::NOT_FOUND
                } else {
                    StatusCode::BAD_REQUEST
                };
                ApiError(code, msg)
            }
        }
    }
}

/// A request body whose rejection (over `server.max_request_bytes`: 413,
/// unreadable: 400) is a JSON [`ApiError`] like every other error here;
/// axum's own `Bytes` rejection is plain text.
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Bytes::from_request(req, state)
            .await
            .map(Body)
            .map_err(|e| ApiError(e.status(), e.body_text()))
    }
}

pub fn bad(msg: impl Into<String>) -> ApiError {
    ApiError(StatusCode::BAD_REQUEST, msg.into())
}

/// Constant-time comparison, so the token cannot be guessed by timing.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Checks the bearer token on a write.
pub fn authorize(st: &ApiState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(want) = &st.token else {
        return Ok(());
    };
    let got = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    match got {
        Some(t) if same(t.trim().as_bytes(), want.as_bytes()) => Ok(()),
        Some(_) => Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "invalid bearer token".into(),
        )),
        None => Err(ApiError(
            StatusCode::UNAUTHORIZED,
            "this endpoint needs Authorization: Bearer <token>".into(),
        )),
    }
}

fn json_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| bad(format!("invalid JSON body: {e}")))
}

async fn post_alerts(
    State(st): State<ApiState>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    authorize(&st, &headers)?;
    let arriving = st.service.arriving();
    let alerts = decode_alerts(&body).map_err(|e| bad(e.to_string()))?;
    let report = st.service.receive(alerts, Some(arriving)).await?;
    if !report.errors.is_empty() {
        return Err(bad(report.message()));
    }
    Ok(StatusCode::OK.into_response())
}

/// Query parameters as (name, value) pairs (repeated names kept).
fn query_pairs(q: &Option<String>) -> Vec<(String, String)> {
    q.as_deref()
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The filters `GET /api/v2/alerts` and `/alerts/groups` take.
struct AlertFilter {
    matchers: Vec<Matcher>,
    active: bool,
    silenced: bool,
    inhibited: bool,
    unprocessed: bool,
    receiver: Option<regex::Regex>,
}

fn flag(v: &str, name: &str) -> Result<bool, ApiError> {
    match v {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(bad(format!("{name}: want true or false, got {v:?}"))),
    }
}

fn alert_filter(q: &Option<String>) -> Result<AlertFilter, ApiError> {
    let mut f = AlertFilter {
        matchers: Vec::new(),
        active: true,
        silenced: true,
        inhibited: true,
        unprocessed: true,
        receiver: None,
    };
    for (k, v) in query_pairs(q) {
        match k.as_str() {
            "filter" => f
                .matchers
                .push(parse_matcher(&v).map_err(|e| bad(format!("filter {v:?}: {e}")))?),
            "active" => f.active = flag(&v, "active")?,
            "silenced" => f.silenced = flag(&v, "silenced")?,
            "inhibited" => f.inhibited = flag(&v, "inhibited")?,
            "unprocessed" => f.unprocessed = flag(&v, "unprocessed")?,
            "receiver" if !v.is_empty() => {
                f.receiver = Some(
                    regex::Regex::new(&format!("^(?:{v})$"))
                        .map_err(|e| bad(format!("receiver: invalid regex: {e}")))?,
                )
            }
            _ => {}
        }
    }
    Ok(f)
}

impl AlertFilter {
    fn keep(&self, v: &AlertView) -> bool {
        if let Some(re) = &self.receiver {
            if !v.receivers.iter().any(|r| re.is_match(r)) {
                return false;
            }
        }
        self.keep_state(v)
    }

    /// The matcher and state filters (not the receiver one).
    fn keep_state(&self, v: &AlertView) -> bool {
        if !self
            .matchers
            .iter()
            .all(|m| m.matches_labels(&v.alert.labels))
        {
            return false;
        }
        match v.state {
            watchfire_dispatch::AlertState::Active => self.active,
            watchfire_dispatch::AlertState::Unprocessed => self.unprocessed,
            watchfire_dispatch::AlertState::Suppressed => {
                (self.silenced || v.silenced_by.is_empty())
                    && (self.inhibited || v.inhibited_by.is_empty())
            }
        }
    }
}

fn gettable(v: &AlertView) -> GettableAlert {
    GettableAlert::new(
        &v.alert,
        v.receivers.clone(),
        AlertStatusJson {
            state: v.state.as_str(),
            silenced_by: v.silenced_by.clone(),
            inhibited_by: v.inhibited_by.clone(),
        },
    )
}

async fn get_alerts(
    State(st): State<ApiState>,
    RawQuery(q): RawQuery,
) -> Result<Json<Vec<GettableAlert>>, ApiError> {
    let f = alert_filter(&q)?;
    let views = st.service.read(|c, now| c.alerts(now));
    Ok(Json(
        views.iter().filter(|v| f.keep(v)).map(gettable).collect(),
    ))
}

async fn get_groups(
    State(st): State<ApiState>,
    RawQuery(q): RawQuery,
) -> Result<Json<Vec<AlertGroupJson>>, ApiError> {
    let f = alert_filter(&q)?;
    let groups = st.service.read(|c, now| c.alert_groups(now));
    let out = groups
        .into_iter()
        .filter(|g| {
            f.receiver
                .as_ref()
                .is_none_or(|re| re.is_match(&g.receiver))
        })
        .filter_map(|g| {
            let alerts: Vec<GettableAlert> = g
                .alerts
                .iter()
                .filter(|v| f.keep_state(v))
                .map(gettable)
                .collect();
            (!alerts.is_empty()).then_some(AlertGroupJson {
                labels: g.labels,
                receiver: ReceiverName { name: g.receiver },
                alerts,
            })
        })
        .collect();
    Ok(Json(out))
}

async fn get_silences(
    State(st): State<ApiState>,
    RawQuery(q): RawQuery,
) -> Result<Json<Vec<GettableSilence>>, ApiError> {
    let mut matchers = Vec::new();
    for (k, v) in query_pairs(&q) {
        if k == "filter" {
            matchers.push(parse_matcher(&v).map_err(|e| bad(format!("filter {v:?}: {e}")))?);
        }
    }
    let (views, now) = st.service.read(|c, now| (c.silences(now), now));
    let out = views
        .iter()
        .filter(|v| {
            // A silence passes a filter when one of its matchers has the
            // filter's name and a value the filter matches (Alertmanager's
            // `silenceMatchesFilterLabels`).
            matchers.iter().all(|f| {
                v.silence
                    .matchers
                    .iter()
                    .any(|m| m.name() == f.name() && f.matches(m.value()))
            })
        })
        .map(|v| GettableSilence::new(&v.silence, now))
        .collect();
    Ok(Json(out))
}

async fn post_silence(
    State(st): State<ApiState>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&st, &headers)?;
    let p: PostableSilence = json_body(&body)?;
    let starts_at = crate::amapi::wire::parse_time("startsAt", Some(&p.starts_at))
        .map_err(|e| bad(e.to_string()))?;
    let ends_at = crate::amapi::wire::parse_time("endsAt", Some(&p.ends_at))
        .map_err(|e| bad(e.to_string()))?;
    let spec = SilenceSpec {
        id: p.id.filter(|s| !s.is_empty()),
        matchers: p
            .matchers
            .iter()
            .map(|m| MatcherRecord {
                name: m.name.clone(),
                op: m.op().as_str().to_string(),
                value: m.value.clone(),
            })
            .collect(),
        starts_at,
        ends_at,
        created_by: p.created_by,
        comment: p.comment,
    };
    let id = st.service.set_silence(spec).await?;
    Ok(Json(serde_json::json!({ "silenceID": id })))
}

async fn get_silence(
    State(st): State<ApiState>,
    Path(id): Path<String>,
) -> Result<Json<GettableSilence>, ApiError> {
    let (v, now) = st.service.read(|c, now| (c.silence(&id, now), now));
    match v {
        Some(v) => Ok(Json(GettableSilence::new(&v.silence, now))),
        None => Err(ApiError(
            StatusCode::NOT_FOUND,
            format!("silence {id} not found"),
        )),
    }
}

async fn delete_silence(
    State(st): State<ApiState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    authorize(&st, &headers)?;
    st.service.expire_silence(&id).await?;
    Ok(StatusCode::OK)
}

async fn get_status(State(st): State<ApiState>) -> Json<serde_json::Value> {
    let now = st.service.now();
    let original = st.config.read().original.clone();
    Json(serde_json::json!({
        "cluster": { "name": "", "status": "disabled", "peers": [] },
        "versionInfo": {
            "branch": "", "buildDate": "", "buildUser": "", "goVersion": "",
            "revision": "", "version": concat!("watchfire-", env!("CARGO_PKG_VERSION")),
        },
        "config": { "original": original },
        "uptime": format_time(st.started_at),
        "now": format_time(now),
    }))
}

async fn get_receivers(State(st): State<ApiState>) -> Json<Vec<ReceiverName>> {
    let names = st.config.read().receivers.clone();
    Json(
        names
            .into_iter()
            .map(|name| ReceiverName { name })
            .collect(),
    )
}

async fn get_escalations(State(st): State<ApiState>) -> Json<serde_json::Value> {
    let escs = st.service.read(|c, _| c.escalations());
    Json(serde_json::to_value(escs).unwrap_or_default())
}

async fn get_dead_letters(State(st): State<ApiState>) -> Json<serde_json::Value> {
    let dead = st.service.read(|c, _| c.dead_letters());
    Json(serde_json::to_value(dead).unwrap_or_default())
}

/// `POST /api/watchfire/v1/ack` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AckBody {
    /// The aggregation group's key.
    group_key: String,
    /// Who acknowledges (shown in Slack and on the page).
    #[serde(default)]
    by: Option<String>,
}

async fn post_ack(
    State(st): State<ApiState>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Json<serde_json::Value>, ApiError> {
    authorize(&st, &headers)?;
    let b: AckBody = json_body(&body)?;
    let by =
        b.by.filter(|s| !s.is_empty())
            .unwrap_or_else(|| "api".into());
    let changed = st.service.ack(&b.group_key, &by).await?;
    Ok(Json(
        serde_json::json!({ "acknowledged": true, "changed": changed }),
    ))
}

/// The page's data, from the core.
pub fn page_data(st: &ApiState, flash: Option<String>) -> ui::Page {
    let policies = st.config.read().policy_steps.clone();
    st.service.read(|c, now| {
        let groups = c
            .alert_groups(now)
            .into_iter()
            .filter_map(|g| {
                let alerts: Vec<ui::AlertRow> = g
                    .alerts
                    .iter()
                    .filter(|v| !v.alert.resolved_at(now))
                    .map(|v| ui::AlertRow {
                        labels: v.alert.labels.clone(),
                        summary: v
                            .alert
                            .annotations
                            .get("summary")
                            .unwrap_or_default()
                            .to_string(),
                        starts_at: v.alert.starts_at,
                        state: v.state.as_str().to_string(),
                    })
                    .collect();
                if alerts.is_empty() {
                    return None;
                }
                let escalation = g.escalation.as_ref().map(|e| {
                    let last = e.fired.last();
                    ui::EscalationView {
                        policy: e.policy.clone(),
                        step: last.map(|f| f.step + 1).unwrap_or(0),
                        steps: policies.get(&e.policy).copied().unwrap_or(0),
                        round: last.map(|f| f.round).unwrap_or(0),
                        next_at: e.next_at,
                        acked_by: e.acked.as_ref().map(|a| a.by.clone()),
                    }
                });
                Some(ui::GroupView {
                    group_key: g.group_key,
                    receiver: g.receiver,
                    group_labels: g.labels,
                    alerts,
                    escalation,
                })
            })
            .collect();
        ui::Page {
            groups,
            token_required: st.token.is_some(),
            flash,
        }
    })
}

async fn page(State(st): State<ApiState>, RawQuery(q): RawQuery) -> Html<String> {
    let flash = query_pairs(&q)
        .into_iter()
        .find(|(k, _)| k == "flash")
        .map(|(_, v)| v.chars().take(200).collect());
    Html(ui::render(&page_data(&st, flash)))
}

async fn ui_ack(State(st): State<ApiState>, Body(body): Body) -> Response {
    let form: LabelSet = form_urlencoded::parse(&body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let flash = |m: &str| {
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("flash", m)
            .finish();
        Redirect::to(&format!("/?{q}")).into_response()
    };
    if let Some(want) = &st.token {
        let got = form.get("token").unwrap_or("");
        if !same(got.as_bytes(), want.as_bytes()) {
            return flash("Not acknowledged: wrong API token.");
        }
    }
    let Some(key) = form.get("group_key") else {
        return flash("Not acknowledged: no group given.");
    };
    match st.service.ack(key, "web page").await {
        Ok(_) => flash("Acknowledged: the escalation stopped."),
        Err(e) => flash(&format!("Not acknowledged: {}", ApiError::from(e).1)),
    }
}
