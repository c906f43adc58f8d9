//! Hostile-client run (issue 12): attackers on other loopback addresses (127.0.2.x, one address per attacker
//! "host") hit one server that runs with its default limits, while honest pairs (127.0.1.x) keep relaying at
//! a fixed rate. Handshake hosts each keep more connections pending than the per-address limit allows:
//!
//! - half-open handshakes: TCP connections that send half an HTTP request and stall (slowloris);
//! - upgraded sockets that announce a frame of the maximum size before `hello` and never send it (the
//!   server reserves the frame's buffer).
//!
//! Session hosts each run:
//!
//! - sessions that send a 1 MiB frame (closed with 1009) and leave their session parked in its grace period;
//! - flood pairs: one session sends a burst of 60 KB signals to a partner that never reads (its ring fills),
//!   then both vanish, leaving full rings parked for 30 s; enough of them to exceed the global buffer budget;
//! - a ping flood at 10 × the rate limit.
//!
//! The tool samples the server's RSS every 100 ms and its metrics at the end, and prints the peak RSS
//! against the bound the limits imply, and the honest relay's rate, loss and latency. Bounded in time and
//! connections; loopback only.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::MaybeTlsStream;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{LoadClient, next_frame, open_socket, server_addr, tcp_from};
use crate::machine;
use crate::relay;
use crate::server::ServerProcess;

pub struct Options {
    /// Hosts holding half-open handshakes and announced frames.
    pub handshake_hosts: u8,
    /// Hosts making sessions: oversized frames, floods, parked rings, pings.
    pub session_hosts: u8,
    pub honest_pairs: usize,
    pub rate: f64,
    pub seconds: u64,
    /// Attack time before the honest measurement starts (rings and parked sessions build up).
    pub warmup: u64,
    /// Wait after the attack before the last RSS reading.
    pub settle: u64,
}

/// The server's defaults this run relies on (docs/security.md): the RSS bound is computed from them.
const MAX_BUFFERED_BYTES: u64 = 256 << 20;
const MAX_FRAME: u64 = 64 << 10;
const PENDING_PER_HOST: usize = 64;
const HONEST_PER_HOST: usize = 50;

/// What the attackers managed, counted by the tool.
#[derive(Default)]
struct Attack {
    tcp_attempts: AtomicU64,
    tcp_refused_at_once: AtomicU64,
    cut_by_server: AtomicU64,
    announced_frames: AtomicU64,
    oversized_sent: AtomicU64,
    closed_1009: AtomicU64,
    sessions: AtomicU64,
    hello_refused: AtomicU64,
    big_signals: AtomicU64,
    pings: AtomicU64,
}

