//! The gateway: the rooms, the keyring, the shared store and what each request leads to.

use std::future::Future;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

pub use anteroom_admission::{unix_now, unix_now_ms};
use anteroom_admission::{Keyring, PassClaims, VisitorId};
use anteroom_config::{GatewayConfig, RoomConfig};
use anteroom_queue::{Placement, QueueStore, RoomSettings, StoreError};

use super::access::AccessOutcome;
use super::cookies::set_cookie;
use super::guard::{shadow_placement, GuardGate, Screened, Screenee};
use super::live::LiveRoom;
use super::reply::{Outcome, ProxyPlan, Reply};
use super::router::Router;
use super::status::{ChallengeInfo, StatusObject};
use super::streams::StreamHub;
use super::{endpoints, protected, RequestFacts, ENDPOINT_PREFIX, PASS_COOKIE, VISITOR_COOKIE};
use crate::gateway::metrics::Metrics;

/// Filled once the store is connected (the store service starts before the proxy).
pub type StoreSlot = Arc<OnceLock<Arc<dyn QueueStore>>>;

/// How long the visitor-id cookie lives: long enough to survive a browser restart.
const VISITOR_COOKIE_SECONDS: u64 = 30 * 24 * 3600;

pub struct RoomEntry {
    pub config: RoomConfig,
    pub origin: SocketAddr,
    /// Shared with the gateway a reload replaces this one by, when it keeps the room: a
    /// change made through either (refresh, revoke) is never lost between the two.
    pub(super) live: Arc<RwLock<Arc<LiveRoom>>>,
}

