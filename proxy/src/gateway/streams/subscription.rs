//! One open stream's view of its visitor: the status sent last, and the next one worth
//! sending. Positions come from the room's line snapshot in memory; the store is asked only
//! when the visitor's ticket has left the line (admitted, or removed) or the line was lost.

use std::time::Duration;

use anteroom_config::RoomMode;
use anteroom_queue::{LineView, Placement, RoomSettings};
use tokio::sync::watch;

use super::feed::LineSnapshot;
use super::hub::StreamSlot;
use crate::gateway::engine::{unix_now, unix_now_ms};
use crate::gateway::guard::shadow_placement;
use crate::gateway::status::WaitlistInfo;
use crate::gateway::{StatusObject, VisitorState};

/// A status to send: the text of the object, the SSE id, and for a change of the line the
/// time since the tick that made it.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    pub id: u64,
    pub json: String,
    pub lag: Option<Duration>,
}

pub struct Subscription {
    slot: StreamSlot,
    signed_visitor: String,
    ticket: Option<u64>,
    /// The line epoch the ticket belongs to; None until the first snapshot that knows one.
    epoch: Option<String>,
    line: watch::Receiver<LineSnapshot>,
    last: StatusObject,
    last_id: u64,
    /// Admitted, closed or out of the line: nothing more changes for this stream.
    settled: bool,
    /// The visitor waits in the bot guard's shadow line: its position is made up, moves as
    /// time passes and never reaches the door.
    shadowed: bool,
    /// The room's `waitlist_url` and this visitor's waitlist token (signed at open), for a
    /// room that sells out while the stream is open.
    waitlist: Option<WaitlistInfo>,
    /// When the stream ends for its client to reconnect and meet the bot guard again
    /// (`guard::renew_after`); None where the guard is off.
    renew_at: Option<tokio::time::Instant>,
}

/// What the line snapshot alone says of a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FromLine {
    Placed(Placement),
    /// The ticket is no longer in the line (admitted or removed), or the line was lost.
    AskStore,
    /// Nothing new can be said yet (the snapshot has not read the store).
    Unknown,
}

/// Where a ticket stands by the snapshot. Pure: the whole of the fan-out's arithmetic.
pub fn from_line(
    view: &LineView,
    known: bool,
    settings: &RoomSettings,
    ticket: Option<u64>,
    ticket_epoch: Option<&str>,
) -> FromLine {
    if settings.mode == RoomMode::Closed {
        return FromLine::Placed(Placement::Closed);
    }
    if settings.sold_out {
        return FromLine::Placed(Placement::SoldOut);
    }
    if !known {
        return FromLine::Unknown;
    }
    let Some(ticket) = ticket else {
        return FromLine::Unknown;
    };
    if ticket_epoch.is_some_and(|epoch| epoch != view.epoch()) {
        return FromLine::AskStore;
    }
    match view.position(ticket) {
        Some(position) => FromLine::Placed(Placement::Waiting {
            position,
            waiting: view.waiting(),
            ticket,
        }),
        None => FromLine::AskStore,
    }
}

impl Subscription {
    pub fn new(
        slot: StreamSlot,
        line: watch::Receiver<LineSnapshot>,
        first: StatusObject,
        ticket: Option<u64>,
        shadowed: bool,
        waitlist: Option<WaitlistInfo>,
    ) -> Subscription {
        let (last_id, epoch) = {
            let snapshot = line.borrow();
            let epoch = snapshot.known.then(|| snapshot.view.epoch().to_string());
            (snapshot.version, epoch)
        };
        let settled = matches!(
            first.state,
            VisitorState::Admitted | VisitorState::Closed | VisitorState::SoldOut
        ) || (first.position.is_none() && ticket.is_none() && !shadowed);
        Subscription {
            signed_visitor: first.visitor.clone(),
            slot,
            ticket,
            epoch,
            line,
            last: first,
            last_id,
            settled,
            shadowed,
            waitlist,
            renew_at: None,
        }
    }

