//! Opening a stream: the same checks as any request to the gateway's endpoints (room named,
//! visitor id signed or handed out, the visitor placed), then the limits.

use std::sync::Arc;

use super::hub::{Refusal, StreamHub};
use super::subscription::{Subscription, Update};
use super::StreamKind;
use crate::gateway::endpoints::{current_status, room_param};
use crate::gateway::{Gateway, Reply, RequestFacts, ENDPOINT_PREFIX};

/// An open stream: what to send first, the cookies of its response head, and the rest.
pub struct Opened {
    pub first: Update,
    pub cookies: Vec<String>,
    pub subscription: Subscription,
}

/// Open a stream of `kind` for this request, or the answer that refuses it.
pub async fn open(
    gateway: &Arc<Gateway>,
    facts: &RequestFacts,
    kind: StreamKind,
) -> Result<Opened, Reply> {
    let expected = facts
        .path
        .strip_prefix(ENDPOINT_PREFIX)
        .is_some_and(|name| name == kind.endpoint());
    if !expected {
        return Err(Reply::error(404, "not_found", "no such Anteroom endpoint"));
    }
    if facts.method != "GET" {
        return Err(Reply::error(
            405,
            "method_not_allowed",
            "live streams are opened with GET",
        ));
    }
    let Some(index) = room_param(facts.query.as_deref()).and_then(|id| gateway.room_index(id))
    else {
        return Err(Reply::error(
            404,
            "unknown_room",
            "name an existing room: ?room=ID",
        ));
    };
    let current = current_status(gateway, index, facts).await?;
    let slot = StreamHub::take_slot(gateway, index, current.visitor, kind).map_err(|refusal| {
        gateway
            .metrics
            .streams_refused_total
            .with_label_values(&[kind.label(), refusal.label()])
            .inc();
        let limits = gateway.streams.limits();
        refusal.reply(match refusal {
            Refusal::InstanceFull => limits.max_open,
            Refusal::VisitorFull => limits.max_per_visitor,
        })
    })?;
    let line = match gateway.streams.feed(index) {
        Some(feed) => feed.subscribe(),
        None => return Err(Reply::error(404, "unknown_room", "no such room")),
    };
    let waitlist = gateway.rooms.get(index).and_then(|entry| {
        crate::gateway::waitlist_token::link(
            &gateway.keyring,
            &entry.config.id,
            entry.config.waitlist_url.as_deref(),
            current.visitor,
        )
    });
    let mut subscription = Subscription::new(
        slot,
        line,
        current.status,
        current.ticket,
        current.shadowed,
        waitlist,
    );
    if gateway.guard.enabled(index) {
        if let Some(entry) = gateway.rooms.get(index) {
            subscription =
                subscription.renewing_after(crate::gateway::guard::renew_after(&entry.live()));
        }
    }
    Ok(Opened {
        first: subscription.current(),
        cookies: current.cookies,
        subscription,
    })
}
