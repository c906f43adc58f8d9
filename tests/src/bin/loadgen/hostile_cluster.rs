//! Hostile run across two servers sharing Redis (issue 22, `loadgen hostile --servers 2`). It starts a
//! `redis-server` on a free loopback port with the shipped memory settings (docs/deploy/systemd/
//! redis-p2pchat.conf: `maxmemory`, `maxmemory-policy volatile-lru`; no persistence) and two release servers
//! A and B sharing it, with auth on (the tool signs HS256 tokens with the servers' secret) and the
//! per-address limits at their defaults; B gets a small `--max-buffered-bytes` so its budget is reached.
//! Then, one phase after the other, from attacker addresses 127.0.2.x–127.0.5.x:
//!
//! 1. replay flood: sessions on A send signals of almost 64 KiB to sessions on B that never read, so the
//!    recipients' replay buffers (their rings on B and their lists in Redis) fill;
//! 2. cross-server budget: sessions on A signal many sessions parked on B (7 per room), more than B's budget;
//! 3. wrong-token storm: `hello`s on both servers whose `resume` names the honest sessions with a wrong
//!    resume token (half with the victim's own token `sub`), while the honest session on B moves to A and
//!    back by real resumes;
//! 4. room-limit races: sessions on both servers join one room at the same instant, more than
//!    `--room-capacity`; sessions send bursts of joins beyond the 16-room limit.
//!
//! Throughout, an honest pair (one session on A, one on B, 127.0.1.x) exchanges numbered signals both ways;
//! the tool checks each arrives exactly once and in order. After each phase and at the end it prints Redis'
//! `used_memory` and replay buffers, each server's `signaling_buffered_bytes` and RSS (peaks sampled every
//! 200 ms), and what the limits did. Loopback only, bounded in sessions and time (≈ 2 minutes).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chat_protocol::ServerFrame;
use futures_util::{SinkExt, StreamExt};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;

use crate::client::{Socket, next_frame, open_socket};
use crate::machine;
use crate::redis::{RedisProcess, shipped_settings};
use crate::server::ServerProcess;

/// HS256 secret both servers verify tokens with (≥ 32 bytes, as the server requires).
const SECRET: &str = "loadgen-hostile-two-servers-secret-0123456789";
/// Data of a flood signal: with the envelope the frame is just under the 64 KiB frame limit.
const BIG_DATA: usize = 65_000;
/// The servers' per-session ring (`--resume-buffer`, `--resume-buffer-bytes` defaults): what Redis may keep.
const RING_FRAMES: u64 = 256;
const RING_BYTES: u64 = 256 << 10;
const ROOM_CAPACITY: usize = 8;
const MAX_ROOMS: usize = 16;

pub struct Options {
    /// Length of each attack phase.
    pub phase_seconds: u64,
    /// Server B's `--max-buffered-bytes`, in MiB.
    pub budget_mib: u64,
    /// Redis `maxmemory` instead of the shipped file's.
    pub redis_maxmemory: Option<String>,
    /// Honest signals per second in each direction.
    pub honest_rate: f64,
    /// Signals each replay-flood sender sends at once before its steady 4 a second (at most the
    /// rate-limit burst, 200).
    pub flood_burst: u64,
    /// Wait after the attack before the last readings (parked sessions end after the 30 s grace).
    pub settle: u64,
}

/// A signed client token for user `sub`, valid for an hour.
fn token(sub: &str) -> Result<String> {
    let exp = jsonwebtoken::get_current_timestamp() + 3600;
    Ok(encode(
        &Header::default(),
        &json!({"sub": sub, "exp": exp}),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )?)
}

fn ip(c: u8, d: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, c, d))
}

/// A session the tool holds: its socket and what `welcome` said.
struct Session {
    ws: Socket,
    peer: String,
    session: String,
    resume_token: String,
    resumed: bool,
}

