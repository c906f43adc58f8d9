//! The dispatcher with a real history file and a recording fake window: rings, missed calls and chat
//! messages notify only when they should, the call log follows the call, and the UI gets every frame.

use std::sync::Mutex;

use tempfile::TempDir;

use super::*;
use crate::history::OpenOptions;

#[derive(Default)]
struct FakeUi {
    focused: bool,
    frames: Mutex<Vec<String>>,
    states: Mutex<Vec<ConnectionState>>,
    notifications: Mutex<Vec<notify::Notification>>,
}

impl Ui for FakeUi {
    fn frame(&self, frame: &ServerFrame) {
        self.frames
            .lock()
            .unwrap()
            .push(serde_json::to_string(frame).unwrap());
    }
    fn state(&self, state: ConnectionState) {
        self.states.lock().unwrap().push(state);
    }
    fn focused(&self) -> bool {
        self.focused
    }
    fn notify(&self, notification: &notify::Notification) {
        self.notifications
            .lock()
            .unwrap()
            .push(notification.clone());
    }
}

impl FakeUi {
    fn titles(&self) -> Vec<String> {
        self.notifications
            .lock()
            .unwrap()
            .iter()
            .map(|n| n.title.clone())
            .collect()
    }
}

async fn history(dir: &TempDir) -> History {
    History::open(&dir.path().join("h.sqlite3"), &OpenOptions::default())
        .await
        .unwrap()
        .history
}

fn frame(json: serde_json::Value) -> ClientEvent {
    ClientEvent::Frame(ServerFrame::parse(&json.to_string()).unwrap())
}

fn signal(seq: u64, data: serde_json::Value) -> ClientEvent {
    frame(
        serde_json::json!({"type": "signal", "seq": seq, "room": "team", "from": "pb", "data": data}),
    )
}

/// A call that rings in the background and is cancelled: one "incoming" and one "missed" notification
/// with the caller's name, a missed row in the call log, and every frame still reaches the UI.
#[tokio::test]
async fn background_ring_then_cancel_notifies_and_logs_a_missed_call() {
    let dir = TempDir::new().unwrap();
    let h = history(&dir).await;
    let ui = FakeUi::default();
    client_event(
        Some(&h),
        &ui,
        ClientEvent::State(ConnectionState::Connected),
    )
    .await;
    client_event(Some(&h), &ui, frame(serde_json::json!({"type": "peer-joined", "seq": 2, "room": "team", "peer": "pb", "name": "Bob"}))).await;
    let invite = serde_json::json!({"kind": "invite", "call": "c1", "media": ["audio", "video"]});
    client_event(Some(&h), &ui, signal(3, invite.clone())).await;
    client_event(Some(&h), &ui, signal(4, invite)).await; // the same invite again: no second ring
    client_event(
        Some(&h),
        &ui,
        signal(5, serde_json::json!({"kind": "cancel", "call": "c1"})),
    )
    .await;

    assert_eq!(
        ui.titles(),
        ["Incoming video call from Bob", "Missed call from Bob"]
    );
    assert_eq!(ui.frames.lock().unwrap().len(), 4);
    assert_eq!(*ui.states.lock().unwrap(), [ConnectionState::Connected]);
    let log = h.call_log(None, 10).await.unwrap();
    assert_eq!((log.len(), log[0].outcome), (1, Some(CallOutcome::Missed)));
}