impl RoomEntry {
    pub fn live(&self) -> Arc<LiveRoom> {
        match self.live.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

pub struct Gateway {
    pub rooms: Vec<RoomEntry>,
    router: Router,
    pub keyring: Keyring,
    pub(super) store: StoreSlot,
    default_origin: Option<SocketAddr>,
    pub metrics: Arc<Metrics>,
    /// The live status streams open on this instance and each room's line as they see it.
    pub streams: StreamHub,
    /// The bot guard: rules per room, keys, the shared counters.
    pub guard: GuardGate,
}

/// Who a request comes from: the id, its signed text, and the cookie to set when that text is
/// new to the client.
pub(super) struct KnownVisitor {
    pub id: VisitorId,
    pub signed: String,
    pub cookie: Option<String>,
    /// The id was made on this request: nothing in any store can name it yet.
    pub fresh: bool,
}

/// Where a visitor without a valid pass ended up.
pub(super) struct Placed {
    pub status: StatusObject,
    pub cookies: Vec<String>,
    /// Set when the visitor was admitted on this very request.
    pub issued_pass: Option<String>,
    /// The signed visitor id, when it is new to the client (fresh or re-signed).
    pub new_visitor_token: Option<String>,
    pub visitor: VisitorId,
    /// The visitor's ticket when it waits in the line (what streams compute positions from).
    pub ticket: Option<u64>,
    /// The guard turned the visitor away (the reason label).
    pub blocked: Option<&'static str>,
    /// The guard put the visitor in the shadow line (its status is made up).
    pub shadowed: bool,
    /// A clearance new to the client (apps read it from `X-Anteroom-Guard`).
    pub new_clearance: Option<String>,
}

impl Gateway {
    pub fn new(
        config: &GatewayConfig,
        keyring: Keyring,
        store: StoreSlot,
        metrics: Arc<Metrics>,
    ) -> Result<Gateway, String> {
        let mut rooms = Vec::with_capacity(config.rooms.len());
        for room in &config.rooms {
            metrics.add_room(&room.id, room.admit_per_second);
            rooms.push(RoomEntry {
                origin: resolve_origin(&room.origin)
                    .map_err(|error| format!("room `{}` origin: {error}", room.id))?,
                live: Arc::new(RwLock::new(Arc::new(LiveRoom::new(configured_settings(
                    room,
                ))))),
                config: room.clone(),
            });
        }
        let default_origin = match &config.proxy.default_origin {
            Some(origin) => Some(
                resolve_origin(origin).map_err(|error| format!("proxy.default_origin: {error}"))?,
            ),
            None => None,
        };
        let streams = StreamHub::new(
            config.streams,
            rooms.iter().map(|room| room.live().settings.clone()),
        );
        let signing_secret = config
            .keys
            .secrets
            .get(&config.keys.signing)
            .map(|secret| secret.0.clone())
            .ok_or_else(|| "keys.signing names no secret".to_string())?;
        Ok(Gateway {
            guard: GuardGate::new(config, &signing_secret),
            rooms,
            streams,
            router: Router::new(&config.rooms),
            keyring,
            store,
            default_origin,
            metrics,
        })
    }

    pub fn store(&self) -> Option<&Arc<dyn QueueStore>> {
        self.store.get()
    }

    pub fn room_index(&self, id: &str) -> Option<usize> {
        self.rooms.iter().position(|room| room.config.id == id)
    }

    /// Replace what this instance knows of a room (the ticker's refresh).
    pub fn set_live(&self, index: usize, live: LiveRoom) {
        let Some(entry) = self.rooms.get(index) else {
            return;
        };
        self.metrics
            .admit_per_second
            .with_label_values(&[entry.config.id.as_str()])
            .set(live.settings.admit_per_second);
        match entry.live.write() {
            Ok(mut guard) => *guard = Arc::new(live),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(live),
        }
    }

    /// Change what this instance knows of a room in one step (no change made meanwhile by
    /// another thread is lost).
    pub fn update_live(&self, index: usize, change: impl FnOnce(&mut LiveRoom)) {
        let Some(entry) = self.rooms.get(index) else {
            return;
        };
        let mut guard = entry
            .live
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut live = (**guard).clone();
        change(&mut live);
        self.metrics
            .admit_per_second
            .with_label_values(&[entry.config.id.as_str()])
            .set(live.settings.admit_per_second);
        *guard = Arc::new(live);
    }

    /// Decide what happens to one request. `read_guard` fills in what the bot guard reads when
    /// the adapter skipped it (`GuardFacts::skipped`) and the gateway turns out to need it.
    pub async fn handle(
        &self,
        facts: &mut RequestFacts,
        read_guard: &(dyn Fn(&mut RequestFacts) + Sync),
    ) -> Outcome {
        if facts.path.starts_with(ENDPOINT_PREFIX) {
            return Outcome::Reply(endpoints::handle(self, facts).await);
        }
        match self.router.route(facts.route_host(), &facts.path) {
            Some(index) => protected::handle(self, index, facts, read_guard).await,
            None => match &self.default_origin {
                Some(origin) => Outcome::Proxy(ProxyPlan {
                    outcome: AccessOutcome::Unprotected,
                    ..ProxyPlan::to(*origin, None)
                }),
                None => Outcome::Reply(
                    Reply::error(404, "not_found", "no room or origin serves this path")
                        .served(AccessOutcome::NotFound, None),
                ),
            },
        }
    }

    /// Time one store call and count its failure.
    pub async fn timed<T>(
        &self,
        op: &'static str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let started = Instant::now();
        let result = call.await;
        self.metrics
            .store_seconds
            .with_label_values(&[op])
            .observe(started.elapsed().as_secs_f64());
        self.counted(op, result)
    }

    /// Count the failure of a store call already timed (a join made in the guard's round
    /// trip is timed there).
    fn counted<T>(&self, op: &'static str, result: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(error) = &result {
            self.metrics
                .store_errors_total
                .with_label_values(&[op])
                .inc();
            log::warn!("store {op} failed: {error}");
        }
        result
    }

    /// The first valid pass for this room, counting every refused one.
    pub(super) fn valid_pass<'a>(
        &self,
        index: usize,
        live: &LiveRoom,
        facts: &'a RequestFacts,
        now: u64,
    ) -> Option<(&'a str, PassClaims)> {
        let room = self.rooms.get(index)?.config.id.as_str();
        for token in &facts.pass_tokens {
            let rejection = match self.keyring.verify_pass(token, room, now) {
                Ok(claims) if live.is_revoked(&claims.visitor, claims.expires_at) => "revoked",
                Ok(claims) => return Some((token.as_str(), claims)),
                Err(rejection) => rejection.reason(),
            };
            self.metrics
                .pass_rejected_total
                .with_label_values(&[room, rejection])
                .inc();
        }
        None
    }

