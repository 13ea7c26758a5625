//! Process and port helpers shared by the side-by-side harnesses.

use std::net::TcpListener;
use std::process::Child;

/// A child process killed and reaped on drop, so a failing harness leaves
/// no peer running.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}
