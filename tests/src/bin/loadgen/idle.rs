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
    let url = server.ws_url();
    // Let the server's lazily initialised parts settle before the baseline.
    drop(LoadClient::connect(&url, "warm-up").await?);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let base_rss_kib = machine::rss_kib(server.pid());
    let started = Instant::now();
    let clients: Vec<LoadClient> = futures_util::stream::iter(0..sessions)
        .map(|i| {
            let url = url.clone();
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
    let rss_kib = machine::rss_kib(server.pid());
    for reader in &readers {
        reader.abort();
    }
    let per_session_bytes = (rss_kib.saturating_sub(base_rss_kib) * 1024) as f64 / sessions as f64;
    Ok(IdleReport {
        sessions,
        connect_secs,
        base_rss_kib,
        rss_kib,
        per_session_bytes,
    })
}
