//! The server side of a WebSocket upgrade on hyper, shared by every route
//! that speaks WebSocket (the audio relay, the offline model): the 101's
//! headers, and the stream over the upgraded connection with agentd's
//! realtime-sized buffers.

use hyper::header::{HeaderMap, HeaderValue};
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

/// Set a 101's `Upgrade`, `Connection` and `Sec-WebSocket-Accept` for the
/// client's `Sec-WebSocket-Key`.
pub fn accept_headers(headers: &mut HeaderMap, key: &str) {
    headers.insert("upgrade", HeaderValue::from_static("websocket"));
    headers.insert("connection", HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&derive_accept_key(key.as_bytes())) {
        headers.insert("sec-websocket-accept", v);
    }
}

/// The server's WebSocket over an upgraded connection, buffers sized for
/// realtime frames (see `realtime::connection::ws_config`).
pub async fn server_stream(upgraded: Upgraded) -> WebSocketStream<TokioIo<Upgraded>> {
    WebSocketStream::from_raw_socket(
        TokioIo::new(upgraded),
        Role::Server,
        Some(crate::realtime::connection::ws_config()),
    )
    .await
}
