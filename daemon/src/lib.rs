//! agentd: a daemon that hosts realtime AI agents.
//!
//! Each module owns one concept; see DESIGN.md for the data flow:
//! [`config`] → [`plugin`] → [`catalog`] → [`session`] ⇄ [`realtime`],
//! driven through [`control`].

pub mod catalog;
pub mod config;
pub mod control;
pub mod daemon;
pub mod plugin;
pub mod policy;
pub mod realtime;
pub mod reload;
pub mod session;
pub mod store;
pub mod systemd;
