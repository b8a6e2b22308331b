//! The streams of one instance: the limits (per instance, per visitor), each room's feed, and
//! the slot a stream holds while it is open.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anteroom_admission::VisitorId;
use anteroom_config::StreamsConfig;
use anteroom_queue::RoomSettings;

use super::feed::RoomFeed;
use super::StreamKind;
use crate::gateway::{Gateway, Reply};

pub struct StreamHub {
    limits: StreamsConfig,
    /// Shared with the hub a reload replaces this one by: streams opened before the reload
    /// count against the same limit.
    open: Arc<AtomicUsize>,
    /// Shared the same way, per room the reload keeps: the store owner keeps waking the
    /// streams opened before it.
    feeds: Vec<Arc<RoomFeed>>,
}

/// Why a stream was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// This instance holds `max_open` streams.
    InstanceFull,
    /// The visitor holds `max_per_visitor` streams of this room.
    VisitorFull,
}

impl Refusal {
    pub fn label(self) -> &'static str {
        match self {
            Refusal::InstanceFull => "instance_full",
            Refusal::VisitorFull => "visitor_full",
        }
    }

    /// The answer: 503 when the instance is full (another instance, or later, will do), 429
    /// when this visitor has too many open (close a tab).
    pub fn reply(self, limit: usize) -> Reply {
        match self {
            Refusal::InstanceFull => Reply::error(
                503,
                "streams_full",
                &format!(
                    "this gateway holds its limit of {limit} live streams; poll /_anteroom/status or retry shortly"
                ),
            )
            .with_header("retry-after", "5"),
            Refusal::VisitorFull => Reply::error(
                429,
                "too_many_streams",
                &format!(
                    "at most {limit} live streams per visitor and room; close another tab or poll /_anteroom/status"
                ),
            )
            .with_header("retry-after", "10"),
        }
    }
}

impl StreamHub {
    pub fn new(limits: StreamsConfig, rooms: impl IntoIterator<Item = RoomSettings>) -> StreamHub {
        StreamHub {
            limits,
            open: Arc::new(AtomicUsize::new(0)),
            feeds: rooms
                .into_iter()
                .map(|settings| Arc::new(RoomFeed::new(settings)))
                .collect(),
        }
    }

    /// The hub of the gateway a reload puts in force: each room's feed is the one of the
    /// same room here (`previous`: its index here) or a new one, and the open count is shared.
    pub fn successor(
        &self,
        limits: StreamsConfig,
        rooms: impl IntoIterator<Item = (Option<usize>, RoomSettings)>,
    ) -> StreamHub {
        StreamHub {
            limits,
            open: self.open.clone(),
            feeds: rooms
                .into_iter()
                .map(|(previous, settings)| {
                    previous
                        .and_then(|index| self.feeds.get(index).cloned())
                        .unwrap_or_else(|| Arc::new(RoomFeed::new(settings)))
                })
                .collect(),
        }
    }

    pub fn feed(&self, room: usize) -> Option<&RoomFeed> {
        self.feeds.get(room).map(Arc::as_ref)
    }

    pub fn limits(&self) -> StreamsConfig {
        self.limits
    }

    /// Streams open on this instance now.
    pub fn open(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// Take a slot for a stream of `visitor` in `room`, or say which limit stops it.
    pub fn take_slot(
        gateway: &Arc<Gateway>,
        room: usize,
        visitor: VisitorId,
        kind: StreamKind,
    ) -> Result<StreamSlot, Refusal> {
        let hub = &gateway.streams;
        let feed = hub.feed(room).ok_or(Refusal::InstanceFull)?;
        let taken = hub
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < hub.limits.max_open).then_some(open + 1)
            });
        if taken.is_err() {
            return Err(Refusal::InstanceFull);
        }
        if !feed.try_connect(visitor, hub.limits.max_per_visitor) {
            hub.open.fetch_sub(1, Ordering::AcqRel);
            return Err(Refusal::VisitorFull);
        }
        gateway
            .metrics
            .streams_open
            .with_label_values(&[kind.label()])
            .inc();
        gateway
            .metrics
            .stream_opens_total
            .with_label_values(&[kind.label()])
            .inc();
        Ok(StreamSlot {
            gateway: gateway.clone(),
            room,
            visitor,
            kind,
        })
    }
}

/// Held by an open stream; gives its place in the limits back when dropped, however the
/// stream ends.
pub struct StreamSlot {
    gateway: Arc<Gateway>,
    pub room: usize,
    pub visitor: VisitorId,
    pub kind: StreamKind,
}

impl StreamSlot {
    pub fn gateway(&self) -> &Arc<Gateway> {
        &self.gateway
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let hub = &self.gateway.streams;
        if let Some(feed) = hub.feed(self.room) {
            feed.disconnect(self.visitor);
        }
        hub.open.fetch_sub(1, Ordering::AcqRel);
        self.gateway
            .metrics
            .streams_open
            .with_label_values(&[self.kind.label()])
            .dec();
    }
}
