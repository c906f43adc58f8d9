//! Relay benchmark: pairs of clients in their own rooms send each other signals at a fixed total rate.
//! Every signal carries a per-sender counter and a send timestamp, so the receiver can count lost,
//! duplicated, reordered and misrouted signals and measure end-to-end latency through the server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use chat_protocol::ServerFrame;
use futures_util::SinkExt;
use hdrhistogram::Histogram;
use rand::Rng;
use tokio::time::MissedTickBehavior;
use tokio_tungstenite::tungstenite::Message;

use crate::client::{LoadClient, next_frame};
use crate::machine;
use crate::server::ServerProcess;

pub struct RelayReport {
    pub pairs: usize,
    pub target_rate: f64,
    pub achieved_rate: f64,
    pub relayed: u64,
    pub lost: u64,
    /// Signals the server refused with an error frame (e.g. `overloaded`); also counted in `lost`.
    pub refused: u64,
    pub duplicated: u64,
    pub reordered: u64,
    pub misrouted: u64,
    pub p50_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub server_cpu_us_per_signal: f64,
    pub server_cpu_percent: f64,
    pub tool_cpu_percent: f64,
    pub rss_start_kib: u64,
    pub rss_end_kib: u64,
}

/// One line of what the relay did: pairs, rates, losses, latency, CPU (the callers add memory).
impl std::fmt::Display for RelayReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} pairs, target {:.0}/s, achieved {:.0}/s, relayed {}; lost {} (refused {}) duplicated {} gaps {} misrouted {}; \
             latency p50 {:.2} ms p99 {:.2} ms max {:.2} ms; server CPU {:.1}% = {:.2} µs/signal; load tool CPU {:.1}%",
            self.pairs,
            self.target_rate,
            self.achieved_rate,
            self.relayed,
            self.lost,
            self.refused,
            self.duplicated,
            self.reordered,
            self.misrouted,
            self.p50_us as f64 / 1e3,
            self.p99_us as f64 / 1e3,
            self.max_us as f64 / 1e3,
            self.server_cpu_percent,
            self.server_cpu_us_per_signal,
            self.tool_cpu_percent,
        )
    }
}

/// What one client saw.
struct ClientResult {
    sent: u64,
    received: u64,
    refused: u64,
    duplicated: u64,
    reordered: u64,
    misrouted: u64,
    latency_us: Histogram<u64>,
}

/// Connects `pairs` pairs, each in room `pair-<i>`; returns them as (a, b) sockets, in room order.
pub async fn connect_pairs(
    server: &ServerProcess,
    pairs: usize,
) -> Result<Vec<(LoadClient, LoadClient)>> {
    connect_pairs_across(server, server, pairs).await
}

