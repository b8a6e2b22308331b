//! `GET /v1/events/{id}/seats/ws`: the live seat map. A viewer gets the whole map when it
//! connects, then every change. One feed per event, alive while it has viewers: it re-reads
//! the map when this process changes a seat (at once) and every 500 ms (hold expiries, other
//! instances) and hands the snapshot to every viewer, which sends only what changed since
//! what *it* last sent — so no change can fall between a viewer's first map and the feed.
//! Snapshots are shared (`Arc`), never copied per viewer, and the feed works out each
//! update's change messages once: a viewer whose last map is the update's previous one (the
//! usual case) just sends them, O(changes); only a viewer that joined or lagged compares
//! whole maps.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::rejection::PathRejection;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;
use tokio::sync::{broadcast, Notify};

use super::errors::ApiError;
use super::events::seat_states;
use super::input::{path_id, upgrade};
use super::{auth, BookingService};
use crate::{EventSpec, Inventory};

/// Re-read interval: hold expiries and other instances' changes show within it.
const POLL: Duration = Duration::from_millis(500);
/// Changes buffered per viewer; a viewer that falls further behind gets the whole map again.
const BUFFER: usize = 256;

type Snapshot = Arc<Vec<(String, &'static str)>>;

/// One published map, with the change messages from the map published before it.
#[derive(Clone)]
struct Update {
    snapshot: Snapshot,
    previous: Option<Snapshot>,
    changes: Arc<Vec<String>>,
}

impl Update {
    fn after(previous: Option<Snapshot>, snapshot: Snapshot) -> Update {
        let changes = match &previous {
            Some(previous) => diff(previous, &snapshot),
            None => Vec::new(),
        };
        Update {
            snapshot,
            previous,
            changes: Arc::new(changes),
        }
    }
}

/// `change` messages for every seat whose state differs (maps list seats in one order).
fn diff(before: &[(String, &'static str)], after: &[(String, &'static str)]) -> Vec<String> {
    after
        .iter()
        .zip(before)
        .filter(|((_, state), (_, was))| state != was)
        .map(|((seat, state), _)| {
            json!({ "type": "change", "seat": seat, "state": state }).to_string()
        })
        .collect()
}

/// What a viewer that last sent `sent` must send for `update`: the feed's own messages
/// when `sent` is the update's previous map, else a comparison of the two whole maps.
fn changes_for(sent: &Snapshot, update: &Update) -> Arc<Vec<String>> {
    match &update.previous {
        Some(previous) if Arc::ptr_eq(previous, sent) => update.changes.clone(),
        _ => Arc::new(diff(sent, &update.snapshot)),
    }
}

#[derive(Clone)]
struct Feed {
    snapshots: broadcast::Sender<Update>,
    poke: Arc<Notify>,
}

#[derive(Default)]
pub struct Feeds {
    feeds: Mutex<HashMap<String, Feed>>,
}

impl Feeds {
    /// This process changed a seat of `event`: viewers hear of it now, not at the next poll.
    pub fn poke(&self, event: &str) {
        if let Some(feed) = self.lock().get(event) {
            feed.poke.notify_one();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Feed>> {
        self.feeds
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The event's feed, starting its poller if it has none.
    fn subscribe(
        &self,
        service: &Arc<BookingService>,
        event: &Arc<EventSpec>,
    ) -> broadcast::Receiver<Update> {
        let mut feeds = self.lock();
        if let Some(feed) = feeds.get(&event.id) {
            return feed.snapshots.subscribe();
        }
        let (snapshots, receiver) = broadcast::channel(BUFFER);
        let feed = Feed {
            snapshots,
            poke: Arc::new(Notify::new()),
        };
        feeds.insert(event.id.clone(), feed.clone());
        tokio::spawn(poll(service.clone(), event.clone(), feed));
        receiver
    }
}

fn map_message(states: &[(String, &'static str)]) -> String {
    let seats: Vec<_> = states
        .iter()
        .map(|(seat, state)| json!({ "seat": seat, "state": state }))
        .collect();
    json!({ "type": "map", "seats": seats }).to_string()
}

async fn poll(service: Arc<BookingService>, event: Arc<EventSpec>, feed: Feed) {
    let mut last: Option<Snapshot> = None;
    loop {
        // A poke (this process changed a seat) always publishes; a timer tick only when the
        // map changed (expiries, other instances).
        let poked = tokio::select! {
            _ = tokio::time::sleep(POLL) => false,
            _ = feed.poke.notified() => true,
        };
        if feed.snapshots.receiver_count() == 0 {
            // Nobody watches: drop the feed (a new viewer starts a new one).
            let mut feeds = service.feeds.lock();
            if feed.snapshots.receiver_count() == 0 {
                feeds.remove(&event.id);
                return;
            }
        }
        let Ok(states) = seat_states(&service, &event).await else {
            continue;
        };
        let snapshot: Snapshot = Arc::new(states);
        // An unchanged map keeps the published Arc: viewers recognise it as their own.
        if poked || last.as_ref() != Some(&snapshot) {
            let _ = feed
                .snapshots
                .send(Update::after(last.clone(), snapshot.clone()));
            last = Some(snapshot);
        }
    }
}

pub async fn watch(
    State(service): State<Arc<BookingService>>,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    socket: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let passes = auth::passes(&service, &headers)?;
    let id = path_id(path)?;
    let event = service.event(&id).await?;
    auth::holder_in(&passes, &event)?;
    let socket = upgrade(socket)?;
    if !matches!(event.inventory, Inventory::Seats(_)) {
        return Err(ApiError::bad_request(
            "general-admission events have no seat map; poll GET /seats",
        ));
    }
    // Small buffers: thousands of viewers each hold one socket.
    Ok(socket
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .on_upgrade(move |socket| view(service, event, socket)))
}

async fn view(service: Arc<BookingService>, event: Arc<EventSpec>, mut socket: WebSocket) {
    let mut snapshots = service.feeds.subscribe(&service, &event);
    // What this viewer was last sent: shared with the feed's snapshots, never copied.
    let Ok(first) = seat_states(&service, &event).await else {
        return;
    };
    let mut sent: Snapshot = Arc::new(first);
    if socket
        .send(Message::Text(map_message(&sent).into()))
        .await
        .is_err()
    {
        return;
    }
    loop {
        tokio::select! {
            update = snapshots.recv() => match update {
                Ok(update) => {
                    for change in changes_for(&sent, &update).iter() {
                        if socket.send(Message::Text(change.as_str().into())).await.is_err() {
                            return;
                        }
                    }
                    sent = update.snapshot;
                }
                // Snapshots are whole maps: the next one catches a lagging viewer up.
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(states: &[&'static str]) -> Snapshot {
        Arc::new(
            states
                .iter()
                .enumerate()
                .map(|(i, state)| (format!("S{i}"), *state))
                .collect(),
        )
    }

    #[test]
    fn a_viewer_in_step_with_the_feed_reuses_its_change_messages() {
        let before = map(&["free", "free", "held"]);
        let update = Update::after(Some(before.clone()), map(&["held", "free", "free"]));
        assert_eq!(update.changes.len(), 2);
        assert!(update.changes[0].contains("\"seat\":\"S0\""));
        // In step: the very messages the feed made, not a new comparison.
        let in_step = changes_for(&before, &update);
        assert!(Arc::ptr_eq(&in_step, &update.changes));
        // A viewer whose last map is its own read (just joined): compared in full, same
        // messages.
        let own = map(&["free", "free", "held"]);
        let joined = changes_for(&own, &update);
        assert!(!Arc::ptr_eq(&joined, &update.changes));
        assert_eq!(joined, update.changes);
        // A lagging viewer gets exactly what differs from what it last sent.
        let lagged = changes_for(&map(&["held", "booked", "free"]), &update);
        assert_eq!(lagged.len(), 1);
        assert!(lagged[0].contains("\"seat\":\"S1\""));
    }
}
