//! The Alertmanager v2 API edge: wire types ([`wire`]) and their
//! conversion to the alert model, the decoding of posted alerts
//! ([`decode`], with its fast path [`fastpost`]), and sample bodies for
//! tests and benchmarks ([`samples`]). The HTTP handlers that serve them
//! live with the rest of the router's server.

pub mod decode;
pub mod fastpost;
pub mod samples;
pub mod wire;