/// An answered call hung up later is not "missed"; a focused window is not interrupted by the ring.
#[tokio::test]
async fn answered_call_is_logged_as_answered_without_missed_notification() {
    let dir = TempDir::new().unwrap();
    let h = history(&dir).await;
    let ui = FakeUi {
        focused: true,
        ..FakeUi::default()
    };
    client_event(
        Some(&h),
        &ui,
        signal(
            2,
            serde_json::json!({"kind": "invite", "call": "c2", "media": ["audio"]}),
        ),
    )
    .await;
    let accept = RawValue::from_string(r#"{"kind":"accept","call":"c2"}"#.into()).unwrap();
    outgoing_signal(&h, "team", "pb", &accept).await.unwrap();
    client_event(
        Some(&h),
        &ui,
        signal(3, serde_json::json!({"kind": "hangup", "call": "c2"})),
    )
    .await;
    assert!(ui.titles().is_empty());
    let call = h.call("c2").await.unwrap().unwrap();
    assert_eq!(
        (call.outcome, call.peer_name.as_str()),
        (Some(CallOutcome::Answered), "Someone")
    );
}

/// Accept, decline, cancel and hangup change a call-log row only when they come from the call's peer in
/// the call's room (issue 12, finding 3c): another member who learnt the call id cannot touch it.
#[tokio::test]
async fn call_control_from_another_peer_or_room_leaves_the_log_alone() {
    let dir = TempDir::new().unwrap();
    let h = history(&dir).await;
    let ui = FakeUi::default();
    let from = |seq: u64, room: &str, peer: &str, kind: &str| {
        frame(
            serde_json::json!({"type": "signal", "seq": seq, "room": room, "from": peer,
            "data": {"kind": kind, "call": "c9"}}),
        )
    };
    client_event(
        Some(&h),
        &ui,
        signal(
            2,
            serde_json::json!({"kind": "invite", "call": "c9", "media": ["audio"]}),
        ),
    )
    .await;
    let mut seq = 3;
    for (room, peer) in [("team", "px"), ("other", "pb")] {
        for kind in ["accept", "decline", "cancel", "hangup"] {
            client_event(Some(&h), &ui, from(seq, room, peer, kind)).await;
            seq += 1;
        }
    }
    let call = h.call("c9").await.unwrap().unwrap();
    assert_eq!((call.answered_at, call.outcome), (None, None), "{call:?}");
    assert_eq!(ui.titles().len(), 1, "only the ring: {:?}", ui.titles());

    client_event(Some(&h), &ui, from(seq, "team", "pb", "cancel")).await;
    let call = h.call("c9").await.unwrap().unwrap();
    assert_eq!(call.outcome, Some(CallOutcome::Missed));
}

/// A flood of new invite ids from one peer (issue 12, finding 3d): while one rings in a room the others
/// log nothing and notify nothing; invites that cancel and ring again are limited per peer over all rooms.
#[tokio::test]
async fn invite_flood_from_one_peer_is_coalesced() {
    let dir = TempDir::new().unwrap();
    let h = history(&dir).await;
    let ui = FakeUi::default();
    let send = |seq: u64, room: &str, peer: &str, data: serde_json::Value| {
        frame(
            serde_json::json!({"type": "signal", "seq": seq, "room": room, "from": peer, "data": data}),
        )
    };
    let invite = |id: String| serde_json::json!({"kind": "invite", "call": id, "media": ["audio"]});
    let mut seq = 1;
    for i in 0..50 {
        client_event(
            Some(&h),
            &ui,
            send(seq, "team", "pb", invite(format!("flood-{i}"))),
        )
        .await;
        seq += 1;
    }
    assert_eq!(h.call_log(None, 100).await.unwrap().len(), 1);
    assert_eq!(ui.titles().len(), 1, "{:?}", ui.titles());

    // Ring, cancel, ring again: limited to MAX_INVITES_PER_WINDOW rings per peer, whatever the room.
    for i in 0..10 {
        let id = format!("again-{i}");
        let room = if i % 2 == 0 { "team" } else { "other" };
        client_event(
            Some(&h),
            &ui,
            send(
                seq,
                "team",
                "pb",
                serde_json::json!({"kind": "cancel", "call": "flood-0"}),
            ),
        )
        .await;
        client_event(Some(&h), &ui, send(seq + 1, room, "pb", invite(id.clone()))).await;
        client_event(
            Some(&h),
            &ui,
            send(
                seq + 2,
                room,
                "pb",
                serde_json::json!({"kind": "cancel", "call": id}),
            ),
        )
        .await;
        seq += 3;
    }
    let log = h.call_log(None, 100).await.unwrap();
    assert_eq!(log.len(), MAX_INVITES_PER_WINDOW as usize, "{log:?}");
    assert!(
        ui.titles().len() <= 2 * MAX_INVITES_PER_WINDOW as usize,
        "{:?}",
        ui.titles()
    );

    // Another peer still rings.
    client_event(
        Some(&h),
        &ui,
        send(seq, "team", "pc", invite("from-carol".into())),
    )
    .await;
    assert!(h.call("from-carol").await.unwrap().is_some());
}

/// Calls placed from this app are logged; the callee declining ends them as declined.
#[tokio::test]
async fn outgoing_call_declined_by_peer() {
    let dir = TempDir::new().unwrap();
    let h = history(&dir).await;
    let ui = FakeUi::default();
    h.peer_seen("pb", "Bob").await.unwrap();
    let invite =
        RawValue::from_string(r#"{"kind":"invite","call":"c3","media":["audio"]}"#.into()).unwrap();
    outgoing_signal(&h, "team", "pb", &invite).await.unwrap();
    client_event(
        Some(&h),
        &ui,
        signal(2, serde_json::json!({"kind": "decline", "call": "c3"})),
    )
    .await;
    let call = h.call("c3").await.unwrap().unwrap();
    assert_eq!(
        (call.direction, call.outcome, call.peer_name.as_str()),
        (CallDirection::Outgoing, Some(CallOutcome::Declined), "Bob")
    );
    assert!(ui.titles().is_empty());
}

/// A chat message arriving in the background notifies once (not again when redelivered), never for a
/// muted room, and never for the user's own messages.
#[tokio::test]
async fn incoming_messages_notify_once_unless_muted() {
    let dir = TempDir::new().unwrap();
    let h = history(&dir).await;
    let ui = FakeUi::default();
    let msg = |id: &str, room: &str, outgoing: bool| NewMessage {
        id: id.into(),
        room: room.into(),
        sender: "pb".into(),
        sender_name: "Bob".into(),
        outgoing,
        body: "see you at the café".into(),
        sent_at: 5,
    };
    assert!(
        save_message(&h, &ui, &MessageAlerts::default(), msg("m1", "team", false))
            .await
            .unwrap()
    );
    assert!(
        !save_message(&h, &ui, &MessageAlerts::default(), msg("m1", "team", false))
            .await
            .unwrap()
    );
    h.set_muted("quiet", true).await.unwrap();
    save_message(
        &h,
        &ui,
        &MessageAlerts::default(),
        msg("m2", "quiet", false),
    )
    .await
    .unwrap();
    save_message(&h, &ui, &MessageAlerts::default(), msg("m3", "team", true))
        .await
        .unwrap();
    let notes = ui.notifications.lock().unwrap().clone();
    assert_eq!(notes.len(), 1);
    assert_eq!(
        (notes[0].title.as_str(), notes[0].body.as_str()),
        ("Bob in team", "see you at the café")
    );
}

/// An incoming message's far-future `sent_at` (the sender's clock) is stored as at most a minute ahead of
/// ours, a negative one as 0; our own messages keep their time.
#[tokio::test]
async fn incoming_sent_at_is_clamped_to_a_minute_ahead() {
    let dir = TempDir::new().unwrap();
    let h = history(&dir).await;
    let ui = FakeUi::default();
    let msg = |id: &str| NewMessage {
        id: id.into(),
        room: "team".into(),
        sender: "pb".into(),
        sender_name: "Bob".into(),
        outgoing: false,
        body: "newest forever".into(),
        sent_at: 9_000_000_000_000_000,
    };
    let before = now_ms();
    save_message(&h, &ui, &MessageAlerts::default(), msg("m-future"))
        .await
        .unwrap();
    let after = now_ms();
    let stored = h.message("m-future").await.unwrap().unwrap().sent_at;
    let ahead = p2pchat_core::constants::MAX_CLOCK_AHEAD.as_millis() as i64;
    assert!(
        (before + ahead..=after + ahead).contains(&stored),
        "stored sent_at {stored}"
    );
    let before_1970 = NewMessage {
        sent_at: -5,
        ..msg("m-before-1970")
    };
    save_message(&h, &ui, &MessageAlerts::default(), before_1970)
        .await
        .unwrap();
    let stored = h.message("m-before-1970").await.unwrap().unwrap();
    assert_eq!(stored.sent_at, 0);
    let mut past = msg("m-past");
    past.sent_at = 5;
    save_message(&h, &ui, &MessageAlerts::default(), past)
        .await
        .unwrap();
    assert_eq!(h.message("m-past").await.unwrap().unwrap().sent_at, 5);
}

/// A flood of messages from one peer while the app is in the background raises one notification; another
/// peer, or the same peer in another room, still notifies; after the window the peer may notify again.
#[tokio::test]
async fn a_message_flood_from_one_peer_notifies_once() {
    let dir = TempDir::new().unwrap();
    let h = history(&dir).await;
    let ui = FakeUi::default();
    let alerts = MessageAlerts::default();
    let msg = |id: String, room: &str, sender: &str| NewMessage {
        id,
        room: room.into(),
        sender: sender.into(),
        sender_name: sender.to_uppercase(),
        outgoing: false,
        body: "buy now".into(),
        sent_at: 5,
    };
    for i in 0..50 {
        assert!(
            save_message(&h, &ui, &alerts, msg(format!("f{i}"), "flood", "pf"))
                .await
                .unwrap()
        );
    }
    save_message(&h, &ui, &alerts, msg("g1".into(), "flood", "pg"))
        .await
        .unwrap();
    save_message(&h, &ui, &alerts, msg("f0".into(), "flood-2", "pf"))
        .await
        .unwrap();
    assert_eq!(ui.titles(), ["PF in flood", "PG in flood", "PF in flood-2"]);
    assert_eq!(
        h.list_conversations(None)
            .await
            .unwrap()
            .iter()
            .find(|c| c.room == "flood")
            .unwrap()
            .unread,
        51
    );
    assert!(!alerts.due("flood", "pf", now_ms()));
    let later = now_ms() + MESSAGE_ALERT_WINDOW_MS;
    assert!(alerts.due("flood", "pf", later), "after the window");
}

/// Without a history (the database could not be opened) frames still reach the UI.
#[tokio::test]
async fn frames_reach_the_ui_without_history() {
    let ui = FakeUi::default();
    client_event(
        None,
        &ui,
        signal(
            2,
            serde_json::json!({"kind": "invite", "call": "c", "media": []}),
        ),
    )
    .await;
    assert_eq!(ui.frames.lock().unwrap().len(), 1);
}
