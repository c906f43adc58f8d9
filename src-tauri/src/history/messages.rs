//! Chat messages: idempotent insert (a received message is keyed by room, sender and the sender's id; our
//! own by id), keyset pages of a conversation, status
//! changes as a message is sent and acknowledged, and the outbox of messages still waiting to go out.

use std::collections::BTreeSet;
use ts_rs::TS;

use serde::{Deserialize, Serialize};

use super::{History, HistoryError, now_ms};

/// Messages per page when the UI does not ask for another size (the same in the browser's history).
pub use p2pchat_core::constants::HISTORY_PAGE_SIZE as PAGE_SIZE;
/// Upper bound on a page, so one request cannot load a whole history into memory.
const MAX_PAGE: u32 = 500;
/// Longest body kept, in bytes (the data channel's own messages are smaller).
const MAX_BODY: usize = 64 * 1024;

/// Where a message is in its life. Outgoing: pending → sent → delivered, or failed. Incoming: received.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum MessageStatus {
    Pending,
    Sent,
    Delivered,
    Failed,
    Received,
}

impl MessageStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MessageStatus::Pending => "pending",
            MessageStatus::Sent => "sent",
            MessageStatus::Delivered => "delivered",
            MessageStatus::Failed => "failed",
            MessageStatus::Received => "received",
        }
    }
}

impl TryFrom<String> for MessageStatus {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Ok(match value.as_str() {
            "pending" => MessageStatus::Pending,
            "sent" => MessageStatus::Sent,
            "delivered" => MessageStatus::Delivered,
            "failed" => MessageStatus::Failed,
            "received" => MessageStatus::Received,
            other => return Err(format!("unknown message status {other:?}")),
        })
    }
}

/// A message to store: outgoing before it is sent (status pending), incoming when it arrives (received).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct NewMessage {
    /// Client-made unique id (UUIDv7 by convention).
    pub id: String,
    pub room: String,
    /// Sender's peer id (for outgoing messages, this device's current peer id or "me").
    pub sender: String,
    pub sender_name: String,
    pub outgoing: bool,
    pub body: String,
    /// Milliseconds since the Unix epoch, by the sender's clock.
    pub sent_at: i64,
}

impl NewMessage {
    /// Checks what the database cannot: sizes, names, and that times are sane.
    pub fn validate(&self) -> Result<(), HistoryError> {
        if self.id.is_empty() || self.id.len() > 64 {
            return Err(HistoryError::Invalid(
                "message id must be 1–64 characters".into(),
            ));
        }
        if !chat_protocol::is_valid_room_name(&self.room) {
            return Err(HistoryError::Invalid(format!(
                "invalid room name {:?}",
                self.room
            )));
        }
        if self.body.len() > MAX_BODY {
            return Err(HistoryError::Invalid(format!(
                "message body is {} bytes, the limit is {MAX_BODY}",
                self.body.len()
            )));
        }
        if self.sent_at < 0 {
            return Err(HistoryError::Invalid("sent_at must not be negative".into()));
        }
        Ok(())
    }

    fn initial_status(&self) -> MessageStatus {
        if self.outgoing {
            MessageStatus::Pending
        } else {
            MessageStatus::Received
        }
    }
}

/// A stored message as the UI shows it.
#[derive(Debug, Clone, PartialEq, Serialize, sqlx::FromRow, TS)]
pub struct Message {
    pub id: String,
    pub room: String,
    pub sender: String,
    pub sender_name: String,
    pub outgoing: bool,
    pub body: String,
    pub sent_at: i64,
    #[sqlx(try_from = "String")]
    pub status: MessageStatus,
    /// Why the last send failed, for failed (or retried pending) messages.
    pub error: Option<String>,
}

/// Position in a conversation: pages go to messages strictly older than this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Cursor {
    pub sent_at: i64,
    pub id: String,
}

/// One page of a conversation, newest first; `next` fetches the older page, `None` at the beginning.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct Page {
    pub messages: Vec<Message>,
    pub next: Option<Cursor>,
}

/// Rows per INSERT statement (8 parameters each, far below SQLite's 32 766 limit).
const ROWS_PER_INSERT: usize = 100;

/// `(?, ?), (?, ?)` for `rows` rows of `columns` parameters.
fn placeholders(rows: usize, columns: usize) -> String {
    let row = format!("({})", vec!["?"; columns].join(", "));
    vec![row; rows].join(", ")
}

const MESSAGE_COLUMNS: &str =
    "id, room, sender, sender_name, outgoing, body, sent_at, status, error";

/// [`History::message`]'s query. Ids are unique among our own messages and among each sender's, in two
/// partial indexes (`messages_own_key` where outgoing = 1, `messages_received_key` where outgoing = 0:
/// migrations 0004 and 0007); a plain `WHERE id = ?` matches neither and read every message. One
/// lookup per index, ours first.
pub(super) fn message_by_id_sql() -> String {
    format!(
        "SELECT {MESSAGE_COLUMNS} FROM (
             SELECT seq, {MESSAGE_COLUMNS} FROM messages WHERE id = ?1 AND outgoing = 1
             UNION ALL
             SELECT seq, {MESSAGE_COLUMNS} FROM messages WHERE id = ?1 AND outgoing = 0
         ) ORDER BY outgoing DESC, seq LIMIT 1"
    )
}

