//! The one behavioural suite every `QueueStore` passes. Each test body is generic over the
//! store; `conformance_memory.rs` and `conformance_redis.rs` run every one of them through
//! `conformance_suite!`. Stores keep time on the real clock (Redis has no other), so tests of
//! time poll with deadlines and assert bounds with some slack — tight enough to fail when a
//! rate, an expiry or the abandonment clock is wrong.

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anteroom_admission::VisitorId;
use anteroom_config::RoomMode;
use anteroom_queue::{
    LineView, Placement, QueueStore, Revocation, RoomSettings, SettingsPatch, StoreError,
    FRONTIER_PAGE,
};

/// How long both stores keep a spent revocation in these tests (60 s in production).
pub const TEST_REVOCATION_GRACE: Duration = Duration::from_millis(500);

/// One backend, seen by two gateway instances.
pub struct Env {
    pub store: Arc<dyn QueueStore>,
    /// A second instance on the same backend (the same object for the memory store).
    pub other: Arc<dyn QueueStore>,
    /// Keeps the backend (e.g. a redis-server) alive for the test.
    pub _guard: Box<dyn std::any::Any + Send + Sync>,
    /// The backend loses every room (a flush, a restart without persistence).
    pub lose_everything: Box<dyn Fn() + Send + Sync>,
}

/// Two `RedisStore`s (two gateway instances) on the Redis at `url`; `guard` keeps it up and
/// `lose_everything` flushes it.
#[allow(dead_code)] // not used by the memory suite
pub async fn redis_env(
    url: &str,
    guard: Box<dyn std::any::Any + Send + Sync>,
    lose_everything: Box<dyn Fn() + Send + Sync>,
) -> Env {
    let options = anteroom_queue::RedisOptions {
        revocation_grace: TEST_REVOCATION_GRACE,
        ..anteroom_queue::RedisOptions::default()
    };
    let store = anteroom_queue::RedisStore::connect(url, options.clone())
        .await
        .expect("connect");
    let other = anteroom_queue::RedisStore::connect(url, options)
        .await
        .expect("connect second instance");
    Env {
        store: Arc::new(store),
        other: Arc::new(other),
        _guard: guard,
        lose_everything,
    }
}

/// Generates one `#[tokio::test]` per conformance test, each with a fresh `Env` from `$make`.
macro_rules! conformance_suite {
    ($make:path) => {
        conformance_suite!(@tests $make;
            unknown_room_is_an_invalid_request,
            init_room_seeds_and_returns_settings,
            init_room_keeps_runtime_changes_until_the_config_changes,
            update_settings_applies_a_patch,
            join_is_idempotent,
            concurrent_joins_of_one_visitor_take_one_place,
            positions_follow_join_order,
            concurrent_joins_get_distinct_positions,
            leave_frees_the_place_and_moves_the_line_up,
            positions_never_go_backwards,
            admit_tick_admits_from_the_head_within_the_cap,
            concurrent_ticks_never_exceed_the_cap,
            admission_rate_is_bounded_by_the_bucket,
            safety_net_admits_at_once_while_the_line_is_empty,
            safety_net_queues_when_the_rate_is_spent,
            queue_all_always_queues,
            paused_room_queues_but_admits_nobody,
            sold_out_tells_the_queue_and_admits_nobody,
            closed_room_turns_everyone_away,
            passthrough_admits_everyone_and_counts_them,
            sessions_expire_and_free_the_cap,
            expired_visitor_who_joins_again_goes_to_the_tail,
            abandoned_places_are_freed_but_polling_keeps_them,
            time_without_ticks_does_not_count_toward_abandonment,
            renew_extends_an_active_session,
            revoke_ends_place_and_session_and_is_listed,
            leave_revokes_the_passes_of_a_live_session,
            revocations_are_followed_by_cursor_and_none_is_dropped,
            restored_revocations_are_listed_again,
            restore_room_seeds_what_an_instance_last_saw,
            stats_count_joins_and_admissions,
            frontier_positions_match_status,
            frontier_pages_past_a_thousand_gaps,
            touch_keeps_a_place_that_abandonment_frees_otherwise,
            a_lost_line_gets_a_new_epoch,
            a_cursor_past_the_log_starts_a_new_epoch,
            admission_trims_the_gaps_below_the_head,
        );
    };
    (@tests $make:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let env = $make().await;
                conformance::$name(&env).await;
            }
        )*
    };
}

// ---------------------------------------------------------------------------------------------
// helpers

pub fn vid(n: u64) -> VisitorId {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&0xa17e_0000_0000_0000u64.to_be_bytes());
    bytes[8..].copy_from_slice(&n.to_be_bytes());
    VisitorId(bytes)
}

