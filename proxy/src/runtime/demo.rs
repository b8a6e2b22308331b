//! `anteroom demo`: the gateway on the memory store in front of the booking service and its
//! demo shop, one process, one command, nothing to install.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};

use std::sync::Arc;

use anteroom_admission::generate_secret;
use anteroom_booking::holds::MemoryHolds;
use anteroom_booking::ledger::SqliteLedger;
use anteroom_booking::service::BookingService;
use anteroom_booking::{EventSpec, Inventory};
use anteroom_config::{
    AdminConfig, GatewayConfig, HoldsConfig, KeysConfig, ListenConfig, ProxyConfig, RoomConfig,
    RoomMode, Secret, StoreBackend, StoreConfig, StreamsConfig,
};
use anteroom_queue::QueueStore;

use crate::runtime::booking_host::BookingHost;

pub const DEMO_ROOM: &str = "demo";

/// The demo's config: one room over the whole shop, a low cap so a few browser windows (or a
/// curl loop) show the queue at work.
pub fn demo_config(port: u16, booking: SocketAddr, admin_token: &str) -> GatewayConfig {
    let mut secrets = BTreeMap::new();
    secrets.insert("demo".to_string(), Secret(generate_secret().into_bytes()));
    GatewayConfig {
        listen: ListenConfig {
            public: SocketAddr::from(([127, 0, 0, 1], port)),
            admin: SocketAddr::from(([127, 0, 0, 1], port.wrapping_add(1000))),
            metrics: SocketAddr::from(([127, 0, 0, 1], port.wrapping_add(1010))),
            threads: None,
            trusted_proxies: Vec::new(),
            proxy_protocol: false,
            direct_path: true,
            tls: None,
            upgrade_socket: None,
            shutdown_grace_seconds: anteroom_config::DEFAULT_SHUTDOWN_GRACE_SECONDS,
        },
        proxy: ProxyConfig::default(),
        store: StoreConfig {
            backend: StoreBackend::Memory,
            url: None,
            tls_ca: None,
        },
        keys: KeysConfig {
            signing: "demo".into(),
            secrets,
        },
        admin: AdminConfig {
            token: Some(Secret(admin_token.as_bytes().to_vec())),
        },
        streams: StreamsConfig::default(),
        bot_guard: Default::default(),
        log: Default::default(),
        rooms: vec![RoomConfig {
            id: DEMO_ROOM.into(),
            origin: booking.to_string(),
            hosts: vec![],
            paths: vec!["/".into()],
            mode: RoomMode::SafetyNet,
            admit_per_second: 1.0,
            max_active: 3,
            session_seconds: 300,
            abandon_after_seconds: 60,
            paths_case_insensitive: false,
            page_template: None,
            waitlist_url: None,
            // The demo runs on one machine: every browser, curl loop and load test comes from
            // loopback, which the guard would take for one farm. Loopback is allow-listed;
            // the guard still runs (and counts verdicts) for anything else.
            bot_guard: anteroom_config::BotGuardOverride {
                allow_cidrs: Some(
                    ["127.0.0.0/8", "::1/128"]
                        .iter()
                        .filter_map(|cidr| anteroom_config::Cidr::parse(cidr).ok())
                        .collect(),
                ),
                ..Default::default()
            },
        }],
    }
}

/// A free loopback port for the shop (the gateway's own ports are the user's choice).
pub fn free_loopback_addr() -> std::io::Result<SocketAddr> {
    TcpListener::bind("127.0.0.1:0")?.local_addr()
}

/// The demo's event: 40 seats, A1 to E8, in the demo room.
pub const DEMO_EVENT: &str = "tour-2027";

fn demo_event() -> EventSpec {
    let seats = ["A", "B", "C", "D", "E"]
        .iter()
        .flat_map(|row| (1..=8).map(move |n| format!("{row}{n}")))
        .collect();
    EventSpec {
        id: DEMO_EVENT.into(),
        room: Some(DEMO_ROOM.into()),
        inventory: Inventory::Seats(seats),
    }
}

/// The booking service of the demo: memory holds, an in-memory SQLite ledger, the gateway's
/// keys, and the gateway's own store to mark the room sold out; it also serves the shop. No
/// hold-attempt limits (`anteroom booking` has them): the load tests play against the demo
/// with every simulated fan on one address.
pub fn booking_host(
    config: &GatewayConfig,
    addr: SocketAddr,
    rooms: Arc<dyn QueueStore>,
) -> Result<BookingHost, String> {
    let ledger = SqliteLedger::open_in_memory().map_err(|error| format!("ledger: {error}"))?;
    let service = BookingService::new(
        Arc::new(MemoryHolds::new()),
        Arc::new(ledger),
        crate::runtime::server::keyring(config)?,
        config.admin.token.as_ref().map(|token| token.0.clone()),
        HoldsConfig {
            ttl_seconds: 120,
            max_seats_per_visitor: 6,
            ..HoldsConfig::default()
        },
        Some(rooms),
    );
    Ok(BookingHost {
        addr,
        service: Arc::new(service),
        events: vec![demo_event()],
        shop_event: Some(DEMO_EVENT.into()),
    })
}
