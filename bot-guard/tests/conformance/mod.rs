//! The one behavioural suite every `GuardStore` passes. `conformance_memory.rs` runs it on a
//! `MemoryGuardStore` with a manual clock (time passes when a test says so, exactly);
//! `conformance_redis.rs` on a real redis-server, where time is Redis' own and passes for
//! real, so bounds on times carry the slack of a real clock and no more.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anteroom_admission::VisitorId;
use anteroom_bot_guard::{
    CheckedJoin, GuardCheck, GuardCounts, GuardStore, PlaceCheck, PlaceSubject, RedisGuardStore,
    VelocityCheck, VelocityResult,
};
use anteroom_queue::{Joined, Placement, QueueStore, RedisOptions, RedisStore, StoreError};

#[path = "../support/rooms.rs"]
mod rooms;
use rooms::waiting_room;

pub type Wait = Pin<Box<dyn Future<Output = ()> + Send>>;

/// One backend, seen by two gateway instances.
pub struct Env {
    pub store: Arc<dyn GuardStore>,
    /// A second instance on the same backend (its own pool on Redis; the same object in
    /// memory).
    pub other: Arc<dyn GuardStore>,
    /// The queue `check_and_join` joins (on the same Redis; the one given to `joining` in
    /// memory).
    pub queue: Arc<dyn QueueStore>,
    /// Keeps the backend (e.g. a redis-server) alive for the test.
    pub _guard: Box<dyn std::any::Any + Send + Sync>,
    /// Let this much time pass on the store's clock.
    pub pass: Box<dyn Fn(Duration) -> Wait + Send + Sync>,
    /// The store's clock now, in ms.
    pub now_ms: Box<dyn Fn() -> u64 + Send + Sync>,
}

/// Two instances (two pools) on the Redis at `url`, where time is Redis' own and passes for
/// real; `guard` keeps the server alive.
#[allow(dead_code)] // not every suite runs on Redis
pub async fn redis_env(url: &str, guard: Box<dyn std::any::Any + Send + Sync>) -> Env {
    let store = RedisGuardStore::connect(url, RedisOptions::default())
        .await
        .expect("connect");
    let other = RedisGuardStore::connect(url, RedisOptions::default())
        .await
        .expect("connect second instance");
    let queue = RedisStore::connect(url, RedisOptions::default())
        .await
        .expect("connect the queue");
    Env {
        store: Arc::new(store),
        other: Arc::new(other),
        queue: Arc::new(queue),
        _guard: guard,
        pass: Box::new(|d| Box::pin(tokio::time::sleep(d))),
        // Same host, so the system clock is Redis' clock.
        now_ms: Box::new(|| {
            let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
            u64::try_from(now.as_millis()).unwrap()
        }),
    }
}

/// Generates one `#[tokio::test]` per conformance test, each with a fresh `Env` from `$make`.
macro_rules! conformance_suite {
    ($make:path) => {
        conformance_suite!(@tests $make;
            velocity_allows_a_burst_of_limit_then_refuses_with_retry_after,
            hammering_is_counted_up_to_ten_times_the_limit,
            velocity_recovers_after_retry_after_and_after_the_window,
            extreme_limits_windows_and_holds_are_clamped_alike,
            subjects_in_one_check_count_independently,
            two_instances_share_the_counts,
            places_admit_at_most_max_per_subject,
            a_holder_checking_again_is_not_a_new_holder,
            a_place_needs_room_under_every_subject,
            each_subject_has_its_own_maximum,
            holders_expire_hold_ms_after_they_were_last_seen,
            concurrent_checks_never_exceed_the_max,
            many_holders_under_one_subject_are_counted_exactly,
            a_lower_or_higher_max_applies_to_the_holders_already_there,
            counting_a_subject_does_not_forget_its_holders,
            a_check_without_places_reports_no_holders,
            concurrent_redemptions_have_exactly_one_winner,
            redemptions_are_forgotten_after_their_ttl,
            shadows_are_set_lifted_and_expire,
            rules_round_trip,
            rooms_are_independent,
            a_clean_request_is_counted_and_joined_in_one_call,
            a_request_over_any_limit_is_counted_but_takes_no_place,
            a_shadowed_visitor_is_counted_but_takes_no_place,
            without_a_join_nothing_is_joined,
            a_join_into_an_unknown_room_fails_as_the_queue_join_does,
            concurrent_check_and_joins_never_join_over_a_limit,
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
    bytes[..8].copy_from_slice(&0xb07_0000_0000_0000u64.to_be_bytes());
    bytes[8..].copy_from_slice(&n.to_be_bytes());
    VisitorId(bytes)
}

fn limit(subject: &str, limit: u32, window_ms: u64) -> VelocityCheck {
    VelocityCheck {
        subject: subject.to_string(),
        limit,
        window_ms,
    }
}

fn velocity_only(limits: &[VelocityCheck]) -> GuardCheck {
    GuardCheck {
        velocity: limits.to_vec(),
        places: None,
    }
}

fn place(visitor: u64, subjects: &[&str], max: u32, hold_ms: u64) -> GuardCheck {
    GuardCheck {
        velocity: Vec::new(),
        places: Some(PlaceCheck {
            visitor: vid(visitor),
            subjects: subjects
                .iter()
                .map(|s| PlaceSubject::new(*s, max))
                .collect(),
            hold_ms,
        }),
    }
}

async fn check(store: &Arc<dyn GuardStore>, room: &str, check: &GuardCheck) -> GuardCounts {
    store.check(room, check).await.expect("check")
}

/// The first (only) velocity result of `n` checks in a row.
async fn hits(env: &Env, room: &str, limits: &[VelocityCheck], n: usize) -> Vec<VelocityResult> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(
            check(&env.store, room, &velocity_only(limits))
                .await
                .velocity[0],
        );
    }
    out
}