    /// End the stream `after` this long (`next` returns None; `renewal_due` then says why).
    pub fn renewing_after(mut self, after: std::time::Duration) -> Subscription {
        self.renew_at = Some(tokio::time::Instant::now() + after);
        self
    }

    /// The stream reached its renewal time: its client should reconnect.
    pub fn renewal_due(&self) -> bool {
        self.renew_at
            .is_some_and(|at| tokio::time::Instant::now() >= at)
    }

    pub fn kind(&self) -> super::StreamKind {
        self.slot.kind
    }

    /// The status sent last (the first one at open), again: the heartbeat.
    pub fn current(&self) -> Update {
        Update {
            id: self.last_id,
            json: self.last.to_json(),
            lag: None,
        }
    }

    /// Wait for the next status worth sending. `None` when the gateway is going away, or at
    /// the renewal time (`renewal_due`).
    pub async fn next(&mut self) -> Option<Update> {
        // A timer per call from a stored instant: the adapters drop this future whenever a
        // heartbeat or the client wins their own select, so nothing may be taken out of
        // `self` across the await (a timer moved out here would be lost with it).
        match self.renew_at {
            Some(at) => tokio::select! {
                update = self.next_update() => update,
                _ = tokio::time::sleep_until(at) => None,
            },
            None => self.next_update().await,
        }
    }

    async fn next_update(&mut self) -> Option<Update> {
        loop {
            if self.settled {
                // Admitted, closed, sold out or gone: heartbeats only, until the client leaves.
                std::future::pending::<()>().await;
            }
            self.line.changed().await.ok()?;
            let (answer, settings, measured_rate, version, changed_at_ms) = {
                let snapshot = self.line.borrow_and_update();
                if self.epoch.is_none() && snapshot.known {
                    self.epoch = Some(snapshot.view.epoch().to_string());
                }
                (
                    from_line(
                        &snapshot.view,
                        snapshot.known,
                        &snapshot.settings,
                        self.ticket,
                        self.epoch.as_deref(),
                    ),
                    snapshot.settings.clone(),
                    snapshot.measured_rate,
                    snapshot.version,
                    snapshot.changed_at_ms,
                )
            };
            let answer = if self.shadowed {
                FromLine::Placed(shadow_placement(
                    self.slot.visitor,
                    self.last.waiting,
                    unix_now(),
                ))
            } else {
                answer
            };
            let (placement, pass) = match answer {
                FromLine::Unknown => continue,
                FromLine::Placed(placement) => (placement, None),
                FromLine::AskStore => match self.ask_store().await {
                    Some(found) => found,
                    None => continue,
                },
            };
            let placement = self.never_backwards(placement);
            let status = StatusObject::new(
                &self.last.room,
                self.signed_visitor.clone(),
                placement,
                &settings,
                self.last.waiting,
                pass,
                measured_rate,
            )
            .with_waitlist_info(self.waitlist.as_ref());
            self.settled = matches!(
                placement,
                Placement::Admitted { .. }
                    | Placement::Absent
                    | Placement::Closed
                    | Placement::SoldOut
            );
            if status == self.last {
                continue;
            }
            self.last = status;
            self.last_id = version;
            let lag = (changed_at_ms > 0)
                .then(|| Duration::from_millis(unix_now_ms().saturating_sub(changed_at_ms)));
            return Some(Update {
                id: version,
                json: self.last.to_json(),
                lag,
            });
        }
    }

    /// A position this stream showed is never followed by a larger one for the same ticket
    /// (a snapshot older than the store answer it opened with may say so for a moment).
    fn never_backwards(&self, placement: Placement) -> Placement {
        match (placement, self.last.position) {
            (
                Placement::Waiting {
                    position,
                    waiting,
                    ticket,
                },
                Some(shown),
            ) if (Some(ticket) == self.ticket || self.shadowed) && position > shown => {
                Placement::Waiting {
                    position: shown,
                    waiting,
                    ticket,
                }
            }
            _ => placement,
        }
    }

