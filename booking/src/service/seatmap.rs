//! `GET /v1/events/{id}/seats/ws`: the live seat map. A viewer gets the whole map when it
//! connects, then every change. One feed per event, alive while it has viewers: it re-reads
//! the map when this process changes a seat (at once) and every 500 ms (hold expiries, other
//! instances), and sends only what changed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::json;
use tokio::sync::{broadcast, Notify};

use super::errors::ApiError;
use super::events::seat_states;
use super::{auth, BookingService};
use crate::{EventSpec, Inventory};

/// Re-read interval: hold expiries and other instances' changes show within it.
const POLL: Duration = Duration::from_millis(500);
/// Changes buffered per viewer; a viewer that falls further behind gets the whole map again.
const BUFFER: usize = 256;

#[derive(Clone)]
struct Feed {
    changes: broadcast::Sender<String>,
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
    ) -> broadcast::Receiver<String> {
        let mut feeds = self.lock();
        if let Some(feed) = feeds.get(&event.id) {
            return feed.changes.subscribe();
        }
        let (changes, receiver) = broadcast::channel(BUFFER);
        let feed = Feed {
            changes,
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
    // The baseline first, so a change right after a viewer connects is not lost.
    let mut last: Option<Vec<(String, &'static str)>> = seat_states(&service, &event).await.ok();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(POLL) => {}
            _ = feed.poke.notified() => {}
        }
        if feed.changes.receiver_count() == 0 {
            // Nobody watches: drop the feed (a new viewer starts a new one).
            let mut feeds = service.feeds.lock();
            if feed.changes.receiver_count() == 0 {
                feeds.remove(&event.id);
                return;
            }
        }
        let Ok(states) = seat_states(&service, &event).await else {
            continue;
        };
        if let Some(previous) = &last {
            for ((seat, state), (_, before)) in states.iter().zip(previous) {
                if state != before {
                    let change = json!({ "type": "change", "seat": seat, "state": state });
                    let _ = feed.changes.send(change.to_string());
                }
            }
        }
        last = Some(states);
    }
}

pub async fn watch(
    State(service): State<Arc<BookingService>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let event = service.event(&id).await?;
    auth::holder(&service, &headers, event.room.as_deref())?;
    if !matches!(event.inventory, Inventory::Seats(_)) {
        return Err(ApiError::bad_request(
            "general-admission events have no seat map; poll GET /seats",
        ));
    }
    // Small buffers: thousands of viewers each hold one socket.
    Ok(upgrade
        .read_buffer_size(4096)
        .write_buffer_size(0)
        .on_upgrade(move |socket| view(service, event, socket)))
}

async fn view(service: Arc<BookingService>, event: Arc<EventSpec>, mut socket: WebSocket) {
    let mut changes = service.feeds.subscribe(&service, &event);
    let send_map = |states: Vec<(String, &'static str)>| Message::Text(map_message(&states).into());
    match seat_states(&service, &event).await {
        Ok(states) => {
            if socket.send(send_map(states)).await.is_err() {
                return;
            }
        }
        Err(_) => return,
    }
    loop {
        tokio::select! {
            change = changes.recv() => match change {
                Ok(text) => {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let Ok(states) = seat_states(&service, &event).await else { return };
                    if socket.send(send_map(states)).await.is_err() {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            },
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
        }
    }
}