fn allowed(results: &[VelocityResult]) -> usize {
    results
        .iter()
        .filter(|r| r.retry_after_ms.is_none())
        .count()
}

// ---------------------------------------------------------------------------------------------
// velocity

pub async fn velocity_allows_a_burst_of_limit_then_refuses_with_retry_after(env: &Env) {
    // 5 per 10 s: one every 2 s once the burst is spent.
    let ip = [limit("ip:203.0.113.9", 5, 10_000)];
    let results = hits(env, "r", &ip, 8).await;
    let counts: Vec<u32> = results.iter().map(|r| r.count).collect();
    // Refused requests count too: the count shows how hard the subject pushes.
    assert_eq!(counts, [1, 2, 3, 4, 5, 6, 7, 8], "{results:?}");
    assert_eq!(allowed(&results[..5]), 5);
    for (k, refused) in (6u64..).zip(&results[5..]) {
        let retry = refused.retry_after_ms.expect("refused");
        // Each refusal pays one interval (2 s) too: the k-th waits (k - 4) intervals, less
        // the time the checks took.
        let most = (k - 4) * 2_000;
        assert!(
            (most - 1_000..=most).contains(&retry),
            "request {k}: retry after {retry} ms"
        );
    }
}

pub async fn hammering_is_counted_up_to_ten_times_the_limit(env: &Env) {
    let ip = [limit("ip:hammer", 4, 10_000)];
    let results = hits(env, "r", &ip, 60).await;
    assert_eq!(allowed(&results), 4);
    let counts: Vec<u32> = results.iter().map(|r| r.count).collect();
    assert_eq!(
        counts[..40],
        (1..=40).collect::<Vec<u32>>()[..],
        "{counts:?}"
    );
    assert!(
        counts[40..].iter().all(|c| *c == 40),
        "saturates: {counts:?}"
    );
}

pub async fn velocity_recovers_after_retry_after_and_after_the_window(env: &Env) {
    // 3 per 600 ms: one every 200 ms.
    let ip = [limit("ip:198.51.100.7", 3, 600)];
    let burst = hits(env, "r", &ip, 4).await;
    assert_eq!(allowed(&burst), 3);
    let retry = burst[3].retry_after_ms.expect("the fourth is refused");
    // It paid an interval too: two intervals (400 ms) until one more fits.
    assert!((200..=400).contains(&retry), "retry after {retry} ms");

    // Waiting what the store said is enough for one more.
    (env.pass)(Duration::from_millis(retry)).await;
    let one_more = hits(env, "r", &ip, 1).await;
    assert_eq!(allowed(&one_more), 1, "{one_more:?}");

    // A whole window without requests gives the whole burst back, and no more.
    (env.pass)(Duration::from_millis(600)).await;
    let again = hits(env, "r", &ip, 4).await;
    assert_eq!(allowed(&again[..3]), 3, "{again:?}");
    assert!(again[3].retry_after_ms.is_some(), "{again:?}");
}

