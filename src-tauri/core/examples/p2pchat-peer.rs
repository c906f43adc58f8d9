//! `p2pchat-peer`: a headless chat peer. It joins a room through the signaling server with the app's
//! own signaling client and chats over the native data-channel fallback (webrtc-rs), speaking the web
//! UI's chat wire format, so browsers and apps in the room see an ordinary person. It acks every
//! message it receives (and, unless `--quiet`, sends a read receipt for each one it prints), and
//! prints what happens as JSON lines on stdout (receipts and typing as `read` and `typing`); lines typed on stdin are sent
//! as chat messages. Flags drive tests and benchmarks: `--send N --size BYTES` (N messages to the first
//! peer whose channel opens, each waiting for send-buffer room), `--ping N` (round trips one at a
//! time), `--expect N` (stop after receiving N messages). Calls: `--call` rings the first peer whose
//! link opens (`--call-peers N`: the first N, in one call), `--accept-calls` answers every call, with test or real media (`--video`, `--audio`); see
//! peer/call.rs. Files (docs/files.md): `--send-file PATH`, `--receive-dir DIR`, `--expect-files N`;
//! see peer/files.rs. See docs/fallback.md and docs/native-calls.md.

#[path = "peer/call.rs"]
mod call;

#[path = "peer/files.rs"]
mod files;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use clap::Parser;
use p2pchat_core::chat::{ChannelMessage, ChatSession, Received};
use p2pchat_core::identity::DeviceIdentity;
use p2pchat_core::links::{LinkEvent, LinkManager, LinkOptions};
use p2pchat_core::signaling::{Client, ClientConfig, ClientEvent, parse_server_url};
use serde_json::json;
use tokio::io::AsyncBufReadExt;
use tokio::sync::{Notify, mpsc};

#[derive(Parser, Debug)]
#[command(about = "Headless p2pchat peer over the native WebRTC data-channel fallback")]
struct Args {
    /// Signaling server (ws://, wss://, http:// or https://).
    #[arg(long, env = "P2PCHAT_SERVER_URL")]
    server: String,
    #[arg(long)]
    room: String,
    /// Display name others see.
    #[arg(long, default_value = "p2pchat-peer")]
    name: String,
    /// JWT when the server requires one.
    #[arg(long, env = "P2PCHAT_TOKEN")]
    token: Option<String>,
    /// Send this many messages to the first peer whose channel opens.
    #[arg(long, default_value_t = 0)]
    send: u64,
    /// Size of each `--send` message on the wire, in bytes.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// Round trips (message → ack, one at a time) before `--send`, for latency.
    #[arg(long, default_value_t = 0)]
    ping: u64,
    /// Stop once this many distinct messages were received (and our own are acked).
    #[arg(long, default_value_t = 0)]
    expect: u64,
    /// Restart ICE once after this many `--send` messages (tests that chat survives it).
    #[arg(long)]
    restart_after: Option<u64>,
    /// Only TURN relay candidates (iceTransportPolicy "relay").
    #[arg(long)]
    relay_only: bool,
    /// Folder that keeps this peer's device identity (its DTLS certificate, dtls-identity.pem), so its
    /// safety code with a contact stays the same across runs, as the app's does. Without it, a new
    /// identity each run, kept in memory only.
    #[arg(long, env = "P2PCHAT_DATA_DIR")]
    data_dir: Option<std::path::PathBuf>,
    /// Print only events and the summary, not every received message.
    #[arg(long)]
    quiet: bool,
    /// Give up (exit code 1) after this many seconds; 0 = run until stdin closes.
    #[arg(long, default_value_t = 0)]
    timeout: u64,
    #[command(flatten)]
    files: files::FileArgs,
    /// Ring the first peer whose link opens (a video call).
    #[arg(long)]
    call: bool,
    /// With `--call`: ring once this many peers' links are open, all of them in one call (a call
    /// past the server's mesh size goes through its SFU).
    #[arg(long, default_value_t = 1)]
    call_peers: usize,
    /// Answer every incoming call.
    #[arg(long)]
    accept_calls: bool,
    /// Picture sent in calls: test (moving pattern, 640×480 at 30 fps), test=WxH@FPS (the pattern at
    /// that size and rate, e.g. test=320x240@10), camera, camera=/dev/videoN, screen (X11), none.
    #[arg(long, default_value = "test", value_parser = call::video_source)]
    video: p2pchat_core::media::VideoSource,
    /// Sound sent in calls: test (440 Hz tone), mic, mic=SOURCE, none.
    #[arg(long, default_value = "test", value_parser = call::audio_source)]
    audio: p2pchat_core::media::AudioSource,
}