impl History {
    /// Stores messages in one transaction; a message already stored is skipped (a retry or a duplicate
    /// delivery): a received one with the same id from the same sender in the same room, or one of ours
    /// with the same id. Another sender's message with that id is stored: ids are only the sender's own.
    /// Creates conversations as needed. Returns how many were new.
    pub async fn insert_messages(&self, batch: &[NewMessage]) -> Result<u64, HistoryError> {
        for message in batch {
            message.validate()?;
        }
        let now = now_ms();
        let rooms: Vec<&str> = batch
            .iter()
            .map(|m| m.room.as_str())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut tx = self.pool().begin().await?;
        // Multi-row statements: per-statement overhead, not SQLite, dominated large imports. Full chunks
        // reuse one cached prepared statement.
        for chunk in rooms.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO conversations (room, created_at) VALUES {} ON CONFLICT (room) DO NOTHING",
                placeholders(chunk.len(), 2)
            );
            let mut query = sqlx::query(&sql);
            for room in chunk {
                query = query.bind(*room).bind(now);
            }
            query.execute(&mut *tx).await?;
        }
        let mut inserted = 0;
        for chunk in batch.chunks(ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT INTO messages (id, room, sender, sender_name, outgoing, body, sent_at, status)
                 VALUES {} ON CONFLICT DO NOTHING",
                placeholders(chunk.len(), 8)
            );
            let mut query = sqlx::query(&sql);
            for message in chunk {
                query = query
                    .bind(&message.id)
                    .bind(&message.room)
                    .bind(&message.sender)
                    .bind(&message.sender_name)
                    .bind(message.outgoing)
                    .bind(&message.body)
                    .bind(message.sent_at)
                    .bind(message.initial_status().as_str());
            }
            inserted += query.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        Ok(inserted)
    }

    /// A message by id: ours if we sent one with it, else the first received with it.
    pub async fn message(&self, id: &str) -> Result<Option<Message>, HistoryError> {
        Ok(sqlx::query_as(&message_by_id_sql())
            .bind(id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// The newest `limit` messages of `room` older than `before` (or the newest overall), newest first.
    pub async fn messages_page(
        &self,
        room: &str,
        before: Option<&Cursor>,
        limit: u32,
    ) -> Result<Page, HistoryError> {
        let limit = limit.clamp(1, MAX_PAGE);
        // One extra row tells whether an older page exists, so the last page never needs an empty fetch.
        let fetch = i64::from(limit) + 1;
        let mut messages: Vec<Message> = match before {
            None => {
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages WHERE room = ?1
                     ORDER BY sent_at DESC, id DESC LIMIT ?2"
                );
                sqlx::query_as(&sql)
                    .bind(room)
                    .bind(fetch)
                    .fetch_all(self.pool())
                    .await?
            }
            Some(cursor) => {
                let sql = format!(
                    "SELECT {MESSAGE_COLUMNS} FROM messages
                     WHERE room = ?1 AND (sent_at, id) < (?2, ?3)
                     ORDER BY sent_at DESC, id DESC LIMIT ?4"
                );
                sqlx::query_as(&sql)
                    .bind(room)
                    .bind(cursor.sent_at)
                    .bind(&cursor.id)
                    .bind(fetch)
                    .fetch_all(self.pool())
                    .await?
            }
        };
        self.release_cache_later();
        let next = if messages.len() > limit as usize {
            messages.truncate(limit as usize);
            messages.last().map(|m| Cursor {
                sent_at: m.sent_at,
                id: m.id.clone(),
            })
        } else {
            None
        };
        Ok(Page { messages, next })
    }

    /// Records a send attempt's result or the peer's acknowledgement of our message `id`. `delivered` is
    /// final: a late "sent" never downgrades it. Returns false when none of our messages has this id.
    pub async fn set_message_status(
        &self,
        id: &str,
        status: MessageStatus,
        error: Option<&str>,
    ) -> Result<bool, HistoryError> {
        if status == MessageStatus::Received {
            return Err(HistoryError::Invalid(
                "received is only for incoming messages".into(),
            ));
        }
        let changed = sqlx::query(
            "UPDATE messages SET status = ?2, error = ?3
             WHERE id = ?1 AND outgoing = 1 AND status != 'delivered'",
        )
        .bind(id)
        .bind(status.as_str())
        .bind(error)
        .execute(self.pool())
        .await?
        .rows_affected();
        if changed > 0 {
            return Ok(true);
        }
        let exists: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM messages WHERE id = ?1 AND outgoing = 1")
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        Ok(exists.is_some())
    }

    /// Outgoing messages not yet sent, oldest first: what to flush after a reconnect. `room` narrows it to
    /// one conversation (the peer that just connected).
    pub async fn outbox(&self, room: Option<&str>) -> Result<Vec<Message>, HistoryError> {
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages
             WHERE status = 'pending' AND (?1 IS NULL OR room = ?1)
             ORDER BY sent_at, id"
        );
        Ok(sqlx::query_as(&sql)
            .bind(room)
            .fetch_all(self.pool())
            .await?)
    }
}