    /// The visitor's verified id, or a fresh one. A fresh id, or a known one signed by a
    /// retiring key, is signed anew and handed out (so removing the old key later logs
    /// nobody out of the line); a current one is reused as sent, not signed again.
    pub(super) fn visitor(&self, facts: &RequestFacts) -> KnownVisitor {
        if let Some(token) = facts.visitor_token.as_deref() {
            if let Some(id) = self.keyring.verify_visitor(token) {
                if self.keyring.signed_with_signing_key(token) {
                    return KnownVisitor {
                        id,
                        signed: token.to_string(),
                        cookie: None,
                        fresh: false,
                    };
                }
                return self.hand_out(id, facts, false);
            }
        }
        self.hand_out(VisitorId::random(), facts, true)
    }

    fn hand_out(&self, id: VisitorId, facts: &RequestFacts, fresh: bool) -> KnownVisitor {
        let signed = self.keyring.sign_visitor(id);
        KnownVisitor {
            id,
            cookie: Some(self.visitor_cookie(&signed, facts)),
            signed,
            fresh,
        }
    }

    /// For a visitor who holds a valid pass: the visitor id re-signed with the current key,
    /// when the id the request carries is this visitor's and a retiring key signed it.
    pub(super) fn resign_visitor(
        &self,
        visitor: VisitorId,
        facts: &RequestFacts,
    ) -> Option<(String, String)> {
        let token = facts.visitor_token.as_deref()?;
        if self.keyring.signed_with_signing_key(token)
            || self.keyring.verify_visitor(token) != Some(visitor)
        {
            return None;
        }
        let signed = self.keyring.sign_visitor(visitor);
        let cookie = self.visitor_cookie(&signed, facts);
        Some((signed, cookie))
    }

    fn visitor_cookie(&self, signed: &str, facts: &RequestFacts) -> String {
        set_cookie(
            VISITOR_COOKIE,
            signed,
            "/",
            VISITOR_COOKIE_SECONDS,
            facts.tls,
        )
    }

    /// Sign a pass valid until the session's end, and the cookies that carry it to every
    /// path the room protects.
    pub(super) fn issue_pass(
        &self,
        room: &RoomConfig,
        visitor: VisitorId,
        expires_at_ms: u64,
        facts: &RequestFacts,
    ) -> (String, Vec<String>) {
        let now = unix_now();
        let expires_at = (expires_at_ms / 1000).max(now + 1);
        let token = self.sign_pass(&room.id, visitor, expires_at_ms);
        let cookies = room
            .paths
            .iter()
            .map(|path| set_cookie(PASS_COOKIE, &token, path, expires_at - now, facts.tls))
            .collect();
        (token, cookies)
    }

    /// A pass for a session of this visitor ending at `expires_at_ms` (store clock).
    pub fn sign_pass(&self, room: &str, visitor: VisitorId, expires_at_ms: u64) -> String {
        let now = unix_now();
        self.keyring.issue_pass(&PassClaims {
            room: room.to_string(),
            visitor,
            issued_at: now,
            expires_at: (expires_at_ms / 1000).max(now + 1),
        })
    }

    /// Put a visitor without a valid pass where the room's mode says: straight through,
    /// the queue, or a closed door — once the bot guard lets it (see `place_screened`).
    pub(super) async fn place(
        &self,
        index: usize,
        facts: &RequestFacts,
    ) -> Result<Placed, StoreError> {
        self.place_screened(index, facts, None, None).await
    }

