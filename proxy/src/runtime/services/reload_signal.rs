//! SIGHUP reloads the config. Pingora handles SIGINT, SIGTERM and SIGQUIT only; SIGHUP's
//! default action would end the process, so `take_over_hangup` replaces it before the
//! listeners open and this service reloads on each one.

use std::sync::Arc;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::signal::unix::{signal, SignalKind};

use crate::runtime::reload::Reloader;

pub struct ReloadOnHangup {
    pub reloader: Arc<Reloader>,
}

#[async_trait]
impl BackgroundService for ReloadOnHangup {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut hangups = match signal(SignalKind::hangup()) {
            Ok(hangups) => hangups,
            Err(error) => {
                log::error!("cannot listen for SIGHUP, reload by signal is off: {error}");
                return;
            }
        };
        log::info!("reload: SIGHUP re-reads the config");
        loop {
            tokio::select! {
                got = hangups.recv() => {
                    if got.is_none() {
                        return;
                    }
                    // Logged either way; a refused reload leaves the running config serving.
                    let _ = self.reloader.reload_logged().await;
                }
                _ = shutdown.changed() => return,
            }
        }
    }
}

/// Replace SIGHUP's default action (end the process) for good, before any listener opens:
/// a SIGHUP that arrives before `ReloadOnHangup` runs is then dropped, not fatal. The
/// handler tokio installs stays for the life of the process.
pub fn take_over_hangup() -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .map_err(|error| format!("cannot start a runtime: {error}"))?;
    runtime
        .block_on(async { signal(SignalKind::hangup()).map(drop) })
        .map_err(|error| format!("cannot handle SIGHUP: {error}"))
}
