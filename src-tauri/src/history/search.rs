//! Full-text search over message bodies, newest first. FTS5 (unicode61, accents removed, prefix indexes
//! of 2 and 3 characters, rows only) finds the messages containing every typed word; ranking (BM25) and
//! snippets are computed here, over the rows found only, so the UI never renders message text as HTML.
//!
//! The index's row id is the message's `seq`, which grows as messages are stored, so FTS5 can walk
//! matches newest first and stop. A page of results walks back from its cursor in windows of row ids
//! (`rowid < ? AND rowid >= ?`, newest first, with a LIMIT), each larger than the last, until it has
//! the results asked for, reaches the first message, or has spent its time budget: then it returns what
//! it found with a cursor where the next page continues. Two words that rarely meet therefore cost the
//! budget, not a walk through both words' messages. A search in one room adds the room's token (each
//! message's index entry holds one, migration 0006) to the query, so FTS5 walks that room's matches only.
//!
//! Why not FTS5's `bm25()`: it counts every message containing each word to weigh the words, reading
//! the whole index of a common word (≈ 30 ms each over a million messages; ordering by it, p99 1.75 s);
//! every result here contains every word, so the weights would barely change the order. Why words
//! longer than 3 characters are looked up by their completions: those prefixes are not indexed, and
//! FTS5 then merges the index of every matching word in memory before returning a row (≈ 15 ms for a
//! common word, again for each window), while exact terms stream newest first. A word with many
//! completions goes by its first 3 characters instead and the whole word is checked here.

use std::cmp::Reverse;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use ts_rs::TS;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

use super::{History, HistoryError};

/// Results returned when the UI does not ask for another count.
pub const SEARCH_LIMIT: u32 = 50;
/// How long a page of results may walk the index before it returns what it found, with a cursor to
/// continue from. Two words that rarely meet would otherwise make FTS5 walk most of both words'
/// messages (tens of ms over a million messages).
pub const SEARCH_BUDGET: Duration = Duration::from_millis(5);
/// Row ids in the first window of the walk; each later window is up to 4 times larger, as far as the
/// time left allows at the speed the last window went.
const FIRST_WINDOW: i64 = 8192;
/// Rows read at a time when long words are checked here (looked up by their first 3 characters).
const CHECK_BATCH: i64 = 512;
/// A long word that begins fewer than this many longer words in the index is looked up by them.
const MAX_COMPLETIONS: usize = 32;
/// At most this many words of the query are used.
const MAX_TERMS: usize = 16;
/// Words shown in a snippet.
const SNIPPET_WORDS: usize = 12;
/// BM25 term-frequency saturation and length normalisation (the usual values, as in FTS5).
const K1: f64 = 1.2;
const B: f64 = 0.75;

/// A piece of a snippet; `hit` parts matched the query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct SnippetPart {
    pub text: String,
    pub hit: bool,
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct SearchHit {
    pub id: String,
    pub room: String,
    pub sender_name: String,
    pub sent_at: i64,
    pub snippet: Vec<SnippetPart>,
    /// Negated BM25 score: lower is more relevant (as FTS5's `bm25()`).
    pub rank: f64,
}

/// Where the next page of a search continues: with the messages stored before row `before` of the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct SearchCursor {
    pub before: i64,
}

/// A page of search results: the newest matches before the cursor, best first. `next` continues the
/// search with older messages; it is also set when the time budget ran out first, and then `hits` may
/// be fewer than asked for, even none. `None`: every older message was searched.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct SearchPage {
    pub hits: Vec<SearchHit>,
    pub next: Option<SearchCursor>,
}

/// A typed word: a prefix of a message word, accents and case ignored. A single character only
/// matches itself: as a prefix it would match nearly every message.
#[derive(Debug)]
struct Word {
    /// As typed, composed (NFC): a decomposed accent would split it into two index tokens, a phrase,
    /// which the index (rows only, no positions) cannot answer.
    typed: String,
    folded: String,
}

impl Word {
    fn whole(&self) -> bool {
        self.typed.chars().nth(1).is_none()
    }

    /// Longer than the longest prefix index: FTS5 is given its first 3 characters.
    fn long(&self) -> bool {
        self.typed.chars().nth(3).is_some()
    }

