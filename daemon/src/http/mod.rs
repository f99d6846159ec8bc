//! The TCP listener (`[daemon.http] listen`, off by default): the SIP
//! webhook, WebRTC signalling and, by bearer token, the control API itself.
//!
//! - `listener` (this file): bind, accept, optional TLS (`tls`), one HTTP/1.1
//!   connection task per client with a header timeout and a cap on
//!   connections open at once;
//! - `router`: limits, the webhook path, then the control API's routes;
//! - `auth`: tokens and roles; `limits`: rate and size limits.
//!
//! The listener's settings are read at start-up, like the rest of `[daemon]`.

pub mod auth;
pub mod limits;
pub mod router;
pub mod tls;
pub mod upgrade;

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;

use crate::config::HttpConfig;
use crate::supervisor::Supervisor;

/// How long a client may take to send a request's headers (and TLS handshake).
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// Connections open at once; more wait in the kernel's backlog.
const MAX_CONNECTIONS: usize = 1024;

/// Why the listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Tls(#[from] tls::ServerTlsError),
}

/// A bound listener, ready to serve.
pub struct Listener {
    tcp: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    config: HttpConfig,
}

impl Listener {
    /// The address it listens on (the port chosen, for `:0`).
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        self.tcp.local_addr().ok()
    }
}

/// Bind `[daemon.http] listen` and load its TLS files.
pub async fn bind(config: &HttpConfig) -> Result<Listener, ListenError> {
    let tcp = TcpListener::bind(config.listen)
        .await
        .map_err(|source| ListenError::Bind {
            addr: config.listen.to_string(),
            source,
        })?;
    let tls = match &config.tls {
        Some((cert, key)) => Some(tokio_rustls::TlsAcceptor::from(tls::server_config(
            cert, key,
        )?)),
        None => None,
    };
    Ok(Listener {
        tcp,
        tls,
        config: config.clone(),
    })
}

/// Serve until `shutdown` resolves.
pub async fn serve(
    listener: Listener,
    daemon: Arc<Supervisor>,
    socket: Arc<Path>,
    shutdown: impl Future<Output = ()>,
) {
    let ctx = Arc::new(router::Ctx {
        daemon,
        socket,
        limiter: limits::RateLimiter::new(listener.config.rate_limit),
        config: listener.config,
    });
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        let Ok(permit) = slots.clone().acquire_owned().await else {
            return;
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => return,
            r = listener.tcp.accept() => match r {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "HTTP accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let ctx = ctx.clone();
        let tls = listener.tls.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let service = hyper::service::service_fn(move |req| {
                let ctx = ctx.clone();
                async move { Ok::<_, Infallible>(router::handle(ctx, peer.ip(), req).await) }
            });
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_TIMEOUT);
            let result = match tls {
                Some(acceptor) => {
                    match tokio::time::timeout(HEADER_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(s)) => {
                            builder
                                .serve_connection(TokioIo::new(s), service)
                                .with_upgrades()
                                .await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    }
                }
                None => {
                    builder
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await
                }
            };
            if let Err(e) = result {
                tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
            }
        });
    }
}
