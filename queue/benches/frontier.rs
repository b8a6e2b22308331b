#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Store cost of live-position fan-out (ADR 0005), on a real redis-server: one room with
//! 1,000,000 queued visitors, one gateway instance with 15,000 connected visitors. Each tick
//! does what that instance does: `admit_tick`, `frontier` (every page), one `touch` batch
//! (15,000 streams spread over a third of the abandonment window), and every connected
//! visitor's position from its `LineView`. Compared, in the same run, with the alternative:
//! 15,000 ZRANKs per tick in one pipeline. Store cost is read from `INFO commandstats`.
//!
//! cargo bench -p anteroom-queue --bench frontier
//! Environment: FRONTIER_BENCH_QUEUED (default 1000000), FRONTIER_BENCH_CONNECTED (15000),
//! FRONTIER_BENCH_TICKS (50), FRONTIER_BENCH_LEAVES (10000 out-of-order leaves before the run).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anteroom_admission::VisitorId;
use anteroom_config::RoomMode;
use anteroom_queue::keys::{visitor_member, RoomKeys};
use anteroom_queue::{
    connect_pool, LineView, QueueStore, RedisOptions, RedisStore, RoomSettings, TOUCH_BATCH,
};
use anteroom_testkit::{env_u64, RedisServer};
use fred::prelude::{ClientLike, Pool};
use fred::types::CustomCommand;

const ROOM: &str = "fan-out";
/// The gateway's admission tick (proxy `store_owner::TICK`).
const TICK: Duration = Duration::from_millis(100);
const ABANDON_AFTER_SECONDS: u64 = 120;
/// Visitors who leave between two ticks (other instances' traffic: new gaps every tick).
const LEAVES_PER_TICK: u64 = 5;

fn visitor(n: u64) -> VisitorId {
    let mut bytes = [0u8; 16];
    bytes[8..].copy_from_slice(&n.to_be_bytes());
    VisitorId(bytes)
}

fn settings() -> RoomSettings {
    RoomSettings {
        mode: RoomMode::QueueAll,
        admit_per_second: 100.0,
        max_active: 10_000_000,
        session_seconds: 600,
        abandon_after_seconds: ABANDON_AFTER_SECONDS,
        paused: false,
        sold_out: false,
        message: None,
    }
}

fn cmd(name: &'static str) -> CustomCommand {
    CustomCommand::new_static(name, None, false)
}

/// Calls and µs per command since the server started, from `INFO commandstats`.
async fn command_stats(pool: &Pool) -> BTreeMap<String, (u64, u64)> {
    let text: String = pool
        .next()
        .custom(cmd("INFO"), vec!["commandstats"])
        .await
        .expect("INFO commandstats");
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some((name, fields)) = line
            .strip_prefix("cmdstat_")
            .and_then(|rest| rest.split_once(':'))
        else {
            continue;
        };
        let field = |key: &str| {
            fields
                .split(',')
                .find_map(|kv| kv.strip_prefix(key))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        out.insert(name.to_string(), (field("calls="), field("usec=")));
    }
    out
}

/// What the store did between two snapshots, `INFO` itself left out.
#[derive(Default, Clone, Copy)]
struct Cost {
    /// Commands the client sent (EVALSHA, ZRANK).
    top_level: u64,
    /// Every command Redis ran, those inside scripts included.
    all: u64,
    /// Redis time spent on the client's commands (a script's includes what it ran).
    usec: u64,
}

fn cost(
    before: &BTreeMap<String, (u64, u64)>,
    after: &BTreeMap<String, (u64, u64)>,
    top_level: &[&str],
) -> Cost {
    let mut cost = Cost::default();
    for (name, (calls, usec)) in after {
        if name == "info" {
            continue;
        }
        let (calls0, usec0) = before.get(name).copied().unwrap_or((0, 0));
        let calls = calls - calls0;
        cost.all += calls;
        if top_level.contains(&name.as_str()) {
            cost.top_level += calls;
            cost.usec += usec - usec0;
        }
    }
    cost
}

