//! The native data-channel fallback between two Rust peers through the real signaling server
//! (in-process, ephemeral port): chat goes through in order with nothing lost, also across an ICE
//! restart in the middle, a peer that leaves closes the other side's channel, a description whose
//! DTLS fingerprint a server rewrote mid-link fails the link instead of changing its safety code, and
//! two devices that keep their identities see the same safety code again after both restart, and a
//! server restart re-keys the link to both new peer ids once each side proved its new id.
//!
//! webrtc-rs needs a non-loopback interface with a default route, which the test run gets from a network
//! namespace (test.sh runs the workspace's tests inside tests/e2e/netns.sh with P2PCHAT_NETNS_TESTS=1).
//! Without that variable the tests say why they skip, except under CI=true, where they fail: a check that
//! cannot run there must not pass. With it, a missing route fails them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chat_protocol::SignalData;

use p2pchat_core::chat::ChannelMessage;
use p2pchat_core::identity::DeviceIdentity;
use p2pchat_core::links::{LinkEvent, LinkManager, LinkOptions};
use p2pchat_core::signaling::{
    Client, ClientConfig, ClientEvent, ConnectionState, parse_server_url,
};
use tokio::sync::mpsc;

mod common;
use common::{runnable, start_server};

const ROOM: &str = "fallback-1";
const MESSAGES: usize = 1000;
const WAIT: Duration = Duration::from_secs(60);

/// Which of a person's next outgoing descriptions a malicious server rewrites (see [`forge_fingerprint`]).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Forge {
    Offer,
    Answer,
}

/// A certificate fingerprint no peer of the test has.
const FORGED_FINGERPRINT: &str = "sha-256 5A:5A:5A:5A:5A:5A:5A:5A:5A:5A:5A:5A:5A:5A:5A:5A:\
                                  5A:5A:5A:5A:5A:5A:5A:5A:5A:5A:5A:5A:5A:5A:5A:5A";

/// `sdp` with every `a=fingerprint` line replaced by [`FORGED_FINGERPRINT`], as a server in the middle
/// would do to make a person's safety code show its own certificate.
fn forge_fingerprint(sdp: &str) -> String {
    let forged: Vec<String> = sdp
        .split("\r\n")
        .map(|line| {
            if line.starts_with("a=fingerprint:") {
                format!("a=fingerprint:{FORGED_FINGERPRINT}")
            } else {
                line.to_owned()
            }
        })
        .collect();
    assert_ne!(
        forged.join("\r\n"),
        sdp,
        "the description has a fingerprint to forge"
    );
    forged.join("\r\n")
}

/// One person: the app's signaling client feeding a fallback manager.
struct Peer {
    manager: LinkManager,
    events: mpsc::Receiver<LinkEvent>,
    client: Arc<Client>,
    /// Set: the server rewrites the fingerprint of this person's next description of that kind.
    forge: Arc<Mutex<Option<Forge>>>,
}

impl Peer {
    async fn join(server: &str, name: &str) -> Peer {
        Peer::join_room(server, name, ROOM).await
    }

    async fn join_room(server: &str, name: &str, room: &str) -> Peer {
        Peer::join_as(server, name, room, None).await
    }

    /// A person whose links present `identity` (a device identity), or each their own certificate.
    async fn join_as(
        server: &str,
        name: &str,
        room: &str,
        identity: Option<Arc<DeviceIdentity>>,
    ) -> Peer {
        let config = ClientConfig {
            url: parse_server_url(server).unwrap(),
            name: name.into(),
            token: None,
            rooms: [room.to_owned()].into(),
        };
        let (client_tx, mut client_rx) = mpsc::channel(256);
        let client = Arc::new(Client::spawn(config, client_tx));
        let (events_tx, events) = mpsc::channel(256);
        let signaling = client.clone();
        let forge = Arc::new(Mutex::new(None));
        let forging = forge.clone();
        let manager = LinkManager::new(
            move |room, to, mut data| {
                let mut armed = forging.lock().unwrap();
                match (&mut data, *armed) {
                    (SignalData::Offer { sdp }, Some(Forge::Offer))
                    | (SignalData::Answer { sdp }, Some(Forge::Answer)) => {
                        *sdp = forge_fingerprint(sdp);
                        *armed = None;
                    }
                    _ => {}
                }
                drop(armed);
                let raw = serde_json::value::to_raw_value(&data).unwrap();
                let _ = signaling.signal(room, to, raw);
            },
            events_tx,
            LinkOptions {
                identity,
                ..LinkOptions::default()
            },
        );
        let pump = manager.clone();
        let (joined_tx, mut joined) = mpsc::channel(1);
        tokio::spawn(async move {
            while let Some(event) = client_rx.recv().await {
                if let ClientEvent::Frame(frame) = event {
                    pump.on_frame(&frame).await;
                    if matches!(frame, chat_protocol::ServerFrame::Joined { .. }) {
                        let _ = joined_tx.try_send(());
                    }
                }
            }
        });
        tokio::time::timeout(WAIT, joined.recv())
            .await
            .expect("joined the room");
        assert_eq!(client.state(), ConnectionState::Connected);
        Peer {
            manager,
            events,
            client,
            forge,
        }
    }