pub async fn extreme_limits_windows_and_holds_are_clamped_alike(env: &Env) {
    let limits = [
        limit("ip:zero", 0, 1_000),
        limit("ip:huge", u32::MAX, u64::MAX),
        limit("ip:instant", 1, 0),
    ];
    let counts = check(&env.store, "r", &velocity_only(&limits)).await;
    assert_eq!(counts.velocity[0].count, 1, "limit 0 refuses everything");
    assert!(counts.velocity[0].retry_after_ms >= Some(1_000));
    assert_eq!(counts.velocity[1].retry_after_ms, None);
    assert_eq!(
        counts.velocity[2].retry_after_ms, None,
        "window 0 counts as 1 ms"
    );
    let held = check(&env.store, "r", &place(1, &["fp:zero-hold"], 1, 0)).await;
    assert!(held.place_allowed);
    assert_eq!(held.holders, Some(vec![1]));
    let no_room = check(&env.store, "r", &place(2, &["fp:no-room"], 0, 60_000)).await;
    assert!(!no_room.place_allowed, "a maximum of 0 takes nobody");
    assert_eq!(no_room.holders, Some(vec![0]));
}

pub async fn subjects_in_one_check_count_independently(env: &Env) {
    let limits = [
        limit("ip:a", 2, 10_000),
        limit("fp:b", 4, 10_000),
        // The same subject under another window is another counter.
        limit("ip:a", 3, 60_000),
    ];
    let mut per_limit = vec![Vec::new(); limits.len()];
    for _ in 0..5 {
        let counts = check(&env.store, "r", &velocity_only(&limits)).await;
        assert_eq!(counts.velocity.len(), limits.len());
        assert_eq!(counts.holders, None);
        for (results, result) in per_limit.iter_mut().zip(counts.velocity) {
            results.push(result);
        }
    }
    assert_eq!(allowed(&per_limit[0]), 2, "{:?}", per_limit[0]);
    assert_eq!(allowed(&per_limit[1]), 4, "{:?}", per_limit[1]);
    assert_eq!(allowed(&per_limit[2]), 3, "{:?}", per_limit[2]);
    // A subject nobody checked yet has its whole burst.
    let fresh = hits(env, "r", &[limit("fp:c", 2, 10_000)], 1).await;
    assert_eq!(fresh[0].count, 1);
    assert_eq!(fresh[0].retry_after_ms, None);
    // The same counter named twice in one check counts twice, one after the other.
    let twice = [limit("ip:d", 1, 10_000), limit("ip:d", 1, 10_000)];
    let counts = check(&env.store, "r", &velocity_only(&twice)).await;
    assert_eq!(counts.velocity[0].count, 1);
    assert_eq!(counts.velocity[0].retry_after_ms, None);
    assert_eq!(counts.velocity[1].count, 2);
    assert!(counts.velocity[1].retry_after_ms.is_some());
}