/// Counters shared by the workload task and the event loop.
#[derive(Default)]
struct Progress {
    acked: AtomicU64,
    ack_seen: Notify,
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .init();
    let args = Args::parse();
    let code = match run(args).await {
        Ok(true) => 0,
        Ok(false) => 1,
        Err(err) => {
            eprintln!("p2pchat-peer: {err}");
            2
        }
    };
    // Exit here rather than return: stdin is read on a blocking thread, and the runtime's shutdown
    // would wait for it until the next line arrives (the tests keep stdin open).
    std::process::exit(code);
}

fn emit(value: serde_json::Value) {
    println!("{value}");
}

async fn run(args: Args) -> Result<bool, Box<dyn std::error::Error>> {
    let config = ClientConfig {
        url: parse_server_url(&args.server)?,
        name: args.name.clone(),
        token: args.token.clone(),
        rooms: [args.room.clone()].into(),
    };
    let (client_tx, mut client_rx) = mpsc::channel(256);
    let client = Arc::new(Client::spawn(config, client_tx));
    let (events_tx, mut events) = mpsc::channel(256);
    let signaling = client.clone();
    let manager = LinkManager::new(
        move |room, to, data| {
            if let Ok(raw) = serde_json::value::to_raw_value(&data)
                && let Err(err) = signaling.signal(room, to, raw)
            {
                tracing::debug!(%err, "signal not sent");
            }
        },
        events_tx,
        LinkOptions {
            relay_only: args.relay_only,
            identity: Some(match &args.data_dir {
                Some(dir) => DeviceIdentity::in_dir(dir),
                None => DeviceIdentity::ephemeral(),
            }),
            ..LinkOptions::default()
        },
    );
    let (acks, acker) = spawn_acker(manager.clone(), args.room.clone());
    let mut files = files::Files::enable(&manager, &args.files);
    let progress = Arc::new(Progress::default());
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let mut stdin_open = true;
    // Typed lines wait in the session's outbox until each peer acks; received ids are de-duplicated there.
    let mut chat = ChatSession::new();
    let mut acked_ids: HashSet<String> = HashSet::new();
    let mut order = SeqCheck::default();
    let mut started_work = false;
    let mut work: Option<Workload> = None;
    let (work_tx, mut work_rx) = mpsc::channel::<Workload>(1);
    let started = Instant::now();
    let deadline = (args.timeout > 0).then(|| started + Duration::from_secs(args.timeout));
    let own = args.ping + args.send;
    let finite = own > 0 || args.expect > 0;
    if args.call || args.accept_calls {
        // Load the call's plugins now rather than at the first call (seconds, the first time).
        tokio::task::spawn_blocking(p2pchat_core::media::prewarm);
    }
    let (mut calls, mut sfu_joins) = call::Calls::new(
        args.room.clone(),
        args.accept_calls,
        args.video.clone(),
        args.audio.clone(),
        &manager,
    );
    let mut call_ticker = tokio::time::interval(Duration::from_secs(1));

    let ok = loop {
        if let Some(ok) = files.finished() {
            break ok;
        }
        let own_done = own == 0 || work.is_some();
        if finite && own_done && chat.received_count() as u64 >= args.expect {
            break work.as_ref().is_none_or(|w| w.error.is_none());
        }
        if !finite && !stdin_open {
            break true;
        }
        let sleep = tokio::time::sleep_until(deadline.map_or_else(
            || tokio::time::Instant::now() + Duration::from_secs(3600),
            Into::into,
        ));
        tokio::select! {
            () = sleep => {
                if deadline.is_some() { break false; }
            }
            Some(done) = work_rx.recv() => work = Some(done),
            Some(joined) = sfu_joins.recv() => calls.on_sfu_joined(joined, &client).await,
            Some(event) = files.recv() => files.on_event(event),
            _ = call_ticker.tick() => {
                // A call that rang 30 s unanswered ends (ours: "No answer"; theirs: missed).
                let ended = calls.ring.tick();
                calls.apply(ended, &client).await;
                if calls.ring.in_call() {
                    calls.tick(&client).await;
                }
            }
            Some(event) = client_rx.recv() => {
                if let ClientEvent::Frame(frame) = &event {
                    match frame {
                        chat_protocol::ServerFrame::Welcome { peer, ice_servers, sfu, resumed, .. } => {
                            if *resumed {
                                calls.ask_sfu_again(&client);
                            }
                            calls.me = peer.clone();
                            calls.ice_servers = ice_servers.clone();
                            calls.mesh_size = sfu.as_ref().map(|s| s.mesh_size as usize);
                            calls.ring.sfu = sfu.is_some();
                            emit(json!({"event": "ready", "peer": peer, "fingerprint": manager.local_fingerprint()}));
                        }
                        chat_protocol::ServerFrame::Sfu { call, url, token, janus_room, .. } => {
                            let place = p2pchat_core::sfu::SfuPlace { url: url.clone(), token: token.clone(), janus_room: *janus_room };
                            calls.on_sfu_place(call, place).await;
                        }
                        chat_protocol::ServerFrame::SfuLost { call, .. } => calls.on_sfu_lost(call, "the server lost the media server", &client).await,
                        // Only "no SFU to be had" loses the call's media server; other refusals
                        // (not in the room yet, rate limited) leave the call as it is.
                        chat_protocol::ServerFrame::Error { code: code @ chat_protocol::ErrorCode::SfuUnavailable, message, r#ref: Some(r), .. } if r == "sfu-join" => {
                            if let Some(call) = calls.ring.call_id().map(str::to_owned) {
                                calls.on_sfu_lost(&call, &format!("{code:?}: {message}"), &client).await;
                            }
                        }
                        chat_protocol::ServerFrame::Signal { from, data, .. } => {
                            if let Ok(signal) = serde_json::from_str::<chat_protocol::SignalData>(data.get()) {
                                let room = manager.open_peers(&args.room);
                                calls.on_signal(from, &signal, &room, &client).await;
                            }
                        }
                        chat_protocol::ServerFrame::Joined { room, peers, .. } if *room == args.room => {
                            calls.room_joined(peers, &client);
                            // Back in the room after a fresh session: our SFU token went with the old one.
                            calls.ask_sfu_again(&client);
                        }
                        chat_protocol::ServerFrame::PeerJoined { room, peer, .. } if *room == args.room => calls.peer_arrived(peer, &client),
                        chat_protocol::ServerFrame::PeerLeft { peer, .. } => calls.peer_left(peer, &client).await,
                        _ => {}
                    }
                    manager.on_frame(frame).await;
                }
            }
            Some(event) = events.recv() => match event {
                LinkEvent::Open { peer, safety, fingerprints, .. } => {
                    emit(json!({"event": "open", "peer": peer}));
                    // The code the person on the other end sees for us (docs/security.md), and the
                    // peer's certificate DTLS verified (the same on later links to the same device).
                    if let Some(code) = safety {
                        let remote = fingerprints.map(|f| f.remote);
                        emit(json!({"event": "safety", "peer": peer, "code": code, "fingerprint": remote}));
                    }
                    files.peer_open(&manager, &args.room, &peer).await;
                    for text in chat.unacked_for(&peer) {
                        let _ = manager.send(&args.room, &peer, &text).await;
                    }
                    let linked = manager.open_peers(&args.room);
                    if args.call && !calls.ring.in_call() && linked.len() >= args.call_peers {
                        let actions = calls.ring.place(&linked);
                        calls.apply(actions, &client).await;
                    }
                    if !started_work && own > 0 {
                        started_work = true;
                        let job = Job { manager: manager.clone(), room: args.room.clone(), peer, name: args.name.clone(), ping: args.ping, send: args.send, size: args.size, restart_after: args.restart_after, progress: progress.clone() };
                        let work_tx = work_tx.clone();
                        tokio::spawn(async move { let _ = work_tx.send(job.run().await).await; });
                    }
                }
                LinkEvent::Message { peer, text, .. } if calls.on_channel_text(&peer, &text) => {}
                LinkEvent::Message { peer, text, .. } => match chat.receive(&peer, &text) {
                    Received::New { message: ChannelMessage::Msg { id, body, sent_at, name }, ack } => {
                        let _ = acks.send((peer.clone(), ack)).await;
                        order.see(&body);
                        if !args.quiet {
                            emit(json!({"event": "msg", "peer": peer, "id": id, "name": name, "body": body, "sentAt": sent_at}));
                            // Printed is seen: the sender's ✓✓ turns to "read".
                            let _ = acks.send((peer.clone(), ChannelMessage::read(&[id]).to_text())).await;
                        }
                    }
                    Received::Read { ids, acked } => {
                        emit(json!({"event": "read", "peer": peer, "ids": ids}));
                        // A receipt that came before the ack delivers the message too.
                        for id in acked {
                            count_ack(&progress, &mut acked_ids, &peer, id, true);
                        }
                    }
                    Received::Typing { on } => emit(json!({"event": "typing", "peer": peer, "on": on})),
                    Received::New { ack, .. } | Received::Duplicate { ack } => {
                        let _ = acks.send((peer.clone(), ack)).await;
                    }
                    Received::Acked { id, first } => count_ack(&progress, &mut acked_ids, &peer, id, first),
                    _ => {}
                },
                LinkEvent::Closed { peer, .. } => emit(json!({"event": "closed", "peer": peer})),
                LinkEvent::Rekeyed { from, to, .. } => {
                    chat.peer_renamed(&from, &to);
                    calls.peer_renamed(&from, &to).await;
                    emit(json!({"event": "rekeyed", "from": from, "to": to}));
                }
                LinkEvent::Failed { peer, reason, .. } => emit(json!({"event": "failed", "peer": peer, "reason": reason})),
            },
            line = stdin.next_line(), if stdin_open => match line {
                Ok(Some(line)) if line.trim().starts_with('/') && calls.command(line.trim(), &client).await => {}
                Ok(Some(line)) if !line.trim().is_empty() => {
                    // For the peers linked now (as the web UI's outbox): each is resent it until it acks.
                    let peers = manager.open_peers(&args.room);
                    let message = chat.compose(line.trim().to_owned(), &args.name, &peers);
                    let mut sent_to = Vec::new();
                    for peer in peers {
                        if manager.send(&args.room, &peer, &message.to_text()).await.unwrap_or(false) {
                            sent_to.push(peer);
                        }
                    }
                    if let ChannelMessage::Msg { id, .. } = &message {
                        emit(json!({"event": "sent", "id": id, "to": sent_to}));
                    }
                }
                Ok(Some(_)) => {}
                _ => stdin_open = false,
            },
        }
    };
    // The peer may still be waiting for our last acks.
    drop(acks);
    let _ = tokio::time::timeout(Duration::from_secs(5), acker).await;
    if chat.received_count() > 0 {
        // Queued acks are in SCTP's buffer, not yet on the wire: give them a moment before closing.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    emit(summary(
        ok,
        &args,
        &progress,
        chat.received_count(),
        &order,
        work.as_ref(),
    ));
    manager.close_all().await;
    // Leave the room on the way out, so the others see us go now rather than after the server's resume
    // grace; the connection task needs a moment to write the frame before the process ends.
    if client.leave(&args.room).is_ok() {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(ok)
}

