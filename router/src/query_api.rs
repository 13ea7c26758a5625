//! The Prometheus HTTP query API over the router's store, so Grafana (a
//! Prometheus data source pointed at the router) and scripts can query
//! what the router holds:
//!
//! - `GET|POST /api/v1/query` (`query`, `time`),
//! - `GET|POST /api/v1/query_range` (`query`, `start`, `end`, `step`),
//! - `GET|POST /api/v1/series`, `/api/v1/labels`,
//!   `GET /api/v1/label/{name}/values` (`match[]`, `start`, `end`),
//! - `GET /api/v1/status/buildinfo` (Grafana asks for it).
//!
//! Parameters come from the query string and, for POST, from a
//! form-encoded body, as in Prometheus. Times are RFC 3339 or Unix
//! seconds; `step` is a duration (`15s`) or seconds. Answers use
//! Prometheus's JSON: `{"status":"success","data":{...},"warnings":[...]}`,
//! sample values as strings in Go's `'f', -1` form, and errors as
//! `{"status":"error","errorType":"bad_data"|"execution","error":...}`
//! with 400 or 422. Only the parameter handling and the JSON shape live
//! here; parsing and evaluation are `watchfire-promql`'s.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value as Json_};
use watchfire_promql::ast::Expr;
use watchfire_promql::eval::{Engine, EngineOptions, EvalError, QueryResult, Value};
use watchfire_promql::gofmt::format_float;
use watchfire_promql::storage::Series;
use watchfire_promql::{Labels, MatchOp, Matcher};

use crate::store::Store;

/// What the handlers share.
#[derive(Clone)]
pub struct QueryState {
    pub store: Arc<Store>,
    pub engine: Arc<Engine>,
    /// Wall clock in ms (the default `time` and `end`).
    pub now: Arc<dyn Fn() -> i64 + Send + Sync>,
}

/// The routes, with their state.
pub fn routes(st: QueryState) -> Router {
    Router::new()
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .with_state(st)
}

/// An engine with Prometheus's defaults (5 m lookback, 1 m subquery step).
pub fn default_engine() -> Engine {
    Engine::new(EngineOptions::default())
}

/// A failed request: the error type and message Prometheus would give.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    kind: &'static str,
    msg: String,
}

fn bad_data(msg: impl Into<String>) -> ApiError {
    ApiError {
        status: StatusCode::BAD_REQUEST,
        kind: "bad_data",
        msg: msg.into(),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"status": "error", "errorType": self.kind, "error": self.msg})),
        )
            .into_response()
    }
}

/// The request's parameters: query string, then a form body (POST).
struct Params(Vec<(String, String)>);

impl Params {
    fn read(method: &Method, raw: Option<&str>, content_type: Option<&str>, body: &[u8]) -> Params {
        let mut v: Vec<(String, String)> = form_urlencoded::parse(raw.unwrap_or("").as_bytes())
            .into_owned()
            .collect();
        let form = content_type.is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
        if method == Method::POST && form {
            v.extend(form_urlencoded::parse(body).into_owned());
        }
        Params(v)
    }

    fn get(&self, k: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
    }

    fn all<'a>(&'a self, k: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
}

/// A time parameter: Unix seconds (with fraction) or RFC 3339, in ms.
fn parse_time(name: &str, s: &str) -> Result<i64, ApiError> {
    if let Ok(f) = s.parse::<f64>() {
        if f.is_finite() {
            return Ok((f * 1000.0).round() as i64);
        }
    }
    watchfire_promql::civil::parse_rfc3339(s).ok_or_else(|| {
        bad_data(format!(
            "invalid parameter {name:?}: cannot parse {s:?} to a valid timestamp"
        ))
    })
}

fn time_or(p: &Params, name: &str, default: i64) -> Result<i64, ApiError> {
    p.get(name).map_or(Ok(default), |s| parse_time(name, s))
}

/// `step`: a duration (`15s`) or seconds.
fn parse_step(s: &str) -> Result<i64, ApiError> {
    if let Ok(f) = s.parse::<f64>() {
        if f.is_finite() {
            return Ok((f * 1000.0).round() as i64);
        }
    }
    watchfire_promql::duration::parse_duration(s).map_err(|_| {
        bad_data(format!(
            "invalid parameter \"step\": cannot parse {s:?} to a valid duration"
        ))
    })
}

fn parse_query(p: &Params) -> Result<Expr, ApiError> {
    let q = p.get("query").unwrap_or("");
    watchfire_promql::parse(q).map_err(|e| bad_data(format!("invalid parameter \"query\": {}", e)))
}