/// Like [`connect_pairs`], with every `a` on server `a_server` and every `b` on `b_server`.
pub async fn connect_pairs_across(
    a_server: &ServerProcess,
    b_server: &ServerProcess,
    pairs: usize,
) -> Result<Vec<(LoadClient, LoadClient)>> {
    use futures_util::StreamExt;
    let (a_url, b_url) = (a_server.ws_url(), b_server.ws_url());
    futures_util::stream::iter(0..pairs)
        .map(|i| {
            let (a_url, b_url) = (a_url.clone(), b_url.clone());
            async move {
                let room = format!("pair-{i}");
                let mut a = LoadClient::connect(&a_url, "a").await?;
                let mut b = LoadClient::connect(&b_url, "b").await?;
                a.join(&room).await?;
                b.join(&room).await?;
                // a hears b join.
                next_frame(&mut a.ws).await?;
                anyhow::Ok((a, b))
            }
        })
        .buffered(100)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// Relays between `clients` at `rate` for `duration`; CPU and memory are summed over `servers`.
pub async fn run(
    servers: &[&ServerProcess],
    clients: Vec<(LoadClient, LoadClient)>,
    rate: f64,
    duration: Duration,
) -> Result<(RelayReport, Vec<(LoadClient, LoadClient)>)> {
    let pairs = clients.len();
    let per_client_period = Duration::from_secs_f64(2.0 * pairs as f64 / rate);
    let epoch = Arc::new(Instant::now());
    let start_at = tokio::time::Instant::now() + Duration::from_millis(200);
    let send_until = start_at + duration;
    let server_cpu_time = || {
        servers
            .iter()
            .map(|s| machine::cpu_time(s.pid()))
            .sum::<Duration>()
    };
    let server_rss_kib = || {
        servers
            .iter()
            .map(|s| machine::rss_kib(s.pid()))
            .sum::<u64>()
    };
    let server_cpu_before = server_cpu_time();
    let tool_cpu_before = machine::cpu_time(std::process::id());
    let rss_start_kib = server_rss_kib();
    let wall = Instant::now();

    let mut tasks = Vec::with_capacity(pairs * 2);
    for (i, (a, b)) in clients.into_iter().enumerate() {
        let room: Arc<str> = format!("pair-{i}").into();
        let (a_peer, b_peer) = (a.peer.clone(), b.peer.clone());
        tasks.push(tokio::spawn(drive(
            a,
            b_peer,
            room.clone(),
            per_client_period,
            start_at,
            send_until,
            epoch.clone(),
        )));
        tasks.push(tokio::spawn(drive(
            b,
            a_peer,
            room,
            per_client_period,
            start_at,
            send_until,
            epoch.clone(),
        )));
    }
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(task.await??);
    }
    let send_secs = duration.as_secs_f64();
    let server_cpu = server_cpu_time() - server_cpu_before;
    let tool_cpu = machine::cpu_time(std::process::id()) - tool_cpu_before;
    let elapsed = wall.elapsed().as_secs_f64();

    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3)?;
    let (mut sent, mut relayed, mut lost, mut duplicated, mut reordered, mut misrouted) =
        (0, 0, 0, 0, 0, 0);
    let mut refused = 0;
    let mut clients = Vec::with_capacity(pairs);
    let mut iter = results.into_iter();
    while let (Some((ra, ca)), Some((rb, cb))) = (iter.next(), iter.next()) {
        // a's sends are b's receipts and vice versa.
        lost += ra.sent.saturating_sub(rb.received) + rb.sent.saturating_sub(ra.received);
        for r in [&ra, &rb] {
            sent += r.sent;
            relayed += r.received;
            refused += r.refused;
            duplicated += r.duplicated;
            reordered += r.reordered;
            misrouted += r.misrouted;
            latency.add(&r.latency_us)?;
        }
        clients.push((ca, cb));
    }
    let report = RelayReport {
        pairs,
        target_rate: rate,
        achieved_rate: sent as f64 / send_secs,
        relayed,
        lost,
        refused,
        duplicated,
        reordered,
        misrouted,
        p50_us: latency.value_at_quantile(0.50),
        p99_us: latency.value_at_quantile(0.99),
        max_us: latency.max(),
        server_cpu_us_per_signal: server_cpu.as_secs_f64() * 1e6 / relayed.max(1) as f64,
        server_cpu_percent: server_cpu.as_secs_f64() * 100.0 / elapsed,
        tool_cpu_percent: tool_cpu.as_secs_f64() * 100.0 / elapsed,
        rss_start_kib,
        rss_end_kib: server_rss_kib(),
    };
    Ok((report, clients))
}

/// Sends to `partner` every `period` until `send_until` and checks everything received, then drains.
async fn drive(
    mut client: LoadClient,
    partner: String,
    room: Arc<str>,
    period: Duration,
    start_at: tokio::time::Instant,
    send_until: tokio::time::Instant,
    epoch: Arc<Instant>,
) -> Result<(ClientResult, LoadClient)> {
    let phase = rand::rng().random_range(Duration::ZERO..period);
    let mut ticks = tokio::time::interval_at(start_at + phase, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Skip);
    let drain_until = send_until + Duration::from_millis(1500);
    let mut result = ClientResult {
        sent: 0,
        received: 0,
        refused: 0,
        duplicated: 0,
        reordered: 0,
        misrouted: 0,
        latency_us: Histogram::new_with_bounds(1, 60_000_000, 3)?,
    };
    let mut next_expected = 0u64;
    loop {
        tokio::select! {
            _ = ticks.tick(), if tokio::time::Instant::now() < send_until => {
                let sent_us = epoch.elapsed().as_micros() as u64;
                let frame = format!(
                    r#"{{"type":"signal","room":"{room}","to":"{partner}","data":{{"n":{},"t":{sent_us}}}}}"#,
                    result.sent
                );
                client.ws.send(Message::Text(frame.into())).await?;
                result.sent += 1;
            }
            frame = next_frame(&mut client.ws) => {
                let (from, data) = match frame? {
                    ServerFrame::Signal { from, data, .. } => (from, data),
                    ServerFrame::Error { .. } => {
                        // The signal is lost for the receiver's count; report how many the server refused.
                        result.refused += 1;
                        continue;
                    }
                    _ => continue,
                };
                let received_us = epoch.elapsed().as_micros() as u64;
                if from != partner {
                    result.misrouted += 1;
                    continue;
                }
                let data: serde_json::Value = serde_json::from_str(data.get())?;
                let (n, t) = (data["n"].as_u64().unwrap_or(u64::MAX), data["t"].as_u64().unwrap_or(0));
                if n < next_expected {
                    result.duplicated += 1;
                    continue;
                }
                if n > next_expected {
                    result.reordered += 1;
                }
                next_expected = n + 1;
                result.received += 1;
                result.latency_us.saturating_record(received_us.saturating_sub(t));
            }
            () = tokio::time::sleep_until(drain_until) => break,
        }
    }
    Ok((result, client))
}
