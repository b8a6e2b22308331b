//! The goose scenarios: `fan` (a browser: protected page, live stream until admitted, seat
//! map, hold, confirm), `app` (the same in JSON mode, polling with `X-Anteroom-*` headers),
//! `bot` (no JavaScript, one fixed fingerprint, hammering joins and holds) and `browse`
//! (admitted visitors reading the origin). Non-HTTP work — time to admit, the gap between
//! position updates, hold success — is recorded as custom requests, so goose's reports,
//! thresholds and exit code cover it.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::prelude::*;
use serde_json::{json, Value};

const BOT_USER_AGENT: &str = "loadtest-bot/1.0 (no javascript)";
const POLL_EVERY: Duration = Duration::from_millis(500);
const SEAT_ATTEMPTS: usize = 5;

/// What the scenarios play against (the defaults are `anteroom demo`'s).
#[derive(Debug, Clone, clap::Args)]
pub struct Target {
    /// The room the protected pages belong to.
    #[arg(long, default_value = "demo")]
    pub room: String,
    /// The seated event to book.
    #[arg(long, default_value = "tour-2027")]
    pub event: String,
    /// A protected page (the visitor's first request).
    #[arg(long, default_value = "/")]
    pub page: String,
    /// A visitor not admitted after this many seconds gives up (a failed transaction), so
    /// a run ends near its `--run-time` even when the room admits nobody.
    #[arg(long, default_value_t = 20)]
    pub wait_limit: u64,
}

static TARGET: OnceLock<Target> = OnceLock::new();

fn target() -> &'static Target {
    TARGET.get_or_init(|| Target {
        room: "demo".into(),
        event: "tour-2027".into(),
        page: "/".into(),
        wait_limit: 20,
    })
}

/// Which scenario to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Fan,
    App,
    Bot,
    Browse,
}

/// Runs one scenario with goose's own flags; bounded by default (60 s, 20 users, metrics
/// kept from the first request, against `anteroom demo` on port 8080).
pub async fn run(kind: Kind, target: Target, config: GooseConfiguration) -> Result<(), GooseError> {
    let _ = TARGET.set(target);
    let scenario = match kind {
        Kind::Fan => scenario!("fan").register_transaction(transaction!(fan_journey)),
        Kind::App => scenario!("app").register_transaction(transaction!(app_journey)),
        Kind::Bot => scenario!("bot").register_transaction(transaction!(bot_hammer)),
        Kind::Browse => scenario!("browse")
            .register_transaction(transaction!(browse_until_admitted).set_on_start())
            .register_transaction(transaction!(browse_origin))
            .register_transaction(transaction!(browse_leave).set_on_stop()),
    };
    let attack = GooseAttack::initialize_with_config(config)?
        .register_scenario(scenario)
        .set_default(GooseDefault::Host, "http://127.0.0.1:8080")?
        .set_default(GooseDefault::Users, 20usize)?
        .set_default(GooseDefault::IncreaseRate, "5")?
        .set_default(GooseDefault::RunTime, 60usize)?
        .set_default(GooseDefault::NoResetMetrics, true)?;
    attack.execute().await.map(|_| ())
}

type Step<T> = Result<T, Box<TransactionError>>;
type Builder = reqwest13::RequestBuilder;

/// A visitor's credentials when it carries them itself (apps); browsers use cookies.
#[derive(Debug, Clone, Default)]
struct Credentials {
    visitor: Option<String>,
    pass: Option<String>,
}

/// How waiting ended.
enum Waited {
    Admitted,
    SoldOut,
    GaveUp,
}

/// A request builder with `Accept: application/json` and the visitor's own headers.
fn builder(user: &GooseUser, method: &GooseMethod, path: &str, who: &Credentials) -> Step<Builder> {
    let mut builder = user
        .get_request_builder(method, path)?
        .header("accept", "application/json");
    if let Some(visitor) = &who.visitor {
        builder = builder.header("x-anteroom-visitor", visitor);
    }
    if let Some(pass) = &who.pass {
        builder = builder.header("x-anteroom-pass", pass);
    }
    Ok(builder)
}

/// Sends through goose (timed, counted); statuses in `expected` count as successes (a 429
/// is the waiting room working, a 409 a seat someone else won).
async fn send(
    user: &mut GooseUser,
    name: &str,
    builder: Builder,
    expected: &[u16],
) -> Step<reqwest13::Response> {
    let request = GooseRequest::builder()
        .name(name)
        .set_request_builder(builder)
        .build();
    let mut goose = user.request(request).await?;
    let status = goose.response.as_ref().map(|r| r.status().as_u16()).ok();
    if status.is_some_and(|s| expected.contains(&s)) {
        let _ = user.set_success(&mut goose.request);
    }
    Ok(goose.response?)
}

