//! One visitor's journey through a sale, as a fan's browser (or a bot) makes it: the
//! protected page (a place in line), the live status stream until admitted (bots poll), the
//! seat map, a hold on a free seat, a confirmation with an `Idempotency-Key` — another seat
//! when the chosen one is taken.

use std::time::{Duration, Instant};

use rand::seq::SliceRandom;
use serde::Serialize;
use serde_json::{json, Value};

const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const BOT_POLL_EVERY: Duration = Duration::from_millis(250);
/// A fan that polls follows the room's `Retry-After`, within these bounds.
const FAN_POLL_MIN: Duration = Duration::from_millis(500);
const FAN_POLL_MAX: Duration = Duration::from_secs(5);
const SEAT_ATTEMPTS: usize = 20;
const CONFIRM_RETRIES: usize = 5;
const BOT_USER_AGENT: &str = "loadtest-bot/1.0 (no javascript)";

/// Where and when a visitor plays.
#[derive(Debug, Clone)]
pub struct Plan {
    pub index: usize,
    pub gateway: usize,
    pub base: String,
    pub room: String,
    pub event: String,
    pub bot: bool,
    /// Follows the SSE stream while waiting; otherwise polls.
    pub stream: bool,
    pub arrive_after: Duration,
    pub give_up_after: Duration,
}

/// How a visitor's journey ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Booked,
    SoldOut,
    NoSeatLeft,
    Abandoned,
    Failed,
}

/// The steps timed for the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Join,
    TimeToAdmit,
    SeatMap,
    Hold,
    Confirm,
}

impl Step {
    pub const ALL: [Step; 5] = [
        Step::Join,
        Step::TimeToAdmit,
        Step::SeatMap,
        Step::Hold,
        Step::Confirm,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Step::Join => "join",
            Step::TimeToAdmit => "time_to_admit",
            Step::SeatMap => "seat_map",
            Step::Hold => "hold",
            Step::Confirm => "confirm",
        }
    }
}

/// What one visitor saw; times are seconds since the sale started.
#[derive(Debug, Clone)]
pub struct Record {
    pub plan: Plan,
    pub member: Option<String>,
    pub joined_at: Option<f64>,
    pub first_position: Option<u64>,
    pub promised_eta: Option<(f64, f64)>,
    pub admitted_at: Option<f64>,
    pub position_updates: u32,
    pub steps: Vec<(Step, f64)>,
    pub seats_held: Vec<String>,
    pub seat_booked: Option<String>,
    pub booked_at: Option<f64>,
    pub outcome: Outcome,
    pub error: Option<String>,
}

/// A visitor's credentials and timing between requests.
struct Journey<'a> {
    client: &'a reqwest::Client,
    start: Instant,
    deadline: Instant,
    signed_id: String,
    pass: String,
    record: Record,
}

enum Wait {
    Admitted,
    SoldOut,
    StreamEnded,
}

fn retry_after(response: &reqwest::Response) -> Duration {
    response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<f64>().ok())
        .map_or(FAN_POLL_MIN, Duration::from_secs_f64)
        .clamp(FAN_POLL_MIN, FAN_POLL_MAX)
}

/// Plays the whole journey; never panics, every failure ends up in the record.
pub async fn play(client: &reqwest::Client, plan: Plan, start: Instant) -> Record {
    let arrive = start + plan.arrive_after;
    tokio::time::sleep_until(arrive.into()).await;
    let mut journey = Journey {
        client,
        start,
        deadline: Instant::now() + plan.give_up_after,
        signed_id: String::new(),
        pass: String::new(),
        record: Record {
            plan,
            member: None,
            joined_at: None,
            first_position: None,
            promised_eta: None,
            admitted_at: None,
            position_updates: 0,
            steps: Vec::new(),
            seats_held: Vec::new(),
            seat_booked: None,
            booked_at: None,
            outcome: Outcome::Failed,
            error: None,
        },
    };
    match journey.run().await {
        Ok(outcome) => journey.record.outcome = outcome,
        Err(error) => {
            journey.record.outcome = Outcome::Failed;
            journey.record.error = Some(error);
        }
    }
    journey.record
}

