//! The Alertmanager v2 API edge: wire types ([`wire`]) and their
//! conversion to the alert model. The HTTP handlers that serve them live
//! with the rest of the router's server.

pub mod fastpost;
pub mod wire;
