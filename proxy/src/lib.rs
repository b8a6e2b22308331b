//! The Anteroom gateway: a Pingora reverse proxy that queues visitors fairly, admits them at
//! the rate operators set and signs each admitted visitor a pass.
//! - `gateway`: the domain — rooms, request forms, passes, the queue's answers, pages and
//!   metrics; no Pingora types;
//! - `adapter`: translates Pingora's proxy phases to the gateway, one module per phase;
//! - `runtime`: the server and its services (store owner, admin API, metrics endpoint), the
//!   in-process booking host and the demo;
//! - `cli`: `anteroom ctl`.

pub mod adapter;
pub mod cli;
pub mod gateway;
pub mod runtime;
