//! The waitlist conformance suite: every `Waitlist` implementation (PostgreSQL and the
//! embedded SQLite ledger's) must pass all of it. `waitlist_postgres.rs` and
//! `waitlist_sqlite.rs` each provide a fixture (a fresh, migrated ledger, its waitlist, a
//! second instance on the same database and a raw look into it) and expand
//! `waitlist_conformance_tests!(fixture)` into one `#[tokio::test]` per check: promotion in
//! join order with two promoters racing, one open offer per released place, idempotent
//! acceptance, expiry / decline / leave promoting the next fan, an audit row for every
//! transition, waves, and a promoter killed mid-pass.

#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anteroom_admission::{Keyring, VisitorId};
use anteroom_booking::ledger::{Canceller, Ledger};
use anteroom_booking::waitlist::{PromotionRules, Waitlist, WaitlistError};
use anteroom_booking::{new_id, Booking, EventSpec, Hold, Inventory};

/// Direct access to the backend's database: reads (rows as text, NULL → None), and
/// statements whose refusal is returned as text.
pub trait Probe: Send + Sync {
    fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>>;

    fn execute(&self, sql: &str) -> Result<u64, String>;
}

pub struct Fixture {
    pub ledger: Arc<dyn Ledger>,
    pub waitlist: Arc<dyn Waitlist>,
    /// Another instance's waitlist on the same database.
    pub second: Arc<dyn Waitlist>,
    pub probe: Box<dyn Probe>,
    /// Keeps the server / temp directory alive while the test runs.
    pub guard: Box<dyn std::any::Any + Send + Sync>,
}

/// One `#[tokio::test]` per conformance check, against the fixture `$fixture().await`.
macro_rules! waitlist_conformance_tests {
    ($fixture:path) => {
        waitlist_conformance_tests!(@each $fixture;
            thousand_fans_hundred_cancellations_two_promoters,
            expiry_decline_and_leaving_promote_the_next_fan,
            ten_concurrent_accepts_with_different_keys_make_one_booking,
            one_entry_per_visitor_and_nobody_waiting_returns_places_to_sale,
            bulk_release_goes_out_in_waves,
            a_promoter_killed_mid_pass_leaves_no_orphan_offer,
            general_admission_places_go_to_the_line,
            the_audit_log_of_the_line_is_append_only,
        );
    };
    (@each $fixture:path; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let fixture = $fixture().await;
                waitlist_conformance::$name(&fixture).await;
            }
        )*
    };
}

impl Fixture {
    pub fn rows(&self, sql: &str) -> Vec<Vec<Option<String>>> {
        self.probe.rows(sql)
    }

    pub fn scalar(&self, sql: &str) -> i64 {
        let rows = self.rows(sql);
        rows[0][0].as_deref().unwrap().parse().unwrap()
    }

    pub fn column(&self, sql: &str) -> Vec<String> {
        self.rows(sql)
            .into_iter()
            .map(|row| row[0].clone().unwrap_or_default())
            .collect()
    }

    /// An event of `seats` seats, every one booked by its own fan: (booking ids in seat
    /// order, their holders).
    pub async fn sold_out_event(&self, id: &str, seats: usize) -> Vec<(Booking, VisitorId)> {
        let names: Vec<String> = (1..=seats).map(|i| format!("S{i:05}")).collect();
        self.ledger
            .create_event(&EventSpec {
                id: id.into(),
                room: Some("tour".into()),
                inventory: Inventory::Seats(names.clone()),
            })
            .await
            .unwrap();
        let mut out = Vec::new();
        for (i, seat) in names.iter().enumerate() {
            let holder = VisitorId::random();
            let hold = Hold {
                hold_id: format!("{}.{id}", new_id()),
                event: id.into(),
                holder,
                seats: vec![seat.clone()],
                quantity: 1,
                expires_at_ms: u64::MAX,
                fencing_token: i as u64 + 1,
            };
            out.push((self.ledger.confirm(&new_id(), &hold).await.unwrap(), holder));
        }
        out
    }

    /// `n` fans join in order; their (entry id, visitor).
    pub async fn line(&self, event: &str, n: usize) -> Vec<(String, VisitorId)> {
        let mut fans = Vec::new();
        for _ in 0..n {
            let visitor = VisitorId::random();
            let (entry, created) = self.waitlist.join(event, visitor, 1_000_000).await.unwrap();
            assert!(created);
            fans.push((entry.entry_id, visitor));
        }
        fans
    }