    /// The ticket left the line: ask the store where the visitor is now. An admitted visitor
    /// gets the pass in the status (the page then fetches `/_anteroom/status` for the cookie).
    async fn ask_store(&mut self) -> Option<(Placement, Option<String>)> {
        let gateway = self.slot.gateway().clone();
        let store = gateway.store()?;
        let room = gateway.rooms.get(self.slot.room)?.config.id.clone();
        let placement = gateway
            .timed("status", store.status(&room, self.slot.visitor))
            .await
            .ok()?;
        let current_epoch = self
            .line
            .borrow()
            .known
            .then(|| self.line.borrow().view.epoch().to_string());
        match placement {
            Placement::Waiting { ticket, .. } => {
                self.ticket = Some(ticket);
                self.epoch = current_epoch;
                Some((placement, None))
            }
            Placement::Admitted { .. }
                if gateway
                    .guard
                    .shadowed_now(self.slot.room, &room, self.slot.visitor)
                    .await =>
            {
                // Shadowed since the stream opened: never admitted, the made-up place goes on.
                self.shadowed = true;
                Some((
                    shadow_placement(self.slot.visitor, self.last.waiting, unix_now()),
                    None,
                ))
            }
            Placement::Admitted { expires_at_ms } => {
                let pass = gateway.sign_pass(&room, self.slot.visitor, expires_at_ms);
                Some((placement, Some(pass)))
            }
            other => Some((other, None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anteroom_queue::Frontier;

    fn settings() -> RoomSettings {
        RoomSettings {
            mode: RoomMode::QueueAll,
            admit_per_second: 10.0,
            max_active: 100,
            session_seconds: 600,
            abandon_after_seconds: 60,
            paused: false,
            sold_out: false,
            message: None,
        }
    }

    fn view(head: Option<u64>, waiting: u64, gaps: Vec<u64>) -> LineView {
        let mut view = LineView::default();
        view.apply(&Frontier {
            epoch: "e1".into(),
            head,
            waiting,
            gaps,
            cursor: 1,
            more: false,
            changed_at_ms: 1,
        });
        view
    }

    #[test]
    fn a_ticket_in_the_line_is_placed_from_the_snapshot_alone() {
        let view = view(Some(10), 5, vec![12, 13]);
        let answer = from_line(&view, true, &settings(), Some(15), Some("e1"));
        // 10, 11, 14, 15: fourth in line.
        assert_eq!(
            answer,
            FromLine::Placed(Placement::Waiting {
                position: 4,
                waiting: 5,
                ticket: 15
            })
        );
    }

    #[test]
    fn a_ticket_that_left_the_line_or_a_lost_line_asks_the_store() {
        let view = view(Some(10), 5, vec![12]);
        assert_eq!(
            from_line(&view, true, &settings(), Some(9), Some("e1")),
            FromLine::AskStore
        );
        assert_eq!(
            from_line(&view, true, &settings(), Some(12), Some("e1")),
            FromLine::AskStore
        );
        assert_eq!(
            from_line(&view, true, &settings(), Some(15), Some("e0")),
            FromLine::AskStore
        );
    }

    #[test]
    fn closed_and_sold_out_need_no_ticket_and_an_unread_line_says_nothing() {
        let view = LineView::default();
        let mut closed = settings();
        closed.mode = RoomMode::Closed;
        assert_eq!(
            from_line(&view, false, &closed, None, None),
            FromLine::Placed(Placement::Closed)
        );
        let mut sold_out = settings();
        sold_out.sold_out = true;
        assert_eq!(
            from_line(&view, true, &sold_out, Some(3), None),
            FromLine::Placed(Placement::SoldOut)
        );
        assert_eq!(
            from_line(&view, false, &settings(), Some(3), None),
            FromLine::Unknown
        );
    }
}
