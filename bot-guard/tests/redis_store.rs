#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Redis-only behaviour of `RedisGuardStore`: what one check costs Redis, and what happens
//! when Redis forgets the script or cannot be reached.

use std::collections::BTreeMap;
use std::time::Duration;

use anteroom_admission::VisitorId;
use anteroom_bot_guard::{
    GuardCheck, GuardStore, PlaceCheck, PlaceSubject, RedisGuardStore, VelocityCheck,
};
use anteroom_queue::{Placement, QueueStore, RedisOptions, RedisStore, StoreError};
use anteroom_testkit::RedisServer;
use fred::prelude::{Builder, ClientLike, Config, LuaInterface};
use fred::types::InfoKind;

#[path = "support/rooms.rs"]
mod rooms;
use rooms::waiting_room;

/// A redis-server, a store on it, and a plain client to watch it with.
async fn started() -> (RedisServer, RedisGuardStore, fred::prelude::Client) {
    let server = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .unwrap();
    let store = RedisGuardStore::connect(&server.url(), RedisOptions::default())
        .await
        .unwrap();
    let observer = Builder::from_config(Config::from_url(&server.url()).unwrap())
        .build()
        .unwrap();
    observer.init().await.unwrap();
    (server, store, observer)
}

/// Calls per command, from `INFO commandstats` (`cmdstat_evalsha:calls=1,usec=...`).
async fn command_calls(client: &fred::prelude::Client) -> BTreeMap<String, u64> {
    let info: String = client.info(Some(InfoKind::CommandStats)).await.unwrap();
    info.lines()
        .filter_map(|line| {
            let (name, stats) = line.strip_prefix("cmdstat_")?.split_once(':')?;
            let calls = stats
                .strip_prefix("calls=")?
                .split(',')
                .next()?
                .parse()
                .ok()?;
            Some((name.to_string(), calls))
        })
        .collect()
}