async fn json_of(response: reqwest13::Response) -> Value {
    response.json::<Value>().await.unwrap_or(Value::Null)
}

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// `fan`: a browser's journey, the stream open until admitted.
async fn fan_journey(user: &mut GooseUser) -> TransactionResult {
    let started = Instant::now();
    let page = user.get_request_builder(&GooseMethod::Get, &target().page)?;
    let response = send(user, "protected page", page, &[]).await?;
    let admitted_straight = response.headers().contains_key("x-anteroom-pass");
    let _ = response.bytes().await;
    if !admitted_straight {
        let waited = wait_by_stream(user).await?;
        if !admitted(user, waited, "SSE", started).await? {
            return Ok(());
        }
        // What the waiting page does once admitted: the status call sets the pass cookie.
        let status = status_path();
        let status = user.get_request_builder(&GooseMethod::Get, &status)?;
        let _ = send(user, "status (pass cookie)", status, &[])
            .await?
            .bytes()
            .await;
    }
    buy(user, &Credentials::default()).await?;
    leave(user, &Credentials::default()).await
}

/// `app`: JSON mode — a 429 with the status, polling at the room's pace, headers not cookies.
async fn app_journey(user: &mut GooseUser) -> TransactionResult {
    let started = Instant::now();
    let mut who = Credentials::default();
    let join = builder(user, &GooseMethod::Get, &target().page, &who)?;
    let response = send(user, "protected page (json)", join, &[429, 410]).await?;
    if let Some(pass) = response.headers().get("x-anteroom-pass") {
        who.pass = pass.to_str().ok().map(str::to_string);
    }
    let status = response.status().as_u16();
    let body = json_of(response).await;
    if status == 410 {
        return sold_out(user).await;
    }
    who.visitor = text(&body, "/visitor").map(str::to_string);
    if who.pass.is_none() {
        let waited = wait_by_poll(user, &mut who).await?;
        if !admitted(user, waited, "APP", started).await? {
            return Ok(());
        }
    }
    buy(user, &who).await?;
    leave(user, &who).await
}

/// `bot`: no JavaScript, no stream, one fingerprint; joins, polls and tries to hold a seat
/// without ever waiting its turn.
async fn bot_hammer(user: &mut GooseUser) -> TransactionResult {
    let who = Credentials::default();
    let page = builder(user, &GooseMethod::Get, &target().page, &who)?
        .header("user-agent", BOT_USER_AGENT);
    let _ = send(user, "bot join", page, &[429, 410, 403])
        .await?
        .bytes()
        .await;
    let status = builder(user, &GooseMethod::Get, &status_path(), &who)?
        .header("user-agent", BOT_USER_AGENT);
    let _ = send(user, "bot status", status, &[403])
        .await?
        .bytes()
        .await;
    let hold = builder(user, &GooseMethod::Post, &holds_path(), &who)?
        .header("user-agent", BOT_USER_AGENT)
        .json(&json!({ "seats": ["A1"] }));
    // Without a pass the gateway queues it (429) and the booking service refuses it (401).
    let _ = send(user, "bot hold", hold, &[429, 401, 403, 409, 410])
        .await?
        .bytes()
        .await;
    Ok(())
}

/// `browse` starts by waiting its turn (polling), then reads the origin.
async fn browse_until_admitted(user: &mut GooseUser) -> TransactionResult {
    let started = Instant::now();
    let page = user.get_request_builder(&GooseMethod::Get, &target().page)?;
    let _ = send(user, "protected page", page, &[]).await?.bytes().await;
    let mut who = Credentials::default();
    let waited = wait_by_poll(user, &mut who).await?;
    admitted(user, waited, "POLL", started).await.map(|_| ())
}

async fn browse_origin(user: &mut GooseUser) -> TransactionResult {
    let page = user.get_request_builder(&GooseMethod::Get, &target().page)?;
    let _ = send(user, "origin page", page, &[]).await?.bytes().await;
    let map = builder(
        user,
        &GooseMethod::Get,
        &seats_path(),
        &Credentials::default(),
    )?;
    let _ = send(user, "seat map", map, &[]).await?.bytes().await;
    Ok(())
}

fn wait_limit() -> Duration {
    Duration::from_secs(target().wait_limit)
}

fn not_admitted() -> Box<TransactionError> {
    format!("not admitted within {} s", target().wait_limit).into()
}

/// Browsers leave when the run ends, freeing their place under the room's cap.
async fn browse_leave(user: &mut GooseUser) -> TransactionResult {
    leave(user, &Credentials::default()).await
}

fn status_path() -> String {
    format!("/_anteroom/status?room={}", target().room)
}

fn seats_path() -> String {
    format!("/v1/events/{}/seats", target().event)
}

fn holds_path() -> String {
    format!("/v1/events/{}/holds", target().event)
}

/// Records the time to admit; `false` when the wait ended in a sold-out sale (recorded).
async fn admitted(
    user: &mut GooseUser,
    waited: Waited,
    method: &str,
    started: Instant,
) -> Step<bool> {
    match waited {
        Waited::Admitted => {}
        Waited::SoldOut => return sold_out(user).await.map(|()| false),
        Waited::GaveUp => return Err(not_admitted()),
    }
    user.record_custom_request_duration(
        method,
        "time-to-admit",
        started.elapsed(),
        true,
        None,
        None,
    )
    .await?;
    Ok(true)
}

