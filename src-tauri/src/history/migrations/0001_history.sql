-- Chat and call history of this device. Times are milliseconds since the Unix epoch.

-- One row per room the user has been in: read marker, mute, whether to rejoin on startup.
CREATE TABLE conversations (
    room         TEXT PRIMARY KEY NOT NULL,
    title        TEXT,
    muted        INTEGER NOT NULL DEFAULT 0 CHECK (muted IN (0, 1)),
    joined       INTEGER NOT NULL DEFAULT 0 CHECK (joined IN (0, 1)),
    last_read_at INTEGER NOT NULL DEFAULT 0,
    -- Incoming messages newer than last_read_at; kept by the trigger below so listing 1 000 rooms is cheap.
    unread       INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL
) WITHOUT ROWID;

-- Peers seen in rooms (peer ids live for one signaling session; the name is what people recognise).
CREATE TABLE peers (
    peer      TEXT PRIMARY KEY NOT NULL,
    name      TEXT NOT NULL,
    last_seen INTEGER NOT NULL
) WITHOUT ROWID;

-- Chat messages. `id` is made by the sending client (UUIDv7), so the same message arriving twice is one row.
-- status: pending (written, not yet sent) → sent → delivered (peer acked); failed; received (incoming).
CREATE TABLE messages (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    room        TEXT NOT NULL REFERENCES conversations (room) ON DELETE CASCADE,
    sender      TEXT NOT NULL,
    sender_name TEXT NOT NULL,
    outgoing    INTEGER NOT NULL CHECK (outgoing IN (0, 1)),
    body        TEXT NOT NULL,
    sent_at     INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'delivered', 'failed', 'received')),
    error       TEXT
);
-- Keyset pagination: newest first within a room, ties broken by id.
CREATE INDEX messages_by_room_time ON messages (room, sent_at, id);
-- The outbox is small; a partial index keeps finding it O(pending) however large history grows.
CREATE INDEX messages_outbox ON messages (sent_at, id) WHERE status = 'pending';

-- Full-text index over bodies. unicode61 with remove_diacritics 2 makes "cafe" find "café";
-- prefix indexes make "hel" find "hello" without a scan.
CREATE VIRTUAL TABLE messages_fts USING fts5 (
    body,
    content = 'messages',
    content_rowid = 'seq',
    tokenize = 'unicode61 remove_diacritics 2',
    prefix = '2 3'
);

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, body) VALUES (new.seq, new.body);
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.seq, old.body);
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, body) VALUES ('delete', old.seq, old.body);
    INSERT INTO messages_fts (rowid, body) VALUES (new.seq, new.body);
END;

CREATE TRIGGER messages_unread AFTER INSERT ON messages WHEN new.outgoing = 0 BEGIN
    UPDATE conversations SET unread = unread + 1
     WHERE room = new.room AND new.sent_at > last_read_at;
END;

-- Calls rung or placed. outcome is NULL while ringing or in progress.
CREATE TABLE calls (
    id          TEXT PRIMARY KEY NOT NULL,
    room        TEXT NOT NULL REFERENCES conversations (room) ON DELETE CASCADE,
    peer        TEXT NOT NULL,
    peer_name   TEXT NOT NULL,
    direction   TEXT NOT NULL CHECK (direction IN ('incoming', 'outgoing')),
    media       TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    answered_at INTEGER,
    ended_at    INTEGER,
    outcome     TEXT CHECK (outcome IN ('answered', 'missed', 'declined', 'failed'))
) WITHOUT ROWID;
CREATE INDEX calls_by_time ON calls (started_at);

-- Small key/value settings (server URL, display name, close-to-tray).
CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) WITHOUT ROWID;
