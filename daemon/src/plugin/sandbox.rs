//! What a plugin may touch, built once per call from its [`Sandbox`].
//!
//! Deny by default: a `WasiCtxBuilder` starts with no directories, no
//! environment, no sockets and no name lookups. [`wasi_ctx`] is the one place
//! where grants from `agents.toml` become builder calls — one call per grant —
//! so no other code path needs a permission check.
//!
//! - `dirs`: `preopened_dir` with read-only or read-write permissions; nothing
//!   outside them exists for the guest (WASI has no ambient paths).
//! - `env`: exactly the listed variables.
//! - `allow_hosts`: TCP only, and only to the listed `host:port` pairs (a name
//!   is resolved by the host at connect time and compared by address); UDP,
//!   listening and accepting stay denied. A denied connect fails inside the
//!   guest with `access-denied` and is logged.
//! - stdout/stderr: each line goes to the daemon log tagged with the plugin,
//!   stream and call id, under a per-plugin rate limit ([`OutputLimiter`]), so
//!   a guest printing in a tight loop costs a counter increment per line, not a
//!   log write.
//!
//! - outgoing HTTP (`wasi:http`): [`HttpPolicy`] sends a request only when its
//!   `host:port` (port from the scheme when absent) is in `allow_hosts`,
//!   compared by name; any other request fails in the guest with
//!   `HTTP-request-denied` and is logged. The host makes the connection, so
//!   the socket rules above do not apply to it.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::sockets::SocketAddrUse;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder};
use wasmtime_wasi_http::{RequestOptions, WasiBody, WasiHttpHooks};

use crate::config::{HostPort, Sandbox};

/// Lines of guest output logged per plugin per window; the rest are counted.
pub const OUTPUT_LINES_PER_WINDOW: u32 = 50;
/// The rate limiter's window.
pub const OUTPUT_WINDOW: Duration = Duration::from_secs(1);
/// Longest line logged; longer lines are cut (and the rest dropped).
const MAX_LINE: usize = 1024;

/// Build the WASI context for one call of `plugin` under `sandbox`.
pub(crate) fn wasi_ctx(
    sandbox: &Sandbox,
    plugin: &Arc<str>,
    call_id: &Arc<str>,
    output: &Arc<OutputLimiter>,
) -> Result<WasiCtx, String> {
    let mut b = WasiCtxBuilder::new();
    let log = |stream| GuestOutput {
        plugin: plugin.clone(),
        call_id: call_id.clone(),
        stream,
        limiter: output.clone(),
    };
    b.stdout(log("stdout")).stderr(log("stderr"));
    for d in &sandbox.dirs {
        let perms = if d.read_only {
            FsPerms::ReadOnly
        } else {
            FsPerms::ReadWrite
        };
        b.preopened_dir(&d.host, &d.guest, perms).map_err(|e| {
            format!(
                "cannot open granted directory {} (as {}): {e}",
                d.host.display(),
                d.guest
            )
        })?;
    }
    for (k, v) in &sandbox.env {
        b.env(k, v);
    }
    b.allow_udp(false);
    if sandbox.allow_hosts.is_empty() {
        b.allow_tcp(false).allow_ip_name_lookup(false);
    } else {
        let needs_dns = sandbox
            .allow_hosts
            .iter()
            .any(|h| h.host.parse::<IpAddr>().is_err());
        let allowed: Arc<[HostPort]> = sandbox.allow_hosts.clone().into();
        let plugin = plugin.clone();
        let limiter = output.clone();
        b.allow_tcp(true)
            .allow_ip_name_lookup(needs_dns)
            .socket_addr_check(move |addr, use_| {
                let allowed = allowed.clone();
                let plugin = plugin.clone();
                let limiter = limiter.clone();
                Box::pin(async move {
                    let ok = match use_ {
                        // The implicit bind of a connect: the OS picks the port.
                        SocketAddrUse::TcpBind => addr.ip().is_unspecified() && addr.port() == 0,
                        SocketAddrUse::TcpConnect => is_allowed(&allowed, addr).await,
                        _ => false,
                    };
                    if !ok && limiter.allow() {
                        tracing::warn!(plugin = %plugin, %addr, use_ = ?use_, "network access denied: not in allow_hosts");
                    }
                    ok
                })
            });
    }
    Ok(b.build())
}

/// The `wasi:http` hooks of one call: the allow-list check, then the stock client.
pub(crate) struct HttpPolicy {
    plugin: Arc<str>,
    call_id: Arc<str>,
    allowed: Arc<[HostPort]>,
    limiter: Arc<OutputLimiter>,
}