    fn matches(&self, folded_token: &str) -> bool {
        if self.whole() {
            folded_token == self.folded
        } else {
            folded_token.starts_with(&self.folded)
        }
    }
}

/// What counts as part of a word, for the query and for the bodies: the index's token characters
/// (unicode61 `categories 'L* N* Co M*'`, migration 0003), so a typed word is one index token.
fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric();
    }
    matches!(
        c.general_category_group(),
        GeneralCategoryGroup::Letter | GeneralCategoryGroup::Number | GeneralCategoryGroup::Mark
    ) || c.general_category() == GeneralCategory::PrivateUse
}

/// Lowercase without accents, like the index ("Crème" → "creme").
pub(super) fn fold(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_lowercase();
    }
    text.nfd()
        .filter(|c| !is_combining_mark(*c))
        .flat_map(char::to_lowercase)
        .collect()
}

/// Words of `text` as byte ranges.
fn word_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (is_word_char(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, text.len()));
    }
    spans
}

/// The words typed; everything else (FTS5 operators, quotes) is dropped, so no input is a syntax error.
fn words(input: &str) -> Vec<Word> {
    word_spans(input)
        .into_iter()
        .take(MAX_TERMS)
        .map(|(a, b)| Word {
            typed: input[a..b].nfc().collect(),
            folded: fold(&input[a..b]),
        })
        .collect()
}

/// How a typed word is asked of FTS5.
#[derive(Debug)]
enum Plan {
    /// As a prefix (a single character as a whole word). Up to 3 characters the prefix index answers
    /// newest first; a longer prefix makes FTS5 merge every completion in memory first (slow when
    /// common).
    Prefix,
    /// A long word and the longer words it begins in the index's vocabulary: exact terms, answered
    /// newest first.
    AnyOf(Vec<String>),
    /// A long word with many completions (or none found): its first 3 characters through the prefix
    /// index, newest first; the whole word is then checked here.
    Streamed,
}