pub fn settings(mode: RoomMode, admit_per_second: f64, max_active: u64) -> RoomSettings {
    RoomSettings {
        mode,
        admit_per_second,
        max_active,
        session_seconds: 600,
        abandon_after_seconds: 120,
        paused: false,
        sold_out: false,
        message: None,
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as u64
}

async fn init(env: &Env, room: &str, s: RoomSettings) {
    let live = env.store.init_room(room, &s).await.expect("init_room");
    assert_eq!(live, s);
}

/// Join, the ticket left out (`untick`).
async fn join(env: &Env, room: &str, n: u64) -> Placement {
    untick(env.store.join(room, vid(n)).await.expect("join").placement)
}

/// Status, the ticket left out (`untick`).
async fn status(env: &Env, room: &str, n: u64) -> Placement {
    untick(env.store.status(room, vid(n)).await.expect("status"))
}

/// Tickets depend on the order of joins; tests of positions compare without them, the
/// frontier tests check them.
fn untick(placement: Placement) -> Placement {
    match placement {
        Placement::Waiting {
            position, waiting, ..
        } => Placement::Waiting {
            position,
            waiting,
            ticket: 0,
        },
        other => other,
    }
}

/// A waiting placement as `untick` leaves it.
fn waiting(position: u64, waiting: u64) -> Placement {
    Placement::Waiting {
        position,
        waiting,
        ticket: 0,
    }
}

/// Expiry of an admitted placement, checked to be `session_seconds` after a moment within
/// [before, now] (Redis and this process read the same host clock).
fn admitted_for(placement: Placement, before_ms: u64, session_seconds: u64) -> u64 {
    let Placement::Admitted { expires_at_ms } = placement else {
        panic!("expected Admitted, got {placement:?}");
    };
    let session_ms = session_seconds * 1000;
    let after_ms = now_ms();
    assert!(
        expires_at_ms + 5 >= before_ms + session_ms && expires_at_ms <= after_ms + session_ms + 5,
        "expiry {expires_at_ms} not {session_seconds}s after [{before_ms}, {after_ms}]"
    );
    expires_at_ms
}

/// Poll `check` until it holds or `deadline` passes; true if it held.
async fn eventually<F, Fut>(deadline: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let until = Instant::now() + deadline;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

// ---------------------------------------------------------------------------------------------
// rooms and settings

pub async fn unknown_room_is_an_invalid_request(env: &Env) {
    let s = &env.store;
    let room = "no-such-room";
    assert!(matches!(
        s.join(room, vid(1)).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.status(room, vid(1)).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.admit_tick(room).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.settings(room).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(s.stats(room).await, Err(StoreError::Invalid(_))));
    let patch = SettingsPatch {
        paused: Some(true),
        ..SettingsPatch::default()
    };
    assert!(matches!(
        s.update_settings(room, &patch).await,
        Err(StoreError::Invalid(_))
    ));
    let mut bad = settings(RoomMode::QueueAll, 0.0, 10);
    assert!(matches!(
        s.init_room("bad-rate", &bad).await,
        Err(StoreError::Invalid(_))
    ));
    bad.admit_per_second = 1.0;
    bad.session_seconds = 0;
    assert!(matches!(
        s.init_room("bad-session", &bad).await,
        Err(StoreError::Invalid(_))
    ));
}

pub async fn init_room_seeds_and_returns_settings(env: &Env) {
    let mut s = settings(RoomMode::SafetyNet, 12.5, 300);
    s.session_seconds = 900;
    s.abandon_after_seconds = 45;
    s.message = Some("Doors open at 10:00 — ünïcode too".into());
    init(env, "seed", s.clone()).await;
    assert_eq!(env.store.settings("seed").await.expect("settings"), s);
    env.store.ping().await.expect("the store answers");
    assert_eq!(
        env.other.settings("seed").await.expect("settings"),
        s,
        "shared by instances"
    );
}

pub async fn init_room_keeps_runtime_changes_until_the_config_changes(env: &Env) {
    let configured = settings(RoomMode::QueueAll, 10.0, 100);
    init(env, "digest", configured.clone()).await;
    let patch = SettingsPatch {
        admit_per_second: Some(7.0),
        paused: Some(true),
        sold_out: Some(true),
        message: Some(Some("back soon".into())),
        ..SettingsPatch::default()
    };
    env.store
        .update_settings("digest", &patch)
        .await
        .expect("patch");

    // Same configuration again (a gateway restart, another instance starting): runtime wins.
    let live = env
        .other
        .init_room("digest", &configured)
        .await
        .expect("init again");
    assert_eq!(live.admit_per_second, 7.0);
    assert!(live.paused && live.sold_out);
    assert_eq!(live.message.as_deref(), Some("back soon"));

    // An edited configuration replaces the configured knobs; the runtime flags (paused,
    // sold out, the message) are the operators' and the booking service's: they stay.
    let mut edited = settings(RoomMode::SafetyNet, 9.0, 50);
    edited.session_seconds = 300;
    edited.abandon_after_seconds = 60;
    let live = env
        .store
        .init_room("digest", &edited)
        .await
        .expect("init edited");
    let mut expected = edited.clone();
    expected.paused = true;
    expected.sold_out = true;
    expected.message = Some("back soon".into());
    assert_eq!(live, expected);
    assert_eq!(
        env.other.settings("digest").await.expect("settings"),
        expected
    );

    // Back to the first configuration: it differs from the last seeded, so it replaces too.
    let live = env
        .store
        .init_room("digest", &configured)
        .await
        .expect("init original");
    let mut expected = configured.clone();
    expected.paused = true;
    expected.sold_out = true;
    expected.message = Some("back soon".into());
    assert_eq!(live, expected);
}

pub async fn restore_room_seeds_what_an_instance_last_saw(env: &Env) {
    let configured = settings(RoomMode::QueueAll, 10.0, 100);
    let mut last_seen = configured.clone();
    last_seen.admit_per_second = 4.0;
    last_seen.paused = true;
    last_seen.sold_out = true;
    last_seen.message = Some("sold out, sorry".into());
    let (live, restored) = env
        .store
        .restore_room("restore", &configured, &last_seen)
        .await
        .expect("restore");
    assert!(restored);
    assert_eq!(live, last_seen);
    // Another instance restoring a moment later finds it there and changes nothing.
    let (live, restored) = env
        .other
        .restore_room("restore", &configured, &configured)
        .await
        .expect("restore again");
    assert!(!restored);
    assert_eq!(live, last_seen);
    // Stamped as seeded from the configuration: a gateway starting with it keeps them.
    let live = env
        .other
        .init_room("restore", &configured)
        .await
        .expect("init");
    assert_eq!(live, last_seen);
}

pub async fn update_settings_applies_a_patch(env: &Env) {
    let base = settings(RoomMode::SafetyNet, 50.0, 2000);
    init(env, "patch", base.clone()).await;

    let unchanged = env
        .store
        .update_settings("patch", &SettingsPatch::default())
        .await
        .expect("empty patch");
    assert_eq!(unchanged, base);

    let patch = SettingsPatch {
        mode: Some(RoomMode::QueueAll),
        admit_per_second: Some(2.5),
        max_active: Some(10),
        paused: Some(true),
        sold_out: Some(true),
        message: Some(Some("hold tight".into())),
    };
    let live = env
        .store
        .update_settings("patch", &patch)
        .await
        .expect("patch");
    let mut expected = base.clone();
    expected.mode = RoomMode::QueueAll;
    expected.admit_per_second = 2.5;
    expected.max_active = 10;
    expected.paused = true;
    expected.sold_out = true;
    expected.message = Some("hold tight".into());
    assert_eq!(live, expected);
    assert_eq!(
        env.other.settings("patch").await.expect("settings"),
        expected
    );

    // Only the named fields change; Some(None) clears the message.
    let patch = SettingsPatch {
        paused: Some(false),
        message: Some(None),
        ..SettingsPatch::default()
    };
    let live = env
        .other
        .update_settings("patch", &patch)
        .await
        .expect("patch 2");
    expected.paused = false;
    expected.message = None;
    assert_eq!(live, expected);

    let bad = SettingsPatch {
        admit_per_second: Some(-1.0),
        max_active: Some(1),
        ..SettingsPatch::default()
    };
    assert!(matches!(
        env.store.update_settings("patch", &bad).await,
        Err(StoreError::Invalid(_))
    ));
    assert_eq!(
        env.store.settings("patch").await.expect("settings"),
        expected,
        "nothing applied"
    );
}

// ---------------------------------------------------------------------------------------------
// the line

pub async fn join_is_idempotent(env: &Env) {
    init(env, "idem", settings(RoomMode::QueueAll, 100.0, 100)).await;
    // The first ticket of a line is 1 in both stores, and a place keeps its ticket.
    let first_place = Placement::Waiting {
        position: 1,
        waiting: 1,
        ticket: 1,
    };
    let first = env.store.join("idem", vid(1)).await.expect("join");
    assert_eq!((first.placement, first.new_place), (first_place, true));
    let again = env.store.join("idem", vid(1)).await.expect("join again");
    assert_eq!((again.placement, again.new_place), (first_place, false));
    let elsewhere = env.other.join("idem", vid(1)).await.expect("join");
    assert_eq!(
        (elsewhere.placement, elsewhere.new_place),
        (first_place, false)
    );
    assert_eq!(
        env.store.status("idem", vid(1)).await.expect("status"),
        first_place
    );
    assert_eq!(join(env, "idem", 2).await, waiting(2, 2));
    assert_eq!(join(env, "idem", 1).await, waiting(1, 2));
    let stats = env.store.stats("idem").await.expect("stats");
    assert_eq!((stats.waiting, stats.joins_total), (2, 2));
}

pub async fn concurrent_joins_of_one_visitor_take_one_place(env: &Env) {
    init(env, "same", settings(RoomMode::QueueAll, 100.0, 100)).await;
    for n in 1..=3 {
        join(env, "same", n).await;
    }
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = if i % 2 == 0 {
            env.store.clone()
        } else {
            env.other.clone()
        };
        tasks.push(tokio::spawn(
            async move { store.join("same", vid(99)).await },
        ));
    }
    let mut new_places = 0;
    for task in tasks {
        let joined = task.await.expect("task").expect("join");
        assert_eq!(untick(joined.placement), waiting(4, 4));
        new_places += u32::from(joined.new_place);
    }
    assert_eq!(new_places, 1, "exactly one join took the place");
    let stats = env.store.stats("same").await.expect("stats");
    assert_eq!((stats.waiting, stats.joins_total), (4, 4));
    assert_eq!(status(env, "same", 99).await, waiting(4, 4));
}

pub async fn positions_follow_join_order(env: &Env) {
    init(env, "order", settings(RoomMode::QueueAll, 100.0, 100)).await;
    for n in 1..=40 {
        assert_eq!(join(env, "order", n).await, waiting(n, n));
    }
    for n in 1..=40 {
        assert_eq!(status(env, "order", n).await, waiting(n, 40));
    }
    assert_eq!(status(env, "order", 41).await, Placement::Absent);
}

pub async fn concurrent_joins_get_distinct_positions(env: &Env) {
    init(env, "crowd", settings(RoomMode::QueueAll, 100.0, 100)).await;
    let mut tasks = Vec::new();
    for t in 0..20u64 {
        let store = if t % 2 == 0 {
            env.store.clone()
        } else {
            env.other.clone()
        };
        tasks.push(tokio::spawn(async move {
            let mut placed = Vec::new();
            for i in 0..10 {
                let n = t * 10 + i;
                placed.push((
                    n,
                    store.join("crowd", vid(n)).await.expect("join").placement,
                ));
            }
            placed
        }));
    }
    let mut positions = BTreeSet::new();
    let mut at_join = Vec::new();
    for task in tasks {
        for (n, placement) in task.await.expect("task") {
            let Placement::Waiting { position, .. } = placement else {
                panic!("queue-all must queue, got {placement:?}");
            };
            assert!(
                positions.insert(position),
                "position {position} given twice"
            );
            at_join.push((n, position));
        }
    }
    assert_eq!(positions, (1..=200).collect::<BTreeSet<u64>>());
    // Nobody left, so everyone is still where they joined.
    for (n, position) in at_join {
        assert_eq!(status(env, "crowd", n).await, waiting(position, 200));
    }
}

pub async fn leave_frees_the_place_and_moves_the_line_up(env: &Env) {
    init(env, "leave", settings(RoomMode::QueueAll, 100.0, 100)).await;
    for n in 1..=5 {
        join(env, "leave", n).await;
    }
    let left = env.store.leave("leave", vid(2)).await.expect("leave");
    assert!(left.had_place);
    assert_eq!(left.revocation, None, "a queued visitor holds no pass");
    assert_eq!(status(env, "leave", 1).await, waiting(1, 4));
    assert_eq!(status(env, "leave", 3).await, waiting(2, 4));
    assert_eq!(status(env, "leave", 5).await, waiting(4, 4));
    assert_eq!(status(env, "leave", 2).await, Placement::Absent);
    assert!(
        !env.other
            .leave("leave", vid(2))
            .await
            .expect("leave twice")
            .had_place
    );
    assert!(
        !env.store
            .leave("leave", vid(77))
            .await
            .expect("leave stranger")
            .had_place
    );
    // Coming back means the back of the line.
    assert_eq!(join(env, "leave", 2).await, waiting(5, 5));
    assert_eq!(env.store.stats("leave").await.expect("stats").waiting, 5);
}

pub async fn positions_never_go_backwards(env: &Env) {
    init(env, "forward", settings(RoomMode::QueueAll, 3.0, 1_000_000)).await;
    let tracked = 1000;
    for n in 0..30 {
        join(env, "forward", n).await;
    }
    join(env, "forward", tracked).await;
    let mut next_new = 2000;
    let mut last = u64::MAX;
    let mut moved = false;
    for round in 0..25u64 {
        // Others leave, new people join behind, the head is admitted now and then.
        env.store
            .leave("forward", vid(round * 7 % 30))
            .await
            .expect("leave");
        for _ in 0..2 {
            join(env, "forward", next_new).await;
            next_new += 1;
        }
        if round % 3 == 0 {
            env.other.admit_tick("forward").await.expect("tick");
        }
        let Placement::Waiting { position, .. } = status(env, "forward", tracked).await else {
            panic!("tracked visitor lost its place");
        };
        assert!(
            position <= last,
            "position went back from {last} to {position}"
        );
        moved |= position < last && last != u64::MAX;
        last = position;
    }
    assert!(moved, "the line never moved");
}

// ---------------------------------------------------------------------------------------------
// admission

pub async fn admit_tick_admits_from_the_head_within_the_cap(env: &Env) {
    init(env, "head", settings(RoomMode::QueueAll, 1000.0, 5)).await;
    for n in 0..20 {
        join(env, "head", n).await;
    }
    let before = now_ms();
    let tick = env.store.admit_tick("head").await.expect("tick");
    assert_eq!(
        (tick.admitted, tick.waiting, tick.active, tick.abandoned),
        (5, 15, 5, 0)
    );
    for n in 0..5 {
        admitted_for(status(env, "head", n).await, before, 600);
    }
    assert_eq!(status(env, "head", 5).await, waiting(1, 15));
    assert_eq!(status(env, "head", 19).await, waiting(15, 15));

    let tick = env.other.admit_tick("head").await.expect("tick at cap");
    assert_eq!(
        (tick.admitted, tick.active),
        (0, 5),
        "never above max_active"
    );

    assert!(
        env.store
            .leave("head", vid(0))
            .await
            .expect("leave")
            .had_place
    );
    let tick = env.store.admit_tick("head").await.expect("tick");
    assert_eq!((tick.admitted, tick.waiting, tick.active), (1, 14, 5));
    assert!(matches!(
        status(env, "head", 5).await,
        Placement::Admitted { .. }
    ));
    assert_eq!(status(env, "head", 6).await, waiting(1, 14));
}

pub async fn concurrent_ticks_never_exceed_the_cap(env: &Env) {
    init(env, "race", settings(RoomMode::QueueAll, 1000.0, 7)).await;
    for n in 0..50 {
        join(env, "race", n).await;
    }
    let mut tasks = Vec::new();
    for i in 0..20 {
        let store = if i % 2 == 0 {
            env.store.clone()
        } else {
            env.other.clone()
        };
        tasks.push(tokio::spawn(async move { store.admit_tick("race").await }));
    }
    let mut admitted = 0;
    for task in tasks {
        admitted += task.await.expect("task").expect("tick").admitted;
    }
    assert_eq!(admitted, 7);
    let stats = env.store.stats("race").await.expect("stats");
    assert_eq!(
        (stats.active, stats.waiting, stats.admitted_total),
        (7, 43, 7)
    );
    for n in 0..7 {
        assert!(
            matches!(status(env, "race", n).await, Placement::Admitted { .. }),
            "head first"
        );
    }
    assert_eq!(status(env, "race", 7).await, waiting(1, 43));
}

pub async fn admission_rate_is_bounded_by_the_bucket(env: &Env) {
    const RATE: f64 = 20.0;
    init(env, "rate", settings(RoomMode::QueueAll, RATE, 1_000_000)).await;
    for n in 0..400 {
        join(env, "rate", n).await;
    }
    // Four tickers over two instances, as several gateways would run them.
    let started = Instant::now();
    let run_for = Duration::from_millis(1500);
    let mut tasks = Vec::new();
    for i in 0..4 {
        let store = if i % 2 == 0 {
            env.store.clone()
        } else {
            env.other.clone()
        };
        tasks.push(tokio::spawn(async move {
            let mut admitted = 0;
            while started.elapsed() < run_for {
                admitted += store.admit_tick("rate").await.expect("tick").admitted;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            admitted
        }));
    }
    let mut by_ticks = 0;
    for task in tasks {
        by_ticks += task.await.expect("task");
    }
    let elapsed = started.elapsed().as_secs_f64();
    let total = env.store.stats("rate").await.expect("stats").admitted_total;
    assert_eq!(total, by_ticks);
    // A full bucket (one second's worth) at start, then RATE per second.
    let burst = RATE;
    let upper = burst + RATE * elapsed + 1.0;
    let lower = burst + RATE * (elapsed - 0.4) - 1.0;
    assert!(
        (total as f64) <= upper,
        "{total} admitted in {elapsed:.2}s exceeds the bucket's {upper:.1}"
    );
    assert!(
        (total as f64) >= lower,
        "{total} admitted in {elapsed:.2}s, expected at least {lower:.1}"
    );
}

pub async fn safety_net_admits_at_once_while_the_line_is_empty(env: &Env) {
    init(env, "net", settings(RoomMode::SafetyNet, 1000.0, 2)).await;
    let before = now_ms();
    admitted_for(join(env, "net", 1).await, before, 600);
    admitted_for(
        env.other.join("net", vid(2)).await.expect("join").placement,
        before,
        600,
    );
    // At the cap: queue.
    assert_eq!(join(env, "net", 3).await, waiting(1, 1));
    assert_eq!(join(env, "net", 4).await, waiting(2, 2));
    // Admitted visitors joining again keep their session.
    assert!(matches!(
        join(env, "net", 1).await,
        Placement::Admitted { .. }
    ));
    let stats = env.store.stats("net").await.expect("stats");
    assert_eq!(
        (
            stats.active,
            stats.waiting,
            stats.admitted_total,
            stats.joins_total
        ),
        (2, 2, 2, 4)
    );
    // A place frees up, but someone is waiting: a newcomer queues behind them.
    assert!(
        env.store
            .leave("net", vid(1))
            .await
            .expect("leave")
            .had_place
    );
    assert_eq!(join(env, "net", 5).await, waiting(3, 3));
    let tick = env.store.admit_tick("net").await.expect("tick");
    assert_eq!(tick.admitted, 1);
    assert!(matches!(
        status(env, "net", 3).await,
        Placement::Admitted { .. }
    ));
    assert_eq!(status(env, "net", 4).await, waiting(1, 2));
}

pub async fn safety_net_queues_when_the_rate_is_spent(env: &Env) {
    // One per second: the bucket holds one token, spent by the first visitor.
    init(env, "spent", settings(RoomMode::SafetyNet, 1.0, 100)).await;
    assert!(matches!(
        join(env, "spent", 1).await,
        Placement::Admitted { .. }
    ));
    let spent_at = Instant::now();
    assert_eq!(join(env, "spent", 2).await, waiting(1, 1));
    let store = env.store.clone();
    let admitted = eventually(Duration::from_secs(4), || {
        let store = store.clone();
        async move {
            store.admit_tick("spent").await.expect("tick");
            matches!(
                store.status("spent", vid(2)).await,
                Ok(Placement::Admitted { .. })
            )
        }
    })
    .await;
    assert!(admitted, "the second visitor was never admitted");
    let waited = spent_at.elapsed();
    assert!(
        waited >= Duration::from_millis(700),
        "admitted after {waited:?}; the bucket refills one token per second"
    );
}

pub async fn queue_all_always_queues(env: &Env) {
    init(env, "all", settings(RoomMode::QueueAll, 1000.0, 1000)).await;
    for n in 1..=3 {
        assert_eq!(join(env, "all", n).await, waiting(n, n));
    }
    let stats = env.store.stats("all").await.expect("stats");
    assert_eq!((stats.active, stats.admitted_total), (0, 0));
}

pub async fn paused_room_queues_but_admits_nobody(env: &Env) {
    let mut s = settings(RoomMode::SafetyNet, 1000.0, 100);
    s.paused = true;
    init(env, "paused", s).await;
    assert_eq!(join(env, "paused", 1).await, waiting(1, 1));
    assert_eq!(join(env, "paused", 2).await, waiting(2, 2));
    for _ in 0..3 {
        let tick = env.store.admit_tick("paused").await.expect("tick");
        assert_eq!((tick.admitted, tick.waiting), (0, 2));
    }
    assert_eq!(status(env, "paused", 1).await, waiting(1, 2));
    let resume = SettingsPatch {
        paused: Some(false),
        ..SettingsPatch::default()
    };
    env.other
        .update_settings("paused", &resume)
        .await
        .expect("resume");
    let tick = env.store.admit_tick("paused").await.expect("tick");
    assert_eq!((tick.admitted, tick.waiting), (2, 0));
}

pub async fn sold_out_tells_the_queue_and_admits_nobody(env: &Env) {
    init(env, "sold", settings(RoomMode::QueueAll, 1000.0, 1)).await;
    join(env, "sold", 1).await;
    join(env, "sold", 2).await;
    assert_eq!(
        env.store.admit_tick("sold").await.expect("tick").admitted,
        1
    );
    let sold_out = SettingsPatch {
        sold_out: Some(true),
        ..SettingsPatch::default()
    };
    env.store
        .update_settings("sold", &sold_out)
        .await
        .expect("sold out");

    assert!(
        matches!(status(env, "sold", 1).await, Placement::Admitted { .. }),
        "admitted stay"
    );
    assert_eq!(status(env, "sold", 2).await, Placement::SoldOut);
    assert_eq!(join(env, "sold", 3).await, Placement::SoldOut);
    assert_eq!(status(env, "sold", 4).await, Placement::SoldOut);
    assert!(
        env.store
            .leave("sold", vid(1))
            .await
            .expect("leave")
            .had_place
    );
    let tick = env.store.admit_tick("sold").await.expect("tick");
    assert_eq!(
        (tick.admitted, tick.waiting),
        (0, 1),
        "the line is kept, nobody admitted"
    );
    assert_eq!(env.store.stats("sold").await.expect("stats").joins_total, 2);

    let back = SettingsPatch {
        sold_out: Some(false),
        ..SettingsPatch::default()
    };
    env.store
        .update_settings("sold", &back)
        .await
        .expect("back on sale");
    assert_eq!(status(env, "sold", 2).await, waiting(1, 1));
}

pub async fn closed_room_turns_everyone_away(env: &Env) {
    init(env, "closed", settings(RoomMode::QueueAll, 1000.0, 100)).await;
    join(env, "closed", 1).await;
    let close = SettingsPatch {
        mode: Some(RoomMode::Closed),
        ..SettingsPatch::default()
    };
    env.store
        .update_settings("closed", &close)
        .await
        .expect("close");
    assert_eq!(status(env, "closed", 1).await, Placement::Closed);
    assert_eq!(join(env, "closed", 2).await, Placement::Closed);
    assert_eq!(
        env.store.admit_tick("closed").await.expect("tick").admitted,
        0
    );
    let stats = env.store.stats("closed").await.expect("stats");
    assert_eq!((stats.joins_total, stats.admitted_total), (1, 0));
}

pub async fn passthrough_admits_everyone_and_counts_them(env: &Env) {
    init(env, "pass", settings(RoomMode::Passthrough, 1.0, 1)).await;
    let before = now_ms();
    for n in 1..=3 {
        admitted_for(join(env, "pass", n).await, before, 600);
    }
    let stats = env.store.stats("pass").await.expect("stats");
    assert_eq!(
        (
            stats.joins_total,
            stats.admitted_total,
            stats.active,
            stats.waiting
        ),
        (3, 3, 3, 0)
    );
}

// ---------------------------------------------------------------------------------------------
// sessions, abandonment, renewal, revocation

pub async fn sessions_expire_and_free_the_cap(env: &Env) {
    let mut s = settings(RoomMode::QueueAll, 1000.0, 1);
    s.session_seconds = 1;
    init(env, "expire", s).await;
    join(env, "expire", 1).await;
    join(env, "expire", 2).await;
    let before = now_ms();
    assert_eq!(
        env.store.admit_tick("expire").await.expect("tick").admitted,
        1
    );
    let admitted_at = Instant::now();
    admitted_for(status(env, "expire", 1).await, before, 1);

    let store = env.store.clone();
    let second_in = eventually(Duration::from_secs(4), || {
        let store = store.clone();
        async move {
            store.admit_tick("expire").await.expect("tick");
            matches!(
                store.status("expire", vid(2)).await,
                Ok(Placement::Admitted { .. })
            )
        }
    })
    .await;
    assert!(second_in, "the expired session never freed its place");
    let held = admitted_at.elapsed();
    assert!(
        held >= Duration::from_millis(800),
        "session ended after {held:?}, not 1 s"
    );
    assert_eq!(status(env, "expire", 1).await, Placement::Absent);
    assert_eq!(
        env.store.renew("expire", vid(1)).await.expect("renew"),
        None
    );
    assert_eq!(env.store.stats("expire").await.expect("stats").active, 1);
}

pub async fn expired_visitor_who_joins_again_goes_to_the_tail(env: &Env) {
    let mut s = settings(RoomMode::QueueAll, 1000.0, 100);
    s.session_seconds = 1;
    init(env, "again", s).await;
    join(env, "again", 1).await;
    env.store.admit_tick("again").await.expect("tick");
    join(env, "again", 2).await;
    let store = env.store.clone();
    let expired = eventually(Duration::from_secs(3), || {
        let store = store.clone();
        async move { store.status("again", vid(1)).await.ok() == Some(Placement::Absent) }
    })
    .await;
    assert!(expired);
    assert_eq!(join(env, "again", 1).await, waiting(2, 2));
}

pub async fn abandoned_places_are_freed_but_polling_keeps_them(env: &Env) {
    let mut s = settings(RoomMode::QueueAll, 1000.0, 100);
    s.abandon_after_seconds = 1;
    s.paused = true;
    init(env, "abandon", s).await;
    join(env, "abandon", 1).await; // keeps polling
    join(env, "abandon", 2).await; // walks away
    join(env, "abandon", 3).await; // keeps polling
    join(env, "abandon", 4).await; // walks away
    let started = Instant::now();
    let mut abandoned = 0;
    while started.elapsed() < Duration::from_millis(2500) {
        assert!(matches!(
            status(env, "abandon", 1).await,
            Placement::Waiting { .. }
        ));
        assert!(matches!(
            status(env, "abandon", 3).await,
            Placement::Waiting { .. }
        ));
        abandoned += env
            .other
            .admit_tick("abandon")
            .await
            .expect("tick")
            .abandoned;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert_eq!(abandoned, 2);
    assert_eq!(status(env, "abandon", 1).await, waiting(1, 2));
    assert_eq!(status(env, "abandon", 3).await, waiting(2, 2));
    assert_eq!(status(env, "abandon", 2).await, Placement::Absent);
    assert_eq!(status(env, "abandon", 4).await, Placement::Absent);
}

pub async fn time_without_ticks_does_not_count_toward_abandonment(env: &Env) {
    let mut s = settings(RoomMode::QueueAll, 1000.0, 100);
    s.abandon_after_seconds = 1;
    s.paused = true;
    init(env, "outage", s).await;
    env.store.admit_tick("outage").await.expect("tick");
    for n in 1..=3 {
        join(env, "outage", n).await;
    }
    // The store unreachable for 2.5 s, more than twice the abandon window: no tick can run
    // and nobody can poll. Only time spent ticking counts toward abandonment (ADR 0004).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let tick = env
        .other
        .admit_tick("outage")
        .await
        .expect("first tick after");
    assert_eq!(
        (tick.abandoned, tick.waiting),
        (0, 3),
        "the outage emptied the line"
    );
    assert_eq!(status(env, "outage", 1).await, waiting(1, 3));
    assert_eq!(status(env, "outage", 2).await, waiting(2, 3));
    assert_eq!(status(env, "outage", 3).await, waiting(3, 3));

    // Once ticks run again the clock does too: whoever stops polling is let go.
    let resumed = Instant::now();
    let store = env.store.clone();
    let let_go = eventually(Duration::from_secs(4), || {
        let store = store.clone();
        async move {
            for n in [1, 2] {
                store.status("outage", vid(n)).await.expect("poll");
            }
            let tick = store.admit_tick("outage").await.expect("tick");
            tokio::time::sleep(Duration::from_millis(100)).await;
            tick.waiting == 2
        }
    })
    .await;
    assert!(let_go, "the visitor who stopped polling kept the place");
    assert!(
        resumed.elapsed() >= Duration::from_millis(800),
        "let go after {:?}, before the abandon window",
        resumed.elapsed()
    );
    assert_eq!(status(env, "outage", 1).await, waiting(1, 2));
    assert_eq!(status(env, "outage", 2).await, waiting(2, 2));
    assert_eq!(status(env, "outage", 3).await, Placement::Absent);
}

pub async fn renew_extends_an_active_session(env: &Env) {
    init(env, "renew", settings(RoomMode::SafetyNet, 1000.0, 1)).await;
    let before = now_ms();
    let first = admitted_for(join(env, "renew", 1).await, before, 600);
    // The expiry is now + session_seconds: it moves as soon as the store clock has.
    let deadline = Instant::now() + Duration::from_secs(2);
    let renewed = loop {
        let renewed = env
            .store
            .renew("renew", vid(1))
            .await
            .expect("renew")
            .expect("active");
        if renewed > first || Instant::now() >= deadline {
            break renewed;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!(
        renewed > first,
        "renewal never moved the expiry past {first}"
    );
    assert!(renewed <= now_ms() + 600_000 + 5);
    assert_eq!(
        status(env, "renew", 1).await,
        Placement::Admitted {
            expires_at_ms: renewed
        }
    );
    // No session, nothing to renew: a stranger, a queued visitor.
    assert_eq!(env.store.renew("renew", vid(2)).await.expect("renew"), None);
    assert_eq!(join(env, "renew", 3).await, waiting(1, 1));
    assert_eq!(env.other.renew("renew", vid(3)).await.expect("renew"), None);
}

pub async fn revoke_ends_place_and_session_and_is_listed(env: &Env) {
    let mut s = settings(RoomMode::SafetyNet, 1000.0, 1);
    s.session_seconds = 1;
    init(env, "revoke", s).await;
    let Placement::Admitted { expires_at_ms } = join(env, "revoke", 1).await else {
        panic!("the first visitor goes straight in");
    };
    join(env, "revoke", 2).await;
    join(env, "revoke", 3).await;
    let before = now_ms();
    let admitted = env.store.revoke("revoke", vid(1)).await.expect("revoke");
    assert!(admitted.had_place);
    assert!(
        admitted.revocation.passes_expiring_by_ms >= expires_at_ms,
        "the pass of the ended session (expiring {expires_at_ms}) must be refused"
    );
    assert!(
        env.other
            .revoke("revoke", vid(2))
            .await
            .expect("revoke")
            .had_place
    );
    assert!(
        !env.store
            .revoke("revoke", vid(9))
            .await
            .expect("revoke")
            .had_place
    );
    let after = now_ms();
    assert_eq!(status(env, "revoke", 1).await, Placement::Absent);
    assert_eq!(status(env, "revoke", 2).await, Placement::Absent);
    assert_eq!(status(env, "revoke", 3).await, waiting(1, 1));
    assert_eq!(env.store.stats("revoke").await.expect("stats").active, 0);

    let listed = env
        .other
        .revocations_since("revoke", "")
        .await
        .expect("revocations");
    assert!(!listed.more);
    let visitors: Vec<VisitorId> = listed.revocations.iter().map(|r| r.visitor).collect();
    assert_eq!(
        visitors,
        vec![vid(1), vid(2), vid(9)],
        "in revocation order"
    );
    for revocation in &listed.revocations {
        // Every pass issued so far expires by then: its session ends by now + session.
        let cutoff = revocation.passes_expiring_by_ms;
        assert!(
            cutoff >= before + 1000 && cutoff <= after + 1000,
            "cutoff {cutoff} is not session_seconds after [{before}, {after}]"
        );
    }
    // Kept until no pass it refuses can be valid, plus the grace; then purged.
    let store = env.store.clone();
    let forgotten = eventually(Duration::from_secs(4), || {
        let store = store.clone();
        async move {
            store
                .revocations_since("revoke", "")
                .await
                .expect("revocations")
                .revocations
                .is_empty()
        }
    })
    .await;
    assert!(forgotten, "revocations were never purged");
    let grace = TEST_REVOCATION_GRACE.as_millis() as u64;
    assert!(
        before + 1000 + grace - 50 <= now_ms(),
        "revocations purged before their passes expired"
    );
}

pub async fn leave_revokes_the_passes_of_a_live_session(env: &Env) {
    init(env, "leave-pass", settings(RoomMode::SafetyNet, 1000.0, 10)).await;
    let Placement::Admitted { expires_at_ms } = join(env, "leave-pass", 1).await else {
        panic!("straight in");
    };
    let left = env.other.leave("leave-pass", vid(1)).await.expect("leave");
    assert!(left.had_place);
    let revocation = left
        .revocation
        .expect("a live session's passes are revoked");
    assert_eq!(revocation.visitor, vid(1));
    assert!(revocation.passes_expiring_by_ms >= expires_at_ms);
    let listed = env
        .store
        .revocations_since("leave-pass", "")
        .await
        .expect("revocations");
    assert_eq!(listed.revocations, vec![revocation]);
    assert_eq!(status(env, "leave-pass", 1).await, Placement::Absent);
}

pub async fn revocations_are_followed_by_cursor_and_none_is_dropped(env: &Env) {
    init(env, "many", settings(RoomMode::QueueAll, 10.0, 10)).await;
    const TOTAL: u64 = 10_001;
    let mut tasks = Vec::new();
    for t in 0..8u64 {
        let store = if t % 2 == 0 {
            env.store.clone()
        } else {
            env.other.clone()
        };
        tasks.push(tokio::spawn(async move {
            for n in (t..TOTAL).step_by(8) {
                store.revoke("many", vid(n)).await.expect("revoke");
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let mut cursor = String::new();
    let mut seen = BTreeSet::new();
    let mut pages = 0;
    loop {
        let page = env
            .store
            .revocations_since("many", &cursor)
            .await
            .expect("page");
        assert!(page.revocations.len() <= anteroom_queue::REVOCATION_PAGE);
        pages += 1;
        for revocation in &page.revocations {
            assert!(seen.insert(revocation.visitor), "listed twice");
        }
        cursor = page.cursor;
        if !page.more {
            break;
        }
        assert!(pages < 100, "paging never ends");
    }
    assert_eq!(
        seen.len() as u64,
        TOTAL,
        "every revocation, newest included"
    );
    assert!(seen.contains(&vid(TOTAL - 1)) && seen.contains(&vid(0)));

    // Following on from the cursor: only what is new.
    let quiet = env
        .other
        .revocations_since("many", &cursor)
        .await
        .expect("nothing new");
    assert!(quiet.revocations.is_empty());
    assert_eq!(quiet.cursor, cursor);
    env.other.revoke("many", vid(TOTAL)).await.expect("revoke");
    let next = env
        .store
        .revocations_since("many", &cursor)
        .await
        .expect("the new one");
    let visitors: Vec<VisitorId> = next.revocations.iter().map(|r| r.visitor).collect();
    assert_eq!(visitors, vec![vid(TOTAL)]);
}

pub async fn restored_revocations_are_listed_again(env: &Env) {
    init(env, "restore-rev", settings(RoomMode::QueueAll, 10.0, 10)).await;
    let now = now_ms();
    let in_force = Revocation {
        visitor: vid(1),
        passes_expiring_by_ms: now + 60_000,
    };
    let spent = Revocation {
        visitor: vid(2),
        passes_expiring_by_ms: now - 600_000,
    };
    env.store
        .restore_revocations("restore-rev", &[in_force, spent])
        .await
        .expect("restore");
    let listed = env
        .other
        .revocations_since("restore-rev", "")
        .await
        .expect("revocations");
    assert_eq!(
        listed.revocations,
        vec![in_force],
        "spent entries are skipped"
    );
}

pub async fn stats_count_joins_and_admissions(env: &Env) {
    init(env, "stats", settings(RoomMode::QueueAll, 1000.0, 2)).await;
    let zero = env.store.stats("stats").await.expect("stats");
    assert_eq!(
        (
            zero.waiting,
            zero.active,
            zero.admitted_total,
            zero.joins_total
        ),
        (0, 0, 0, 0)
    );
    for n in 1..=3 {
        join(env, "stats", n).await;
    }
    join(env, "stats", 1).await; // no new place
    let tick = env.store.admit_tick("stats").await.expect("tick");
    assert_eq!(tick.admitted, 2);
    let stats = env.other.stats("stats").await.expect("stats");
    assert_eq!(
        (
            stats.waiting,
            stats.active,
            stats.admitted_total,
            stats.joins_total
        ),
        (1, 2, 2, 3)
    );
    env.store.leave("stats", vid(1)).await.expect("leave");
    env.store.admit_tick("stats").await.expect("tick");
    let stats = env.store.stats("stats").await.expect("stats");
    assert_eq!(
        (
            stats.waiting,
            stats.active,
            stats.admitted_total,
            stats.joins_total
        ),
        (0, 2, 3, 3)
    );
}

// ---------------------------------------------------------------------------------------------
// position fan-out (ADR 0005)

/// Read the frontier until the view has every page (from either instance).
async fn sync_view(store: &Arc<dyn QueueStore>, room: &str, view: &mut LineView) {
    for _ in 0..1000 {
        let frontier = store.frontier(room, view.cursor()).await.expect("frontier");
        if !view.apply(&frontier) {
            return;
        }
    }
    panic!("frontier pages never ended");
}

/// The ticket of a queued visitor (status marks it seen, as a poll does).
async fn ticket_of(env: &Env, room: &str, n: u64) -> u64 {
    match env.store.status(room, vid(n)).await.expect("status") {
        Placement::Waiting { ticket, .. } => ticket,
        other => panic!("visitor {n} is not waiting: {other:?}"),
    }
}

/// The view gives visitor `n` the position `status` gives it.
async fn assert_view_matches_status(env: &Env, room: &str, view: &LineView, n: u64) {
    let Placement::Waiting {
        position, ticket, ..
    } = env.store.status(room, vid(n)).await.expect("status")
    else {
        panic!("visitor {n} should be waiting");
    };
    assert_eq!(view.position(ticket), Some(position), "visitor {n}");
}

/// Every visitor in `queued` has the view's position equal to its `status` position, and
/// every ticket in `gone` has none.
async fn view_agrees_with_status(env: &Env, room: &str, queued: &[u64], gone: &[u64]) {
    let mut view = LineView::new();
    sync_view(&env.other, room, &mut view).await;
    assert_eq!(view.waiting(), queued.len() as u64);
    for n in queued {
        assert_view_matches_status(env, room, &view, *n).await;
    }
    for ticket in gone {
        assert_eq!(
            view.position(*ticket),
            None,
            "ticket {ticket} left the line"
        );
    }
}

pub async fn frontier_positions_match_status(env: &Env) {
    let room = "fan-out";
    // A full bucket of 5: the first tick admits the 5 at the head, the next ones ~1 each.
    init(env, room, settings(RoomMode::QueueAll, 5.0, 1000)).await;
    let before = env.store.frontier(room, 0).await.expect("frontier");
    assert_eq!((before.head, before.waiting), (None, 0));
    assert!(!before.epoch.is_empty());
    let mut tickets = Vec::new();
    for n in 1..=40 {
        let Placement::Waiting { ticket, .. } =
            env.store.join(room, vid(n)).await.expect("join").placement
        else {
            panic!("queue-all queues");
        };
        tickets.push(ticket);
    }
    assert_eq!(
        tickets,
        (1..=40).collect::<Vec<u64>>(),
        "tickets follow joins"
    );
    env.store.leave(room, vid(3)).await.expect("leave");
    env.other.leave(room, vid(7)).await.expect("leave");
    env.store.revoke(room, vid(10)).await.expect("revoke");
    let tick = env.other.admit_tick(room).await.expect("tick");
    assert!(tick.admitted >= 5, "{tick:?}");
    env.store.leave(room, vid(20)).await.expect("leave");
    env.store
        .leave(room, vid(40))
        .await
        .expect("leave the tail");

    let admitted: Vec<u64> = (1..=40)
        .filter(|n| ![3, 7, 10, 20, 40].contains(n))
        .take(tick.admitted as usize)
        .collect();
    let queued: Vec<u64> = (1..=40)
        .filter(|n| ![3, 7, 10, 20, 40].contains(n) && !admitted.contains(n))
        .collect();
    let frontier = env.store.frontier(room, 0).await.expect("frontier");
    assert_eq!(frontier.head, Some(ticket_of(env, room, queued[0]).await));
    assert!(frontier.changed_at_ms > 0);
    let mut gone = vec![3, 7, 10, 20, 40];
    gone.extend(&admitted);
    view_agrees_with_status(env, room, &queued, &gone).await;
}

pub async fn frontier_pages_past_a_thousand_gaps(env: &Env) {
    let room = "many-gaps";
    let mut s = settings(RoomMode::QueueAll, 100.0, 100);
    s.paused = true;
    init(env, room, s).await;
    for n in 1..=2500 {
        join(env, room, n).await;
    }
    // 1200 leave out of order: every other visitor from the 3rd on.
    let leavers: Vec<u64> = (0..1200).map(|i| 3 + 2 * i).collect();
    for n in &leavers {
        env.store.leave(room, vid(*n)).await.expect("leave");
    }
    let first = env.store.frontier(room, 0).await.expect("page 1");
    assert_eq!(first.gaps.len(), FRONTIER_PAGE);
    assert!(first.more);
    assert_eq!(first.gaps[..3], [3, 5, 7], "oldest first");
    let second = env
        .other
        .frontier(room, first.cursor)
        .await
        .expect("page 2");
    assert_eq!(second.gaps.len(), 200);
    assert!(!second.more);
    assert_eq!(second.epoch, first.epoch);
    let third = env
        .store
        .frontier(room, second.cursor)
        .await
        .expect("page 3");
    assert!(third.gaps.is_empty() && !third.more);
    assert_eq!(third.cursor, second.cursor, "nothing new keeps the cursor");

    let queued: Vec<u64> = (1..=2500).filter(|n| !leavers.contains(n)).collect();
    let mut view = LineView::new();
    sync_view(&env.store, room, &mut view).await;
    assert_eq!(view.gap_count(), 1200);
    // A sample across the line (the whole line costs 1300 status calls).
    for n in queued.iter().step_by(37).chain(queued.last()) {
        assert_view_matches_status(env, room, &view, *n).await;
    }
    assert_eq!(view.position(2500), Some(1300));
}

pub async fn touch_keeps_a_place_that_abandonment_frees_otherwise(env: &Env) {
    let room = "streams";
    let mut s = settings(RoomMode::QueueAll, 1000.0, 100);
    s.abandon_after_seconds = 1;
    s.paused = true;
    init(env, room, s).await;
    for n in 1..=4 {
        join(env, room, n).await;
    }
    let tickets: Vec<u64> = {
        let mut out = Vec::new();
        for n in 1..=4 {
            out.push(ticket_of(env, room, n).await);
        }
        out
    };
    // 2 and 4 have open streams (touched, never polling); 1 and 3 went quiet.
    let started = Instant::now();
    let mut abandoned = 0;
    while started.elapsed() < Duration::from_millis(2000) || abandoned < 2 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the quiet ones were never freed"
        );
        let touched = env
            .other
            .touch(room, &[vid(2), vid(4)])
            .await
            .expect("touch");
        assert_eq!(touched, 2, "streams keep their places");
        abandoned += env.store.admit_tick(room).await.expect("tick").abandoned;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert_eq!(abandoned, 2);
    assert_eq!(status(env, room, 2).await, waiting(1, 2));
    assert_eq!(status(env, room, 4).await, waiting(2, 2));
    assert_eq!(status(env, room, 1).await, Placement::Absent);
    // Touching a freed place does not bring it back.
    assert_eq!(
        env.store
            .touch(room, &[vid(1), vid(3), vid(5)])
            .await
            .expect("touch"),
        0
    );
    assert_eq!(status(env, room, 3).await, Placement::Absent);
    let gone = [tickets[0], tickets[2]];
    view_agrees_with_status(env, room, &[2, 4], &gone).await;
    // One call takes more than a batch.
    let many: Vec<VisitorId> = (0..2500).map(|n| vid(10_000 + n)).chain([vid(4)]).collect();
    assert_eq!(env.store.touch(room, &many).await.expect("touch many"), 1);
}

pub async fn a_lost_line_gets_a_new_epoch(env: &Env) {
    let room = "lost";
    let configured = settings(RoomMode::QueueAll, 10.0, 100);
    init(env, room, configured.clone()).await;
    for n in 1..=5 {
        join(env, room, n).await;
    }
    env.store.leave(room, vid(2)).await.expect("leave");
    let mut view = LineView::new();
    sync_view(&env.store, room, &mut view).await;
    let old_epoch = view.epoch().to_string();
    assert_eq!(view.position(3), Some(2));
    // init_room again (a gateway restart) keeps the line and its epoch.
    env.other
        .init_room(room, &configured)
        .await
        .expect("init again");
    sync_view(&env.store, room, &mut view).await;
    assert_eq!(view.epoch(), old_epoch);

    (env.lose_everything)();
    let (_, restored) = env
        .other
        .restore_room(room, &configured, &configured)
        .await
        .expect("restore");
    assert!(restored);
    join(env, room, 6).await;
    join(env, room, 7).await;
    let frontier = env
        .store
        .frontier(room, view.cursor())
        .await
        .expect("frontier");
    assert_ne!(frontier.epoch, old_epoch, "a lost line starts a new epoch");
    assert!(
        view.apply(&frontier),
        "the old cursor means nothing in the new log"
    );
    assert_eq!(view.position(3), None, "old tickets are void");
    sync_view(&env.store, room, &mut view).await;
    assert_ne!(view.epoch(), old_epoch);
    assert_eq!(ticket_of(env, room, 6).await, 1, "tickets restart");
    view_agrees_with_status(env, room, &[6, 7], &[]).await;
    assert_eq!(view.position(2), Some(2));
}

pub async fn a_cursor_past_the_log_starts_a_new_epoch(env: &Env) {
    let room = "rolled-back";
    init(env, room, settings(RoomMode::QueueAll, 10.0, 100)).await;
    for n in 1..=3 {
        join(env, room, n).await;
    }
    env.store.leave(room, vid(2)).await.expect("leave");
    let current = env.store.frontier(room, 0).await.expect("frontier");
    assert_eq!((current.gaps.clone(), current.cursor), (vec![2], 1));
    let same = env
        .other
        .frontier(room, current.cursor)
        .await
        .expect("again");
    assert_eq!(
        same.epoch, current.epoch,
        "a cursor from this log keeps the epoch"
    );
    // A view that read further than this log goes (the store went back to an older copy).
    let ahead = env.store.frontier(room, 50).await.expect("cursor ahead");
    assert_ne!(ahead.epoch, current.epoch);
    let mut view = LineView::new();
    sync_view(&env.store, room, &mut view).await;
    assert_eq!(view.epoch(), ahead.epoch);
    assert_eq!(view.position(3), Some(2));
}

pub async fn admission_trims_the_gaps_below_the_head(env: &Env) {
    let room = "trimmed";
    let mut s = settings(RoomMode::QueueAll, 1000.0, 1000);
    s.paused = true;
    init(env, room, s).await;
    for n in 1..=10 {
        join(env, room, n).await;
    }
    for n in [2, 4, 8] {
        env.store.leave(room, vid(n)).await.expect("leave");
    }
    let before = env.store.frontier(room, 0).await.expect("frontier");
    assert_eq!(before.gaps, vec![2, 4, 8]);
    // Admit the 3 at the head (1, 3, 5): gaps 2 and 4 fall below the new head (6).
    let admit = SettingsPatch {
        paused: Some(false),
        max_active: Some(3),
        ..SettingsPatch::default()
    };
    env.store
        .update_settings(room, &admit)
        .await
        .expect("resume");
    assert_eq!(env.store.admit_tick(room).await.expect("tick").admitted, 3);
    let after = env.other.frontier(room, 0).await.expect("frontier");
    assert_eq!((after.head, after.gaps.clone()), (Some(6), vec![8]));
    assert!(after.changed_at_ms >= before.changed_at_ms);
    // Positions from a view still agree with status.
    view_agrees_with_status(env, room, &[6, 7, 9, 10], &[1, 2, 3, 4, 5, 8]).await;
}
