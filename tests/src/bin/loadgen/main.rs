//! `loadgen`: the signaling server's benchmark. It starts the server binary itself (so it can read the
//! server's memory and CPU from /proc), drives it over real WebSockets on 127.0.0.1 and prints the
//! numbers with the machine they were measured on. Every run is bounded in connections and time.
//!
//!   cargo build --release -p signaling-server -p p2pchat-tests
//!   target/release/loadgen all            # idle sessions, relay at 20k/s, max rate sweep
//!   target/release/loadgen hostile        # attackers vs. honest pairs, server RSS bound
//!   target/release/loadgen hostile --servers 2  # attacks across two servers sharing a Redis
//!   target/release/loadgen cluster        # 2 servers sharing a Redis, every pair split across them
//!   target/release/loadgen relay --redis  # one server with Redis on (all peers local)
//!
//! See docs/performance.md for what each figure means and the numbers measured.

mod client;
mod hostile;
mod hostile_cluster;
mod idle;
mod machine;
mod redis;
mod relay;
mod server;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use redis::RedisProcess;
use relay::RelayReport;
use server::ServerProcess;

#[derive(Parser)]
#[command(about = "Benchmark for the p2pchat signaling server (loopback only, bounded)")]
struct Args {
    /// Server binary to benchmark (default: `signaling-server` next to this tool).
    #[arg(long, global = true)]
    server_bin: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Hold idle sessions (each joined to a room of 8) and report server RSS per session.
    Idle {
        #[arg(long, default_value_t = 10_000)]
        sessions: usize,
        /// Start a redis-server and run the server with --redis-url (one server: every peer is local).
        #[arg(long)]
        redis: bool,
    },
    /// Relay signals between pairs at a fixed total rate.
    Relay {
        #[arg(long, default_value_t = 1_000)]
        pairs: usize,
        /// Total signals per second over all clients.
        #[arg(long, default_value_t = 20_000.0)]
        rate: f64,
        #[arg(long, default_value_t = 12)]
        seconds: u64,
        /// Start a redis-server and run the server with --redis-url (one server: every peer is local).
        #[arg(long)]
        redis: bool,
    },
    /// Two servers sharing a redis-server: idle sessions spread over both (memory per session per
    /// server), then pairs with one client on each server relaying at a fixed total rate.
    Cluster {
        #[arg(long, default_value_t = 10_000)]
        sessions: usize,
        #[arg(long, default_value_t = 1_000)]
        pairs: usize,
        #[arg(long, default_value_t = 20_000.0)]
        rate: f64,
        #[arg(long, default_value_t = 12)]
        seconds: u64,
    },
    /// Raise the rate step by step until p99 exceeds the bound or a signal is lost.
    Sweep {
        #[arg(long, default_value_t = 1_000)]
        pairs: usize,
        #[arg(
            long,
            value_delimiter = ',',
            default_value = "20000,25000,30000,35000,40000,50000"
        )]
        rates: Vec<f64>,
        #[arg(long, default_value_t = 6)]
        seconds: u64,
        /// p99 latency bound in milliseconds.
        #[arg(long, default_value_t = 5.0)]
        p99_ms: f64,
    },
    /// Attackers on other loopback addresses (half-open handshakes, announced big frames, oversized frames,
    /// floods, sessions parked with full rings) against a server with its default limits, while honest
    /// pairs relay; reports the server's peak RSS against the bound its limits imply.
    Hostile {
        /// Attacker hosts (source addresses 127.0.2.1..) holding half-open handshakes and announced frames.
        #[arg(long, default_value_t = 8)]
        handshake_hosts: u8,
        /// Attacker hosts (the next addresses) making sessions: oversized frames, floods, parked rings, pings.
        #[arg(long, default_value_t = 16)]
        session_hosts: u8,
        #[arg(long, default_value_t = 100)]
        pairs: usize,
        /// Total honest signals per second.
        #[arg(long, default_value_t = 2_000.0)]
        rate: f64,
        /// Honest measurement time (the attack runs from `warmup` seconds before it to its end).
        #[arg(long, default_value_t = 30)]
        seconds: u64,
        #[arg(long, default_value_t = 10)]
        warmup: u64,
        /// Seconds to wait after the attack before the last RSS reading (parked sessions end after 30 s).
        #[arg(long, default_value_t = 35)]
        settle: u64,
        /// 2: two servers with auth sharing a redis-server, attacked across them in four phases (replay
        /// floods, a cross-server buffer budget, wrong-token resumes, room-limit races) while one honest
        /// pair, split over the servers, checks exactly-once delivery. Of the options above only --settle
        /// applies.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=2))]
        servers: u8,
        /// With --servers 2: length of each attack phase.
        #[arg(long, default_value_t = 12)]
        phase_seconds: u64,
        /// With --servers 2: server B's --max-buffered-bytes, in MiB (small, so the budget is reached).
        #[arg(long, default_value_t = 8)]
        budget_mib: u64,
        /// With --servers 2: Redis maxmemory instead of the shipped redis-p2pchat.conf's (e.g. 16mb).
        #[arg(long)]
        redis_maxmemory: Option<String>,
        /// With --servers 2: 64 KiB signals each replay-flood sender sends at once (≤ 200, the rate-limit burst).
        #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u64).range(1..=200))]
        flood_burst: u64,
    },
    /// Everything above (except hostile) with the defaults.
    All,
}

