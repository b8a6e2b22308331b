//! Harness for the booking API suites: the real axum router served on a free loopback port,
//! backed by a real redis-server + PostgreSQL (or the embedded memory holds + SQLite), and
//! passes minted with the test keys.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use anteroom_admission::{Keyring, PassClaims, VisitorId};
use anteroom_booking::holds::{HoldStore, MemoryHolds, RedisHolds};
use anteroom_booking::ledger::{Ledger, PostgresLedger, PostgresOptions, SqliteLedger};
use anteroom_booking::service::{serve, BookingService};
use anteroom_config::HoldsConfig;
use anteroom_queue::{QueueStore, RedisOptions};
use anteroom_testkit::{PostgresServer, RedisServer};
use serde_json::{json, Value};
use tokio::sync::oneshot;

pub const SECRET: &str = "booking-service-test-secret-0123456789ab";
pub const ADMIN: &str = "booking-admin-token-0123456789";
pub const ROOM: &str = "tour";

pub struct Api {
    pub base: String,
    pub service: Arc<BookingService>,
    pub holds: Arc<dyn HoldStore>,
    pub ledger: Arc<dyn Ledger>,
    /// The gateway's queue store the service marks sold-out rooms in, if any.
    pub rooms: Option<Arc<dyn QueueStore>>,
    pub redis: Option<RedisServer>,
    pub postgres: Option<PostgresServer>,
    /// A database file's directory, removed with the harness.
    pub dir: Option<anteroom_testkit::TempDir>,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Api {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task.abort();
    }
}

pub fn keyring() -> Keyring {
    Keyring::new("k1", vec![("k1".into(), SECRET.as_bytes().to_vec())]).expect("test keyring")
}

pub fn pass_for(visitor: VisitorId, room: &str) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    keyring().issue_pass(&PassClaims {
        room: room.into(),
        visitor,
        issued_at: now,
        expires_at: now + 600,
    })
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .pool_max_idle_per_host(256)
        .build()
        .unwrap()
}

/// A service over these stores, as `build` makes it (reconciled with the ledger).
pub async fn service(
    holds: Arc<dyn HoldStore>,
    ledger: Arc<dyn Ledger>,
    ttl_seconds: u64,
    rooms: Option<Arc<dyn QueueStore>>,
) -> Arc<BookingService> {
    let service = Arc::new(BookingService::new(
        holds,
        ledger,
        keyring(),
        Some(ADMIN.as_bytes().to_vec()),
        HoldsConfig {
            ttl_seconds,
            max_seats_per_visitor: 6,
            ..HoldsConfig::default()
        },
        rooms,
    ));
    service.reconcile().await.expect("reconcile at start");
    service
}

async fn start(
    holds: Arc<dyn HoldStore>,
    ledger: Arc<dyn Ledger>,
    ttl_seconds: u64,
    redis: Option<RedisServer>,
    postgres: Option<PostgresServer>,
    rooms: Option<Arc<dyn QueueStore>>,
) -> Api {
    let service = service(holds.clone(), ledger.clone(), ttl_seconds, rooms.clone()).await;
    serve_service(service, holds, ledger, rooms, redis, postgres).await
}

/// Serve `service` on a fresh loopback port.
pub async fn serve_service(
    service: Arc<BookingService>,
    holds: Arc<dyn HoldStore>,
    ledger: Arc<dyn Ledger>,
    rooms: Option<Arc<dyn QueueStore>>,
    redis: Option<RedisServer>,
    postgres: Option<PostgresServer>,
) -> Api {
    let served = service.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = serve(listener, served, async {
            let _ = stopped.await;
        })
        .await;
    });
    Api {
        base,
        service,
        holds,
        ledger,
        rooms,
        redis,
        postgres,
        dir: None,
        stop: Some(stop),
        task,
    }
}

/// Redis holds + PostgreSQL ledger, both real servers started here.
pub async fn with_redis_and_postgres(ttl_seconds: u64) -> Api {
    redis_and_postgres(ttl_seconds, false).await
}

/// Also the gateway's queue store on the same Redis (`RedisStore`), for the sold-out signal.
pub async fn with_redis_postgres_and_rooms(ttl_seconds: u64) -> Api {
    redis_and_postgres(ttl_seconds, true).await
}

/// Redis holds and the gateway's store on a real Redis, with the embedded SQLite ledger in a
/// database file (removed with the harness).
pub async fn with_redis_sqlite_and_rooms(ttl_seconds: u64) -> Api {
    let redis = RedisServer::start();
    let dir = anteroom_testkit::TempDir::new("anteroom-service-sqlite");
    let file = dir.path().join("ledger.db");
    let ledger = SqliteLedger::open(&file).unwrap();
    ledger.migrate().await.unwrap();
    let holds = RedisHolds::connect(&redis.url(), RedisOptions::default())
        .await
        .unwrap();
    let rooms: Arc<dyn QueueStore> = Arc::new(
        anteroom_queue::RedisStore::connect(&redis.url(), RedisOptions::default())
            .await
            .unwrap(),
    );
    let mut api = start(
        Arc::new(holds),
        Arc::new(ledger),
        ttl_seconds,
        Some(redis),
        None,
        Some(rooms),
    )
    .await;
    api.dir = Some(dir);
    api
}

