//! `/_anteroom/challenge`: the bot guard's proof of work, seen from the visitor. `GET` hands
//! out a signed challenge priced for this visitor now; `POST` takes a solution (and the
//! client report of the waiting page), checks it, redeems it once in the shared store, and
//! screens the visitor again with the proof: a solved challenge is what lets a challenged
//! visitor take a place and a shadowed one out of the shadow.

use anteroom_bot_guard::{parse_nonces, verify, ClientFingerprint, Work, MAX_CLIENT_FP_BYTES};
use serde::Deserialize;

use super::endpoints::status_reply;
use super::engine::{unix_now, Gateway};
use super::guard::CHALLENGE_TTL_SECONDS;
use super::protected::{blocked_reply, unavailable};
use super::reply::Reply;
use super::RequestFacts;

/// A posted body larger than this is refused (a challenge, 16 nonces and a client report fit
/// in a fraction of it).
pub const MAX_BODY: usize = 8 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Posted {
    challenge: Option<String>,
    nonces: Option<String>,
    fingerprint: Option<serde_json::Value>,
}

pub(super) async fn handle(gateway: &Gateway, index: usize, facts: &RequestFacts) -> Reply {
    if !gateway.guard.enabled(index) {
        return Reply::error(
            404,
            "guard_off",
            "this room's bot guard is off: no challenge to solve",
        );
    }
    match facts.method.as_str() {
        "GET" => issue(gateway, index, facts).await,
        "POST" => solve(gateway, index, facts).await,
        _ => Reply::error(
            405,
            "method_not_allowed",
            "GET a challenge, POST its solution",
        ),
    }
}

async fn issue(gateway: &Gateway, index: usize, facts: &RequestFacts) -> Reply {
    let Some(entry) = gateway.rooms.get(index) else {
        return Reply::error(404, "unknown_room", "no such room");
    };
    let room = entry.config.id.as_str();
    let visitor = gateway.visitor(facts);
    let live = entry.live();
    let (challenge, level) = gateway
        .guard
        .challenge_for(
            room,
            index,
            &live,
            facts,
            visitor.id,
            asked_difficulty(facts),
        )
        .await;
    gateway.metrics.count_challenge(room, "issued");
    let work = Work::of(level);
    Reply::json(
        200,
        &serde_json::json!({
            "challenge": challenge,
            "difficulty": level,
            "sub_puzzles": work.sub_puzzles,
            "bits": work.bits,
            "expires_at": unix_now() + CHALLENGE_TTL_SECONDS,
        }),
    )
    .with_cookies(visitor.cookie.into_iter().collect())
}

async fn solve(gateway: &Gateway, index: usize, facts: &RequestFacts) -> Reply {
    let Some(entry) = gateway.rooms.get(index) else {
        return Reply::error(404, "unknown_room", "no such room");
    };
    let room = entry.config.id.as_str();
    let Some(visitor) = facts
        .visitor_token
        .as_deref()
        .and_then(|token| gateway.keyring.verify_visitor(token))
    else {
        return Reply::error(
            400,
            "unknown_visitor",
            "send the anteroom_vid cookie or the X-Anteroom-Visitor header the challenge was issued to",
        );
    };
    let body = facts.body.as_deref().unwrap_or_default();
    if body.len() > MAX_BODY {
        return Reply::error(413, "body_too_large", "at most 8 KiB");
    }
    let posted: Posted = match serde_json::from_slice(body) {
        Ok(posted) => posted,
        Err(error) => {
            return Reply::error(
                400,
                "malformed_body",
                &format!("expected {{\"challenge\", \"nonces\", \"fingerprint\"}}: {error}"),
            )
        }
    };
    let client = posted.fingerprint.as_ref().and_then(|value| {
        let text = value.to_string();
        (text.len() <= MAX_CLIENT_FP_BYTES)
            .then(|| ClientFingerprint::parse(text.as_bytes()).ok())
            .flatten()
    });
    let mut proof = None;
    if let Some(challenge) = posted.challenge.as_deref() {
        let nonces = posted.nonces.as_deref().unwrap_or_default();
        let now = unix_now();
        let verified = parse_nonces(nonces).and_then(|nonces| {
            verify(
                challenge,
                &nonces,
                room,
                visitor,
                now,
                gateway.guard.challenge_key(),
            )
        });
        let verified = match verified {
            Ok(verified) => verified,
            Err(error) => {
                gateway.metrics.count_challenge(room, "failed");
                return Reply::error(400, "challenge_failed", error.as_label());
            }
        };
        let Some(store) = gateway.guard.store() else {
            return unavailable(&json(facts));
        };
        let ttl_ms = verified
            .expires_at
            .saturating_sub(now)
            .saturating_add(60)
            .saturating_mul(1000);
        match store.redeem(room, &verified.id, ttl_ms).await {
            Ok(true) => {}
            Ok(false) => {
                gateway.metrics.count_challenge(room, "replayed");
                return Reply::error(
                    409,
                    "challenge_used",
                    "this challenge was already redeemed: get a new one",
                );
            }
            Err(_) => return unavailable(&json(facts)),
        }
        gateway.metrics.count_challenge(room, "solved");
        proof = Some(verified.difficulty);
    }
    match gateway.place_screened(index, facts, proof, client).await {
        Ok(placed) if placed.blocked.is_some() => blocked_reply(&json(facts)),
        Ok(placed) => status_reply(&placed.status, placed.new_clearance, placed.cookies),
        Err(_) => unavailable(&json(facts)),
    }
}

/// `&difficulty=D` in the query: the level the visitor's last status asked for. A solution
/// is screened again with the page's client report, which can price it above what the
/// request headers alone price a GET at; asking for that level ends the round trip. Never
/// lowers the price.
fn asked_difficulty(facts: &RequestFacts) -> u8 {
    facts
        .query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == "difficulty")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0)
}

fn json(facts: &RequestFacts) -> RequestFacts {
    RequestFacts {
        wants_json: true,
        ..facts.clone()
    }
}
