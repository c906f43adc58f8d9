//! The call log: a row when a call rings or is placed, answered when it connects, and one final outcome
//! (answered, missed, declined, failed) when it ends. Ending is idempotent, so a hangup that arrives twice
//! or after a cancel does not rewrite the outcome.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use ts_rs::TS;

use super::{History, HistoryError, now_ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum CallDirection {
    Incoming,
    Outgoing,
}

impl CallDirection {
    fn as_str(self) -> &'static str {
        match self {
            CallDirection::Incoming => "incoming",
            CallDirection::Outgoing => "outgoing",
        }
    }
}

impl TryFrom<String> for CallDirection {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        match value.as_str() {
            "incoming" => Ok(CallDirection::Incoming),
            "outgoing" => Ok(CallDirection::Outgoing),
            other => Err(format!("unknown call direction {other:?}")),
        }
    }
}

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum CallOutcome {
    Answered,
    Missed,
    Declined,
    Failed,
}

impl CallOutcome {
    fn as_str(self) -> &'static str {
        match self {
            CallOutcome::Answered => "answered",
            CallOutcome::Missed => "missed",
            CallOutcome::Declined => "declined",
            CallOutcome::Failed => "failed",
        }
    }
}

impl TryFrom<String> for CallOutcome {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        match value.as_str() {
            "answered" => Ok(CallOutcome::Answered),
            "missed" => Ok(CallOutcome::Missed),
            "declined" => Ok(CallOutcome::Declined),
            "failed" => Ok(CallOutcome::Failed),
            other => Err(format!("unknown call outcome {other:?}")),
        }
    }
}

/// A call that starts ringing (incoming) or is placed (outgoing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct NewCall {
    pub id: String,
    pub room: String,
    pub peer: String,
    pub peer_name: String,
    pub direction: CallDirection,
    pub media: Vec<String>,
}

/// One row of the call log.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct CallRecord {
    pub id: String,
    pub room: String,
    pub peer: String,
    pub peer_name: String,
    pub direction: CallDirection,
    pub media: String,
    pub started_at: i64,
    pub answered_at: Option<i64>,
    pub ended_at: Option<i64>,
    /// `None` while ringing or in progress.
    pub outcome: Option<CallOutcome>,
    /// Talk time (answered → ended), when both are known.
    pub duration_ms: Option<i64>,
}

impl sqlx::FromRow<'_, SqliteRow> for CallRecord {
    fn from_row(row: &SqliteRow) -> Result<Self, sqlx::Error> {
        let decode = |e: String| sqlx::Error::Decode(e.into());
        Ok(CallRecord {
            id: row.try_get("id")?,
            room: row.try_get("room")?,
            peer: row.try_get("peer")?,
            peer_name: row.try_get("peer_name")?,
            direction: CallDirection::try_from(row.try_get::<String, _>("direction")?)
                .map_err(decode)?,
            media: row.try_get("media")?,
            started_at: row.try_get("started_at")?,
            answered_at: row.try_get("answered_at")?,
            ended_at: row.try_get("ended_at")?,
            outcome: row
                .try_get::<Option<String>, _>("outcome")?
                .map(CallOutcome::try_from)
                .transpose()
                .map_err(decode)?,
            duration_ms: row.try_get("duration_ms")?,
        })
    }
}

impl History {
    /// Records a call that starts ringing or is placed now. Returns false if this call id is already logged
    /// (the same invite seen twice).
    pub async fn call_started(&self, call: &NewCall) -> Result<bool, HistoryError> {
        if call.id.is_empty() || call.id.len() > 64 {
            return Err(HistoryError::Invalid(
                "call id must be 1–64 characters".into(),
            ));
        }
        self.ensure_conversation(&call.room).await?;
        let inserted = sqlx::query(
            "INSERT INTO calls (id, room, peer, peer_name, direction, media, started_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id) DO NOTHING",
        )
        .bind(&call.id)
        .bind(&call.room)
        .bind(&call.peer)
        .bind(&call.peer_name)
        .bind(call.direction.as_str())
        .bind(call.media.join(","))
        .bind(now_ms())
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(inserted > 0)
    }

