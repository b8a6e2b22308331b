//! `RedisStore`: every gateway instance shares one Redis; each operation is one Lua script
//! (atomic, one round trip) over a pool of connections. Time comes from Redis `TIME`, so one
//! token bucket per room in Redis holds the admission rate across all instances.

mod decode;
mod run_script;
mod scripts;
mod tls;

use std::path::PathBuf;
use std::time::Duration;

use anteroom_admission::VisitorId;
use anteroom_config::REDIS_SCHEMES;
use async_trait::async_trait;
use fred::prelude::{Builder, ClientLike, Config, Pool, ReconnectPolicy};
use fred::types::scripts::Script;
use fred::types::FromValue;

use crate::keys::{visitor_member, RoomKeys};
use crate::settings::{
    self, flag, settings_digest, to_fields, validate_patch, validate_settings, CONFIGURED_FIELDS,
};
use crate::store::{
    Frontier, Joined, Left, Placement, QueueStore, Revocation, RevocationPage, Revoked,
    RoomSettings, RoomStats, SettingsPatch, StoreError, TickOutcome, FRONTIER_PAGE,
    REVOCATION_GRACE_MS, REVOCATION_PAGE, TOUCH_BATCH,
};

pub use decode::is_transient_redis_error;
pub use run_script::run_script;
pub use scripts::{JOIN_FUNCTION_LUA, JOIN_LUA};

/// The join's reply (of `JOIN_LUA`, or of `join_place()` in `JOIN_FUNCTION_LUA`) as `Joined`.
pub fn decode_join_reply(reply: &[i64]) -> Result<Joined, StoreError> {
    decode::joined(reply)
}

/// The error every store call gives for a room the store does not know (never initialised,
/// or lost in a flush): the gateway's ticker restores the room when it sees it.
pub fn unknown_room(room: &str) -> StoreError {
    decode::unknown_room(room)
}

/// How the store talks to Redis.
#[derive(Debug, Clone)]
pub struct RedisOptions {
    /// Connections in the pool (commands are pipelined on each).
    pub pool_size: usize,
    /// Every command fails with `StoreError::Unavailable` after this long instead of hanging
    /// while Redis is down or restarting.
    pub command_timeout: Duration,
    /// Limit for establishing one connection.
    pub connect_timeout: Duration,
    /// Reconnection backs off exponentially from 100 ms up to this, forever.
    pub reconnect_max_delay: Duration,
    /// How long a revocation stays in the log after no pass it refuses can be valid by the
    /// store's clock (`REVOCATION_GRACE_MS`; tests of purging shorten it).
    pub revocation_grace: Duration,
    /// PEM CA bundle that verifies a `rediss://` server instead of the system roots.
    pub tls_ca: Option<PathBuf>,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            pool_size: 4,
            command_timeout: Duration::from_secs(2),
            connect_timeout: Duration::from_secs(5),
            reconnect_max_delay: Duration::from_secs(2),
            revocation_grace: Duration::from_millis(REVOCATION_GRACE_MS),
            tls_ca: None,
        }
    }
}

/// A fred pool with the reconnect policy and timeouts every Anteroom Redis client needs
/// (fred's defaults are no reconnect and no command timeout), connected now: a startup
/// error is clearer than a service that hangs. Shared with the booking service's holds.
pub async fn connect_pool(url: &str, options: &RedisOptions) -> Result<Pool, StoreError> {
    // fred reads any scheme as plain Redis; a typo should fail here, not connect somewhere.
    // The schemes are the config's, so what `anteroom check` accepts is what connects.
    if !REDIS_SCHEMES.iter().any(|scheme| url.starts_with(scheme)) {
        return Err(StoreError::Invalid(format!(
            "redis url `{url}`: use {}",
            REDIS_SCHEMES.join(", ")
        )));
    }
    tls::install_crypto_provider();
    let mut config = Config::from_url(url)
        .map_err(|e| StoreError::Invalid(format!("redis url `{url}`: {e}")))?;
    tls::apply(url, options.tls_ca.as_deref(), &mut config)?;
    let max_delay = u32::try_from(options.reconnect_max_delay.as_millis()).unwrap_or(u32::MAX);
    let command_timeout = options.command_timeout;
    let connect_timeout = options.connect_timeout;
    let pool = Builder::from_config(config)
        .with_performance_config(|perf| {
            perf.default_command_timeout = command_timeout;
        })
        .with_connection_config(|conn| {
            conn.connection_timeout = connect_timeout;
            conn.internal_command_timeout = command_timeout;
        })
        // max_attempts 0 = retry forever; a client outlives any Redis restart.
        .set_policy(ReconnectPolicy::new_exponential(
            0,
            100,
            max_delay.max(100),
            2,
        ))
        .build_pool(options.pool_size.max(1))
        .map_err(|e| StoreError::Invalid(format!("redis client: {e}")))?;
    pool.init()
        .await
        .map_err(|e| StoreError::Unavailable(format!("connect to {url}: {e}")))?;
    Ok(pool)
}

pub struct RedisStore {
    pool: Pool,
    scripts: scripts::Scripts,
    revocation_grace_ms: String,
}