/// A timestamp in seconds as Prometheus writes it (Go's `'f', -1`): no
/// fraction for whole seconds (`1700000000`), else the shortest one
/// (`1700000000.5`).
fn seconds(t: i64) -> Json_ {
    if t % 1000 == 0 {
        json!(t / 1000)
    } else {
        json!(t as f64 / 1000.0)
    }
}

/// A sample value as Prometheus writes it: `[seconds, "value"]`.
fn point(t: i64, v: f64) -> Json_ {
    json!([seconds(t), format_float(v, 'f', None)])
}

fn labels_json(l: &Labels) -> Json_ {
    Json_::Object(
        l.iter()
            .map(|l| (l.name.clone(), Json_::String(l.value.clone())))
            .collect(),
    )
}

fn matrix_json(m: &[Series]) -> Json_ {
    Json_::Array(
        m.iter()
            .map(|s| {
                json!({
                    "metric": labels_json(&s.labels),
                    "values": s.samples.iter().map(|p| point(p.t, p.v)).collect::<Vec<_>>(),
                })
            })
            .collect(),
    )
}

fn value_json(v: &Value) -> Json_ {
    match v {
        Value::Scalar { t, v } => json!({"resultType": "scalar", "result": point(*t, *v)}),
        Value::String { t, v } => {
            json!({"resultType": "string", "result": [seconds(*t), v]})
        }
        Value::Vector(samples) => json!({
            "resultType": "vector",
            "result": samples
                .iter()
                .map(|s| json!({"metric": labels_json(&s.labels), "value": point(s.t, s.v)}))
                .collect::<Vec<_>>(),
        }),
        Value::Matrix(m) => json!({"resultType": "matrix", "result": matrix_json(m)}),
    }
}

fn success(data: Json_, warnings: Vec<String>) -> Response {
    let mut body = json!({"status": "success", "data": data});
    if !warnings.is_empty() {
        body["warnings"] = json!(warnings);
    }
    Json(body).into_response()
}

/// Runs blocking work (PromQL, store scans) off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        kind: "internal",
        msg: e.to_string(),
    })?
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = ApiError;

    /// The query string and, for a form POST, the body.
    async fn from_request(req: Request, state: &S) -> Result<Params, ApiError> {
        let method = req.method().clone();
        let raw = req.uri().query().map(str::to_string);
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| bad_data(e.body_text()))?;
        Ok(Params::read(
            &method,
            raw.as_deref(),
            content_type.as_deref(),
            &body,
        ))
    }
}

/// An evaluation's answer, its annotations rendered against `text`.
fn evaluated(r: Result<QueryResult, EvalError>, text: &str) -> Result<Response, ApiError> {
    let r = r.map_err(|e| ApiError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        kind: "execution",
        msg: e.to_string(),
    })?;
    Ok(success(
        value_json(&r.value),
        r.annotations.iter().map(|a| a.render(text)).collect(),
    ))
}

async fn query(State(st): State<QueryState>, p: Params) -> Result<Response, ApiError> {
    let expr = parse_query(&p)?;
    let t = time_or(&p, "time", (st.now)())?;
    let text = p.get("query").unwrap_or("").to_string();
    let (store, engine) = (st.store.clone(), st.engine.clone());
    let r = blocking(move || Ok(engine.instant(&*store, &expr, t))).await?;
    evaluated(r, &text)
}