fn main() -> Result<()> {
    let args = Args::parse();
    // Thousands of sockets on both ends; the server child inherits the raised limit.
    rlimit::increase_nofile_limit(200_000).context("raising the open-files limit")?;
    let binary = match args.server_bin {
        Some(path) => path,
        None => std::env::current_exe()?.with_file_name("signaling-server"),
    };
    let size = std::fs::metadata(&binary)
        .with_context(|| format!("server binary {}", binary.display()))?
        .len();
    println!("machine: {}", machine::describe());
    println!("commit: {}", machine::commit());
    println!(
        "server binary: {} ({:.1} MiB)",
        binary.display(),
        size as f64 / 1048576.0
    );
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        match args.command {
            Command::Idle { sessions, redis } => {
                let redis = redis.then(RedisProcess::start).transpose()?;
                idle(&binary, sessions, redis.as_ref()).await
            }
            Command::Relay {
                pairs,
                rate,
                seconds,
                redis,
            } => {
                let redis = redis.then(RedisProcess::start).transpose()?;
                let server = start(&binary, redis.as_ref())?;
                let clients = relay::connect_pairs(&server, pairs).await?;
                let (report, _) =
                    relay::run(&[&server], clients, rate, Duration::from_secs(seconds)).await?;
                print_relay(&report);
                if let Some(redis) = &redis {
                    print_redis(redis);
                }
                Ok(())
            }
            Command::Cluster {
                sessions,
                pairs,
                rate,
                seconds,
            } => cluster(&binary, sessions, pairs, rate, seconds).await,
            Command::Sweep {
                pairs,
                rates,
                seconds,
                p99_ms,
            } => sweep(&binary, pairs, &rates, seconds, p99_ms).await,
            Command::Hostile {
                settle,
                servers: 2,
                phase_seconds,
                budget_mib,
                redis_maxmemory,
                flood_burst,
                ..
            } => {
                hostile_cluster::run(
                    &binary,
                    hostile_cluster::Options {
                        phase_seconds,
                        budget_mib,
                        redis_maxmemory,
                        honest_rate: 20.0,
                        flood_burst,
                        settle,
                    },
                )
                .await
            }
            Command::Hostile {
                handshake_hosts,
                session_hosts,
                pairs,
                rate,
                seconds,
                warmup,
                settle,
                ..
            } => {
                hostile::run(
                    &binary,
                    hostile::Options {
                        handshake_hosts,
                        session_hosts,
                        honest_pairs: pairs,
                        rate,
                        seconds,
                        warmup,
                        settle,
                    },
                )
                .await
            }
            Command::All => {
                idle(&binary, 10_000, None).await?;
                let server = start(&binary, None)?;
                let clients = relay::connect_pairs(&server, 1_000).await?;
                let (report, _) =
                    relay::run(&[&server], clients, 20_000.0, Duration::from_secs(12)).await?;
                print_relay(&report);
                drop(server);
                sweep(
                    &binary,
                    1_000,
                    &[20_000.0, 25_000.0, 30_000.0, 35_000.0, 40_000.0, 50_000.0],
                    6,
                    5.0,
                )
                .await
            }
        }
    })
}

/// Starts a server, with `--redis-url` when `redis` is given.
fn start(binary: &PathBuf, redis: Option<&RedisProcess>) -> Result<ServerProcess> {
    start_sharing(binary, redis, 1)
}

/// Starts one of `instances` servers that share this machine, each with its share of the cores.
fn start_sharing(
    binary: &PathBuf,
    redis: Option<&RedisProcess>,
    instances: usize,
) -> Result<ServerProcess> {
    let mut args: Vec<String> = match redis {
        Some(redis) => vec!["--redis-url".into(), redis.url()],
        None => Vec::new(),
    };
    if instances > 1 {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        args.push("--worker-threads".into());
        args.push((cores / instances).max(1).to_string());
    }
    let server = ServerProcess::start(binary, &args)?;
    println!(
        "server start → accepting connections: {:.1} ms{}",
        server.startup.as_secs_f64() * 1e3,
        if redis.is_some() { " (with Redis)" } else { "" }
    );
    // It joins the others in the background; until then it refuses sessions.
    server.wait_ready()?;
    Ok(server)
}