async fn sold_out(user: &mut GooseUser) -> TransactionResult {
    user.record_custom_request("SALE", "sold-out", 0, true, None, None)
        .await
}

/// Holds `/_anteroom/events` open (cookies name the visitor); each position update is
/// recorded with the gap since the one before. A refused or dropped stream falls back to
/// polling, as the waiting page does.
async fn wait_by_stream(user: &mut GooseUser) -> Step<Waited> {
    let path = format!("/_anteroom/events?room={}", target().room);
    let stream = user.get_request_builder(&GooseMethod::Get, &path)?;
    let mut response = match stream.send().await {
        Ok(response) if response.status() == 200 => response,
        _ => return wait_by_poll(user, &mut Credentials::default()).await,
    };
    let deadline = Instant::now() + wait_limit();
    let mut buffer = String::new();
    let mut last = (Instant::now(), None);
    loop {
        let chunk = match tokio::time::timeout_at(deadline.into(), response.chunk()).await {
            Err(_) => return Ok(Waited::GaveUp),
            Ok(Ok(Some(chunk))) => chunk,
            Ok(_) => return wait_by_poll(user, &mut Credentials::default()).await,
        };
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let event: String = buffer.drain(..end + 2).collect();
            let Some(status) = event
                .lines()
                .find_map(|line| line.strip_prefix("data: "))
                .and_then(|data| serde_json::from_str::<Value>(data).ok())
            else {
                continue;
            };
            let position = status.pointer("/position").and_then(Value::as_u64);
            if position.is_some() && position != last.1 {
                user.record_custom_request_duration(
                    "SSE",
                    "position-update",
                    last.0.elapsed(),
                    true,
                    None,
                    None,
                )
                .await?;
                last = (Instant::now(), position);
            }
            match text(&status, "/state") {
                Some("admitted") => return Ok(Waited::Admitted),
                Some("sold_out") | Some("closed") => return Ok(Waited::SoldOut),
                _ => {}
            }
        }
    }
}

/// Polls `/_anteroom/status` until admitted; keeps the visitor id and pass it hands back.
async fn wait_by_poll(user: &mut GooseUser, who: &mut Credentials) -> Step<Waited> {
    let deadline = Instant::now() + wait_limit();
    while Instant::now() < deadline {
        let poll = builder(user, &GooseMethod::Get, &status_path(), who)?;
        let status = json_of(send(user, "status poll", poll, &[503]).await?).await;
        if let Some(visitor) = text(&status, "/visitor") {
            who.visitor = Some(visitor.to_string());
        }
        match text(&status, "/state") {
            Some("admitted") => {
                who.pass = text(&status, "/pass").map(str::to_string);
                return Ok(Waited::Admitted);
            }
            Some("sold_out") | Some("closed") => return Ok(Waited::SoldOut),
            _ => tokio::time::sleep(POLL_EVERY).await,
        }
    }
    Ok(Waited::GaveUp)
}

/// Seat map → hold a free seat → confirm with an `Idempotency-Key`; another seat on 409.
async fn buy(user: &mut GooseUser, who: &Credentials) -> TransactionResult {
    for attempt in 0..SEAT_ATTEMPTS {
        let map = builder(user, &GooseMethod::Get, &seats_path(), who)?;
        let seats = json_of(send(user, "seat map", map, &[]).await?).await;
        let free: Vec<String> = seats
            .as_array()
            .map(|seats| {
                seats
                    .iter()
                    .filter(|s| text(s, "/state") == Some("free"))
                    .filter_map(|s| text(s, "/seat").map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        let Some(seat) = free.get(rand::random::<usize>() % free.len().max(1)) else {
            return sold_out(user).await;
        };
        let hold = builder(user, &GooseMethod::Post, &holds_path(), who)?
            .json(&json!({ "seats": [seat] }));
        let response = send(user, "hold", hold, &[409]).await?;
        let won = response.status() == 201;
        let body = json_of(response).await;
        let outcome = if won { "hold-won" } else { "hold-lost" };
        user.record_custom_request("HOLD", outcome, 0, true, None, None)
            .await?;
        let Some(hold_id) = text(&body, "/hold_id").filter(|_| won) else {
            continue;
        };
        let key = format!("goose-{attempt}-{:016x}", rand::random::<u64>());
        let confirm = builder(user, &GooseMethod::Post, "/v1/bookings", who)?
            .header("idempotency-key", key)
            .json(&json!({ "hold_id": hold_id }));
        let response = send(user, "confirm", confirm, &[409]).await?;
        if response.status() == 201 {
            return Ok(());
        }
    }
    Ok(())
}

async fn leave(user: &mut GooseUser, who: &Credentials) -> TransactionResult {
    let path = format!("/_anteroom/leave?room={}", target().room);
    let leave = builder(user, &GooseMethod::Post, &path, who)?;
    let _ = send(user, "leave", leave, &[]).await?.bytes().await;
    Ok(())
}
