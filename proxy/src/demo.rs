//! `anteroom demo`: the gateway on the memory store in front of a small built-in shop, one
//! command, nothing to install.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::{HttpServer, ServeHttp};
use pingora::protocols::http::ServerSession;
use pingora::services::listening::Service;

use anteroom_admission::generate_secret;
use anteroom_config::{
    AdminConfig, GatewayConfig, KeysConfig, ListenConfig, ProxyConfig, RoomConfig, RoomMode,
    Secret, StoreBackend, StoreConfig,
};

use crate::pages::escape_html;

pub const DEMO_ROOM: &str = "demo";

/// The demo's config: one room over the whole shop, a low cap so a few browser windows (or a
/// curl loop) show the queue at work.
pub fn demo_config(port: u16, shop: SocketAddr, admin_token: &str) -> GatewayConfig {
    let mut secrets = BTreeMap::new();
    secrets.insert("demo".to_string(), Secret(generate_secret().into_bytes()));
    GatewayConfig {
        listen: ListenConfig {
            public: SocketAddr::from(([127, 0, 0, 1], port)),
            admin: SocketAddr::from(([127, 0, 0, 1], port.wrapping_add(1000))),
            metrics: SocketAddr::from(([127, 0, 0, 1], port.wrapping_add(1010))),
        },
        proxy: ProxyConfig::default(),
        store: StoreConfig {
            backend: StoreBackend::Memory,
            url: None,
        },
        keys: KeysConfig {
            signing: "demo".into(),
            secrets,
        },
        admin: AdminConfig {
            token: Some(Secret(admin_token.as_bytes().to_vec())),
        },
        rooms: vec![RoomConfig {
            id: DEMO_ROOM.into(),
            origin: shop.to_string(),
            hosts: vec![],
            paths: vec!["/".into()],
            mode: RoomMode::SafetyNet,
            admit_per_second: 1.0,
            max_active: 3,
            session_seconds: 300,
            abandon_after_seconds: 60,
        }],
    }
}

/// A free loopback port for the shop (the gateway's own ports are the user's choice).
pub fn free_loopback_addr() -> std::io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

pub fn shop_service(addr: SocketAddr) -> Service<HttpServer<DemoShop>> {
    let mut service = Service::new("demo shop".to_string(), HttpServer::new_app(DemoShop));
    service.add_tcp(&addr.to_string());
    service
}

pub struct DemoShop;

#[async_trait]
impl ServeHttp for DemoShop {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let pass = session
            .req_header()
            .headers
            .get("x-anteroom-pass")
            .and_then(|value| value.to_str().ok())
            .unwrap_or("(none)")
            .to_string();
        let body = SHOP_PAGE
            .replace("{{PASS}}", &escape_html(&pass))
            .into_bytes();
        Response::builder()
            .status(200)
            .header("content-type", "text/html; charset=utf-8")
            .header("cache-control", "no-store")
            .header("content-length", body.len())
            .body(body)
            .unwrap_or_else(|_| Response::new(Vec::new()))
    }
}

const SHOP_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Anteroom demo shop</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}
code{word-break:break-all;font-size:.8rem}button{font:inherit;padding:.5rem 1rem}</style></head>
<body><h1>🎟️ Tour 2027 — you're in!</h1>
<p>The gateway admitted you and forwarded your signed pass to this shop as <code>X-Anteroom-Pass</code>:</p>
<p><code>{{PASS}}</code></p>
<p>Only 3 visitors may shop at once. Open this page in more private windows to see the queue,
or give your place up so the next visitor goes in:</p>
<button onclick="fetch('/_anteroom/leave?room=demo',{method:'POST'}).then(()=>location.reload())">Leave the shop</button>
</body></html>"#;