fn quoted(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

/// The index token of `room` (migration 0006): U+F8FF, then the room name's bytes in hex.
fn room_token(room: &str) -> String {
    let mut token = String::from('\u{F8FF}');
    for byte in room.bytes() {
        let _ = write!(token, "{byte:02x}");
    }
    token
}

/// The FTS5 query: every word, as its plan says, and the room's token when searching one room.
fn query_of(words: &[Word], plans: &[Plan], room: Option<&str>) -> String {
    let mut terms: Vec<String> = words
        .iter()
        .zip(plans)
        .map(|(w, plan)| match plan {
            _ if w.whole() => quoted(&w.typed),
            Plan::AnyOf(terms) => format!(
                "({})",
                terms
                    .iter()
                    .map(|t| quoted(t))
                    .collect::<Vec<_>>()
                    .join(" OR ")
            ),
            Plan::Streamed if w.long() => {
                format!("{}*", quoted(&w.typed.chars().take(3).collect::<String>()))
            }
            _ => format!("{}*", quoted(&w.typed)),
        })
        .collect();
    if let Some(room) = room {
        terms.push(quoted(&room_token(room)));
    }
    // Explicit AND: FTS5 joins parenthesised groups only with an operator.
    terms.join(" AND ")
}

/// A typed word the index would split in two (a character newer than SQLite's Unicode tables) is a
/// phrase, which an index without positions cannot answer: a clear message, not a database error.
fn unsearchable(err: sqlx::Error) -> HistoryError {
    if err.to_string().contains("phrase queries are not supported") {
        HistoryError::Invalid(
            "the search contains a character the search index does not know; try without it".into(),
        )
    } else {
        err.into()
    }
}

/// A row FTS5 returned, as a JSON array `[seq, id, room, sender_name, sent_at, body]`.
#[derive(Deserialize)]
struct Candidate {
    seq: i64,
    id: String,
    room: String,
    sender_name: String,
    sent_at: i64,
    body: String,
}

/// A candidate containing every word, with what ranking needs.
struct Match {
    row: Candidate,
    /// Occurrences of each query word.
    counts: Vec<usize>,
    words_in_body: usize,
}

/// Counts each word's occurrences in `body`.
fn count_words(body: &str, words: &[Word]) -> (Vec<usize>, usize) {
    let spans = word_spans(body);
    let mut counts = vec![0; words.len()];
    for &(a, b) in &spans {
        let token = fold(&body[a..b]);
        for (count, word) in counts.iter_mut().zip(words) {
            if word.matches(&token) {
                *count += 1;
            }
        }
    }
    (counts, spans.len())
}

/// Splits `body` into a snippet of about [`SNIPPET_WORDS`] words around the most hits, hits marked.
fn snippet(body: &str, words: &[Word]) -> Vec<SnippetPart> {
    let spans = word_spans(body);
    let hits: Vec<bool> = spans
        .iter()
        .map(|&(a, b)| {
            let token = fold(&body[a..b]);
            words.iter().any(|w| w.matches(&token))
        })
        .collect();
    let width = SNIPPET_WORDS.min(spans.len());
    let start = (0..=spans.len() - width)
        .max_by_key(|&s| {
            (
                hits[s..s + width].iter().filter(|h| **h).count(),
                Reverse(s),
            )
        })
        .unwrap_or(0);
    let end = start + width;
    let mut parts: Vec<SnippetPart> = Vec::new();
    let mut push = |text: &str, hit: bool| match parts.last_mut() {
        _ if text.is_empty() => {}
        Some(last) if last.hit == hit => last.text.push_str(text),
        _ => parts.push(SnippetPart {
            text: text.to_owned(),
            hit,
        }),
    };
    let mut at = if start == 0 { 0 } else { spans[start].0 };
    if start > 0 {
        push("…", false);
    }
    for (&(a, b), &hit) in spans[start..end].iter().zip(&hits[start..end]) {
        push(&body[at..a], false);
        push(&body[a..b], hit);
        at = b;
    }
    if end == spans.len() {
        push(&body[at..], false);
    } else {
        push("…", false);
    }
    parts
}

impl History {
    /// The first page of messages matching `input` (every word, as prefixes, accents ignored), best
    /// first among the newest matches, optionally in one room.
    pub async fn search(
        &self,
        input: &str,
        room: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SearchHit>, HistoryError> {
        Ok(self.search_page(input, room, None, limit).await?.hits)
    }

    /// A page of messages matching `input`, older than `before` (the newest without one), within
    /// [`SEARCH_BUDGET`].
    pub async fn search_page(
        &self,
        input: &str,
        room: Option<&str>,
        before: Option<&SearchCursor>,
        limit: u32,
    ) -> Result<SearchPage, HistoryError> {
        let page = self
            .search_within(input, room, before, limit, SEARCH_BUDGET)
            .await;
        self.release_cache_later();
        page
    }

    /// [`Self::search_page`] with its time budget given.
    pub(crate) async fn search_within(
        &self,
        input: &str,
        room: Option<&str>,
        before: Option<&SearchCursor>,
        limit: u32,
        budget: Duration,
    ) -> Result<SearchPage, HistoryError> {
        let started = Instant::now();
        let words = words(input);
        if words.is_empty() {
            return Ok(SearchPage {
                hits: Vec::new(),
                next: None,
            });
        }
        let mut plans = Vec::with_capacity(words.len());
        for word in &words {
            plans.push(self.plan(word).await?);
        }
        let walk = Walk {
            query: query_of(&words, &plans, room),
            room,
            words: &words,
            check: words
                .iter()
                .zip(&plans)
                .any(|(w, p)| w.long() && matches!(p, Plan::Streamed)),
            limit: limit.clamp(1, 500) as usize,
            started,
            budget,
        };
        let (found, next) = self.walk(&walk, before).await?;
        let average =
            found.iter().map(|m| m.words_in_body).sum::<usize>() as f64 / found.len().max(1) as f64;
        let mut ranked: Vec<(f64, Candidate)> = found
            .into_iter()
            .map(|m| {
                let length = m.words_in_body as f64 / average.max(1.0);
                // FTS5 found the word even where this folding disagrees: count it at least once.
                let score: f64 = m
                    .counts
                    .iter()
                    .map(|&n| {
                        let tf = n.max(1) as f64;
                        tf * (K1 + 1.0) / (tf + K1 * (1.0 - B + B * length))
                    })
                    .sum();
                (-score, m.row)
            })
            .collect();
        ranked.sort_by(|(a, x), (b, y)| a.total_cmp(b).then(y.seq.cmp(&x.seq)));
        Ok(SearchPage {
            hits: ranked
                .into_iter()
                .map(|(rank, row)| SearchHit {
                    snippet: snippet(&row.body, &words),
                    id: row.id,
                    room: row.room,
                    sender_name: row.sender_name,
                    sent_at: row.sent_at,
                    rank,
                })
                .collect(),
            next,
        })
    }

    /// How to look `word` up. A long word: itself and the longer words it begins in the index's
    /// vocabulary, when there are few. The vocabulary (type 'instance') is read one term at a time,
    /// each step skipping to the next term, so a common completion costs one entry, not a count of its
    /// messages. The vocabulary holds terms folded by the index, which can differ from [`fold`] outside
    /// ASCII (marks of some scripts): such a word with no longer word found is streamed and checked.
    async fn plan(&self, word: &Word) -> Result<Plan, HistoryError> {
        if !word.long() {
            return Ok(Plan::Prefix);
        }
        // `>= term || char(1)`, not `> term`: the vocabulary table reads `>` as `>=` and would go
        // through every entry of the term itself.
        let longer: Vec<String> = sqlx::query_scalar(
            "WITH RECURSIVE longer (term, n) AS (
                 SELECT (SELECT term FROM messages_vocab
                          WHERE term >= ?1 || char(1) AND term < ?1 || char(1114111) LIMIT 1), 1
                 UNION ALL
                 SELECT (SELECT term FROM messages_vocab
                          WHERE term >= longer.term || char(1) AND term < ?1 || char(1114111) LIMIT 1),
                        n + 1
                   FROM longer WHERE term IS NOT NULL AND n < ?2)
             SELECT term FROM longer WHERE term IS NOT NULL",
        )
        .bind(&word.folded)
        .bind(MAX_COMPLETIONS as i64)
        .fetch_all(self.pool())
        .await?;
        Ok(
            if longer.len() >= MAX_COMPLETIONS || (longer.is_empty() && !word.typed.is_ascii()) {
                Plan::Streamed
            } else {
                let mut terms = vec![word.typed.clone()];
                terms.extend(longer);
                Plan::AnyOf(terms)
            },
        )
    }

    /// Walks the index back from `before`, newest first, in windows of row ids, until it has found
    /// `limit` matches, searched the oldest message, or spent the budget. Returns the matches, newest
    /// first, and where the next page continues.
    async fn walk(
        &self,
        walk: &Walk<'_>,
        before: Option<&SearchCursor>,
    ) -> Result<(Vec<Match>, Option<SearchCursor>), HistoryError> {
        let (first, last): (Option<i64>, Option<i64>) = sqlx::query_as(
            "SELECT (SELECT min(seq) FROM messages), (SELECT max(seq) FROM messages)",
        )
        .fetch_one(self.pool())
        .await?;
        let (Some(first), Some(last)) = (first, last) else {
            return Ok((Vec::new(), None));
        };
        // Row ids below `hi` are left to search.
        let mut hi = before.map_or(last + 1, |c| c.before.min(last + 1));
        let mut span = FIRST_WINDOW;
        let mut found: Vec<Match> = Vec::new();
        while hi > first {
            let lo = hi.saturating_sub(span).max(first);
            let window_started = Instant::now();
            // Without a check every row is a match: one more than needed tells whether more follow.
            let want = if walk.check {
                CHECK_BATCH
            } else {
                (walk.limit + 1 - found.len()) as i64
            };
            let rows = self.window(walk, hi, lo, want).await?;
            let full = rows.len() as i64 == want;
            let (read, oldest) = (rows.len(), rows.last().map(|r| r.seq));
            for (i, row) in rows.into_iter().enumerate() {
                let (counts, words_in_body) = count_words(&row.body, walk.words);
                if walk.check && counts.contains(&0) {
                    continue;
                }
                let seq = row.seq;
                found.push(Match {
                    row,
                    counts,
                    words_in_body,
                });
                if found.len() == walk.limit {
                    let more = i + 1 < read || full || lo > first;
                    return Ok((found, more.then_some(SearchCursor { before: seq })));
                }
            }
            match oldest {
                // A full batch of rows to check: the rest of the window next.
                Some(seq) if full => hi = seq,
                _ => {
                    hi = lo;
                    let took = window_started.elapsed().as_secs_f64().max(1e-6);
                    let left = walk
                        .budget
                        .saturating_sub(walk.started.elapsed())
                        .as_secs_f64();
                    let fits = (span as f64 * left / took) as i64;
                    span = span.saturating_mul(4).min(fits).max(FIRST_WINDOW);
                }
            }
            if hi > first && walk.started.elapsed() >= walk.budget {
                return Ok((found, Some(SearchCursor { before: hi })));
            }
        }
        Ok((found, None))
    }

    /// Up to `want` rows matching the walk's query with row ids in `lo..hi`, newest first.
    async fn window(
        &self,
        walk: &Walk<'_>,
        hi: i64,
        lo: i64,
        want: i64,
    ) -> Result<Vec<Candidate>, HistoryError> {
        // CROSS JOIN keeps FTS5 the outer loop, walking its index newest first and stopping early.
        // One JSON row instead of hundreds: sqlx hands every row from the connection's thread to this
        // task, a thread wake-up each, which cost more than the query.
        let rows: String = sqlx::query_scalar(
            "SELECT json_group_array(json_array(seq, id, room, sender_name, sent_at, body) ORDER BY seq DESC)
               FROM (SELECT m.seq, m.id, m.room, m.sender_name, m.sent_at, m.body
                       FROM messages_fts f CROSS JOIN messages m ON m.seq = f.rowid
                      WHERE messages_fts MATCH ?1 AND f.rowid < ?2 AND f.rowid >= ?3
                        AND (?4 IS NULL OR m.room = ?4)
                      ORDER BY f.rowid DESC LIMIT ?5)",
        )
        .bind(&walk.query)
        .bind(hi)
        .bind(lo)
        .bind(walk.room)
        .bind(want)
        .fetch_one(self.pool())
        .await
        .map_err(unsearchable)?;
        serde_json::from_str(&rows).map_err(|e| HistoryError::Database(format!("search rows: {e}")))
    }
}

/// One page's walk through the index.
struct Walk<'a> {
    query: String,
    room: Option<&'a str>,
    words: &'a [Word],
    /// Long words were looked up by their first 3 characters: check every row for the whole words.
    check: bool,
    limit: usize,
    started: Instant,
    budget: Duration,
}