    /// `place`, with the proof of work the visitor solved on this request (its difficulty)
    /// and what its page reported of the client. The guard is met unless the visitor holds a
    /// clearance for the room; an allowed visitor is joined in the guard's round trip (one
    /// in all), a visitor the guard let in otherwise (allow-listed over a limit, a lifted
    /// shadow, a store the guard could not reach) in a second one.
    pub(super) async fn place_screened(
        &self,
        index: usize,
        facts: &RequestFacts,
        proof: Option<u8>,
        client: Option<anteroom_bot_guard::ClientFingerprint>,
    ) -> Result<Placed, StoreError> {
        let entry = self
            .rooms
            .get(index)
            .ok_or_else(|| StoreError::Invalid(format!("no room at index {index}")))?;
        let live = entry.live();
        let room = entry.config.id.as_str();
        let KnownVisitor {
            id: visitor,
            signed: signed_visitor,
            cookie: visitor_cookie,
            fresh,
        } = self.visitor(facts);
        let new_visitor_token = visitor_cookie.is_some().then(|| signed_visitor.clone());
        let mut cookies: Vec<String> = visitor_cookie.into_iter().collect();
        let screened = match live.settings.mode {
            anteroom_config::RoomMode::Closed => Screened::Pass {
                clearance: None,
                joined: None,
                cleared: false,
            },
            _ => {
                self.guard
                    .screen(
                        room,
                        index,
                        &live,
                        facts,
                        Screenee { id: visitor, fresh },
                        proof,
                        client,
                        &self.metrics,
                    )
                    .await
            }
        };
        let mut challenge = None;
        let mut blocked = None;
        let mut shadowed = false;
        let mut new_clearance = None;
        let mut joined_by_guard = None;
        let mut let_in_by_clearance = false;
        let placement = match screened {
            Screened::Pass {
                clearance,
                joined,
                cleared,
            } => {
                let_in_by_clearance = cleared;
                if let Some(clearance) = clearance {
                    cookies.push(GuardGate::clearance_cookie(&clearance, facts.tls));
                    new_clearance = Some(clearance);
                }
                joined_by_guard = joined;
                None
            }
            Screened::Challenge { difficulty } => {
                challenge = Some(ChallengeInfo {
                    url: format!("{ENDPOINT_PREFIX}challenge?room={room}"),
                    difficulty,
                });
                Some(Placement::Absent)
            }
            Screened::Shadow => {
                shadowed = true;
                Some(shadow_placement(visitor, live.waiting, unix_now()))
            }
            Screened::Block { reason } => {
                blocked = Some(reason);
                Some(Placement::Absent)
            }
        };
        let placement = match (placement, live.settings.mode) {
            (Some(placement), _) => placement,
            (None, anteroom_config::RoomMode::Closed) => Placement::Closed,
            _ => {
                let joined = match joined_by_guard {
                    Some(joined) => self.counted("join", joined)?,
                    None => {
                        let store = self.store().ok_or_else(|| {
                            StoreError::Unavailable("store not connected yet".into())
                        })?;
                        self.timed("join", store.join(room, visitor)).await?
                    }
                };
                self.metrics.count_join(room, &joined);
                joined.placement
            }
        };
        let placement = match placement {
            Placement::Admitted { .. }
                if let_in_by_clearance && self.guard.shadowed_now(index, room, visitor).await =>
            {
                // Shadowed since it joined (on requests without its clearance): its turn came,
                // but a shadowed visitor is never admitted; it keeps seeing a made-up place.
                shadowed = true;
                shadow_placement(visitor, live.waiting, unix_now())
            }
            other => other,
        };
        let ticket = match placement {
            Placement::Waiting { ticket, .. } if !shadowed => Some(ticket),
            _ => None,
        };
        let mut issued_pass = None;
        if let Placement::Admitted { expires_at_ms } = placement {
            let (token, pass_cookies) =
                self.issue_pass(&entry.config, visitor, expires_at_ms, facts);
            cookies.extend(pass_cookies);
            issued_pass = Some(token);
        }
        let status = StatusObject::new(
            room,
            signed_visitor,
            placement,
            &live.settings,
            live.waiting,
            issued_pass.clone(),
            live.measured_rate(),
        )
        .with_challenge(challenge)
        .with_waitlist(entry.config.waitlist_url.as_deref())
        .with_waitlist_token(&self.keyring, visitor);
        Ok(Placed {
            status,
            cookies,
            issued_pass,
            new_visitor_token,
            visitor,
            ticket,
            blocked,
            shadowed,
            new_clearance,
        })
    }
}

/// A room's settings as its config states them (seeded into the store at start).
pub fn configured_settings(room: &RoomConfig) -> RoomSettings {
    RoomSettings {
        mode: room.mode,
        admit_per_second: room.admit_per_second,
        max_active: room.max_active,
        session_seconds: room.session_seconds,
        abandon_after_seconds: room.abandon_after_seconds,
        paused: false,
        sold_out: false,
        message: None,
    }
}

/// Origins are resolved once at start: the proxy path never waits on DNS (and Pingora's
/// peer constructor must not be handed a name it cannot resolve).
pub fn resolve_origin(origin: &str) -> Result<SocketAddr, String> {
    origin
        .to_socket_addrs()
        .map_err(|error| format!("cannot resolve `{origin}`: {error}"))?
        .next()
        .ok_or_else(|| format!("`{origin}` resolves to no address"))
}
