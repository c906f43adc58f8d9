-- Files sent and received peer to peer (docs/files.md): one row per transfer that finished, either way.
-- `transfer_id` is chosen by the sender, so it is unique only per room, peer and direction (the same
-- event recorded twice is one row; another sender's id cannot hide ours). `path` is where the file is
-- on this device: the saved copy of a received file, the original of a sent one. `sha256` is the
-- checked hash (lowercase hex). `name_key` is the name folded for search (lowercase, accents removed,
-- by the app): a search finds every file whose name contains each typed word.
CREATE TABLE files (
    seq         INTEGER PRIMARY KEY,
    transfer_id TEXT NOT NULL,
    room        TEXT NOT NULL REFERENCES conversations (room) ON DELETE CASCADE,
    peer        TEXT NOT NULL,
    peer_name   TEXT NOT NULL,
    direction   TEXT NOT NULL CHECK (direction IN ('incoming', 'outgoing')),
    name        TEXT NOT NULL,
    name_key    TEXT NOT NULL,
    size        INTEGER NOT NULL CHECK (size >= 0),
    sha256      TEXT NOT NULL CHECK (length(sha256) = 64),
    path        TEXT NOT NULL,
    at          INTEGER NOT NULL,
    UNIQUE (room, peer, direction, transfer_id)
);
-- Newest first, per room and overall.
CREATE INDEX files_by_room_time ON files (room, at);
CREATE INDEX files_by_time ON files (at);