impl HttpPolicy {
    pub(crate) fn new(
        sandbox: &Sandbox,
        plugin: &Arc<str>,
        call_id: &Arc<str>,
        limiter: &Arc<OutputLimiter>,
    ) -> HttpPolicy {
        HttpPolicy {
            plugin: plugin.clone(),
            call_id: call_id.clone(),
            allowed: sandbox.allow_hosts.clone().into(),
            limiter: limiter.clone(),
        }
    }

    /// Whether a request to `uri` may be sent.
    fn allows(&self, uri: &http::Uri) -> bool {
        let Some(host) = uri.host() else {
            return false;
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let https = uri.scheme() == Some(&http::uri::Scheme::HTTPS);
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        self.allowed
            .iter()
            .any(|hp| hp.host == host && hp.port == port)
    }
}

type SendResult = wasmtime_wasi_http::Result<(
    http::Response<WasiBody>,
    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
)>;

impl WasiHttpHooks for HttpPolicy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_done: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        if !self.allows(request.uri()) {
            if self.limiter.allow() {
                tracing::warn!(plugin = %self.plugin, call_id = %self.call_id, uri = %request.uri(), "HTTP request denied: not in allow_hosts");
            }
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        Box::new(async move {
            use http_body_util::BodyExt;
            let (response, io) = wasmtime_wasi_http::default_send_request(request, options).await?;
            Ok((
                response.map(BodyExt::boxed_unsync),
                Box::new(io) as Box<dyn Future<Output = _> + Send>,
            ))
        })
    }
}

/// Whether `addr` is one of the `allowed` destinations (names resolved now).
async fn is_allowed(allowed: &Arc<[HostPort]>, addr: SocketAddr) -> bool {
    for hp in allowed.iter().filter(|hp| hp.port == addr.port()) {
        if let Ok(ip) = hp.host.parse::<IpAddr>() {
            if ip == addr.ip() {
                return true;
            }
            continue;
        }
        // Resolve on a blocking thread (std's resolver blocks); the handle is
        // Send + Sync, as the socket check's future must be.
        let target = (hp.host.clone(), hp.port);
        let resolved = tokio::task::spawn_blocking(move || {
            target
                .to_socket_addrs()
                .map(|it| it.collect::<Vec<_>>())
                .unwrap_or_default()
        })
        .await
        .unwrap_or_default();
        if resolved.iter().any(|a| a.ip() == addr.ip()) {
            return true;
        }
    }
    false
}

/// Per-plugin budget of logged output lines, shared by all of its calls.
#[derive(Debug)]
pub struct OutputLimiter {
    plugin: Arc<str>,
    state: Mutex<Window>,
}

#[derive(Debug)]
struct Window {
    start: Instant,
    logged: u32,
    dropped: u64,
}

impl OutputLimiter {
    /// A fresh budget for `plugin`.
    pub fn new(plugin: Arc<str>) -> OutputLimiter {
        OutputLimiter {
            plugin,
            state: Mutex::new(Window {
                start: Instant::now(),
                logged: 0,
                dropped: 0,
            }),
        }
    }

    /// Whether one more line may be logged now; counts it as dropped if not.
    pub fn allow(&self) -> bool {
        let mut w = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if w.start.elapsed() >= OUTPUT_WINDOW {
            let dropped = std::mem::take(&mut w.dropped);
            w.start = Instant::now();
            w.logged = 0;
            if dropped > 0 {
                tracing::warn!(plugin = %self.plugin, dropped, "plugin output rate-limited: lines dropped");
            }
        }
        if w.logged < OUTPUT_LINES_PER_WINDOW {
            w.logged += 1;
            true
        } else {
            w.dropped += 1;
            false
        }
    }

    /// Report lines dropped so far (at the end of a call), so the log says so
    /// even if the plugin never prints again.
    pub fn report_dropped(&self) {
        let dropped = {
            let mut w = self.state.lock().unwrap_or_else(|p| p.into_inner());
            std::mem::take(&mut w.dropped)
        };
        if dropped > 0 {
            tracing::warn!(plugin = %self.plugin, dropped, "plugin output rate-limited: lines dropped");
        }
    }
}

/// A guest's stdout or stderr, as handed to WASI.
struct GuestOutput {
    plugin: Arc<str>,
    call_id: Arc<str>,
    stream: &'static str,
    limiter: Arc<OutputLimiter>,
}

impl IsTerminal for GuestOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for GuestOutput {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.writer())
    }

    // Direct, synchronous stream: no adapter task per instance.
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.writer())
    }
}

