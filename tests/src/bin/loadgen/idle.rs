//! Idle benchmark: hold many sessions, each joined to a room of 8, and report the server's resident memory
//! per session (RSS growth ÷ sessions), including session state, resume buffers and socket buffers.

use std::time::{Duration, Instant};

use anyhow::Result;
use futures_util::StreamExt;

use crate::client::LoadClient;
use crate::machine;
use crate::server::ServerProcess;

pub struct IdleReport {
    pub sessions: usize,
    pub connect_secs: f64,
    pub base_rss_kib: u64,
    pub rss_kib: u64,
    pub per_session_bytes: f64,
}

pub async fn run(server: &ServerProcess, sessions: usize) -> Result<IdleReport> {
    Ok(run_across(&[server], sessions).await?.remove(0))
}

/// Like [`run`] with the sessions spread over `servers` in turn (so each room of 8 spans them all, as
/// behind a load balancer); one report per server, counting the sessions it holds.
pub async fn run_across(servers: &[&ServerProcess], sessions: usize) -> Result<Vec<IdleReport>> {
    let urls: Vec<String> = servers.iter().map(|s| s.ws_url()).collect();
    // Let the servers' lazily initialised parts settle before the baseline.
    for url in &urls {
        drop(LoadClient::connect(url, "warm-up").await?);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let base_rss_kib: Vec<u64> = servers.iter().map(|s| machine::rss_kib(s.pid())).collect();
    let started = Instant::now();
    let clients: Vec<LoadClient> = futures_util::stream::iter(0..sessions)
        .map(|i| {
            let url = urls[i % urls.len()].clone();
            async move {
                let mut client = LoadClient::connect(&url, &format!("idle-{i}")).await?;
                client.join(&format!("idle-{}", i / 8)).await?;
                anyhow::Ok(client)
            }
        })
        .buffer_unordered(200)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    let connect_secs = started.elapsed().as_secs_f64();
    // Keep reading so the clients answer the server's pings and consume peer-joined frames.
    let readers: Vec<_> = clients
        .into_iter()
        .map(|mut c| tokio::spawn(async move { while let Some(Ok(_)) = c.ws.next().await {} }))
        .collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_kib: Vec<u64> = servers.iter().map(|s| machine::rss_kib(s.pid())).collect();
    for reader in &readers {
        reader.abort();
    }
    Ok((0..servers.len())
        .map(|n| {
            let held = (0..sessions).filter(|i| i % servers.len() == n).count();
            IdleReport {
                sessions: held,
                connect_secs,
                base_rss_kib: base_rss_kib[n],
                rss_kib: rss_kib[n],
                per_session_bytes: (rss_kib[n].saturating_sub(base_rss_kib[n]) * 1024) as f64
                    / held.max(1) as f64,
            }
        })
        .collect())
}
