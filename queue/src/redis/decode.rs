//! Script replies and client errors into the store's types.

use fred::error::{Error, ErrorKind};

use crate::store::{Placement, StoreError};

/// Marker the scripts put in an error reply when the room has no settings.
const NO_ROOM: &str = "ANTEROOM_NO_ROOM";

pub(crate) fn store_error(room: &str, error: Error) -> StoreError {
    let details = error.details();
    if details.contains(NO_ROOM) {
        return StoreError::Invalid(format!("unknown room `{room}`: init_room first"));
    }
    let transient = matches!(
        error.kind(),
        ErrorKind::IO
            | ErrorKind::Timeout
            | ErrorKind::Canceled
            | ErrorKind::Backpressure
            | ErrorKind::Routing
            | ErrorKind::Cluster
    ) || ["LOADING", "BUSY", "MASTERDOWN", "CLUSTERDOWN", "TRYAGAIN"]
        .iter()
        .any(|prefix| details.starts_with(prefix));
    if transient {
        StoreError::Unavailable(error.to_string())
    } else {
        StoreError::Protocol(error.to_string())
    }
}

fn unsigned(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::Protocol(format!("negative {what}: {value}")))
}

/// `{1, position, waiting} | {2, expires_at_ms} | {3} | {4} | {5}`
pub(crate) fn placement(reply: &[i64]) -> Result<Placement, StoreError> {
    match reply {
        [1, position, waiting] => Ok(Placement::Waiting {
            position: unsigned(*position, "position")?,
            waiting: unsigned(*waiting, "waiting")?,
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
            placement(&[1, 3, 10]).ok(),
            Some(Placement::Waiting {
                position: 3,
                waiting: 10
            })
        );
        assert_eq!(
            placement(&[2, 99]).ok(),
            Some(Placement::Admitted { expires_at_ms: 99 })
        );
        assert_eq!(placement(&[3]).ok(), Some(Placement::Absent));
        assert_eq!(placement(&[4]).ok(), Some(Placement::Closed));
        assert_eq!(placement(&[5]).ok(), Some(Placement::SoldOut));
        assert!(placement(&[1, 3]).is_err());
        assert!(placement(&[2, -1]).is_err());
        assert!(placement(&[]).is_err());
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