pub async fn two_instances_share_the_counts(env: &Env) {
    let ip = velocity_only(&[limit("ip:shared", 6, 10_000)]);
    let mut admitted = 0;
    for n in 0..12 {
        let store = if n % 2 == 0 { &env.store } else { &env.other };
        if check(store, "r", &ip).await.velocity[0]
            .retry_after_ms
            .is_none()
        {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 6, "the limit holds for the sum of both instances");

    let mut places = Vec::new();
    for n in 0..4 {
        let store = if n % 2 == 0 { &env.store } else { &env.other };
        places.push(
            check(store, "r", &place(n, &["fp:shared"], 2, 60_000))
                .await
                .place_allowed,
        );
    }
    assert_eq!(places, [true, true, false, false]);
}

// ---------------------------------------------------------------------------------------------
// places

pub async fn places_admit_at_most_max_per_subject(env: &Env) {
    let mut results = Vec::new();
    for n in 1..=5 {
        results.push(check(&env.store, "r", &place(n, &["fp:x"], 3, 60_000)).await);
    }
    let allowed: Vec<bool> = results.iter().map(|c| c.place_allowed).collect();
    assert_eq!(allowed, [true, true, true, false, false]);
    let holders: Vec<Vec<u32>> = results.iter().map(|c| c.holders.clone().unwrap()).collect();
    assert_eq!(holders, [vec![1], vec![2], vec![3], vec![3], vec![3]]);
}

pub async fn a_holder_checking_again_is_not_a_new_holder(env: &Env) {
    for (n, holders) in [(1, 1), (2, 2), (1, 2), (2, 2), (1, 2)] {
        let counts = check(&env.store, "r", &place(n, &["ip:x"], 2, 60_000)).await;
        assert!(counts.place_allowed, "holder {n} keeps its place");
        assert_eq!(counts.holders, Some(vec![holders]));
    }
    let third = check(&env.store, "r", &place(3, &["ip:x"], 2, 60_000)).await;
    assert!(!third.place_allowed);
    assert_eq!(third.holders, Some(vec![2]));
}

/// Each subject is held to its own maximum: a shared address with a high one still meets a
/// low one of its fingerprint, and the other way round.
pub async fn each_subject_has_its_own_maximum(env: &Env) {
    let take = |n, ip_max, fp_max| GuardCheck {
        velocity: Vec::new(),
        places: Some(PlaceCheck {
            visitor: vid(n),
            subjects: vec![
                PlaceSubject::new("ip:nat", ip_max),
                PlaceSubject::new(format!("fp:{n}"), fp_max),
            ],
            hold_ms: 60_000,
        }),
    };
    // Five visitors with five fingerprints behind one address allowed 100: all in.
    for n in 1..=5 {
        let counts = check(&env.store, "r", &take(n, 100, 1)).await;
        assert!(counts.place_allowed, "visitor {n}");
        assert_eq!(counts.holders, Some(vec![u32::try_from(n).unwrap(), 1]));
    }
    // The same address allowed 5: the sixth is refused however free its fingerprint is.
    let refused = check(&env.store, "r", &take(6, 5, 100)).await;
    assert!(!refused.place_allowed);
    assert_eq!(refused.holders, Some(vec![5, 0]));
    // One fingerprint allowed 1, under an address with room: a second holder is refused.
    let same_fp = |n| GuardCheck {
        velocity: Vec::new(),
        places: Some(PlaceCheck {
            visitor: vid(n),
            subjects: vec![
                PlaceSubject::new("ip:other", 100),
                PlaceSubject::new("fp:shared", 1),
            ],
            hold_ms: 60_000,
        }),
    };
    assert!(check(&env.store, "r", &same_fp(10)).await.place_allowed);
    let second = check(&env.store, "r", &same_fp(11)).await;
    assert!(!second.place_allowed);
    assert_eq!(second.holders, Some(vec![1, 1]));
}

pub async fn a_place_needs_room_under_every_subject(env: &Env) {
    let take = |n, subjects: &'static [&'static str]| place(n, subjects, 2, 60_000);
    assert!(
        check(&env.store, "r", &take(1, &["ip:A", "fp:X"]))
            .await
            .place_allowed
    );
    assert!(
        check(&env.store, "r", &take(2, &["ip:B", "fp:X"]))
            .await
            .place_allowed
    );
    // fp:X is full: refused, and not taken under ip:A either (all subjects or none).
    let refused = check(&env.store, "r", &take(3, &["ip:A", "fp:X"])).await;
    assert!(!refused.place_allowed);
    assert_eq!(refused.holders, Some(vec![1, 2]));
    let other_fp = check(&env.store, "r", &take(4, &["ip:A", "fp:Y"])).await;
    assert!(
        other_fp.place_allowed,
        "ip:A still had room: visitor 3 took none"
    );
    assert_eq!(other_fp.holders, Some(vec![2, 1]));
    // An empty subject list refuses nothing.
    let none = check(&env.store, "r", &take(5, &[])).await;
    assert!(none.place_allowed);
    assert_eq!(none.holders, Some(vec![]));
}

pub async fn holders_expire_hold_ms_after_they_were_last_seen(env: &Env) {
    let hold = 800;
    let take = |n| place(n, &["fp:expiring"], 1, hold);
    assert!(check(&env.store, "r", &take(1)).await.place_allowed);
    assert!(!check(&env.store, "r", &take(2)).await.place_allowed);
    // Seen again halfway: the hold runs from now.
    (env.pass)(Duration::from_millis(500)).await;
    assert!(check(&env.store, "r", &take(1)).await.place_allowed);
    (env.pass)(Duration::from_millis(500)).await;
    let still_held = check(&env.store, "r", &take(2)).await;
    assert!(
        !still_held.place_allowed,
        "the refreshed holder still holds"
    );
    // Not seen for longer than the hold: forgotten, the place is free.
    (env.pass)(Duration::from_millis(hold + 100)).await;
    let freed = check(&env.store, "r", &take(2)).await;
    assert!(freed.place_allowed);
    assert_eq!(freed.holders, Some(vec![1]));
}

