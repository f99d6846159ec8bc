//! Example plugin: outgoing HTTP through `wasi:http`.
//!
//! The host sends a request only to a `host:port` listed in the plugin's
//! `sandbox.allow_hosts`; any other request fails here with
//! `HttpRequestDenied`, which the tool returns as its error.

#[agentd_plugin_sdk::plugin]
mod http_fetch {
    /// Fetch `url` (http:// or https://) with GET; returns the status code and
    /// up to 64 KiB of the body.
    #[tool]
    pub fn get(url: String) -> Result<String, String> {
        super::get(&url)
    }
}

use wasip2::http::outgoing_handler;
use wasip2::http::types::{Fields, Method, OutgoingRequest, Scheme};
use wasip2::io::streams::StreamError;

/// Most of a body returned to the model.
const MAX_BODY: usize = 64 << 10;

fn get(url: &str) -> Result<String, String> {
    let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (Scheme::Https, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (Scheme::Http, rest)
    } else {
        return Err(format!("`{url}` must start with http:// or https://"));
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let request = OutgoingRequest::new(Fields::new());
    let bad = |what: &str| format!("`{url}`: invalid {what}");
    request
        .set_method(&Method::Get)
        .map_err(|()| bad("method"))?;
    request
        .set_scheme(Some(&scheme))
        .map_err(|()| bad("scheme"))?;
    request
        .set_authority(Some(authority))
        .map_err(|()| bad("host"))?;
    request
        .set_path_with_query(Some(path))
        .map_err(|()| bad("path"))?;

    let failed = |e: wasip2::http::types::ErrorCode| format!("GET {url} failed: {e:?}");
    let pending = outgoing_handler::handle(request, None).map_err(failed)?;
    pending.subscribe().block();
    let response = pending
        .get()
        .ok_or_else(|| format!("GET {url}: no response"))?
        .map_err(|()| format!("GET {url}: response already taken"))?
        .map_err(failed)?;
    let status = response.status();
    let body = response
        .consume()
        .map_err(|()| format!("GET {url}: no body"))?;
    let stream = body
        .stream()
        .map_err(|()| format!("GET {url}: no body stream"))?;
    let mut bytes = Vec::new();
    while bytes.len() < MAX_BODY {
        match stream.blocking_read((MAX_BODY - bytes.len()) as u64) {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(StreamError::Closed) => break,
            Err(StreamError::LastOperationFailed(e)) => {
                return Err(format!(
                    "GET {url}: reading the body failed: {}",
                    e.to_debug_string()
                ));
            }
        }
    }
    Ok(format!("{status} {}", String::from_utf8_lossy(&bytes)))
}
