//! Full-text search over message bodies. FTS5 (unicode61, accents removed, prefix indexes of 2 and 3
//! characters, rows only) finds the newest messages containing every typed word; ranking (BM25) and
//! snippets are computed here, over those rows only, so the UI never renders message text as HTML.
//!
//! Why not FTS5's `bm25()`: it counts every message containing each word to weigh the words, reading
//! the whole index of a common word (≈ 30 ms each over a million messages); every result here contains
//! every word, so the weights would barely change the order. Why words longer than 3 characters are
//! looked up by their completions: those prefixes are not indexed, and FTS5 then merges the index of
//! every matching word in memory before returning a row (≈ 15 ms for a common word), while exact terms
//! stream newest first. A word with many completions goes by its first 3 characters instead and the
//! whole word is checked here.

use std::cmp::Reverse;
use ts_rs::TS;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

use super::{History, HistoryError};

/// Results returned when the UI does not ask for another count.
pub const SEARCH_LIMIT: u32 = 50;
/// Matches ranked: the newest, twice as many as the results asked for and at least this many. Favours
/// recent conversations, which is what people look for in a chat, and bounds the work for common
/// words (two words that rarely meet make FTS5 walk both words' messages until it has found them all).
const MIN_RANK_WINDOW: usize = 100;
/// Rows read through 3-character prefixes before a rare long word is looked up in full instead.
const SCAN_BUDGET: usize = 4000;
/// A long word that begins fewer than this many longer words in the index is looked up by them.
const MAX_COMPLETIONS: usize = 128;
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

/// The FTS5 query: every word, as its plan says.
fn query_of(words: &[Word], plans: &[Plan]) -> String {
    let terms: Vec<String> = words
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

/// A row FTS5 returned, as a JSON array `[id, room, sender_name, sent_at, body]`.
#[derive(Deserialize)]
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
        let mut plans = Vec::with_capacity(words.len());
        for word in &words {
            plans.push(self.plan(word).await?);
        }
        let check = words
            .iter()
            .zip(&plans)
            .any(|(w, p)| w.long() && matches!(p, Plan::Streamed));
        let limit = limit.clamp(1, 500) as usize;
        let window = (2 * limit).max(MIN_RANK_WINDOW);
        let (mut found, scanned) = self
            .matches(&query_of(&words, &plans), room, &words, check, window)
            .await?;
        if check && found.len() < window && scanned == SCAN_BUDGET {
            // Few matches behind a common start ("tok12345" with no completion found, among "tok…"):
            // let FTS5 merge the long prefixes.
            for plan in &mut plans {
                if matches!(plan, Plan::Streamed) {
                    *plan = Plan::Prefix;
                }
            }
            found = self
                .matches(&query_of(&words, &plans), room, &words, false, window)
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
        ranked.truncate(limit);
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

    /// How to look `word` up. A long word: itself and the longer words it begins in the index's
    /// vocabulary, when there are few. The word itself needs no lookup (the vocabulary counts every
    /// message of a term it lists, ≈ 5 ms for a word in a fifth of all messages). The vocabulary holds
    /// terms folded by the index, which can differ from [`fold`] outside ASCII (marks of some
    /// scripts): such a word with no longer word found is streamed and checked instead.
    async fn plan(&self, word: &Word) -> Result<Plan, HistoryError> {
        if !word.long() {
            return Ok(Plan::Prefix);
        }
        // `>= word || char(1)`, not `> word`: the vocabulary table reads `>` as `>=` and would count
        // the word's own messages.
        let longer: Vec<String> = sqlx::query_scalar(
            "SELECT term FROM messages_vocab
              WHERE term >= ?1 || char(1) AND term < ?1 || char(1114111) LIMIT ?2",
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

    /// Up to `window` newest messages matching the FTS5 `query` (and containing every word in full,
    /// when `check`), and how many rows FTS5 returned.
    async fn matches(
        &self,
        query: &str,
        room: Option<&str>,
        words: &[Word],
        check: bool,
        window: usize,
    ) -> Result<(Vec<Match>, usize), HistoryError> {
        let limit = if check {
            SCAN_BUDGET.max(window)
        } else {
            window
        };
        // CROSS JOIN keeps FTS5 the outer loop, walking its index newest first and stopping early.
        // One JSON row instead of hundreds: sqlx hands every row from the connection's thread to this
        // task, a thread wake-up each, which cost more than the query.
        let rows: String = sqlx::query_scalar(
            "SELECT json_group_array(json_array(id, room, sender_name, sent_at, body) ORDER BY seq DESC)
               FROM (SELECT m.seq, m.id, m.room, m.sender_name, m.sent_at, m.body
                       FROM messages_fts f CROSS JOIN messages m ON m.seq = f.rowid
                      WHERE messages_fts MATCH ?1 AND (?2 IS NULL OR m.room = ?2)
                      ORDER BY f.rowid DESC LIMIT ?3)",
        )
        .bind(query)
        .bind(room)
        .bind(limit as i64)
        .fetch_one(self.pool())
        .await
        .map_err(unsearchable)?;
        let rows: Vec<Candidate> = serde_json::from_str(&rows)
            .map_err(|e| HistoryError::Database(format!("search rows: {e}")))?;
        let scanned = rows.len();
        let mut found = Vec::new();
        for row in rows {
            let (counts, words_in_body) = count_words(&row.body, words);
            if check && counts.contains(&0) {
                continue;
            }
            found.push(Match {
                row,
                counts,
                words_in_body,
            });
            if found.len() == window {
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
        (!words.is_empty()).then(|| query_of(&words, &plans))
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
            query_of(&words, &plans),
            "(\"kubernetes\" OR \"kubernetess\") AND \"ok\"*"
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
