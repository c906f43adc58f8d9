//! History benchmark: fills a history with N messages over R rooms (batched writes; a Zipf vocabulary),
//! then measures what users wait for: cold open → conversation list → first page, the latest page of a
//! room, the next (older) page, and full-text search by kind of query, warm and from disk. By default it
//! does all of it twice in one run, on a plain SQLite file and on a SQLCipher one (random raw key), and
//! prints both side by side with the machine, the load and the commit.
//!
//! `history-bench [--messages 1000000] [--rooms 1000] [--batch 10000] [--queries 1000]
//!                [--encryption both|on|off] [--rebuild] [--db PATH [--key HEX64] [--reuse]]`
//! `--db` fills that file (plain, or encrypted with the raw key `--key`, 64 hex digits), measures it and
//! keeps it (used to seed the app's history in tests and for memory measurements); with `--reuse` the
//! file is one an earlier `--db` run filled (same `--messages` and `--rooms`): it is measured as it is,
//! without the write. `--rebuild` also
//! times a rebuild of the full-text index, the work migration 0006 does once on an existing history.
//!
//! "From disk" (cold) means the file's pages are evicted from the OS page cache
//! (`posix_fadvise(POSIX_FADV_DONTNEED)` on the database and its WAL, our files only; Linux) and each
//! query runs on a freshly opened database (no SQLite page cache).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use p2pchat_app_lib::history::{DbKey, History, NewMessage, OpenOptions, PAGE_SIZE};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sqlx::{ConnectOptions, Connection};

/// Chat words placed among the more frequent ranks of the vocabulary (some accented, to exercise
/// diacritic folding).
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
/// Words in the vocabulary, ranked by frequency (Zipf, s = 1: rank r is drawn ∝ 1/r).
const VOCABULARY: usize = 50_000;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Encryption {
    Both,
    On,
    Off,
}

#[derive(Debug)]
struct Args {
    messages: usize,
    rooms: usize,
    batch: usize,
    queries: usize,
    db: Option<PathBuf>,
    key: Option<[u8; 32]>,
    encryption: Encryption,
    rebuild: bool,
    reuse: bool,
}

const USAGE: &str = "usage: history-bench [--messages N] [--rooms N] [--batch N] [--queries N] \
                     [--encryption both|on|off] [--rebuild] [--db PATH [--key HEX64] [--reuse]]";

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        messages: 1_000_000,
        rooms: 1000,
        batch: 10_000,
        queries: 1000,
        db: None,
        key: None,
        encryption: Encryption::Both,
        rebuild: false,
        reuse: false,
    };
    let mut encryption = None;
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
            "--key" => args.key = Some(parse_key(&value()?)?),
            "--rebuild" => args.rebuild = true,
            "--reuse" => args.reuse = true,
            "--encryption" => {
                encryption = Some(match value()?.as_str() {
                    "both" => Encryption::Both,
                    "on" => Encryption::On,
                    "off" => Encryption::Off,
                    other => return Err(format!("--encryption {other:?}: both, on or off")),
                })
            }
            "--help" | "-h" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?} (try --help)")),
        }
    }
    if args.reuse && args.db.is_none() {
        return Err("--reuse goes with --db".into());
    }
    args.encryption = match (&args.db, args.key, encryption) {
        (None, Some(_), _) => return Err("--key goes with --db".into()),
        (Some(_), Some(_), Some(Encryption::Off)) => {
            return Err("--key encrypts: not with --encryption off".into());
        }
        (Some(_), _, Some(Encryption::Both)) => {
            return Err("--db keeps one file: --encryption on or off".into());
        }
        (Some(_), Some(_), _) => Encryption::On,
        (Some(_), None, Some(e)) => e,
        (Some(_), None, None) => Encryption::Off,
        (None, None, e) => e.unwrap_or(Encryption::Both),
    };
    Ok(args)
}

