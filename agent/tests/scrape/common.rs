//! Test helpers: a channel-backed appender and local HTTP servers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use watchfire_agent::pipeline::{Appender, Point};
use watchfire_promql::Labels;

/// An appender that forwards every batch to a channel.
pub struct ChanAppender(pub mpsc::UnboundedSender<Vec<Point>>);

impl Appender for ChanAppender {
    fn append(&self, batch: Vec<Point>) {
        let _ = self.0.send(batch);
    }
}

pub fn appender() -> (Arc<dyn Appender>, mpsc::UnboundedReceiver<Vec<Point>>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Arc::new(ChanAppender(tx)), rx)
}

/// Receives the next batch, failing the test after 10 s.
pub async fn next_batch(rx: &mut mpsc::UnboundedReceiver<Vec<Point>>) -> Vec<Point> {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("no batch within 10s")
        .expect("appender channel closed")
}

/// Serves `router` on a loopback port.
pub async fn serve(router: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    addr
}

/// Builds labels from `name{a="b"}`-style pairs.
pub fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::new(pairs.iter().copied())
}

/// The value of the point whose metric name is `name` (the first one).
pub fn value_of(points: &[Point], name: &str) -> Option<f64> {
    points
        .iter()
        .find(|p| p.labels().metric_name() == name)
        .map(|p| p.v)
}