    /// The next event, failing the test after a bounded wait.
    async fn next(&mut self) -> LinkEvent {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("an event in time")
            .expect("manager alive")
    }

    async fn opened(&mut self) -> String {
        loop {
            if let LinkEvent::Open { peer, .. } = self.next().await {
                return peer;
            }
        }
    }

    /// The body of the next chat message.
    async fn message(&mut self) -> String {
        loop {
            match self.next().await {
                LinkEvent::Message { text, .. } => {
                    if let Some(ChannelMessage::Msg { body, .. }) = ChannelMessage::parse(&text) {
                        return body;
                    }
                }
                LinkEvent::Failed { reason, .. } => panic!("link failed: {reason}"),
                _ => {}
            }
        }
    }
}

async fn write_at_open(me: &mut Peer, room: &str, name: &str) {
    let to = me.opened().await;
    let text = ChannelMessage::msg(format!("first from {name}"), name).to_text();
    assert!(
        me.manager.send(room, &to, &text).await.unwrap(),
        "channel open"
    );
}

/// Both sides write the moment their channel opens, many times over: the first message of each
/// arrives, with no pause after opening (a pre-negotiated channel lost or broke on this race).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_messages_sent_at_open_arrive_both_ways() {
    if !runnable() {
        return;
    }
    let server = start_server().await;
    let url = server.ws_url();
    for round in 0..10 {
        let room = format!("open-race-{round}");
        let mut ann = Peer::join_room(&url, "Ann", &room).await;
        let mut bob = Peer::join_room(&url, "Bob", &room).await;
        // Each side writes as soon as its own channel reports open.
        tokio::join!(
            write_at_open(&mut ann, &room, "Ann"),
            write_at_open(&mut bob, &room, "Bob")
        );
        let (at_ann, at_bob) = tokio::join!(ann.message(), bob.message());
        assert_eq!(at_bob, "first from Ann", "round {round}");
        assert_eq!(at_ann, "first from Bob", "round {round}");
        ann.manager.close_all().await;
        bob.manager.close_all().await;
    }
}

/// Sends `count` numbered chat messages, restarting ICE halfway.
async fn send_all(manager: LinkManager, peer: String) {
    for i in 0..MESSAGES {
        if i == MESSAGES / 2 {
            assert!(manager.restart_ice(ROOM, &peer), "link exists");
        }
        let text = ChannelMessage::msg(format!("{i}"), "t").to_text();
        let sent = manager.send(ROOM, &peer, &text).await.expect("send");
        assert!(sent, "channel open for message {i}");
    }
}

/// Receives until `MESSAGES` chat messages arrived; returns their bodies in arrival order.
async fn receive_all(peer: &mut Peer) -> Vec<String> {
    let mut bodies = Vec::new();
    while bodies.len() < MESSAGES {
        // Says how far it got: a stall around MESSAGES / 2 is the ICE restart's.
        let event = tokio::time::timeout(WAIT, peer.events.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "no event for {WAIT:?} after {} of {MESSAGES} messages (the last: {:?})",
                    bodies.len(),
                    bodies.last()
                )
            })
            .expect("manager alive");
        match event {
            LinkEvent::Message { text, .. } => {
                if let Some(ChannelMessage::Msg { body, .. }) = ChannelMessage::parse(&text) {
                    bodies.push(body);
                }
            }
            LinkEvent::Failed { reason, .. } => panic!("link failed: {reason}"),
            _ => {}
        }
    }
    bodies
}