pub async fn concurrent_checks_never_exceed_the_max(env: &Env) {
    let mut tasks = Vec::new();
    for n in 0..2_000 {
        let store = if n % 2 == 0 {
            env.store.clone()
        } else {
            env.other.clone()
        };
        tasks.push(tokio::spawn(async move {
            let check = place(n, &["ip:crowd", "fp:crowd"], 4, 60_000);
            store.check("r", &check).await.expect("check")
        }));
    }
    let mut admitted = 0;
    for task in tasks {
        let counts = task.await.expect("task");
        let holders = counts.holders.expect("holders");
        assert!(holders.iter().all(|h| *h <= 4), "{holders:?}");
        if counts.place_allowed {
            admitted += 1;
        }
    }
    assert_eq!(admitted, 4);
    let late = check(&env.store, "r", &place(10_000, &["ip:crowd"], 4, 60_000)).await;
    assert_eq!(late.holders, Some(vec![4]));
}

/// More holders than a subject keeps beside its counters (Redis: 8 inline, then a zset):
/// the count goes on exactly, both ways across the change.
pub async fn many_holders_under_one_subject_are_counted_exactly(env: &Env) {
    let hold = 1_500;
    let take = |n| place(n, &["ip:campus", "fp:campus"], 20, hold);
    for n in 1..=20 {
        let counts = check(&env.store, "r", &take(n)).await;
        assert!(counts.place_allowed, "holder {n}");
        assert_eq!(counts.holders, Some(vec![n as u32; 2]), "holder {n}");
    }
    for n in [21, 22] {
        let refused = check(&env.other, "r", &take(n)).await;
        assert!(!refused.place_allowed, "visitor {n} over the max");
        assert_eq!(refused.holders, Some(vec![20, 20]));
    }
    // Every early holder is still one of the twenty, on both instances.
    for n in [1, 5, 9, 10, 20] {
        let again = check(&env.other, "r", &take(n)).await;
        assert!(again.place_allowed, "holder {n} keeps its place");
        assert_eq!(again.holders, Some(vec![20, 20]));
    }
    // Holders not seen for the hold are forgotten, whichever way they are kept.
    (env.pass)(Duration::from_millis(hold + 100)).await;
    let after = check(&env.store, "r", &take(30)).await;
    assert!(after.place_allowed);
    assert_eq!(after.holders, Some(vec![1, 1]));
}

/// A live change of the maximum counts the holders already there: lowering it refuses newcomers
/// at once, raising it lets them in up to the new one.
pub async fn a_lower_or_higher_max_applies_to_the_holders_already_there(env: &Env) {
    let take = |n, max| place(n, &["ip:nat"], max, 60_000);
    for n in 1..=12 {
        assert!(check(&env.store, "r", &take(n, 12)).await.place_allowed);
    }
    let lowered = check(&env.store, "r", &take(13, 4)).await;
    assert!(!lowered.place_allowed);
    assert_eq!(lowered.holders, Some(vec![12]));
    assert!(
        check(&env.store, "r", &take(3, 4)).await.place_allowed,
        "a holder keeps its place under a lower max"
    );
    let raised = check(&env.store, "r", &take(13, 13)).await;
    assert!(raised.place_allowed);
    assert_eq!(raised.holders, Some(vec![13]));

    // The same from few holders: four under a max of 4, then a max of 10.
    for n in 1..=4 {
        assert!(
            check(&env.store, "r", &place(n, &["ip:few"], 4, 60_000))
                .await
                .place_allowed
        );
    }
    for n in 5..=10 {
        let counts = check(&env.store, "r", &place(n, &["ip:few"], 10, 60_000)).await;
        assert!(counts.place_allowed, "visitor {n}");
        assert_eq!(counts.holders, Some(vec![n as u32]));
    }
    let full = check(&env.store, "r", &place(11, &["ip:few"], 10, 60_000)).await;
    assert!(!full.place_allowed);
    assert_eq!(full.holders, Some(vec![10]));
}

/// One subject counted by velocity and holding places, in one check and in checks without
/// places: neither forgets the other.
pub async fn counting_a_subject_does_not_forget_its_holders(env: &Env) {
    let both = |n| GuardCheck {
        velocity: vec![limit("ip:one", 3, 1_000)],
        places: Some(PlaceCheck {
            visitor: vid(n),
            subjects: vec![PlaceSubject::new("ip:one", 1)],
            hold_ms: 60_000,
        }),
    };
    let first = check(&env.store, "r", &both(1)).await;
    assert!(first.place_allowed && first.is_clean());
    assert_eq!(first.velocity[0].count, 1);
    // Velocity alone, well past the window: the counter drains, the holder stays.
    let counted = hits(env, "r", &[limit("ip:one", 3, 1_000)], 2).await;
    assert_eq!(counted[1].count, 3);
    (env.pass)(Duration::from_millis(1_200)).await;
    let drained = hits(env, "r", &[limit("ip:one", 3, 1_000)], 1).await;
    assert_eq!(
        drained[0].count, 1,
        "a whole window later the burst is back"
    );
    let second = check(&env.store, "r", &both(2)).await;
    assert!(!second.place_allowed, "visitor 1 still holds the one place");
    assert_eq!(second.holders, Some(vec![1]));
    assert_eq!(second.velocity[0].count, 2);
}

