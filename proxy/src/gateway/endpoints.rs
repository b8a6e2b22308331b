//! The gateway's own endpoints under `/_anteroom/`: status and leave (streams arrive with
//! the live-position work).

use super::engine::{unix_now, Gateway};
use super::protected::unavailable;
use super::reply::Reply;
use super::status::{StatusObject, VisitorState};
use super::{RequestFacts, ENDPOINT_PREFIX, PASS_COOKIE};
use crate::gateway::cookies::set_cookie;
use anteroom_config::RoomMode;
use anteroom_queue::Placement;

pub(super) async fn handle(gateway: &Gateway, facts: &RequestFacts) -> Reply {
    let name = &facts.path[ENDPOINT_PREFIX.len()..];
    let Some(index) = room_param(facts.query.as_deref()).and_then(|id| gateway.room_index(id))
    else {
        return match name {
            "status" | "leave" | "events" | "ws" => {
                Reply::error(404, "unknown_room", "name an existing room: ?room=ID")
            }
            _ => Reply::error(404, "not_found", "no such Anteroom endpoint"),
        };
    };
    match (name, facts.method.as_str()) {
        ("status", "GET" | "HEAD") => status(gateway, index, facts).await,
        ("leave", "POST") => leave(gateway, index, facts).await,
        ("events" | "ws", _) => Reply::error(
            501,
            "not_implemented",
            "live streams are not available on this gateway yet; poll /_anteroom/status",
        ),
        ("status", _) | ("leave", _) => {
            Reply::error(405, "method_not_allowed", "status is GET, leave is POST")
        }
        _ => Reply::error(404, "not_found", "no such Anteroom endpoint"),
    }
}

/// The room id from a query string. Room ids are `[A-Za-z0-9_-]`, so no decoding is needed
/// and anything else cannot name a room.
fn room_param(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == "room")
        .map(|(_, value)| value)
}

/// Where the visitor stands; joins the queue if not yet in it (the contract has no
/// "absent" state: asking is taking a place).
async fn status(gateway: &Gateway, index: usize, facts: &RequestFacts) -> Reply {
    let Some(entry) = gateway.rooms.get(index) else {
        return Reply::error(404, "unknown_room", "name an existing room: ?room=ID");
    };
    let live = entry.live();
    let now = unix_now();
    if let Some((token, claims)) = gateway.valid_pass(index, &live, facts, now) {
        // The pass names its visitor: no new id, even for an app that sent only the pass.
        let status = StatusObject::new(
            &entry.config.id,
            gateway.keyring.sign_visitor(claims.visitor),
            Placement::Admitted {
                expires_at_ms: claims.expires_at.saturating_mul(1000),
            },
            &live.settings,
            live.waiting,
            Some(token.to_string()),
        );
        return Reply::json_text(200, status.to_json());
    }
    if live.settings.mode == RoomMode::Passthrough {
        let visitor = gateway.visitor(facts);
        let cookie = visitor.cookie;
        let status = StatusObject::new(
            &entry.config.id,
            visitor.signed,
            Placement::Admitted { expires_at_ms: 0 },
            &live.settings,
            live.waiting,
            None,
        );
        return Reply::json_text(200, status.to_json()).with_cookies(cookie.into_iter().collect());
    }
    match gateway.place(index, facts).await {
        Ok(placed) => {
            let mut reply = Reply::json_text(200, placed.status.to_json());
            if placed.status.state != VisitorState::Admitted {
                reply = reply.with_header("retry-after", placed.status.retry_after().to_string());
            }
            reply.with_cookies(placed.cookies)
        }
        Err(_) => unavailable(&RequestFacts {
            wants_json: true,
            ..facts.clone()
        }),
    }
}

/// Give the place (or the active session) up: the session's passes are revoked and the
/// pass cookie dropped.
async fn leave(gateway: &Gateway, index: usize, facts: &RequestFacts) -> Reply {
    let Some(entry) = gateway.rooms.get(index) else {
        return Reply::error(404, "unknown_room", "name an existing room: ?room=ID");
    };
    let Some(visitor) = facts
        .visitor_token
        .as_deref()
        .and_then(|token| gateway.keyring.verify_visitor(token))
    else {
        return Reply::error(
            400,
            "unknown_visitor",
            "send the anteroom_vid cookie or the X-Anteroom-Visitor header",
        );
    };
    let Some(store) = gateway.store() else {
        return unavailable(&RequestFacts {
            wants_json: true,
            ..facts.clone()
        });
    };
    match gateway
        .timed("leave", store.leave(&entry.config.id, visitor))
        .await
    {
        Ok(left) => {
            // The session's passes stop working here at once, elsewhere within a refresh.
            if let Some(revocation) = left.revocation {
                gateway.update_live(index, |live| live.add_revocations([revocation]));
            }
            let clear: Vec<String> = entry
                .config
                .paths
                .iter()
                .map(|path| set_cookie(PASS_COOKIE, "", path, 0, facts.tls))
                .collect();
            Reply::json(
                200,
                &serde_json::json!({ "room": entry.config.id, "left": left.had_place }),
            )
            .with_cookies(clear)
        }
        Err(_) => unavailable(&RequestFacts {
            wants_json: true,
            ..facts.clone()
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::room_param;

    #[test]
    fn room_param_is_found_among_others() {
        assert_eq!(room_param(Some("x=1&room=tour-2027")), Some("tour-2027"));
        assert_eq!(room_param(Some("rooms=a")), None);
        assert_eq!(room_param(None), None);
    }
}