/// Two people chat over the fallback: 1 000 messages each way, in order, none lost, with an ICE
/// restart by both in the middle; when one leaves, the other's channel closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_rust_peers_chat_in_order_across_an_ice_restart() {
    if !runnable() {
        return;
    }
    let server = start_server().await;
    let url = server.ws_url();

    let mut ann = Peer::join(&url, "Ann").await;
    let mut bob = Peer::join(&url, "Bob").await;
    let bob_id = ann.opened().await;
    let ann_id = bob.opened().await;

    let ann_sends = tokio::spawn(send_all(ann.manager.clone(), bob_id.clone()));
    let bob_sends = tokio::spawn(send_all(bob.manager.clone(), ann_id.clone()));
    let (at_bob, at_ann) = tokio::join!(receive_all(&mut bob), receive_all(&mut ann));
    ann_sends.await.unwrap();
    bob_sends.await.unwrap();
    let expected: Vec<String> = (0..MESSAGES).map(|i| i.to_string()).collect();
    assert_eq!(at_bob, expected, "Bob got Ann's messages in order");
    assert_eq!(at_ann, expected, "Ann got Bob's messages in order");

    bob.manager.leave_room(ROOM).await;
    bob.client.leave(ROOM).unwrap();
    loop {
        let event = tokio::time::timeout(WAIT, ann.events.recv())
            .await
            .expect("Ann sees Bob's link close after he left")
            .expect("manager alive");
        if let LinkEvent::Closed { peer, .. } = event {
            assert_eq!(peer, bob_id);
            break;
        }
    }
    assert!(!ann.manager.send(ROOM, &bob_id, "late").await.unwrap());
}

/// The link's safety code, the same at both ends, once `peer`'s `Open` arrived.
async fn open_code(me: &mut Peer, room: &str) -> (String, String) {
    loop {
        if let LinkEvent::Open { peer, safety, .. } = me.next().await {
            let code = safety.expect("an open link has a safety code");
            assert_eq!(
                me.manager.safety_code(room, &peer).await.as_deref(),
                Some(&*code)
            );
            return (peer, code);
        }
    }
}

/// Waits for `victim`'s link to `peer` to fail on a forged description; meanwhile its safety code must
/// stay `code` (or be gone with the link). Returns the failure's reason.
async fn fails_without_changing_code(
    victim: &mut Peer,
    room: &str,
    peer: &str,
    code: &str,
) -> String {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let shown = victim.manager.safety_code(room, peer).await;
        assert!(
            shown.is_none() || shown.as_deref() == Some(code),
            "the safety code changed from {code} to {shown:?} after a forged description"
        );
        assert!(
            tokio::time::Instant::now() < deadline,
            "the link neither failed nor ignored the forged description (code still {shown:?})"
        );
        match tokio::time::timeout(Duration::from_millis(100), victim.events.recv()).await {
            Ok(Some(LinkEvent::Failed {
                peer: p, reason, ..
            })) if p == peer => {
                let shown = victim.manager.safety_code(room, peer).await;
                assert!(
                    shown.is_none(),
                    "a failed link shows no code, got {shown:?}"
                );
                return reason;
            }
            Ok(None) => panic!("manager gone"),
            _ => {}
        }
    }
}

/// A signaling server that rewrites the DTLS fingerprint of a later description (an ICE restart's
/// re-offer, or the answer to one) cannot change the safety code a person reads: webrtc-rs checks only
/// the first description's fingerprint, so the link pins it and fails on a different one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_fingerprint_in_a_later_description_fails_the_link_and_keeps_the_code() {
    if !runnable() {
        return;
    }
    let server = start_server().await;
    let url = server.ws_url();
    for forge in [Forge::Offer, Forge::Answer] {
        let room = format!("forged-{forge:?}");
        let mut ann = Peer::join_room(&url, "Ann", &room).await;
        let mut bob = Peer::join_room(&url, "Bob", &room).await;
        let (bob_id, at_ann) = open_code(&mut ann, &room).await;
        let (ann_id, at_bob) = open_code(&mut bob, &room).await;
        assert_eq!(at_ann, at_bob, "both ends show the same code");

        // An honest ICE restart keeps the link and its code.
        assert!(ann.manager.restart_ice(&room, &bob_id));
        let text = ChannelMessage::msg("after an honest restart".to_owned(), "Ann").to_text();
        assert!(ann.manager.send(&room, &bob_id, &text).await.unwrap());
        assert_eq!(bob.message().await, "after an honest restart");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(
            bob.manager.safety_code(&room, &ann_id).await,
            Some(at_bob.clone())
        );

        // Ann's next re-offer (or her answer to Bob's) reaches Bob with another fingerprint.
        *ann.forge.lock().unwrap() = Some(forge);
        match forge {
            Forge::Offer => assert!(ann.manager.restart_ice(&room, &bob_id)),
            Forge::Answer => assert!(bob.manager.restart_ice(&room, &ann_id)),
        }
        let reason = fails_without_changing_code(&mut bob, &room, &ann_id, &at_bob).await;
        assert!(reason.contains("certificate"), "{forge:?}: {reason}");
        assert_eq!(
            *ann.forge.lock().unwrap(),
            None,
            "{forge:?}: the forgery was sent"
        );
        ann.manager.close_all().await;
        bob.manager.close_all().await;
    }
}