/// Why a `hello` did not give a session.
#[derive(Debug)]
enum HelloError {
    /// The server answered with an error frame (its code).
    Refused(&'static str),
    Other(anyhow::Error),
}

impl<E: Into<anyhow::Error>> From<E> for HelloError {
    fn from(e: E) -> Self {
        HelloError::Other(e.into())
    }
}

/// Opens a socket from `from` and says `hello` as user `sub`, resuming `resume` when given.
async fn hello(
    url: &str,
    from: IpAddr,
    sub: &str,
    resume: Option<Value>,
) -> Result<Session, HelloError> {
    let mut ws = open_socket(url, Some(from)).await?;
    let mut frame = json!({"type": "hello", "v": 1, "name": sub, "token": token(sub)?});
    if let Some(resume) = resume {
        frame["resume"] = resume;
    }
    ws.send(Message::Text(frame.to_string().into())).await?;
    match next_frame(&mut ws).await? {
        ServerFrame::Welcome {
            peer,
            session,
            resume_token,
            resumed,
            ..
        } => Ok(Session {
            ws,
            peer,
            session,
            resume_token,
            resumed,
        }),
        ServerFrame::Error { code, .. } => Err(HelloError::Refused(code.as_str())),
        other => Err(HelloError::Other(anyhow::anyhow!(
            "expected welcome, got {other:?}"
        ))),
    }
}

/// Like [`hello`] for a fresh session, with every failure as an error.
async fn connect(url: &str, from: IpAddr, sub: &str) -> Result<Session> {
    hello(url, from, sub, None).await.map_err(|e| match e {
        HelloError::Refused(code) => anyhow::anyhow!("hello refused: {code}"),
        HelloError::Other(e) => e,
    })
}

/// Sends `join` and waits for its answer: Ok(()) for `joined`, Err(code) for an error frame.
async fn join(ws: &mut Socket, room: &str) -> Result<Result<(), &'static str>> {
    let frame = json!({"type": "join", "room": room}).to_string();
    ws.send(Message::Text(frame.into())).await?;
    loop {
        match next_frame(ws).await? {
            ServerFrame::Joined { room: r, .. } if r == room => return Ok(Ok(())),
            ServerFrame::Error { code, .. } => return Ok(Err(code.as_str())),
            _ => continue,
        }
    }
}

/// Counts of what happened in a phase, by name (printed sorted).
#[derive(Default)]
struct Tally(Mutex<BTreeMap<String, u64>>);

impl Tally {
    fn add(&self, what: impl Into<String>, n: u64) {
        if let Ok(mut map) = self.0.lock() {
            *map.entry(what.into()).or_default() += n;
        }
    }

