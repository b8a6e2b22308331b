//! `anteroom ctl`: the operations CLI over the admin API.

use clap::Subcommand;
use serde_json::{json, Value};

#[derive(Subcommand, Debug)]
pub enum CtlCommand {
    /// Settings and live figures of every room, or of one.
    Status { room: Option<String> },
    /// Set the admission rate (visitors per second; fractions allowed).
    Rate { room: String, per_second: f64 },
    /// Set the active-session cap.
    Cap { room: String, max_active: u64 },
    /// Set the mode: safety-net, queue-all, passthrough, closed.
    Mode { room: String, mode: String },
    /// Hold the line: visitors keep queueing, nobody is admitted.
    Pause { room: String },
    /// Resume admissions.
    Resume { room: String },
    /// Show a message to the line ("" clears it).
    Message { room: String, text: String },
    /// End a visitor's pass and place.
    Revoke { room: String, visitor: String },
    /// Show the room's bot-guard rules, or change them live (every instance within a second).
    Guard {
        room: String,
        /// Places per IP and per fingerprint (both).
        #[arg(long)]
        max_places: Option<u32>,
        /// Places per IP alone (a shared network: carrier-grade NAT, a campus).
        #[arg(long)]
        max_places_per_ip: Option<u32>,
        /// Places per header fingerprint within a subnet alone.
        #[arg(long)]
        max_places_per_fingerprint: Option<u32>,
        /// Requests per 10 s from one IP (an IPv6 client's /64).
        #[arg(long)]
        velocity_per_ip: Option<u32>,
        /// Requests per 10 s from one subnet (/24, /56).
        #[arg(long)]
        velocity_per_subnet: Option<u32>,
        /// off, adaptive or always.
        #[arg(long)]
        challenge: Option<String>,
        /// A CIDR never challenged, shadowed or blocked (repeat for more; replaces the list).
        #[arg(long)]
        allow: Vec<String>,
        /// A CIDR always blocked (repeat for more; replaces the list).
        #[arg(long)]
        block: Vec<String>,
        /// Turn the room's guard on or off.
        #[arg(long)]
        enabled: Option<bool>,
    },
    /// A booking event's waitlist: depth, open offers, promotion lag, outbox backlog; with
    /// --entry, that entry's full history. Asks the booking service: --admin is its URL,
    /// --token its [admin] token.
    Waitlist {
        event: String,
        /// A waitlist entry id: show its audit trail.
        #[arg(long)]
        entry: Option<String>,
    },
}

/// Run one command against the admin API; Err is the message to print.
pub async fn run(admin: &str, token: &str, command: CtlCommand) -> Result<String, String> {
    let admin = admin.trim_end_matches('/');
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .map_err(|error| format!("http client: {error}"))?;
    let (method, path, body) = match &command {
        CtlCommand::Status { room: None } => (reqwest::Method::GET, "/v1/rooms".to_string(), None),
        CtlCommand::Status { room: Some(room) } => {
            (reqwest::Method::GET, format!("/v1/rooms/{room}"), None)
        }
        CtlCommand::Rate { room, per_second } => {
            patch(room, json!({ "admit_per_second": per_second }))
        }
        CtlCommand::Cap { room, max_active } => patch(room, json!({ "max_active": max_active })),
        CtlCommand::Mode { room, mode } => patch(room, json!({ "mode": mode })),
        CtlCommand::Pause { room } => patch(room, json!({ "paused": true })),
        CtlCommand::Resume { room } => patch(room, json!({ "paused": false })),
        CtlCommand::Message { room, text } if text.is_empty() => {
            patch(room, json!({ "message": null }))
        }
        CtlCommand::Message { room, text } => patch(room, json!({ "message": text })),
        CtlCommand::Guard {
            room,
            max_places,
            max_places_per_ip,
            max_places_per_fingerprint,
            velocity_per_ip,
            velocity_per_subnet,
            challenge,
            allow,
            block,
            enabled,
        } => {
            let mut change = serde_json::Map::new();
            if let Some(max) = max_places {
                change.insert("max_places_per_ip".into(), json!(max));
                change.insert("max_places_per_fingerprint".into(), json!(max));
            }
            for (key, value) in [
                ("max_places_per_ip", max_places_per_ip),
                ("max_places_per_fingerprint", max_places_per_fingerprint),
                ("velocity_per_ip", velocity_per_ip),
                ("velocity_per_subnet", velocity_per_subnet),
            ] {
                if let Some(value) = value {
                    change.insert(key.into(), json!(value));
                }
            }
            if let Some(mode) = challenge {
                change.insert("challenge".into(), json!(mode));
            }
            if !allow.is_empty() {
                change.insert("allow_cidrs".into(), json!(allow));
            }
            if !block.is_empty() {
                change.insert("block_cidrs".into(), json!(block));
            }
            if let Some(enabled) = enabled {
                change.insert("enabled".into(), json!(enabled));
            }
            let path = format!("/v1/rooms/{room}/guard");
            if change.is_empty() {
                (reqwest::Method::GET, path, None)
            } else {
                (reqwest::Method::PATCH, path, Some(Value::Object(change)))
            }
        }
        CtlCommand::Waitlist { event, entry: None } => (
            reqwest::Method::GET,
            format!("/v1/events/{event}/waitlist"),
            None,
        ),
        CtlCommand::Waitlist {
            entry: Some(entry), ..
        } => (
            reqwest::Method::GET,
            format!("/v1/waitlist/{entry}/audit"),
            None,
        ),
        CtlCommand::Revoke { room, visitor } => (
            reqwest::Method::POST,
            format!("/v1/rooms/{room}/revoke"),
            Some(json!({ "visitor": visitor })),
        ),
    };
    let mut request = client
        .request(method, format!("{admin}{path}"))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .map_err(|error| format!("cannot reach the admin API at {admin}: {error}"))?;
    let status = response.status();
    let value: Value = response
        .json()
        .await
        .map_err(|error| format!("{admin}{path}: answer is not JSON ({status}): {error}"))?;
    if !status.is_success() {
        return Err(format!(
            "{status}: {} — {}",
            field(&value, "error").as_str().unwrap_or("error"),
            field(&value, "detail").as_str().unwrap_or("")
        ));
    }
    Ok(match command {
        CtlCommand::Revoke { .. } => format!(
            "revoked {} (had a place: {})",
            field(&value, "visitor").as_str().unwrap_or("?"),
            field(&value, "had_place")
        ),
        CtlCommand::Guard { .. } => render_guard(&value),
        CtlCommand::Waitlist { entry: None, .. } => render_waitlist(&value),
        CtlCommand::Waitlist { entry: Some(_), .. } => render_history(&value),
        _ => render_rooms(&value),
    })
}

