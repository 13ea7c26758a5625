//! Static targets: the groups come straight from the config and are
//! published once.

use super::{GroupSink, TargetGroup};

/// Publishes `groups` once and returns.
pub async fn run(groups: Vec<TargetGroup>, sink: GroupSink) {
    sink.publish(groups).await;
}
