//! The model connection under its earlier path, for the code that imports
//! it from here: the connection itself is `connection` (bytes and timers)
//! driving `conversation` (protocol state), with the endpoint in `endpoint`
//! and the policy in [`crate::config::Resilience`].

pub use super::connection::{ConnectError, ModelConnection, connect};
pub use super::endpoint::{Endpoint, EndpointError};
pub use super::model::{LinkStatus, ModelCommand, ModelEvent};
pub use crate::config::Resilience;
