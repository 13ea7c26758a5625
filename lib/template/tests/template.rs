//! The template crate's one integration test binary.

#[path = "template/alert.rs"]
mod alert;
#[path = "template/conformance.rs"]
mod conformance;
#[path = "template/semantics.rs"]
mod semantics;
#[path = "template/upstream.rs"]
mod upstream;