async fn query_range(State(st): State<QueryState>, p: Params) -> Result<Response, ApiError> {
    let expr = parse_query(&p)?;
    let need = |n: &str| {
        p.get(n)
            .ok_or_else(|| bad_data(format!("invalid parameter {n:?}: missing")))
    };
    let start = parse_time("start", need("start")?)?;
    let end = parse_time("end", need("end")?)?;
    let step = parse_step(need("step")?)?;
    if end < start {
        return Err(bad_data(
            "invalid parameter \"end\": end timestamp must not be before start time",
        ));
    }
    if step <= 0 {
        return Err(bad_data(
            "invalid parameter \"step\": zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    // Prometheus's limit: at most 11,000 points per series.
    if (end - start) / step > 11_000 {
        return Err(bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let text = p.get("query").unwrap_or("").to_string();
    let (store, engine) = (st.store.clone(), st.engine.clone());
    let r = blocking(move || Ok(engine.range(&*store, &expr, start, end, step))).await?;
    evaluated(r, &text)
}

/// The series matching any `match[]` selector (all series when there is
/// none and `required` is false) with a sample in `[start, end]`.
fn select(st: &QueryState, p: &Params, required: bool) -> Result<Vec<Labels>, ApiError> {
    let now = (st.now)();
    let start = time_or(p, "start", i64::MIN / 2)?;
    let end = time_or(p, "end", now)?;
    let mut sets: Vec<Vec<Matcher>> = Vec::new();
    for m in p.all("match[]") {
        match watchfire_promql::parse(m) {
            Ok(Expr::VectorSelector(vs)) => sets.push(vs.matchers),
            Ok(_) => {
                return Err(bad_data(format!(
                    "invalid parameter \"match[]\": {m:?} is not a series selector"
                )))
            }
            Err(e) => return Err(bad_data(format!("invalid parameter \"match[]\": {e}"))),
        }
    }
    if sets.is_empty() {
        if required {
            return Err(bad_data("no match[] parameter provided"));
        }
        let any =
            Matcher::new(MatchOp::Regex, "__name__", ".+").map_err(|e| bad_data(e.to_string()))?;
        sets.push(vec![any]);
    }
    let mut out: Vec<Labels> = sets
        .iter()
        .flat_map(|ms| st.store.series_labels(ms, start, end))
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

/// Sorted, distinct, non-empty strings.
fn distinct(mut v: Vec<String>) -> Json_ {
    v.retain(|s| !s.is_empty());
    v.sort();
    v.dedup();
    json!(v)
}

async fn series(State(st): State<QueryState>, p: Params) -> Result<Response, ApiError> {
    let sets = blocking(move || select(&st, &p, true)).await?;
    Ok(success(
        Json_::Array(sets.iter().map(labels_json).collect()),
        vec![],
    ))
}

async fn labels(State(st): State<QueryState>, p: Params) -> Result<Response, ApiError> {
    let sets = blocking(move || select(&st, &p, false)).await?;
    let names = sets
        .iter()
        .flat_map(|l| l.iter().map(|l| l.name.clone()))
        .collect();
    Ok(success(distinct(names), vec![]))
}

async fn label_values(
    State(st): State<QueryState>,
    Path(name): Path<String>,
    p: Params,
) -> Result<Response, ApiError> {
    let sets = blocking(move || select(&st, &p, false)).await?;
    let values = sets.iter().map(|l| l.get(&name).to_string()).collect();
    Ok(success(distinct(values), vec![]))
}

async fn buildinfo() -> Response {
    success(
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "revision": "",
            "branch": "",
            "buildUser": "",
            "buildDate": "",
            "goVersion": "",
        }),
        vec![],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_steps() {
        let check_t = |s: &str, want: Option<i64>| {
            assert_eq!(parse_time("time", s).ok(), want, "{s}");
        };
        check_t("1700000000", Some(1_700_000_000_000));
        check_t("1700000000.123", Some(1_700_000_000_123));
        check_t("2023-11-14T22:13:20Z", Some(1_700_000_000_000));
        check_t("2023-11-14T22:13:20.5+00:00", Some(1_700_000_000_500));
        check_t("yesterday", None);
        check_t("NaN", None);
        let check_s = |s: &str, want: Option<i64>| {
            assert_eq!(parse_step(s).ok(), want, "{s}");
        };
        check_s("15", Some(15_000));
        check_s("0.5", Some(500));
        check_s("1m30s", Some(90_000));
        check_s("soon", None);
    }

    #[test]
    fn values_render_as_prometheus_does() {
        let check = |v: f64, want: &str| assert_eq!(point(1_500, v)[1], want, "{v}");
        check(1.0, "1");
        check(0.1, "0.1");
        check(1e21, "1000000000000000000000");
        check(f64::INFINITY, "+Inf");
        check(f64::NEG_INFINITY, "-Inf");
        check(f64::NAN, "NaN");
        assert_eq!(point(1_500, 1.0)[0].to_string(), "1.5");
        assert_eq!(point(1_700_000_000_000, 1.0)[0].to_string(), "1700000000");
        assert_eq!(
            point(1_700_000_000_123, 1.0)[0].to_string(),
            "1700000000.123"
        );
    }

    #[test]
    fn params_merge_query_string_and_form() {
        let p = Params::read(
            &Method::POST,
            Some("query=up&match[]=a"),
            Some("application/x-www-form-urlencoded"),
            b"time=5&match[]=b",
        );
        assert_eq!(p.get("query"), Some("up"));
        assert_eq!(p.get("time"), Some("5"));
        assert_eq!(p.all("match[]").collect::<Vec<_>>(), ["a", "b"]);
        let get = Params::read(&Method::GET, Some("query=up"), None, b"time=5");
        assert_eq!(get.get("time"), None);
    }
}
