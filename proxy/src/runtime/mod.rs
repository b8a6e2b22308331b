//! Running a gateway: the Pingora server and its services (store owner, admin API, metrics
//! endpoint), connecting the store, hosting the booking service in-process, and the demo.

pub mod access_line;
pub mod booking_host;
pub mod demo;
pub mod log_writer;
pub mod logs;
pub mod reload;
pub mod server;
pub mod services;
pub mod store_connect;
pub mod tls;
