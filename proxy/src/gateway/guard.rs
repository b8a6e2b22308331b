//! The bot guard at the gateway's door: before a visitor takes a place, the room's rules,
//! the request's signals and the shared counts decide whether it joins, solves a proof of
//! work first, waits in a shadow line that never admits, or is turned away. A visitor the
//! guard let in carries a clearance for the room, so polling does not meet the guard again.
//! The store is consulted once per screening (`GuardStore::check_and_join`, one round trip):
//! the counts, whether a returning visitor is shadowed, and — when the verdict with clean
//! counts is `allow` — the join itself, which the store makes only if the counts come back
//! clean (ADR 0007). An allowed fan costs one round trip in all; any other fan is decided on
//! its counts as before and takes no place in that round trip. When the guard store cannot
//! be reached the guard lets visitors through (the queue still orders them) and counts it.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Instant;

use anteroom_admission::{unix_now, unix_now_ms, VisitorId};
use anteroom_bot_guard::{
    decide, decide_if_clean, price, shadow_lift, suspicion, ChallengeKey, ChallengeSpec,
    CheckedJoin, ClearanceKey, ClientFingerprint, Counts, Demand, GuardStore, Rules, Signals,
    VerdictKind,
};
use anteroom_config::{BotGuardConfig, BotGuardOverride, Cidr, GatewayConfig};
use anteroom_queue::{Joined, Placement, StoreError};

use super::cookies::set_cookie;
use super::live::LiveRoom;
use super::metrics::Metrics;
use super::RequestFacts;

/// The cookie (browsers) and header (apps) that carry a clearance.
pub const CLEARANCE_COOKIE: &str = "anteroom_guard";
pub const CLEARANCE_HEADER: &str = "x-anteroom-guard";
/// A shadow lasts this long unless lifted; the visitor is re-scored on every request.
const SHADOW_MS: u64 = 10 * 60 * 1000;
/// A challenge must be solved within this long.
pub const CHALLENGE_TTL_SECONDS: u64 = 120;

/// What the guard needs of a request without a pass (read by the adapter).
#[derive(Debug, Clone, Default)]
pub struct GuardFacts {
    /// The client's address: the peer, or what trusted proxies said it was.
    pub client_ip: Option<IpAddr>,
    /// Header names and values in arrival order (the fingerprint's input).
    pub headers: Vec<(String, Vec<u8>)>,
    /// `anteroom_guard` cookie or `X-Anteroom-Guard` header.
    pub clearance: Option<String>,
    /// The adapter did not read the headers and the clearance: the request carried a pass
    /// (the admitted path pays nothing for the guard). Should no pass be valid, the gateway
    /// has them read before the guard screens the request.
    pub skipped: bool,
}

/// The guard's answer for a visitor about to take a place.
#[derive(Debug)]
pub enum Screened {
    /// Take the place; `clearance` is new for the client when set. `joined`: the place was
    /// taken in the guard's own round trip (what the queue's join answered); `None`: join now.
    Pass {
        clearance: Option<String>,
        joined: Option<Result<Joined, StoreError>>,
        /// Let through on the clearance it carries, without asking the store: should the
        /// queue admit it on this request, ask whether it was shadowed since
        /// (`GuardGate::shadowed_now`).
        cleared: bool,
    },
    Challenge {
        difficulty: u8,
    },
    Shadow,
    Block {
        reason: &'static str,
    },
}

/// Who is screened: the visitor id, and whether it was made on this request.
#[derive(Debug, Clone, Copy)]
pub struct Screenee {
    pub id: VisitorId,
    /// Made on this request: it cannot be shadowed yet (a shadow names a known id), so the
    /// store is not asked. A farm of cookie-less bots pays one round trip each, not two.
    pub fresh: bool,
}

pub struct GuardGate {
    global: BotGuardConfig,
    /// Each room's `bot_guard = { … }` from the config.
    configured: Vec<BotGuardOverride>,
    /// Each room's live change (admin API), as last applied.
    live: RwLock<Vec<BotGuardOverride>>,
    /// Each room's rules in force: the global ones, the room's, then the live change.
    rules: RwLock<Vec<Arc<Rules>>>,
    challenge_key: ChallengeKey,
    clearance_key: ClearanceKey,
    trusted_proxies: Vec<Cidr>,
    /// Shared with the guard a reload replaces this one by: connected once, for both.
    store: Arc<OnceLock<Arc<dyn GuardStore>>>,
}