/// `peer` acked our message `id` (or read it before its ack): printed when it is the outbox's first
/// (`delivered`), counted once either way (the workload's `--send`/`--ping` messages are not in the
/// outbox, so their acks are never `delivered`).
fn count_ack(
    progress: &Progress,
    acked_ids: &mut HashSet<String>,
    peer: &str,
    id: String,
    delivered: bool,
) {
    if delivered {
        emit(json!({"event": "acked", "peer": peer, "id": id}));
    }
    if acked_ids.insert(id) {
        progress.acked.fetch_add(1, Ordering::AcqRel);
        progress.ack_seen.notify_waiters();
    }
}

/// Sends acks from their own task, so receiving never waits on our send buffer (two peers both
/// sending at full speed would otherwise each wait for the other to read).
fn spawn_acker(
    manager: LinkManager,
    room: String,
) -> (mpsc::Sender<(String, String)>, tokio::task::JoinHandle<()>) {
    let (tx, mut rx) = mpsc::channel::<(String, String)>(4096);
    let task = tokio::spawn(async move {
        while let Some((peer, ack)) = rx.recv().await {
            let _ = manager.send(&room, &peer, &ack).await;
        }
    });
    (tx, task)
}

/// Checks that numbered `--send` bodies arrive in order with none missing.
#[derive(Default)]
struct SeqCheck {
    next: u64,
    broken: bool,
}