async fn redis_and_postgres(ttl_seconds: u64, with_rooms: bool) -> Api {
    let redis = RedisServer::start();
    let postgres = PostgresServer::start();
    let holds = RedisHolds::connect(
        &redis.url(),
        // Generous: a 2,000-request race on a loaded 2-core machine queues for a while; a
        // timeout here would be the harness failing, not the service.
        RedisOptions {
            command_timeout: Duration::from_secs(5),
            ..RedisOptions::default()
        },
    )
    .await
    .unwrap();
    let ledger = PostgresLedger::connect(
        &postgres.url(),
        PostgresOptions {
            query_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(1),
            ..PostgresOptions::default()
        },
    )
    .await
    .unwrap();
    ledger.migrate().await.unwrap();
    let rooms: Option<Arc<dyn QueueStore>> = if with_rooms {
        Some(Arc::new(
            anteroom_queue::RedisStore::connect(&redis.url(), RedisOptions::default())
                .await
                .unwrap(),
        ))
    } else {
        None
    };
    start(
        Arc::new(holds),
        Arc::new(ledger),
        ttl_seconds,
        Some(redis),
        Some(postgres),
        rooms,
    )
    .await
}

/// The embedded default: memory holds + SQLite.
pub async fn embedded(ttl_seconds: u64) -> Api {
    embedded_with_rooms(ttl_seconds, None).await
}

/// The embedded default with the gateway's store handed in (as `anteroom demo` does).
pub async fn embedded_with_rooms(ttl_seconds: u64, rooms: Option<Arc<dyn QueueStore>>) -> Api {
    let ledger = SqliteLedger::open_in_memory().unwrap();
    ledger.migrate().await.unwrap();
    start(
        Arc::new(MemoryHolds::new()),
        Arc::new(ledger),
        ttl_seconds,
        None,
        None,
        rooms,
    )
    .await
}

impl Api {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// POST /v1/events with the admin token; returns (status, JSON body).
    pub async fn create_event(&self, spec: Value) -> (u16, Value) {
        let response = client()
            .post(self.url("/v1/events"))
            .bearer_auth(ADMIN)
            .json(&spec)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// GET as `visitor` (None: no pass); returns (status, JSON body).
    pub async fn get(&self, path: &str, visitor: Option<VisitorId>) -> (u16, Value) {
        let mut request = client().get(self.url(path));
        if let Some(visitor) = visitor {
            request = request.header("x-anteroom-pass", pass_for(visitor, ROOM));
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// DELETE as `visitor`; returns the status.
    pub async fn delete(&self, path: &str, visitor: VisitorId) -> u16 {
        client()
            .delete(self.url(path))
            .header("x-anteroom-pass", pass_for(visitor, ROOM))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    pub async fn create_seated_event(&self, id: &str, seats: usize) -> Vec<String> {
        let names: Vec<String> = (0..seats).map(|i| format!("S{i}")).collect();
        let response = client()
            .post(self.url("/v1/events"))
            .bearer_auth(ADMIN)
            .json(&json!({ "id": id, "seats": names, "room": ROOM }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
        names
    }

    /// POST as `visitor`; returns (status, headers, JSON body).
    pub async fn post(
        &self,
        path: &str,
        visitor: VisitorId,
        body: Value,
        key: Option<&str>,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut request = client()
            .post(self.url(path))
            .header("x-anteroom-pass", pass_for(visitor, ROOM))
            .json(&body);
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, headers, value)
    }

    pub async fn hold(&self, event: &str, visitor: VisitorId, seats: &[&str]) -> (u16, Value) {
        let (status, _, body) = self
            .post(
                &format!("/v1/events/{event}/holds"),
                visitor,
                json!({ "seats": seats }),
                None,
            )
            .await;
        (status, body)
    }

    /// Hold `quantity` general-admission places; returns (status, JSON body).
    pub async fn hold_quantity(
        &self,
        event: &str,
        visitor: VisitorId,
        quantity: u64,
    ) -> (u16, Value) {
        let (status, _, body) = self
            .post(
                &format!("/v1/events/{event}/holds"),
                visitor,
                json!({ "quantity": quantity }),
                None,
            )
            .await;
        (status, body)
    }

    /// Hold and confirm `quantity` general-admission places for a new fan; asserts both
    /// succeed and returns the booking.
    pub async fn buy_quantity(&self, event: &str, quantity: u64, key: &str) -> Value {
        let fan = VisitorId::random();
        let (status, hold) = self.hold_quantity(event, fan, quantity).await;
        assert_eq!(status, 201, "{hold}");
        let (status, booking) = self
            .confirm(fan, hold["hold_id"].as_str().unwrap(), key)
            .await;
        assert_eq!(status, 201, "{booking}");
        booking
    }

    pub async fn confirm(&self, visitor: VisitorId, hold_id: &str, key: &str) -> (u16, Value) {
        let (status, _, body) = self
            .post(
                "/v1/bookings",
                visitor,
                json!({ "hold_id": hold_id }),
                Some(key),
            )
            .await;
        (status, body)
    }

    pub async fn seat_map(&self, event: &str) -> Vec<(String, String)> {
        self.seat_map_in(event, ROOM).await
    }

    /// The seat map of an event of `room`, as (seat, state).
    pub async fn seat_map_in(&self, event: &str, room: &str) -> Vec<(String, String)> {
        let body: Value = client()
            .get(self.url(&format!("/v1/events/{event}/seats")))
            .header("x-anteroom-pass", pass_for(VisitorId::random(), room))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body.as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["seat"].as_str().unwrap().to_string(),
                    s["state"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

/// Poll `check` until it holds; false if `within` passes first.
pub async fn eventually<F, Fut>(within: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A queue-all room as the gateway registers it, for the sold-out signal.
pub fn room_settings() -> anteroom_queue::RoomSettings {
    anteroom_queue::RoomSettings {
        mode: anteroom_config::RoomMode::QueueAll,
        admit_per_second: 5.0,
        max_active: 100,
        session_seconds: 600,
        abandon_after_seconds: 120,
        paused: false,
        sold_out: false,
        message: None,
    }
}