    fn take(&self) -> String {
        let map = self.0.lock().map(|mut m| std::mem::take(&mut *m));
        map.unwrap_or_default()
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Peaks of the figures the sampler reads every 200 ms, since the last reset.
#[derive(Default, Clone, Copy)]
struct Peaks {
    rss_kib: [u64; 2],
    buffered: [u64; 2],
    redis_used: u64,
}

/// Samples both servers and Redis until `stop`; `peaks` holds the maxima since the caller last reset it.
fn sample(
    pids: [u32; 2],
    metrics_ports: [u16; 2],
    redis: Arc<RedisProcess>,
    peaks: Arc<Mutex<Peaks>>,
    stop: Arc<AtomicBool>,
) {
    while !stop.load(Ordering::Relaxed) {
        let mut now = Peaks::default();
        for i in 0..2 {
            now.rss_kib[i] = machine::rss_kib(pids[i]);
            let text = ServerProcess::metrics_at(metrics_ports[i]).unwrap_or_default();
            now.buffered[i] = metric(&text, "signaling_buffered_bytes ", "") as u64;
        }
        now.redis_used = redis.info_field("memory", "used_memory");
        if let Ok(mut p) = peaks.lock() {
            for i in 0..2 {
                p.rss_kib[i] = p.rss_kib[i].max(now.rss_kib[i]);
                p.buffered[i] = p.buffered[i].max(now.buffered[i]);
            }
            p.redis_used = p.redis_used.max(now.redis_used);
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Sum of the Prometheus samples whose line starts with `name` and contains `filter`.
fn metric(text: &str, name: &str, filter: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(filter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        // An empty float sum is -0.0, which would print as "-0".
        .fold(0.0, |sum, v| sum + v)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1048576.0
}

/// The replay buffers Redis holds (`p2pchat:buf:<session>` lists): how many, the longest in frames and in
/// bytes, their total bytes and the longest time to live. One Lua call; fine at this size.
fn replay_buffers(redis: &RedisProcess) -> String {
    const SCRIPT: &str = "local n, maxlen, maxbytes, total, maxttl = 0, 0, 0, 0, -2 \
        for _, k in ipairs(redis.call('KEYS', 'p2pchat:buf:*')) do \
          n = n + 1 \
          local items = redis.call('LRANGE', k, 0, -1) \
          local bytes = 0 \
          for _, v in ipairs(items) do bytes = bytes + #v end \
          if #items > maxlen then maxlen = #items end \
          if bytes > maxbytes then maxbytes = bytes end \
          total = total + bytes \
          local ttl = redis.call('PTTL', k) \
          if ttl > maxttl then maxttl = ttl end \
        end \
        return {n, maxlen, maxbytes, total, maxttl}";
    let out = redis
        .cli(&["EVAL", SCRIPT, "0"])
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|v| v.parse::<i64>().ok())
        .collect::<Vec<_>>();
    let [n, maxlen, maxbytes, total, maxttl] = out[..] else {
        return format!("replay buffers: unreadable ({out:?})");
    };
    format!(
        "{n} replay buffers, longest {maxlen} frames (ring: {RING_FRAMES}), largest {:.1} KiB (ring: {} KiB), \
         {:.1} MiB in all, longest TTL {:.0} s{}",
        maxbytes as f64 / 1024.0,
        RING_BYTES >> 10,
        total as f64 / 1048576.0,
        maxttl as f64 / 1000.0,
        if maxlen as u64 > RING_FRAMES || maxbytes as u64 > RING_BYTES {
            " — MORE THAN THE RING KEEPS"
        } else {
            ""
        }
    )
}

/// The two servers, Redis and the sampler: what each report reads.
struct Cluster {
    redis: Arc<RedisProcess>,
    servers: [ServerProcess; 2],
    peaks: Arc<Mutex<Peaks>>,
    budgets: [u64; 2],
}

impl Cluster {
    fn url(&self, i: usize) -> String {
        self.servers[i].ws_url()
    }

    fn reset_peaks(&self) {
        if let Ok(mut p) = self.peaks.lock() {
            *p = Peaks::default();
        }
    }

    /// Prints Redis and both servers now and at their peaks since the last reset.
    fn report(&self, label: &str) {
        let peaks = self.peaks.lock().map(|p| *p).unwrap_or_default();
        let used = self.redis.info_field("memory", "used_memory");
        println!(
            "  [{label}] redis: used_memory {:.1} MiB (peak {:.1}), RSS {:.1} MiB, {} keys, evicted_keys {}, \
             expired_keys {}; {}",
            mib(used),
            mib(peaks.redis_used.max(used)),
            machine::rss_kib(self.redis.pid()) as f64 / 1024.0,
            self.redis.cli(&["DBSIZE"]).unwrap_or_default().trim(),
            self.redis.info_field("stats", "evicted_keys"),
            self.redis.info_field("stats", "expired_keys"),
            replay_buffers(&self.redis),
        );
        for (i, server) in self.servers.iter().enumerate() {
            let text = server.metrics().unwrap_or_default();
            let buffered = metric(&text, "signaling_buffered_bytes ", "") as u64;
            let rss = machine::rss_kib(server.pid());
            let evicted = ["buffered_bytes", "per_ip", "per_user", "sessions"]
                .iter()
                .map(|r| {
                    let f = format!("reason=\"{r}\"");
                    format!(
                        "{r} {:.0}",
                        metric(&text, "signaling_sessions_evicted_total", &f)
                    )
                })
                .collect::<Vec<_>>()
                .join(", ");
            let errors = [
                "overloaded",
                "rate_limited",
                "room_full",
                "bad_request",
                "too_many_sessions",
                "unknown_peer",
                "not_in_room",
            ]
            .iter()
            .map(|c| {
                let f = format!("code=\"{c}\"");
                format!("{c} {:.0}", metric(&text, "signaling_errors_total", &f))
            })
            .collect::<Vec<_>>()
            .join(", ");
            println!(
                "  [{label}] server {}: buffered {:.2} MiB (peak {:.2}, budget {}), RSS {:.1} MiB (peak {:.1}); \
                 {:.0} sessions ({:.0} parked); evicted: {evicted}; refused hellos {:.0}; slow readers dropped {:.0}; \
                 buffer trims {:.0}; resumes {:.0}; errors: {errors}{}",
                ["A", "B"][i],
                mib(buffered),
                mib(peaks.buffered[i].max(buffered)),
                format_args!("{:.0} MiB", mib(self.budgets[i])),
                rss as f64 / 1024.0,
                peaks.rss_kib[i].max(rss) as f64 / 1024.0,
                metric(&text, "signaling_sessions ", ""),
                metric(&text, "signaling_sessions_parked", ""),
                metric(&text, "signaling_sessions_refused_total", ""),
                metric(&text, "signaling_slow_reader_drops_total", ""),
                metric(&text, "signaling_buffer_trims_total", ""),
                metric(&text, "signaling_resumes_total", ""),
                if peaks.buffered[i].max(buffered) > self.budgets[i] {
                    " — BUFFERED MORE THAN THE BUDGET"
                } else {
                    ""
                },
            );
        }
    }
}

/// What one honest session saw of its partner's numbered signals, and did itself.
#[derive(Default, Clone)]
struct HonestCount {
    sent: u64,
    /// Error frames the server answered this session's signals with.
    refused: u64,
    received: u64,
    duplicates: u64,
    out_of_order: u64,
    /// Highest number received + 1 (what a gap-free stream would have delivered).
    next_expected: u64,
    moves: u64,
    failed_moves: u64,
}

/// The honest pair's counts, shared with the reports.
type HonestShared = Arc<Mutex<[HonestCount; 2]>>;

fn print_honest(label: &str, honest: &HonestShared) {
    let counts = honest.lock().map(|c| c.clone()).unwrap_or_default();
    for (i, c) in counts.iter().enumerate() {
        let other = &counts[1 - i];
        let (from, to) = [("A", "B"), ("B", "A")][1 - i];
        println!(
            "  [{label}] honest {from}→{to}: sent {}, received {}, duplicates {}, out of order {}, missing {} \
             (not yet arrived or lost: sent − received), refused by the server {}{}",
            other.sent,
            c.received,
            c.duplicates,
            c.out_of_order,
            other.sent.saturating_sub(c.received),
            other.refused,
            if c.moves > 0 {
                format!(
                    "; the receiver moved servers {} times by resume ({} failed)",
                    c.moves, c.failed_moves
                )
            } else {
                String::new()
            }
        );
    }
}

/// One honest session: sends numbered signals to `partner` at `rate` until `stop`, counts what arrives, and
/// for each server url `moves` brings, drops its connection and resumes on that server.
#[allow(clippy::too_many_arguments)]
async fn honest(
    index: usize,
    mut session: Session,
    from: IpAddr,
    sub: String,
    partner: String,
    rate: f64,
    mut moves: tokio::sync::mpsc::UnboundedReceiver<String>,
    counts: HonestShared,
    stop: Arc<AtomicBool>,
    drain_until: Arc<Mutex<Option<Instant>>>,
) -> Result<()> {
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / rate));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut last_seq = 0u64;
    let mut seen: Vec<bool> = Vec::new();
    let mut n = 0u64;
    let update = |f: &mut dyn FnMut(&mut HonestCount)| {
        if let Ok(mut c) = counts.lock() {
            f(&mut c[index]);
        }
    };
    loop {
        let deadline = drain_until.lock().ok().and_then(|d| *d);
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(());
        }
        tokio::select! {
            _ = ticks.tick(), if !stop.load(Ordering::Relaxed) => {
                let frame = format!(
                    r#"{{"type":"signal","room":"honest","to":"{partner}","data":{{"n":{n}}}}}"#
                );
                session.ws.send(Message::Text(frame.into())).await?;
                n += 1;
                update(&mut |c| c.sent = n);
            }
            frame = next_frame(&mut session.ws) => {
                let frame = frame.context("honest session's connection")?;
                last_seq = last_seq.max(frame.seq());
                match frame {
                    ServerFrame::Signal { data, from, .. } if from == partner => {
                        let data: Value = serde_json::from_str(data.get())?;
                        let Some(got) = data["n"].as_u64() else { continue };
                        let slot = usize::try_from(got)?;
                        if seen.len() <= slot {
                            seen.resize(slot + 1, false);
                        }
                        let duplicate = seen[slot];
                        seen[slot] = true;
                        update(&mut |c| {
                            if duplicate {
                                c.duplicates += 1;
                                return;
                            }
                            if got < c.next_expected {
                                c.out_of_order += 1;
                            }
                            c.received += 1;
                            c.next_expected = c.next_expected.max(got + 1);
                        });
                    }
                    ServerFrame::Error { r#ref: Some(r), .. } if r == "signal" => {
                        update(&mut |c| c.refused += 1);
                    }
                    _ => {}
                }
            }
            // Look at the drain deadline again now and then (nothing else may wake this loop then).
            () = tokio::time::sleep(Duration::from_millis(200)) => {}
            Some(url) = moves.recv() => {
                // Stop sending a moment before the drop, so what was sent has surely reached the server.
                tokio::time::sleep(Duration::from_millis(100)).await;
                // Vanish without a close (a network drop): the session parks on its server, frames for it
                // wait in its ring (and in Redis), and the resume elsewhere must replay them exactly once.
                drop(session.ws);
                let resume = json!({"session": session.session, "last_seq": last_seq, "token": session.resume_token});
                let moved = hello(&url, from, &sub, Some(resume)).await;
                match moved {
                    Ok(s) if s.resumed => {
                        update(&mut |c| c.moves += 1);
                        session = s;
                    }
                    Ok(s) => {
                        println!("  honest session {index}: resume on {url} gave a FRESH session (resumed:false)");
                        update(&mut |c| c.failed_moves += 1);
                        session = s;
                    }
                    Err(e) => {
                        update(&mut |c| c.failed_moves += 1);
                        bail!("honest session {index}: resume on {url} failed: {e:?}");
                    }
                }
            }
        }
    }
}

pub async fn run(binary: &PathBuf, options: Options) -> Result<()> {
    let mut redis_args = Vec::new();
    for (name, value) in shipped_settings() {
        let value = match (&options.redis_maxmemory, name.as_str()) {
            (Some(own), "maxmemory") => own.clone(),
            _ => value,
        };
        redis_args.push(format!("--{name}"));
        redis_args.extend(value.split_whitespace().map(String::from));
    }
    let redis = Arc::new(RedisProcess::start_with(&redis_args)?);
    let budget_b = options.budget_mib << 20;
    let common = |budget: Option<u64>| -> Vec<String> {
        let mut args: Vec<String> = [
            "--redis-url",
            &redis.url(),
            "--auth-secret",
            SECRET,
            "--worker-threads",
            "1",
        ]
        .map(String::from)
        .to_vec();
        if let Some(budget) = budget {
            args.extend(["--max-buffered-bytes".into(), budget.to_string()]);
        }
        args
    };
    let servers = [
        ServerProcess::start_with(binary, &common(None), &[])?,
        ServerProcess::start_with(binary, &common(Some(budget_b)), &[])?,
    ];
    let cluster = Cluster {
        peaks: Arc::new(Mutex::new(Peaks::default())),
        budgets: [256 << 20, budget_b],
        redis: redis.clone(),
        servers,
    };
    println!(
        "hostile, two servers: redis-server {} ({}; no persistence), servers A and B sharing it (auth on, \
         per-address limits at their defaults, 1 worker thread each; B with --max-buffered-bytes {} MiB); \
         each attack phase {} s, replay-flood burst {} signals per sender; honest pair at {} signals/s each way",
        redis
            .cli(&["INFO", "server"])
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix("redis_version:"))
            .unwrap_or("?")
            .trim(),
        redis_args.join(" "),
        options.budget_mib,
        options.phase_seconds,
        options.flood_burst,
        options.honest_rate,
    );
    let stop_sampler = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (redis, peaks, stop) = (redis.clone(), cluster.peaks.clone(), stop_sampler.clone());
        let pids = [cluster.servers[0].pid(), cluster.servers[1].pid()];
        let ports = [
            cluster.servers[0].metrics_port,
            cluster.servers[1].metrics_port,
        ];
        tokio::task::spawn_blocking(move || sample(pids, ports, redis, peaks, stop))
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    cluster.report("start");

    // The honest pair: a on A, b on B, one room.
    let (a_ip, b_ip) = (ip(1, 1), ip(1, 2));
    let mut ha = connect(&cluster.url(0), a_ip, "honest-a").await?;
    let mut hb = connect(&cluster.url(1), b_ip, "honest-b").await?;
    if let Err(code) = join(&mut ha.ws, "honest").await? {
        bail!("honest a could not join: {code}");
    }
    if let Err(code) = join(&mut hb.ws, "honest").await? {
        bail!("honest b could not join: {code}");
    }
    let victims = [ha.session.clone(), hb.session.clone()];
    let (a_peer, b_peer) = (ha.peer.clone(), hb.peer.clone());
    let honest_counts: HonestShared = Arc::new(Mutex::new(Default::default()));
    let stop_honest = Arc::new(AtomicBool::new(false));
    let drain_until = Arc::new(Mutex::new(None));
    let phase = Duration::from_secs(options.phase_seconds);
    // a stays on A; b moves to A and back during the wrong-token storm (phase 3).
    let (_a_moves, a_moves_rx) = tokio::sync::mpsc::unbounded_channel();
    let (b_moves, b_moves_rx) = tokio::sync::mpsc::unbounded_channel();
    let honest_tasks = [
        tokio::spawn(honest(
            0,
            ha,
            a_ip,
            "honest-a".into(),
            b_peer,
            options.honest_rate,
            a_moves_rx,
            honest_counts.clone(),
            stop_honest.clone(),
            drain_until.clone(),
        )),
        tokio::spawn(honest(
            1,
            hb,
            b_ip,
            "honest-b".into(),
            a_peer,
            options.honest_rate,
            b_moves_rx,
            honest_counts.clone(),
            stop_honest.clone(),
            drain_until.clone(),
        )),
    ];
    tokio::time::sleep(Duration::from_secs(2)).await;

    let tally = Arc::new(Tally::default());
    let phases = Phases {
        cluster: &cluster,
        phase,
        tally: &tally,
        honest: &honest_counts,
    };
    let started = Instant::now();

    // Phase 1: replay flood A → B, recipients never read.
    let stop = phases.start();
    let mut tasks = Vec::new();
    for host in 0..2u8 {
        for k in 0..16u8 {
            let tag = format!("{host}-{k}");
            tasks.push(tokio::spawn(flood_pair(
                cluster.url(0),
                cluster.url(1),
                ip(2, 1 + host),
                ip(3, 1 + host),
                tag,
                options.flood_burst,
                stop.clone(),
                tally.clone(),
            )));
        }
    }
    phases.finish("1 replay flood", stop, tasks).await;

    // Phase 2: signals from A to sessions parked on B, beyond B's budget.
    let stop = phases.start();
    let mut tasks = Vec::new();
    for room in 0..28u8 {
        tasks.push(tokio::spawn(budget_room(
            cluster.url(0),
            cluster.url(1),
            ip(2, 5 + room % 2),
            ip(3, 5 + room % 4),
            room,
            stop.clone(),
            tally.clone(),
        )));
    }
    phases.finish("2 cross-server budget", stop, tasks).await;

    // Phase 3: wrong-token resumes of the honest sessions on both servers; b moves A and back meanwhile.
    let stop = phases.start();
    let mut tasks = Vec::new();
    {
        let urls = [cluster.url(0), cluster.url(1)];
        tasks.push(tokio::spawn(async move {
            for url in urls {
                tokio::time::sleep(phase / 3).await;
                b_moves.send(url)?;
            }
            anyhow::Ok(())
        }));
    }
    for host in 0..8u8 {
        for k in 0..2u8 {
            tasks.push(tokio::spawn(wrong_token_storm(
                cluster.url(usize::from(host % 2)),
                ip(4, 1 + host),
                victims.clone(),
                format!("{host}-{k}"),
                stop.clone(),
                tally.clone(),
            )));
        }
    }
    phases.finish("3 wrong-token storm", stop, tasks).await;

    // Phase 4: room-capacity races from both servers, join bursts beyond 16 rooms.
    let stop = phases.start();
    let tasks = vec![tokio::spawn(room_races(
        [cluster.url(0), cluster.url(1)],
        tally.clone(),
        stop.clone(),
    ))];
    phases
        .finish("4 room races and join bursts", stop, tasks)
        .await;

    // The honest pair stops sending and drains; then everything the attack left behind settles.
    stop_honest.store(true, Ordering::Relaxed);
    if let Ok(mut d) = drain_until.lock() {
        *d = Some(Instant::now() + Duration::from_secs(3));
    }
    for task in honest_tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => println!("honest session ended with an error: {e:#}"),
            Err(e) => println!("honest session task failed: {e}"),
        }
    }
    println!(
        "attack over after {:.0} s; machine load average (1 min) {}",
        started.elapsed().as_secs_f64(),
        machine::load_average()
    );
    print_honest("end of the attack", &honest_counts);
    cluster.report("end of the attack");
    cluster.reset_peaks();
    tokio::time::sleep(Duration::from_secs(options.settle)).await;
    cluster.report(&format!("{} s later", options.settle));
    let counts = honest_counts.lock().map(|c| c.clone()).unwrap_or_default();
    for (i, c) in counts.iter().enumerate() {
        let other = &counts[1 - i];
        let missing = other.sent.saturating_sub(c.received);
        println!(
            "honest {}: {} sent, {} received, {} duplicates, {} out of order, {} missing → {}",
            ["B→A", "A→B"][i],
            other.sent,
            c.received,
            c.duplicates,
            c.out_of_order,
            missing,
            if missing + c.duplicates + c.out_of_order == 0 {
                "exactly once, in order"
            } else {
                "NOT exactly once in order"
            }
        );
    }
    stop_sampler.store(true, Ordering::Relaxed);
    sampler.await?;
    Ok(())
}