    /// What must hold at every moment, whatever crashed: every offered entry has exactly
    /// one open offer whose place is `offered`, and every `offered` place has exactly one
    /// open offer.
    pub fn assert_consistent(&self, event: &str) {
        // One statement: one snapshot, whatever commits meanwhile.
        let row = &self.rows(&format!(
            "SELECT \
                 (SELECT count(*) FROM waitlist_entries WHERE event = '{event}' \
                    AND state = 'offered'), \
                 (SELECT count(*) FROM waitlist_offers WHERE event = '{event}' \
                    AND state = 'open'), \
                 (SELECT count(*) FROM capacity_released WHERE event = '{event}' \
                    AND state = 'offered'), \
                 (SELECT count(*) FROM waitlist_offers o JOIN waitlist_entries e \
                    USING (entry_id) JOIN capacity_released u USING (unit_id) \
                    WHERE o.event = '{event}' AND o.state = 'open' \
                    AND (e.state <> 'offered' OR u.state <> 'offered')), \
                 (SELECT count(*) FROM waitlist_offers o LEFT JOIN waitlist_outbox m \
                    ON m.message_id = o.offer_id WHERE o.event = '{event}' \
                    AND m.message_id IS NULL)"
        ))[0];
        let n: Vec<i64> = row
            .iter()
            .map(|v| v.as_deref().unwrap().parse().unwrap())
            .collect();
        let (offered_entries, open_offers, offered_units, orphans, no_outbox) =
            (n[0], n[1], n[2], n[3], n[4]);
        assert_eq!(
            offered_entries, open_offers,
            "an offered fan per open offer"
        );
        assert_eq!(
            offered_units, open_offers,
            "an offered place per open offer"
        );
        assert_eq!(orphans, 0, "no open offer without its fan and place");
        assert_eq!(no_outbox, 0, "every offer has its outbox row");
    }
}

pub fn rules(ttl_ms: u64, per_second: u64) -> PromotionRules {
    PromotionRules {
        offer_ttl_ms: ttl_ms,
        notify_per_second: per_second,
        keyring: keyring(),
    }
}

pub fn keyring() -> Keyring {
    Keyring::new(
        "k1",
        vec![(
            "k1".into(),
            b"waitlist-test-secret-0123456789abcdef".to_vec(),
        )],
    )
    .unwrap()
}