/// Fill the line with `n` visitors as join leaves them (queue score = ticket, seen now),
/// in pipelined ZADDs of 1000 members: seconds instead of a million scripts.
async fn fill(pool: &Pool, n: u64) {
    let keys = RoomKeys::new(ROOM);
    let [queue, seq, _, seen, ..] = keys.all();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis()
        .to_string();
    let client = pool.next();
    let mut first = 0;
    while first < n {
        let last = (first + 10_000).min(n);
        let pipeline = client.pipeline();
        for chunk_start in (first..last).step_by(1000) {
            let chunk = chunk_start..(chunk_start + 1000).min(last);
            let mut by_ticket = vec![queue.clone()];
            let mut by_seen = vec![seen.clone()];
            for i in chunk {
                let member = visitor_member(visitor(i));
                by_ticket.push((i + 1).to_string());
                by_ticket.push(member.clone());
                by_seen.push(now.clone());
                by_seen.push(member);
            }
            let _: () = pipeline
                .custom(cmd("ZADD"), by_ticket)
                .await
                .expect("queue");
            let _: () = pipeline.custom(cmd("ZADD"), by_seen).await.expect("queue");
        }
        let _: Vec<i64> = pipeline.all().await.expect("fill");
        first = last;
    }
    let _: () = client
        .custom(cmd("SET"), vec![seq.clone(), n.to_string()])
        .await
        .expect("seq");
}

/// Every stream's 0-based rank (None = not queued): one pipeline of ZRANKs, one round trip.
async fn zranks(pool: &Pool, streams: &[(VisitorId, u64)]) -> Vec<Option<u64>> {
    let keys = RoomKeys::new(ROOM);
    let pipeline = pool.next().pipeline();
    for (visitor, _) in streams {
        let _: () = pipeline
            .custom(
                cmd("ZRANK"),
                vec![keys.all()[0].clone(), visitor_member(*visitor)],
            )
            .await
            .expect("queue ZRANK");
    }
    pipeline.all().await.expect("ZRANKs")
}

/// Read every frontier page; returns the number of calls.
async fn sync(store: &RedisStore, view: &mut LineView) -> u64 {
    let mut calls = 1;
    while view.apply(&store.frontier(ROOM, view.cursor()).await.expect("frontier")) {
        calls += 1;
    }
    calls
}

struct Xorshift(u64);