impl SeqCheck {
    fn see(&mut self, body: &str) {
        let Some(seq) = body.split(' ').next().and_then(|n| n.parse::<u64>().ok()) else {
            return;
        };
        if seq != self.next {
            self.broken = true;
        }
        self.next = seq + 1;
    }
}

/// What the workload measured.
struct Workload {
    /// Round-trip times of `--ping`, sorted.
    rtts: Vec<Duration>,
    /// From the first `--send` message to the ack of the last one.
    send_elapsed: Option<Duration>,
    error: Option<String>,
}

struct Job {
    manager: LinkManager,
    room: String,
    peer: String,
    name: String,
    ping: u64,
    send: u64,
    size: usize,
    restart_after: Option<u64>,
    progress: Arc<Progress>,
}

impl Job {
    async fn run(self) -> Workload {
        let mut work = Workload {
            rtts: Vec::new(),
            send_elapsed: None,
            error: None,
        };
        for _ in 0..self.ping {
            let before = self.progress.acked.load(Ordering::Acquire);
            let start = Instant::now();
            if let Err(err) = self
                .deliver(&ChannelMessage::msg("ping".into(), &self.name))
                .await
            {
                work.error = Some(err);
                return work;
            }
            self.acked(before + 1).await;
            work.rtts.push(start.elapsed());
        }
        work.rtts.sort();
        let start = Instant::now();
        let target = self.ping + self.send;
        for i in 0..self.send {
            if self.restart_after == Some(i) {
                self.manager.restart_ice(&self.room, &self.peer);
            }
            if let Err(err) = self.deliver(&numbered(i, self.size, &self.name)).await {
                work.error = Some(err);
                return work;
            }
        }
        self.acked(target).await;
        if self.send > 0 {
            work.send_elapsed = Some(start.elapsed());
        }
        work
    }

