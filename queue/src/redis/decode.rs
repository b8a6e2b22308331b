//! Script replies and client errors into the store's types.

use fred::error::{Error, ErrorKind};

use anteroom_admission::VisitorId;

use crate::keys::parse_visitor_member;
use crate::store::{Frontier, Joined, Left, Placement, Revocation, RevocationPage, StoreError};

/// Marker the scripts put in an error reply when the room has no settings.
const NO_ROOM: &str = "ANTEROOM_NO_ROOM";

/// Redis down, timing out, loading or failing over: the caller may retry; anything else is a
/// reply the code did not expect. Shared with the other Redis clients (the bot guard).
pub fn is_transient_redis_error(error: &Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::IO
            | ErrorKind::Timeout
            | ErrorKind::Canceled
            | ErrorKind::Backpressure
            | ErrorKind::Routing
            | ErrorKind::Cluster
    ) || ["LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN"]
        .iter()
        .any(|prefix| error.details().starts_with(prefix))
}

pub(crate) fn unknown_room(room: &str) -> StoreError {
    StoreError::Invalid(format!("unknown room `{room}`: init_room first"))
}

pub(crate) fn store_error(room: &str, error: Error) -> StoreError {
    let details = error.details();
    if details.contains(NO_ROOM) {
        return unknown_room(room);
    }
    if is_transient_redis_error(&error) {
        StoreError::Unavailable(error.to_string())
    } else {
        StoreError::Protocol(error.to_string())
    }
}

fn unsigned(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Protocol(format!("negative {what}: {value}")))
}

/// `{1, position, waiting, ticket} | {2, expires_at_ms} | {3} | {4} | {5}`
pub(crate) fn placement(reply: &[i64]) -> Result<Placement, StoreError> {
    match reply {
        [1, position, waiting, ticket] => Ok(Placement::Waiting {
            position: unsigned(*position, "position")?,
            waiting: unsigned(*waiting, "waiting")?,
            ticket: unsigned(*ticket, "ticket")?,
        }),
        [2, expires] => Ok(Placement::Admitted {
            expires_at_ms: unsigned(*expires, "expiry")?,
        }),
        [3] => Ok(Placement::Absent),
        [4] => Ok(Placement::Closed),
        [5] => Ok(Placement::SoldOut),
        other => Err(StoreError::Protocol(format!(
            "unexpected placement reply {other:?}"
        ))),
    }
}

/// join's reply: a placement followed by the new-place flag.
pub(crate) fn joined(reply: &[i64]) -> Result<Joined, StoreError> {
    let Some((new, placed)) = reply.split_last() else {
        return Err(StoreError::Protocol("empty join reply".into()));
    };
    Ok(Joined {
        placement: placement(placed)?,
        new_place: *new == 1,
    })
}

fn revocation(visitor: VisitorId, cutoff: i64) -> Result<Revocation, StoreError> {
    Ok(Revocation {
        visitor,
        passes_expiring_by_ms: unsigned(cutoff, "revocation cutoff")?,
    })
}

/// leave's reply: `{had, 0} | {had, 1, cutoff}`.
pub(crate) fn left(reply: &[i64], visitor: VisitorId) -> Result<Left, StoreError> {
    match reply {
        [had, 0] => Ok(Left {
            had_place: *had == 1,
            revocation: None,
        }),
        [had, 1, cutoff] => Ok(Left {
            had_place: *had == 1,
            revocation: Some(revocation(visitor, *cutoff)?),
        }),
        other => Err(StoreError::Protocol(format!(
            "unexpected leave reply {other:?}"
        ))),
    }
}

/// The revocation log page: `{cursor, more, visitor, cutoff, ...}`.
pub(crate) fn revocation_page(reply: &[String]) -> Result<RevocationPage, StoreError> {
    let [cursor, more, entries @ ..] = reply else {
        return Err(StoreError::Protocol("short revocations reply".into()));
    };
    let pairs = entries.chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return Err(StoreError::Protocol("odd revocations reply".into()));
    }
    let mut revocations = Vec::with_capacity(entries.len() / 2);
    for pair in pairs {
        let [member, cutoff] = pair else { continue };
        let visitor = parse_visitor_member(member)
            .ok_or_else(|| StoreError::Protocol(format!("bad revoked member `{member}`")))?;
        let cutoff: i64 = cutoff
            .parse()
            .map_err(|_| StoreError::Protocol(format!("bad revocation cutoff `{cutoff}`")))?;
        revocations.push(revocation(visitor, cutoff)?);
    }
    Ok(RevocationPage {
        revocations,
        cursor: cursor.clone(),
        more: more == "1",
    })
}

fn number(text: &str, what: &str) -> Result<u64, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Protocol(format!("bad {what} `{text}` in frontier reply")))
}

