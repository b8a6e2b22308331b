//! Seat holds and bookings behind the gateway: the promise that no seat is ever sold twice.
//! Holds are short-lived locks (`HoldStore`: Redis `SET NX PX` + Lua, or memory) carrying a
//! fencing token; bookings are rows in a ledger (`Ledger`: PostgreSQL, or embedded SQLite)
//! whose constraints are the final word — when the hold store and the ledger disagree, the
//! ledger wins. Confirmations are idempotent by key. `service` is the HTTP API.

pub mod holds;
pub mod ledger;
pub mod model;
pub mod service;
pub mod waitlist;

pub use model::*;
