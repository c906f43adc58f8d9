//! History benchmark: fills a SQLite history with N messages over R rooms (batched writes), then measures
//! what users wait for: cold open → conversation list → first page, the latest page of a room, the next
//! (older) page, and full-text search, printing p50/p99 and the machine it ran on.
//!
//! `history-bench [--messages 1000000] [--rooms 1000] [--batch 10000] [--queries 1000] [--db PATH]`
//! With `--db` the filled database is kept (used to measure the app's memory with a large history).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use p2pchat_app_lib::history::{History, NewMessage, OpenOptions, PAGE_SIZE};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Common chat words (some accented, to exercise diacritic folding) drawn with a skewed distribution.
const WORDS: &[&str] = &[
    "the",
    "a",
    "to",
    "and",
    "you",
    "it",
    "is",
    "ok",
    "yes",
    "no",
    "meeting",
    "call",
    "later",
    "today",
    "tomorrow",
    "lunch",
    "café",
    "crème",
    "brûlée",
    "naïve",
    "über",
    "résumé",
    "déjà",
    "vu",
    "thanks",
    "please",
    "deploy",
    "server",
    "build",
    "review",
    "merge",
    "branch",
    "release",
    "bug",
    "fix",
    "test",
    "coffee",
    "station",
    "train",
    "late",
    "sorry",
    "great",
    "idea",
    "plan",
    "weekend",
    "photo",
    "video",
    "link",
    "doc",
    "budget",
    "invoice",
    "ticket",
    "customer",
    "design",
    "draft",
    "slides",
    "kubernetes",
    "database",
    "migration",
    "latency",
    "benchmark",
    "holiday",
    "birthday",
    "party",
    "dinner",
    "restaurant",
    "airport",
    "flight",
    "hotel",
    "rain",
    "sunny",
    "football",
    "concert",
];

#[derive(Debug)]
struct Args {
    messages: usize,
    rooms: usize,
    batch: usize,
    queries: usize,
    db: Option<PathBuf>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        messages: 1_000_000,
        rooms: 1000,
        batch: 10_000,
        queries: 1000,
        db: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let number = |v: String| v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--messages" => args.messages = number(value()?)?,
            "--rooms" => args.rooms = number(value()?)?.max(1),
            "--batch" => args.batch = number(value()?)?.max(1),
            "--queries" => args.queries = number(value()?)?.max(1),
            "--db" => args.db = Some(PathBuf::from(value()?)),
            "--help" | "-h" => return Err("usage: history-bench [--messages N] [--rooms N] [--batch N] [--queries N] [--db PATH]".into()),
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    Ok(args)
}

/// What the app's start screen asks for: 100 conversations, and one more to know whether to offer more.
const START_SCREEN_CONVERSATIONS: u32 = 101;

fn word(rng: &mut StdRng) -> String {
    // Skewed: low indexes are frequent; one word in eight is a rare generated token.
    if rng.random_ratio(1, 8) {
        return format!("tok{}", rng.random_range(0..50_000));
    }
    let r: f64 = rng.random();
    WORDS[((r * r) * WORDS.len() as f64) as usize % WORDS.len()].to_owned()
}

fn body(rng: &mut StdRng) -> String {
    let n = rng.random_range(3..20);
    (0..n).map(|_| word(rng)).collect::<Vec<_>>().join(" ")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    if samples.is_empty() {
        return;
    }
    samples.sort();
    println!(
        "{name:<40} p50 {:>8.3} ms   p99 {:>8.3} ms   max {:>8.3} ms   (n={})",
        percentile(&samples, 0.50).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples[samples.len() - 1].as_secs_f64() * 1e3,
        samples.len()
    );
}

fn machine_info() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .map(|kb| format!("{:.1} GiB", kb as f64 / 1024.0 / 1024.0))
        .unwrap_or_else(|| "? GiB".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    format!(
        "{cpu}, {cores} cores, {mem} RAM, Linux {}, {profile} build",
        kernel.trim()
    )
}

/// Asks the kernel to drop its page cache (root only) so "cold open" reads from disk; says if it could.
fn drop_page_cache() -> bool {
    std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("{msg}");
            std::process::exit(2);
        }
    };
    if let Err(err) = bench(args).await {
        eprintln!("history-bench failed: {err}");
        std::process::exit(1);
    }
}

