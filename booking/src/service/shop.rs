//! The demo shop: one page that lets a visitor pick seats, hold them and book them through
//! this API (behind the gateway, which forwards the visitor's pass).

use axum::response::Html;
use axum::routing::get;
use axum::Router;

const SHOP: &str = include_str!("shop.html");

/// `GET /` serves the shop for `event`.
pub fn shop_router(event: &str) -> Router {
    let page = SHOP.replace("{{EVENT}}", event);
    Router::new().route("/", get(move || async move { Html(page) }))
}
