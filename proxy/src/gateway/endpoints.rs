//! The gateway's own endpoints under `/_anteroom/`: status and leave. The live streams
//! (`events`, `ws`) are opened by the adapter before a request reaches here (`streams`);
//! one that gets here came in a form streams are not served in.

use super::access::AccessOutcome;
use super::engine::{unix_now, Gateway};
use super::guard::CLEARANCE_HEADER;
use super::protected::{blocked_reply, unavailable};
use super::reply::Reply;
use super::status::{StatusObject, VisitorState};
use super::{RequestFacts, ENDPOINT_PREFIX, PASS_COOKIE};
use crate::gateway::cookies::set_cookie;
use anteroom_admission::VisitorId;
use anteroom_config::RoomMode;
use anteroom_queue::Placement;

pub(super) async fn handle(gateway: &Gateway, facts: &RequestFacts) -> Reply {
    let name = &facts.path[ENDPOINT_PREFIX.len()..];
    let Some(index) = room_param(facts.query.as_deref()).and_then(|id| gateway.room_index(id))
    else {
        return match name {
            "status" | "leave" | "events" | "ws" | "challenge" => {
                Reply::error(404, "unknown_room", "name an existing room: ?room=ID")
            }
            _ => Reply::error(404, "not_found", "no such Anteroom endpoint"),
        };
    };
    let mut reply = match (name, facts.method.as_str()) {
        ("status", "GET" | "HEAD") => status(gateway, index, facts).await,
        ("challenge", _) => super::challenge::handle(gateway, index, facts)
            .await
            .served(AccessOutcome::Challenge, Some(index)),
        ("leave", "POST") => leave(gateway, index, facts).await,
        ("events" | "ws", _) => Reply::error(
            400,
            "stream_form",
            "open live streams with `GET /_anteroom/events?room=ID` (HTTP/1.1 or HTTP/2) or \
             `GET /_anteroom/ws?room=ID` (HTTP/1.1), the path spelled exactly so; or poll \
             /_anteroom/status",
        ),
        ("status", _) | ("leave", _) => {
            Reply::error(405, "method_not_allowed", "status is GET, leave is POST")
        }
        _ => Reply::error(404, "not_found", "no such Anteroom endpoint"),
    };
    reply.room = Some(index);
    reply
}

/// The room id from a query string. Room ids are `[A-Za-z0-9_-]`, so no decoding is needed
/// and anything else cannot name a room.
pub(super) fn room_param(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == "room")
        .map(|(_, value)| value)
}

/// Where the visitor stands, as the status endpoint and a stream opening tell it.
pub(super) struct Current {
    pub status: StatusObject,
    /// `Set-Cookie` values for the answer (a visitor id new to the client).
    pub cookies: Vec<String>,
    pub visitor: VisitorId,
    /// The visitor's ticket while it waits in the line.
    pub ticket: Option<u64>,
    /// The status is made up: the visitor is in the guard's shadow line.
    pub shadowed: bool,
    /// A clearance new to the client, for apps' `X-Anteroom-Guard`.
    pub new_clearance: Option<String>,
}

/// Where the visitor stands; joins the queue if not yet in it (the contract has no
/// "absent" state: asking is taking a place).
async fn status(gateway: &Gateway, index: usize, facts: &RequestFacts) -> Reply {
    match current_status(gateway, index, facts).await {
        Ok(current) => status_reply(&current.status, current.new_clearance, current.cookies),
        Err(reply) => reply,
    }
}

/// The status object as an answer: `Retry-After` unless admitted, a clearance new to the
/// client in `X-Anteroom-Guard`, the cookies.
pub(super) fn status_reply(
    status: &StatusObject,
    new_clearance: Option<String>,
    cookies: Vec<String>,
) -> Reply {
    let mut reply = Reply::json_text(200, status.to_json());
    if status.state != VisitorState::Admitted {
        reply = reply.with_header("retry-after", status.retry_after().to_string());
    }
    if let Some(clearance) = new_clearance {
        reply = reply.with_header(CLEARANCE_HEADER, clearance);
    }
    reply.with_cookies(cookies)
}

pub(super) async fn current_status(
    gateway: &Gateway,
    index: usize,
    facts: &RequestFacts,
) -> Result<Current, Reply> {
    let Some(entry) = gateway.rooms.get(index) else {
        return Err(Reply::error(
            404,
            "unknown_room",
            "name an existing room: ?room=ID",
        ));
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
            live.measured_rate(),
        );
        return Ok(Current {
            status,
            cookies: Vec::new(),
            visitor: claims.visitor,
            ticket: None,
            shadowed: false,
            new_clearance: None,
        });
    }
    if live.settings.mode == RoomMode::Passthrough {
        let visitor = gateway.visitor(facts);
        let status = StatusObject::new(
            &entry.config.id,
            visitor.signed,
            Placement::Admitted { expires_at_ms: 0 },
            &live.settings,
            live.waiting,
            None,
            live.measured_rate(),
        );
        return Ok(Current {
            status,
            cookies: visitor.cookie.into_iter().collect(),
            visitor: visitor.id,
            ticket: None,
            shadowed: false,
            new_clearance: None,
        });
    }
    match gateway.place(index, facts).await {
        Ok(placed) if placed.blocked.is_some() => Err(blocked_reply(&RequestFacts {
            wants_json: true,
            ..facts.clone()
        })),
        Ok(placed) => Ok(Current {
            status: placed.status,
            cookies: placed.cookies,
            visitor: placed.visitor,
            ticket: placed.ticket,
            shadowed: placed.shadowed,
            new_clearance: placed.new_clearance,
        }),
        Err(_) => Err(unavailable(&RequestFacts {
            wants_json: true,
            ..facts.clone()
        })),
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
