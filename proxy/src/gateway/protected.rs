//! A request to a path a room protects: a valid pass goes through (renewed when half used),
//! anything else is placed by the room's mode and either proxied with a fresh pass or
//! answered with the waiting page / 429.

use anteroom_config::{PageTemplate, RoomMode};

use super::access::AccessOutcome;
use super::engine::{unix_now, Gateway};
use super::reply::{Outcome, ProxyPlan, Reply};
use super::status::{StatusObject, VisitorState};
use super::RequestFacts;
use crate::gateway::pages;

pub(super) async fn handle(
    gateway: &Gateway,
    index: usize,
    facts: &mut RequestFacts,
    read_guard: &(dyn Fn(&mut RequestFacts) + Sync),
) -> Outcome {
    let Some(entry) = gateway.rooms.get(index) else {
        // The router only names rooms that exist.
        return Outcome::Reply(Reply::error(404, "unknown_room", "no such room"));
    };
    let live = entry.live();
    let now = unix_now();

    if let Some((token, claims)) = gateway.valid_pass(index, &live, facts, now) {
        let mut plan = ProxyPlan {
            forward_pass: Some(token.to_string()),
            outcome: AccessOutcome::Proxied,
            ..ProxyPlan::to(entry.origin, Some(index))
        };
        // A pass signed by a retiring key is renewed at once, so dropping that key after
        // a session ends nobody's visit.
        if claims.needs_renewal(now, live.settings.session_seconds)
            || !gateway.keyring.signed_with_signing_key(token)
        {
            renew(gateway, index, &claims.visitor, facts, &mut plan).await;
        }
        if let Some((signed, cookie)) = gateway.resign_visitor(claims.visitor, facts) {
            plan.set_cookies.push(cookie);
            plan.new_visitor_token = Some(signed);
        }
        return Outcome::Proxy(plan);
    }

    if live.settings.mode == RoomMode::Passthrough {
        return Outcome::Proxy(ProxyPlan {
            outcome: AccessOutcome::Passthrough,
            ..ProxyPlan::to(entry.origin, Some(index))
        });
    }

    if facts.guard.skipped && gateway.guard.enabled(index) {
        // No pass was valid: the guard must see the request's headers and clearance, which
        // the adapter skipped for a request carrying one (else any string as a pass would
        // hide a bot's User-Agent and fingerprint, and a fan's clearance).
        read_guard(facts);
    }
    let facts = &*facts;
    let room = Some(index);
    match gateway.place(index, facts).await {
        Ok(placed) if placed.blocked.is_some() => {
            Outcome::Reply(blocked_reply(facts).served(AccessOutcome::Blocked, room))
        }
        Ok(placed) => match placed.issued_pass {
            Some(pass) => Outcome::Proxy(ProxyPlan {
                forward_pass: Some(pass.clone()),
                set_cookies: placed.cookies,
                issued_pass: Some(pass),
                new_visitor_token: placed.new_visitor_token,
                outcome: AccessOutcome::Admitted,
                ..ProxyPlan::to(entry.origin, Some(index))
            }),
            None => Outcome::Reply(
                queue_reply(&placed.status, entry.config.page_template.as_ref(), facts)
                    .with_cookies(placed.cookies)
                    .served(waiting_outcome(&placed.status, facts), room),
            ),
        },
        Err(_) => Outcome::Reply(unavailable(facts).served(AccessOutcome::Unavailable, room)),
    }
}

/// Sliding renewal: extend the session in the store and hand out a fresh pass. On any
/// failure the current pass simply stays in use until it expires.
async fn renew(
    gateway: &Gateway,
    index: usize,
    visitor: &anteroom_admission::VisitorId,
    facts: &RequestFacts,
    plan: &mut ProxyPlan,
) {
    let (Some(store), Some(entry)) = (gateway.store(), gateway.rooms.get(index)) else {
        return;
    };
    let room = entry.config.id.as_str();
    if let Ok(Some(expires_at_ms)) = gateway.timed("renew", store.renew(room, *visitor)).await {
        let (token, cookies) = gateway.issue_pass(&entry.config, *visitor, expires_at_ms, facts);
        plan.forward_pass = Some(token.clone());
        plan.issued_pass = Some(token);
        plan.set_cookies.extend(cookies);
    }
}

/// What a visitor who may not enter yet was told, for the access log.
fn waiting_outcome(status: &StatusObject, facts: &RequestFacts) -> AccessOutcome {
    match status.state {
        _ if status.challenge.is_some() => AccessOutcome::Challenge,
        VisitorState::Closed => AccessOutcome::Closed,
        VisitorState::SoldOut => AccessOutcome::SoldOut,
        _ if facts.wants_json => AccessOutcome::Queued,
        _ => AccessOutcome::WaitingPage,
    }
}

/// The answer for a visitor who may not enter yet: HTML for browsers, JSON for apps.
pub(super) fn queue_reply(
    status: &StatusObject,
    template: Option<&PageTemplate>,
    facts: &RequestFacts,
) -> Reply {
    let retry_after = status.retry_after().to_string();
    if facts.wants_json {
        let code = match status.state {
            VisitorState::Closed => 503,
            VisitorState::SoldOut => 410,
            _ => 429,
        };
        return Reply::json_text(code, status.to_json()).with_header("retry-after", retry_after);
    }
    // A closed room shows the same page (it checks again by itself), with the status code
    // that tells caches and monitors the door is shut.
    let page = pages::waiting_page(status, template);
    match status.state {
        VisitorState::Closed => Reply::html(503, page).with_header("retry-after", retry_after),
        _ => Reply::html(200, page),
    }
}

/// The answer to a visitor the bot guard turned away. It names no reason: a bot learns
/// nothing from it to adjust to.
pub(super) fn blocked_reply(facts: &RequestFacts) -> Reply {
    let detail = "this request was refused; if you think this is a mistake, contact the site";
    if facts.wants_json {
        Reply::error(403, "blocked", detail)
    } else {
        Reply::html(403, pages::error_page(403, "Access refused", detail))
    }
}

pub(super) fn unavailable(facts: &RequestFacts) -> Reply {
    let detail = "the queue is briefly unavailable; your place is kept, try again in a few seconds";
    let reply = if facts.wants_json {
        Reply::error(503, "queue_unavailable", detail)
    } else {
        Reply::html(503, pages::error_page(503, "We'll be right back", detail))
    };
    reply.with_header("retry-after", "5")
}
