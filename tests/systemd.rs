//! agentd under a (fake) systemd: READY=1 once the control socket answers,
//! STATUS= lines, RELOADING=1 / READY=1 around a reload, WATCHDOG=1 pings,
//! STOPPING=1 on SIGTERM, a clean exit; socket activation (LISTEN_FDS) with
//! stale-socket replacement and second-daemon refusal; and the shipped unit:
//! its `systemd-analyze security` score, its stop timeout, and the daemon
//! running under its sandboxing (where systemd is PID 1).

mod common;

use std::os::fd::AsRawFd;
use std::os::unix::net::{UnixDatagram, UnixListener};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{plugin, repo};

fn recv(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 1024];
    let n = sock
        .recv(&mut buf)
        .expect("a notification within the timeout");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// The next notification that is not a watchdog ping.
fn recv_state(sock: &UnixDatagram) -> String {
    loop {
        let msg = recv(sock);
        if msg != "WATCHDOG=1" {
            return msg;
        }
    }
}

fn write_config(dir: &Path, socket: &Path) -> PathBuf {
    let config = dir.join("agents.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\nsocket = \"{}\"\nstate_dir = \"{}\"\ncache_dir = \"{}\"\n[plugins.calc]\npath = \"{}\"\n[agents.a]\ntools = [\"calc.*\"]\n",
            socket.display(),
            dir.join("state").display(),
            common::shared_cache_dir().display(),
            plugin("calc").display()
        ),
    )
    .unwrap();
    config
}

#[test]
fn notifies_ready_status_reloading_watchdog_and_stopping() {
    let dir = tempfile::tempdir().unwrap();
    let notify = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&notify).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let socket = dir.path().join("agentd.sock");
    let config = write_config(dir.path(), &socket);
    let mut child = Command::new(env!("CARGO_BIN_EXE_agentd"))
        .arg("--config")
        .arg(&config)
        .env("NOTIFY_SOCKET", &notify)
        .env("WATCHDOG_USEC", "200000")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let ready = recv(&sock);
    assert_eq!(
        ready,
        "READY=1\nSTATUS=serving 1 agents, 1 plugins, 0 live sessions"
    );
    // Ready means the control socket is already accepting.
    assert!(std::os::unix::net::UnixStream::connect(&socket).is_ok());
    assert_eq!(recv(&sock), "WATCHDOG=1");

    // A reload: RELOADING=1 with the monotonic clock, READY=1 after.
    // SAFETY: kill with a valid pid and signal number has no memory effects.
    unsafe { libc::kill(child.id() as i32, libc::SIGHUP) };
    let reloading = recv_state(&sock);
    let usec = reloading
        .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
        .unwrap_or_else(|| panic!("{reloading}"));
    assert!(usec.parse::<u64>().is_ok_and(|u| u > 0), "{reloading}");
    assert_eq!(
        recv_state(&sock),
        "READY=1\nSTATUS=serving 1 agents, 1 plugins, 0 live sessions"
    );

    // SAFETY: as above.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let started = Instant::now();
    loop {
        let msg = recv_state(&sock);
        if msg == "STOPPING=1" {
            break;
        }
        assert!(msg.starts_with("STATUS="), "{msg}");
        assert!(started.elapsed() < Duration::from_secs(60), "no STOPPING=1");
    }
    assert_eq!(recv_state(&sock), "STATUS=draining: 0 sessions left");
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(!socket.exists(), "the control socket is removed on exit");
}

