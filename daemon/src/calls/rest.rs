//! One HTTP/1.1 request to the provider's REST API (or the offline model's):
//! TCP, TLS through the daemon's one rustls client configuration for
//! `https://`, a bearer key that is never logged, a deadline for the whole
//! exchange, and a bounded reply.

use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::Request;
use hyper_util::rt::TokioIo;

use crate::realtime::tls;

/// How long one REST exchange may take.
const TIMEOUT: Duration = Duration::from_secs(15);
/// Largest reply read (an SDP answer or a small JSON object).
const MAX_REPLY: usize = 1 << 20;

/// What came back.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// The `Location` header, if any (WebRTC: it ends in the call id).
    pub location: Option<String>,
    pub body: Bytes,
}

/// Why a request got no reply.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{url}: {reason}")]
pub struct RestError {
    pub url: String,
    pub reason: String,
}

/// POST `body` of `content_type` to `url`, with `key` as the bearer.
pub async fn post(
    url: &str,
    key: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
    ca_file: Option<&Path>,
) -> Result<Reply, RestError> {
    post_with(url, key, content_type, body, ca_file, &[]).await
}

/// [`post`] with extra headers.
pub async fn post_with(
    url: &str,
    key: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
    ca_file: Option<&Path>,
    headers: &[(&str, String)],
) -> Result<Reply, RestError> {
    tokio::time::timeout(
        TIMEOUT,
        exchange(url, key, content_type, body, ca_file, headers),
    )
    .await
    .unwrap_or_else(|_| {
        Err(RestError {
            url: url.to_string(),
            reason: format!("no reply within {TIMEOUT:?}"),
        })
    })
}

async fn exchange(
    url: &str,
    key: Option<&str>,
    content_type: &str,
    body: Vec<u8>,
    ca_file: Option<&Path>,
    headers: &[(&str, String)],
) -> Result<Reply, RestError> {
    let fail = |reason: String| RestError {
        url: url.to_string(),
        reason,
    };
    let uri: hyper::Uri = url.parse().map_err(|e| fail(format!("bad url: {e}")))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(fail("the url must be http:// or https://".into())),
    };
    let host = uri
        .host()
        .ok_or_else(|| fail("the url has no host".into()))?
        .to_string();
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let tcp =
        tokio::net::TcpStream::connect((host.trim_start_matches('[').trim_end_matches(']'), port))
            .await
            .map_err(|e| fail(e.to_string()))?;
    let stream = if https {
        let config = tls::client_config(ca_file).map_err(|e| fail(e.to_string()))?;
        tls::Stream::tls(tcp, &host, config)
            .await
            .map_err(|e| fail(e.to_string()))?
    } else {
        tls::Stream::Plain(tcp)
    };
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| fail(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or(host);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut req = Request::post(path)
        .header("host", authority)
        .header("content-type", content_type)
        .header("user-agent", concat!("agentd/", env!("CARGO_PKG_VERSION")));
    if let Some(key) = key {
        req = req.header("authorization", format!("Bearer {key}"));
    }
    for (name, value) in headers {
        req = req.header(*name, value.as_str());
    }
    let req = req.body(Full::new(Bytes::from(body))).map_err(|_| {
        fail("the request could not be built (a header value is not allowed)".into())
    })?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let body = Limited::new(resp.into_body(), MAX_REPLY)
        .collect()
        .await
        .map_err(|e| fail(format!("reading the reply: {e}")))?
        .to_bytes();
    Ok(Reply {
        status,
        location,
        body,
    })
}

/// A `multipart/form-data` body of text fields, and its content type.
pub fn multipart(fields: &[(&str, &str, &str)]) -> (String, Vec<u8>) {
    let boundary = format!("agentd-{:016x}", rand::random::<u64>());
    let mut body = Vec::new();
    for (name, content_type, value) in fields {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\nContent-Type: {content_type}\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}
