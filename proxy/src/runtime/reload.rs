//! Reload: the config file read again (SIGHUP, `POST /v1/reload`) and put in force without a
//! restart — rooms added, removed or changed, room settings, keys. A file that does not pass
//! `anteroom check`, or whose rooms cannot be put in force (an origin that does not resolve,
//! a store that does not answer), is refused whole: the running config keeps serving, and
//! the reason is logged.
//!
//! What a reload cannot change (the listeners' addresses, their thread count, the store, the
//! admin token, the upgrade socket and grace period, the TLS file paths (their contents are
//! re-read), logging) is logged as needing a restart; the
//! rest of the file is applied.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anteroom_config::{ConfigError, GatewayConfig};

use crate::gateway::engine::configured_settings;
use crate::gateway::{CurrentGateway, Gateway, RoomChanges};
use crate::runtime::server::keyring;

/// A part of the gateway that re-reads its share of the config on a reload (TLS
/// certificates, for one). Steps run in order after the new config was checked and its
/// rooms seeded, before it is put in force; the first to fail refuses the reload.
pub trait ReloadStep: Send + Sync {
    fn name(&self) -> &'static str;
    fn reload(&self, config: &GatewayConfig) -> Result<(), String>;
}

pub struct Reloader {
    path: PathBuf,
    current: Arc<CurrentGateway>,
    /// The config the process started with: what the restart-only fields are compared to.
    started: GatewayConfig,
    steps: Vec<Box<dyn ReloadStep>>,
    /// One reload at a time (a SIGHUP during a `POST /v1/reload`).
    running: tokio::sync::Mutex<()>,
}

/// What a reload put in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reloaded {
    pub rooms: RoomChanges,
    /// Fields the file changed that only a restart (or `serve --upgrade`) applies.
    pub needs_restart: Vec<&'static str>,
}

/// Read and check a gateway config as `anteroom check` does (keys and the TLS pair
/// included): the error names the file, line and field.
pub fn load_checked(path: &Path) -> Result<GatewayConfig, ConfigError> {
    let invalid = |field: &str, message: String| ConfigError::Invalid {
        file: path.display().to_string(),
        line: 1,
        column: 1,
        field: field.into(),
        message,
    };
    let config = anteroom_config::load_gateway_config(path)?;
    keyring(&config).map_err(|detail| invalid("keys", detail))?;
    // The pair parses and belongs together (the config checked only that it is PEM).
    crate::runtime::tls::public_certs(&config)
        .map_err(|detail| invalid("listen.tls_key", detail))?;
    Ok(config)
}

impl Reloader {
    pub fn new(path: PathBuf, current: Arc<CurrentGateway>, started: GatewayConfig) -> Reloader {
        Reloader {
            path,
            current,
            started,
            steps: Vec::new(),
            running: tokio::sync::Mutex::new(()),
        }
    }

    /// Add a step every reload runs (see `ReloadStep`): TLS certificates go here.
    pub fn add_step(&mut self, step: Box<dyn ReloadStep>) {
        self.steps.push(step);
    }

    /// Reload, and log what happened either way.
    pub async fn reload_logged(&self) -> Result<Reloaded, String> {
        let result = self.reload().await;
        match &result {
            Ok(reloaded) => {
                log::warn!(
                    "reload: {} in force (rooms: {})",
                    self.path.display(),
                    reloaded.rooms.summary()
                );
                for field in &reloaded.needs_restart {
                    log::warn!(
                        "reload: `{field}` changed but needs a restart (`anteroom serve --upgrade`); the running value stays"
                    );
                }
            }
            Err(reason) => {
                log::error!("reload refused, the running config keeps serving: {reason}")
            }
        }
        result
    }

    pub async fn reload(&self) -> Result<Reloaded, String> {
        let _one_at_a_time = self.running.lock().await;
        let config = load_checked(&self.path).map_err(|error| error.to_string())?;
        let previous = self.current.get();
        let (next, rooms) = previous
            .successor(&config, keyring(&config)?)
            .map_err(|error| format!("{}: {error}", self.path.display()))?;
        seed(&next).await?;
        for step in &self.steps {
            step.reload(&config)
                .map_err(|error| format!("{}: {error}", step.name()))?;
        }
        self.current.replace(next);
        previous.close_rooms_gone_from(&self.current.get());
        Ok(Reloaded {
            rooms,
            needs_restart: needs_restart(&self.started, &config),
        })
    }
}

/// Register every room of `next` in the store (a new room gets its line) and take the
/// settings the store answers. The store's seeding rule decides between the file and live
/// changes: knobs the file changed for a room replace the live ones, otherwise live changes
/// made through the admin API stay (`QueueStore::init_room`). Before the store is connected
/// there is nothing to do: the store owner seeds the rooms in force when it connects.
async fn seed(next: &Gateway) -> Result<(), String> {
    let Some(store) = next.store().cloned() else {
        return Ok(());
    };
    for (index, room) in next.rooms.iter().enumerate() {
        let id = room.config.id.as_str();
        let settings = next
            .timed(
                "init_room",
                store.init_room(id, &configured_settings(&room.config)),
            )
            .await
            .map_err(|error| format!("store: seeding room `{id}` failed: {error}"))?;
        next.update_live(index, |live| live.settings = settings);
    }
    Ok(())
}

/// The fields that differ between what the process started with and `config`, of those a
/// reload does not apply.
pub fn needs_restart(started: &GatewayConfig, config: &GatewayConfig) -> Vec<&'static str> {
    let (was, now) = (&started.listen, &config.listen);
    [
        ("listen.public", was.public != now.public),
        ("listen.admin", was.admin != now.admin),
        ("listen.metrics", was.metrics != now.metrics),
        ("listen.threads", was.threads != now.threads),
        (
            "listen.upgrade_socket",
            was.upgrade_socket != now.upgrade_socket,
        ),
        (
            "listen.shutdown_grace_seconds",
            was.shutdown_grace_seconds != now.shutdown_grace_seconds,
        ),
        // The files named at start are re-read on every reload; other paths (or TLS
        // turned on or off) take a restart.
        ("listen.tls_cert/tls_key", was.tls != now.tls),
        (
            "listen.proxy_protocol",
            was.proxy_protocol != now.proxy_protocol,
        ),
        ("listen.direct_path", was.direct_path != now.direct_path),
        ("log", started.log != config.log),
        ("store", started.store != config.store),
        ("admin.token", started.admin != config.admin),
    ]
    .into_iter()
    .filter_map(|(field, changed)| changed.then_some(field))
    .collect()
}