/// The check a join makes: IP, subnet, fingerprint and visitor velocity, places per IP and
/// per fingerprint.
fn join_check(visitor: u8) -> GuardCheck {
    let velocity = ["ip:203.0.113.9", "net:203.0.113.0/24", "fp:c0ffee", "vid:1"]
        .into_iter()
        .map(|subject| VelocityCheck {
            subject: subject.to_string(),
            limit: 100,
            window_ms: 10_000,
        })
        .collect();
    GuardCheck {
        velocity,
        places: Some(PlaceCheck {
            visitor: VisitorId([visitor; 16]),
            subjects: vec![
                PlaceSubject::new("ip:203.0.113.9", 3),
                PlaceSubject::new("fp:c0ffee", 3),
            ],
            hold_ms: 60_000,
        }),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_check_of_four_limits_and_places_is_one_evalsha() {
    let (_server, store, observer) = started().await;
    store.check("r", &join_check(1)).await.unwrap();

    let before = command_calls(&observer).await;
    let counts = store.check("r", &join_check(2)).await.unwrap();
    let sent = delta(&before, command_calls(&observer).await);

    assert_eq!(counts.velocity.len(), 4);
    assert_eq!(counts.holders, Some(vec![2, 2]));
    // Redis counts the commands a script runs too: exactly the script's own (TIME, one MGET
    // of every counter, a SET per counter, per place subject count, trim, lookup, add,
    // expiry), under one EVALSHA. Any command sent beside the script would show up as one
    // too many.
    let expected: BTreeMap<String, u64> = [
        ("evalsha", 1),
        ("time", 1),
        ("mget", 1),
        ("set", 4),
        ("zremrangebyscore", 2),
        ("zscore", 2),
        ("zcard", 2),
        ("zadd", 2),
        ("pexpire", 2),
    ]
    .into_iter()
    .map(|(name, calls)| (name.to_string(), calls))
    .collect();
    assert_eq!(sent, expected, "one round trip");
    observer.quit().await.unwrap();
}

/// Commands run between two readings of `command_calls`, but the observer's INFO.
fn delta(before: &BTreeMap<String, u64>, after: BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    let mut sent: BTreeMap<String, u64> = after
        .into_iter()
        .map(|(name, calls)| {
            (
                name.clone(),
                calls - before.get(&name).copied().unwrap_or(0),
            )
        })
        .filter(|(_, calls)| *calls > 0)
        .collect();
    assert_eq!(sent.remove("info"), Some(1), "the observer's own INFO");
    sent
}

/// A queue-all room on the same Redis, paused (joins queue, nobody is admitted).
async fn queue_room(url: &str) -> RedisStore {
    let queue = RedisStore::connect(url, RedisOptions::default())
        .await
        .unwrap();
    queue.init_room("r", &waiting_room()).await.unwrap();
    queue
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_check_and_join_is_one_evalsha_running_the_check_the_shadow_read_and_the_join() {
    let (server, store, observer) = started().await;
    let queue = queue_room(&server.url()).await;
    // The join alone, for a second visitor in the same state (not the first of the line).
    queue.join("r", VisitorId([9; 16])).await.unwrap();
    let before = command_calls(&observer).await;
    queue.join("r", VisitorId([8; 16])).await.unwrap();
    let join_alone = delta(&before, command_calls(&observer).await);
    assert_eq!(join_alone.get("evalsha"), Some(&1));

    let before = command_calls(&observer).await;
    let visitor = VisitorId([2; 16]);
    let checked = store
        .check_and_join("r", &join_check(2), Some(visitor), Some(visitor))
        .await
        .unwrap();
    let sent = delta(&before, command_calls(&observer).await);
    let joined = checked.joined.unwrap().unwrap();
    assert!(joined.new_place);
    assert!(matches!(
        joined.placement,
        Placement::Waiting {
            position: 3,
            waiting: 3,
            ..
        }
    ));
    assert_eq!(queue.status("r", visitor).await.unwrap(), joined.placement);

    // One EVALSHA running the check's commands (on subjects nobody holds yet: one count per
    // place subject, no trim, no lookup; the join's TIME serves both), one EXISTS (the
    // shadow) and the join's own commands: nothing else was sent.
    let mut expected: BTreeMap<String, u64> = [
        ("mget", 1),
        ("set", 4),
        ("zcard", 2),
        ("zadd", 2),
        ("pexpire", 2),
        ("exists", 1),
    ]
    .into_iter()
    .map(|(name, calls)| (name.to_string(), calls))
    .collect();
    for (name, calls) in join_alone {
        *expected.entry(name).or_default() += calls;
    }
    assert_eq!(sent, expected, "one round trip");
    observer.quit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_check_and_join_over_a_limit_runs_no_join_command() {
    let (server, store, observer) = started().await;
    let queue = queue_room(&server.url()).await;
    // Three places per subject: the fourth visitor is refused one.
    for n in 1..=3 {
        store
            .check_and_join("r", &join_check(n), None, Some(VisitorId([n; 16])))
            .await
            .unwrap()
            .joined
            .unwrap()
            .unwrap();
    }
    let before = command_calls(&observer).await;
    let checked = store
        .check_and_join("r", &join_check(4), None, Some(VisitorId([4; 16])))
        .await
        .unwrap();
    let sent = delta(&before, command_calls(&observer).await);
    assert!(checked.joined.is_none() && !checked.counts.place_allowed);
    assert_eq!(sent.get("evalsha"), Some(&1));
    assert_eq!(sent.get("incr"), None, "no ticket drawn");
    assert_eq!(sent.get("hincrby"), None, "no join counted");
    assert_eq!(
        queue.status("r", VisitorId([4; 16])).await.unwrap(),
        Placement::Absent
    );
    observer.quit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_script_cache_is_reloaded() {
    let (_server, store, observer) = started().await;
    observer.script_flush(false).await.unwrap();
    let counts = store.check("r", &join_check(1)).await.unwrap();
    assert!(counts.place_allowed);
    assert_eq!(counts.velocity[0].count, 1);
    let checked = store
        .check_and_join("r", &join_check(2), None, None)
        .await
        .unwrap();
    assert_eq!(checked.counts.velocity[0].count, 2);
    observer.quit().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_redis_is_unavailable_not_a_hang() {
    let mut server = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .unwrap();
    let options = RedisOptions {
        command_timeout: Duration::from_millis(300),
        ..RedisOptions::default()
    };
    let store = RedisGuardStore::connect(&server.url(), options.clone())
        .await
        .unwrap();
    server.stop();
    let started = std::time::Instant::now();
    let down = store.check("r", &join_check(1)).await;
    assert!(
        matches!(
            down,
            Err(anteroom_bot_guard::GuardStoreError::Unavailable(_))
        ),
        "{down:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(
        store.redeem("r", "c", 1_000).await,
        Err(anteroom_bot_guard::GuardStoreError::Unavailable(_))
    ));

    let refused = RedisGuardStore::connect(&server.url(), options).await;
    assert!(
        matches!(refused, Err(StoreError::Unavailable(_))),
        "{:?}",
        refused.err()
    );
    let bad = RedisGuardStore::connect("http://nope", RedisOptions::default()).await;
    assert!(
        matches!(bad, Err(StoreError::Invalid(_))),
        "{:?}",
        bad.err()
    );
}
