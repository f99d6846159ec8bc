//! agentd: a daemon that hosts realtime AI agents.
//!
//! Each module owns one concept; ARCHITECTURE.md has the data flow and who
//! owns which state: [`config`] → [`plugin`] → [`catalog`], published by the
//! [`supervisor`] (with [`reload`]) to each [`session`] ⇄ [`realtime`],
//! recorded in the [`store`], driven through [`control`].

pub mod authoring;
pub mod calls;
pub mod catalog;
pub mod config;
pub mod control;
pub mod drain;
pub mod http;
pub mod logs;
pub mod metrics;
pub mod plugin;
pub mod policy;
pub mod realtime;
pub mod reload;
pub mod session;
pub mod store;
pub mod supervisor;
pub mod systemd;
