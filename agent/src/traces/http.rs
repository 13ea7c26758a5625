//! The OTLP/HTTP receiver: `POST /v1/traces` with a protobuf or JSON body
//! ([`crate::traces::decode`]), gzip or not.
//!
//! | answer | when | body |
//! | --- | --- | --- |
//! | 200 | taken (`partial_success` when spans were rejected) | `ExportTraceServiceResponse` |
//! | 400 | undecodable body, or more kept spans than the queue holds | `google.rpc.Status` (`INVALID_ARGUMENT`) |
//! | 413 | body over `max_request_size`, before or after gzip | `google.rpc.Status` |
//! | 415 | other `Content-Type` or `Content-Encoding` | `google.rpc.Status` |
//! | 429 + `Retry-After` | queue full | `google.rpc.Status` (`RESOURCE_EXHAUSTED`) |
//! | 503 + `Retry-After` | shutting down | `google.rpc.Status` (`UNAVAILABLE`) |
//!
//! Bodies are encoded like the request (JSON for JSON, else protobuf).

use std::future::Future;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;

use crate::traces::decode::{self, code, DecodeError, Format};
use crate::traces::ingest::{Ingest, IngestError, RETRY_AFTER};

/// The path OTLP/HTTP exporters post traces to.
pub const TRACES_PATH: &str = "/v1/traces";

#[derive(Clone)]
struct St {
    ingest: Arc<Ingest>,
    max: usize,
}

/// The receiver's routes.
pub fn routes(ingest: Arc<Ingest>, max_request_size: usize) -> Router {
    Router::new()
        .route(TRACES_PATH, post(handle))
        .with_state(St {
            ingest,
            max: max_request_size,
        })
}

fn reply(status: StatusCode, format: Format, body: Vec<u8>, retry_after: bool) -> Response {
    let mut r = (status, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if retry_after {
        r.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(RETRY_AFTER.as_secs().max(1)),
        );
    }
    r
}

fn error(status: StatusCode, format: Format, grpc_code: i32, msg: &str) -> Response {
    let retry = matches!(
        status,
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
    );
    reply(
        status,
        format,
        decode::status_body(format, grpc_code, msg),
        retry,
    )
}

async fn handle(State(st): State<St>, headers: HeaderMap, body: Body) -> Response {
    let m = st.ingest.metrics();
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(format) = Format::from_content_type(ct) else {
        m.request("http", "unsupported");
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Format::Protobuf,
            code::INVALID_ARGUMENT,
            &format!(
                "unsupported Content-Type {ct:?}: use application/x-protobuf or application/json"
            ),
        );
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let too_large = |m: &crate::traces::metrics::TraceMetrics| {
        m.request("http", "too_large");
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format,
            code::INVALID_ARGUMENT,
            &DecodeError::TooLarge { limit: st.max }.to_string(),
        )
    };
    if declared.is_some_and(|n| n > st.max as u64) {
        return too_large(m);
    }
    let raw = match axum::body::to_bytes(body, st.max).await {
        Ok(b) => b,
        Err(_) => return too_large(m),
    };
    let enc = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok());
    let decoded = decode::decompress(&raw, enc, st.max).and_then(|b| decode::decode(&b, format));
    let req = match decoded {
        Ok(r) => r,
        Err(e) => {
            m.request("http", e.outcome());
            let status = match &e {
                DecodeError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
                DecodeError::Encoding(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
                _ => StatusCode::BAD_REQUEST,
            };
            return error(status, format, code::INVALID_ARGUMENT, &e.to_string());
        }
    };
    match st.ingest.export("http", req).await {
        Ok(resp) => reply(
            StatusCode::OK,
            format,
            decode::response_body(format, &resp),
            false,
        ),
        Err(e @ IngestError::Backpressure) => {
            m.request("http", "backpressure");
            error(
                StatusCode::TOO_MANY_REQUESTS,
                format,
                code::RESOURCE_EXHAUSTED,
                &e.to_string(),
            )
        }
        Err(e @ IngestError::TooManySpans { .. }) => {
            m.request("http", "too_large");
            error(
                StatusCode::BAD_REQUEST,
                format,
                code::INVALID_ARGUMENT,
                &e.to_string(),
            )
        }
        Err(e @ (IngestError::Closed | IngestError::Disk(_))) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            format,
            code::UNAVAILABLE,
            &e.to_string(),
        ),
    }
}

/// Serves until `shutdown` completes.
pub async fn serve(
    router: Router,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
