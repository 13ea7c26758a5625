//! A test upstream built from the official protos: `opentelemetry-proto`'s
//! generated tonic `TraceServiceServer`. It records every accepted request
//! and, while `down`, answers `UNAVAILABLE` (an outage), counting attempts.
//! [`Upstream::close`] really stops it (listener closed, connections
//! refused) and [`Upstream::reopen`] serves again on the same address.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tonic::codec::CompressionEncoding;

pub struct Upstream {
    pub addr: SocketAddr,
    pub down: Arc<AtomicBool>,
    /// Requests refused while down.
    pub refused: watch::Receiver<usize>,
    pub received: mpsc::UnboundedReceiver<ExportTraceServiceRequest>,
    svc: Svc,
    running: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
}

#[derive(Clone)]
struct Svc {
    down: Arc<AtomicBool>,
    refused: Arc<watch::Sender<usize>>,
    tx: mpsc::UnboundedSender<ExportTraceServiceRequest>,
}

#[tonic::async_trait]
impl TraceService for Svc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        if self.down.load(Ordering::SeqCst) {
            self.refused.send_modify(|n| *n += 1);
            return Err(tonic::Status::unavailable("upstream down"));
        }
        let _ = self.tx.send(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn serve(svc: Svc, l: tokio::net::TcpListener) -> (oneshot::Sender<()>, JoinHandle<()>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let svc = TraceServiceServer::new(svc).accept_compressed(CompressionEncoding::Gzip);
    let task = tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(svc)
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(l),
                async move {
                    let _ = stopped.await;
                },
            )
            .await
            .unwrap();
    });
    (stop, task)
}

impl Upstream {
    pub async fn start() -> Upstream {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let down = Arc::new(AtomicBool::new(false));
        let (refused_tx, refused) = watch::channel(0);
        let (tx, received) = mpsc::unbounded_channel();
        let svc = Svc {
            down: down.clone(),
            refused: Arc::new(refused_tx),
            tx,
        };
        let running = Some(serve(svc.clone(), l));
        Upstream {
            addr,
            down,
            refused,
            received,
            svc,
            running,
        }
    }

    /// Stops serving: the listener is closed (connections are refused)
    /// once the requests in flight are answered.
    pub async fn close(&mut self) {
        if let Some((stop, task)) = self.running.take() {
            let _ = stop.send(());
            task.await.unwrap();
        }
    }

    /// Serves again on the same address.
    pub async fn reopen(&mut self) {
        assert!(self.running.is_none(), "still running");
        let l = tokio::net::TcpListener::bind(self.addr).await.unwrap();
        self.running = Some(serve(self.svc.clone(), l));
    }

    /// Receives requests until `n` spans have arrived (10 s at most).
    pub async fn spans(&mut self, n: usize) -> Vec<opentelemetry_proto::tonic::trace::v1::Span> {
        let mut out = Vec::new();
        while out.len() < n {
            let r = tokio::time::timeout(std::time::Duration::from_secs(10), self.received.recv())
                .await
                .unwrap_or_else(|_| panic!("only {} of {n} spans arrived", out.len()))
                .unwrap();
            out.extend(super::spans_of(&r));
        }
        out
    }
}