#[cfg(test)]
mod unit {
    use super::*;

    fn fts_query(input: &str, streamed: bool) -> Option<String> {
        let words = words(input);
        let plans: Vec<Plan> = words
            .iter()
            .map(|_| {
                if streamed {
                    Plan::Streamed
                } else {
                    Plan::Prefix
                }
            })
            .collect();
        (!words.is_empty()).then(|| query_of(&words, &plans, None))
    }

    /// Typed punctuation and FTS5 operators never become query syntax errors; long words are streamed
    /// by their first 3 characters; a single character is a whole word.
    #[test]
    fn queries_are_sanitised_prefix_terms() {
        assert_eq!(fts_query("  ", true), None);
        assert_eq!(fts_query("\"*()", true), None);
        assert_eq!(
            fts_query("hel wor", true),
            Some("\"hel\"* AND \"wor\"*".into())
        );
        assert_eq!(
            fts_query("NEAR(a OR b)", false),
            Some("\"NEAR\"* AND \"a\" AND \"OR\"* AND \"b\"".into())
        );
        assert_eq!(
            fts_query("café's", false),
            Some("\"café\"* AND \"s\"".into())
        );
        assert_eq!(fts_query("Crème", true), Some("\"Crè\"*".into()));
        // Decomposed accents are composed; combining vowel signs stay inside their word.
        assert_eq!(fts_query("cafe\u{301}", false), Some("\"café\"*".into()));
        assert_eq!(
            fts_query("नमस्ते दुनिया", false),
            Some("\"नमस्ते\"* AND \"दुनिया\"*".into())
        );
        assert_eq!(
            fts_query("foo_bar", false),
            Some("\"foo\"* AND \"bar\"*".into())
        );
        let words = words("kubern ok");
        let plans = [
            Plan::AnyOf(vec!["kubernetes".into(), "kubernetess".into()]),
            Plan::Prefix,
        ];
        assert_eq!(
            query_of(&words, &plans, None),
            "(\"kubernetes\" OR \"kubernetess\") AND \"ok\"*"
        );
        // One room: its token (U+F8FF and the name in hex, as migration 0006 indexes it) is ANDed.
        assert_eq!(
            query_of(&words, &[Plan::Prefix, Plan::Prefix], Some("Team-1")),
            "\"kubern\"* AND \"ok\"* AND \"\u{F8FF}5465616d2d31\""
        );
    }

