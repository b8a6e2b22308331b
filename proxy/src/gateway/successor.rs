//! The gateway a reload puts in force. It is built from the new config like a fresh one,
//! then takes over what the running one holds that no file states: the store, the metrics,
//! and for every room it keeps (same id) what this instance knows of it (live settings,
//! revocations, figures), its stream feed (open streams keep being woken) and its live
//! bot-guard change.

use anteroom_admission::Keyring;
use anteroom_config::{GatewayConfig, RoomMode};

use super::Gateway;

/// What a reload did to the rooms, by id (for the log).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomChanges {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    /// Kept, with another config (paths, hosts, origin, mode, rates, caps, page, guard).
    pub changed: Vec<String>,
}

impl RoomChanges {
    pub fn summary(&self) -> String {
        let list = |ids: &[String]| {
            if ids.is_empty() {
                "none".to_string()
            } else {
                ids.join(", ")
            }
        };
        format!(
            "added {}; removed {}; changed {}",
            list(&self.added),
            list(&self.removed),
            list(&self.changed)
        )
    }
}

impl Gateway {
    /// The gateway `config` describes, carrying this one's state over (see the module).
    pub fn successor(
        &self,
        config: &GatewayConfig,
        keyring: Keyring,
    ) -> Result<(Gateway, RoomChanges), String> {
        let mut next = Gateway::new(config, keyring, self.store.clone(), self.metrics.clone())?;
        let kept: Vec<Option<usize>> = next
            .rooms
            .iter()
            .map(|room| self.room_index(&room.config.id))
            .collect();
        let mut changes = RoomChanges::default();
        for (entry, previous) in next.rooms.iter_mut().zip(&kept) {
            match previous.and_then(|index| self.rooms.get(index)) {
                Some(old) => {
                    entry.live = old.live.clone();
                    if old.config != entry.config {
                        changes.changed.push(entry.config.id.clone());
                    }
                }
                None => changes.added.push(entry.config.id.clone()),
            }
        }
        changes.removed = self
            .rooms
            .iter()
            .filter(|room| next.room_index(&room.config.id).is_none())
            .map(|room| room.config.id.clone())
            .collect();
        next.streams = self.streams.successor(
            config.streams,
            next.rooms
                .iter()
                .zip(&kept)
                .map(|(room, previous)| (*previous, room.live().settings.clone())),
        );
        next.guard.carry_over(&self.guard, &kept);
        Ok((next, changes))
    }

    /// After `next` took over: the streams of rooms it no longer has are told the room is
    /// closed (nothing would wake them again).
    pub fn close_rooms_gone_from(&self, next: &Gateway) {
        for (index, room) in self.rooms.iter().enumerate() {
            if next.room_index(&room.config.id).is_some() {
                continue;
            }
            if let Some(feed) = self.streams.feed(index) {
                let mut closed = (*room.live()).clone();
                closed.settings.mode = RoomMode::Closed;
                feed.publish(None, &closed);
            }
        }
    }
}
