//! The admin API (admin listener, `Authorization: Bearer <token>`): rooms' settings and live
//! figures, live changes that every instance applies within a second, revocation.

use std::sync::Arc;

use async_trait::async_trait;
use http::Response;
use pingora::apps::http_app::ServeHttp;
use pingora::protocols::http::ServerSession;
use serde_json::{json, Value};

use anteroom_admission::{constant_time_eq, VisitorId};
use anteroom_config::RoomMode;
use anteroom_queue::{RoomSettings, SettingsPatch, StoreError};

use super::health::StoreHealth;
use super::{error_response, json_response, read_body, MAX_ADMIN_BODY};
use crate::gateway::{guard_rules, CurrentGateway, Gateway};
use crate::runtime::reload::Reloader;

pub struct AdminApi {
    pub current: Arc<CurrentGateway>,
    /// None: no token configured, every request is refused.
    pub token: Option<Vec<u8>>,
    pub health: Arc<StoreHealth>,
    /// None: the gateway was not started from a file (the demo): nothing to reload.
    pub reloader: Option<Arc<Reloader>>,
}

#[async_trait]
impl ServeHttp for AdminApi {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        AdminRequest {
            gateway: self.current.get(),
            api: self,
        }
        .response(session)
        .await
    }
}

/// One admin request, on the gateway in force when it arrived (room indexes stay valid
/// through a reload).
struct AdminRequest<'a> {
    gateway: Arc<Gateway>,
    api: &'a AdminApi,
}

impl AdminRequest<'_> {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        // Probes carry no token and learn nothing secret.
        match (
            session.req_header().method.as_str(),
            session.req_header().uri.path(),
        ) {
            ("GET" | "HEAD", "/healthz") => {
                let (status, body) = self.api.health.healthz();
                return json_response(status, &body);
            }
            ("GET" | "HEAD", "/readyz") => {
                let (status, body) = self.api.health.readyz(self.gateway.keyring.kids().count());
                return json_response(status, &body);
            }
            _ => {}
        }
        if let Some(refusal) = self.refusal(session) {
            return refusal;
        }
        let method = session.req_header().method.as_str().to_string();
        let path = session.req_header().uri.path().to_string();
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (method.as_str(), segments.as_slice()) {
            ("POST", ["v1", "reload"]) => self.reload().await,
            ("GET", ["v1", "rooms"]) => self.list().await,
            ("GET", ["v1", "rooms", id]) => self.show(id).await,
            ("PATCH", ["v1", "rooms", id]) => match read_json(session).await {
                Ok(body) => self.patch(id, &body).await,
                Err(refusal) => *refusal,
            },
            ("POST", ["v1", "rooms", id, "revoke"]) => match read_json(session).await {
                Ok(body) => self.revoke(id, &body).await,
                Err(refusal) => *refusal,
            },
            ("GET", ["v1", "rooms", id, "guard"]) => self.guard(id),
            ("PATCH", ["v1", "rooms", id, "guard"]) => match read_json(session).await {
                Ok(body) => self.patch_guard(id, &body).await,
                Err(refusal) => *refusal,
            },
            (_, ["v1", "rooms", ..]) => {
                error_response(405, "method_not_allowed", "see docs/http-api.md")
            }
            _ => error_response(404, "not_found", "no such admin endpoint"),
        }
    }
}

