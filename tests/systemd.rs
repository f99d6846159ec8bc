//! agentd under a (fake) systemd: READY=1 once the control socket answers,
//! WATCHDOG=1 pings, STOPPING=1 on SIGTERM, and a clean exit.

mod common;

use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::plugin;

fn recv(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 1024];
    let n = sock
        .recv(&mut buf)
        .expect("a notification within the timeout");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn notifies_ready_watchdog_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let notify = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&notify).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let socket = dir.path().join("agentd.sock");
    let config = dir.path().join("agents.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\nsocket = \"{}\"\nstate_dir = \"{}\"\n[plugins.calc]\npath = \"{}\"\n[agents.a]\ntools = [\"calc.*\"]\n",
            socket.display(),
            dir.path().join("state").display(),
            plugin("calc").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_agentd"))
        .arg("--config")
        .arg(&config)
        .env("NOTIFY_SOCKET", &notify)
        .env("WATCHDOG_USEC", "200000")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let ready = recv(&sock);
    assert!(
        ready.starts_with("READY=1\nSTATUS=serving 1 agents on "),
        "{ready}"
    );
    // Ready means the control socket is already accepting.
    assert!(std::os::unix::net::UnixStream::connect(&socket).is_ok());
    assert_eq!(recv(&sock), "WATCHDOG=1");

    // SAFETY: kill with a valid pid and signal number has no memory effects.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let started = Instant::now();
    loop {
        let msg = recv(&sock);
        if msg == "STOPPING=1" {
            break;
        }
        assert_eq!(msg, "WATCHDOG=1");
        assert!(started.elapsed() < Duration::from_secs(60), "no STOPPING=1");
    }
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(!socket.exists(), "the control socket is removed on exit");
}
