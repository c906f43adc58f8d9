//! The native engine's SFU calls against Debian's Janus (started with tests/e2e/janus-config.sh, as the
//! server's tests and tests/e2e/janus.mjs do) and the real signaling server in process at --mesh-size 2:
//! three participants are placed by `sfu-join`, join the videoroom with their tokens and publish the
//! 320×240 test pattern and tone once, every frame sealed with their own key. Ann and Bob hold each
//! other's keys and decode each other's video through Janus, frames counting up; Dave was given no key:
//! Janus's packets from both reach him and he decodes none of them, and nobody decodes his (the control
//! that the media really is end-to-end encrypted, and that nothing decodes without the key).
//!
//! Runs in a network namespace like tests/links.rs (`tests/e2e/netns.sh env P2PCHAT_NETNS_TESTS=1 cargo
//! test -p p2pchat-core --test sfu`); needs `janus` (.ci/deps.sh installs it).

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chat_protocol::ServerFrame;
use common::{runnable, start_server_with};
use p2pchat_core::media::{AudioSource, Capture, CaptureOptions, PlaybackOptions, VideoSource};
use p2pchat_core::sfu::{CallKeys, SfuPlace, VideoRoom};
use p2pchat_core::signaling::{Client, ClientConfig, ClientEvent, parse_server_url};
use tokio::sync::mpsc;

const ROOM: &str = "sfu-native";
const CALL: &str = "call-1";
const SECRETS: [&str; 3] = [
    "core-test-janus-api-secret-0123456789",
    "core-test-janus-admin-secret-012345678",
    "core-test-janus-room-admin-key-0123456",
];
const WAIT: Duration = Duration::from_secs(30);

/// Janus on free loopback ports, stopped (SIGKILL) and its folder removed on drop.
struct Janus {
    child: Child,
    dir: std::path::PathBuf,
    ports: [u16; 3],
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Janus {
    fn start() -> Janus {
        for _ in 0..5 {
            let ports = [free_port(), free_port(), free_port()];
            let dir = std::env::temp_dir().join(format!("core-janus-{}", ports[0]));
            let _ = std::fs::remove_dir_all(&dir);
            let script =
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/e2e/janus-config.sh");
            let status = Command::new(&script)
                .arg(&dir)
                .args(ports.map(|p| p.to_string()))
                .args(SECRETS)
                .status()
                .expect("tests/e2e/janus-config.sh runs");
            assert!(status.success(), "janus-config.sh failed");
            let log = std::fs::File::create(dir.join("janus.log")).expect("a log file");
            let child = Command::new("janus")
                .arg(format!("--configs-folder={}", dir.display()))
                .arg(format!("--config={}", dir.join("janus.jcfg").display()))
                .arg("--disable-colors")
                .stdout(log)
                .stderr(Stdio::null())
                .spawn()
                .expect("janus runs (apt-get install janus; .ci/deps.sh installs it)");
            let mut janus = Janus { child, dir, ports };
            let deadline = Instant::now() + WAIT;
            loop {
                let log = std::fs::read_to_string(janus.dir.join("janus.log")).unwrap_or_default();
                if log.contains("WebSockets thread started")
                    && log.contains("Admin/monitor HTTP webserver started")
                {
                    return janus;
                }
                let exited = matches!(janus.child.try_wait(), Ok(Some(_)));
                if exited || log.contains("No WebSockets server started") {
                    break; // a port was taken: others
                }
                assert!(Instant::now() < deadline, "janus did not start: {log}");
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        panic!("janus could not listen on free ports 5 times");
    }

    /// The signaling server's flags for it.
    fn server_flags(&self) -> Vec<String> {
        let [http, admin, ws] = self.ports;
        [
            "--sfu-url".to_owned(),
            format!("http://127.0.0.1:{http}/janus"),
            "--sfu-admin-url".to_owned(),
            format!("http://127.0.0.1:{admin}/admin"),
            "--sfu-public-url".to_owned(),
            format!("ws://127.0.0.1:{ws}"),
            "--sfu-api-secret".to_owned(),
            SECRETS[0].to_owned(),
            "--sfu-admin-secret".to_owned(),
            SECRETS[1].to_owned(),
            "--sfu-room-admin-key".to_owned(),
            SECRETS[2].to_owned(),
            "--mesh-size".to_owned(),
            "2".to_owned(),
        ]
        .into()
    }
}

impl Drop for Janus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
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
    let (events, mut notices) = mpsc::unbounded_channel();
    tokio::spawn(async move { while notices.recv().await.is_some() {} });
    let capture = Capture::start(
        CaptureOptions {
            video: VideoSource::Test,
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
    if !runnable() {
        return;
    }
    let janus = Janus::start();
    let server = start_server_with(&janus.server_flags()).await;
    let url = server.ws_url();
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
