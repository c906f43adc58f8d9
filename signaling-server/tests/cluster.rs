//! Several servers sharing one Redis (`--redis-url`): each test starts Debian's `redis-server` on a free
//! loopback port and 2–3 server processes (real processes, so one can be killed with SIGKILL), and drives
//! them with real WebSocket clients. Without `redis-server` these tests fail: CI installs it.

mod common;

use std::time::{Duration, Instant};

use common::node::{GRACE_MS, NODE_TTL_MS, Node};
use common::redis_server::{Redis, free_port};
use common::{Client, expect_close};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// Bound for conditions that take a heartbeat or a reconnection (generous: the machine may be loaded).
const SLOW: Duration = Duration::from_secs(20);
async fn wait_until<F: AsyncFn() -> bool>(what: &str, condition: F) {
    let deadline = Instant::now() + SLOW;
    while !condition().await {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn connect(node: &Node, name: &str) -> Client {
    Client::hello_url(&node.ws(), json!({"type": "hello", "v": 1, "name": name}))
        .await
        .0
}

async fn resume_on(node: &Node, name: &str, resume: Value) -> (Client, Value) {
    Client::hello_url(
        &node.ws(),
        json!({"type": "hello", "v": 1, "name": name, "resume": resume}),
    )
    .await
}

fn signal(room: &str, to: &str, n: u64) -> Value {
    json!({"type": "signal", "room": room, "to": to, "data": {"n": n}})
}

/// `a` on one server and `b` on another, both in room `r`; `a` has seen `b` join.
async fn pair(n1: &Node, n2: &Node) -> (Client, Client) {
    let mut a = connect(n1, "a").await;
    let mut b = connect(n2, "b").await;
    assert_eq!(a.join("r").await["peers"], json!([]));
    let joined = b.join("r").await;
    assert_eq!(joined["peers"], json!([{"peer": a.peer, "name": "a"}]));
    assert_eq!(a.expect("peer-joined").await["peer"], b.peer);
    (a, b)
}

async fn expect_signals(client: &mut Client, from: &str, numbers: std::ops::Range<u64>) {
    for n in numbers {
        let frame = client.expect("signal").await;
        assert_eq!(frame["data"]["n"], n, "{frame}");
        assert_eq!(frame["from"], from, "{frame}");
    }
}

#[tokio::test]
async fn a_signal_to_a_peer_on_another_server_arrives_exactly_once_and_in_order() {
    let redis = Redis::start();
    let (n1, n2) = (
        Node::start(&redis, &[]).await,
        Node::start(&redis, &[]).await,
    );
    let (mut a, mut b) = pair(&n1, &n2).await;
    for n in 0..150 {
        a.send(signal("r", &b.peer, n)).await;
    }
    expect_signals(&mut b, &a.peer.clone(), 0..150).await;
    for n in 0..20 {
        b.send(signal("r", &a.peer, n)).await;
    }
    expect_signals(&mut a, &b.peer.clone(), 0..20).await;
    // Nothing twice, and no error for anyone.
    b.expect_silence(Duration::from_millis(500)).await;
    a.expect_silence(Duration::from_millis(100)).await;
    // Each server counts what it relayed to the other, and times what it received from it.
    assert_eq!(n1.metric("cluster_relays_total").await, 150.0);
    assert_eq!(n2.metric("cluster_relays_total").await, 20.0);
    assert_eq!(
        n2.metric("cross_node_relay_latency_seconds_count").await,
        150.0
    );
    assert_eq!(
        n1.metric("cross_node_relay_latency_seconds_count").await,
        20.0
    );
    let took = n2.metric("cross_node_relay_latency_seconds_sum").await;
    assert!(took > 0.0 && took < 150.0 * SLOW.as_secs_f64(), "{took}");
    for node in [&n1, &n2] {
        assert_eq!(node.metric("cluster_up").await, 1.0);
        assert_eq!(node.metric("cluster_errors_total").await, 0.0);
    }
}

#[tokio::test]
async fn a_session_resumed_on_another_server_replays_what_it_missed_and_keeps_its_rooms() {
    let redis = Redis::start();
    let (n1, n2) = (
        Node::start(&redis, &[]).await,
        Node::start(&redis, &[]).await,
    );
    let (mut a, b) = pair(&n1, &n2).await;
    let (b_peer, resume) = (b.peer.clone(), b.resume());
    drop(b);
    for n in 0..5 {
        a.send(signal("r", &b_peer, n)).await;
    }
    let (mut b, welcome) = resume_on(&n1, "b", resume).await;
    assert_eq!(welcome["resumed"], true, "{welcome}");
    assert_eq!(b.peer, b_peer);
    expect_signals(&mut b, &a.peer.clone(), 0..5).await;
    // Still in the room, now served by the other server: a third client there reaches it.
    let mut c = connect(&n2, "c").await;
    let joined = c.join("r").await;
    assert_eq!(joined["peers"].as_array().unwrap().len(), 2, "{joined}");
    assert_eq!(b.expect("peer-joined").await["peer"], c.peer);
    assert_eq!(a.expect("peer-joined").await["peer"], c.peer);
    c.send(signal("r", &b.peer, 9)).await;
    expect_signals(&mut b, &c.peer.clone(), 9..10).await;
    // The move was invisible to the others.
    a.expect_silence(Duration::from_millis(500)).await;
    assert_eq!(n1.metric("cluster_takeovers_total").await, 1.0);
}

#[tokio::test]
async fn resuming_elsewhere_closes_the_old_connection_with_1000() {
    let redis = Redis::start();
    let (n1, n2) = (
        Node::start(&redis, &[]).await,
        Node::start(&redis, &[]).await,
    );
    let (_a, mut b) = pair(&n1, &n2).await;
    let (_b2, welcome) = resume_on(&n1, "b", b.resume()).await;
    assert_eq!(welcome["resumed"], true, "{welcome}");
    assert_eq!(expect_close(&mut b.ws).await, CloseCode::Normal);
}

#[tokio::test]
async fn of_two_resumes_racing_on_two_servers_exactly_one_wins() {
    let redis = Redis::start();
    let (n1, n2) = (
        Node::start(&redis, &[]).await,
        Node::start(&redis, &[]).await,
    );
    let mut a = connect(&n1, "a").await;
    a.join("r").await;
    for round in 0..3 {
        let mut b = connect(&n2, "b").await;
        b.join("r").await;
        assert_eq!(a.expect("peer-joined").await["peer"], b.peer);
        let (b_peer, resume) = (b.peer.clone(), b.resume());
        drop(b);
        let ((c1, w1), (c2, w2)) = tokio::join!(
            resume_on(&n1, "b", resume.clone()),
            resume_on(&n2, "b", resume)
        );
        let winners = [&w1, &w2].iter().filter(|w| w["resumed"] == true).count();
        assert_eq!(winners, 1, "round {round}: {w1} / {w2}");
        let (mut winner, mut loser) = if w1["resumed"] == true {
            (c1, c2)
        } else {
            (c2, c1)
        };
        assert_eq!(winner.peer, b_peer);
        assert_ne!(loser.peer, b_peer, "the loser gets a fresh session");
        a.send(signal("r", &b_peer, round)).await;
        expect_signals(&mut winner, &a.peer.clone(), round..round + 1).await;
        loser.expect_silence(Duration::from_millis(300)).await;
        // Leave cleanly for the next round.
        winner.send(json!({"type": "leave", "room": "r"})).await;
        assert_eq!(a.expect("peer-left").await["peer"], b_peer);
    }
}

#[tokio::test]
async fn after_kill_9_clients_resume_elsewhere_and_peers_that_never_return_leave() {
    let redis = Redis::start();
    let n1 = Node::start(&redis, &[]).await;
    let mut n2 = Node::start(&redis, &[]).await;
    let n3 = Node::start(&redis, &[]).await;
    let (mut a, mut b) = pair(&n1, &n2).await;
    let mut c = connect(&n2, "c").await;
    c.join("r").await;
    assert_eq!(a.expect("peer-joined").await["peer"], c.peer);
    assert_eq!(b.expect("peer-joined").await["peer"], c.peer);
    let (b_peer, c_peer, resume) = (b.peer.clone(), c.peer.clone(), b.resume());
    n2.signal(libc::SIGKILL);
    let killed = Instant::now();
    n2.exited().await;
    wait_until("Redis dropped the dead server's subscription", async || {
        redis.subscribed_servers().await == 2
    })
    .await;
    // Sent while b's server is dead and before b is back: kept for it in Redis.
    a.send(signal("r", &b_peer, 1)).await;
    a.ping().await;
    drop((b, c));
    let (mut b, welcome) = resume_on(&n3, "b", resume).await;
    assert_eq!(welcome["resumed"], true, "{welcome}");
    expect_signals(&mut b, &a.peer.clone(), 1..2).await;
    // c never comes back: once the dead server's heartbeat expired and the grace period passed (by
    // Redis's clock), both see it leave; b, which resumed, never leaves.
    for client in [&mut a, &mut b] {
        let left = client.expect_within("peer-left", SLOW).await;
        assert_eq!(left["peer"], c_peer, "{left}");
    }
    assert!(
        killed.elapsed() >= Duration::from_millis(GRACE_MS),
        "peer-left came before the grace period ended"
    );
    a.expect_silence(Duration::from_millis(GRACE_MS)).await;
    a.send(signal("r", &b_peer, 2)).await;
    expect_signals(&mut b, &a.peer.clone(), 2..3).await;
}

#[tokio::test]
async fn servers_survive_a_redis_restart_and_are_not_ready_meanwhile() {
    let mut redis = Redis::start();
    let port = redis.port;
    let (n1, n2) = (
        Node::start(&redis, &[]).await,
        Node::start(&redis, &[]).await,
    );
    let (mut a, mut b) = pair(&n1, &n2).await;
    redis.kill();
    wait_until("both servers say not ready", async || {
        !n1.ready().await && !n2.ready().await
    })
    .await;
    assert_eq!(n1.metric("cluster_up").await, 0.0);
    // Meanwhile a signal to a peer on the other server is refused, not silently dropped.
    a.send(signal("r", &b.peer, 0)).await;
    assert_eq!(a.expect_error("overloaded").await["ref"], "signal");
    // Restarted empty: the servers reconnect, subscribe and write their sessions and rooms again.
    let redis = Redis::start_on(port);
    wait_until("both servers are ready again", async || {
        n1.ready().await && n2.ready().await
    })
    .await;
    a.send(signal("r", &b.peer, 1)).await;
    expect_signals(&mut b, &a.peer.clone(), 1..2).await;
    b.send(signal("r", &a.peer, 2)).await;
    expect_signals(&mut a, &b.peer.clone(), 2..3).await;
    let mut c = connect(&n2, "c").await;
    let joined = c.join("r").await;
    assert_eq!(joined["peers"].as_array().unwrap().len(), 2, "{joined}");
    assert_eq!(a.expect("peer-joined").await["peer"], c.peer);
    assert_eq!(b.expect("peer-joined").await["peer"], c.peer);
    assert_eq!(n1.metric("cluster_up").await, 1.0);
    // Re-registered: past a heartbeat TTL and the grace period, nobody left.
    a.expect_silence(Duration::from_millis(NODE_TTL_MS + GRACE_MS + 500))
        .await;
    drop(redis);
}

/// Redis may come up after the servers (a host boots, Redis restarts slowly): a server waits for it,
/// not ready and refusing sessions with `overloaded` meanwhile (one alone would split the cluster), and
/// serves once Redis answers.
#[tokio::test]
async fn a_server_started_before_redis_waits_for_it_and_then_serves() {
    let port = free_port();
    let node = Node::spawn(&format!("redis://127.0.0.1:{port}"), &[]);
    assert!(!node.ready().await, "ready without Redis");
    let (ws, _) = tokio_tungstenite::connect_async(node.ws()).await.unwrap();
    let mut early = Client::unwelcomed(ws);
    early
        .send(json!({"type": "hello", "v": 1, "name": "early"}))
        .await;
    assert_eq!(early.expect_error("overloaded").await["ref"], "hello");
    let redis = Redis::start_on(port);
    wait_until("the server is ready", async || node.ready().await).await;
    let other = Node::start(&redis, &[]).await;
    let (mut a, mut b) = pair(&node, &other).await;
    a.send(signal("r", &b.peer, 1)).await;
    expect_signals(&mut b, &a.peer.clone(), 1..2).await;
}

#[tokio::test]
async fn a_leave_while_redis_stalls_reaches_the_others_once_and_nobody_else_leaves() {
    let redis = Redis::start();
    let (n1, n2) = (
        Node::start(&redis, &[]).await,
        Node::start(&redis, &[]).await,
    );
    let (mut a, mut b) = pair(&n1, &n2).await;
    let mut c = connect(&n1, "c").await;
    c.join("r").await;
    assert_eq!(a.expect("peer-joined").await["peer"], c.peer);
    assert_eq!(b.expect("peer-joined").await["peer"], c.peer);
    // Redis answers nobody for longer than the heartbeat TTL and than the servers' response timeout: c's
    // leave fails on c's server and is sent again once Redis answers (Redis may also carry out the first
    // one when it wakes; the others must hear of it once).
    let stall = 3 * NODE_TTL_MS + 500;
    let stalled = tokio::task::spawn_blocking(move || {
        redis.stall(stall);
        redis
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.send(json!({"type": "leave", "room": "r"})).await;
    c.ping().await;
    // a shares c's server and hears at once; b hears once Redis answers again.
    assert_eq!(a.expect("peer-left").await["peer"], c.peer);
    let redis = stalled.await.unwrap();
    let left = b.expect_within("peer-left", SLOW).await;
    assert_eq!(left["peer"], c.peer, "{left}");
    wait_until("both servers are ready again", async || {
        n1.ready().await && n2.ready().await
    })
    .await;
    // The servers registered their sessions again: past a heartbeat TTL and the grace period nobody else
    // left, c's leave came once, and a newcomer finds exactly a and b.
    b.expect_silence(Duration::from_millis(NODE_TTL_MS + GRACE_MS + 1000))
        .await;
    a.expect_silence(Duration::from_millis(100)).await;
    let mut d = connect(&n2, "d").await;
    let joined = d.join("r").await;
    assert_eq!(a.expect("peer-joined").await["peer"], d.peer);
    assert_eq!(b.expect("peer-joined").await["peer"], d.peer);
    let mut peers: Vec<&str> = joined["peers"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["peer"].as_str())
        .collect();
    peers.sort_unstable();
    let mut expected = [a.peer.as_str(), b.peer.as_str()];
    expected.sort_unstable();
    assert_eq!(peers, expected, "{joined}");
    a.send(signal("r", &b.peer, 1)).await;
    expect_signals(&mut b, &a.peer.clone(), 1..2).await;
    drop(redis);
}

#[tokio::test]
async fn room_capacity_holds_under_concurrent_joins_on_two_servers() {
    let redis = Redis::start();
    let args = ["--room-capacity", "4"];
    let (n1, n2) = (
        Node::start(&redis, &args).await,
        Node::start(&redis, &args).await,
    );
    let mut clients = Vec::new();
    for i in 0..10 {
        clients.push(connect(if i % 2 == 0 { &n1 } else { &n2 }, "x").await);
    }
    for client in &mut clients {
        client.send(json!({"type": "join", "room": "full"})).await;
    }
    let (mut joined, mut full) = (0, 0);
    for client in &mut clients {
        // Members may first hear of later joiners; the answer to the join is what counts.
        loop {
            let frame = client.recv().await;
            match frame["type"].as_str() {
                Some("peer-joined") => continue,
                Some("joined") => joined += 1,
                Some("error") if frame["code"] == "room_full" => full += 1,
                _ => panic!("unexpected {frame}"),
            }
            break;
        }
    }
    assert_eq!((joined, full), (4, 6));
}

#[tokio::test]
async fn a_signal_to_a_peer_in_no_server_of_the_room_is_unknown_peer() {
    let redis = Redis::start();
    let (n1, n2) = (
        Node::start(&redis, &[]).await,
        Node::start(&redis, &[]).await,
    );
    let (mut a, mut b) = pair(&n1, &n2).await;
    let mut elsewhere = connect(&n2, "e").await;
    elsewhere.join("other").await;
    a.send(signal("r", &elsewhere.peer, 1)).await;
    assert_eq!(a.expect_error("unknown_peer").await["ref"], "signal");
    a.send(signal("r", "no-such-peer", 1)).await;
    a.expect_error("unknown_peer").await;
    elsewhere.expect_silence(Duration::from_millis(300)).await;
    b.expect_silence(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn a_draining_server_hands_its_clients_over_without_peer_left() {
    let redis = Redis::start();
    let n1 = Node::start(&redis, &[]).await;
    let mut n2 = Node::start(&redis, &[]).await;
    let (mut a, mut b) = pair(&n1, &n2).await;
    n2.signal(libc::SIGTERM);
    assert_eq!(expect_close(&mut b.ws).await, CloseCode::Away);
    let (b_peer, resume) = (b.peer.clone(), b.resume());
    let (mut b, welcome) = resume_on(&n1, "b", resume).await;
    assert_eq!(welcome["resumed"], true, "{welcome}");
    assert!(n2.exited().await.success());
    a.send(signal("r", &b_peer, 1)).await;
    expect_signals(&mut b, &a.peer.clone(), 1..2).await;
    // Past the drained server's heartbeat and the grace period: still nobody left.
    a.expect_silence(Duration::from_millis(NODE_TTL_MS + GRACE_MS + 1500))
        .await;
}

/// A signal of about 60 KB (the frame limit is 64 KiB).
fn big_signal(room: &str, to: &str, n: u64) -> Value {
    let pad = "x".repeat(60_000);
    json!({"type": "signal", "room": room, "to": to, "data": {"n": n, "pad": pad}})
}

impl Redis {
    /// Bytes of the frames Redis keeps for replaying session `sid` elsewhere.
    fn replay_bytes(&self, sid: &str) -> usize {
        let client = redis::Client::open(self.url()).unwrap();
        let mut conn = client.get_connection().unwrap();
        let frames: Vec<String> = redis::cmd("LRANGE")
            .arg(format!("p2pchat:buf:{sid}"))
            .arg(0)
            .arg(-1)
            .query(&mut conn)
            .unwrap();
        frames.iter().map(String::len).sum()
    }

    /// Milliseconds until Redis may drop `key` (negative: no expiry, or no such key).
    fn expires_in_ms(&self, key: &str) -> i64 {
        let client = redis::Client::open(self.url()).unwrap();
        let mut conn = client.get_connection().unwrap();
        redis::cmd("PTTL").arg(key).query(&mut conn).unwrap()
    }
}

/// Redis keeps of a session's frames what its ring keeps: within `--resume-buffer-bytes` too, not 256
/// frames of up to 64 KiB each (16 MiB a session).
#[tokio::test]
async fn the_redis_copy_of_a_session_stays_within_its_ring_byte_budget() {
    let redis = Redis::start();
    let (n1, n2) = (
        Node::start(&redis, &[]).await,
        Node::start(&redis, &[]).await,
    );
    let (mut a, mut b) = pair(&n1, &n2).await;
    // One at a time: b reads each before the next (40 unread would make b a slow reader, cut off).
    for n in 0..40 {
        a.send(big_signal("r", &b.peer, n)).await;
        b.expect("signal").await;
    }
    let ring_budget = 262_144;
    wait_until("the mirror reached Redis", async || {
        redis.replay_bytes(&b.session) > ring_budget / 2
    })
    .await;
    // Written after the frames: once it is there, the mirror of the 40 signals is too.
    a.send(signal("r", &b.peer, 99)).await;
    b.expect("signal").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let kept = redis.replay_bytes(&b.session);
    assert!(
        kept <= ring_budget,
        "Redis keeps {kept} bytes for one session"
    );
    // Only the buffer expires (what `maxmemory-policy volatile-lru` may evict), never the session record.
    assert!(redis.expires_in_ms(&format!("p2pchat:buf:{}", b.session)) > 0);
    assert_eq!(redis.expires_in_ms(&format!("p2pchat:s:{}", b.session)), -1);
}

/// Signals from another server count towards this server's `--max-buffered-bytes` like local ones.
#[tokio::test]
async fn signals_from_another_server_stay_within_the_buffer_budget() {
    let redis = Redis::start();
    let budget = 1_048_576;
    let n1 = Node::start(&redis, &[]).await;
    let n2 = Node::start(&redis, &["--max-buffered-bytes", &budget.to_string()]).await;
    let mut a = connect(&n1, "a").await;
    a.join("r").await;
    // Six readers on n2 that keep their frames buffered, 4 signals each (within a ring, so nobody is cut
    // off as a slow reader): 1.4 MiB in total.
    let mut readers = Vec::new();
    for i in 0..6 {
        let mut reader = connect(&n2, &format!("b{i}")).await;
        reader.join("r").await;
        readers.push(reader);
    }
    for n in 0..24 {
        let to = readers[usize::try_from(n % 6).unwrap()].peer.clone();
        a.send(big_signal("r", &to, n)).await;
    }
    // Everything n2 delivers has arrived once its readers hear nothing more.
    for reader in &mut readers {
        while reader.try_recv(Duration::from_millis(500)).await.is_some() {}
    }
    let buffered = n2.metric("buffered_bytes").await;
    assert!(
        buffered <= f64::from(budget),
        "n2 buffers {buffered} bytes against a budget of {budget}"
    );
}

/// A session resumed on another server counts towards that server's session limits: at the limit the
/// resume is refused there and the session stays where it was.
#[tokio::test]
async fn a_resume_on_another_server_is_held_to_its_session_limits() {
    let redis = Redis::start();
    let n1 = Node::start(&redis, &[]).await;
    let n2 = Node::start(&redis, &["--max-sessions", "1"]).await;
    let _full = connect(&n2, "c").await;
    let a = connect(&n1, "a").await;
    let resume = a.resume();
    drop(a);
    let (ws, _) = tokio_tungstenite::connect_async(n2.ws()).await.unwrap();
    let mut refused = Client::unwelcomed(ws);
    refused
        .send(json!({"type": "hello", "v": 1, "name": "a", "resume": resume.clone()}))
        .await;
    assert_eq!(refused.expect_error("overloaded").await["ref"], "hello");
    let (_a, welcome) = resume_on(&n1, "a", resume).await;
    assert_eq!(welcome["resumed"], true, "{welcome}");
}

/// Resumes with a wrong token on the server that holds the session change nothing for it: the signals
/// other servers send it meanwhile all arrive, in order.
#[tokio::test]
async fn wrong_token_resumes_do_not_hold_back_a_live_sessions_signals() {
    let redis = Redis::start();
    let (n1, n2) = (
        Node::start(&redis, &[]).await,
        Node::start(&redis, &[]).await,
    );
    let (mut a, mut b) = pair(&n1, &n2).await;
    let bad = json!({"session": b.session, "last_seq": 0, "token": "not-the-resume-token"});
    let ws = n2.ws();
    let storm = tokio::spawn(async move {
        for _ in 0..40 {
            let hello = json!({"type": "hello", "v": 1, "name": "x", "resume": bad.clone()});
            let (_, welcome) = Client::hello_url(&ws, hello).await;
            assert_eq!(welcome["resumed"], false, "{welcome}");
        }
    });
    for n in 0..150 {
        a.send(signal("r", &b.peer, n)).await;
        if n % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    storm.await.unwrap();
    expect_signals(&mut b, &a.peer.clone(), 0..150).await;
}

/// The 16-room limit holds when the joins go through Redis faster than it answers.
#[tokio::test]
async fn a_burst_of_joins_stops_at_sixteen_rooms() {
    let redis = Redis::start();
    let node = Node::start(&redis, &[]).await;
    let mut client = connect(&node, "a").await;
    for i in 0..20 {
        client
            .send(json!({"type": "join", "room": format!("room-{i}")}))
            .await;
    }
    let (mut joined, mut refused) = (0, 0);
    while joined + refused < 20 {
        let frame = client.recv().await;
        match (frame["type"].as_str(), frame["code"].as_str()) {
            (Some("joined"), _) => joined += 1,
            (Some("error"), Some("bad_request")) => refused += 1,
            _ => panic!("unexpected {frame}"),
        }
    }
    assert_eq!((joined, refused), (16, 4));
}

/// Signals waiting for Redis on their way to another server count towards `--max-buffered-bytes`: while
/// Redis is slow a flood is refused with `overloaded` at the budget, not queued without bound.
#[tokio::test]
async fn signals_queued_for_another_server_count_towards_the_buffer_budget() {
    let redis = Redis::start();
    let n1 = Node::start(&redis, &["--max-buffered-bytes", "1048576"]).await;
    let n2 = Node::start(&redis, &[]).await;
    let (mut a, b) = pair(&n1, &n2).await;
    let url = redis.url();
    // Redis answers nobody for 1.5 s (below the servers' 2 s response timeout): the queue fills.
    let stall = tokio::task::spawn_blocking(move || {
        let client = redis::Client::open(url).unwrap();
        let mut conn = client.get_connection().unwrap();
        let () = redis::cmd("DEBUG")
            .arg("SLEEP")
            .arg("1.5")
            .query(&mut conn)
            .unwrap();
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    for n in 0..30 {
        a.send(big_signal("r", &b.peer, n)).await;
    }
    let mut refused = 0;
    while let Some(frame) = a.try_recv(Duration::from_millis(3000)).await {
        if frame["code"] == "overloaded" {
            assert!(
                frame["message"].as_str().unwrap().contains("buffer memory"),
                "{frame}"
            );
            refused += 1;
        }
    }
    stall.await.unwrap();
    assert!(
        refused > 0,
        "30 signals of 60 KB queued past a 1 MiB budget"
    );
    assert!(n1.metric("buffered_bytes").await <= 1_048_576.0);
}

/// Redis keeps a session's resume token only as its SHA-256 (what the claim script compares): a copy of
/// Redis's data resumes nobody.
#[tokio::test]
async fn redis_keeps_resume_tokens_only_as_hashes() {
    use sha2::{Digest, Sha256};
    let redis = Redis::start();
    let node = Node::start(&redis, &[]).await;
    let a = connect(&node, "a").await;
    let key = format!("p2pchat:s:{}", a.session);
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_connection().unwrap();
    let kept: String = wait_for_field(&mut conn, &key, "token").await;
    let hash: String = Sha256::digest(a.resume_token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(kept, hash);
    assert!(!kept.contains(&a.resume_token));
}

/// A field of a Redis hash once the server wrote it (its writes are queued).
async fn wait_for_field(conn: &mut redis::Connection, key: &str, field: &str) -> String {
    let deadline = Instant::now() + SLOW;
    loop {
        let value: Option<String> = redis::cmd("HGET").arg(key).arg(field).query(conn).unwrap();
        if let Some(value) = value {
            return value;
        }
        assert!(Instant::now() < deadline, "{key} has no {field}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Signals `a` sends `b` in the takeover tests, one every 500 µs.
const STREAM: u64 = 800;

/// `a` (on `from`) streams signals to `b` (on `holder`); a quarter of the way in, `b` stops reading (its
/// network went away) and resumes on `target`, which takes the session over while signals keep coming.
/// What `b` read on both connections is every signal once, in order.
async fn takeover_mid_stream(room: &str, from: &Node, holder: &Node, target: &Node) {
    let mut a = connect(from, "a").await;
    let mut b = connect(holder, "b").await;
    a.join(room).await;
    b.join(room).await;
    assert_eq!(a.expect("peer-joined").await["peer"], b.peer);
    let (a_peer, b_peer) = (a.peer.clone(), b.peer.clone());
    let send = async {
        let mut tick = tokio::time::interval(Duration::from_micros(500));
        for n in 0..STREAM {
            tick.tick().await;
            a.send(signal(room, &b_peer, n)).await;
        }
    };
    let receive = async {
        let mut got = Vec::new();
        while got.len() < (STREAM / 4) as usize {
            got.push(b.expect("signal").await);
        }
        let (mut resumed, welcome) = resume_on(target, "b", b.resume()).await;
        assert_eq!(welcome["resumed"], true, "{welcome}");
        while got.len() < STREAM as usize {
            got.push(resumed.expect_within("signal", SLOW).await);
        }
        resumed.expect_silence(Duration::from_millis(500)).await;
        got
    };
    let ((), got) = tokio::join!(send, receive);
    let numbers: Vec<u64> = got
        .iter()
        .map(|s| s["data"]["n"].as_u64().unwrap())
        .collect();
    assert_eq!(numbers, (0..STREAM).collect::<Vec<_>>());
    assert!(got.iter().all(|s| s["from"] == a_peer.as_str()));
    // No error (unknown peer, overloaded) for the sender either.
    a.expect_silence(Duration::from_millis(200)).await;
}

/// The session moves from another server to the sender's (signals in memory from then on), from the
/// sender's to another (signals through Redis from then on), and between two servers that are neither
/// (the sender's server addressed the first directly and must switch to the second in order).
#[tokio::test]
async fn a_takeover_in_the_middle_of_a_stream_loses_duplicates_and_reorders_nothing() {
    let redis = Redis::start();
    let fast = ["--rate-per-sec", "5000", "--rate-burst", "5000"];
    let (n1, n2, n3) = (
        Node::start(&redis, &fast).await,
        Node::start(&redis, &fast).await,
        Node::start(&redis, &fast).await,
    );
    takeover_mid_stream("to-sender", &n1, &n2, &n1).await;
    takeover_mid_stream("from-sender", &n1, &n1, &n2).await;
    takeover_mid_stream("elsewhere", &n1, &n2, &n3).await;
    for node in [&n1, &n2, &n3] {
        assert_eq!(node.metric("cluster_errors_total").await, 0.0);
    }
}
