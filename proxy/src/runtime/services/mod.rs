//! The Pingora services a gateway runs beside its proxy: the store owner (connects, seeds
//! rooms, ticks admission, refreshes live settings), the admin API and the metrics endpoint.

pub mod admin;
pub mod health;
pub mod metrics_endpoint;
pub mod reload_signal;
pub mod store_owner;

use bytes::Bytes;
use http::Response;
use pingora::protocols::http::ServerSession;

/// Largest request body the admin API reads.
pub const MAX_ADMIN_BODY: usize = 64 * 1024;

pub fn json_response(status: u16, body: &serde_json::Value) -> Response<Vec<u8>> {
    let body = body.to_string().into_bytes();
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .header("content-length", body.len())
        .body(body)
        .unwrap_or_else(|_| Response::new(Vec::new()))
}

pub fn error_response(status: u16, code: &str, detail: &str) -> Response<Vec<u8>> {
    json_response(
        status,
        &serde_json::json!({ "error": code, "detail": detail }),
    )
}

/// Read a whole request body up to `limit` bytes; None if it is larger.
pub async fn read_body(session: &mut ServerSession, limit: usize) -> Result<Option<Bytes>, String> {
    let mut body = Vec::new();
    loop {
        match session.read_request_body().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    return Ok(None);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(Some(Bytes::from(body))),
            Err(error) => return Err(error.to_string()),
        }
    }
}