impl GuardGate {
    pub fn new(config: &GatewayConfig, signing_secret: &[u8]) -> GuardGate {
        GuardGate {
            global: config.bot_guard.clone(),
            configured: config
                .rooms
                .iter()
                .map(|room| room.bot_guard.clone())
                .collect(),
            live: RwLock::new(vec![BotGuardOverride::default(); config.rooms.len()]),
            rules: RwLock::new(
                config
                    .rooms
                    .iter()
                    .map(|room| Arc::new(Rules::for_room(&config.bot_guard, &room.bot_guard)))
                    .collect(),
            ),
            challenge_key: ChallengeKey::derive(signing_secret),
            clearance_key: ClearanceKey::derive(signing_secret),
            trusted_proxies: config.listen.trusted_proxies.clone(),
            store: Arc::new(OnceLock::new()),
        }
    }

    /// Hand the connected guard store over (the store owner does, once).
    pub fn connect(&self, store: Arc<dyn GuardStore>) {
        let _ = self.store.set(store);
    }

    /// Take over from the guard a reload replaces: its store, and the live change of each
    /// room it keeps (`kept`: per room here, its index there).
    pub fn carry_over(&mut self, previous: &GuardGate, kept: &[Option<usize>]) {
        self.store = previous.store.clone();
        for (index, previous_index) in kept.iter().enumerate() {
            if let Some(previous_index) = previous_index {
                let live = previous.live(*previous_index);
                if live != BotGuardOverride::default() {
                    self.apply_live(index, live);
                }
            }
        }
    }

    pub fn store(&self) -> Option<&Arc<dyn GuardStore>> {
        self.store.get()
    }

    pub fn trusted_proxies(&self) -> &[Cidr] {
        &self.trusted_proxies
    }

    /// The room's rules in force now.
    pub fn rules(&self, room: usize) -> Option<Arc<Rules>> {
        self.rules
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(room)
            .cloned()
    }

    /// Whether the room's guard is on at all (a room with it off skips all of this).
    pub fn enabled(&self, room: usize) -> bool {
        self.rules(room).is_some_and(|rules| rules.config.enabled)
    }

    /// The room's live change as last applied.
    pub fn live(&self, room: usize) -> BotGuardOverride {
        self.live
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(room)
            .cloned()
            .unwrap_or_default()
    }

    /// The rules a live change would put in force (the config's, with the change laid over).
    pub fn with_live(&self, room: usize, live: &BotGuardOverride) -> Option<BotGuardConfig> {
        let configured = self.configured.get(room)?;
        Some(
            self.global
                .with_override(&super::guard_rules::merge(configured, live)),
        )
    }

    /// Put a live change in force for the room (the admin API here, the refresh elsewhere).
    pub fn apply_live(&self, room: usize, live: BotGuardOverride) {
        let Some(config) = self.with_live(room, &live) else {
            return;
        };
        if let Some(slot) = self
            .rules
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get_mut(room)
        {
            *slot = Arc::new(Rules::from_config(config));
        }
        if let Some(slot) = self
            .live
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get_mut(room)
        {
            *slot = live;
        }
    }

    pub fn challenge_key(&self) -> &ChallengeKey {
        &self.challenge_key
    }

    fn signals(facts: &RequestFacts, visitor: VisitorId) -> Signals {
        let ip = facts
            .guard
            .client_ip
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let headers: Vec<(&str, &[u8])> = facts
            .guard
            .headers
            .iter()
            .map(|(name, value)| (name.as_str(), value.as_slice()))
            .collect();
        Signals::from_request(ip, &headers, visitor)
    }

