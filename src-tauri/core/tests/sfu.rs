//! The native engine's SFU calls against Debian's Janus (started by tests/e2e/janus.sh with the shipped
//! configuration, as the server's tests and tests/e2e/janus.mjs do) and the real signaling server in
//! process at --mesh-size 2: participants are placed by `sfu-join`, join the videoroom with their tokens
//! and publish the test pattern and tone once, every frame sealed with their own key. Ann and Bob hold
//! each other's keys and decode each other's video through Janus, frames counting up; Dave was given no
//! key: Janus's packets from both reach him and he decodes none of them, and nobody decodes his (the
//! control that the media really is end-to-end encrypted). A media line Janus reuses for a newcomer plays
//! the newcomer; someone who leaves and comes back at once is decoded again; a subscriber without a
//! picture gets one through its key-frame request, not the publisher's next periodic key frame.
//!
//! Runs in a network namespace like tests/links.rs (`tests/e2e/netns.sh env P2PCHAT_NETNS_TESTS=1 cargo
//! test -p p2pchat-core --test sfu`); needs `janus` (.ci/deps.sh installs it).

mod common;
// The server's tests start Janus with the same code; they use more of it.
#[allow(dead_code)]
#[path = "../../../signaling-server/tests/common/janus_process.rs"]
mod janus_process;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_protocol::ServerFrame;
use common::{runnable, start_server_with};
use janus_process::JanusProcess;
use p2pchat_core::media::{AudioSource, Capture, CaptureOptions, PlaybackOptions, VideoSource};
use p2pchat_core::sfu::{CallKeys, SfuPlace, VideoRoom};
use p2pchat_core::signaling::{Client, ClientConfig, ClientEvent, parse_server_url};
use tokio::sync::mpsc;

const ROOM: &str = "sfu-native";
const CALL: &str = "call-1";
const WAIT: Duration = Duration::from_secs(30);

/// The signaling server's flags for `janus`, at --mesh-size 2.
fn server_flags(janus: &JanusProcess) -> Vec<String> {
    let mut flags = janus.flags();
    flags.extend(JanusProcess::secret_flags());
    flags.extend(["--mesh-size".to_owned(), "2".to_owned()]);
    flags
}

/// Janus and the signaling server at --mesh-size 2 for one test, and the server's address; `None`
/// outside the test's network namespace.
async fn janus_and_server() -> Option<(JanusProcess, signaling_server::RunningServer, String)> {
    if !runnable() {
        return None;
    }
    let janus = JanusProcess::start();
    let server = start_server_with(&server_flags(&janus)).await;
    let url = server.ws_url();
    Some((janus, server, url))
}

/// A participant: its signaling session, its place in the videoroom, its keys and media.
struct Participant {
    peer: String,
    keys: Arc<CallKeys>,
    place: SfuPlace,
    _client: Client,
}

/// Joins the room, asks the server to place the call (the participants are past the mesh size) and
/// returns where.
async fn placed(url: &str, name: &str) -> Participant {
    let (events_tx, mut events) = mpsc::channel(256);
    let client = Client::spawn(
        ClientConfig {
            url: parse_server_url(url).unwrap(),
            name: name.into(),
            token: None,
            rooms: [ROOM.to_owned()].into(),
        },
        events_tx,
    );
    let mut peer = None;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("the server answers in time")
            .expect("the client runs");
        let ClientEvent::Frame(frame) = event else {
            continue;
        };
        match frame {
            ServerFrame::Welcome { peer: me, sfu, .. } => {
                assert_eq!(sfu.map(|s| s.mesh_size), Some(2), "welcome.sfu");
                peer = Some(me);
            }
            ServerFrame::Joined { .. } => client.sfu(ROOM, CALL, true).expect("sfu-join sent"),
            ServerFrame::Sfu {
                url,
                token,
                janus_room,
                ..
            } => {
                return Participant {
                    peer: peer.expect("welcome first"),
                    keys: Arc::new(CallKeys::new()),
                    place: SfuPlace {
                        url,
                        token,
                        janus_room,
                    },
                    _client: client,
                };
            }
            // Until the server's first health check saw Janus answer.
            ServerFrame::Error { r#ref: Some(r), .. } if r == "sfu-join" => {
                tokio::time::sleep(Duration::from_millis(300)).await;
                client.sfu(ROOM, CALL, true).expect("sfu-join sent");
            }
            ServerFrame::Error { message, .. } => panic!("{name}: {message}"),
            _ => {}
        }
    }
}

