//! Hold-attempt limits: the bot guard's velocity counters before seat-lock. Every hold attempt
//! counts once against its visitor (`vid:<hex>`) and its client address (`ip_subject`:
//! `ip:<IPv4>`, or an IPv6 client's /64 `ip:<prefix>::/64`) over a one-minute window, both in one `GuardStore::check` (one round trip on Redis, shared by
//! every booking instance on that Redis). Over either limit: `429 too_many_attempts` with
//! `Retry-After`, and nothing is held. A guard store that cannot answer lets the attempt
//! through: the seat locks and the ledger keep sales correct without it, so a Redis hiccup
//! must not stop every sale.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anteroom_admission::VisitorId;
use anteroom_bot_guard::{client_ip, ip_subject, Cidr, GuardCheck, GuardStore, VelocityCheck};
use anteroom_config::HoldsConfig;
use axum::http::{HeaderMap, StatusCode};

use super::errors::ApiError;

/// The limits are per minute.
pub const ATTEMPT_WINDOW_MS: u64 = 60_000;

/// The shared counters and whose `X-Forwarded-For` to believe.
pub struct AttemptGuard {
    store: Arc<dyn GuardStore>,
    trusted_proxies: Vec<Cidr>,
    /// Attempts let through because the store could not count them.
    unavailable: AtomicU64,
}

impl AttemptGuard {
    pub fn new(store: Arc<dyn GuardStore>, trusted_proxies: Vec<Cidr>) -> AttemptGuard {
        AttemptGuard {
            store,
            trusted_proxies,
            unavailable: AtomicU64::new(0),
        }
    }

    /// Hold attempts let through unchecked because the guard store was unavailable.
    pub fn unavailable_total(&self) -> u64 {
        self.unavailable.load(Ordering::Relaxed)
    }

    /// The client of a request from `peer`: the peer itself unless it is a trusted proxy.
    pub fn client(&self, peer: SocketAddr, headers: &HeaderMap) -> IpAddr {
        let forwarded: Vec<&[u8]> = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|value| value.as_bytes())
            .collect();
        client_ip(peer.ip(), &forwarded, &self.trusted_proxies)
    }

    /// Count one hold attempt of `visitor` from `client` (when the socket is known) in `room`.
    pub async fn admit(
        &self,
        room: &str,
        visitor: VisitorId,
        client: Option<IpAddr>,
        limits: &HoldsConfig,
    ) -> Result<(), ApiError> {
        let per_minute = |subject: String, limit: u64| VelocityCheck {
            subject,
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
            window_ms: ATTEMPT_WINDOW_MS,
        };
        let mut velocity = vec![per_minute(
            format!("vid:{}", visitor.to_hex()),
            limits.max_attempts_per_visitor_per_minute,
        )];
        if let Some(ip) = client {
            velocity.push(per_minute(
                ip_subject(ip),
                limits.max_attempts_per_ip_per_minute,
            ));
        }
        let check = GuardCheck {
            velocity,
            places: None,
        };
        let counts = match self.store.check(room, &check).await {
            Ok(counts) => counts,
            Err(error) => {
                self.unavailable.fetch_add(1, Ordering::Relaxed);
                log::warn!("hold attempt let through unchecked: {error}");
                return Ok(());
            }
        };
        let refused = counts
            .velocity
            .iter()
            .zip(&check.velocity)
            .filter_map(|(result, limit)| result.retry_after_ms.map(|ms| (ms, limit)))
            .max_by_key(|(ms, _)| *ms);
        match refused {
            None => Ok(()),
            Some((retry_after_ms, limit)) => Err(too_many_attempts(
                &limit.subject,
                limit.limit,
                retry_after_ms,
            )),
        }
    }
}

fn too_many_attempts(subject: &str, limit: u32, retry_after_ms: u64) -> ApiError {
    let whose = if subject.starts_with("ip:") {
        "from this address"
    } else {
        "by this visitor"
    };
    ApiError {
        retry_after: Some(retry_after_ms.div_ceil(1000).max(1)),
        ..ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!("too many attempts {whose}: at most {limit} a minute; retry later"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        let error = too_many_attempts("vid:00", 2, 29_001);
        assert_eq!(error.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(error.retry_after, Some(30));
        assert_eq!(too_many_attempts("ip:1.2.3.4", 2, 1).retry_after, Some(1));
        assert!(too_many_attempts("ip:1.2.3.4", 2, 1)
            .detail
            .contains("from this address"));
    }
}
