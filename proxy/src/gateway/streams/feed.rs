//! One room's line as this instance's streams see it: a `LineView` kept up to date from the
//! store's frontier once per tick, with the room's live settings, published to every stream
//! of the room through one watch channel (no copy per stream, no store call per stream).

use std::collections::HashMap;
use std::sync::Mutex;

use anteroom_admission::VisitorId;
use anteroom_queue::{Frontier, LineView, RoomSettings};
use tokio::sync::watch;

use crate::gateway::LiveRoom;

/// What every stream of a room reads when the line or the settings change.
#[derive(Debug, Clone)]
pub struct LineSnapshot {
    /// Bumped on every published change; streams send it as their SSE `id`.
    pub version: u64,
    pub view: LineView,
    pub settings: RoomSettings,
    /// Store-clock ms of the last change of the line (the admission tick that moved it).
    pub changed_at_ms: u64,
    /// The view has read the store at least once.
    pub known: bool,
    /// The room's admission rate lately (ETA).
    pub measured_rate: Option<f64>,
}

pub struct RoomFeed {
    snapshot: watch::Sender<LineSnapshot>,
    /// Open streams per visitor: the per-visitor limit and the places kept alive.
    connected: Mutex<HashMap<VisitorId, usize>>,
}

impl RoomFeed {
    pub fn new(settings: RoomSettings) -> RoomFeed {
        let (snapshot, _) = watch::channel(LineSnapshot {
            version: 0,
            view: LineView::default(),
            settings,
            changed_at_ms: 0,
            known: false,
            measured_rate: None,
        });
        RoomFeed {
            snapshot,
            connected: Mutex::new(HashMap::new()),
        }
    }

    pub fn subscribe(&self) -> watch::Receiver<LineSnapshot> {
        self.snapshot.subscribe()
    }

    pub fn has_streams(&self) -> bool {
        !self.lock().is_empty()
    }

    /// The visitors with an open stream (their places are kept alive).
    pub fn connected_visitors(&self) -> Vec<VisitorId> {
        self.lock().keys().copied().collect()
    }

    /// Where the next frontier read continues.
    pub fn cursor(&self) -> u64 {
        self.snapshot.borrow().view.cursor()
    }

    /// Apply what the store said (one frontier page, if read) and the live settings; streams
    /// wake only when something they show changed. Returns true when the caller should read
    /// the next page at once (from `cursor()`).
    pub fn publish(&self, page: Option<&Frontier>, live: &LiveRoom) -> bool {
        let settings = &live.settings;
        let mut again = false;
        self.snapshot.send_if_modified(|snapshot| {
            let before = line_state(&snapshot.view);
            if let Some(page) = page {
                again = snapshot.view.apply(page);
            }
            let line_changed = before != line_state(&snapshot.view);
            if line_changed {
                snapshot.changed_at_ms = snapshot.view.changed_at_ms();
            }
            let settings_changed =
                snapshot.settings != *settings || snapshot.measured_rate != live.measured_rate();
            if settings_changed {
                snapshot.settings = settings.clone();
                snapshot.measured_rate = live.measured_rate();
            }
            let first = !snapshot.known && page.is_some() && !again;
            snapshot.known |= first;
            let changed = line_changed || settings_changed || first;
            if changed {
                snapshot.version = snapshot.version.wrapping_add(1);
            }
            changed
        });
        again
    }

    /// Count a stream of `visitor` in, unless the visitor already has `max` open.
    pub(super) fn try_connect(&self, visitor: VisitorId, max: usize) -> bool {
        let mut connected = self.lock();
        let open = connected.entry(visitor).or_insert(0);
        if *open >= max {
            if *open == 0 {
                connected.remove(&visitor);
            }
            return false;
        }
        *open += 1;
        true
    }

    pub(super) fn disconnect(&self, visitor: VisitorId) {
        let mut connected = self.lock();
        if let Some(open) = connected.get_mut(&visitor) {
            *open = open.saturating_sub(1);
            if *open == 0 {
                connected.remove(&visitor);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<VisitorId, usize>> {
        self.connected
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// What a stream's status depends on in the view.
fn line_state(view: &LineView) -> (String, Option<u64>, usize, u64) {
    (
        view.epoch().to_string(),
        view.head(),
        view.gap_count(),
        view.waiting(),
    )
}