/// What every attack phase shares: the servers, its length, the attackers' tally and the honest pair.
struct Phases<'a> {
    cluster: &'a Cluster,
    phase: Duration,
    tally: &'a Tally,
    honest: &'a HonestShared,
}

impl Phases<'_> {
    /// Starts a phase: fresh peaks, and the flag that stops its attackers.
    fn start(&self) -> Arc<AtomicBool> {
        self.cluster.reset_peaks();
        Arc::new(AtomicBool::new(false))
    }

    /// Lets a phase run, stops its attackers, and prints what it did and the readings.
    async fn finish(
        &self,
        label: &str,
        stop: Arc<AtomicBool>,
        tasks: Vec<tokio::task::JoinHandle<Result<()>>>,
    ) {
        let started = Instant::now();
        tokio::time::sleep(self.phase).await;
        stop.store(true, Ordering::Relaxed);
        for task in tasks {
            match tokio::time::timeout(Duration::from_secs(10), task).await {
                Ok(Ok(Ok(()))) => {}
                Ok(Ok(Err(e))) => self.tally.add(format!("attacker task error ({e:#})"), 1),
                Ok(Err(e)) => self.tally.add(format!("attacker task panicked ({e})"), 1),
                Err(_) => self.tally.add("attacker task did not stop within 10 s", 1),
            }
        }
        println!(
            "phase {label} ({:.0} s): {}",
            started.elapsed().as_secs_f64(),
            self.tally.take()
        );
        self.cluster.report(label);
        print_honest(label, self.honest);
    }
}

