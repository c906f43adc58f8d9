//! Conversations (one per room): the list the app opens into, with each room's last message and unread
//! count, the read marker, per-room mute, which rooms to rejoin on startup, and the peers seen.

use serde::Serialize;
use sqlx::Row;
use ts_rs::TS;

use super::{History, HistoryError, MessageStatus, now_ms};

/// The last message of a conversation, as the list shows it.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct MessagePreview {
    pub id: String,
    pub sender_name: String,
    pub body: String,
    pub sent_at: i64,
    pub outgoing: bool,
    pub status: MessageStatus,
}

/// One row of the conversation list.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct Conversation {
    pub room: String,
    pub title: Option<String>,
    pub muted: bool,
    pub joined: bool,
    pub unread: i64,
    pub last_message: Option<MessagePreview>,
}

impl History {
    /// The `limit` most recently active conversations (all when `None`), each with its last message
    /// and unread count.
    pub async fn list_conversations(
        &self,
        limit: Option<u32>,
    ) -> Result<Vec<Conversation>, HistoryError> {
        // Walks the conversations_by_activity index: the cost follows `limit`, not the history's size.
        let rows = sqlx::query(
            "SELECT c.room, c.title, c.muted, c.joined, c.unread,
                    m.id, m.sender_name, m.body, m.sent_at, m.outgoing, m.status
               FROM conversations c
               LEFT JOIN messages m ON m.seq = c.last_seq
              ORDER BY coalesce(c.last_at, c.created_at) DESC, c.room
              LIMIT ?1",
        )
        .bind(limit.map_or(-1, i64::from))
        .fetch_all(self.pool())
        .await?;
        rows.into_iter()
            .map(|row| {
                let last_message = match row.try_get::<Option<String>, _>("id")? {
                    Some(id) => Some(MessagePreview {
                        id,
                        sender_name: row.try_get("sender_name")?,
                        body: row.try_get("body")?,
                        sent_at: row.try_get("sent_at")?,
                        outgoing: row.try_get("outgoing")?,
                        status: MessageStatus::try_from(row.try_get::<String, _>("status")?)
                            .map_err(HistoryError::Database)?,
                    }),
                    None => None,
                };
                Ok(Conversation {
                    room: row.try_get("room")?,
                    title: row.try_get("title")?,
                    muted: row.try_get("muted")?,
                    joined: row.try_get("joined")?,
                    unread: row.try_get("unread")?,
                    last_message,
                })
            })
            .collect()
    }

    /// Creates the conversation for `room` if it does not exist yet.
    pub async fn ensure_conversation(&self, room: &str) -> Result<(), HistoryError> {
        if !chat_protocol::is_valid_room_name(room) {
            return Err(HistoryError::Invalid(format!("invalid room name {room:?}")));
        }
        sqlx::query(
            "INSERT INTO conversations (room, created_at) VALUES (?1, ?2) ON CONFLICT (room) DO NOTHING",
        )
        .bind(room)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Marks everything in `room` sent up to `up_to` (ms) as read; the marker never moves back.
    pub async fn mark_read(&self, room: &str, up_to: i64) -> Result<(), HistoryError> {
        sqlx::query(
            "UPDATE conversations
                SET last_read_at = max(last_read_at, ?2),
                    unread = (SELECT count(*) FROM messages
                               WHERE room = ?1 AND outgoing = 0 AND sent_at > max(conversations.last_read_at, ?2))
              WHERE room = ?1",
        )
        .bind(room)
        .bind(up_to)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Mutes or unmutes notifications for `room`.
    pub async fn set_muted(&self, room: &str, muted: bool) -> Result<(), HistoryError> {
        self.ensure_conversation(room).await?;
        sqlx::query("UPDATE conversations SET muted = ?2 WHERE room = ?1")
            .bind(room)
            .bind(muted)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Whether notifications for `room` are muted (unknown rooms are not).
    pub async fn is_muted(&self, room: &str) -> Result<bool, HistoryError> {
        let muted: Option<bool> =
            sqlx::query_scalar("SELECT muted FROM conversations WHERE room = ?1")
                .bind(room)
                .fetch_optional(self.pool())
                .await?;
        Ok(muted.unwrap_or(false))
    }

    /// Remembers whether the user is in `room`, so the app rejoins it on the next start.
    pub async fn set_joined(&self, room: &str, joined: bool) -> Result<(), HistoryError> {
        self.ensure_conversation(room).await?;
        sqlx::query("UPDATE conversations SET joined = ?2 WHERE room = ?1")
            .bind(room)
            .bind(joined)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Rooms to rejoin on startup.
    pub async fn joined_rooms(&self) -> Result<Vec<String>, HistoryError> {
        Ok(
            sqlx::query_scalar("SELECT room FROM conversations WHERE joined = 1 ORDER BY room")
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// Records that `peer` (shown as `name`) was seen now.
    pub async fn peer_seen(&self, peer: &str, name: &str) -> Result<(), HistoryError> {
        sqlx::query(
            "INSERT INTO peers (peer, name, last_seen) VALUES (?1, ?2, ?3)
             ON CONFLICT (peer) DO UPDATE SET name = excluded.name, last_seen = excluded.last_seen",
        )
        .bind(peer)
        .bind(name)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// The display name last seen for `peer`.
    pub async fn peer_name(&self, peer: &str) -> Result<Option<String>, HistoryError> {
        Ok(sqlx::query_scalar("SELECT name FROM peers WHERE peer = ?1")
            .bind(peer)
            .fetch_optional(self.pool())
            .await?)
    }
}
