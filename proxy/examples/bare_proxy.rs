//! A bare Pingora passthrough to one origin: the baseline the admitted-request benchmark
//! compares Anteroom with (`bench/admitted.sh`).
//!
//! It runs Pingora exactly as the gateway does (`proxy/src/runtime/server.rs`): the same
//! `ServerConf` (grace period 1 s, shutdown timeout 5 s, work stealing only with more than
//! one thread), one proxy service with the same thread count (`--threads`, default one per
//! core like the gateway's `[listen] threads`), the same plain-HTTP `HttpPeer` with Pingora's
//! upstream connection pool, the same logger. It has no request logic at all: every
//! request goes to `--origin` as it came. With `--tls-cert` and `--tls-key` it terminates
//! TLS the plain Pingora way (rustls, the files read once, HTTP/2 offered by ALPN), the
//! baseline of `bench/admitted.sh --tls`.
//!
//! ```text
//! cargo run --release -p anteroom --example bare_proxy -- \
//!     --listen 127.0.0.1:8081 --origin 127.0.0.1:3000
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;

use async_trait::async_trait;
use clap::Parser;
use pingora::prelude::*;
use pingora::proxy::http_proxy_service;
use pingora::server::configuration::ServerConf;

#[derive(Parser)]
#[command(about = "A bare Pingora reverse proxy to one origin (benchmark baseline)")]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: SocketAddr,
    /// The origin every request goes to (`IP:port`).
    #[arg(long, default_value = "127.0.0.1:3000")]
    origin: SocketAddr,
    /// Worker threads (default: one per core, as the gateway's `[listen] threads`).
    #[arg(long)]
    threads: Option<usize>,
    /// One single-threaded runtime per thread even with several threads (an experiment:
    /// the gateway steals work with more than one thread).
    #[arg(long)]
    no_steal: bool,
    /// PEM certificate chain: listen with TLS (with `--tls-key`).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<String>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<String>,
}

struct Passthrough {
    origin: SocketAddr,
}

#[async_trait]
impl ProxyHttp for Passthrough {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        Ok(Box::new(HttpPeer::new(self.origin, false, String::new())))
    }
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let args = Args::parse();

    let threads = args
        .threads
        .unwrap_or_else(anteroom::runtime::server::threads_per_core);
    let conf = ServerConf {
        grace_period_seconds: Some(1),
        graceful_shutdown_timeout_seconds: Some(5),
        work_stealing: anteroom::runtime::server::work_stealing(threads) && !args.no_steal,
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(None, conf);
    server.bootstrap();

    let mut proxy = http_proxy_service(
        &server.configuration,
        Passthrough {
            origin: args.origin,
        },
    );
    match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let mut settings = pingora::listeners::tls::TlsSettings::intermediate(cert, key)
                .expect("TLS settings");
            settings.enable_h2();
            proxy.add_tls_with_settings(&args.listen.to_string(), None, settings);
        }
        _ => proxy.add_tcp(&args.listen.to_string()),
    }
    proxy.threads = Some(threads);
    server.add_service(proxy);

    log::info!(
        "bare Pingora passthrough on {}://{} -> {}",
        if args.tls_cert.is_some() {
            "https"
        } else {
            "http"
        },
        args.listen,
        args.origin
    );
    server.run_forever()
}