pub async fn a_check_without_places_reports_no_holders(env: &Env) {
    let empty = check(&env.store, "r", &GuardCheck::default()).await;
    assert!(empty.velocity.is_empty());
    assert_eq!(empty.holders, None);
    assert!(empty.place_allowed, "nothing to refuse");
}

// ---------------------------------------------------------------------------------------------
// redemption, shadows, rules, rooms

pub async fn concurrent_redemptions_have_exactly_one_winner(env: &Env) {
    let mut tasks = Vec::new();
    for n in 0..10 {
        let store = if n % 2 == 0 {
            env.store.clone()
        } else {
            env.other.clone()
        };
        tasks.push(tokio::spawn(async move {
            store
                .redeem("r", "challenge-1", 60_000)
                .await
                .expect("redeem")
        }));
    }
    let mut winners = 0;
    for task in tasks {
        if task.await.expect("task") {
            winners += 1;
        }
    }
    assert_eq!(winners, 1);
    assert!(!env.store.redeem("r", "challenge-1", 60_000).await.unwrap());
    assert!(env.store.redeem("r", "challenge-2", 60_000).await.unwrap());
    assert!(env
        .store
        .redeem("other-room", "challenge-1", 60_000)
        .await
        .unwrap());
}

pub async fn redemptions_are_forgotten_after_their_ttl(env: &Env) {
    assert!(env.store.redeem("r", "short", 300).await.unwrap());
    assert!(!env.store.redeem("r", "short", 300).await.unwrap());
    (env.pass)(Duration::from_millis(400)).await;
    assert!(env.store.redeem("r", "short", 300).await.unwrap());
}

pub async fn shadows_are_set_lifted_and_expire(env: &Env) {
    let v = vid(7);
    assert!(!env.store.is_shadowed("r", v).await.unwrap());
    env.store
        .set_shadow("r", v, Some((env.now_ms)() + 60_000))
        .await
        .unwrap();
    assert!(env.store.is_shadowed("r", v).await.unwrap());
    assert!(
        env.other.is_shadowed("r", v).await.unwrap(),
        "every instance sees it"
    );
    assert!(!env.store.is_shadowed("r", vid(8)).await.unwrap());
    assert!(!env.store.is_shadowed("other-room", v).await.unwrap());

    env.other.set_shadow("r", v, None).await.unwrap();
    assert!(!env.store.is_shadowed("r", v).await.unwrap(), "lifted");

    env.store
        .set_shadow("r", v, Some((env.now_ms)() + 300))
        .await
        .unwrap();
    assert!(env.store.is_shadowed("r", v).await.unwrap());
    (env.pass)(Duration::from_millis(400)).await;
    assert!(!env.store.is_shadowed("r", v).await.unwrap(), "expired");

    // An end already past lifts a shadow too.
    env.store
        .set_shadow("r", v, Some((env.now_ms)() + 60_000))
        .await
        .unwrap();
    env.store
        .set_shadow("r", v, Some((env.now_ms)() - 1_000))
        .await
        .unwrap();
    assert!(!env.store.is_shadowed("r", v).await.unwrap());
    env.store.set_shadow("r", v, Some(0)).await.unwrap();
    assert!(!env.store.is_shadowed("r", v).await.unwrap());
}

pub async fn rules_round_trip(env: &Env) {
    assert_eq!(env.store.rules("r").await.unwrap(), None);
    let rules = r#"{"enabled":true,"block_cidrs":["192.0.2.0/24"]}"#;
    env.store.set_rules("r", rules).await.unwrap();
    assert_eq!(env.other.rules("r").await.unwrap().as_deref(), Some(rules));
    env.other.set_rules("r", "{}").await.unwrap();
    assert_eq!(env.store.rules("r").await.unwrap().as_deref(), Some("{}"));
    assert_eq!(env.store.rules("other-room").await.unwrap(), None);
}

