//! Assembling a gateway: the proxy service on the public listener, the store owner, the
//! admin API and the metrics endpoint, in one Pingora server.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use pingora::apps::http_app::HttpServer;
use pingora::listeners::ListenerConfig;
use pingora::protocols::l4::stream::L4BufferSettings;
use pingora::proxy::http_proxy;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;
use pingora::services::background::background_service;
use pingora::services::listening::Service;

use anteroom_admission::Keyring;
use anteroom_config::GatewayConfig;

use crate::adapter::head_deadline::HEAD_TIMEOUT;
use crate::adapter::public_app::PublicApp;
use crate::adapter::GatewayProxy;
use crate::gateway::metrics::Metrics;
use crate::gateway::{CurrentGateway, Gateway};
use crate::runtime::reload::Reloader;
use crate::runtime::services::admin::AdminApi;
use crate::runtime::services::health::StoreHealth;
use crate::runtime::services::metrics_endpoint::MetricsEndpoint;
use crate::runtime::services::reload_signal::{take_over_hangup, ReloadOnHangup};
use crate::runtime::services::store_owner::StoreOwner;
use crate::runtime::store_connect;
use crate::runtime::tls::{self, CertStore};

/// Build the keyring the config names.
pub fn keyring(config: &GatewayConfig) -> Result<Keyring, String> {
    Keyring::from_config(&config.keys).map_err(|error| format!("keys: {error}"))
}

/// The gateway `anteroom serve` runs: every service added, ready to run; `file` (the config
/// was read from it) is read again on SIGHUP and `POST /v1/reload`. With `upgrade`, the
/// listeners are taken over from the running instance (see `server_conf`), not opened.
pub fn build_from_file(
    file: &Path,
    config: &GatewayConfig,
    upgrade: bool,
) -> Result<(Server, Arc<CurrentGateway>), String> {
    take_over_hangup()?;
    let factory = store_connect::factory(&config.store);
    assemble(
        config,
        factory,
        Some(file),
        upgrade,
        tls::public_certs(config)?,
    )
}

/// A gateway with the store made by `factory` and nothing to reload (the demo shares one
/// memory store).
pub fn build_with_store(
    config: &GatewayConfig,
    factory: store_connect::StoreFactory,
) -> Result<(Server, Arc<CurrentGateway>), String> {
    assemble(config, factory, None, false, tls::public_certs(config)?)
}

/// How long a new instance started with `--upgrade` waits for the running one to hand its
/// listeners over (the operator sends that one SIGQUIT meanwhile), one try a second.
const UPGRADE_WAIT_SECONDS: usize = 60;

/// Pingora's server settings: the grace period from the config (Pingora's default of five
/// minutes would keep an upgraded-away process that long), the upgrade socket, the runtime.
fn server_conf(config: &GatewayConfig, threads: usize) -> ServerConf {
    ServerConf {
        grace_period_seconds: Some(config.listen.shutdown_grace_seconds),
        graceful_shutdown_timeout_seconds: Some(5),
        upgrade_sock: config.listen.upgrade_socket().display().to_string(),
        upgrade_sock_connect_accept_max_retries: Some(UPGRADE_WAIT_SECONDS),
        work_stealing: work_stealing(threads),
        ..ServerConf::default()
    }
}

fn assemble(
    config: &GatewayConfig,
    factory: store_connect::StoreFactory,
    file: Option<&Path>,
    upgrade: bool,
    certs: Option<Arc<CertStore>>,
) -> Result<(Server, Arc<CurrentGateway>), String> {
    let threads = config.listen.threads.unwrap_or_else(threads_per_core);
    let opt = Opt {
        upgrade,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(Some(opt), server_conf(config, threads));
    // With `upgrade`, this waits for the running instance's listeners (it exits on failure).
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
    let current = CurrentGateway::new_shared(gateway.clone());
    let reloader = match file {
        Some(file) => {
            // The reload steps beyond rooms, settings and keys, in the order they run.
            let mut reloader = Reloader::new(file.to_path_buf(), current.clone(), config.clone());
            if let Some(certs) = &certs {
                reloader.add_step(Box::new(tls::ReloadCertificates(certs.clone())));
            }
            let reloader = Arc::new(reloader);
            server.add_service(background_service(
                "reload",
                ReloadOnHangup {
                    reloader: reloader.clone(),
                },
            ));
            Some(reloader)
        }
        None => None,
    };

    let owner = background_service(
        "store",
        StoreOwner {
            current: current.clone(),
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
                GatewayProxy::new(current.clone()).with_access_log(config.log.access),
            ),
            current.clone(),
            HEAD_TIMEOUT,
            certs.map(tls::acceptor).transpose()?,
        )
        .with_proxy_protocol(config.listen.proxy_protocol)
        .with_access_log(config.log.access)
        .with_direct_path(config.listen.direct_path),
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
            current: current.clone(),
            token: config.admin.token.as_ref().map(|token| token.0.clone()),
            health: health.clone(),
            reloader,
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

    Ok((server, current))
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