impl AdminRequest<'_> {
    /// Read the config file again and put it in force (as SIGHUP does).
    async fn reload(&self) -> Response<Vec<u8>> {
        let Some(reloader) = &self.api.reloader else {
            return error_response(404, "not_found", "this gateway was not started from a file");
        };
        match reloader.reload_logged().await {
            Ok(reloaded) => json_response(
                200,
                &json!({
                    "added": reloaded.rooms.added,
                    "removed": reloaded.rooms.removed,
                    "changed": reloaded.rooms.changed,
                    "needs_restart": reloaded.needs_restart,
                }),
            ),
            Err(reason) => error_response(422, "reload_refused", &reason),
        }
    }

    /// A room's bot-guard rules in force, and the live change laid over its config.
    fn guard(&self, id: &str) -> Response<Vec<u8>> {
        let Some(index) = self.gateway.room_index(id) else {
            return error_response(404, "unknown_room", "no room has this id");
        };
        let guard = &self.gateway.guard;
        match guard.rules(index) {
            Some(rules) => json_response(
                200,
                &json!({
                    "room": id,
                    "rules": guard_rules::effective_json(&rules.config),
                    "live": guard_rules::to_json(&guard.live(index)),
                }),
            ),
            None => error_response(404, "unknown_room", "no room has this id"),
        }
    }

    /// Change a room's bot-guard rules live: checked whole (nothing applied on any problem),
    /// kept in the store for every instance (applied by each within a second), in force
    /// here at once.
    async fn patch_guard(&self, id: &str, body: &Value) -> Response<Vec<u8>> {
        let Some(index) = self.gateway.room_index(id) else {
            return error_response(404, "unknown_room", "no room has this id");
        };
        let guard = &self.gateway.guard;
        let change = match guard_rules::parse_live(body) {
            Ok(change) => change,
            Err(problems) => return error_response(400, "invalid_patch", &problems.join("; ")),
        };
        let live = guard_rules::merge(&guard.live(index), &change);
        match guard
            .with_live(index, &live)
            .map(|rules| guard_rules::check(&rules))
        {
            Some(Ok(())) => {}
            Some(Err(problem)) => return error_response(400, "invalid_patch", &problem),
            None => return error_response(404, "unknown_room", "no room has this id"),
        }
        let Some(store) = guard.store() else {
            return error_response(
                503,
                "store_unavailable",
                "the guard's store is not connected yet",
            );
        };
        let text = guard_rules::to_json(&live).to_string();
        if store.set_rules(id, &text).await.is_err() {
            return error_response(
                503,
                "store_unavailable",
                "the guard's store did not answer; nothing changed",
            );
        }
        guard.apply_live(index, live);
        self.guard(id)
    }

    /// The 401 to send unless the request carries the admin token.
    fn refusal(&self, session: &ServerSession) -> Option<Response<Vec<u8>>> {
        let Some(expected) = &self.api.token else {
            return Some(error_response(
                401,
                "unauthorized",
                "the admin API is disabled: set [admin] token in the config",
            ));
        };
        let presented = session
            .req_header()
            .headers
            .get("authorization")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .unwrap_or("");
        if constant_time_eq(presented.as_bytes(), expected) {
            None
        } else {
            Some(error_response(
                401,
                "unauthorized",
                "send Authorization: Bearer <admin token>",
            ))
        }
    }

    async fn list(&self) -> Response<Vec<u8>> {
        let mut rooms = Vec::new();
        for index in 0..self.gateway.rooms.len() {
            rooms.push(self.describe(index).await);
        }
        json_response(200, &Value::Array(rooms))
    }

    async fn show(&self, id: &str) -> Response<Vec<u8>> {
        match self.gateway.room_index(id) {
            Some(index) => json_response(200, &self.describe(index).await),
            None => error_response(404, "unknown_room", "no room has this id"),
        }
    }

    /// Settings and live figures; figures straight from the store when it answers.
    async fn describe(&self, index: usize) -> Value {
        let Some(room) = self.gateway.rooms.get(index) else {
            return json!({ "error": "unknown_room", "detail": "no such room" });
        };
        let live = room.live();
        let id = room.config.id.as_str();
        let stats = match self.gateway.store() {
            Some(store) => self.gateway.timed("stats", store.stats(id)).await.ok(),
            None => None,
        };
        let settings = &live.settings;
        json!({
            "id": id,
            "mode": settings.mode.as_str(),
            "admit_per_second": settings.admit_per_second,
            "max_active": settings.max_active,
            "session_seconds": settings.session_seconds,
            "abandon_after_seconds": settings.abandon_after_seconds,
            "paused": settings.paused,
            "sold_out": settings.sold_out,
            "message": settings.message,
            "waiting": stats.map(|s| s.waiting).unwrap_or(live.waiting),
            "active": stats.map(|s| s.active).unwrap_or(live.active),
            "admitted_total": stats.map(|s| s.admitted_total),
            "joins_total": stats.map(|s| s.joins_total),
            "paths": room.config.paths,
            "hosts": room.config.hosts,
        })
    }

    async fn patch(&self, id: &str, body: &Value) -> Response<Vec<u8>> {
        let Some(index) = self.gateway.room_index(id) else {
            return error_response(404, "unknown_room", "no room has this id");
        };
        let patch = match parse_patch(body) {
            Ok(patch) => patch,
            Err(detail) => return error_response(400, "invalid_patch", &detail),
        };
        let Some(store) = self.gateway.store() else {
            return error_response(503, "store_unavailable", "the store is not connected yet");
        };
        match self
            .gateway
            .timed("update_settings", store.update_settings(id, &patch))
            .await
        {
            Ok(settings) => {
                self.apply_locally(index, settings);
                json_response(200, &self.describe(index).await)
            }
            Err(error) => store_error_response(&error),
        }
    }

    /// This instance applies its own change at once; the others within a refresh.
    fn apply_locally(&self, index: usize, settings: RoomSettings) {
        self.gateway
            .update_live(index, |live| live.settings = settings);
    }

    async fn revoke(&self, id: &str, body: &Value) -> Response<Vec<u8>> {
        let Some(index) = self.gateway.room_index(id) else {
            return error_response(404, "unknown_room", "no room has this id");
        };
        let Some(text) = body.get("visitor").and_then(Value::as_str) else {
            return error_response(400, "invalid_request", "send {\"visitor\": ID}");
        };
        let visitor =
            VisitorId::from_hex(text).or_else(|| self.gateway.keyring.verify_visitor(text));
        let Some(visitor) = visitor else {
            return error_response(
                400,
                "invalid_visitor",
                "visitor must be a 32-hex visitor id or a signed visitor id",
            );
        };
        let Some(store) = self.gateway.store() else {
            return error_response(503, "store_unavailable", "the store is not connected yet");
        };
        match self
            .gateway
            .timed("revoke", store.revoke(id, visitor))
            .await
        {
            Ok(revoked) => {
                // This instance refuses the pass at once; the others within a refresh.
                self.gateway.update_live(index, |live| {
                    live.add_revocations([revoked.revocation]);
                });
                json_response(
                    200,
                    &json!({
                        "room": id,
                        "visitor": visitor.to_hex(),
                        "had_place": revoked.had_place,
                    }),
                )
            }
            Err(error) => store_error_response(&error),
        }
    }
}