    /// Screen a visitor about to take a place in room `index`. `proof` is the difficulty of
    /// a challenge it solved (and redeemed) on this request; `client` what its page
    /// reported.
    #[allow(clippy::too_many_arguments)]
    pub async fn screen(
        &self,
        room: &str,
        index: usize,
        live: &LiveRoom,
        facts: &RequestFacts,
        screenee: Screenee,
        proof: Option<u8>,
        client: Option<ClientFingerprint>,
        metrics: &Metrics,
    ) -> Screened {
        const JOIN_LATER: Screened = Screened::Pass {
            clearance: None,
            joined: None,
            cleared: false,
        };
        let visitor = screenee.id;
        let Some(rules) = self.rules(index).filter(|rules| rules.config.enabled) else {
            return JOIN_LATER;
        };
        let now = unix_now();
        if proof.is_none() {
            if let Some(text) = facts.guard.clearance.as_deref() {
                if self.clearance_key.verify(text, room, visitor, now) {
                    return Screened::Pass {
                        clearance: None,
                        joined: None,
                        cleared: true,
                    };
                }
            }
        }
        let Some(store) = self.store.get() else {
            metrics.count_verdict(room, "allow", "guard_store_unavailable");
            return JOIN_LATER;
        };
        let mut signals = Self::signals(facts, visitor);
        signals.proof = proof;
        signals.client = client;
        let hold_ms = place_hold_ms(live);
        let check = rules.guard_check(&signals, hold_ms, screenee.fresh);
        let demand = demand(live);
        // Allowed if the counts come back clean: ask the store to join in the same round
        // trip; it joins only if they do, and then the verdict below is this one.
        let join = (decide_if_clean(&signals, &rules, &demand).kind == VerdictKind::Allow)
            .then_some(visitor);
        // An id made on this request cannot be shadowed yet (a shadow names a known id).
        let shadow_of = (!screenee.fresh).then_some(visitor);
        let started = Instant::now();
        let checked = store.check_and_join(room, &check, shadow_of, join).await;
        metrics
            .store_seconds
            .with_label_values(&["guard_join"])
            .observe(started.elapsed().as_secs_f64());
        let Ok(CheckedJoin {
            counts,
            shadowed,
            joined,
        }) = checked
        else {
            metrics
                .store_errors_total
                .with_label_values(&["guard_join"])
                .inc();
            metrics.count_verdict(room, "allow", "guard_store_unavailable");
            return JOIN_LATER;
        };
        let verdict = decide(
            &signals,
            &Counts::from_store(&counts, shadowed),
            &rules,
            &demand,
        );
        metrics.count_verdict(room, verdict.kind.as_label(), verdict.reason.as_label());
        debug_assert!(
            joined.is_none() || verdict.kind == VerdictKind::Allow,
            "a place is taken only for an allowed request"
        );
        match verdict.kind {
            VerdictKind::Allow => {
                if shadowed {
                    let _ = store.set_shadow(room, visitor, None).await;
                }
                // Half the hold: a visitor still here (polling, or reconnecting a stream that
                // ended at `renew_after`) meets the guard again while its place is still held
                // and so refreshes it, rather than keeping a place the guard has forgotten.
                let expires_at = now.saturating_add(renew_after(live).as_secs());
                Screened::Pass {
                    clearance: Some(self.clearance_key.issue(room, visitor, expires_at)),
                    joined,
                    cleared: false,
                }
            }
            VerdictKind::Challenge { difficulty } => Screened::Challenge { difficulty },
            VerdictKind::Shadow => {
                if !shadowed {
                    let until = unix_now_ms().saturating_add(SHADOW_MS);
                    let _ = store.set_shadow(room, visitor, Some(until)).await;
                }
                Screened::Shadow
            }
            VerdictKind::Block => Screened::Block {
                reason: verdict.reason.as_label(),
            },
        }
    }

    /// Whether `visitor` is shadowed in room `index` now (one store round trip; false where
    /// the guard is off or the store cannot say). Asked when the queue admits a visitor the
    /// guard did not see on that request — it came with a clearance, or on a live stream — so
    /// a visitor shadowed since it joined is never handed a pass.
    pub async fn shadowed_now(&self, index: usize, room: &str, visitor: VisitorId) -> bool {
        if !self.enabled(index) {
            return false;
        }
        match self.store.get() {
            Some(store) => store.is_shadowed(room, visitor).await.unwrap_or(false),
            None => false,
        }
    }

    /// A challenge for this visitor at the level it would be priced now, or `at_least` (up
    /// to the cap) when that is higher (the shadow-lift level when it is shadowed). One
    /// store round trip (is it shadowed?), no counting.
    pub async fn challenge_for(
        &self,
        room: &str,
        index: usize,
        live: &LiveRoom,
        facts: &RequestFacts,
        visitor: VisitorId,
        at_least: u8,
    ) -> (String, u8) {
        let (floor, cap) = self
            .rules(index)
            .map(|rules| rules.difficulty_bounds())
            .unwrap_or((1, 8));
        let score = suspicion(&Self::signals(facts, visitor));
        let mut level = price(&demand(live), score, floor, cap).max(at_least.min(cap));
        if let Some(store) = self.store.get() {
            if store.is_shadowed(room, visitor).await.unwrap_or(false) {
                level = shadow_lift(level, cap);
            }
        }
        let spec = ChallengeSpec::new(room, visitor, level, unix_now(), CHALLENGE_TTL_SECONDS);
        (anteroom_bot_guard::issue(&spec, &self.challenge_key), level)
    }

