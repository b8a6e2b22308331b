#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The Lua token bucket (redis/lua/common.lua) against anteroom_admission::Bucket, step for
//! step on the same inputs: both stores must admit exactly alike. The script under test is
//! the shared prelude with the clock passed in, so the comparison is exact, not timed.

use anteroom_admission::{Bucket, RateLimits};
use anteroom_queue::keys::RoomKeys;
use anteroom_testkit::RedisServer;
use fred::prelude::{Builder, ClientLike, Config};
use fred::types::scripts::Script;

const PRELUDE: &str = include_str!("../src/redis/lua/common.lua");
const BODY: &str = r#"
local n = bucket_take(tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4]), tonumber(ARGV[5]))
local b = redis.call('HMGET', K_BUCKET, 'tokens', 'updated_ms')
return {n, b[1], b[2]}
"#;

#[tokio::test]
async fn lua_bucket_matches_the_admission_bucket() {
    let server = tokio::task::spawn_blocking(RedisServer::start)
        .await
        .expect("redis");
    let client = Builder::from_config(Config::from_url(&server.url()).expect("url"))
        .build()
        .expect("client");
    client.init().await.expect("connect");
    let script = Script::from_lua(format!("{PRELUDE}\n{BODY}"));
    script.load(&client).await.expect("load");
    let keys = RoomKeys::new("mirror").to_vec();

    // (advance ms, rate, max_active, active, waiting): refills, caps, fractions, rate changes,
    // a clock that steps back, saturating cap room.
    let steps: &[(i64, f64, u64, u64, u64)] = &[
        (0, 50.0, 2000, 0, 1000),
        (10, 50.0, 2000, 0, 1000),
        (333, 50.0, 2000, 0, 1000),
        (1, 50.0, 2000, 0, 1000),
        (5000, 50.0, 2000, 0, 3),
        (100, 50.0, 10, 9, 1000),
        (100, 50.0, 10, 12, 1000),
        (-700, 50.0, 2000, 0, 1000),
        (900, 50.0, 2000, 0, 1000),
        (250, 0.5, 2000, 0, 1000),
        (1999, 0.5, 2000, 0, 1000),
        (1, 0.5, 2000, 0, 1000),
        (3000, 7.3, 2000, 0, 1000),
        (137, 7.3, 2000, 0, 1000),
        (10_000, 1e6, u64::from(u32::MAX), 0, 5000),
        (3, 1e6, u64::from(u32::MAX), 0, 5000),
        (50, 2.0, 2000, 0, 1000),
        (0, 2.0, 2000, 0, 0),
        (777, 3.3333, 2000, 1, 2),
    ];
    let mut now: i64 = 1_700_000_000_000;
    let mut bucket: Option<Bucket> = None;
    for (i, &(advance, rate, max_active, active, waiting)) in steps.iter().enumerate() {
        now += advance;
        let limits = RateLimits {
            admit_per_second: rate,
            max_active,
        };
        let expected = bucket
            .get_or_insert_with(|| Bucket::full(now as u64, rate))
            .admit(now as u64, limits, active, waiting);
        let args = vec![
            now.to_string(),
            format!("{rate}"),
            max_active.to_string(),
            active.to_string(),
            waiting.to_string(),
        ];
        let (n, tokens, updated): (u64, String, String) = script
            .evalsha_with_reload(&client, keys.clone(), args)
            .await
            .expect("evalsha");
        let b = bucket.expect("bucket");
        assert_eq!(n, expected, "step {i}: admitted");
        let tokens: f64 = tokens.parse().expect("tokens");
        assert!(
            (tokens - b.tokens).abs() <= 1e-9 * b.tokens.abs().max(1.0),
            "step {i}: tokens {tokens} vs {}",
            b.tokens
        );
        assert_eq!(
            updated.parse::<u64>().expect("updated"),
            b.updated_ms,
            "step {i}: updated_ms"
        );
    }
    client.quit().await.ok();
}