pub async fn rooms_are_independent(env: &Env) {
    let ip = [limit("ip:same", 2, 10_000)];
    assert_eq!(allowed(&hits(env, "room-a", &ip, 3).await), 2);
    assert_eq!(allowed(&hits(env, "room-b", &ip, 3).await), 2);
    assert!(
        check(&env.store, "room-a", &place(1, &["fp:same"], 1, 60_000))
            .await
            .place_allowed
    );
    assert!(
        check(&env.store, "room-b", &place(2, &["fp:same"], 1, 60_000))
            .await
            .place_allowed
    );
    assert!(
        !check(&env.store, "room-a", &place(3, &["fp:same"], 1, 60_000))
            .await
            .place_allowed
    );
}

// ---------------------------------------------------------------------------------------------
// the check folded into the join (ADR 0007)

/// A join's check: velocity for `ip` (limit `per_ip` per hour: time passing during a test
/// frees nothing) and the visitor, places under `ip` (at most `max`).
fn join_check(visitor: u64, ip: &str, per_ip: u32, max: u32) -> GuardCheck {
    GuardCheck {
        velocity: vec![
            limit(ip, per_ip, 3_600_000),
            limit(&format!("vid:{visitor}"), 10, 10_000),
        ],
        places: Some(PlaceCheck {
            visitor: vid(visitor),
            subjects: vec![PlaceSubject::new(ip, max)],
            hold_ms: 60_000,
        }),
    }
}

async fn check_and_join(
    store: &Arc<dyn GuardStore>,
    room: &str,
    check: &GuardCheck,
    shadow_of: Option<u64>,
    join: Option<u64>,
) -> CheckedJoin {
    store
        .check_and_join(room, check, shadow_of.map(vid), join.map(vid))
        .await
        .expect("check_and_join")
}

fn joined(checked: &CheckedJoin) -> Joined {
    match &checked.joined {
        Some(Ok(joined)) => *joined,
        other => panic!("not joined: {other:?}"),
    }
}

async fn placement(env: &Env, room: &str, visitor: u64) -> Placement {
    env.queue.status(room, vid(visitor)).await.expect("status")
}

pub async fn a_clean_request_is_counted_and_joined_in_one_call(env: &Env) {
    env.queue.init_room("r", &waiting_room()).await.unwrap();
    let first = check_and_join(&env.store, "r", &join_check(1, "ip:a", 5, 4), None, Some(1)).await;
    assert!(first.counts.is_clean() && !first.shadowed, "{first:?}");
    assert_eq!(first.counts.velocity[0].count, 1);
    assert_eq!(first.counts.holders, Some(vec![1]));
    let place = joined(&first);
    assert!(place.new_place);
    assert!(
        matches!(
            place.placement,
            Placement::Waiting {
                position: 1,
                waiting: 1,
                ..
            }
        ),
        "{place:?}"
    );
    assert_eq!(
        place.placement,
        placement(env, "r", 1).await,
        "what the queue holds"
    );

    // Another instance, the same counters and the same line; a visitor not shadowed is asked
    // about and joins.
    let second = check_and_join(
        &env.other,
        "r",
        &join_check(2, "ip:a", 5, 4),
        Some(2),
        Some(2),
    )
    .await;
    assert_eq!(second.counts.velocity[0].count, 2);
    assert_eq!(second.counts.holders, Some(vec![2]));
    assert!(!second.shadowed);
    assert!(matches!(
        joined(&second).placement,
        Placement::Waiting {
            position: 2,
            waiting: 2,
            ..
        }
    ));

    // Joining again is the queue's idempotent join: the same place, not a new one.
    let again = check_and_join(&env.store, "r", &join_check(1, "ip:a", 5, 4), None, Some(1)).await;
    assert_eq!(
        joined(&again).placement,
        Placement::Waiting {
            position: 1,
            waiting: 2,
            ticket: match place.placement {
                Placement::Waiting { ticket, .. } => ticket,
                _ => unreachable!(),
            }
        }
    );
    assert!(!joined(&again).new_place);
    assert_eq!(env.queue.stats("r").await.unwrap().waiting, 2);
}