    /// Marks a ringing call as answered (connected) now. Only the call's own row: the same `room`, and
    /// `peer` the one it was logged with (a call id alone is no proof: any room member may have seen it).
    pub async fn call_answered(
        &self,
        id: &str,
        room: &str,
        peer: &str,
    ) -> Result<(), HistoryError> {
        sqlx::query(
            "UPDATE calls SET answered_at = ?2
              WHERE id = ?1 AND room = ?3 AND peer = ?4 AND answered_at IS NULL AND outcome IS NULL",
        )
        .bind(id)
        .bind(now_ms())
        .bind(room)
        .bind(peer)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Ends a call now. An answered call ends as `answered` whatever `unanswered` says; otherwise the
    /// outcome is `unanswered` (missed, declined or failed). Returns the outcome recorded, or `None` if
    /// the call is unknown, had already ended, or is not in `room` with `peer` (as for [`Self::call_answered`]).
    pub async fn call_ended(
        &self,
        id: &str,
        room: &str,
        peer: &str,
        unanswered: CallOutcome,
    ) -> Result<Option<CallOutcome>, HistoryError> {
        let outcome: Option<String> = sqlx::query_scalar(
            "UPDATE calls
                SET ended_at = ?2,
                    outcome = CASE WHEN answered_at IS NOT NULL THEN 'answered' ELSE ?3 END
              WHERE id = ?1 AND room = ?4 AND peer = ?5 AND outcome IS NULL
             RETURNING outcome",
        )
        .bind(id)
        .bind(now_ms())
        .bind(unanswered.as_str())
        .bind(room)
        .bind(peer)
        .fetch_optional(self.pool())
        .await?;
        outcome
            .map(|o| CallOutcome::try_from(o).map_err(HistoryError::Database))
            .transpose()
    }

    /// Incoming calls from `peer` started at or after `since` (ms): how many (in any room), and whether one
    /// in `room` is still ringing (neither answered nor ended).
    pub async fn recent_incoming_calls(
        &self,
        room: &str,
        peer: &str,
        since: i64,
    ) -> Result<(u32, bool), HistoryError> {
        let (count, ringing): (i64, bool) = sqlx::query_as(
            "SELECT COUNT(*),
                    COALESCE(MAX(room = ?1 AND answered_at IS NULL AND outcome IS NULL), 0)
               FROM calls
              WHERE started_at >= ?3 AND peer = ?2 AND direction = 'incoming'",
        )
        .bind(room)
        .bind(peer)
        .bind(since)
        .fetch_one(self.pool())
        .await?;
        Ok((u32::try_from(count).unwrap_or(u32::MAX), ringing))
    }

    /// One call by id.
    pub async fn call(&self, id: &str) -> Result<Option<CallRecord>, HistoryError> {
        Ok(sqlx::query_as(
            "SELECT id, room, peer, peer_name, direction, media, started_at, answered_at, ended_at, outcome,
                    ended_at - answered_at AS duration_ms
               FROM calls WHERE id = ?1",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The call log, newest first, `limit` rows started before `before` (ms) if given.
    pub async fn call_log(
        &self,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<CallRecord>, HistoryError> {
        Ok(sqlx::query_as(
            "SELECT id, room, peer, peer_name, direction, media, started_at, answered_at, ended_at, outcome,
                    ended_at - answered_at AS duration_ms
               FROM calls WHERE ?1 IS NULL OR started_at < ?1
              ORDER BY started_at DESC, id DESC LIMIT ?2",
        )
        .bind(before)
        .bind(i64::from(limit.clamp(1, 500)))
        .fetch_all(self.pool())
        .await?)
    }
}