fn parse_key(hex: &str) -> Result<[u8; 32], String> {
    let bytes: Vec<u8> = (0..hex.len())
        .step_by(2)
        .map(|i| {
            hex.get(i..i + 2)
                .and_then(|b| u8::from_str_radix(b, 16).ok())
        })
        .collect::<Option<_>>()
        .ok_or("--key: hex digits only")?;
    bytes
        .try_into()
        .map_err(|_| "--key: 64 hex digits (32 bytes)".into())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the app's start screen asks for: 100 conversations, and one more to know whether to offer more.
const START_SCREEN_CONVERSATIONS: u32 = 101;

/// The words messages are made of, most frequent first, and the Zipf distribution over them.
struct Corpus {
    words: Vec<String>,
    /// Cumulative probability of ranks 0..=i.
    cdf: Vec<f64>,
}

impl Corpus {
    fn new(rng: &mut StdRng) -> Corpus {
        const CONSONANTS: &[char] = &[
            'b', 'c', 'd', 'f', 'g', 'h', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'z',
        ];
        const VOWELS: &[char] = &['a', 'e', 'i', 'o', 'u'];
        const ACCENTED: &[char] = &['é', 'è', 'ü', 'ï', 'ô', 'á'];
        let mut seen: HashSet<String> = WORDS.iter().map(|w| w.to_string()).collect();
        let mut words = Vec::with_capacity(VOCABULARY);
        while words.len() < VOCABULARY {
            let syllables = rng.random_range(2..=4);
            let mut word = String::new();
            for _ in 0..syllables {
                word.push(CONSONANTS[rng.random_range(0..CONSONANTS.len())]);
                // One generated word in 40 carries an accent.
                if rng.random_ratio(1, 40 * syllables) {
                    word.push(ACCENTED[rng.random_range(0..ACCENTED.len())]);
                } else {
                    word.push(VOWELS[rng.random_range(0..VOWELS.len())]);
                }
            }
            if seen.insert(word.clone()) {
                words.push(word);
            }
        }
        // The chat words take ranks 0, 2, 5, 9, … up to ≈ 1 400: from very common to medium.
        for (i, w) in WORDS.iter().enumerate() {
            words[i * (i + 7) / 4] = (*w).to_owned();
        }
        let mut cdf = Vec::with_capacity(VOCABULARY);
        let mut sum = 0.0;
        for rank in 1..=VOCABULARY {
            sum += 1.0 / rank as f64;
            cdf.push(sum);
        }
        for c in &mut cdf {
            *c /= sum;
        }
        Corpus { words, cdf }
    }

    fn word(&self, rng: &mut StdRng) -> &str {
        let r: f64 = rng.random();
        let rank = self.cdf.partition_point(|&c| c < r).min(VOCABULARY - 1);
        &self.words[rank]
    }

    fn body(&self, rng: &mut StdRng) -> String {
        let n = rng.random_range(3..20);
        (0..n).map(|_| self.word(rng)).collect::<Vec<_>>().join(" ")
    }

    /// A word of a rank in `ranks`.
    fn ranked(&self, rng: &mut StdRng, ranks: std::ops::Range<usize>) -> &str {
        &self.words[rng.random_range(ranks)]
    }
}

/// Lowercase without accents, as a person types when they skip them.
fn unaccented(word: &str) -> String {
    word.chars()
        .map(|c| match c {
            'é' | 'è' => 'e',
            'ü' | 'û' => 'u',
            'ï' => 'i',
            'ô' => 'o',
            'á' => 'a',
            other => other,
        })
        .collect()
}

/// Kinds of search, as a person types them.
const KINDS: [&str; 6] = [
    "one word",
    "two words",
    "prefix (2-5 letters)",
    "accents folded",
    "rare word",
    "one room (1 or 2 words / prefix)",
];

struct Query {
    kind: usize,
    text: String,
    room: Option<String>,
}

fn queries(corpus: &Corpus, rng: &mut StdRng, n: usize, rooms: usize) -> Vec<Query> {
    let accented: Vec<&str> = corpus.words[..5000]
        .iter()
        .map(String::as_str)
        .filter(|w| !w.is_ascii())
        .collect();
    (0..n)
        .map(|i| {
            let kind = i % KINDS.len();
            let text = match kind {
                // A common to medium word.
                0 => corpus.ranked(rng, 0..2000).to_owned(),
                // Two medium-common words: most such pairs rarely meet.
                1 => format!(
                    "{} {}",
                    corpus.ranked(rng, 20..2000),
                    corpus.ranked(rng, 20..2000)
                ),
                // The start of a common word.
                2 => {
                    let word = corpus.ranked(rng, 0..500);
                    let len = rng.random_range(2..=5).min(word.chars().count());
                    word.chars().take(len).collect()
                }
                // An accented word typed without its accents, sometimes two.
                3 => {
                    let mut text = unaccented(accented[rng.random_range(0..accented.len())]);
                    if rng.random_ratio(1, 3) {
                        text.push(' ');
                        text.push_str(&unaccented(accented[rng.random_range(0..accented.len())]));
                    }
                    text
                }
                // A word seen a few dozen times in the whole history.
                4 => corpus.ranked(rng, 10_000..VOCABULARY).to_owned(),
                _ => match rng.random_range(0..3) {
                    0 => corpus.ranked(rng, 0..2000).to_owned(),
                    1 => format!(
                        "{} {}",
                        corpus.ranked(rng, 0..500),
                        corpus.ranked(rng, 0..500)
                    ),
                    _ => corpus.ranked(rng, 0..500).chars().take(3).collect(),
                },
            };
            let room = (kind == 5).then(|| format!("room-{}", rng.random_range(0..rooms)));
            Query { kind, text, room }
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Prints p50/p99/max of `samples` and returns "p50 / p99" for the summary.
fn report(name: &str, mut samples: Vec<Duration>) -> String {
    if samples.is_empty() {
        return "–".into();
    }
    samples.sort();
    let (p50, p99) = (percentile(&samples, 0.50), percentile(&samples, 0.99));
    println!(
        "  {name:<52} p50 {:>8.3} ms   p99 {:>8.3} ms   max {:>8.3} ms   (n={})",
        ms(p50),
        ms(p99),
        ms(samples[samples.len() - 1]),
        samples.len()
    );
    format!("{:.2} / {:.2}", ms(p50), ms(p99))
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

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The commit the source is at (`+dirty` with uncommitted changes), if this is a git checkout.
fn commit() -> String {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match git(&["rev-parse", "--short", "HEAD"]) {
        Some(head) => {
            let dirty = git(&["status", "--porcelain", "--", "."]).is_some_and(|s| !s.is_empty());
            format!("{head}{}", if dirty { "+dirty" } else { "" })
        }
        None => "unknown (not a git checkout)".into(),
    }
}

/// Evicts the database's files from the OS page cache, so the next reads come from disk. Only our
/// files: `/proc/sys/vm/drop_caches` would empty the cache of every program on the machine. Says
/// whether it could.
fn evict(path: &Path) -> bool {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        let mut all = true;
        for suffix in ["", "-wal"] {
            let file = PathBuf::from(format!("{}{suffix}", path.display()));
            let Ok(f) = std::fs::File::open(&file) else {
                all &= !suffix.is_empty();
                continue;
            };
            // Dirty pages cannot be dropped: write them first.
            let _ = f.sync_all();
            // SAFETY: a valid open descriptor; offset 0 and length 0 mean the whole file.
            let rc = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
            all &= rc == 0;
        }
        all
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = path;
        false
    }
}

/// Reads the database once, so the OS page cache holds it (as for an app that has been running).
fn warm_up(path: &Path) {
    let _ = std::fs::read(path);
}

/// CPU time this process has used (user and system, all threads; SQLite runs on its own thread), so a
/// write rate on a shared machine can be told apart from waiting for a core (zero off Unix).
fn cpu_time() -> Duration {
    #[cfg(unix)]
    {
        // SAFETY: getrusage only fills the struct it is given.
        let usage = unsafe {
            let mut usage: libc::rusage = std::mem::zeroed();
            libc::getrusage(libc::RUSAGE_SELF, &mut usage);
            usage
        };
        let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
        tv(usage.ru_utime) + tv(usage.ru_stime)
    }
    #[cfg(not(unix))]
    Duration::ZERO
}

/// This process's proportional set size in MiB (Linux; 0 elsewhere).
fn pss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/smaps_rollup")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Pss:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn file_size(path: &Path) -> u64 {
    ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", path.display())).ok())
        .map(|m| m.len())
        .sum()
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

type Summary = BTreeMap<usize, (String, String)>;

async fn bench(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "history-bench: {} messages over {} rooms, batches of {}, {} queries",
        args.messages, args.rooms, args.batch, args.queries
    );
    println!("machine: {}", machine_info());
    println!("commit: {}; load average at start: {}", commit(), load());
    let mut rng = StdRng::seed_from_u64(42);
    let corpus = Corpus::new(&mut rng);
    let runs: Vec<(&str, Option<[u8; 32]>)> = match args.encryption {
        Encryption::Both => vec![("plain", None), ("encrypted", Some(random_key()))],
        Encryption::Off => vec![("plain", None)],
        Encryption::On => vec![("encrypted", Some(args.key.unwrap_or_else(random_key)))],
    };
    let mut summaries = Vec::new();
    for (label, key) in &runs {
        let path = args.db.clone().unwrap_or_else(|| {
            std::env::temp_dir().join(format!(
                "p2pchat-history-bench-{}-{label}.sqlite3",
                std::process::id()
            ))
        });
        if path.exists() != args.reuse {
            return Err(if args.reuse {
                format!("{} does not exist", path.display())
            } else {
                format!("{} exists; pass a new path (or --reuse)", path.display())
            }
            .into());
        }
        println!("\n== {label} ({}) ==", path.display());
        let result = run(&args, &corpus, &path, *key).await;
        if args.db.is_none() {
            for suffix in ["", "-wal", "-shm"] {
                let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
            }
        }
        summaries.push((label, result?));
    }
    // Side by side, as a Markdown table.
    println!("\nsummary (p50 / p99 in ms; load average now {}):", load());
    print!("| measure |");
    for (label, _) in &summaries {
        print!(" {label} |");
    }
    print!("\n|---|");
    for _ in &summaries {
        print!("---|");
    }
    println!();
    let (_, first) = &summaries[0];
    for (order, (name, _)) in first {
        print!("| {name} |");
        for (_, summary) in &summaries {
            print!(" {} |", summary.get(order).map_or("–", |(_, v)| v.as_str()));
        }
        println!();
    }
    Ok(())
}

fn random_key() -> [u8; 32] {
    let mut key = [0u8; 32];
    rand::rng().fill(&mut key);
    key
}

/// The app's options (`max_connections`: `None` for the app's pool size).
fn options(key: Option<[u8; 32]>, max_connections: Option<u32>) -> OpenOptions {
    let app = OpenOptions::default();
    OpenOptions {
        key: key.map(DbKey::from_bytes),
        max_connections: max_connections.unwrap_or(app.max_connections),
        ..app
    }
}

async fn run(
    args: &Args,
    corpus: &Corpus,
    path: &Path,
    key: Option<[u8; 32]>,
) -> Result<Summary, Box<dyn std::error::Error>> {
    let mut summary = Summary::new();
    let mut put = |name: &str, value: String| {
        let n = summary.len();
        summary.insert(n, (name.to_owned(), value));
    };
    // The same messages and queries in every run.
    let mut rng = StdRng::seed_from_u64(7);
    let history = History::open(path, &options(key, None)).await?.history;
    println!("SQLite {}", history.sqlite_version().await?);
    if key.is_some() {
        let mut conn = raw_connection(path, key).await?;
        let version: String = sqlx::query_scalar("PRAGMA cipher_version")
            .fetch_one(&mut conn)
            .await?;
        let security: String = sqlx::query_scalar("PRAGMA cipher_memory_security")
            .fetch_one(&mut conn)
            .await?;
        println!("SQLCipher {version}, cipher_memory_security {security}");
        conn.close().await?;
    }

    // Write: batches in one transaction each, as a sync or an import would; only the store is timed,
    // not making up the messages. A reused file gets the same messages made (so the queries below are
    // the same) but not written.
    let start_ms: i64 = 1_700_000_000_000;
    let mut write = Duration::ZERO;
    let cpu_before = cpu_time();
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
                    body: corpus.body(&mut rng),
                    sent_at: start_ms + i as i64 * 1000,
                }
            })
            .collect();
        if !args.reuse {
            let t = Instant::now();
            history.insert_messages(&batch).await?;
            write += t.elapsed();
        }
        written += n;
    }
    // Closing checkpoints what the WAL still holds: part of the writing.
    let t = Instant::now();
    history.close().await;
    write += t.elapsed();
    if args.reuse {
        println!("write: none, {} reused", path.display());
    } else {
        let rate = written as f64 / write.as_secs_f64();
        println!(
            "write: {written} messages in {:.1} s = {rate:.0} messages/s (FTS index, unread counters and the last checkpoint included; {:.1} s of CPU)",
            write.as_secs_f64(),
            (cpu_time() - cpu_before).as_secs_f64(),
        );
        put("batched write (msg/s)", format!("{rate:.0}"));
    }
    let size = file_size(path) as f64 / 1024.0 / 1024.0;
    println!("database size: {size:.0} MiB");
    put("database size (MiB)", format!("{size:.0}"));

    // Cold open: what the app does at start before any network.
    let evicted = evict(path);
    let t = Instant::now();
    let history = History::open(path, &options(key, None)).await?.history;
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
        if evicted {
            " (file evicted from the page cache)"
        } else {
            " (page cache NOT evicted: not Linux)"
        },
        ms(opened),
        conversations.len(),
        ms(listed),
        page.messages.len(),
        ms(first_page),
    );
    put(
        "cold open → first page (ms)",
        format!("{:.1}", ms(first_page)),
    );

    // Pages: first over rooms not read since the file was evicted (each one's rows come from disk),
    // then again over the same rooms, as when switching between open conversations.
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
        let l = report(&format!("latest page (50), {pass}"), latest);
        let o = report(&format!("next older page (50), {pass}"), older);
        put(&format!("latest page, {pass}"), l);
        put(&format!("next older page, {pass}"), o);
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
        let v = report(name, lists);
        put(name, v);
    }

    // Search, first page (the UI's 30 results with snippets), by kind.
    const LIMIT: u32 = 30;
    let queries = queries(corpus, &mut rng, args.queries, args.rooms);
    let search = |history: &History, q: &Query| {
        let history = history.clone();
        let (text, room) = (q.text.clone(), q.room.clone());
        async move {
            let t = Instant::now();
            let page = history
                .search_page(&text, room.as_deref(), None, LIMIT)
                .await?;
            Ok::<_, Box<dyn std::error::Error>>((t.elapsed(), page))
        }
    };
    // Warm: the file in the OS page cache, the app's connections open.
    warm_up(path);
    let pss_before = pss_mib();
    let mut by_kind: Vec<Vec<Duration>> = vec![Vec::new(); KINDS.len()];
    let (mut all, mut hits, mut short) = (Vec::new(), 0, 0);
    for q in &queries {
        let (took, page) = search(&history, q).await?;
        all.push(took);
        by_kind[q.kind].push(took);
        hits += page.hits.len();
        short += usize::from(page.hits.len() < LIMIT as usize && page.next.is_some());
    }
    println!(
        "search (first page of {LIMIT}, snippets), warm: {hits} hits over {} queries; {short} pages stopped by the time budget with fewer than {LIMIT} (a cursor continues)",
        queries.len()
    );
    let pss_after = pss_mib();
    let v = report("search, all kinds, warm", all);
    put("search, all kinds, warm", v);
    println!(
        "this process's PSS: {pss_before:.1} MiB before the warm searches, {pss_after:.1} MiB after (the page caches)"
    );
    put(
        "process PSS before → after warm searches (MiB)",
        format!("{pss_before:.0} → {pss_after:.0}"),
    );
    for (kind, samples) in KINDS.iter().zip(by_kind) {
        let v = report(&format!("  {kind}, warm"), samples);
        put(&format!("  {kind}, warm"), v);
    }
    history.close().await;

    // From disk: before each query the file leaves the page cache and the database is opened afresh
    // (one connection, an empty SQLite cache); only the search is timed.
    let cold_queries = &queries[..queries.len().min(300)];
    let mut by_kind: Vec<Vec<Duration>> = vec![Vec::new(); KINDS.len()];
    let mut all = Vec::new();
    for q in cold_queries {
        let history = History::open(path, &options(key, Some(1))).await?.history;
        evict(path);
        let (took, _) = search(&history, q).await?;
        history.close().await;
        all.push(took);
        by_kind[q.kind].push(took);
    }
    let v = report("search, all kinds, from disk", all);
    put("search, all kinds, from disk", v);
    for (kind, samples) in KINDS.iter().zip(by_kind) {
        let v = report(&format!("  {kind}, from disk"), samples);
        put(&format!("  {kind}, from disk"), v);
    }

    if args.rebuild {
        // What migration 0006 does once to an existing history: index every message again.
        let mut conn = raw_connection(path, key).await?;
        let t = Instant::now();
        sqlx::query("INSERT INTO messages_fts (messages_fts) VALUES ('rebuild')")
            .execute(&mut conn)
            .await?;
        let took = t.elapsed().as_secs_f64();
        println!("full-text index rebuilt over {written} messages in {took:.1} s");
        put("index rebuild (migration 0006), s", format!("{took:.1}"));
    }
    Ok(summary)
}

/// A connection of its own to the database, outside the history's pool.
async fn raw_connection(
    path: &Path,
    key: Option<[u8; 32]>,
) -> Result<sqlx::SqliteConnection, sqlx::Error> {
    let mut connect = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .log_statements(log::LevelFilter::Off);
    if let Some(key) = key {
        connect = connect.pragma("key", format!("\"x'{}'\"", hex(&key)));
    }
    connect.connect().await
}