    /// Waits until `count` distinct acks have arrived.
    async fn acked(&self, count: u64) {
        loop {
            // Created before the check: `notify_waiters` reaches it from here on.
            let seen = self.progress.ack_seen.notified();
            if self.progress.acked.load(Ordering::Acquire) >= count {
                return;
            }
            seen.await;
        }
    }

    /// Sends one message, retrying while the channel is briefly not open.
    async fn deliver(&self, message: &ChannelMessage) -> Result<(), String> {
        let text = message.to_text();
        for _ in 0..100 {
            match self.manager.send(&self.room, &self.peer, &text).await {
                Ok(true) => return Ok(()),
                Ok(false) => tokio::time::sleep(Duration::from_millis(100)).await,
                Err(err) => return Err(err.to_string()),
            }
        }
        Err("the channel stayed closed".into())
    }
}

/// Message `i` of `--send`: body "<i> xxxx…" so the whole wire text is `size` bytes.
fn numbered(i: u64, size: usize, name: &str) -> ChannelMessage {
    let mut message = ChannelMessage::msg(format!("{i} "), name);
    let overhead = message.to_text().len();
    if let ChannelMessage::Msg { body, .. } = &mut message {
        body.push_str(&"x".repeat(size.saturating_sub(overhead)));
    }
    message
}

fn summary(
    ok: bool,
    args: &Args,
    progress: &Progress,
    received: usize,
    order: &SeqCheck,
    work: Option<&Workload>,
) -> serde_json::Value {
    let pct = |rtts: &[Duration], p: f64| -> Option<u128> {
        let i = ((rtts.len() as f64 - 1.0) * p).round() as usize;
        rtts.get(i).map(Duration::as_micros)
    };
    let rtts = work.map(|w| w.rtts.as_slice()).unwrap_or_default();
    let elapsed = work.and_then(|w| w.send_elapsed);
    let mbit_s =
        elapsed.map(|e| (args.send as f64 * args.size as f64 * 8.0) / e.as_secs_f64() / 1e6);
    json!({
        "event": "done",
        "ok": ok,
        "error": work.and_then(|w| w.error.clone()),
        "sent": args.send + args.ping,
        "acked": progress.acked.load(Ordering::Acquire),
        "received": received,
        "in_order": !order.broken,
        "send_ms": elapsed.map(|e| e.as_millis()),
        "mbit_s": mbit_s,
        "rtt_p50_us": pct(rtts, 0.5),
        "rtt_p99_us": pct(rtts, 0.99),
        "peak_rss_kib": peak_rss_kib(),
    })
}

/// The process's peak resident memory (VmHWM), Linux only.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
