//! Talking to realtime models over the OpenAI Realtime API (GA) protocol.
//!
//! - [`protocol`]: typed client and server events;
//! - [`client`]: one WebSocket connection, turned into [`client::ModelEvent`]s;
//! - [`endpoint`]: where a connection goes, built from a model's config;
//! - [`sim`]: the built-in offline model on loopback;
//! - [`scenario`]: the offline model playing a scripted exchange;
//! - [`tls`]: the stream under the WebSocket (rustls for `wss://`).

pub mod client;
pub mod endpoint;
pub mod protocol;
pub mod scenario;
pub mod sim;
pub mod tls;
