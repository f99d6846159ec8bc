//! Talking to realtime models over the OpenAI Realtime API (GA) protocol.
//!
//! A model connection is two halves, the habit of sans-IO protocol stacks:
//! - [`conversation`]: the protocol state, pure (events in, effects out):
//!   response gating, dispatch once, barge-in, replay after a reconnect;
//! - [`connection`]: the task that moves its bytes and keeps its timers
//!   (keepalive, dead peer, reconnect with backoff), over [`tls`];
//!
//! and around them:
//! - [`protocol`]: typed client and server events;
//! - [`model`]: what a session and its connection say to each other;
//! - [`endpoint`]: where a connection goes, built from a model's config;
//! - [`client`]: the same connection under its earlier path;
//! - [`sim`]: the built-in offline model on loopback, with its call routes and
//!   sidebands in [`sim_calls`];
//! - [`scenario`]: the offline model playing a scripted exchange;
//! - [`tls`]: the stream under the WebSocket (rustls for `wss://`).

pub mod client;
pub mod connection;
pub mod conversation;
pub mod endpoint;
pub mod model;
pub mod protocol;
pub mod scenario;
pub mod sim;
pub mod sim_calls;
pub mod tls;

pub use connection::{ConnectError, ModelConnection, connect};
pub use endpoint::{Endpoint, EndpointError};
pub use model::{LinkStatus, ModelCommand, ModelEvent};
