//! The control API: how operators and `agentctl` drive the daemon.
//!
//! HTTP/1.1 + JSON over a Unix socket (`curl --unix-socket` works); event
//! streams are newline-delimited JSON. The bodies, events and queries are
//! the `agentd-api` crate's, shared with every client ([`api`] re-exports
//! them). A request goes [`server`] (accept, peer credentials) → `routes`
//! (a typed route, or 404/405 before any state is touched) → `handlers` (one
//! file per resource) → `reply`/`streaming` (JSON or NDJSON), and every
//! failure leaves through `errors`, the one place an HTTP status and the
//! JSON error shape are made.

pub mod api;
pub(crate) mod audio_relay;
pub(crate) mod errors;
pub(crate) mod handlers;
pub(crate) mod reply;
pub(crate) mod routes;
pub mod server;
pub mod streaming;

/// The control client lives in the API crate (so `agentctl` does not link
/// the daemon); re-exported here for code that still names the old path.
pub use agentd_api::client;

#[cfg(test)]
mod tests {
    #[test]
    fn agentd_and_its_clients_look_for_the_socket_in_the_same_place() {
        assert_eq!(
            crate::config::default_socket_path(),
            agentd_api::client::default_socket_path()
        );
    }
}