impl Xorshift {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

fn main() {
    let queued = env_u64("FRONTIER_BENCH_QUEUED", 1_000_000);
    let connected = env_u64("FRONTIER_BENCH_CONNECTED", 15_000);
    let ticks = env_u64("FRONTIER_BENCH_TICKS", 50);
    let pre_leaves = env_u64("FRONTIER_BENCH_LEAVES", 10_000);
    let server = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let options = RedisOptions {
            command_timeout: Duration::from_secs(30),
            ..RedisOptions::default()
        };
        let store = RedisStore::connect(&server.url(), options.clone())
            .await
            .expect("connect");
        let pool = connect_pool(&server.url(), &options).await.expect("pool");
        store.init_room(ROOM, &settings()).await.expect("init_room");

        let started = Instant::now();
        fill(&pool, queued).await;
        println!(
            "filled {queued} queued visitors in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let mut rng = Xorshift(0x9e37_79b9_7f4a_7c15);
        for _ in 0..pre_leaves {
            store
                .leave(ROOM, visitor(rng.below(queued)))
                .await
                .expect("leave");
        }

        // This instance's streams: spread over the whole line; their tickets came with join.
        let streams: Vec<(VisitorId, u64)> = (0..connected)
            .map(|k| {
                let i = k * queued / connected;
                (visitor(i), i + 1)
            })
            .collect();
        let mut view = LineView::new();
        let started = Instant::now();
        let first_pages = sync(&store, &mut view).await;
        println!(
            "first frontier read: {} gaps in {first_pages} pages, {:.1} ms",
            view.gap_count(),
            started.elapsed().as_secs_f64() * 1000.0
        );

        let touches_per_second = connected as f64 / (ABANDON_AFTER_SECONDS as f64 / 3.0);
        let per_tick = touches_per_second * TICK.as_secs_f64();
        let mut touched = 0usize;
        let (mut ours, mut ranks) = (Cost::default(), Cost::default());
        let (mut our_round_trips, mut rank_round_trips) = (0u64, 0u64);
        let (mut our_time, mut rank_time, mut local_time) =
            (Duration::ZERO, Duration::ZERO, Duration::ZERO);
        let mut worst_tick = Duration::ZERO;
        let mut checksum = 0u64;
        for tick in 0..ticks {
            for _ in 0..LEAVES_PER_TICK {
                store
                    .leave(ROOM, visitor(rng.below(queued)))
                    .await
                    .expect("leave");
            }

            // This instance's tick: admit, read the frontier, keep a share of streams alive.
            let batch_end = ((tick + 1) as f64 * per_tick).round() as usize;
            let batch: Vec<VisitorId> = (touched..batch_end)
                .map(|k| streams[k % streams.len()].0)
                .collect();
            touched = batch_end;
            let before = command_stats(&pool).await;
            let t0 = Instant::now();
            store.admit_tick(ROOM).await.expect("tick");
            let pages = sync(&store, &mut view).await;
            let touch_calls = batch.len().div_ceil(TOUCH_BATCH) as u64;
            store.touch(ROOM, &batch).await.expect("touch");
            let elapsed = t0.elapsed();
            let after = command_stats(&pool).await;
            let local = Instant::now();
            for (_, ticket) in &streams {
                checksum += view.position(*ticket).unwrap_or(0);
            }
            local_time += local.elapsed();
            our_time += elapsed;
            worst_tick = worst_tick.max(elapsed);
            our_round_trips += 1 + pages + touch_calls;
            let c = cost(&before, &after, &["evalsha"]);
            ours.top_level += c.top_level;
            ours.all += c.all;
            ours.usec += c.usec;

            // The alternative: every connected visitor's rank, one pipelined batch.
            let before = command_stats(&pool).await;
            let t0 = Instant::now();
            let ranked = zranks(&pool, &streams).await;
            rank_time += t0.elapsed();
            let after = command_stats(&pool).await;
            assert_eq!(ranked.len(), streams.len());
            rank_round_trips += 1;
            let c = cost(&before, &after, &["zrank"]);
            ranks.top_level += c.top_level;
            ranks.all += c.all;
            ranks.usec += c.usec;

            tokio::time::sleep(TICK.saturating_sub(t0.elapsed())).await;
        }

        // Exact: the view agrees with ZRANK for every connected visitor still queued.
        let ranked = zranks(&pool, &streams).await;
        sync(&store, &mut view).await;
        let mut checked = 0;
        for ((_, ticket), rank) in streams.iter().zip(&ranked) {
            assert_eq!(view.position(*ticket), rank.map(|r| r + 1), "ticket {ticket}");
            checked += u64::from(rank.is_some());
        }

        let per = |total: u64| total as f64 / ticks as f64;
        let ms = |total: Duration| total.as_secs_f64() * 1000.0 / ticks as f64;
        println!(
            "\nposition fan-out: {queued} queued, {connected} connected to this instance, \
             {ticks} ticks of {} ms, {LEAVES_PER_TICK} leaves per tick, abandon_after \
             {ABANDON_AFTER_SECONDS} s (touch {touches_per_second:.0} visitors/s)",
            TICK.as_millis()
        );
        println!("per tick                      round trips  commands sent  commands run  redis us  wall ms");
        println!(
            "  frontier (tick+frontier+touch) {:>9.1} {:>14.1} {:>13.1} {:>9.1} {:>8.2}",
            per(our_round_trips),
            per(ours.top_level),
            per(ours.all),
            per(ours.usec),
            ms(our_time)
        );
        println!(
            "  {:<30} {:>9.1} {:>14.1} {:>13.1} {:>9.1} {:>8.2}",
            format!("{connected} ZRANKs (pipelined)"),
            per(rank_round_trips),
            per(ranks.top_level),
            per(ranks.all),
            per(ranks.usec),
            ms(rank_time)
        );
        println!(
            "  local positions from the view: {:.3} ms per tick for {connected} visitors; \
             worst frontier tick {:.2} ms",
            ms(local_time),
            worst_tick.as_secs_f64() * 1000.0
        );
        println!(
            "  exact: {checked} queued connected visitors, view position == ZRANK + 1 \
             (checksum {checksum})"
        );
    });
    drop(server);
}