    /// The cookie that carries a clearance to the browser.
    pub fn clearance_cookie(clearance: &str, tls: bool) -> String {
        set_cookie(CLEARANCE_COOKIE, clearance, "/", 24 * 3600, tls)
    }
}

/// The room's demand as the price sees it: the line and the rate it actually moves at.
/// The line's length and the rate it will move at: the rate measured lately, or the
/// configured one before there is a measure — and while the room is paused, whose measured
/// rate of 0 says nothing about the wait once it opens (a pre-sale line joined while paused
/// would otherwise price a proof of work for every fan after ten seconds).
/// How long the guard holds a visitor's place after it last met it: a visitor keeps its
/// place in the line as long as it is seen within the abandonment window, or its session.
fn place_hold_ms(live: &LiveRoom) -> u64 {
    live.settings
        .abandon_after_seconds
        .max(live.settings.session_seconds)
        .saturating_mul(1000)
}

/// How long a clearance lasts, and a live stream before it ends for its client to reconnect:
/// half the place hold (at least a second), so that a visitor who stays meets the guard again
/// — and refreshes its held place — before the guard forgets it. Without this a bot keeping
/// streams open would see its places forgotten after one hold and take as many again.
pub fn renew_after(live: &LiveRoom) -> std::time::Duration {
    std::time::Duration::from_secs((place_hold_ms(live) / 2000).max(1))
}

fn demand(live: &LiveRoom) -> Demand {
    let measured = live.measured_rate().filter(|_| !live.settings.paused);
    Demand {
        queue_length: live.waiting,
        admit_per_second: measured.unwrap_or(live.settings.admit_per_second),
    }
}

/// Where a shadowed visitor is shown to stand: a made-up place in a line of `waiting`
/// (`shadow_position`), never a ticket of the real line.
pub fn shadow_placement(visitor: VisitorId, waiting: u64, now: u64) -> Placement {
    let position = shadow_position(visitor, waiting, now);
    Placement::Waiting {
        position,
        waiting: waiting.max(position),
        ticket: 0,
    }
}

/// The position a shadowed visitor is shown: it moves like a real one (down a place every
/// few seconds) but never reaches the door, and never goes up within the hour.
pub fn shadow_position(visitor: VisitorId, waiting: u64, now: u64) -> u64 {
    let seed = u64::from_le_bytes([
        visitor.0[0],
        visitor.0[1],
        visitor.0[2],
        visitor.0[3],
        visitor.0[4],
        visitor.0[5],
        visitor.0[6],
        visitor.0[7],
    ]);
    let start = waiting.max(50).saturating_add(seed % 200);
    let elapsed = now.wrapping_add(seed) % 3600;
    start.saturating_sub(elapsed / 4).max(3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use anteroom_config::RoomMode;
    use anteroom_queue::RoomSettings;

    #[test]
    fn a_paused_room_is_priced_at_its_configured_rate_not_at_zero() {
        let mut live = LiveRoom::new(RoomSettings {
            mode: RoomMode::QueueAll,
            admit_per_second: 50.0,
            max_active: 100,
            session_seconds: 600,
            abandon_after_seconds: 120,
            paused: true,
            sold_out: false,
            message: None,
        });
        live.waiting = 500;
        // Twenty seconds with no admission: measured, 0 a second.
        for second in 0..=20u64 {
            live.admissions.record(second * 1000, 7);
        }
        assert_eq!(live.measured_rate(), Some(0.0));
        assert_eq!(
            demand(&live).admit_per_second,
            50.0,
            "paused: the configured rate"
        );
        live.settings.paused = false;
        assert_eq!(
            demand(&live).admit_per_second,
            0.0,
            "open and stalled: measured"
        );
        assert_eq!(demand(&live).queue_length, 500);
    }

    #[test]
    fn a_shadow_position_moves_down_and_stops_short_of_the_door() {
        let visitor = VisitorId([9; 16]);
        let mut last = u64::MAX;
        let mut moved = 0;
        let start = 1_000_000 - (1_000_000 + u64::from_le_bytes([9; 8])) % 3600;
        for now in start..start + 3599 {
            let position = shadow_position(visitor, 100, now);
            assert!(position >= 3);
            assert!(position <= last, "went up at {now}");
            moved += u64::from(position < last && last != u64::MAX);
            last = position;
        }
        assert!(moved > 50);
    }
}