async fn join(who: &Participant) -> VideoRoom {
    join_sending(who, VideoSource::Test).await
}

/// Joins the videoroom publishing `video` and the test tone.
async fn join_sending(who: &Participant, video: VideoSource) -> VideoRoom {
    let (events, mut notices) = mpsc::unbounded_channel();
    tokio::spawn(async move { while notices.recv().await.is_some() {} });
    let capture = Capture::start(
        CaptureOptions {
            video,
            audio: AudioSource::Test,
            preview: None,
            echo_cancel: false,
        },
        events.clone(),
    )
    .expect("GStreamer runs");
    let (room, _lost) = VideoRoom::join(
        who.place.clone(),
        ROOM,
        &who.peer,
        Some(Arc::new(capture)),
        Vec::new(),
        who.keys.clone(),
        PlaybackOptions::default(),
        events,
    )
    .await
    .expect("joins the videoroom");
    room
}

/// Waits until `check` holds for `room`'s counters of `peer`; says what it last saw otherwise.
async fn until(room: &VideoRoom, peer: &str, what: &str, check: impl Fn(u64, u64) -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        let stats = room.stats(peer);
        if check(stats.frames_decoded, stats.bytes_received) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: {} frames decoded of {} bytes received",
            stats.frames_decoded,
            stats.bytes_received
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn participants_decode_each_other_through_janus_and_nobody_decodes_without_the_key() {
    let Some((_janus, _server, url)) = janus_and_server().await else {
        return;
    };
    let ann = placed(&url, "Ann").await;
    let bob = placed(&url, "Bob").await;
    let dave = placed(&url, "Dave").await;
    assert_eq!(ann.place.janus_room, dave.place.janus_room, "one videoroom");
    // Keys as the chat channel would carry them: Ann and Bob have each other's, Dave nobody's and
    // nobody his.
    ann.keys.set_peer_key(&bob.peer, bob.keys.announced_key());
    bob.keys.set_peer_key(&ann.peer, ann.keys.announced_key());

    let rooms = [join(&ann).await, join(&bob).await, join(&dave).await];
    let [ann_room, bob_room, dave_room] = &rooms;
    for (room, from, who) in [(ann_room, &bob.peer, "Ann"), (bob_room, &ann.peer, "Bob")] {
        until(
            room,
            from,
            &format!("{who} decodes through Janus"),
            |f, _| f > 10,
        )
        .await;
        let before = room.stats(from).frames_decoded;
        until(room, from, &format!("{who}'s frames count up"), |f, _| {
            f > before + 10
        })
        .await;
    }
    for from in [&ann.peer, &bob.peer] {
        until(dave_room, from, "Dave receives Janus's packets", |_, b| {
            b > 50_000
        })
        .await;
        assert_eq!(
            dave_room.stats(from).frames_decoded,
            0,
            "Dave decodes nothing without keys"
        );
    }
    for room in [ann_room, bob_room] {
        until(room, &dave.peer, "Dave's packets arrive", |_, b| b > 50_000).await;
        assert_eq!(
            room.stats(&dave.peer).frames_decoded,
            0,
            "nobody decodes Dave"
        );
    }
    for room in rooms {
        room.close().await;
    }
}

/// Gives each of `people` the others' keys, as the chat channel would.
fn share_keys(people: &[&Participant]) {
    for who in people {
        for other in people.iter().filter(|o| o.peer != who.peer) {
            who.keys
                .set_peer_key(&other.peer, other.keys.announced_key());
        }
    }
}

/// Janus gives the media lines of someone who left to the next person it adds to a subscription: Ann
/// decodes Carol, Carol leaves, Dave joins on Carol's lines, and Ann decodes Dave as Dave (his frames
/// opened with his key, counted as his), not as Carol.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_media_line_janus_reuses_for_a_newcomer_plays_the_newcomer() {
    let Some((_janus, _server, url)) = janus_and_server().await else {
        return;
    };
    let ann = placed(&url, "Ann").await;
    let carol = placed(&url, "Carol").await;
    let dave = placed(&url, "Dave").await;
    share_keys(&[&ann, &carol, &dave]);

    let ann_room = join(&ann).await;
    let carol_room = join(&carol).await;
    until(&ann_room, &carol.peer, "Ann decodes Carol", |f, _| f > 10).await;
    let carols_lines: Vec<String> = ann_room
        .media_lines()
        .into_iter()
        .filter_map(|(mid, peer)| (peer == carol.peer).then_some(mid))
        .collect();
    assert_eq!(carols_lines.len(), 2, "Carol's audio and video lines");

    carol_room.close().await;
    let deadline = Instant::now() + WAIT;
    while ann_room.peers().contains(&carol.peer) || !ann_room.media_lines().is_empty() {
        assert!(
            Instant::now() < deadline,
            "Carol's lines stay: {:?}",
            ann_room.media_lines()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let dave_room = join(&dave).await;
    until(&ann_room, &dave.peer, "Ann decodes Dave", |f, _| f > 10).await;
    let before = ann_room.stats(&dave.peer).frames_decoded;
    until(&ann_room, &dave.peer, "Dave's frames count up", |f, _| {
        f > before + 10
    })
    .await;
    let lines = ann_room.media_lines();
    for mid in &carols_lines {
        assert_eq!(
            lines.get(mid),
            Some(&dave.peer),
            "Janus reused Carol's line {mid}: {lines:?}"
        );
    }
    assert_eq!(ann_room.peers(), std::slice::from_ref(&dave.peer));
    for room in [ann_room, dave_room] {
        room.close().await;
    }
}

/// A subscriber that cannot decode what arrives (here: the sender's key came late, as it can at the
/// move to the SFU) asks for a key frame: Bob has Ann's key only once her packets reach him, and sees
/// her picture within seconds although her encoder's own key frames are 30 s apart (2 frames/s, one
/// in 60), because Janus passes his key-frame request on to her.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_without_a_picture_asks_for_a_key_frame() {
    let Some((_janus, _server, url)) = janus_and_server().await else {
        return;
    };
    let ann = placed(&url, "Ann").await;
    let bob = placed(&url, "Bob").await;
    let slow = VideoSource::TestSized {
        width: 160,
        height: 120,
        fps: 2,
    };
    let ann_room = join_sending(&ann, slow).await;
    let bob_room = join(&bob).await;
    until(&bob_room, &ann.peer, "Ann's packets reach Bob", |_, b| {
        b > 20_000
    })
    .await;
    assert_eq!(bob_room.stats(&ann.peer).frames_decoded, 0, "no key yet");
    // Let her first key frame (Janus asks for one when Bob subscribes) pass undecoded.
    tokio::time::sleep(Duration::from_secs(3)).await;
    bob.keys.set_peer_key(&ann.peer, ann.keys.announced_key());
    let keyed = Instant::now();
    until(&bob_room, &ann.peer, "Bob sees Ann", |f, _| f > 0).await;
    assert!(
        keyed.elapsed() < Duration::from_secs(8),
        "Bob waited {:?} for a picture",
        keyed.elapsed()
    );
    for room in [ann_room, bob_room] {
        room.close().await;
    }
}

/// Someone who leaves and at once comes back (the same peer id, a new feed in Janus) is decoded again:
/// Carol's second feed takes over from her first, and its frames count as hers.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn someone_who_leaves_and_comes_back_at_once_is_decoded_again() {
    let Some((_janus, _server, url)) = janus_and_server().await else {
        return;
    };
    let ann = placed(&url, "Ann").await;
    let carol = placed(&url, "Carol").await;
    share_keys(&[&ann, &carol]);
    let ann_room = join(&ann).await;
    let carol_room = join(&carol).await;
    until(&ann_room, &carol.peer, "Ann decodes Carol", |f, _| f > 10).await;

    carol_room.close().await;
    let carol_room = join(&carol).await;
    // Past Janus's news of her first feed leaving: what counts up now is her second.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before = ann_room.stats(&carol.peer).frames_decoded;
    until(&ann_room, &carol.peer, "Ann decodes Carol again", |f, _| {
        f > before + 10
    })
    .await;
    for room in [ann_room, carol_room] {
        room.close().await;
    }
}