    #[test]
    fn words_fold_case_and_accents() {
        let w = words("CRÈME Brûlée");
        assert_eq!(w[0].folded, "creme");
        assert_eq!(w[1].folded, "brulee");
        assert!(w[0].matches("cremes") && !w[0].matches("crem"));
    }

    #[test]
    fn snippets_mark_hits_and_trim_long_bodies() {
        let view = |parts: Vec<SnippetPart>| {
            parts
                .into_iter()
                .map(|p| (p.text, p.hit))
                .collect::<Vec<_>>()
        };
        let w = words("hello");
        assert_eq!(
            view(snippet("say Hello to héllo!", &w)),
            [
                ("say ".into(), false),
                ("Hello".into(), true),
                (" to ".into(), false),
                ("héllo".into(), true),
                ("!".into(), false)
            ]
        );
        let long = format!("{} hello {}", "a ".repeat(20), "b ".repeat(20));
        let parts = view(snippet(&long, &w));
        assert!(parts[0].0.starts_with('…') && parts.last().unwrap().0.ends_with('…'));
        assert_eq!(parts.iter().filter(|p| p.1).count(), 1);
    }
}

/// Paging, rooms and the time budget, on a real database file.
#[cfg(test)]
mod pages {
    use tempfile::TempDir;

    use super::*;
    use crate::history::{DB_FILE, NewMessage, OpenOptions};

