//! Files sent and received peer to peer (docs/files.md): a row once a transfer finished with its
//! SHA-256 checked, with where the file is on this device, so people find a file again by its name
//! (every typed word somewhere in the name, any case, accents ignored) without the network.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use ts_rs::TS;

use super::calls::CallDirection;
use super::search::fold;
use super::{History, HistoryError, now_ms};

/// At most this many words of a search are used.
const MAX_TERMS: usize = 8;
/// Rows returned when the caller asks for more.
pub const MAX_FILE_ROWS: u32 = 500;

/// A finished transfer to record: `path` is the saved copy (incoming) or the original (outgoing).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
pub struct NewFile {
    /// The sender's transfer id.
    pub transfer_id: String,
    pub room: String,
    pub peer: String,
    pub peer_name: String,
    pub direction: CallDirection,
    pub name: String,
    pub size: u64,
    pub sha256: String,
    pub path: String,
}

/// One file in the history.
#[derive(Debug, Clone, PartialEq, Serialize, TS)]
pub struct FileRecord {
    pub transfer_id: String,
    pub room: String,
    pub peer: String,
    pub peer_name: String,
    pub direction: CallDirection,
    pub name: String,
    pub size: u64,
    pub sha256: String,
    pub path: String,
    /// When it finished (ms since the Unix epoch).
    pub at: i64,
}

impl sqlx::FromRow<'_, SqliteRow> for FileRecord {
    fn from_row(row: &SqliteRow) -> Result<Self, sqlx::Error> {
        let decode = |e: String| sqlx::Error::Decode(e.into());
        Ok(FileRecord {
            transfer_id: row.try_get("transfer_id")?,
            room: row.try_get("room")?,
            peer: row.try_get("peer")?,
            peer_name: row.try_get("peer_name")?,
            direction: CallDirection::try_from(row.try_get::<String, _>("direction")?)
                .map_err(decode)?,
            name: row.try_get("name")?,
            size: u64::try_from(row.try_get::<i64, _>("size")?)
                .map_err(|e| decode(e.to_string()))?,
            sha256: row.try_get("sha256")?,
            path: row.try_get("path")?,
            at: row.try_get("at")?,
        })
    }
}

const COLUMNS: &str = "transfer_id, room, peer, peer_name, direction, name, size, sha256, path, at";

impl History {
    /// Records a finished transfer. Returns false if it is already recorded (the same transfer id from
    /// the same peer, in the same room and direction).
    pub async fn file_finished(&self, file: &NewFile) -> Result<bool, HistoryError> {
        let valid_id = (1..=64).contains(&file.transfer_id.len())
            && file
                .transfer_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !valid_id {
            return Err(HistoryError::Invalid(
                "a transfer id is 1–64 letters, digits or '-'".into(),
            ));
        }
        let valid_sha = file.sha256.len() == 64
            && file
                .sha256
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !valid_sha {
            return Err(HistoryError::Invalid(
                "sha256 must be 64 lowercase hex digits".into(),
            ));
        }
        let size = i64::try_from(file.size)
            .map_err(|_| HistoryError::Invalid("file size out of range".into()))?;
        self.ensure_conversation(&file.room).await?;
        let direction = match file.direction {
            CallDirection::Incoming => "incoming",
            CallDirection::Outgoing => "outgoing",
        };
        let inserted = sqlx::query(
            "INSERT INTO files (transfer_id, room, peer, peer_name, direction, name, name_key, size, sha256,
                                path, at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
             ON CONFLICT (room, peer, direction, transfer_id) DO NOTHING",
        )
        .bind(&file.transfer_id)
        .bind(&file.room)
        .bind(&file.peer)
        .bind(&file.peer_name)
        .bind(direction)
        .bind(&file.name)
        .bind(fold(&file.name))
        .bind(size)
        .bind(&file.sha256)
        .bind(&file.path)
        .bind(now_ms())
        .execute(self.pool())
        .await?
        .rows_affected();
        Ok(inserted > 0)
    }

    /// The newest file received under the sender's transfer id `transfer_id` (what the window names a
    /// past received file by: the saved path comes from here, never from the window).
    pub async fn received_file(
        &self,
        transfer_id: &str,
    ) -> Result<Option<FileRecord>, HistoryError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM files WHERE transfer_id = ?1 AND direction = 'incoming'
             ORDER BY at DESC, seq DESC LIMIT 1"
        );
        Ok(sqlx::query_as(&sql)
            .bind(transfer_id)
            .fetch_optional(self.pool())
            .await?)
    }

    /// Files whose name contains every word of `query` (any case, accents ignored; an empty query
    /// matches all), in `room` if given, newest first, at most `limit`.
    pub async fn search_files(
        &self,
        query: &str,
        room: Option<&str>,
        limit: u32,
    ) -> Result<Vec<FileRecord>, HistoryError> {
        let folded = fold(query);
        let terms: Vec<&str> = folded.split_whitespace().take(MAX_TERMS).collect();
        let mut sql = format!("SELECT {COLUMNS} FROM files WHERE (?1 IS NULL OR room = ?1)");
        for n in 0..terms.len() {
            // instr() is a plain substring test: no wildcard in a name or a query means anything.
            sql.push_str(&format!(" AND instr(name_key, ?{}) > 0", n + 3));
        }
        sql.push_str(" ORDER BY at DESC, seq DESC LIMIT ?2");
        let mut statement = sqlx::query_as(&sql)
            .bind(room)
            .bind(i64::from(limit.clamp(1, MAX_FILE_ROWS)));
        for term in terms {
            statement = statement.bind(term);
        }
        Ok(statement.fetch_all(self.pool()).await?)
    }
}
