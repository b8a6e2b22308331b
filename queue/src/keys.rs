//! Redis key names of a room and the visitor's member text. Every key of a room carries the
//! hash tag `{ROOM}`, so Redis Cluster keeps a room on one shard and its scripts may touch
//! all of them.

use anteroom_admission::VisitorId;

/// The keys of one room, in the order every script receives them as `KEYS[1..12]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomKeys {
    keys: [String; 12],
}

/// Names of the keys, in `KEYS` order. `revocations` is a stream (the revocation log),
/// `clock` the room's abandonment clock (ADR 0004); `gaps`, `gaplog` and `frontier` keep the
/// tickets removed out of order for position fan-out (ADR 0005).
pub const KEY_SUFFIXES: [&str; 12] = [
    "queue",
    "seq",
    "active",
    "seen",
    "settings",
    "bucket",
    "stats",
    "revocations",
    "clock",
    "gaps",
    "gaplog",
    "frontier",
];

impl RoomKeys {
    pub fn new(room: &str) -> RoomKeys {
        RoomKeys {
            keys: KEY_SUFFIXES.map(|suffix| {
                // Pushed, not `format!`ed: twelve names are made for every store call.
                let mut key = String::with_capacity(room.len() + suffix.len() + 6);
                key.push_str("ar:{");
                key.push_str(room);
                key.push_str("}:");
                key.push_str(suffix);
                key
            }),
        }
    }

    /// `[queue, seq, active, seen, settings, bucket, stats, revocations, clock, gaps, gaplog,
    /// frontier]`
    pub fn all(&self) -> &[String; 12] {
        &self.keys
    }

    pub fn to_vec(&self) -> Vec<String> {
        self.keys.to_vec()
    }
}

/// The visitor as a sorted-set member: 32 lowercase hex digits (its text form).
pub fn visitor_member(visitor: VisitorId) -> String {
    anteroom_admission::hex_lower(&visitor.0)
}

/// Inverse of `visitor_member`; None for anything but 32 lowercase hex digits.
pub fn parse_visitor_member(text: &str) -> Option<VisitorId> {
    let text = text.as_bytes();
    if text.len() != 32 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut bytes = [0u8; 16];
    for (out, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
        let [high, low] = pair else { return None };
        *out = (digit(*high)? << 4) | digit(*low)?;
    }
    Some(VisitorId(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_share_the_room_hash_tag() {
        let keys = RoomKeys::new("tour-2027");
        assert_eq!(keys.all()[0], "ar:{tour-2027}:queue");
        assert_eq!(keys.all()[7], "ar:{tour-2027}:revocations");
        assert_eq!(keys.all()[8], "ar:{tour-2027}:clock");
        assert_eq!(keys.all()[11], "ar:{tour-2027}:frontier");
        assert!(keys.all().iter().all(|k| k.starts_with("ar:{tour-2027}:")));
    }

    #[test]
    fn member_text_round_trips() {
        let v = VisitorId([0xab; 16]);
        let text = visitor_member(v);
        assert_eq!(text, "ab".repeat(16));
        assert_eq!(parse_visitor_member(&text), Some(v));
        assert_eq!(parse_visitor_member("AB"), None);
        assert_eq!(parse_visitor_member(&"AB".repeat(16)), None);
    }
}