    async fn open(dir: &TempDir) -> History {
        History::open(&dir.path().join(DB_FILE), &OpenOptions::default())
            .await
            .expect("history opens")
            .history
    }

    fn msg(i: usize, room: &str, body: &str) -> NewMessage {
        NewMessage {
            id: format!("m{i:06}"),
            room: room.into(),
            sender: "peer-b".into(),
            sender_name: "Bob".into(),
            outgoing: false,
            body: body.into(),
            sent_at: 1_000 + i as i64,
        }
    }

    fn ids(hits: &[SearchHit]) -> Vec<String> {
        let mut ids: Vec<String> = hits.iter().map(|h| h.id.clone()).collect();
        ids.sort();
        ids
    }

    /// Every page until the end: (hits of each page, whether each page had a cursor).
    async fn all_pages(
        history: &History,
        input: &str,
        room: Option<&str>,
        limit: u32,
        budget: Duration,
    ) -> Vec<SearchPage> {
        let mut pages = Vec::new();
        let mut before = None;
        loop {
            let page = history
                .search_within(input, room, before.as_ref(), limit, budget)
                .await
                .unwrap();
            before = page.next;
            pages.push(page);
            if before.is_none() {
                return pages;
            }
            assert!(pages.len() < 1000, "the walk ends");
        }
    }

    /// A page holds the newest matches; the next page continues with older ones, none twice, none
    /// skipped, and the last page says there is no more.
    #[tokio::test]
    async fn pages_go_newest_first_and_continue_where_they_left_off() {
        let dir = TempDir::new().unwrap();
        let history = open(&dir).await;
        let batch: Vec<NewMessage> = (0..25)
            .map(|i| msg(i, "team", &format!("apple pie number {i}")))
            .collect();
        history.insert_messages(&batch).await.unwrap();

        let pages = all_pages(&history, "apple", None, 10, SEARCH_BUDGET).await;
        let got: Vec<Vec<String>> = pages.iter().map(|p| ids(&p.hits)).collect();
        let want = |range: std::ops::Range<usize>| -> Vec<String> {
            range.map(|i| format!("m{i:06}")).collect()
        };
        assert_eq!(got, [want(15..25), want(5..15), want(0..5)]);
        assert!(pages[0].next.is_some() && pages[2].next.is_none());
        // The convenience form is the first page.
        assert_eq!(
            ids(&history.search("apple", None, 10).await.unwrap()),
            want(15..25)
        );
    }

