//! Assembling a gateway: the proxy service on the public listener, the store owner, the
//! admin API and the metrics endpoint, in one Pingora server.

use std::sync::{Arc, OnceLock};

use pingora::apps::http_app::HttpServer;
use pingora::listeners::ListenerConfig;
use pingora::protocols::l4::stream::L4BufferSettings;
use pingora::proxy::http_proxy;
use pingora::server::configuration::ServerConf;
use pingora::server::Server;
use pingora::services::background::background_service;
use pingora::services::listening::Service;

use anteroom_admission::Keyring;
use anteroom_config::GatewayConfig;

use crate::adapter::head_deadline::HEAD_TIMEOUT;
use crate::adapter::public_app::PublicApp;
use crate::adapter::GatewayProxy;
use crate::gateway::metrics::Metrics;
use crate::gateway::Gateway;
use crate::runtime::services::admin::AdminApi;
use crate::runtime::services::health::StoreHealth;
use crate::runtime::services::metrics_endpoint::MetricsEndpoint;
use crate::runtime::services::store_owner::StoreOwner;
use crate::runtime::store_connect;
use crate::runtime::tls::{self, CertStore};

/// Build the keyring the config names.
pub fn keyring(config: &GatewayConfig) -> Result<Keyring, String> {
    Keyring::from_config(&config.keys).map_err(|error| format!("keys: {error}"))
}

/// A Pingora server with every gateway service added, ready to run.
pub fn build(config: &GatewayConfig) -> Result<(Server, Arc<Gateway>), String> {
    build_with_store(config, store_connect::factory(&config.store))
}

/// The same, with the store made by `factory` (the demo shares one memory store).
pub fn build_with_store(
    config: &GatewayConfig,
    factory: store_connect::StoreFactory,
) -> Result<(Server, Arc<Gateway>), String> {
    build_with_certs(config, factory, tls::public_certs(config)?)
}

/// The same, the public listener presenting `certs` when TLS is configured (the caller
/// keeps the store to `reload()` it; `tls::public_certs` loads it from the config).
pub fn build_with_certs(
    config: &GatewayConfig,
    factory: store_connect::StoreFactory,
    certs: Option<Arc<CertStore>>,
) -> Result<(Server, Arc<Gateway>), String> {
    let threads = config.listen.threads.unwrap_or_else(threads_per_core);
    let conf = ServerConf {
        // Shutdown must not wait Pingora's default five minutes.
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(5),
        work_stealing: work_stealing(threads),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();
    let server_conf = server.configuration.clone();

    let slot = Arc::new(OnceLock::new());
    let health = Arc::new(StoreHealth::new());
    let metrics = Arc::new(Metrics::new());
    let gateway = Arc::new(Gateway::new(
        config,
        keyring(config)?,
        slot.clone(),
        metrics,
    )?);

    let owner = background_service(
        "store",
        StoreOwner {
            gateway: gateway.clone(),
            slot,
            factory,
            guard_factory: store_connect::guard_factory(&config.store),
            health: health.clone(),
            tick_count: Default::default(),
        },
    );
    let owner_handle = server.add_service(owner);

    // Request heads are time-bounded (slowloris): Pingora bounds only each read. Live
    // streams are served on the connection by the public app, everything else by the proxy.
    let mut proxy = Service::new(
        "Pingora HTTP Proxy Service".to_string(),
        PublicApp::new(
            http_proxy(
                &server_conf,
                GatewayProxy::new(gateway.clone()).with_access_log(config.log.access),
            ),
            gateway.clone(),
            HEAD_TIMEOUT,
            certs.map(tls::acceptor).transpose()?,
        ),
    );
    // A small read buffer in front of every connection instead of Pingora's 64 KiB: the
    // public app peeks the first bytes of each request (is it a stream?), and with a buffer
    // that peek's one read takes in the whole head, so Pingora parses it without a second
    // read; 64 KiB would keep pages resident under every long-lived stream.
    proxy.add_listener(
        ListenerConfig::tcp(config.listen.public.to_string())
            .l4_buffer(L4BufferSettings::default().read(PUBLIC_READ_BUFFER)),
    );
    proxy.threads = Some(threads);
    let proxy_handle = server.add_service(proxy);
    proxy_handle.add_dependency(&owner_handle);

    let mut admin = Service::new(
        "admin".to_string(),
        HttpServer::new_app(AdminApi {
            gateway: gateway.clone(),
            token: config.admin.token.as_ref().map(|token| token.0.clone()),
            health: health.clone(),
        }),
    );
    admin.add_tcp(&config.listen.admin.to_string());
    server.add_service(admin);

    let mut metrics_endpoint = Service::new(
        "metrics".to_string(),
        HttpServer::new_app(MetricsEndpoint {
            gateway: gateway.clone(),
            health,
        }),
    );
    metrics_endpoint.add_tcp(&config.listen.metrics.to_string());
    server.add_service(metrics_endpoint);

    Ok((server, gateway))
}

/// Bytes of the public listener's per-connection read buffer: a request head fits.
const PUBLIC_READ_BUFFER: usize = 4096;

/// The default worker count of the public listener: one thread per core.
pub fn threads_per_core() -> usize {
    std::thread::available_parallelism()
        .map(|threads| threads.get())
        .unwrap_or(2)
}

/// Pingora's runtime flavour for `threads` workers. One worker gets a single-threaded
/// runtime: nothing to steal from, and no cross-thread wake-ups or work-stealing queues on
/// every request (a third less CPU per proxied request than a one-worker work-stealing
/// runtime, `docs/benchmarks.md`). More workers keep Pingora's work-stealing default, which
/// spreads slow connections over the cores.
pub fn work_stealing(threads: usize) -> bool {
    threads > 1
}
