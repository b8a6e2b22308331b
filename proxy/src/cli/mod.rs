//! The operator's command line: `anteroom ctl` over the admin API (the binary's other
//! commands — serve, booking, demo, check, keygen — are parsed in `main.rs`).

pub mod ctl;