    /// A search in one room finds that room's messages only, however many match elsewhere, and tells
    /// rooms apart whose names differ only by case or punctuation.
    #[tokio::test]
    async fn one_room_is_searched_by_its_token() {
        let dir = TempDir::new().unwrap();
        let history = open(&dir).await;
        let mut batch = Vec::new();
        for i in 0..300 {
            batch.push(msg(i, "busy", "deploy the server"));
        }
        batch.push(msg(300, "team-a", "deploy on friday"));
        batch.push(msg(301, "Team-A", "deploy tomorrow"));
        batch.push(msg(302, "team.a", "no deploy here? deploy"));
        batch.push(msg(303, "team-a", "unrelated"));
        history.insert_messages(&batch).await.unwrap();

        for (room, want) in [
            ("team-a", "m000300"),
            ("Team-A", "m000301"),
            ("team.a", "m000302"),
        ] {
            let page = history
                .search_page("depl", Some(room), None, 50)
                .await
                .unwrap();
            assert_eq!(ids(&page.hits), [want], "room {room}");
            assert!(page.hits.iter().all(|h| h.room == room));
            assert_eq!(page.next, None);
        }
        assert!(
            history
                .search("server", Some("team-a"), 50)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(history.search("depl", None, 500).await.unwrap().len(), 303);
    }

    /// When the time budget runs out first, a page returns what it found (maybe nothing) with a cursor;
    /// following the cursors finds every match exactly once, newest first.
    #[tokio::test]
    async fn a_spent_budget_returns_partial_results_and_a_cursor() {
        let dir = TempDir::new().unwrap();
        let history = open(&dir).await;
        let total = 3 * FIRST_WINDOW as usize;
        let batch: Vec<NewMessage> = (0..total)
            .map(|i| {
                let body = if i == 3 || i == total - 10 {
                    "the needle is here"
                } else {
                    "just hay"
                };
                msg(i, "team", body)
            })
            .collect();
        history.insert_messages(&batch).await.unwrap();

        // No time at all: one window per page.
        let pages = all_pages(&history, "needle", None, 50, Duration::ZERO).await;
        assert!(pages.len() > 1, "the walk was cut into pages");
        assert_eq!(ids(&pages[0].hits), [format!("m{:06}", total - 10)]);
        assert!(
            pages[0].next.is_some(),
            "a short first page says there is more"
        );
        let found: Vec<String> = pages.iter().flat_map(|p| ids(&p.hits)).collect();
        assert_eq!(found, [format!("m{:06}", total - 10), "m000003".to_owned()]);
        assert!(
            pages.iter().any(|p| p.hits.is_empty() && p.next.is_some()),
            "a page with nothing found yet still continues"
        );
        // With time enough, one page searches the whole history.
        let page = history
            .search_within("needle", None, None, 50, Duration::from_secs(30))
            .await
            .unwrap();
        assert_eq!(page.hits.len(), 2);
        assert_eq!(page.next, None);
    }

    /// Long words with many completions are read by their first 3 characters and checked here; paging
    /// still finds every match once.
    #[tokio::test]
    async fn long_words_checked_here_page_too() {
        let dir = TempDir::new().unwrap();
        let history = open(&dir).await;
        let batch: Vec<NewMessage> = (0..(2 * MAX_COMPLETIONS + 40))
            .map(|i| msg(i, "team", &format!("tok{i} tok1x{i}")))
            .collect();
        history.insert_messages(&batch).await.unwrap();
        let word = &words("tok1x")[0];
        assert!(matches!(history.plan(word).await.unwrap(), Plan::Streamed));
        let pages = all_pages(&history, "tok1x", None, 7, Duration::ZERO).await;
        let mut found: Vec<String> = pages.iter().flat_map(|p| ids(&p.hits)).collect();
        found.sort();
        let want: Vec<String> = (0..batch.len()).map(|i| format!("m{i:06}")).collect();
        assert_eq!(found, want);
    }
}