/// Start agentd as systemd's socket activation does: `listener` as fd 3,
/// `LISTEN_FDS=1` and `LISTEN_PID` set to the daemon's own pid (by a shell
/// that sets it to `$$` and then execs agentd, keeping that pid).
fn activated(listener: &UnixListener, config: &Path, log: &Path) -> Child {
    let fd = listener.as_raw_fd();
    let mut cmd = Command::new("/bin/sh");
    cmd.arg("-c")
        .arg("LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" --config \"$1\"")
        .arg(env!("CARGO_BIN_EXE_agentd"))
        .arg(config)
        .env("AGENTD_LOG", "info")
        .stderr(std::fs::File::create(log).unwrap());
    // SAFETY: only async-signal-safe calls (dup2, fcntl) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if fd == 3 {
                // dup2 onto itself would keep close-on-exec set.
                if libc::fcntl(3, libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(fd, 3) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn().unwrap()
}

fn wait_serving(socket: &Path, child: &mut Child, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "agentd exited ({status}):\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        let up = rt.block_on(agentd_api::Client::new(socket).status());
        if let Ok(st) = up {
            assert_eq!(st.socket, socket.display().to_string());
            return;
        }
        assert!(Instant::now() < deadline, "agentd did not answer");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stop(child: &mut Child) -> std::process::ExitStatus {
    // SAFETY: kill with a valid pid and signal number has no memory effects.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap()
}

#[test]
fn socket_activation_serves_the_passed_socket_and_a_stale_one_is_replaced_after() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("activated.sock");
    // The config names another path: the passed socket is used instead of binding.
    let config = write_config(dir.path(), &dir.path().join("configured.sock"));
    let log = dir.path().join("agentd.log");
    let listener = UnixListener::bind(&socket).unwrap();
    let mut child = activated(&listener, &config, &log);
    // systemd keeps its copy; this test lets the daemon hold the only one,
    // so that once it is gone the socket is stale.
    drop(listener);
    wait_serving(&socket, &mut child, &log);
    assert!(!dir.path().join("configured.sock").exists());
    let status = stop(&mut child);
    assert!(status.success(), "{status}");
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(logged.contains("socket_activated=true"), "{logged}");
    // A socket systemd passed is systemd's: it stays.
    assert!(socket.exists(), "the activated socket was removed");

    // Nothing listens on it now: a daemon binding that path replaces it.
    let config = write_config(dir.path(), &socket);
    let mut next = Command::new(env!("CARGO_BIN_EXE_agentd"))
        .arg("--config")
        .arg(&config)
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_serving(&socket, &mut next, &log);
    let status = stop(&mut next);
    assert!(status.success(), "{status}");
    assert!(!socket.exists(), "a socket it bound itself is removed");
}

#[test]
fn a_second_daemon_is_refused_while_an_activated_one_serves() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("agentd.sock");
    let config = write_config(dir.path(), &socket);
    let log = dir.path().join("agentd.log");
    let listener = UnixListener::bind(&socket).unwrap();
    let mut first = activated(&listener, &config, &log);
    drop(listener);
    wait_serving(&socket, &mut first, &log);

    let second = Command::new(env!("CARGO_BIN_EXE_agentd"))
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        err.contains(&format!(
            "another agentd is already listening on {}",
            socket.display()
        )),
        "{err}"
    );
    // The first one still serves.
    wait_serving(&socket, &mut first, &log);
    assert!(stop(&mut first).success());
}

