//! Chat over a native link by the app's rules (`chat_send`, `chat://message`, `chat://status`): the whole
//! app (mock runtime) and a second person (the core's client and links, as the headless peer runs them)
//! in one room of the real signaling server. WebRTC needs the test's own network namespace: runs with
//! P2PCHAT_NETNS_TESTS=1 inside tests/e2e/netns.sh, and says it skipped otherwise.

use std::sync::Arc;
use std::time::{Duration, Instant};

use p2pchat_core::chat::ChannelMessage;
use p2pchat_core::chat::ratelimit::CHAT_BURST;
use p2pchat_core::links::{LinkEvent, LinkManager};
use p2pchat_core::signaling::{Client, ClientConfig, ClientEvent, parse_server_url};
use serde_json::{Value, json};
use tauri::async_runtime::block_on;
use tokio::sync::mpsc;

use super::{TestApp, real_server};

const ROOM: &str = "chat-rules";
const WAIT: Duration = Duration::from_secs(30);

/// Bob: a signaling client feeding native links, in `ROOM`.
struct Bob {
    links: LinkManager,
    events: mpsc::Receiver<LinkEvent>,
    _client: Arc<Client>,
}

impl Bob {
    async fn join(url: &str) -> Bob {
        let config = ClientConfig {
            url: parse_server_url(url).unwrap(),
            name: "Bob".into(),
            token: None,
            rooms: [ROOM.to_owned()].into(),
        };
        let (client_tx, mut client_rx) = mpsc::channel(256);
        let client = Arc::new(Client::spawn(config, client_tx));
        let signaling = client.clone();
        let (events_tx, events) = mpsc::channel(256);
        let links = LinkManager::new(
            move |room, to, data| {
                let raw = serde_json::value::to_raw_value(&data).unwrap();
                let _ = signaling.signal(room, to, raw);
            },
            events_tx,
            Default::default(),
        );
        let pump = links.clone();
        tokio::spawn(async move {
            while let Some(event) = client_rx.recv().await {
                if let ClientEvent::Frame(frame) = event {
                    pump.on_frame(&frame).await;
                }
            }
        });
        Bob {
            links,
            events,
            _client: client,
        }
    }

    /// The next event of Bob's links.
    async fn next(&mut self) -> LinkEvent {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("a link event in time")
            .expect("links alive")
    }
}

/// Ann (the app) writes to Bob with one call: Bob gets it over the link and acks it, and the app says
/// delivered and stores it so; Bob's message, sent twice, reaches the window once, is acked each time
/// and is stored once under the name the server knows; a flood of Bob's is paced as in the web UI.
#[test]
fn chat_send_delivers_and_incoming_messages_arrive_once() {
    if std::env::var("P2PCHAT_NETNS_TESTS").is_err() {
        eprintln!("skipped: needs WebRTC in a private network namespace (P2PCHAT_NETNS_TESTS=1)");
        return;
    }
    let (_server, url) = real_server(&[]);
    let app = TestApp::start();
    let incoming = app.events("chat://message");
    let statuses = app.events("chat://status");
    let frames = app.events("signaling://frame");
    let caps = json!({"rtc_peer_connection": false, "get_user_media": false});
    app.invoke("report_webview_capabilities", json!({"capabilities": caps}))
        .unwrap();
    app.invoke("connect", json!({"name": "Ann", "url": url}))
        .unwrap();
    // Ann is in the room first, so Bob's arrival starts the link.
    let _ = app.invoke("join_room", json!({"room": ROOM}));
    frames.wait_for("joined", |f| f["type"] == "joined");
    let mut bob = block_on(Bob::join(&url));
    let ann = block_on(async {
        loop {
            if let LinkEvent::Open { peer, .. } = bob.next().await {
                return peer;
            }
        }
    });

    let message =
        json!({"t": "msg", "id": "m-ann-1", "body": "hello Bob", "sentAt": 1000, "name": "Ann"});
    app.invoke("chat_send", json!({"room": ROOM, "message": message}))
        .unwrap();
    let got = block_on(async {
        loop {
            if let LinkEvent::Message { text, .. } = bob.next().await
                && let Some(ChannelMessage::Msg { id, body, .. }) = ChannelMessage::parse(&text)
            {
                return (id, body);
            }
        }
    });
    assert_eq!(got, ("m-ann-1".to_owned(), "hello Bob".to_owned()));
    let ack = ChannelMessage::Ack {
        id: "m-ann-1".into(),
    };
    assert!(block_on(bob.links.send(ROOM, &ann, &ack.to_text())).unwrap());
    let delivered = statuses.wait_for("delivered", |s| s["status"] == "delivered");
    assert_eq!(delivered["id"], "m-ann-1");
    let page = app.invoke("messages_page", json!({"room": ROOM})).unwrap();
    assert_eq!(page["messages"][0]["status"], "delivered", "{page}");

    let from_bob = ChannelMessage::Msg {
        id: "m-bob-1".into(),
        body: "hi Ann".into(),
        sent_at: 2000,
        name: "Mallory".into(),
    };
    for _ in 0..2 {
        assert!(block_on(bob.links.send(ROOM, &ann, &from_bob.to_text())).unwrap());
    }
    let shown = incoming.wait_for("chat://message", |_| true);
    assert_eq!(shown["message"]["body"], "hi Ann");
    assert_eq!(
        shown["message"]["name"], "Bob",
        "the server's name, not the claimed one"
    );
    let acks = block_on(async {
        let mut acks = 0;
        while acks < 2 {
            if let LinkEvent::Message { text, .. } = bob.next().await
                && matches!(ChannelMessage::parse(&text), Some(ChannelMessage::Ack { id }) if id == "m-bob-1")
            {
                acks += 1;
            }
        }
        acks
    });
    assert_eq!(acks, 2, "every copy is acked");
    let stored: Vec<Value> =
        app.invoke("messages_page", json!({"room": ROOM})).unwrap()["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["id"] == "m-bob-1")
            .cloned()
            .collect();
    assert_eq!(stored.len(), 1, "stored once");
    assert!(
        incoming.try_next().is_none(),
        "the copy reached the window once"
    );

    // A flood: 10 beyond the burst wait their turn (5 a second) instead of being stored at once, and
    // all arrive, in order, once.
    let flood = CHAT_BURST as usize + 10;
    let started = Instant::now();
    for i in 0..flood {
        let text = ChannelMessage::Msg {
            id: format!("m-flood-{i}"),
            body: format!("flood {i}"),
            sent_at: 3000 + i as i64,
            name: "Bob".into(),
        }
        .to_text();
        assert!(block_on(bob.links.send(ROOM, &ann, &text)).unwrap());
    }
    let bodies: Vec<Value> = (0..flood)
        .map(|_| incoming.wait_for("a flood message", |_| true)["message"]["body"].clone())
        .collect();
    let paced = started.elapsed();
    let expected: Vec<Value> = (0..flood).map(|i| json!(format!("flood {i}"))).collect();
    assert_eq!(bodies, expected, "each once, in order");
    // The 10th message past the burst earns its token 2 s after the first arrived.
    assert!(
        paced >= Duration::from_millis(1900),
        "a flood is paced, not taken at once: {paced:?}"
    );
}
