//! What the app does with signaling traffic besides showing it: every server frame and state change goes
//! to the UI; peers seen are remembered; call invites, answers and hangups (both directions) keep the call
//! log; an invite, a missed call or a chat message raises a notification when the user is not looking
//! (invites and messages coalesced per peer, so a flood raises one).
//! The window side is behind the [`Ui`] trait, so all of this is tested without a window.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use chat_protocol::{ServerFrame, SignalData};
use serde_json::value::RawValue;

use crate::history::{
    CallDirection, CallOutcome, History, HistoryError, NewCall, NewMessage, now_ms,
};
use crate::notify::{self, Alert};
use p2pchat_core::chat::wire::clamp_sent_at;
use p2pchat_core::signaling::{ClientEvent, ConnectionState};

/// Name shown for a peer the app has never seen named.
const UNKNOWN_PEER: &str = "Someone";

/// Invites from one peer are coalesced over this window: while one rings in a room no other is logged
/// there, and at most [`MAX_INVITES_PER_WINDOW`] are logged (and notified) in all rooms together. Twice
/// the ring timeout, so a ring whose cancel was lost stops blocking new invites after it.
pub const INVITE_WINDOW_MS: i64 = 2 * p2pchat_core::media::ring::RING_TIMEOUT.as_millis() as i64;
/// Incoming calls logged per peer per [`INVITE_WINDOW_MS`]; a flood of new invite ids beyond it raises
/// no call-log row and no notification (the UI still gets every frame).
pub const MAX_INVITES_PER_WINDOW: u32 = 3;

/// Message notifications are coalesced per sender and room over this window: the first message notifies,
/// the next ones from that peer there do not until the window has passed (they wait in the app, counted
/// as unread), so a flood while the app sits in the tray raises one notification, not hundreds.
pub const MESSAGE_ALERT_WINDOW_MS: i64 = 10_000;

/// When each (room, sender) last raised a message notification (the app's managed state). In memory: it
/// only has to outlive a flood (a restart costs at most one more notification); entries older than the
/// window are dropped on every use, so it holds only the peers that notified in the last few seconds.
#[derive(Default)]
pub struct MessageAlerts(Mutex<HashMap<(String, String), i64>>);

impl MessageAlerts {
    /// Whether a message from `sender` in `room` may notify at `now` (and if so, counts it).
    pub fn due(&self, room: &str, sender: &str, now: i64) -> bool {
        let mut alerts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        alerts.retain(|_, at| now - *at < MESSAGE_ALERT_WINDOW_MS);
        let key = (room.to_owned(), sender.to_owned());
        if alerts.contains_key(&key) {
            return false;
        }
        alerts.insert(key, now);
        true
    }
}

/// The window side of the app, as the dispatcher needs it.
pub trait Ui: Send + Sync + 'static {
    /// Forwards a server frame to the web UI (`signaling://frame`).
    fn frame(&self, frame: &ServerFrame);
    /// Forwards a connection-state change (`signaling://state`).
    fn state(&self, state: ConnectionState);
    /// Whether the main window is visible and focused.
    fn focused(&self) -> bool;
    /// Posts a system notification.
    fn notify(&self, notification: &notify::Notification);
}

/// Handles one event of the signaling client. History failures are logged, never fatal: the UI still
/// gets the frame.
pub async fn client_event(history: Option<&History>, ui: &impl Ui, event: ClientEvent) {
    match event {
        ClientEvent::State(state) => ui.state(state),
        ClientEvent::Frame(frame) => {
            ui.frame(&frame);
            if let Some(history) = history
                && let Err(err) = record_frame(history, ui, &frame).await
            {
                tracing::warn!(%err, "could not record signaling frame in history");
            }
        }
    }
}

async fn record_frame(
    history: &History,
    ui: &impl Ui,
    frame: &ServerFrame,
) -> Result<(), HistoryError> {
    match frame {
        ServerFrame::Joined { peers, .. } => {
            for p in peers {
                history.peer_seen(&p.peer, &p.name).await?;
            }
        }
        ServerFrame::PeerJoined { peer, name, .. } => history.peer_seen(peer, name).await?,
        ServerFrame::Signal {
            room, from, data, ..
        } => {
            // Data the peers exchange is free-form; only the call conventions matter here.
            let Ok(signal) = serde_json::from_str::<SignalData>(data.get()) else {
                return Ok(());
            };
            incoming_signal(history, ui, room, from, signal).await?;
        }
        _ => {}
    }
    Ok(())
}