#[test]
fn agentd_takes_socket_from_the_flag_and_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &dir.path().join("configured.sock"));
    let log = dir.path().join("agentd.log");
    for (flag, env) in [(true, false), (false, true)] {
        let socket = dir.path().join(format!("given-{flag}.sock"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_agentd"));
        cmd.arg("--config").arg(&config);
        if flag {
            cmd.arg("--socket").arg(&socket);
        }
        if env {
            cmd.env("AGENTD_SOCKET", &socket);
        }
        let mut child = cmd
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        wait_serving(&socket, &mut child, &log);
        assert!(!dir.path().join("configured.sock").exists());
        assert!(stop(&mut child).success());
    }
}

/// `[Service]` lines of the shipped unit, `Key=value` as written.
fn unit_lines() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(repo().join("packaging/agentd.service")).unwrap();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[test]
fn the_unit_waits_for_a_drain_before_systemd_kills() {
    let timeout = unit_lines()
        .into_iter()
        .find(|(k, _)| k == "TimeoutStopSec")
        .map(|(_, v)| v)
        .expect("TimeoutStopSec in the unit");
    let drain = agentd::config::DEFAULT_DRAIN_TIMEOUT.as_secs();
    assert_eq!(timeout, format!("{}s", drain + 30));
}

fn have(tool: &str) -> bool {
    Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn the_unit_scores_at_most_2_in_systemd_analyze_security() {
    if !have("systemd-analyze") {
        skipped("systemd-analyze is not installed; the unit's score was not checked");
        return;
    }
    // The unit alone: systemd-analyze would also read drop-ins beside it.
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("agentd.service");
    std::fs::copy(repo().join("packaging/agentd.service"), &unit).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&unit)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let score: f64 = text
        .lines()
        .find_map(|l| l.split("agentd.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no overall score in:\n{text}{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(score <= 2.0, "exposure {score} > 2.0:\n{text}");
}

/// Say a check was skipped where the test run shows it: straight to the
/// process's stderr, past the test harness's capture of `eprintln!`.
fn skipped(why: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIPPED: {why}");
}

/// Whether systemd runs this machine (PID 1), so `systemd-run` works.
fn systemd_is_pid1() -> bool {
    Path::new("/run/systemd/system").exists()
        && std::fs::read_to_string("/proc/1/comm").is_ok_and(|c| c.trim() == "systemd")
}

#[test]
fn the_daemon_runs_a_tool_call_under_the_units_sandboxing() {
    if !systemd_is_pid1() || !have("systemd-run") {
        skipped("systemd is not PID 1 here; the daemon was not run under the unit's sandboxing");
        return;
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        skipped("systemd-run for a system service needs root");
        return;
    }
    // The unit's sandboxing, as properties of a transient service; its own
    // user (DynamicUser), runtime and state folders, and the test's files
    // readable where ProtectSystem/ProtectHome would hide them.
    let skip = [
        "Type",
        "ExecStartPre",
        "ExecStart",
        "ExecReload",
        "User",
        "Group",
        "EnvironmentFile",
        "Restart",
        "RestartSec",
        "WatchdogSec",
        "RestartPreventExitStatus",
        "Description",
        "Documentation",
        "After",
        "Wants",
        "WantedBy",
        "ConfigurationDirectory",
    ];
    let unit = format!("agentd-sandbox-test-{}", std::process::id());
    let dir = PathBuf::from(format!("/run/{unit}-files"));
    std::fs::create_dir_all(&dir).unwrap();
    let socket = PathBuf::from(format!("/run/{unit}/agentd.sock"));
    let wasm = dir.join("calc.wasm");
    std::fs::copy(plugin("calc"), &wasm).unwrap();
    let config = dir.join("agents.toml");
    std::fs::write(
        &config,
        format!(
            "[daemon]\nsocket = \"{}\"\nstate_dir = \"/var/lib/{unit}\"\n[plugins.calc]\npath = \"{}\"\n[agents.a]\ntools = [\"calc.*\"]\n",
            socket.display(),
            wasm.display()
        ),
    )
    .unwrap();
    let mut cmd = Command::new("systemd-run");
    cmd.arg(format!("--unit={unit}"))
        .args(["--collect", "-p", "Type=notify", "-p", "DynamicUser=yes"])
        .arg("-p")
        .arg(format!("RuntimeDirectory={unit}"))
        .arg("-p")
        .arg(format!("StateDirectory={unit}"))
        .arg("-p")
        .arg(format!("ReadOnlyPaths={}", dir.display()));
    for (k, v) in unit_lines() {
        if !skip.contains(&k.as_str())
            && !k.starts_with("RuntimeDirectory")
            && k != "StateDirectory"
        {
            cmd.arg("-p").arg(format!("{k}={v}"));
        }
    }
    cmd.arg(env!("CARGO_BIN_EXE_agentd"))
        .arg("--config")
        .arg(&config);
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "systemd-run: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rt = tokio::runtime::Runtime::new().unwrap();
    let result = rt.block_on(async {
        let client = agentd_api::Client::new(&socket);
        let deadline = Instant::now() + Duration::from_secs(120);
        while client.status().await.is_err() {
            if Instant::now() > deadline {
                return Err("agentd did not answer under the unit's sandboxing".to_string());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // A tool call in the sandboxed daemon: wasm compiled and run there.
        let req = agentd_api::requests::CallTool {
            arguments: serde_json::json!({"a": 2, "b": 3}),
        };
        client
            .call_tool("calc.add", &req)
            .await
            .map(|r| r.output)
            .map_err(|e| e.to_string())
    });
    let _ = Command::new("systemctl").args(["stop", &unit]).status();
    let _ = std::fs::remove_dir_all(&dir);
    let output = result.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(output.trim(), "5");
}
