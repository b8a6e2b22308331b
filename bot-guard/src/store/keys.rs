//! Redis key names of the guard. Every key of a room starts `bg:{ROOM}:`, so Redis Cluster
//! keeps a room's counters on one shard and one script may touch all of them; names are
//! computed here and passed in `KEYS` (a script never builds a key name).

use anteroom_admission::VisitorId;

/// `bg:{ROOM}:` followed by `parts`, pushed into one string (these run for every screened
/// visitor; `format!` would allocate twice per key).
fn key(room: &str, parts: &[&str]) -> String {
    let length = 6 + room.len() + parts.iter().map(|part| part.len()).sum::<usize>();
    let mut key = String::with_capacity(length);
    key.push_str("bg:{");
    key.push_str(room);
    key.push_str("}:");
    for part in parts {
        key.push_str(part);
    }
    key
}

/// A velocity counter (GCRA `tat`, a string with a PX expiry): one per subject and window.
pub fn velocity(room: &str, window_ms: u64, subject: &str) -> String {
    key(room, &["v:", &window_ms.to_string(), ":", subject])
}

/// The holders of places under a subject: a zset of visitor ids scored by last-seen ms.
pub fn places(room: &str, subject: &str) -> String {
    key(room, &["p:", subject])
}

/// A redeemed challenge (`SET NX PX`).
pub fn redeemed(room: &str, challenge_id: &str) -> String {
    key(room, &["r:", challenge_id])
}

/// A shadowed visitor (a string with a PXAT expiry at the end of the shadow).
pub fn shadow(room: &str, visitor: VisitorId) -> String {
    key(room, &["s:", &visitor.to_hex()])
}

/// The room's live rules (JSON, a plain string).
pub fn rules(room: &str) -> String {
    key(room, &["rules"])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_carries_the_room_hash_tag() {
        let v = VisitorId([0xab; 16]);
        let keys = [
            velocity("tour", 10_000, "ip:203.0.113.9"),
            places("tour", "fp:cafe"),
            redeemed("tour", "c1"),
            shadow("tour", v),
            rules("tour"),
        ];
        assert_eq!(keys[0], "bg:{tour}:v:10000:ip:203.0.113.9");
        assert_eq!(keys[3], format!("bg:{{tour}}:s:{}", "ab".repeat(16)));
        assert!(keys.iter().all(|k| k.starts_with("bg:{tour}:")));
        // Subjects under two windows are distinct counters.
        assert_ne!(velocity("tour", 1, "ip:x"), velocity("tour", 2, "ip:x"));
    }
}