/// Most revocations one restore call sends (the rest follow in further calls).
const RESTORE_CHUNK: usize = 500;

/// `digest, has_message, message` then the settings as field/value pairs without `message`,
/// the configured fields first: the argument layout of init_room and restore_room.
fn settings_args(digest: String, settings: &RoomSettings) -> (Vec<String>, usize) {
    let mut args = vec![
        digest,
        flag(settings.message.is_some()).to_string(),
        settings.message.clone().unwrap_or_default(),
    ];
    let fields = to_fields(settings);
    let (configured, flags): (Vec<_>, Vec<_>) = fields
        .into_iter()
        .filter(|(field, _)| *field != settings::F_MESSAGE)
        .partition(|(field, _)| CONFIGURED_FIELDS.contains(field));
    let n_configured = configured.len();
    for (field, value) in configured.into_iter().chain(flags) {
        args.push(field.to_string());
        args.push(value);
    }
    (args, n_configured)
}

impl RedisStore {
    /// Connect (failing at once if Redis cannot be reached now: a startup error is clearer
    /// than a gateway that hangs), load the scripts, and keep reconnecting after that.
    /// `url`: redis://, rediss://, redis-cluster://, redis-sentinel://, redis+unix:///PATH.
    pub async fn connect(url: &str, options: RedisOptions) -> Result<RedisStore, StoreError> {
        let pool = connect_pool(url, &options).await?;
        let store = RedisStore {
            pool,
            scripts: scripts::Scripts::new(),
            revocation_grace_ms: options.revocation_grace.as_millis().to_string(),
        };
        for script in store.scripts.all() {
            script
                .load(store.pool.next())
                .await
                .map_err(|e| StoreError::Unavailable(format!("load scripts: {e}")))?;
        }
        Ok(store)
    }

    /// SHA-1 of the join script (as loaded by `connect`), for benchmarks that call it directly.
    pub fn join_script_sha(&self) -> String {
        self.scripts.join.sha1().to_string()
    }

    /// Close every connection.
    pub async fn quit(&self) -> Result<(), StoreError> {
        self.pool
            .quit()
            .await
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    /// Run `script` on the room's keys with the arguments `args` makes (again only when
    /// Redis lost its script cache: see `run_script`).
    async fn eval<R: FromValue>(
        &self,
        script: &Script,
        room: &str,
        args: impl Fn() -> Vec<String>,
    ) -> Result<R, StoreError> {
        run_script(script, self.pool.next(), || {
            (RoomKeys::new(room).to_vec(), args())
        })
        .await
        .map_err(|e| decode::store_error(room, e))
    }
}

#[async_trait]
impl QueueStore for RedisStore {
    async fn init_room(
        &self,
        room: &str,
        configured: &RoomSettings,
    ) -> Result<RoomSettings, StoreError> {
        validate_settings(configured)?;
        let (mut args, n_configured) = settings_args(settings_digest(configured), configured);
        args.insert(3, n_configured.to_string());
        let flat: Vec<String> = self
            .eval(&self.scripts.init_room, room, || args.clone())
            .await?;
        settings::from_hash(flat)
    }

    async fn restore_room(
        &self,
        room: &str,
        configured: &RoomSettings,
        live: &RoomSettings,
    ) -> Result<(RoomSettings, bool), StoreError> {
        validate_settings(live)?;
        let (args, _) = settings_args(settings_digest(configured), live);
        let mut flat: Vec<String> = self
            .eval(&self.scripts.restore_room, room, || args.clone())
            .await?;
        if flat.is_empty() {
            return Err(StoreError::Protocol("empty restore_room reply".into()));
        }
        let restored = flat.remove(0) == "1";
        Ok((settings::from_hash(flat)?, restored))
    }

    async fn settings(&self, room: &str) -> Result<RoomSettings, StoreError> {
        let flat: Vec<String> = self.eval(&self.scripts.settings, room, Vec::new).await?;
        settings::from_hash(flat)
    }

    async fn update_settings(
        &self,
        room: &str,
        patch: &SettingsPatch,
    ) -> Result<RoomSettings, StoreError> {
        validate_patch(patch)?;
        let mut set: Vec<(&str, String)> = Vec::new();
        let mut delete: Vec<&str> = Vec::new();
        if let Some(mode) = patch.mode {
            set.push((settings::F_MODE, mode.as_str().to_string()));
        }
        if let Some(rate) = patch.admit_per_second {
            set.push((settings::F_RATE, format!("{rate}")));
        }
        if let Some(max_active) = patch.max_active {
            set.push((settings::F_MAX_ACTIVE, max_active.to_string()));
        }
        if let Some(paused) = patch.paused {
            set.push((settings::F_PAUSED, flag(paused).to_string()));
        }
        if let Some(sold_out) = patch.sold_out {
            set.push((settings::F_SOLD_OUT, flag(sold_out).to_string()));
        }
        match &patch.message {
            Some(Some(message)) => set.push((settings::F_MESSAGE, message.clone())),
            Some(None) => delete.push(settings::F_MESSAGE),
            None => {}
        }
        let mut args = vec![set.len().to_string()];
        for (field, value) in set {
            args.push(field.to_string());
            args.push(value);
        }
        args.extend(delete.into_iter().map(str::to_string));
        let flat: Vec<String> = self
            .eval(&self.scripts.update_settings, room, || args.clone())
            .await?;
        settings::from_hash(flat)
    }