impl Journey<'_> {
    fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.record.plan.base)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self
            .client
            .request(method, self.url(path))
            .timeout(REQUEST_TIMEOUT)
            .header("accept", "application/json");
        if !self.signed_id.is_empty() {
            request = request.header("x-anteroom-visitor", &self.signed_id);
        }
        if !self.pass.is_empty() {
            request = request.header("x-anteroom-pass", &self.pass);
        }
        if self.record.plan.bot {
            request = request.header("user-agent", BOT_USER_AGENT);
        }
        request
    }

    async fn run(&mut self) -> Result<Outcome, String> {
        if !self.join().await? {
            return Ok(Outcome::SoldOut);
        }
        let waited_from = Instant::now();
        match self.wait_admitted().await? {
            None => return Ok(Outcome::Abandoned),
            Some(false) => return Ok(Outcome::SoldOut),
            Some(true) => {}
        }
        self.record.admitted_at = Some(self.now());
        self.time(Step::TimeToAdmit, waited_from);
        self.buy().await
    }

    fn time(&mut self, step: Step, since: Instant) {
        let ms = since.elapsed().as_secs_f64() * 1000.0;
        self.record.steps.push((step, ms));
    }

    /// Sends one timed request of `step`: its status and JSON body.
    async fn call(
        &mut self,
        step: Step,
        request: reqwest::RequestBuilder,
    ) -> Result<(u16, Value), String> {
        let sent = Instant::now();
        let what = step.name();
        let response = request.send().await.map_err(|e| format!("{what}: {e}"))?;
        let status = response.status().as_u16();
        let body: Value = response
            .json()
            .await
            .map_err(|e| format!("{what} body: {e}"))?;
        self.time(step, sent);
        Ok((status, body))
    }

    /// The protected page: a place in line. `false` when the sale is already sold out.
    async fn join(&mut self) -> Result<bool, String> {
        let event = self.record.plan.event.clone();
        let page = self.request(reqwest::Method::GET, &format!("/v1/events/{event}/seats"));
        let (status, body) = self.call(Step::Join, page).await?;
        match status {
            429 => {}
            410 => return Ok(false),
            other => return Err(format!("join answered {other}: {body}")),
        }
        self.record.joined_at = Some(self.now());
        self.take_status(&body);
        self.record.first_position = body.pointer("/position").and_then(Value::as_u64);
        if let (Some(low), Some(high)) = (
            body.pointer("/eta_seconds/low").and_then(Value::as_f64),
            body.pointer("/eta_seconds/high").and_then(Value::as_f64),
        ) {
            self.record.promised_eta = Some((low, high));
        }
        if self.signed_id.is_empty() {
            return Err(format!("join gave no visitor id: {body}"));
        }
        Ok(true)
    }

    /// Keeps the visitor id and, when admitted, the pass.
    fn take_status(&mut self, status: &Value) {
        if let Some(signed) = status.pointer("/visitor").and_then(Value::as_str) {
            self.signed_id = signed.to_string();
            self.record.member = signed.split('.').next().map(str::to_string);
        }
        if let Some(pass) = status.pointer("/pass").and_then(Value::as_str) {
            self.pass = pass.to_string();
        }
    }

    /// `Some(true)` admitted, `Some(false)` sold out, `None` gave up.
    async fn wait_admitted(&mut self) -> Result<Option<bool>, String> {
        if self.record.plan.stream {
            let deadline = self.deadline;
            match tokio::time::timeout_at(deadline.into(), self.stream()).await {
                Err(_) => return Ok(None),
                Ok(Ok(Wait::Admitted)) => return Ok(Some(true)),
                Ok(Ok(Wait::SoldOut)) => return Ok(Some(false)),
                // A dropped stream is what polling is for, as the waiting page does.
                Ok(Ok(Wait::StreamEnded)) | Ok(Err(_)) => {}
            }
        }
        self.poll().await
    }

    /// Holds `/_anteroom/events` open until the status says admitted or over.
    async fn stream(&mut self) -> Result<Wait, String> {
        let room = self.record.plan.room.clone();
        let mut response = self
            .client
            .get(self.url(&format!("/_anteroom/events?room={room}")))
            .header("x-anteroom-visitor", &self.signed_id)
            .send()
            .await
            .map_err(|e| format!("stream: {e}"))?;
        if response.status() != 200 {
            return Ok(Wait::StreamEnded);
        }
        let mut buffer = String::new();
        let mut last_position = None;
        while let Some(chunk) = response.chunk().await.map_err(|e| format!("stream: {e}"))? {
            buffer.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = buffer.find("\n\n") {
                let event: String = buffer.drain(..end + 2).collect();
                let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) else {
                    continue;
                };
                let Ok(status) = serde_json::from_str::<Value>(data) else {
                    continue;
                };
                let position = status.pointer("/position").and_then(Value::as_u64);
                if position.is_some() && position != last_position {
                    self.record.position_updates += 1;
                    last_position = position;
                }
                match status.pointer("/state").and_then(Value::as_str) {
                    Some("admitted") => {
                        self.take_status(&status);
                        return Ok(Wait::Admitted);
                    }
                    Some("sold_out") | Some("closed") => return Ok(Wait::SoldOut),
                    _ => {}
                }
            }
        }
        Ok(Wait::StreamEnded)
    }

    /// Polls `/_anteroom/status` (bots always; fans whose stream dropped).
    async fn poll(&mut self) -> Result<Option<bool>, String> {
        let room = self.record.plan.room.clone();
        while Instant::now() < self.deadline {
            let response = self
                .request(
                    reqwest::Method::GET,
                    &format!("/_anteroom/status?room={room}"),
                )
                .send()
                .await;
            let mut pause = BOT_POLL_EVERY;
            if let Ok(response) = response {
                if !self.record.plan.bot {
                    pause = retry_after(&response);
                }
                if let Ok(status) = response.json::<Value>().await {
                    match status.pointer("/state").and_then(Value::as_str) {
                        Some("admitted") => {
                            self.take_status(&status);
                            return Ok(Some(true));
                        }
                        Some("sold_out") | Some("closed") => return Ok(Some(false)),
                        _ => {}
                    }
                }
            }
            tokio::time::sleep(pause).await;
        }
        Ok(None)
    }

    /// Seat map → hold a free seat → confirm; another seat when one is taken.
    async fn buy(&mut self) -> Result<Outcome, String> {
        if self.pass.is_empty() {
            return Err("admitted without a pass".into());
        }
        let mut free = self.free_seats().await?;
        for attempt in 0..SEAT_ATTEMPTS {
            if free.is_empty() {
                free = self.free_seats().await?;
            }
            free.shuffle(&mut rand::thread_rng());
            let Some(seat) = free.pop() else {
                return Ok(Outcome::NoSeatLeft);
            };
            let Some(hold_id) = self.hold(&seat).await? else {
                continue;
            };
            self.record.seats_held.push(seat.clone());
            let key = format!("{}-{attempt}", self.record.member.as_deref().unwrap_or("x"));
            if self.confirm(&hold_id, &key).await? {
                self.record.seat_booked = Some(seat);
                self.record.booked_at = Some(self.now());
                return Ok(Outcome::Booked);
            }
        }
        Ok(Outcome::NoSeatLeft)
    }

    async fn free_seats(&mut self) -> Result<Vec<String>, String> {
        let event = self.record.plan.event.clone();
        let map = self.request(reqwest::Method::GET, &format!("/v1/events/{event}/seats"));
        let (status, body) = self.call(Step::SeatMap, map).await?;
        if status != 200 {
            return Err(format!("seat map answered {status}: {body}"));
        }
        Ok(body
            .as_array()
            .map(|seats| {
                seats
                    .iter()
                    .filter(|s| s.pointer("/state").and_then(Value::as_str) == Some("free"))
                    .filter_map(|s| {
                        s.pointer("/seat")
                            .and_then(Value::as_str)
                            .map(str::to_string)
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The hold id, or `None` when the seat was taken.
    async fn hold(&mut self, seat: &str) -> Result<Option<String>, String> {
        let event = self.record.plan.event.clone();
        let hold = self
            .request(reqwest::Method::POST, &format!("/v1/events/{event}/holds"))
            .json(&json!({ "seats": [seat] }));
        let (status, body) = self.call(Step::Hold, hold).await?;
        match status {
            201 => Ok(body
                .pointer("/hold_id")
                .and_then(Value::as_str)
                .map(str::to_string)),
            409 => Ok(None),
            other => Err(format!("hold answered {other}: {body}")),
        }
    }

    /// `true` when booked; `false` when the seat went to someone else (try another).
    async fn confirm(&mut self, hold_id: &str, key: &str) -> Result<bool, String> {
        for _ in 0..CONFIRM_RETRIES {
            let confirm = self
                .request(reqwest::Method::POST, "/v1/bookings")
                .header("idempotency-key", key)
                .json(&json!({ "hold_id": hold_id }));
            let (status, body) = self.call(Step::Confirm, confirm).await?;
            match status {
                201 => return Ok(true),
                409 => return Ok(false),
                // Retrying with the same key is safe: that is what the key is for.
                503 => tokio::time::sleep(Duration::from_millis(200)).await,
                other => return Err(format!("confirm answered {other}: {body}")),
            }
        }
        Err("confirm: the service stayed unavailable".into())
    }
}