async fn incoming_signal(
    history: &History,
    ui: &impl Ui,
    room: &str,
    from: &str,
    signal: SignalData,
) -> Result<(), HistoryError> {
    let name = || async {
        Ok::<_, HistoryError>(
            history
                .peer_name(from)
                .await?
                .unwrap_or_else(|| UNKNOWN_PEER.to_owned()),
        )
    };
    match signal {
        SignalData::Invite { call, media, .. } => {
            let (recent, ringing) = history
                .recent_incoming_calls(room, from, now_ms() - INVITE_WINDOW_MS)
                .await?;
            if ringing || recent >= MAX_INVITES_PER_WINDOW {
                tracing::debug!(room, from, recent, ringing, "invite coalesced");
                return Ok(());
            }
            let new = NewCall {
                id: call,
                room: room.to_owned(),
                peer: from.to_owned(),
                peer_name: name().await?,
                direction: CallDirection::Incoming,
                media,
            };
            if history.call_started(&new).await? {
                let video = new.media.iter().any(|m| m == "video");
                let alert = Alert::IncomingCall {
                    room: new.room,
                    call: new.id,
                    from: new.peer_name,
                    video,
                };
                alert_user(history, ui, &alert).await?;
            }
        }
        // Call control changes only the row of that call with that peer in that room: another member
        // who learnt the call id cannot answer, decline or end it in our log.
        SignalData::Accept { call } => history.call_answered(&call, room, from).await?,
        SignalData::Decline { call } => {
            history
                .call_ended(&call, room, from, CallOutcome::Declined)
                .await?;
        }
        SignalData::Cancel { call } | SignalData::Hangup { call } => {
            let Some(record) = history.call(&call).await? else {
                return Ok(());
            };
            let unanswered = match record.direction {
                CallDirection::Incoming => CallOutcome::Missed,
                CallDirection::Outgoing => CallOutcome::Declined,
            };
            let ended = history.call_ended(&call, room, from, unanswered).await?;
            if ended == Some(CallOutcome::Missed) {
                let alert = Alert::MissedCall {
                    room: record.room,
                    from: record.peer_name,
                };
                alert_user(history, ui, &alert).await?;
            }
        }
        _ => {}
    }
    Ok(())
}

/// Keeps the call log for signals this app sends (placing, answering, declining, ending calls).
pub async fn outgoing_signal(
    history: &History,
    room: &str,
    to: &str,
    data: &RawValue,
) -> Result<(), HistoryError> {
    let Ok(signal) = serde_json::from_str::<SignalData>(data.get()) else {
        return Ok(());
    };
    match signal {
        SignalData::Invite { call, media, .. } => {
            let peer_name = history
                .peer_name(to)
                .await?
                .unwrap_or_else(|| UNKNOWN_PEER.to_owned());
            let new = NewCall {
                id: call,
                room: room.to_owned(),
                peer: to.to_owned(),
                peer_name,
                direction: CallDirection::Outgoing,
                media,
            };
            history.call_started(&new).await?;
        }
        SignalData::Accept { call } => history.call_answered(&call, room, to).await?,
        SignalData::Decline { call } => {
            history
                .call_ended(&call, room, to, CallOutcome::Declined)
                .await?;
        }
        SignalData::Cancel { call } | SignalData::Hangup { call } => {
            history
                .call_ended(&call, room, to, CallOutcome::Missed)
                .await?;
        }
        _ => {}
    }
    Ok(())
}

/// Stores a chat message (outgoing before it is sent, or incoming from a data channel) and notifies for
/// a new incoming one (at most one per sender and room per [`MESSAGE_ALERT_WINDOW_MS`]). Returns whether
/// it was new (false: the same sender's copy was already stored).
pub async fn save_message(
    history: &History,
    ui: &(impl Ui + ?Sized),
    alerts: &MessageAlerts,
    mut message: NewMessage,
) -> Result<bool, HistoryError> {
    if !message.outgoing {
        // The sender's clock: shown, but never more than a minute ahead of ours (nor before 1970), so a
        // far-future time cannot keep a message (and its conversation) newest and unread. The shared
        // rule (tests/vectors/chat.json), as the web UI and ChatSession apply it.
        message.sent_at = clamp_sent_at(message.sent_at, now_ms());
    }
    let new = history
        .insert_messages(std::slice::from_ref(&message))
        .await?
        == 1;
    if new && !message.outgoing {
        let alert = Alert::Message {
            room: message.room.clone(),
            from: message.sender_name,
            body: message.body,
        };
        let muted = history.is_muted(&message.room).await?;
        if notify::should_notify(&alert, ui.focused(), muted)
            && alerts.due(&message.room, &message.sender, now_ms())
        {
            ui.notify(&notify::render(&alert));
        }
    }
    Ok(new)
}

async fn alert_user(
    history: &History,
    ui: &(impl Ui + ?Sized),
    alert: &Alert,
) -> Result<(), HistoryError> {
    let room = match alert {
        Alert::IncomingCall { room, .. }
        | Alert::MissedCall { room, .. }
        | Alert::Message { room, .. } => room,
    };
    if notify::should_notify(alert, ui.focused(), history.is_muted(room).await?) {
        ui.notify(&notify::render(alert));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
