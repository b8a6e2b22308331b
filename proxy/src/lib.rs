//! The Anteroom gateway: a Pingora reverse proxy that queues visitors fairly, admits them at
//! the rate operators set and signs each admitted visitor a pass. `core` is the domain (no
//! Pingora types); `adapter` translates Pingora's proxy phases to it; `services` are the
//! store owner, admin API and metrics endpoint; `server` puts them together.

pub mod adapter;
pub mod booking_host;
pub mod core;
pub mod ctl;
pub mod demo;
pub mod metrics;
pub mod pages;
pub mod server;
pub mod services;
pub mod store_connect;
