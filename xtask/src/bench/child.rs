//! A process a benchmark starts (a mock server, an agentd, a reference
//! client): waited for with a limit, stopped with SIGTERM then SIGKILL, and
//! killed and reaped when dropped, so a run that fails half-way leaves no
//! process behind.

use std::process::Child;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// A child process killed (and reaped) when dropped.
pub struct Proc {
    pub name: &'static str,
    pub child: Child,
}

impl Proc {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait up to `limit` for the process to exit by itself.
    pub fn wait_exit(&mut self, limit: Duration) -> Result<()> {
        let deadline = Instant::now() + limit;
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Ok(None) => bail!("{} did not exit within {limit:?}", self.name),
                Err(e) => bail!("cannot wait for {}: {e}", self.name),
            }
        }
    }

    /// SIGTERM, then SIGKILL after 10 s.
    pub fn stop(&mut self) {
        if let Ok(pid) = i32::try_from(self.child.id()) {
            // SAFETY: kill(2) on our own child's pid; it has not been reaped yet.
            unsafe {
                libc::kill(pid, libc::SIGTERM);
            }
        }
        if self.wait_exit(Duration::from_secs(10)).is_err() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