/// A fresh, empty data folder for one device.
fn data_folder(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "p2pchat-links-{name}-{}-{}",
        std::process::id(),
        uuid::Uuid::now_v7()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Ann (data folder `ann`) and Bob (`bob`) start, link in `room` and stop; returns the code both saw.
/// Each call is a restart: new signaling clients, managers and identities read from the folders.
async fn link_once(url: &str, room: &str, ann: &std::path::Path, bob: &std::path::Path) -> String {
    let ann_identity = DeviceIdentity::in_dir(ann);
    let bob_identity = DeviceIdentity::in_dir(bob);
    let mut ann = Peer::join_as(url, "Ann", room, Some(ann_identity.clone())).await;
    let mut bob = Peer::join_as(url, "Bob", room, Some(bob_identity.clone())).await;
    let (bob_id, at_ann) = open_code(&mut ann, room).await;
    let (ann_id, at_bob) = open_code(&mut bob, room).await;
    assert_eq!(at_ann, at_bob, "both ends show the same code");
    // The UI learns both certificates: ours is the device's, the peer's is its device's.
    let seen_by_ann = ann.manager.fingerprints(room, &bob_id).await.unwrap();
    assert_eq!(
        Some(&seen_by_ann.local),
        ann_identity.fingerprint().as_ref()
    );
    assert_eq!(
        Some(&seen_by_ann.remote),
        bob_identity.fingerprint().as_ref()
    );
    assert_eq!(ann.manager.local_fingerprint(), ann_identity.fingerprint());
    let seen_by_bob = bob.manager.fingerprints(room, &ann_id).await.unwrap();
    assert_eq!(seen_by_bob.remote, seen_by_ann.local);
    ann.manager.close_all().await;
    bob.manager.close_all().await;
    ann.client.leave(room).unwrap();
    bob.client.leave(room).unwrap();
    at_ann
}

/// Two devices that keep their identities (data folders) see the same safety code after both restart,
/// so people verify each other once; a device with a fresh folder (a new device, or one that forgot
/// itself) shows another code. Before the device identity every link had new certificates and a new code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_safety_code_of_two_devices_survives_restarts() {
    if !runnable() {
        return;
    }
    let server = start_server().await;
    let url = server.ws_url();
    let (ann, bob) = (data_folder("ann"), data_folder("bob"));
    let first = link_once(&url, "identity-1", &ann, &bob).await;
    let again = link_once(&url, "identity-2", &ann, &bob).await;
    assert_eq!(
        first, again,
        "the same two devices, the same code after a restart"
    );

    let new_device = data_folder("bob-new");
    let other = link_once(&url, "identity-3", &ann, &new_device).await;
    assert_ne!(first, other, "a new device of Bob's has another code");
    for dir in [ann, bob, new_device] {
        std::fs::remove_dir_all(dir).unwrap();
    }
}

/// The next `Rekeyed` (from, to); a link that fails or closes first fails the test.
async fn rekeyed(me: &mut Peer) -> (String, String) {
    loop {
        match me.next().await {
            LinkEvent::Rekeyed { from, to, .. } => return (from, to),
            LinkEvent::Failed { reason, .. } => panic!("link failed: {reason}"),
            LinkEvent::Closed { peer, .. } => panic!("link to {peer} closed"),
            _ => {}
        }
    }
}

/// The signaling server restarts: both people get new peer ids while their link stays up, and each
/// re-keys it to the other's new id only after that session answered its `peer-id-check` (issue 22
/// N6) — both sides new, so each answers over the link whose claim names the checker. Chat then
/// goes on over the same link under the new ids.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_restart_re_keys_the_link_after_both_proofs() {
    if !runnable() {
        return;
    }
    let server = start_server().await;
    let addr = server.local_addr();
    let url = server.ws_url();
    let mut ann = Peer::join(&url, "Ann").await;
    let mut bob = Peer::join(&url, "Bob").await;
    let bob_id = ann.opened().await;
    let ann_id = bob.opened().await;

    server.shutdown().await;
    let bind = addr.to_string();
    let args = ["--bind", bind.as_str(), "--ui-dir", "/nonexistent"];
    let config = signaling_server::Config::from_args(args).unwrap();
    let _server = signaling_server::start(config).await.unwrap();

    let ((ann_from, bob_new), (bob_from, ann_new)) =
        tokio::join!(rekeyed(&mut ann), rekeyed(&mut bob));
    assert_eq!(ann_from, bob_id);
    assert_eq!(bob_from, ann_id);
    assert_ne!(bob_new, bob_id);
    assert_ne!(ann_new, ann_id);
    let text = ChannelMessage::msg("after the restart".into(), "Ann").to_text();
    assert!(
        ann.manager.send(ROOM, &bob_new, &text).await.unwrap(),
        "same channel, new key"
    );
    assert_eq!(bob.message().await, "after the restart");
    assert!(!ann.manager.send(ROOM, &bob_id, "old id").await.unwrap());
}