/// Reads a session's frames until it closes, counting error frames by code under `who`.
fn count_errors(
    mut stream: futures_util::stream::SplitStream<Socket>,
    who: &'static str,
    tally: Arc<Tally>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while let Some(Ok(message)) = stream.next().await {
            if let Message::Text(text) = message
                && let Ok(ServerFrame::Error { code, .. }) = ServerFrame::parse(&text)
            {
                tally.add(format!("{who}: error {}", code.as_str()), 1);
            }
        }
    })
}

/// Phase 1: a recipient on B that never reads and a sender on A in their own room; the sender sends a burst
/// of almost-64-KiB signals (24 by default: 6 × the recipient's ring), then 4 a second, until `stop`; then
/// both vanish.
#[allow(clippy::too_many_arguments)]
async fn flood_pair(
    a_url: String,
    b_url: String,
    a_ip: IpAddr,
    b_ip: IpAddr,
    tag: String,
    burst: u64,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) -> Result<()> {
    let room = format!("flood-{tag}");
    let mut recipient = connect(&b_url, b_ip, &format!("flood-r-{tag}")).await?;
    if let Err(code) = join(&mut recipient.ws, &room).await? {
        tally.add(format!("flood recipient join: {code}"), 1);
    }
    let mut sender = connect(&a_url, a_ip, &format!("flood-s-{tag}")).await?;
    if let Err(code) = join(&mut sender.ws, &room).await? {
        tally.add(format!("flood sender join: {code}"), 1);
    }
    let signal = format!(
        r#"{{"type":"signal","room":"{room}","to":"{}","data":"{}"}}"#,
        recipient.peer,
        "f".repeat(BIG_DATA)
    );
    let (mut sink, stream) = sender.ws.split();
    let reader = count_errors(stream, "flood sender", tally.clone());
    for _ in 0..burst {
        sink.feed(Message::Text(signal.clone().into())).await?;
    }
    sink.flush().await?;
    tally.add("flood signals of 64 KiB sent", burst);
    let mut ticks = tokio::time::interval(Duration::from_millis(250));
    while !stop.load(Ordering::Relaxed) {
        ticks.tick().await;
        if sink
            .send(Message::Text(signal.clone().into()))
            .await
            .is_err()
        {
            tally.add("flood sender lost its connection", 1);
            break;
        }
        tally.add("flood signals of 64 KiB sent", 1);
    }
    reader.abort();
    drop((sink, recipient));
    Ok(())
}

