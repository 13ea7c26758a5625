//! The dispatch core's one integration test binary: a fake clock drives
//! the core the way the router's I/O loop does.

#[path = "dispatch/harness.rs"]
mod harness;

#[path = "dispatch/escalation.rs"]
mod escalation;
#[path = "dispatch/mute.rs"]
mod mute;
#[path = "dispatch/persist.rs"]
mod persist;
#[path = "dispatch/timing.rs"]
mod timing;