async fn idle(binary: &PathBuf, sessions: usize, redis: Option<&RedisProcess>) -> Result<()> {
    let server = start(binary, redis)?;
    let r = idle::run(&server, sessions).await?;
    print_idle("idle", &r);
    if let Some(redis) = redis {
        print_redis(redis);
    }
    Ok(())
}

fn print_idle(label: &str, r: &idle::IdleReport) {
    println!(
        "{label}: {} sessions (rooms of 8) connected in {:.1} s; server RSS {:.1} MiB → {:.1} MiB; {:.2} KiB per session",
        r.sessions,
        r.connect_secs,
        r.base_rss_kib as f64 / 1024.0,
        r.rss_kib as f64 / 1024.0,
        r.per_session_bytes / 1024.0
    );
}

fn print_redis(redis: &RedisProcess) {
    println!(
        "redis-server: RSS {:.1} MiB, CPU {:.1} s",
        machine::rss_kib(redis.pid()) as f64 / 1024.0,
        machine::cpu_time(redis.pid()).as_secs_f64()
    );
}

/// Two servers sharing one Redis: idle memory per session on each, then the relay across them.
async fn cluster(
    binary: &PathBuf,
    sessions: usize,
    pairs: usize,
    rate: f64,
    seconds: u64,
) -> Result<()> {
    {
        let redis = RedisProcess::start()?;
        let servers = [
            start_sharing(binary, Some(&redis), 2)?,
            start_sharing(binary, Some(&redis), 2)?,
        ];
        let reports = idle::run_across(&[&servers[0], &servers[1]], sessions).await?;
        for (n, r) in reports.iter().enumerate() {
            print_idle(&format!("cluster idle, server {}", n + 1), r);
        }
        print_redis(&redis);
    }
    let redis = RedisProcess::start()?;
    let servers = [
        start_sharing(binary, Some(&redis), 2)?,
        start_sharing(binary, Some(&redis), 2)?,
    ];
    let clients = relay::connect_pairs_across(&servers[0], &servers[1], pairs).await?;
    let redis_cpu_before = machine::cpu_time(redis.pid());
    let wall = std::time::Instant::now();
    let (report, _) = relay::run(
        &[&servers[0], &servers[1]],
        clients,
        rate,
        Duration::from_secs(seconds),
    )
    .await?;
    println!(
        "cluster relay (every pair split over 2 servers; CPU and RSS summed over both): {report}; \
         server RSS {:.1} → {:.1} MiB",
        report.rss_start_kib as f64 / 1024.0,
        report.rss_end_kib as f64 / 1024.0,
    );
    let redis_cpu = machine::cpu_time(redis.pid()) - redis_cpu_before;
    println!(
        "redis-server during the relay: CPU {:.1}% = {:.2} µs/signal",
        redis_cpu.as_secs_f64() * 100.0 / wall.elapsed().as_secs_f64(),
        redis_cpu.as_secs_f64() * 1e6 / report.relayed.max(1) as f64
    );
    print_redis(&redis);
    Ok(())
}

async fn sweep(
    binary: &PathBuf,
    pairs: usize,
    rates: &[f64],
    seconds: u64,
    p99_ms: f64,
) -> Result<()> {
    let server = start(binary, None)?;
    let mut clients = relay::connect_pairs(&server, pairs).await?;
    let mut best = None;
    for &rate in rates {
        let (report, back) =
            relay::run(&[&server], clients, rate, Duration::from_secs(seconds)).await?;
        clients = back;
        print_relay(&report);
        let ok = (report.p99_us as f64) <= p99_ms * 1000.0
            && report.lost + report.duplicated + report.misrouted == 0
            && report.achieved_rate >= 0.95 * rate;
        if !ok {
            break;
        }
        best = Some(report.achieved_rate);
    }
    match best {
        Some(rate) => println!(
            "max rate with p99 ≤ {p99_ms} ms and nothing lost: {rate:.0} signals/s ({pairs} pairs)"
        ),
        None => println!("no rate in {rates:?} kept p99 ≤ {p99_ms} ms"),
    }
    Ok(())
}

fn print_relay(r: &RelayReport) {
    println!(
        "relay: {r}; server RSS {:.1} → {:.1} MiB",
        r.rss_start_kib as f64 / 1024.0,
        r.rss_end_kib as f64 / 1024.0,
    );
}