/// Phase 2: 7 sessions on B join room `budget-<room>` and vanish (parked, rings on B), then a sender on A
/// in the room sends each of them 5 signals of almost 64 KiB at once and one a second after that.
async fn budget_room(
    a_url: String,
    b_url: String,
    a_ip: IpAddr,
    b_ip: IpAddr,
    room_no: u8,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) -> Result<()> {
    let room = format!("budget-{room_no}");
    let mut parked = Vec::new();
    for k in 0..ROOM_CAPACITY - 1 {
        let mut s = match connect(&b_url, b_ip, &format!("parked-{room_no}-{k}")).await {
            Ok(s) => s,
            Err(e) => {
                tally.add(format!("parked recipient hello failed ({e:#})"), 1);
                continue;
            }
        };
        if join(&mut s.ws, &room).await?.is_ok() {
            parked.push(s.peer.clone());
        }
        // Vanish without a close: the session parks on B for its grace period, keeping its ring.
        drop(s);
    }
    tally.add("sessions parked on B", parked.len() as u64);
    let mut sender = connect(&a_url, a_ip, &format!("budget-s-{room_no}")).await?;
    if let Err(code) = join(&mut sender.ws, &room).await? {
        tally.add(format!("budget sender join: {code}"), 1);
    }
    let blob = "p".repeat(BIG_DATA);
    let signals: Vec<String> = parked
        .iter()
        .map(|peer| format!(r#"{{"type":"signal","room":"{room}","to":"{peer}","data":"{blob}"}}"#))
        .collect();
    let (mut sink, stream) = sender.ws.split();
    let reader = count_errors(stream, "budget sender", tally.clone());
    for _ in 0..5 {
        for s in &signals {
            sink.feed(Message::Text(s.clone().into())).await?;
        }
    }
    sink.flush().await?;
    tally.add(
        "signals of 64 KiB to parked sessions",
        5 * signals.len() as u64,
    );
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    while !stop.load(Ordering::Relaxed) {
        ticks.tick().await;
        for s in &signals {
            if sink.feed(Message::Text(s.clone().into())).await.is_err() {
                break;
            }
        }
        if sink.flush().await.is_err() {
            tally.add("budget sender lost its connection", 1);
            break;
        }
        tally.add("signals of 64 KiB to parked sessions", signals.len() as u64);
    }
    reader.abort();
    Ok(())
}

/// Phase 3: `hello`s whose `resume` names one of the honest sessions with a wrong resume token, 25 a second,
/// alternating the victim and the user (the victim's own `sub`, as with a stolen client token, or the
/// attacker's); each session got is dropped at once (it parks, and the per-address limit ends it).
async fn wrong_token_storm(
    url: String,
    from: IpAddr,
    victims: [String; 2],
    tag: String,
    stop: Arc<AtomicBool>,
    tally: Arc<Tally>,
) -> Result<()> {
    let mut ticks = tokio::time::interval(Duration::from_millis(40));
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let mut i = 0usize;
    while !stop.load(Ordering::Relaxed) {
        ticks.tick().await;
        i += 1;
        let victim = i % 2;
        let sub = if (i / 2).is_multiple_of(2) {
            ["honest-a", "honest-b"][victim].to_owned()
        } else {
            format!("storm-{tag}")
        };
        let resume =
            json!({"session": victims[victim], "last_seq": 0, "token": format!("wrong-{i}-{tag}")});
        match hello(&url, from, &sub, Some(resume)).await {
            Ok(s) if s.resumed => tally.add("wrong-token resumes that RESUMED the session", 1),
            Ok(_) => tally.add("wrong-token hellos answered with a fresh session", 1),
            Err(HelloError::Refused(code)) => {
                tally.add(format!("wrong-token hellos refused: {code}"), 1)
            }
            Err(HelloError::Other(_)) => tally.add("wrong-token hellos cut (connection)", 1),
        }
    }
    Ok(())
}

/// Phase 4: 16 rooms, each joined at one instant by 6 sessions on A and 6 on B (capacity 8); then on each
/// server 2 sessions send 40 joins of distinct rooms in one burst (limit 16). Prints what each got.
async fn room_races(urls: [String; 2], tally: Arc<Tally>, stop: Arc<AtomicBool>) -> Result<()> {
    const ROOMS: usize = 16;
    const PER_SERVER: usize = 6;
    let barrier = Arc::new(tokio::sync::Barrier::new(ROOMS * PER_SERVER * 2));
    let mut joiners = Vec::new();
    for room in 0..ROOMS {
        for (server, url) in urls.iter().enumerate() {
            for k in 0..PER_SERVER {
                // 48 sessions per address and server: under the per-address limit of 64.
                let from = ip(5, 1 + (server * 2 + room / 8) as u8);
                let sub = format!("race-{room}-{server}-{k}");
                let url = url.clone();
                let barrier = barrier.clone();
                joiners.push(tokio::spawn(async move {
                    let session = connect(&url, from, &sub).await;
                    barrier.wait().await;
                    let mut session = session?;
                    let answer = join(&mut session.ws, &format!("race-{room}")).await?;
                    anyhow::Ok((room, answer, session))
                }));
            }
        }
    }
    let mut joined = [0usize; ROOMS];
    let mut held = Vec::new();
    for joiner in joiners {
        match joiner.await? {
            Ok((room, Ok(()), session)) => {
                joined[room] += 1;
                held.push(session);
            }
            Ok((_, Err(code), session)) => {
                tally.add(format!("race joins refused: {code}"), 1);
                held.push(session);
            }
            Err(e) => tally.add(format!("race joiner failed ({e:#})"), 1),
        }
    }
    tally.add("race joins accepted", joined.iter().sum::<usize>() as u64);
    let over = joined.iter().filter(|&&n| n > ROOM_CAPACITY).count();
    tally.add(
        format!(
            "race rooms: members per room min {} max {} (capacity {ROOM_CAPACITY}), rooms over capacity",
            joined.iter().min().unwrap_or(&0),
            joined.iter().max().unwrap_or(&0)
        ),
        over as u64,
    );

    // Join bursts: 40 joins sent at once, answered one by one.
    for (server, url) in urls.iter().enumerate() {
        for k in 0..2 {
            let from = ip(5, 10 + server as u8);
            let mut s = connect(url, from, &format!("burst-{server}-{k}")).await?;
            for r in 0..40 {
                let frame = json!({"type": "join", "room": format!("burst-{server}-{k}-{r}")});
                s.ws.feed(Message::Text(frame.to_string().into())).await?;
            }
            s.ws.flush().await?;
            let (mut ok, mut refused) = (0u64, 0u64);
            let until = Instant::now() + Duration::from_secs(5);
            while ok + refused < 40 {
                match tokio::time::timeout_at(until, next_frame(&mut s.ws)).await {
                    Ok(Ok(ServerFrame::Joined { .. })) => ok += 1,
                    Ok(Ok(ServerFrame::Error { code, .. })) => {
                        refused += 1;
                        tally.add(format!("burst joins refused: {}", code.as_str()), 1);
                    }
                    Ok(Ok(_)) => {}
                    _ => break,
                }
            }
            tally.add(
                format!("burst sessions that got more than {MAX_ROOMS} rooms"),
                u64::from(ok > MAX_ROOMS as u64),
            );
            tally.add("burst joins accepted", ok);
            held.push(s);
        }
    }
    // Hold the sessions until the phase ends (then they vanish and park).
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(held);
    Ok(())
}
