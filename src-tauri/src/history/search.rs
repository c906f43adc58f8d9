//! Full-text search over message bodies. FTS5 (unicode61, accents removed, prefix indexes of 2 and 3
//! characters) finds the newest messages containing every typed word; ranking (BM25) and snippets are
//! computed here, over those rows only, so the UI never renders message text as HTML.
//!
//! Why not FTS5's `bm25()`: it counts every message containing each word to weigh the words, reading
//! the whole index of a common word (≈ 30 ms each over a million messages); every result here contains
//! every word, so the weights would barely change the order. Why at most 3 characters of a word go to
//! FTS5 first: longer prefixes are not indexed, and FTS5 then merges the index of every matching word
//! in memory before returning a row (≈ 20 ms for a common word); the 3-character prefix index streams
//! newest first and the full word is checked here.

use std::cmp::Reverse;

use futures_util::TryStreamExt;
use serde::Serialize;
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

use super::{History, HistoryError};

/// Results returned when the UI does not ask for another count.
pub const SEARCH_LIMIT: u32 = 50;
/// Matches ranked, newest first: favours recent conversations, which is what people look for, and
/// bounds the work for a very common word.
const RANK_WINDOW: usize = 1000;
/// Rows read through 3-character prefixes before a rare long word is looked up in full instead.
const SCAN_BUDGET: usize = 4000;
/// At most this many words of the query are used.
const MAX_TERMS: usize = 16;
/// Words shown in a snippet.
const SNIPPET_WORDS: usize = 12;
/// BM25 term-frequency saturation and length normalisation (the usual values, as in FTS5).
const K1: f64 = 1.2;
const B: f64 = 0.75;

/// A piece of a snippet; `hit` parts matched the query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SnippetPart {
    pub text: String,
    pub hit: bool,
}

/// One search result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    pub id: String,
    pub room: String,
    pub sender_name: String,
    pub sent_at: i64,
    pub snippet: Vec<SnippetPart>,
    /// Negated BM25 score: lower is more relevant (as FTS5's `bm25()`).
    pub rank: f64,
}

/// A typed word: a prefix of a message word, accents and case ignored. A single character only
/// matches itself: as a prefix it would match nearly every message.
#[derive(Debug)]
struct Word<'a> {
    typed: &'a str,
    folded: String,
}

impl Word<'_> {
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

/// What counts as part of a word, for the query and for the bodies (FTS5's unicode61 keeps letters and
/// digits; combining accents belong to their letter).
fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || is_combining_mark(c)
}

/// Lowercase without accents, like the index ("Crème" → "creme").
fn fold(text: &str) -> String {
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
fn words(input: &str) -> Vec<Word<'_>> {
    word_spans(input)
        .into_iter()
        .take(MAX_TERMS)
        .map(|(a, b)| Word {
            typed: &input[a..b],
            folded: fold(&input[a..b]),
        })
        .collect()
}

/// The FTS5 query: every word, as a prefix except single characters. `streamed` gives long words as
/// their first 3 characters, which the prefix index answers newest first; the caller then checks the
/// whole word.
fn query_of(words: &[Word], streamed: bool) -> String {
    let terms: Vec<String> = words
        .iter()
        .map(|w| {
            if w.whole() {
                format!("\"{}\"", w.typed)
            } else if streamed && w.long() {
                format!("\"{}\"*", w.typed.chars().take(3).collect::<String>())
            } else {
                format!("\"{}\"*", w.typed)
            }
        })
        .collect();
    terms.join(" ")
}

/// A row FTS5 returned.
#[derive(sqlx::FromRow)]
struct Candidate {
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
    /// Messages matching `input` (every word, as prefixes, accents ignored), best first, optionally in
    /// one room.
    pub async fn search(
        &self,
        input: &str,
        room: Option<&str>,
        limit: u32,
    ) -> Result<Vec<SearchHit>, HistoryError> {
        let words = words(input);
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let check = words.iter().any(Word::long);
        let (mut found, scanned) = self
            .matches(&query_of(&words, true), room, &words, check)
            .await?;
        if check && found.len() < RANK_WINDOW && scanned == SCAN_BUDGET {
            // A rare long word behind a common start ("tok12345" among "tok…"): FTS5 merges its few
            // index entries quickly.
            found = self
                .matches(&query_of(&words, false), room, &words, false)
                .await?
                .0;
        }
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
        ranked.sort_by(|(a, x), (b, y)| a.total_cmp(b).then(y.sent_at.cmp(&x.sent_at)));
        ranked.truncate(limit.clamp(1, 500) as usize);
        // Snippets only for the rows returned.
        Ok(ranked
            .into_iter()
            .map(|(rank, row)| SearchHit {
                snippet: snippet(&row.body, &words),
                id: row.id,
                room: row.room,
                sender_name: row.sender_name,
                sent_at: row.sent_at,
                rank,
            })
            .collect())
    }

    /// Up to [`RANK_WINDOW`] newest messages matching the FTS5 `query` (and containing every word in
    /// full, when `check`), and how many rows FTS5 returned.
    async fn matches(
        &self,
        query: &str,
        room: Option<&str>,
        words: &[Word<'_>],
        check: bool,
    ) -> Result<(Vec<Match>, usize), HistoryError> {
        let limit = if check { SCAN_BUDGET } else { RANK_WINDOW };
        // CROSS JOIN keeps FTS5 the outer loop, walking its index newest first and stopping early.
        let mut rows = sqlx::query_as::<_, Candidate>(
            "SELECT m.id, m.room, m.sender_name, m.sent_at, m.body
               FROM messages_fts f CROSS JOIN messages m ON m.seq = f.rowid
              WHERE messages_fts MATCH ?1 AND (?2 IS NULL OR m.room = ?2)
              ORDER BY f.rowid DESC LIMIT ?3",
        )
        .bind(query)
        .bind(room)
        .bind(limit as i64)
        .fetch(self.pool());
        let mut found = Vec::new();
        let mut scanned = 0;
        while let Some(row) = rows.try_next().await? {
            scanned += 1;
            let (counts, words_in_body) = count_words(&row.body, words);
            if check && counts.contains(&0) {
                continue;
            }
            found.push(Match {
                row,
                counts,
                words_in_body,
            });
            if found.len() == RANK_WINDOW {
                break;
            }
        }
        Ok((found, scanned))
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    fn fts_query(input: &str, streamed: bool) -> Option<String> {
        let words = words(input);
        (!words.is_empty()).then(|| query_of(&words, streamed))
    }

    /// Typed punctuation and FTS5 operators never become query syntax errors; long words are streamed
    /// by their first 3 characters; a single character is a whole word.
    #[test]
    fn queries_are_sanitised_prefix_terms() {
        assert_eq!(fts_query("  ", true), None);
        assert_eq!(fts_query("\"*()", true), None);
        assert_eq!(fts_query("hel wor", true), Some("\"hel\"* \"wor\"*".into()));
        assert_eq!(
            fts_query("NEAR(a OR b)", false),
            Some("\"NEAR\"* \"a\" \"OR\"* \"b\"".into())
        );
        assert_eq!(fts_query("café's", false), Some("\"café\"* \"s\"".into()));
        assert_eq!(fts_query("Crème", true), Some("\"Crè\"*".into()));
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