/// A store refusal of the request is the client's error (400); anything else is the
/// store's (503, retry).
fn store_error_response(error: &StoreError) -> Response<Vec<u8>> {
    match error {
        StoreError::Invalid(detail) => error_response(400, "invalid_patch", detail),
        _ => error_response(503, "store_unavailable", &error.to_string()),
    }
}

async fn read_json(session: &mut ServerSession) -> Result<Value, Box<Response<Vec<u8>>>> {
    let refusal = |status, code, detail: &str| Box::new(error_response(status, code, detail));
    match read_body(session, MAX_ADMIN_BODY).await {
        Ok(Some(body)) => serde_json::from_slice(&body).map_err(|error| {
            refusal(
                400,
                "invalid_json",
                &format!("request body is not JSON: {error}"),
            )
        }),
        Ok(None) => Err(refusal(413, "body_too_large", "at most 64 KiB")),
        Err(error) => Err(refusal(400, "unreadable_body", &error)),
    }
}

/// Validate a PATCH body: known fields only, each with its allowed values.
pub fn parse_patch(body: &Value) -> Result<SettingsPatch, String> {
    let Some(object) = body.as_object() else {
        return Err("send a JSON object".into());
    };
    let mut patch = SettingsPatch::default();
    for (key, value) in object {
        match key.as_str() {
            "admit_per_second" => {
                // 0 is refused rather than read as "pause": pausing has its own switch
                // (`paused`), which keeps the rate for when the room resumes.
                let rate = value
                    .as_f64()
                    .filter(|rate| rate.is_finite() && *rate > 0.0 && *rate <= 1_000_000.0)
                    .ok_or(
                        "admit_per_second: a number above 0 and at most 1000000 (to stop admitting, send {\"paused\": true})",
                    )?;
                patch.admit_per_second = Some(rate);
            }
            "max_active" => {
                let cap = value
                    .as_u64()
                    .filter(|cap| *cap >= 1)
                    .ok_or("max_active: an integer >= 1")?;
                patch.max_active = Some(cap);
            }
            "mode" => {
                let mode = value
                    .as_str()
                    .and_then(RoomMode::parse)
                    .ok_or_else(|| format!("mode: one of {}", RoomMode::ALLOWED))?;
                patch.mode = Some(mode);
            }
            "message" => match value {
                Value::Null => patch.message = Some(None),
                Value::String(text) if text.len() <= 1000 => {
                    patch.message = Some(Some(text.clone()))
                }
                _ => return Err("message: a string of at most 1000 bytes, or null".into()),
            },
            "paused" => patch.paused = Some(value.as_bool().ok_or("paused: true or false")?),
            "sold_out" => patch.sold_out = Some(value.as_bool().ok_or("sold_out: true or false")?),
            other => {
                return Err(format!(
                    "unknown field `{other}`: allowed are admit_per_second, max_active, mode, message, paused, sold_out"
                ))
            }
        }
    }
    Ok(patch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patch_accepts_known_fields_and_names_bad_ones() {
        let patch =
            parse_patch(&json!({"admit_per_second": 2.5, "mode": "queue-all", "message": null}))
                .unwrap();
        assert_eq!(patch.admit_per_second, Some(2.5));
        assert_eq!(patch.mode, Some(RoomMode::QueueAll));
        assert_eq!(patch.message, Some(None));
        assert!(parse_patch(&json!({"rate": 1}))
            .unwrap_err()
            .contains("rate"));
        assert!(parse_patch(&json!({"mode": "fast"}))
            .unwrap_err()
            .contains("queue-all"));
        assert!(parse_patch(&json!({"max_active": 0})).is_err());
        for rate in [json!(0), json!(0.0), json!(-1), json!(1e7), json!("5")] {
            let refused = parse_patch(&json!({ "admit_per_second": rate })).unwrap_err();
            assert!(refused.contains("above 0"), "{refused}");
        }
        assert!(parse_patch(&json!({"admit_per_second": 0.01})).is_ok());
    }

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret-token", b"secret-token"));
        assert!(!constant_time_eq(b"secret-tokex", b"secret-token"));
        assert!(!constant_time_eq(b"secret", b"secret-token"));
        assert!(!constant_time_eq(b"", b"secret-token"));
    }
}
