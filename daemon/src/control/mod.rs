//! The control API: how operators and `agentctl` drive the daemon.
//!
//! HTTP/1.1 + JSON over a Unix socket (`curl --unix-socket` works); event
//! streams are newline-delimited JSON. [`api`] holds the bodies both sides
//! share, [`server`] the daemon side, [`client`] what `agentctl` uses.

pub mod api;
pub mod client;
pub mod server;