/// `{epoch, head or "", waiting, changed_ms, cursor, more, gap, ...}`
pub(crate) fn frontier(reply: &[String]) -> Result<Frontier, StoreError> {
    let [epoch, head, waiting, changed_ms, cursor, more, gaps @ ..] = reply else {
        return Err(StoreError::Protocol(format!(
            "short frontier reply {reply:?}"
        )));
    };
    Ok(Frontier {
        epoch: epoch.clone(),
        head: match head.as_str() {
            "" => None,
            ticket => Some(number(ticket, "head")?),
        },
        waiting: number(waiting, "waiting")?,
        gaps: gaps
            .iter()
            .map(|gap| number(gap, "gap"))
            .collect::<Result<_, _>>()?,
        cursor: number(cursor, "cursor")?,
        more: more == "1",
        changed_at_ms: number(changed_ms, "changed_ms")?,
    })
}

/// A fixed-length array of non-negative integers.
pub(crate) fn counts<const N: usize>(reply: &[i64], what: &str) -> Result<[u64; N], StoreError> {
    if reply.len() != N {
        return Err(StoreError::Protocol(format!(
            "{what}: expected {N} numbers, got {reply:?}"
        )));
    }
    let mut out = [0u64; N];
    for (slot, value) in out.iter_mut().zip(reply) {
        *slot = unsigned(*value, what)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placements_decode() {
        assert_eq!(
            placement(&[1, 3, 10, 42]).ok(),
            Some(Placement::Waiting {
                position: 3,
                waiting: 10,
                ticket: 42
            })
        );
        assert_eq!(
            placement(&[2, 99]).ok(),
            Some(Placement::Admitted { expires_at_ms: 99 })
        );
        assert_eq!(placement(&[3]).ok(), Some(Placement::Absent));
        assert_eq!(placement(&[4]).ok(), Some(Placement::Closed));
        assert_eq!(placement(&[5]).ok(), Some(Placement::SoldOut));
        assert!(placement(&[1, 3, 10]).is_err());
        assert!(placement(&[2, -1]).is_err());
        assert!(placement(&[]).is_err());
    }

    #[test]
    fn join_and_leave_replies_decode() {
        let joined = joined(&[1, 2, 5, 9, 1]).expect("joined");
        assert_eq!(
            joined.placement,
            Placement::Waiting {
                position: 2,
                waiting: 5,
                ticket: 9
            }
        );
        assert!(joined.new_place);
        assert!(!super::joined(&[2, 99, 0]).expect("found").new_place);
        assert!(super::joined(&[]).is_err());
        let v = VisitorId([7; 16]);
        assert_eq!(left(&[1, 0], v).expect("left").revocation, None);
        let revoked = left(&[1, 1, 500], v).expect("left");
        assert_eq!(
            revoked.revocation.map(|r| r.passes_expiring_by_ms),
            Some(500)
        );
        assert!(left(&[1, 1], v).is_err());
    }

    #[test]
    fn revocation_pages_decode() {
        let member = "ab".repeat(16);
        let reply: Vec<String> = ["9-1", "1", member.as_str(), "1700000000000"]
            .map(String::from)
            .to_vec();
        let page = revocation_page(&reply).expect("page");
        assert_eq!(page.cursor, "9-1");
        assert!(page.more);
        assert_eq!(page.revocations.len(), 1);
        assert!(revocation_page(&reply[..3]).is_err());
        assert!(revocation_page(&["x".to_string()]).is_err());
    }

    #[test]
    fn frontier_replies_decode() {
        let reply: Vec<String> = ["17.5", "4", "10", "99", "12", "1", "5", "8"]
            .map(String::from)
            .to_vec();
        let f = frontier(&reply).expect("frontier");
        assert_eq!(
            f,
            Frontier {
                epoch: "17.5".into(),
                head: Some(4),
                waiting: 10,
                gaps: vec![5, 8],
                cursor: 12,
                more: true,
                changed_at_ms: 99,
            }
        );
        let empty: Vec<String> = ["e", "", "0", "0", "0", "0"].map(String::from).to_vec();
        assert_eq!(frontier(&empty).expect("empty").head, None);
        assert!(frontier(&reply[..5]).is_err());
        let bad: Vec<String> = ["e", "x", "0", "0", "0", "0"].map(String::from).to_vec();
        assert!(frontier(&bad).is_err());
    }

    #[test]
    fn no_room_marker_is_invalid_request() {
        let e = Error::new(
            ErrorKind::Unknown,
            "ANTEROOM_NO_ROOM room is not initialised",
        );
        assert!(matches!(store_error("r", e), StoreError::Invalid(_)));
        let e = Error::new(ErrorKind::Timeout, "Request timed out.");
        assert!(matches!(store_error("r", e), StoreError::Unavailable(_)));
    }
}
