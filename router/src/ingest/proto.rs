//! The remote_write 1.0 protobuf messages, now in `watchfire-remotewrite`
//! (shared with the agent's sender); re-exported so existing paths work.

pub use watchfire_remotewrite::proto::*;
