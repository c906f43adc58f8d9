//! Full-text search over message bodies (FTS5, unicode61 with diacritics removed): turns what the user
//! typed into a safe prefix query, ranks by bm25 among the most recent matches, and returns a snippet
//! split into plain and highlighted parts so the UI never renders message text as HTML.

use serde::Serialize;
use sqlx::Row;

use super::{History, HistoryError};

/// Results returned when the UI does not ask for another count.
pub const SEARCH_LIMIT: u32 = 50;
/// Matches considered for ranking, newest first. Bounding it keeps a search for a very common word
/// fast on a large history, and favours recent conversations, which is what people look for.
const RANK_WINDOW: i64 = 2000;
/// At most this many words of the query are used.
const MAX_TERMS: usize = 16;
const HIT_START: char = '\u{1}';
const HIT_END: char = '\u{2}';

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
    /// bm25 score: lower is more relevant.
    pub rank: f64,
}

/// Builds an FTS5 query that finds messages containing every word typed, each as a prefix. Words are
/// runs of letters and digits; everything else (FTS5 operators, quotes) is dropped, so no input is a
/// syntax error. `None` when nothing searchable was typed.
pub fn fts_query(input: &str) -> Option<String> {
    let terms: Vec<String> = input
        .split(|c: char| !c.is_alphanumeric())
        .filter(|t| !t.is_empty())
        .take(MAX_TERMS)
        .map(|t| format!("\"{t}\"*"))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

/// Splits FTS5 `snippet()` output, marked with [`HIT_START`]/[`HIT_END`], into parts.
fn split_snippet(marked: &str) -> Vec<SnippetPart> {
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut hit = false;
    for c in marked.chars() {
        let toggle = (c == HIT_START && !hit) || (c == HIT_END && hit);
        if toggle {
            if !text.is_empty() {
                parts.push(SnippetPart {
                    text: std::mem::take(&mut text),
                    hit,
                });
            }
            hit = !hit;
        } else if c != HIT_START && c != HIT_END {
            text.push(c);
        }
    }
    if !text.is_empty() {
        parts.push(SnippetPart { text, hit });
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
        let Some(query) = fts_query(input) else {
            return Ok(Vec::new());
        };
        let limit = i64::from(limit.clamp(1, 500));
        let rows = sqlx::query(
            "WITH recent AS (
                  SELECT f.rowid AS seq, bm25(messages_fts) AS rank
                    FROM messages_fts f
                    JOIN messages m ON m.seq = f.rowid
                   WHERE messages_fts MATCH ?1 AND (?2 IS NULL OR m.room = ?2)
                   ORDER BY f.rowid DESC LIMIT ?3),
                  best AS (SELECT seq, rank FROM recent ORDER BY rank LIMIT ?4)
             SELECT m.id, m.room, m.sender_name, m.sent_at, best.rank,
                    snippet(messages_fts, 0, char(1), char(2), '…', 12) AS snippet
               FROM best
               JOIN messages_fts ON messages_fts.rowid = best.seq AND messages_fts MATCH ?1
               JOIN messages m ON m.seq = best.seq
              ORDER BY best.rank, m.sent_at DESC",
        )
        .bind(&query)
        .bind(room)
        .bind(RANK_WINDOW)
        .bind(limit)
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(SearchHit {
                    id: row.try_get("id")?,
                    room: row.try_get("room")?,
                    sender_name: row.try_get("sender_name")?,
                    sent_at: row.try_get("sent_at")?,
                    rank: row.try_get("rank")?,
                    snippet: split_snippet(&row.try_get::<String, _>("snippet")?),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod unit {
    use super::*;

    /// Typed punctuation and FTS5 operators never become query syntax errors.
    #[test]
    fn queries_are_sanitised_prefix_terms() {
        assert_eq!(fts_query("  "), None);
        assert_eq!(fts_query("\"*()"), None);
        assert_eq!(fts_query("hel wor"), Some("\"hel\"* \"wor\"*".into()));
        assert_eq!(
            fts_query("NEAR(a OR b)"),
            Some("\"NEAR\"* \"a\"* \"OR\"* \"b\"*".into())
        );
        assert_eq!(fts_query("café's"), Some("\"café\"* \"s\"*".into()));
    }

    #[test]
    fn snippets_split_into_plain_and_hit_parts() {
        let parts = split_snippet("say \u{1}hello\u{2} to \u{1}héllo\u{2}");
        let view: Vec<(&str, bool)> = parts.iter().map(|p| (p.text.as_str(), p.hit)).collect();
        assert_eq!(
            view,
            [
                ("say ", false),
                ("hello", true),
                (" to ", false),
                ("héllo", true)
            ]
        );
    }
}