async fn bench(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let keep = args.db.is_some();
    let path = args.db.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!(
            "p2pchat-history-bench-{}.sqlite3",
            std::process::id()
        ))
    });
    if path.exists() {
        return Err(format!("{} exists; pass a new path", path.display()).into());
    }
    println!(
        "history-bench: {} messages over {} rooms, batches of {}",
        args.messages, args.rooms, args.batch
    );
    println!("machine: {}", machine_info());
    let history = History::open(&path, &OpenOptions::default()).await?.history;
    let version: String = history.sqlite_version().await?;
    println!("SQLite {version}, file {}", path.display());

    // Write: batches in one transaction each, as a sync or an import would.
    let mut rng = StdRng::seed_from_u64(42);
    let start_ms: i64 = 1_700_000_000_000;
    let started = Instant::now();
    let mut written = 0usize;
    while written < args.messages {
        let n = args.batch.min(args.messages - written);
        let batch: Vec<NewMessage> = (written..written + n)
            .map(|i| {
                let outgoing = rng.random_ratio(1, 3);
                NewMessage {
                    id: format!("{:012x}-{i:08x}", start_ms + i as i64),
                    room: format!("room-{}", rng.random_range(0..args.rooms)),
                    sender: if outgoing {
                        "me".into()
                    } else {
                        format!("peer-{}", rng.random_range(0..5))
                    },
                    sender_name: if outgoing {
                        "Me".into()
                    } else {
                        format!("Friend {}", rng.random_range(0..5))
                    },
                    outgoing,
                    body: body(&mut rng),
                    sent_at: start_ms + i as i64 * 1000,
                }
            })
            .collect();
        history.insert_messages(&batch).await?;
        written += n;
    }
    let write = started.elapsed();
    println!(
        "write: {written} messages in {:.1} s = {:.0} messages/s (FTS index and unread counters included)",
        write.as_secs_f64(),
        written as f64 / write.as_secs_f64()
    );
    history.close().await;
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!("database size: {:.0} MiB", size as f64 / 1024.0 / 1024.0);

    // Cold open: what the app does at start before any network.
    let dropped = drop_page_cache();
    let t = Instant::now();
    let history = History::open(&path, &OpenOptions::default()).await?.history;
    let opened = t.elapsed();
    let conversations = history
        .list_conversations(Some(START_SCREEN_CONVERSATIONS))
        .await?;
    let listed = t.elapsed();
    let first_room = conversations
        .first()
        .map(|c| c.room.clone())
        .ok_or("no conversations")?;
    let page = history.messages_page(&first_room, None, PAGE_SIZE).await?;
    let first_page = t.elapsed();
    println!(
        "cold open{}: open+migrate check {:.1} ms, conversation list ({} rooms) {:.1} ms, first page ({} msgs) {:.1} ms total",
        if dropped {
            " (page cache dropped)"
        } else {
            " (page cache NOT dropped: not root)"
        },
        opened.as_secs_f64() * 1e3,
        conversations.len(),
        listed.as_secs_f64() * 1e3,
        page.messages.len(),
        first_page.as_secs_f64() * 1e3,
    );

    // Pages: first over rooms not read since the page cache was dropped (each one's rows come from
    // disk), then again over the same rooms, as when switching between open conversations.
    let rooms: Vec<String> = (0..args.queries)
        .map(|_| format!("room-{}", rng.random_range(0..args.rooms)))
        .collect();
    for pass in ["first visit, from disk", "warm"] {
        let mut latest = Vec::with_capacity(args.queries);
        let mut older = Vec::with_capacity(args.queries);
        for room in &rooms {
            let t = Instant::now();
            let page = history.messages_page(room, None, PAGE_SIZE).await?;
            latest.push(t.elapsed());
            if let Some(cursor) = page.next {
                let t = Instant::now();
                history
                    .messages_page(room, Some(&cursor), PAGE_SIZE)
                    .await?;
                older.push(t.elapsed());
            }
        }
        report(&format!("latest page (50), {pass}"), latest);
        if !older.is_empty() {
            report(&format!("next older page (50), {pass}"), older);
        }
    }
    for (name, limit) in [
        (
            "conversation list (newest 101)",
            Some(START_SCREEN_CONVERSATIONS),
        ),
        ("conversation list (all rooms)", None),
    ] {
        let mut lists = Vec::new();
        for _ in 0..20 {
            let t = Instant::now();
            history.list_conversations(limit).await?;
            lists.push(t.elapsed());
        }
        report(name, lists);
    }

    // Search: single common words, rare tokens, prefixes, accent-folded and two-word queries.
    const KINDS: [&str; 5] = [
        "one word",
        "rare token",
        "3-letter prefix",
        "accents folded",
        "two words",
    ];
    let queries: Vec<String> = (0..args.queries)
        .map(|i| match i % KINDS.len() {
            0 => WORDS[rng.random_range(0..WORDS.len())].to_owned(),
            1 => format!("tok{}", rng.random_range(0..50_000)),
            2 => WORDS[rng.random_range(0..WORDS.len())]
                .chars()
                .take(3)
                .collect(),
            3 => ["cafe", "creme brulee", "resume", "naive", "deja vu"][rng.random_range(0..5)]
                .to_owned(),
            _ => format!(
                "{} {}",
                WORDS[rng.random_range(0..WORDS.len())],
                WORDS[rng.random_range(0..WORDS.len())]
            ),
        })
        .collect();
    // As with pages: the first run reads matches from all over the file from disk (rare words are
    // spread over years of history); the second is the steady state.
    for pass in ["first run, from disk", "warm"] {
        let mut searches = Vec::with_capacity(args.queries);
        let mut by_kind: Vec<Vec<Duration>> = vec![Vec::new(); KINDS.len()];
        let mut hits = 0usize;
        for (i, query) in queries.iter().enumerate() {
            let t = Instant::now();
            hits += history.search(query, None, 50).await?.len();
            searches.push(t.elapsed());
            by_kind[i % KINDS.len()].push(t.elapsed());
        }
        report(&format!("search (top 50, snippets), {pass}"), searches);
        for (kind, samples) in KINDS.iter().zip(by_kind) {
            report(&format!("  of which {kind}"), samples);
        }
        println!("search returned {hits} hits over {} queries", args.queries);
    }
    history.close().await;
    if !keep {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }
    Ok(())
}