pub async fn a_request_over_any_limit_is_counted_but_takes_no_place(env: &Env) {
    env.queue.init_room("r", &waiting_room()).await.unwrap();
    // Velocity: one per 10 s per IP.
    joined(&check_and_join(&env.store, "r", &join_check(1, "ip:v", 1, 4), None, Some(1)).await);
    let over = check_and_join(&env.store, "r", &join_check(2, "ip:v", 1, 4), None, Some(2)).await;
    assert!(over.joined.is_none(), "{over:?}");
    assert!(!over.counts.is_clean());
    assert_eq!(over.counts.velocity[0].count, 2, "counted as check counts");
    assert!(over.counts.velocity[0].retry_after_ms.is_some());
    assert!(
        over.counts.place_allowed,
        "the place check itself allowed it"
    );
    assert_eq!(
        placement(env, "r", 2).await,
        Placement::Absent,
        "no place taken"
    );

    // Places: at most one holder under the IP.
    joined(&check_and_join(&env.store, "r", &join_check(3, "ip:p", 9, 1), None, Some(3)).await);
    let full = check_and_join(&env.other, "r", &join_check(4, "ip:p", 9, 1), None, Some(4)).await;
    assert!(full.joined.is_none(), "{full:?}");
    assert!(!full.counts.place_allowed);
    assert_eq!(full.counts.holders, Some(vec![1]));
    assert_eq!(
        placement(env, "r", 4).await,
        Placement::Absent,
        "no place taken"
    );
    assert_eq!(env.queue.stats("r").await.unwrap().waiting, 2);
}

pub async fn a_shadowed_visitor_is_counted_but_takes_no_place(env: &Env) {
    env.queue.init_room("r", &waiting_room()).await.unwrap();
    env.store
        .set_shadow("r", vid(5), Some((env.now_ms)() + 60_000))
        .await
        .unwrap();
    let shadowed = check_and_join(
        &env.other,
        "r",
        &join_check(5, "ip:s", 5, 4),
        Some(5),
        Some(5),
    )
    .await;
    assert!(
        shadowed.shadowed && shadowed.joined.is_none(),
        "{shadowed:?}"
    );
    assert!(shadowed.counts.is_clean(), "the counts alone were clean");
    assert_eq!(shadowed.counts.velocity[0].count, 1);
    assert_eq!(placement(env, "r", 5).await, Placement::Absent);

    // Not asked, the store does not read the shadow (the caller knows the id is new).
    let unasked =
        check_and_join(&env.store, "r", &join_check(6, "ip:s", 5, 4), None, Some(6)).await;
    assert!(!unasked.shadowed);
    joined(&unasked);
    // Lifted, the visitor joins.
    env.store.set_shadow("r", vid(5), None).await.unwrap();
    let lifted = check_and_join(
        &env.store,
        "r",
        &join_check(5, "ip:s", 5, 4),
        Some(5),
        Some(5),
    )
    .await;
    assert!(!lifted.shadowed);
    joined(&lifted);
}

pub async fn without_a_join_nothing_is_joined(env: &Env) {
    env.queue.init_room("r", &waiting_room()).await.unwrap();
    let only = check_and_join(&env.store, "r", &join_check(7, "ip:n", 5, 4), Some(7), None).await;
    assert!(only.counts.is_clean() && only.joined.is_none(), "{only:?}");
    assert_eq!(placement(env, "r", 7).await, Placement::Absent);
    // It counted as `check` counts: the next check sees it.
    let next = check(&env.store, "r", &join_check(7, "ip:n", 5, 4)).await;
    assert_eq!(next.velocity[0].count, 2);
    assert_eq!(next.holders, Some(vec![1]));
}

pub async fn a_join_into_an_unknown_room_fails_as_the_queue_join_does(env: &Env) {
    let checked = check_and_join(
        &env.store,
        "nowhere",
        &join_check(8, "ip:u", 5, 4),
        None,
        Some(8),
    )
    .await;
    assert_eq!(checked.counts.velocity[0].count, 1, "counted all the same");
    assert!(
        matches!(checked.joined, Some(Err(StoreError::Invalid(_)))),
        "{checked:?}"
    );
    assert!(matches!(
        env.queue.join("nowhere", vid(8)).await,
        Err(StoreError::Invalid(_))
    ));
}

pub async fn concurrent_check_and_joins_never_join_over_a_limit(env: &Env) {
    env.queue.init_room("r", &waiting_room()).await.unwrap();
    // 200 distinct visitors at once behind one IP allowed 50 per 10 s and 1000 places.
    let tasks: Vec<_> = (0..200u64)
        .map(|n| {
            let store = if n % 2 == 0 {
                env.store.clone()
            } else {
                env.other.clone()
            };
            tokio::spawn(async move {
                let check = join_check(1_000 + n, "ip:crowd", 50, 1_000);
                let checked =
                    check_and_join(&store, "r", &check, Some(1_000 + n), Some(1_000 + n)).await;
                checked.joined.is_some()
            })
        })
        .collect();
    let mut joins = 0;
    for task in tasks {
        joins += usize::from(task.await.unwrap());
    }
    assert_eq!(joins, 50);
    assert_eq!(env.queue.stats("r").await.unwrap().waiting, 50);
}
