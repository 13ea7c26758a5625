//! Tests of the series store and the remote_write receiver.

mod ingest;
mod store;