fn count(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

pub async fn run(binary: &std::path::PathBuf, options: Options) -> Result<()> {
    let server = ServerProcess::start_with(binary, &[], &[])?;
    println!(
        "hostile: server with its default limits; {} handshake + {} session attacker hosts (127.0.2.x), {} honest pairs \
         (127.0.1.x) at {:.0} signals/s",
        options.handshake_hosts, options.session_hosts, options.honest_pairs, options.rate
    );
    let url = server.ws_url();
    let addr = server_addr(&url)?;
    let clients = honest_pairs(&url, options.honest_pairs).await?;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let base_rss = machine::rss_kib(server.pid());

    let stop = Arc::new(AtomicBool::new(false));
    let peak_rss = Arc::new(AtomicU64::new(base_rss));
    let peak_buffered = Arc::new(AtomicU64::new(0));
    let peak_connections = Arc::new(AtomicU64::new(0));
    let peak_pending = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (stop, peak, pid) = (stop.clone(), peak_rss.clone(), server.pid());
        tokio::spawn(async move {
            let mut samples = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let rss = machine::rss_kib(pid);
                peak.fetch_max(rss, Ordering::Relaxed);
                samples.push(rss);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            samples
        })
    };
    let buffered_sampler = {
        let stop = stop.clone();
        let peaks = [
            ("signaling_buffered_bytes ", peak_buffered.clone()),
            ("signaling_connections ", peak_connections.clone()),
            ("signaling_pending_connections ", peak_pending.clone()),
        ];
        let metrics_port = server.metrics_port;
        tokio::task::spawn_blocking(move || {
            while !stop.load(Ordering::Relaxed) {
                let text = ServerProcess::metrics_at(metrics_port).unwrap_or_default();
                for (name, peak) in &peaks {
                    let value = text
                        .lines()
                        .find_map(|l| l.strip_prefix(name)?.parse::<f64>().ok())
                        .unwrap_or(0.0);
                    peak.fetch_max(value as u64, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        })
    };
    let attack = Arc::new(Attack::default());
    let mut tasks = Vec::new();
    let hosts = options
        .handshake_hosts
        .saturating_add(options.session_hosts);
    for host in 1..=hosts {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 2, host));
        if host <= options.handshake_hosts {
            // 80 per host, over the per-address limit of 64.
            for _ in 0..PENDING_PER_HOST / 2 + 8 {
                let half = half_open(ip, addr, attack.clone(), stop.clone());
                tasks.push(tokio::spawn(half));
                let announce = announce_big_frame(ip, url.clone(), attack.clone(), stop.clone());
                tasks.push(tokio::spawn(announce));
            }
            continue;
        }
        for task in 0..6 {
            let tag = format!("{host}-{task}");
            let flood = flood_and_park(ip, url.clone(), tag, attack.clone(), stop.clone());
            tasks.push(tokio::spawn(flood));
        }
        for _ in 0..1 {
            let big = oversize(ip, url.clone(), attack.clone(), stop.clone());
            tasks.push(tokio::spawn(big));
        }
        let pings = ping_flood(ip, url.clone(), attack.clone(), stop.clone());
        tasks.push(tokio::spawn(pings));
    }
    let started = Instant::now();
    let load_before = machine::load_average();
    tokio::time::sleep(Duration::from_secs(options.warmup)).await;
    let rss_at_start = machine::rss_kib(server.pid());
    let (report, clients) = relay::run(
        &[&server],
        clients,
        options.rate,
        Duration::from_secs(options.seconds),
    )
    .await?;
    let attack_secs = started.elapsed().as_secs_f64();
    let load_after = machine::load_average();
    let metrics = server.metrics().unwrap_or_default();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
    }
    let samples = sampler.await?;
    buffered_sampler.await?;
    // After the attack: parked sessions end with their grace period (30 s); the honest ones stay.
    tokio::time::sleep(Duration::from_secs(options.settle)).await;
    let settled_rss = machine::rss_kib(server.pid());
    let settled_buffered = server
        .metrics()
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("signaling_buffered_bytes ")?
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(0.0);
    drop(clients);

    let peak = peak_rss.load(Ordering::Relaxed);
    let (connections, pending) = (
        peak_connections.load(Ordering::Relaxed),
        peak_pending.load(Ordering::Relaxed),
    );
    // docs/security.md: buffered frames, plus per pending connection a frame and HTTP buffers, plus per
    // WebSocket connection up to a frame read and two being written, plus a quarter for the allocator.
    let live_kib =
        (MAX_BUFFERED_BYTES + pending * (MAX_FRAME + (16 << 10)) + connections * 3 * MAX_FRAME)
            / 1024;
    let bound_kib = base_rss + live_kib * 5 / 4;
    let metric = |name: &str, filter: &str| -> f64 {
        metrics
            .lines()
            .filter(|l| l.starts_with(name) && l.contains(filter))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let a = |c: &AtomicU64| c.load(Ordering::Relaxed);
    println!(
        "attack ({attack_secs:.0} s): {} connection attempts, {} closed by the server at once (pending limits), {} cut later \
         (handshake/hello timeout); {} frames of 64 KiB announced before hello; {} frames of 1 MiB sent, {} closed with 1009; \
         {} attacker sessions, {} hellos refused; {} signals of 60 KB; {} pings",
        a(&attack.tcp_attempts),
        a(&attack.tcp_refused_at_once),
        a(&attack.cut_by_server),
        a(&attack.announced_frames),
        a(&attack.oversized_sent),
        a(&attack.closed_1009),
        a(&attack.sessions),
        a(&attack.hello_refused),
        a(&attack.big_signals),
        a(&attack.pings),
    );
    println!(
        "server saw: refused connections {:.0} (pending {:.0}, per host {:.0}), handshake timeouts {:.0}, 1009 closes {:.0}, \
         slow readers dropped {:.0}, parked sessions evicted {:.0} (per host {:.0}, buffer {:.0}), buffer trims {:.0}, \
         rate_limited {:.0}, overloaded {:.0}; buffered at most {:.1} MiB; at the end: {:.0} sessions ({:.0} parked), {:.1} MiB \
         buffered, {:.0} pending",
        metric("signaling_connections_refused_total", ""),
        metric("signaling_connections_refused_total", "reason=\"pending\""),
        metric("signaling_connections_refused_total", "pending_per_ip"),
        metric("signaling_handshake_timeouts_total", ""),
        metric("signaling_oversized_frames_total", ""),
        metric("signaling_slow_reader_drops_total", ""),
        metric("signaling_sessions_evicted_total", ""),
        metric("signaling_sessions_evicted_total", "per_ip"),
        metric("signaling_sessions_evicted_total", "buffered_bytes"),
        metric("signaling_buffer_trims_total", ""),
        metric("signaling_errors_total", "rate_limited"),
        metric("signaling_errors_total", "overloaded"),
        peak_buffered.load(Ordering::Relaxed) as f64 / 1048576.0,
        metric("signaling_sessions ", ""),
        metric("signaling_sessions_parked", ""),
        metric("signaling_buffered_bytes", "") / 1048576.0,
        metric("signaling_pending_connections", ""),
    );
    let during: Vec<u64> = samples.iter().copied().skip(1).collect();
    println!(
        "server RSS: {:.1} MiB before the attack, {:.1} MiB when the honest run started, peak {:.1} MiB, at the end {:.1} MiB; \
         bound {:.0} MiB = base + 1.25 × (max buffered {} MiB + {} pending (peak) × (64 + 16) KiB + {} connections (peak) × 3 × 64 KiB) → {}",
        base_rss as f64 / 1024.0,
        rss_at_start as f64 / 1024.0,
        peak as f64 / 1024.0,
        during.last().copied().unwrap_or(peak) as f64 / 1024.0,
        bound_kib as f64 / 1024.0,
        MAX_BUFFERED_BYTES >> 20,
        pending,
        connections,
        if peak <= bound_kib {
            "within"
        } else {
            "EXCEEDED"
        },
    );
    println!(
        "machine load average (1 min): {load_before} before the attack, {load_after} at its end"
    );
    println!(
        "{} s after the attack: server RSS {:.1} MiB, {:.1} MiB buffered",
        options.settle,
        settled_rss as f64 / 1024.0,
        settled_buffered / 1048576.0
    );
    println!("honest: {report}");
    Ok(())
}

/// Honest pairs, `HONEST_PER_HOST` sessions per address 127.0.1.x, each pair in its own room.
async fn honest_pairs(url: &str, pairs: usize) -> Result<Vec<(LoadClient, LoadClient)>> {
    let mut clients = Vec::with_capacity(pairs);
    for i in 0..pairs {
        let host = u8::try_from(1 + 2 * i / HONEST_PER_HOST)?;
        let ip = Some(IpAddr::V4(Ipv4Addr::new(127, 0, 1, host)));
        let room = format!("pair-{i}");
        let mut a = LoadClient::connect_from(url, "a", ip).await?;
        let mut b = LoadClient::connect_from(url, "b", ip).await?;
        a.join(&room).await?;
        b.join(&room).await?;
        next_frame(&mut a.ws).await?;
        clients.push((a, b));
    }
    Ok(clients)
}

/// Waits until the server closes `tcp` or the run stops; true if the server closed it.
async fn until_closed(tcp: &mut TcpStream, stop: &AtomicBool) -> bool {
    let mut buf = [0u8; 1024];
    while !stop.load(Ordering::Relaxed) {
        let read = tokio::time::timeout(Duration::from_millis(250), tcp.read(&mut buf)).await;
        if let Ok(Ok(0) | Err(_)) = read {
            return true;
        }
    }
    false
}

/// Opens a connection, lets `stall` start the handshake, and holds it until the server cuts it.
async fn hold(ip: IpAddr, addr: SocketAddr, attack: &Attack, stop: &AtomicBool, request: &[u8]) {
    while !stop.load(Ordering::Relaxed) {
        count(&attack.tcp_attempts);
        let Ok(mut tcp) = tcp_from(ip, addr).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let opened = Instant::now();
        let _ = tcp.write_all(request).await;
        if until_closed(&mut tcp, stop).await {
            if opened.elapsed() < Duration::from_millis(200) {
                count(&attack.tcp_refused_at_once);
                // Refused at once: try again soon (a real attacker would hammer; this keeps the tool's CPU
                // for the honest clients).
                tokio::time::sleep(Duration::from_millis(100)).await;
            } else {
                count(&attack.cut_by_server);
            }
        }
    }
}

async fn half_open(ip: IpAddr, addr: SocketAddr, attack: Arc<Attack>, stop: Arc<AtomicBool>) {
    hold(
        ip,
        addr,
        &attack,
        &stop,
        b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n",
    )
    .await;
}

/// Upgrades, then announces a masked text frame of exactly 64 KiB (the limit, so the server reserves it)
/// and sends 16 bytes of it.
async fn announce_big_frame(ip: IpAddr, url: String, attack: Arc<Attack>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        count(&attack.tcp_attempts);
        let Ok(mut ws) = open_socket(&url, Some(ip)).await else {
            count(&attack.tcp_refused_at_once);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let MaybeTlsStream::Plain(tcp) = ws.get_mut() else {
            return;
        };
        let mut frame = vec![0x81, 0xFF];
        frame.extend_from_slice(&MAX_FRAME.to_be_bytes());
        frame.extend_from_slice(&[7, 7, 7, 7]);
        frame.extend_from_slice(&[0u8; 16]);
        if tcp.write_all(&frame).await.is_ok() {
            count(&attack.announced_frames);
        }
        if until_closed(tcp, &stop).await {
            count(&attack.cut_by_server);
        }
    }
}

/// A session that sends a 1 MiB frame: closed with 1009, its session parks for the grace period.
async fn oversize(ip: IpAddr, url: String, attack: Arc<Attack>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(mut client) = LoadClient::connect_from(&url, "big", Some(ip)).await else {
            count(&attack.hello_refused);
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        count(&attack.sessions);
        let big = "x".repeat(1 << 20);
        if client.ws.send(Message::Text(big.into())).await.is_ok() {
            count(&attack.oversized_sent);
        }
        while let Ok(Some(message)) =
            tokio::time::timeout(Duration::from_secs(5), client.ws.next()).await
        {
            match message {
                Ok(Message::Close(Some(close))) if u16::from(close.code) == 1009 => {
                    count(&attack.closed_1009);
                    break;
                }
                Ok(_) => continue,
                Err(_) => break,
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A pair in its own room: one sends a burst of 60 KB signals (more than the recipient's 256 KiB ring) to
/// the other, which never reads; then both vanish without closing, leaving two parked sessions, one with a
/// full ring.
async fn flood_and_park(
    ip: IpAddr,
    url: String,
    tag: String,
    attack: Arc<Attack>,
    stop: Arc<AtomicBool>,
) {
    let blob = "y".repeat(60_000);
    let mut round = 0u64;
    while !stop.load(Ordering::Relaxed) {
        round += 1;
        let room = format!("atk-{tag}-{round}");
        let pair = async {
            let mut x = LoadClient::connect_from(&url, "x", Some(ip)).await?;
            let mut y = LoadClient::connect_from(&url, "y", Some(ip)).await?;
            count(&attack.sessions);
            count(&attack.sessions);
            x.join(&room).await?;
            y.join(&room).await?;
            next_frame(&mut x.ws).await?;
            anyhow::Ok((x, y))
        };
        let Ok((mut x, y)) = pair.await else {
            count(&attack.hello_refused);
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let signal = format!(
            r#"{{"type":"signal","room":"{room}","to":"{}","data":"{blob}"}}"#,
            y.peer
        );
        for _ in 0..6 {
            if x.ws
                .feed(Message::Text(signal.clone().into()))
                .await
                .is_err()
            {
                break;
            }
            count(&attack.big_signals);
        }
        let _ = x.ws.flush().await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Vanish without a close handshake: both sessions park with what they hold.
        drop((x, y));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Pings far above the rate limit, reading the answers (pongs and `rate_limited` errors).
async fn ping_flood(ip: IpAddr, url: String, attack: Arc<Attack>, stop: Arc<AtomicBool>) {
    while !stop.load(Ordering::Relaxed) {
        let Ok(client) = LoadClient::connect_from(&url, "pinger", Some(ip)).await else {
            count(&attack.hello_refused);
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        count(&attack.sessions);
        let (mut sink, mut stream) = client.ws.split();
        let reader = tokio::spawn(async move { while let Some(Ok(_)) = stream.next().await {} });
        while !stop.load(Ordering::Relaxed) {
            for _ in 0..50 {
                if sink
                    .feed(Message::Text(r#"{"type":"ping"}"#.into()))
                    .await
                    .is_err()
                {
                    break;
                }
                count(&attack.pings);
            }
            if sink.flush().await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        reader.abort();
    }
}