impl GuestOutput {
    fn writer(&self) -> LineLogger {
        LineLogger {
            plugin: self.plugin.clone(),
            call_id: self.call_id.clone(),
            stream: self.stream,
            limiter: self.limiter.clone(),
            line: Vec::new(),
            overlong: false,
        }
    }
}

/// Splits output into lines and logs each one the limiter allows.
struct LineLogger {
    plugin: Arc<str>,
    call_id: Arc<str>,
    stream: &'static str,
    limiter: Arc<OutputLimiter>,
    line: Vec<u8>,
    /// The current line passed [`MAX_LINE`] and was already logged (cut).
    overlong: bool,
}

impl LineLogger {
    fn push(&mut self, mut bytes: &[u8]) {
        while let Some(nl) = bytes.iter().position(|&b| b == b'\n') {
            self.take(&bytes[..nl]);
            self.end_line();
            bytes = &bytes[nl + 1..];
        }
        self.take(bytes);
    }

    fn take(&mut self, bytes: &[u8]) {
        if self.overlong {
            return;
        }
        let room = MAX_LINE - self.line.len();
        self.line.extend_from_slice(&bytes[..bytes.len().min(room)]);
        if self.line.len() >= MAX_LINE {
            self.emit();
            self.overlong = true;
        }
    }

    fn end_line(&mut self) {
        if !self.overlong {
            self.emit();
        }
        self.overlong = false;
    }

    fn emit(&mut self) {
        let line = std::mem::take(&mut self.line);
        if self.limiter.allow() {
            let text = String::from_utf8_lossy(&line);
            tracing::info!(plugin = %self.plugin, call_id = %self.call_id, stream = self.stream, "{}", text.trim_end_matches('\r'));
        }
    }
}

impl Drop for LineLogger {
    fn drop(&mut self) {
        if !self.line.is_empty() {
            self.emit();
        }
        self.limiter.report_dropped();
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LineLogger {
    async fn ready(&mut self) {}
}

impl OutputStream for LineLogger {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.push(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 << 10)
    }
}

impl tokio::io::AsyncWrite for LineLogger {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_lets_a_window_of_lines_through_then_counts() {
        let l = OutputLimiter::new("p".into());
        let allowed = (0..1000).filter(|_| l.allow()).count();
        assert_eq!(allowed, OUTPUT_LINES_PER_WINDOW as usize);
        let dropped = l.state.lock().unwrap().dropped;
        assert_eq!(dropped, 1000 - u64::from(OUTPUT_LINES_PER_WINDOW));
        l.report_dropped();
        assert_eq!(l.state.lock().unwrap().dropped, 0);
    }

    #[test]
    fn http_requests_are_checked_by_host_and_port() {
        let sandbox = Sandbox {
            allow_hosts: vec![
                HostPort::parse("api.example.com:443").unwrap(),
                HostPort::parse("127.0.0.1:8080").unwrap(),
            ],
            ..Sandbox::default()
        };
        let p = HttpPolicy::new(
            &sandbox,
            &Arc::from("p"),
            &Arc::from("c"),
            &Arc::new(OutputLimiter::new("p".into())),
        );
        let ok = |u: &str| p.allows(&u.parse().unwrap());
        assert!(ok("https://api.example.com/v1/x"));
        assert!(ok("https://API.example.com:443/"));
        assert!(ok("http://127.0.0.1:8080/"));
        assert!(!ok("http://api.example.com/"), "port 80 is not granted");
        assert!(!ok("https://evil.example.com/"));
        assert!(!ok("http://127.0.0.1:8081/"));
        let none = HttpPolicy::new(
            &Sandbox::default(),
            &Arc::from("p"),
            &Arc::from("c"),
            &Arc::new(OutputLimiter::new("p".into())),
        );
        assert!(!none.allows(&"https://api.example.com/".parse().unwrap()));
    }

    #[test]
    fn lines_are_split_and_cut() {
        let l = Arc::new(OutputLimiter::new("p".into()));
        let mut w = GuestOutput {
            plugin: "p".into(),
            call_id: "c".into(),
            stream: "stdout",
            limiter: l.clone(),
        }
        .writer();
        w.push(b"one\ntw");
        w.push(b"o\n");
        assert_eq!(l.state.lock().unwrap().logged, 2);
        w.push(&vec![b'x'; 5000]);
        // Logged once at the cut, not again at the newline.
        w.push(b"\n");
        assert_eq!(l.state.lock().unwrap().logged, 3);
    }
}