/// Promote until `done` or the deadline.
pub async fn promote_until(
    waitlist: &Arc<dyn Waitlist>,
    event: &str,
    rules: PromotionRules,
    within: Duration,
    mut done: impl FnMut() -> bool,
) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(
            Instant::now() < deadline,
            "promotion did not finish in time"
        );
        waitlist.promote(event, &rules).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub async fn thousand_fans_hundred_cancellations_two_promoters(db: &Fixture) {
    let bookings = db.sold_out_event("big", 100).await;
    let fans = db.line("big", 1000).await;
    // A second "instance": its own pool (PostgreSQL) or process (SQLite) on the database.
    let second = db.second.clone();

    // 100 cancellations at once, while two promoters race each other.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let promoters: Vec<_> = [db.waitlist.clone(), second.clone()]
        .into_iter()
        .map(|waitlist| {
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut offered = 0;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    offered += waitlist
                        .promote("big", &rules(600_000, 10_000))
                        .await
                        .unwrap()
                        .offered
                        .len();
                    tokio::task::yield_now().await;
                }
                offered
            })
        })
        .collect();
    let cancels: Vec<_> = bookings
        .iter()
        .map(|(booking, holder)| {
            let ledger = db.ledger.clone();
            let (id, holder) = (booking.booking_id.clone(), *holder);
            tokio::spawn(async move {
                ledger
                    .cancel(&id, &new_id(), Canceller::Holder(holder))
                    .await
                    .unwrap()
            })
        })
        .collect();
    for cancel in cancels {
        assert!(
            !cancel.await.unwrap().returned_to_sale,
            "reserved for the line"
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while db.scalar("SELECT count(*) FROM waitlist_offers") < 100 {
        assert!(Instant::now() < deadline, "not every place offered");
        db.assert_consistent("big");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut by_promoter = Vec::new();
    for p in promoters {
        by_promoter.push(p.await.unwrap());
    }
    assert_eq!(by_promoter.iter().sum::<usize>(), 100, "{by_promoter:?}");
    db.assert_consistent("big");

    // Exactly one offer per released place, to the first 100 fans in join order.
    assert_eq!(
        db.scalar("SELECT count(DISTINCT unit_id) FROM waitlist_offers"),
        100
    );
    assert_eq!(
        db.scalar("SELECT count(DISTINCT entry_id) FROM waitlist_offers"),
        100
    );
    let offered: HashSet<String> = db
        .column("SELECT entry_id FROM waitlist_offers")
        .into_iter()
        .collect();
    let first: HashSet<String> = fans[..100].iter().map(|(e, _)| e.clone()).collect();
    assert_eq!(offered, first, "offers go out in join order");
    let overview = db.waitlist.overview("big").await.unwrap();
    assert_eq!((overview.waiting, overview.open_offers), (900, 100));
    assert_eq!(overview.outbox_backlog, 100);

    // Every outbox message carries its offer's signed token, naming that offer, its entry,
    // the event, the entry's fan and the deadline.
    let owner: HashMap<String, VisitorId> = fans.iter().cloned().collect();
    let messages = db.waitlist.due_messages(1000).await.unwrap();
    assert_eq!(messages.len(), 100);
    for message in &messages {
        let payload: serde_json::Value = serde_json::from_str(&message.payload).unwrap();
        let offer = &payload["offer"];
        let token = offer["token"]
            .as_str()
            .expect("a token in the webhook payload");
        let claims = keyring().verify_offer_token(token, 0).unwrap();
        assert_eq!(claims.offer, message.message_id);
        assert_eq!(claims.entry, offer["entry_id"].as_str().unwrap());
        assert_eq!(claims.event, "big");
        assert_eq!(claims.visitor, owner[&claims.entry]);
        assert_eq!(Some(claims.expires_at_ms), offer["expires_at_ms"].as_u64());
    }

    // Every offered fan accepts (two taps each, different keys): one booking per seat.
    let offers: Vec<(String, String)> = db
        .rows("SELECT offer_id, entry_id FROM waitlist_offers")
        .into_iter()
        .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
        .collect();
    let accepts: Vec<_> = offers
        .iter()
        .flat_map(|(offer, entry)| {
            let visitor = owner[entry];
            [0, 1].map(|_| {
                let waitlist = if rand_bit() {
                    db.waitlist.clone()
                } else {
                    second.clone()
                };
                let offer = offer.clone();
                tokio::spawn(async move { waitlist.accept(&offer, &new_id(), visitor).await })
            })
        })
        .collect();
    let mut booking_ids = HashSet::new();
    for accept in accepts {
        booking_ids.insert(accept.await.unwrap().unwrap().0.booking_id);
    }
    assert_eq!(booking_ids.len(), 100, "one booking per offer");
    assert_eq!(
        db.scalar(
            "SELECT count(*) FROM booking_seats WHERE event = 'big' AND status = 'confirmed'"
        ),
        100
    );
    assert_eq!(
        db.scalar(
            "SELECT count(DISTINCT seat) FROM booking_seats WHERE event = 'big' \
             AND status = 'confirmed'"
        ),
        100,
        "one booking per seat"
    );
    // The audit log accounts for every transition.
    for (to, n) in [("waiting", 1000), ("offered", 100), ("accepted", 100)] {
        assert_eq!(
            db.scalar(&format!(
                "SELECT count(*) FROM audit_log WHERE subject = 'entry' AND to_state = '{to}'"
            )),
            n,
            "entry -> {to}"
        );
    }
    assert_eq!(
        db.scalar("SELECT count(*) FROM audit_log WHERE subject = 'booking'"),
        200,
        "100 cancelled + 100 booked"
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM audit_log WHERE subject = 'unit' AND to_state = 'taken'"),
        100
    );
    let history = db.waitlist.audit(&fans[0].0).await.unwrap();
    let steps: Vec<(String, String)> = history
        .iter()
        .map(|r| (r.subject.clone(), r.to.clone()))
        .collect();
    assert!(
        steps.contains(&("entry".into(), "waiting".into())),
        "{steps:?}"
    );
    assert!(
        steps.contains(&("entry".into(), "accepted".into())),
        "{steps:?}"
    );
    assert!(
        steps.contains(&("booking".into(), "confirmed".into())),
        "{steps:?}"
    );
}

pub fn rand_bit() -> bool {
    VisitorId::random().0[0] & 1 == 1
}

pub async fn expiry_decline_and_leaving_promote_the_next_fan(db: &Fixture) {
    let bookings = db.sold_out_event("ex", 1).await;
    let fans = db.line("ex", 4).await;
    let (booking, holder) = &bookings[0];
    db.ledger
        .cancel(&booking.booking_id, "c", Canceller::Holder(*holder))
        .await
        .unwrap();
    let short = rules(300, 100);
    let state = |i: usize| {
        let entry = fans[i].0.clone();
        let waitlist = db.waitlist.clone();
        async move { waitlist.entry(&entry).await.unwrap().unwrap() }
    };

    // Fan 1 is offered the place (for 300 ms) and lets it expire: fan 2 gets it (for ten
    // minutes: a loaded machine must not expire it before fan 2 declines).
    let long = rules(600_000, 100);
    db.waitlist.promote("ex", &short).await.unwrap();
    let first = state(0).await;
    assert_eq!(first.state, "offered");
    let offer = first.offer.clone().unwrap();
    assert_eq!(state(1).await.position, Some(1));
    let deadline = Instant::now() + Duration::from_secs(10);
    while state(1).await.state != "offered" {
        assert!(Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(50)).await;
        db.waitlist.promote("ex", &long).await.unwrap();
    }
    assert_eq!(state(0).await.state, "expired");
    assert_eq!(
        db.waitlist.accept(&offer.offer_id, "late", fans[0].1).await,
        Err(WaitlistError::OfferClosed),
        "an expired offer cannot be accepted"
    );

    // Fan 2 declines: fan 3. A stranger cannot decline or accept fan 3's offer.
    let second = state(1).await.offer.unwrap();
    db.waitlist
        .decline(&second.offer_id, fans[1].1)
        .await
        .unwrap();
    db.waitlist.promote("ex", &long).await.unwrap();
    let third = state(2).await;
    assert_eq!(third.state, "offered");
    let third_offer = third.offer.unwrap();
    assert_eq!(
        db.waitlist
            .accept(&third_offer.offer_id, "x", VisitorId::random())
            .await,
        Err(WaitlistError::OfferClosed),
        "a foreign offer"
    );

    // Fan 3 leaves while offered: fan 4 gets it and accepts.
    assert_eq!(
        db.waitlist
            .leave(&fans[2].0, fans[2].1)
            .await
            .unwrap()
            .state,
        "left"
    );
    db.waitlist.promote("ex", &long).await.unwrap();
    let fourth = state(3).await;
    assert_eq!(fourth.state, "offered");
    let booking = db
        .waitlist
        .accept(&fourth.offer.unwrap().offer_id, "k", fans[3].1)
        .await
        .unwrap()
        .0;
    assert_eq!(booking.seats, vec!["S00001"]);
    db.assert_consistent("ex");
    let offers: Vec<String> = db.column("SELECT state FROM waitlist_offers ORDER BY offered_at_ms");
    assert_eq!(offers, vec!["expired", "declined", "withdrawn", "accepted"]);
    // Nobody left waiting and nothing free: no place goes back to sale.
    let done = db.waitlist.promote("ex", &long).await.unwrap();
    assert!(done.returned_seats.is_empty());
    assert_eq!(db.ledger.booked_seats("ex").await.unwrap(), vec!["S00001"]);
}

pub async fn ten_concurrent_accepts_with_different_keys_make_one_booking(db: &Fixture) {
    let bookings = db.sold_out_event("tap", 1).await;
    let fans = db.line("tap", 1).await;
    db.ledger
        .cancel(&bookings[0].0.booking_id, "c", Canceller::Operator)
        .await
        .unwrap();
    db.waitlist
        .promote("tap", &rules(600_000, 10))
        .await
        .unwrap();
    let offer = db
        .waitlist
        .entry(&fans[0].0)
        .await
        .unwrap()
        .unwrap()
        .offer
        .unwrap();
    let taps: Vec<_> = (0..10)
        .map(|i| {
            let waitlist = db.waitlist.clone();
            let (offer, visitor) = (offer.offer_id.clone(), fans[0].1);
            tokio::spawn(async move { waitlist.accept(&offer, &format!("key-{i}"), visitor).await })
        })
        .collect();
    let mut ids = HashSet::new();
    for tap in taps {
        ids.insert(tap.await.unwrap().unwrap().0.booking_id);
    }
    assert_eq!(ids.len(), 1, "one booking whatever the keys");
    assert_eq!(
        db.scalar("SELECT count(*) FROM bookings WHERE hold_id LIKE 'offer:%'"),
        1
    );
    // The same key later: the same booking.
    let again = db
        .waitlist
        .accept(&offer.offer_id, "key-3", fans[0].1)
        .await
        .unwrap();
    assert!(ids.contains(&again.0.booking_id));
    assert!(!again.1, "a repeat, not a new booking");
}

pub async fn one_entry_per_visitor_and_nobody_waiting_returns_places_to_sale(db: &Fixture) {
    let bookings = db.sold_out_event("one", 2).await;
    let visitor = VisitorId::random();
    let joins: Vec<_> = (0..8)
        .map(|_| {
            let waitlist = db.waitlist.clone();
            tokio::spawn(async move { waitlist.join("one", visitor, 100).await })
        })
        .collect();
    let mut created = 0;
    let mut ids = HashSet::new();
    for join in joins {
        let (entry, new) = join.await.unwrap().unwrap();
        created += usize::from(new);
        ids.insert(entry.entry_id);
    }
    assert_eq!(
        (created, ids.len()),
        (1, 1),
        "one entry per visitor per event"
    );
    assert_eq!(db.scalar("SELECT count(*) FROM waitlist_entries"), 1);
    assert_eq!(
        db.waitlist.join("one", VisitorId::random(), 1).await,
        Err(WaitlistError::Full(1)),
        "max_depth"
    );
    // The only fan leaves; a cancellation then goes straight back to sale.
    let entry = ids.into_iter().next().unwrap();
    db.waitlist.leave(&entry, visitor).await.unwrap();
    let c = db
        .ledger
        .cancel(&bookings[0].0.booking_id, "c", Canceller::Operator)
        .await
        .unwrap();
    assert!(c.returned_to_sale);
    // A place released while someone waited, who left before the offer: returned by the pass.
    let late = db.line("one", 1).await;
    let c = db
        .ledger
        .cancel(&bookings[1].0.booking_id, "c", Canceller::Operator)
        .await
        .unwrap();
    assert!(!c.returned_to_sale);
    db.waitlist.leave(&late[0].0, late[0].1).await.unwrap();
    let pass = db.waitlist.promote("one", &rules(1000, 10)).await.unwrap();
    assert_eq!(pass.returned_seats, vec!["S00002"]);
    assert!(pass.offered.is_empty());
}

pub async fn bulk_release_goes_out_in_waves(db: &Fixture) {
    let bookings = db.sold_out_event("wave", 30).await;
    db.line("wave", 30).await;
    for (booking, _) in &bookings {
        db.ledger
            .cancel(&booking.booking_id, "c", Canceller::Operator)
            .await
            .unwrap();
    }
    let per_second = 10;
    let first = db
        .waitlist
        .promote("wave", &rules(600_000, per_second))
        .await
        .unwrap();
    assert_eq!(first.offered.len(), 10, "one wave");
    let again = db
        .waitlist
        .promote("wave", &rules(600_000, per_second))
        .await
        .unwrap();
    assert!(again.offered.is_empty(), "the rate holds within the second");
    let started = Instant::now();
    promote_until(
        &db.waitlist,
        "wave",
        rules(600_000, per_second),
        Duration::from_secs(10),
        || db.scalar("SELECT count(*) FROM waitlist_offers") == 30,
    )
    .await;
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "30 offers at 10/s take two more seconds: {:?}",
        started.elapsed()
    );
    db.assert_consistent("wave");
}

pub async fn a_promoter_killed_mid_pass_leaves_no_orphan_offer(db: &Fixture) {
    let bookings = db.sold_out_event("kill", 200).await;
    db.line("kill", 200).await;
    for (booking, _) in &bookings {
        db.ledger
            .cancel(&booking.booking_id, "c", Canceller::Operator)
            .await
            .unwrap();
    }
    // Kill passes at varying points (the task is dropped mid-transaction: the connection's
    // transaction never commits).
    for delay_ms in [1u64, 3, 5, 8, 13, 21] {
        let waitlist = db.waitlist.clone();
        let pass =
            tokio::spawn(async move { waitlist.promote("kill", &rules(600_000, 10_000)).await });
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        pass.abort();
        let _ = pass.await;
        db.assert_consistent("kill");
    }
    // A fresh promoter finishes the job; all consistent, every place offered once.
    promote_until(
        &db.waitlist,
        "kill",
        rules(600_000, 10_000),
        Duration::from_secs(20),
        || db.scalar("SELECT count(*) FROM capacity_released WHERE state = 'free'") == 0,
    )
    .await;
    db.assert_consistent("kill");
    assert_eq!(
        db.scalar("SELECT count(*) FROM waitlist_offers WHERE state = 'open'"),
        200
    );
}

pub async fn general_admission_places_go_to_the_line(db: &Fixture) {
    db.ledger
        .create_event(&EventSpec {
            id: "ga".into(),
            room: Some("tour".into()),
            inventory: Inventory::Capacity(2),
        })
        .await
        .unwrap();
    let mut bookings = Vec::new();
    for token in [1u64, 2] {
        let holder = VisitorId::random();
        let hold = Hold {
            hold_id: format!("{}.ga", new_id()),
            event: "ga".into(),
            holder,
            seats: vec![],
            quantity: 1,
            expires_at_ms: u64::MAX,
            fencing_token: token,
        };
        bookings.push((db.ledger.confirm(&new_id(), &hold).await.unwrap(), holder));
    }
    assert_eq!(db.ledger.sold("ga").await.unwrap(), 2);
    let fans = db.line("ga", 3).await;
    let long = rules(600_000, 100);

    // A released place is the line's: fan 1 is offered it (no seat) and books it.
    let c = db
        .ledger
        .cancel(
            &bookings[0].0.booking_id,
            "c",
            Canceller::Holder(bookings[0].1),
        )
        .await
        .unwrap();
    assert!(!c.returned_to_sale);
    assert_eq!(db.ledger.sold("ga").await.unwrap(), 1);
    let pass = db.waitlist.promote("ga", &long).await.unwrap();
    assert_eq!(pass.offered.len(), 1);
    assert_eq!(pass.offered[0].seat, None, "a general-admission place");
    let (booking, fresh) = db
        .waitlist
        .accept(&pass.offered[0].offer_id, "k", fans[0].1)
        .await
        .unwrap();
    assert!(fresh);
    assert_eq!((booking.quantity, booking.seats.len()), (1, 0));
    assert_eq!(db.ledger.sold("ga").await.unwrap(), 2, "sold again, once");

    // The next place: fan 2 declines, fan 3 leaves while offered: nobody waits, it goes
    // back on sale.
    db.ledger
        .cancel(&bookings[1].0.booking_id, "c", Canceller::Operator)
        .await
        .unwrap();
    let offer = db.waitlist.promote("ga", &long).await.unwrap().offered[0].clone();
    assert_eq!(offer.entry_id, fans[1].0);
    db.waitlist
        .decline(&offer.offer_id, fans[1].1)
        .await
        .unwrap();
    let offer = db.waitlist.promote("ga", &long).await.unwrap().offered[0].clone();
    assert_eq!(offer.entry_id, fans[2].0);
    db.waitlist.leave(&fans[2].0, fans[2].1).await.unwrap();
    let back = db.waitlist.promote("ga", &long).await.unwrap();
    assert_eq!((back.returned_quantity, back.offered.len()), (1, 0));
    assert_eq!(db.ledger.sold("ga").await.unwrap(), 1);
    db.assert_consistent("ga");
    let overview = db.waitlist.overview("ga").await.unwrap();
    assert_eq!(
        (overview.accepted, overview.declined, overview.left),
        (1, 1, 1)
    );
}

pub async fn the_audit_log_of_the_line_is_append_only(db: &Fixture) {
    let bookings = db.sold_out_event("au", 1).await;
    let fans = db.line("au", 1).await;
    db.ledger
        .cancel(&bookings[0].0.booking_id, "c", Canceller::Operator)
        .await
        .unwrap();
    db.waitlist
        .promote("au", &rules(600_000, 10))
        .await
        .unwrap();
    let history = db.waitlist.audit(&fans[0].0).await.unwrap();
    let steps: Vec<(&str, &str)> = history
        .iter()
        .map(|r| (r.subject.as_str(), r.to.as_str()))
        .collect();
    assert_eq!(
        steps,
        vec![
            ("entry", "waiting"),
            ("offer", "open"),
            ("entry", "offered"),
            ("unit", "offered")
        ]
    );
    for sql in [
        "UPDATE audit_log SET reason = 'rewritten'",
        "DELETE FROM audit_log",
    ] {
        let refused = db.probe.execute(sql);
        assert!(
            refused.as_ref().is_err_and(|e| e.contains("append-only")),
            "{sql}: {refused:?}"
        );
    }
    assert_eq!(db.waitlist.audit(&fans[0].0).await.unwrap(), history);
}
