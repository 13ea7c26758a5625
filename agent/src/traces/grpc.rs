//! The OTLP/gRPC receiver: `opentelemetry.proto.collector.trace.v1.TraceService/Export`
//! on tonic, gzip accepted and offered.
//!
//! The service is written out here rather than taken from
//! `opentelemetry-proto`'s generated server because that one decodes with
//! prost inside tonic, which answers a malformed message with `INTERNAL`
//! and never shows it to us. Here the codec hands over the raw bytes and
//! the handler decodes them: malformed → `INVALID_ARGUMENT`, counted.
//!
//! Answers: `OK` (with `partial_success` when spans were rejected),
//! `INVALID_ARGUMENT` (undecodable), `OUT_OF_RANGE` / `RESOURCE_EXHAUSTED`
//! from tonic for a message over `max_request_size` (compressed or
//! decompressed), `RESOURCE_EXHAUSTED` when the queue is full (the OTLP
//! exporters retry it), `UNAVAILABLE` while shutting down.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use tonic::codec::{
    Codec, CompressionEncoding, DecodeBuf, Decoder, EnabledCompressionEncodings, EncodeBuf, Encoder,
};
use tonic::codegen::{http, BoxFuture, Service, StdError};
use tonic::{Code, Status};

use crate::traces::ingest::{Ingest, IngestError};

/// The gRPC service path of `Export`.
pub const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// Decodes nothing: hands the message bytes over.
#[derive(Debug, Default, Clone, Copy)]
struct RawCodec;

struct RawDecoder;
struct RespEncoder;

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let n = src.remaining();
        Ok(Some(src.copy_to_bytes(n)))
    }
}

impl Encoder for RespEncoder {
    type Item = ExportTraceServiceResponse;
    type Error = Status;
    fn encode(&mut self, item: Self::Item, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.reserve(item.encoded_len());
        item.encode(dst)
            .map_err(|e| Status::internal(e.to_string()))
    }
}

impl Codec for RawCodec {
    type Encode = ExportTraceServiceResponse;
    type Decode = Bytes;
    type Encoder = RespEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RespEncoder {
        RespEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

/// The tonic service.
#[derive(Clone)]
pub struct TraceGrpc {
    ingest: Arc<Ingest>,
    max_request_size: usize,
}

impl TraceGrpc {
    pub fn new(ingest: Arc<Ingest>, max_request_size: usize) -> TraceGrpc {
        TraceGrpc {
            ingest,
            max_request_size,
        }
    }
}

impl tonic::server::NamedService for TraceGrpc {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
}

struct ExportSvc(Arc<Ingest>);

impl tonic::server::UnaryService<Bytes> for ExportSvc {
    type Response = ExportTraceServiceResponse;
    type Future = BoxFuture<tonic::Response<ExportTraceServiceResponse>, Status>;
    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let ingest = self.0.clone();
        Box::pin(async move { export(&ingest, request.into_inner()).await })
    }
}

/// Decodes and ingests one message.
async fn export(
    ingest: &Arc<Ingest>,
    body: Bytes,
) -> Result<tonic::Response<ExportTraceServiceResponse>, Status> {
    let m = ingest.metrics();
    let req = match ExportTraceServiceRequest::decode(body) {
        Ok(r) => r,
        Err(e) => {
            m.request("grpc", "invalid");
            return Err(Status::invalid_argument(format!(
                "invalid protobuf ExportTraceServiceRequest: {e}"
            )));
        }
    };
    match ingest.export("grpc", req).await {
        Ok(r) => Ok(tonic::Response::new(r)),
        Err(e @ IngestError::Backpressure) => {
            m.request("grpc", "backpressure");
            Err(Status::resource_exhausted(e.to_string()))
        }
        Err(e @ IngestError::TooManySpans { .. }) => {
            m.request("grpc", "too_large");
            Err(Status::invalid_argument(e.to_string()))
        }
        Err(e @ (IngestError::Closed | IngestError::Disk(_))) => {
            Err(Status::unavailable(e.to_string()))
        }
    }
}

impl<B> Service<http::Request<B>> for TraceGrpc
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        if req.uri().path() != EXPORT_PATH {
            return Box::pin(async {
                Ok(Status::unimplemented("only TraceService/Export is served here").into_http())
            });
        }
        let ingest = self.ingest.clone();
        let max = self.max_request_size;
        Box::pin(async move {
            let mut enc = EnabledCompressionEncodings::default();
            enc.enable(CompressionEncoding::Gzip);
            let mut grpc = tonic::server::Grpc::new(RawCodec)
                .apply_compression_config(enc, enc)
                .apply_max_message_size_config(Some(max), None);
            let m = ingest.clone();
            let res = grpc.unary(ExportSvc(ingest), req).await;
            // Size limits are enforced by tonic before the handler runs;
            // count them from the answer.
            if let Some(code) = res
                .headers()
                .get("grpc-status")
                .and_then(|v| v.to_str().ok())
            {
                let code = code.parse::<i32>().map(Code::from).unwrap_or(Code::Unknown);
                let msg = res
                    .headers()
                    .get("grpc-message")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("");
                if code == Code::OutOfRange
                    || (code == Code::ResourceExhausted && msg.contains("size"))
                {
                    m.metrics().request("grpc", "too_large");
                }
            }
            Ok(res)
        })
    }
}

/// Serves until `shutdown` completes.
pub async fn serve(
    svc: TraceGrpc,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    tonic::transport::Server::builder()
        .add_service(svc)
        .serve_with_incoming_shutdown(
            tonic::transport::server::TcpIncoming::from(listener),
            shutdown,
        )
        .await
}