fn patch(room: &str, body: Value) -> (reqwest::Method, String, Option<Value>) {
    (
        reqwest::Method::PATCH,
        format!("/v1/rooms/{room}"),
        Some(body),
    )
}

/// One line per room, the figures an operator scans for.
fn render_rooms(value: &Value) -> String {
    let rooms = match value {
        Value::Array(rooms) => rooms.clone(),
        room => vec![room.clone()],
    };
    let mut out = format!(
        "{:<20} {:<12} {:>10} {:>10} {:>10} {:>10} {:>14}  {}\n",
        "ROOM", "MODE", "RATE/S", "CAP", "WAITING", "ACTIVE", "ADMITTED", "STATE"
    );
    for room in rooms {
        let mut state = Vec::new();
        if field(&room, "paused") == true {
            state.push("paused".to_string());
        }
        if field(&room, "sold_out") == true {
            state.push("sold out".to_string());
        }
        if let Some(message) = field(&room, "message").as_str() {
            state.push(format!("message: {message}"));
        }
        out.push_str(&format!(
            "{:<20} {:<12} {:>10} {:>10} {:>10} {:>10} {:>14}  {}\n",
            field(&room, "id").as_str().unwrap_or("?"),
            field(&room, "mode").as_str().unwrap_or("?"),
            field(&room, "admit_per_second"),
            field(&room, "max_active"),
            field(&room, "waiting"),
            field(&room, "active"),
            field(&room, "admitted_total"),
            state.join(", ")
        ));
    }
    out.trim_end().to_string()
}

/// A room's guard rules, one `key: value` a line.
fn render_guard(value: &Value) -> String {
    let mut out = format!(
        "bot guard of {}\n",
        field(value, "room").as_str().unwrap_or("?")
    );
    if let Some(rules) = field(value, "rules").as_object() {
        for (key, rule) in rules {
            out.push_str(&format!("  {key}: {rule}\n"));
        }
    }
    out.push_str(&format!("live change: {}", field(value, "live")));
    out
}

/// An event's line: the figures an operator watches during a resale.
fn render_waitlist(value: &Value) -> String {
    let lag_ms = field(value, "promotion_lag_ms").as_u64().unwrap_or(0);
    format!(
        "waitlist of {}\n  waiting: {}\n  open offers: {}\n  accepted: {}  declined: {}  \
         expired: {}  left: {}\n  places not offered yet: {}\n  promotion lag: {:.1} s\n  \
         outbox backlog: {}",
        field(value, "event").as_str().unwrap_or("?"),
        field(value, "waiting"),
        field(value, "open_offers"),
        field(value, "accepted"),
        field(value, "declined"),
        field(value, "expired"),
        field(value, "left"),
        field(value, "unoffered_places"),
        lag_ms as f64 / 1000.0,
        field(value, "outbox_backlog"),
    )
}

/// An entry's audit trail, one transition a line.
fn render_history(value: &Value) -> String {
    let entry = field(value, "entry");
    let mut out = format!(
        "entry {} of {} (visitor {}): {}\n",
        field(entry, "entry_id").as_str().unwrap_or("?"),
        field(entry, "event").as_str().unwrap_or("?"),
        field(value, "visitor").as_str().unwrap_or("?"),
        field(entry, "state").as_str().unwrap_or("?"),
    );
    for row in field(value, "audit").as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {:>15} ms  {:<7} {:<32} {:>9} -> {:<9} {}\n",
            field(row, "at_ms"),
            field(row, "subject").as_str().unwrap_or("?"),
            field(row, "subject_id").as_str().unwrap_or("?"),
            field(row, "from").as_str().unwrap_or("(new)"),
            field(row, "to").as_str().unwrap_or("?"),
            field(row, "reason").as_str().unwrap_or(""),
        ));
    }
    out.trim_end().to_string()
}

/// A field of an admin API answer, `null` when absent (indexing a `Value` would read the
/// same, but the workspace denies indexing outright).
fn field<'a>(value: &'a Value, name: &str) -> &'a Value {
    value.get(name).unwrap_or(&Value::Null)
}
