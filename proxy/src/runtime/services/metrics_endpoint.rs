//! `GET /metrics` (Prometheus text) and `GET /healthz` on the metrics listener.

use std::sync::Arc;

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;

use super::health::StoreHealth;
use crate::gateway::Gateway;

pub struct MetricsEndpoint {
    pub gateway: Arc<Gateway>,
    pub health: Arc<StoreHealth>,
}

#[async_trait]
impl ServeHttp for MetricsEndpoint {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        match path.as_str() {
            "/metrics" => {
                let body = self.gateway.metrics.render();
                Response::builder()
                    .status(200)
                    .header("content-type", "text/plain; version=0.0.4")
                    .header("content-length", body.len())
                    .body(body)
                    .unwrap_or_else(|_| Response::new(Vec::new()))
            }
            "/healthz" => {
                let (status, body) = self.health.healthz();
                super::json_response(status, &body)
            }
            _ => super::error_response(404, "not_found", "try /metrics or /healthz"),
        }
    }
}
