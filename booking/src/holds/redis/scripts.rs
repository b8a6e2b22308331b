//! The hold scripts: the shared prelude (`common.lua`) followed by each operation's body.

use fred::types::scripts::Script;

macro_rules! script {
    ($file:literal) => {
        Script::from_lua(concat!(
            include_str!("lua/common.lua"),
            "\n",
            include_str!($file)
        ))
    };
}

pub(super) struct Scripts {
    pub init_capacity: Script,
    pub hold_seats: Script,
    pub hold_quantity: Script,
    pub get: Script,
    pub release: Script,
    pub consume: Script,
    pub mark_booked: Script,
    pub return_to_sale: Script,
    pub held_seats: Script,
    pub available: Script,
}

impl Scripts {
    pub fn new() -> Scripts {
        Scripts {
            init_capacity: script!("lua/init_capacity.lua"),
            hold_seats: script!("lua/hold_seats.lua"),
            hold_quantity: script!("lua/hold_quantity.lua"),
            get: script!("lua/get.lua"),
            release: script!("lua/release.lua"),
            consume: script!("lua/consume.lua"),
            mark_booked: script!("lua/mark_booked.lua"),
            return_to_sale: script!("lua/return_to_sale.lua"),
            held_seats: script!("lua/held_seats.lua"),
            available: script!("lua/available.lua"),
        }
    }

    pub fn all(&self) -> [&Script; 10] {
        [
            &self.init_capacity,
            &self.hold_seats,
            &self.hold_quantity,
            &self.get,
            &self.release,
            &self.consume,
            &self.mark_booked,
            &self.return_to_sale,
            &self.held_seats,
            &self.available,
        ]
    }
}

#[cfg(test)]
mod tests {
    /// Every script reaches keys only through `kcall`, which refuses undeclared keys; the
    /// only direct `redis.call`s are that one and `TIME` (no key).
    #[test]
    fn keys_are_reached_only_through_the_declared_key_guard() {
        let sources = [
            include_str!("lua/common.lua"),
            include_str!("lua/init_capacity.lua"),
            include_str!("lua/hold_seats.lua"),
            include_str!("lua/hold_quantity.lua"),
            include_str!("lua/get.lua"),
            include_str!("lua/release.lua"),
            include_str!("lua/consume.lua"),
            include_str!("lua/mark_booked.lua"),
            include_str!("lua/return_to_sale.lua"),
            include_str!("lua/held_seats.lua"),
            include_str!("lua/available.lua"),
        ];
        let direct: Vec<&str> = sources
            .iter()
            .flat_map(|source| source.lines())
            .filter(|line| line.contains("redis.call(") || line.contains("redis.pcall("))
            .map(str::trim)
            .collect();
        assert_eq!(
            direct,
            vec![
                "return redis.call(command, key, ...)",
                "local t = redis.call('TIME')"
            ]
        );
    }
}