    async fn join(&self, room: &str, visitor: VisitorId) -> Result<Joined, StoreError> {
        let reply: Vec<i64> = self
            .eval(&self.scripts.join, room, || vec![visitor_member(visitor)])
            .await?;
        decode::joined(&reply)
    }

    async fn status(&self, room: &str, visitor: VisitorId) -> Result<Placement, StoreError> {
        let reply: Vec<i64> = self
            .eval(&self.scripts.status, room, || vec![visitor_member(visitor)])
            .await?;
        decode::placement(&reply)
    }

    async fn leave(&self, room: &str, visitor: VisitorId) -> Result<Left, StoreError> {
        let reply: Vec<i64> = self
            .eval(&self.scripts.leave, room, || vec![visitor_member(visitor)])
            .await?;
        decode::left(&reply, visitor)
    }

    async fn renew(&self, room: &str, visitor: VisitorId) -> Result<Option<u64>, StoreError> {
        let reply: Vec<i64> = self
            .eval(&self.scripts.renew, room, || vec![visitor_member(visitor)])
            .await?;
        match reply.as_slice() {
            [0] => Ok(None),
            [1, _] => Ok(Some(decode::counts::<2>(&reply, "renew")?[1])),
            other => Err(StoreError::Protocol(format!(
                "unexpected renew reply {other:?}"
            ))),
        }
    }

    async fn revoke(&self, room: &str, visitor: VisitorId) -> Result<Revoked, StoreError> {
        let reply: Vec<i64> = self
            .eval(&self.scripts.revoke, room, || {
                vec![visitor_member(visitor), self.revocation_grace_ms.clone()]
            })
            .await?;
        let [had, cutoff] = decode::counts::<2>(&reply, "revoke")?;
        Ok(Revoked {
            had_place: had == 1,
            revocation: Revocation {
                visitor,
                passes_expiring_by_ms: cutoff,
            },
        })
    }

    async fn revocations_since(
        &self,
        room: &str,
        cursor: &str,
    ) -> Result<RevocationPage, StoreError> {
        let reply: Vec<String> = self
            .eval(&self.scripts.revocations, room, || {
                vec![
                    cursor.to_string(),
                    self.revocation_grace_ms.clone(),
                    REVOCATION_PAGE.to_string(),
                ]
            })
            .await?;
        decode::revocation_page(&reply)
    }

    async fn restore_revocations(
        &self,
        room: &str,
        revocations: &[Revocation],
    ) -> Result<(), StoreError> {
        for chunk in revocations.chunks(RESTORE_CHUNK) {
            let mut args = Vec::with_capacity(1 + 2 * chunk.len());
            args.push(self.revocation_grace_ms.clone());
            for revocation in chunk {
                args.push(visitor_member(revocation.visitor));
                args.push(revocation.passes_expiring_by_ms.to_string());
            }
            let _logged: i64 = self
                .eval(&self.scripts.restore_revocations, room, || args.clone())
                .await?;
        }
        Ok(())
    }

    async fn admit_tick(&self, room: &str) -> Result<TickOutcome, StoreError> {
        let reply: Vec<i64> = self.eval(&self.scripts.admit_tick, room, Vec::new).await?;
        let [admitted, waiting, active, abandoned] = decode::counts::<4>(&reply, "admit_tick")?;
        Ok(TickOutcome {
            admitted,
            waiting,
            active,
            abandoned,
        })
    }

    async fn stats(&self, room: &str) -> Result<RoomStats, StoreError> {
        let reply: Vec<i64> = self.eval(&self.scripts.stats, room, Vec::new).await?;
        let [waiting, active, admitted_total, joins_total] = decode::counts::<4>(&reply, "stats")?;
        Ok(RoomStats {
            waiting,
            active,
            admitted_total,
            joins_total,
        })
    }

    async fn frontier(&self, room: &str, cursor: u64) -> Result<Frontier, StoreError> {
        let reply: Vec<String> = self
            .eval(&self.scripts.frontier, room, || {
                vec![cursor.to_string(), FRONTIER_PAGE.to_string()]
            })
            .await?;
        decode::frontier(&reply)
    }

    async fn touch(&self, room: &str, visitors: &[VisitorId]) -> Result<u64, StoreError> {
        let mut queued = 0;
        for batch in visitors.chunks(TOUCH_BATCH) {
            let count: i64 = self
                .eval(&self.scripts.touch, room, || {
                    batch.iter().copied().map(visitor_member).collect()
                })
                .await?;
            let [count] = decode::counts::<1>(&[count], "touch")?;
            queued += count;
        }
        Ok(queued)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        let _pong: String = self
            .pool
            .next()
            .ping(None)
            .await
            .map_err(|e| decode::store_error("", e))?;
        Ok(())
    }
}
