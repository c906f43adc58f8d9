//! Calls above the mesh size through a real Janus (Debian's 1.1, started by `common::janus` with the
//! configuration we ship, docs/deploy/janus): placement, tokens Janus accepts, refusals, the last leave
//! destroying the videoroom, two servers sharing Redis, and a Janus that dies. Without `janus` (or
//! `redis-server`) these tests fail: CI installs both.

mod common;

use std::time::Duration;

use common::janus::{Janus, JanusClient};
use common::node::Node;
use common::redis_server::Redis;
use common::{Client, metric, server};
use serde_json::{Value, json};
use signaling_server::RunningServer;

/// Bound for what takes a few health checks (generous: the machine may be loaded).
const SLOW: Duration = Duration::from_secs(20);

/// A server using `instances`, with short health checks and resume grace unless `extra` sets them;
/// `extra` flags on top.
async fn sfu_server(instances: &[&Janus], extra: &[&str]) -> RunningServer {
    let mut args: Vec<String> = instances.iter().flat_map(|j| j.flags()).collect();
    args.extend(Janus::secret_flags());
    for (flag, value) in [("--sfu-health-ms", "200"), ("--resume-grace-ms", "300")] {
        if !extra.contains(&flag) {
            args.extend([flag.to_owned(), value.to_owned()]);
        }
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = server(&args).await;
    wait_until("the server sees every Janus answer", async || {
        metric(&server, "signaling_sfu_instances_up", "").await == instances.len() as f64
    })
    .await;
    server
}

async fn wait_until<F: AsyncFn() -> bool>(what: &str, condition: F) {
    let deadline = tokio::time::Instant::now() + SLOW;
    while !condition().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A client of `server` in `room` (after everyone already there saw it arrive).
async fn member(
    server: &RunningServer,
    name: &str,
    room: &str,
    others: &mut [&mut Client],
) -> Client {
    let (mut client, _) = Client::hello(server, name).await;
    client.join(room).await;
    for other in others {
        other.expect("peer-joined").await;
    }
    client
}

async fn sfu_join(client: &mut Client, room: &str, call: &str) -> Value {
    client
        .send(json!({"type": "sfu-join", "room": room, "call": call}))
        .await;
    let answer = client.expect_within("sfu", SLOW).await;
    assert_eq!(
        (answer["room"].as_str(), answer["call"].as_str()),
        (Some(room), Some(call))
    );
    answer
}

/// The participant's token lets it into Janus and its videoroom as a publisher named by its peer id.
async fn joins_on_janus(answer: &Value, display: &str) -> Value {
    let mut janus = JanusClient::connect(
        answer["url"].as_str().unwrap(),
        answer["token"].as_str().unwrap(),
    )
    .await;
    let session = janus.create_session().await;
    assert_eq!(session["janus"], "success", "{session}");
    janus
        .join_as_publisher(answer["janus_room"].as_u64().unwrap(), display)
        .await
}

/// Whether Janus still accepts `token` at all (a session needs a valid token).
async fn token_works(answer: &Value) -> bool {
    let mut janus = JanusClient::connect(
        answer["url"].as_str().unwrap(),
        answer["token"].as_str().unwrap(),
    )
    .await;
    janus.create_session().await["janus"] == "success"
}

#[tokio::test]
async fn sfu_join_places_the_call_and_janus_lets_the_participant_in_with_its_token() {
    let janus = Janus::start();
    let server = sfu_server(&[&janus], &[]).await;
    let (mut alice, welcome) = Client::hello(&server, "alice").await;
    assert_eq!(welcome["sfu"], json!({"mesh_size": 4}));
    alice.join("big").await;
    let mut bob = member(&server, "bob", "big", &mut [&mut alice]).await;

    let a = sfu_join(&mut alice, "big", "call-1").await;
    let b = sfu_join(&mut bob, "big", "call-1").await;
    assert_eq!(a["url"], janus.ws_url());
    assert_eq!(a["janus_room"], b["janus_room"], "one videoroom per call");
    assert_ne!(a["token"], b["token"], "a token per participant");
    let again = sfu_join(&mut alice, "big", "call-1").await;
    assert_eq!(
        again["token"], a["token"],
        "joining again repeats the answer"
    );

    let joined = joins_on_janus(&a, &alice.peer).await;
    assert_eq!(joined["videoroom"], "joined", "{joined}");
    let joined = joins_on_janus(&b, &bob.peer).await;
    assert_eq!(joined["videoroom"], "joined", "{joined}");
    assert_eq!(joined["room"], b["janus_room"]);

    // A token the server did not hand out opens nothing.
    let mut forged = a.clone();
    forged["token"] = json!("not-a-token-the-server-made");
    assert!(!token_works(&forged).await);
    assert_eq!(metric(&server, "signaling_sfu_participants", "").await, 2.0);
    assert_eq!(metric(&server, "signaling_sfu_calls", "").await, 1.0);

    // The web page may open the SFU's WebSocket (its policy names that origin and no other).
    let page = reqwest::get(server.http_url()).await.unwrap();
    let policy = page.headers()["content-security-policy"].to_str().unwrap();
    let connect = policy
        .split(';')
        .find(|d| d.trim().starts_with("connect-src"))
        .unwrap();
    assert_eq!(
        connect.trim(),
        format!(
            "connect-src 'self' ipc: http://ipc.localhost {}",
            janus.ws_url()
        )
    );
    server.shutdown().await;
}

#[tokio::test]
async fn only_members_of_the_room_may_sfu_join_and_without_an_sfu_it_is_unavailable() {
    let janus = Janus::start();
    let server = sfu_server(&[&janus], &[]).await;
    let (mut outsider, _) = Client::hello(&server, "mallory").await;
    outsider
        .send(json!({"type": "sfu-join", "room": "big", "call": "c"}))
        .await;
    let refused = outsider.expect_error("not_in_room").await;
    assert_eq!(refused["ref"], "sfu-join");
    outsider.join("big").await;
    outsider
        .send(json!({"type": "sfu-join", "room": "big", "call": "not a call id"}))
        .await;
    outsider.expect_error("bad_request").await;
    server.shutdown().await;

    let mesh_only = server_without_sfu().await;
    let (mut alice, welcome) = Client::hello(&mesh_only, "alice").await;
    assert!(welcome.get("sfu").is_none(), "{welcome}");
    alice.join("big").await;
    alice
        .send(json!({"type": "sfu-join", "room": "big", "call": "c"}))
        .await;
    let refused = alice.expect_error("sfu_unavailable").await;
    assert_eq!(refused["ref"], "sfu-join");
    mesh_only.shutdown().await;
}

async fn server_without_sfu() -> RunningServer {
    server(&[]).await
}

#[tokio::test]
async fn the_last_one_out_destroys_the_videoroom_and_every_token_stops_working() {
    let janus = Janus::start();
    let server = sfu_server(&[&janus], &[]).await;
    let (mut alice, _) = Client::hello(&server, "alice").await;
    alice.join("big").await;
    let mut bob = member(&server, "bob", "big", &mut [&mut alice]).await;
    let mut carol = member(&server, "carol", "big", &mut [&mut alice, &mut bob]).await;
    let a = sfu_join(&mut alice, "big", "c").await;
    let b = sfu_join(&mut bob, "big", "c").await;
    let c = sfu_join(&mut carol, "big", "c").await;
    let room = a["janus_room"].as_u64().unwrap();

    // sfu-leave: Alice's token is gone, the room stays for the others.
    alice
        .send(json!({"type": "sfu-leave", "room": "big", "call": "c"}))
        .await;
    alice.ping().await;
    wait_until("Alice's token is removed", async || !token_works(&a).await).await;
    assert!(janus.room_exists(room).await);
    assert!(token_works(&b).await);

    // Leaving the room takes Bob out of the call too.
    bob.send(json!({"type": "leave", "room": "big"})).await;
    carol.expect("peer-left").await;
    wait_until("Bob's token is removed", async || !token_works(&b).await).await;
    assert!(janus.room_exists(room).await);

    // Carol's session ends (socket gone, grace period over): she was the last one.
    drop(carol);
    wait_until("the videoroom is destroyed", async || {
        !janus.room_exists(room).await
    })
    .await;
    assert!(!token_works(&c).await);
    assert_eq!(metric(&server, "signaling_sfu_participants", "").await, 0.0);
    server.shutdown().await;
}

/// Two servers on the same instances and Redis, both answering /readyz (their Redis link is up).
async fn two_ready_servers(instances: &[&Janus], flags: &[&str]) -> (RunningServer, RunningServer) {
    let servers = (
        sfu_server(instances, flags).await,
        sfu_server(instances, flags).await,
    );
    for node in [&servers.0, &servers.1] {
        wait_until("the server is ready", async || {
            let url = format!("{}/readyz", node.metrics_url().unwrap());
            matches!(reqwest::get(url).await, Ok(r) if r.status() == 200)
        })
        .await;
    }
    servers
}

#[tokio::test]
async fn two_servers_sharing_redis_place_a_call_on_one_videoroom_and_spread_calls_by_load() {
    let (janus1, janus2) = (Janus::start(), Janus::start());
    let redis = Redis::start();
    let url = redis.url();
    let flags = ["--redis-url", url.as_str()];
    let (one, two) = two_ready_servers(&[&janus1, &janus2], &flags).await;
    let (mut alice, _) = Client::hello(&one, "alice").await;
    alice.join("big").await;
    let mut bob = member(&two, "bob", "big", &mut [&mut alice]).await;
    let a = sfu_join(&mut alice, "big", "c1").await;
    let b = sfu_join(&mut bob, "big", "c1").await;
    assert_eq!((&a["url"], &a["janus_room"]), (&b["url"], &b["janus_room"]));
    let joined = joins_on_janus(&b, &bob.peer).await;
    assert_eq!(joined["videoroom"], "joined", "{joined}");

    // Another call goes to the instance carrying nobody yet, whichever server places it (Bob leaves c1
    // for it: one SFU call per room).
    let other = sfu_join(&mut bob, "big", "c2").await;
    assert_ne!(other["url"], a["url"], "the least loaded instance");
    let joined = joins_on_janus(&other, &bob.peer).await;
    assert_eq!(joined["videoroom"], "joined", "{joined}");

    // Bob left c1 through server two; Alice, last in it, leaves through server one: the videoroom goes.
    let first = [&janus1, &janus2]
        .into_iter()
        .find(|j| a["url"] == j.ws_url())
        .unwrap();
    let c1 = a["janus_room"].as_u64().unwrap();
    assert!(first.room_exists(c1).await);
    alice
        .send(json!({"type": "sfu-leave", "room": "big", "call": "c1"}))
        .await;
    wait_until("c1's videoroom is destroyed", async || {
        !first.room_exists(c1).await
    })
    .await;
    one.shutdown().await;
    two.shutdown().await;
}

/// A session resumed on another server asks again and keeps its place and token there; leaving through
/// that server then takes it out (here the last one: the videoroom goes).
#[tokio::test]
async fn a_session_resumed_on_another_server_keeps_its_token_after_asking_again() {
    let janus = Janus::start();
    let redis = Redis::start();
    let url = redis.url();
    let flags = [
        "--redis-url",
        url.as_str(),
        "--resume-grace-ms",
        "20000",
        "--drain-ms",
        "300",
    ];
    let (one, two) = two_ready_servers(&[&janus], &flags).await;
    let (mut alice, _) = Client::hello(&one, "alice").await;
    alice.join("big").await;
    let before = sfu_join(&mut alice, "big", "c").await;
    let resume = alice.resume();
    drop(alice);

    let hello = json!({"type": "hello", "v": 1, "name": "alice", "resume": resume});
    let (mut alice, welcome) = Client::hello_url(&two.ws_url(), hello).await;
    assert_eq!(welcome["resumed"], true, "{welcome}");
    let after = sfu_join(&mut alice, "big", "c").await;
    assert_eq!(
        (&after["token"], &after["janus_room"]),
        (&before["token"], &before["janus_room"])
    );
    assert!(token_works(&after).await);

    alice
        .send(json!({"type": "sfu-leave", "room": "big", "call": "c"}))
        .await;
    let room = before["janus_room"].as_u64().unwrap();
    wait_until("the videoroom is destroyed", async || {
        !janus.room_exists(room).await
    })
    .await;
    assert!(!token_works(&after).await);
    one.shutdown().await;
    two.shutdown().await;
}

/// Alice and Bob in room "big", both in SFU call "c".
async fn two_in_an_sfu_call(server: &RunningServer) -> (Client, Client) {
    let (mut alice, _) = Client::hello(server, "alice").await;
    alice.join("big").await;
    let mut bob = member(server, "bob", "big", &mut [&mut alice]).await;
    sfu_join(&mut alice, "big", "c").await;
    sfu_join(&mut bob, "big", "c").await;
    (alice, bob)
}

#[tokio::test]
async fn when_janus_dies_its_participants_get_sfu_lost_and_joins_are_refused_until_one_answers() {
    let mut janus = Janus::start();
    let server = sfu_server(&[&janus], &[]).await;
    let (mut alice, mut bob) = two_in_an_sfu_call(&server).await;

    janus.kill();
    for client in [&mut alice, &mut bob] {
        let lost = client.expect_within("sfu-lost", SLOW).await;
        assert_eq!(
            (lost["room"].as_str(), lost["call"].as_str()),
            (Some("big"), Some("c"))
        );
    }
    alice
        .send(json!({"type": "sfu-join", "room": "big", "call": "c"}))
        .await;
    alice.expect_error("sfu_unavailable").await;
    assert_eq!(metric(&server, "signaling_sfu_lost", "").await, 2.0);
    assert_eq!(metric(&server, "signaling_sfu_instances_up", "").await, 0.0);
    server.shutdown().await;
}

/// A client that lost Janus before the health checks noticed asks again: the server checks the instance
/// there and then instead of repeating the dead placement.
#[tokio::test]
async fn asking_again_for_a_call_on_a_dead_janus_finds_it_lost_at_once() {
    let mut janus = Janus::start();
    let server = sfu_server(&[&janus], &["--sfu-health-ms", "600000"]).await;
    let (mut alice, mut bob) = two_in_an_sfu_call(&server).await;

    janus.kill();
    alice
        .send(json!({"type": "sfu-join", "room": "big", "call": "c"}))
        .await;
    alice.expect("sfu-lost").await;
    alice.expect_error("sfu_unavailable").await;
    bob.expect("sfu-lost").await;
    server.shutdown().await;
}

/// With --sfu-record-dir every call's videoroom records (what the E2EE test decodes, or fails to).
#[tokio::test]
async fn with_a_record_dir_every_videoroom_records_there() {
    let janus = Janus::start();
    let dir = janus.folder("recordings");
    let dir = dir.to_str().unwrap();
    let server = sfu_server(&[&janus], &["--sfu-record-dir", dir]).await;
    let (mut alice, _) = Client::hello(&server, "alice").await;
    alice.join("big").await;
    let answer = sfu_join(&mut alice, "big", "c").await;
    let room = janus.room(answer["janus_room"].as_u64().unwrap()).await;
    assert_eq!(
        (&room["record"], &room["rec_dir"]),
        (&json!(true), &json!(dir)),
        "{room}"
    );
    assert_eq!(room["require_e2ee"], true, "{room}");
    server.shutdown().await;
}

/// Placement weighs each instance by the participants the live servers hold on it: those of a server
/// that died (SIGKILL: it took nothing back) stop counting once its load counts expire (three health
/// checks), so an instance is not shunned forever for calls nobody serves any more.
#[tokio::test]
async fn participants_of_a_server_that_died_stop_weighing_on_placement() {
    let (janus1, janus2) = (Janus::start(), Janus::start());
    let redis = Redis::start();
    let url = redis.url();
    let mut flags: Vec<String> = [&janus1, &janus2].iter().flat_map(|j| j.flags()).collect();
    flags.extend(Janus::secret_flags());
    flags.extend(["--sfu-health-ms", "200"].map(str::to_owned));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let doomed = Node::start(&redis, &flags).await;
    wait_until("the doomed server sees both Janus answer", async || {
        doomed.metric("sfu_instances_up").await == 2.0
    })
    .await;
    let survivor = sfu_server(&[&janus1, &janus2], &["--redis-url", url.as_str()]).await;

    // Three people of the doomed server in one call, on one instance.
    let mut doomed_people = Vec::new();
    let mut loaded = None;
    for name in ["ann", "ben", "cid"] {
        let hello = json!({"type": "hello", "v": 1, "name": name});
        let (mut person, _) = Client::hello_url(&doomed.ws(), hello).await;
        person.join("big").await;
        let placed = sfu_join(&mut person, "big", "c1").await;
        assert_eq!(loaded.get_or_insert(placed["url"].clone()), &placed["url"]);
        doomed_people.push(person);
    }
    let loaded = loaded.unwrap();
    // The survivor counts them: its call goes to the other instance.
    let (mut dan, _) = Client::hello(&survivor, "dan").await;
    dan.join("small").await;
    assert_ne!(sfu_join(&mut dan, "small", "c2").await["url"], loaded);

    doomed.signal(libc::SIGKILL);
    // Past the doomed server's load TTL (3 × 200 ms): its three no longer count, so the instance it
    // loaded (0) is now lighter than Dan's (1).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (mut eve, _) = Client::hello(&survivor, "eve").await;
    eve.join("next").await;
    let placed = sfu_join(&mut eve, "next", "c3").await;
    assert_eq!(
        placed["url"], loaded,
        "the dead server's participants still weigh"
    );
    let joined = joins_on_janus(&placed, &eve.peer).await;
    assert_eq!(joined["videoroom"], "joined", "{joined}");
    survivor.shutdown().await;
}

/// A participant whose server died and who never came back is taken out of the call once its session
/// ends (the resume grace passed): when the last one left on a live server leaves, the videoroom is
/// destroyed and the lost participant's token stops working, as if everyone had left.
#[tokio::test]
async fn the_last_one_out_destroys_the_videoroom_even_when_a_dead_servers_participant_never_left() {
    let janus = Janus::start();
    let redis = Redis::start();
    let url = redis.url();
    let mut flags = janus.flags();
    flags.extend(Janus::secret_flags());
    flags.extend(["--sfu-health-ms", "200"].map(str::to_owned));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let doomed = Node::start(&redis, &flags).await;
    wait_until("the doomed server sees Janus answer", async || {
        doomed.metric("sfu_instances_up").await == 1.0
    })
    .await;
    let survivor = sfu_server(&[&janus], &["--redis-url", url.as_str()]).await;

    let (mut dan, _) = Client::hello(&survivor, "dan").await;
    dan.join("big").await;
    let hello = json!({"type": "hello", "v": 1, "name": "ann"});
    let (mut ann, _) = Client::hello_url(&doomed.ws(), hello).await;
    ann.join("big").await;
    assert_eq!(dan.expect("peer-joined").await["peer"], ann.peer);
    let theirs = sfu_join(&mut ann, "big", "c1").await;
    let room = sfu_join(&mut dan, "big", "c1").await["janus_room"]
        .as_u64()
        .unwrap();
    assert_eq!(theirs["janus_room"], room);

    doomed.signal(libc::SIGKILL);
    // Ann's session ends when its grace is over (the survivor's --resume-grace-ms, after the dead
    // server's heartbeat expired): Dan sees her leave the room.
    let left = dan.expect_within("peer-left", SLOW).await;
    assert_eq!(left["peer"], ann.peer);
    assert!(janus.room_exists(room).await);
    dan.send(json!({"type": "sfu-leave", "room": "big", "call": "c1"}))
        .await;
    wait_until("the videoroom is destroyed", async || {
        !janus.room_exists(room).await
    })
    .await;
    assert!(!token_works(&theirs).await, "the lost participant's token");
    survivor.shutdown().await;
}
