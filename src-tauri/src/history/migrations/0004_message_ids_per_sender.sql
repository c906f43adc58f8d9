-- A message id is made by its sender, so it is unique only per sender: one global UNIQUE let any peer
-- suppress someone else's message (in any room) by sending its id first, or make ours collide. Now a
-- received message is a duplicate only of one from the same sender (peer id) in the same room, and our
-- own ids stay unique among our own (status updates find them by id). SQLite cannot drop a column's
-- UNIQUE constraint, so the table is rebuilt with the same rows (seq kept: the search index and
-- conversations.last_seq point at it), and its indexes and triggers are made again as they were.
CREATE TABLE messages_new (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL,
    room        TEXT NOT NULL REFERENCES conversations (room) ON DELETE CASCADE,
    sender      TEXT NOT NULL,
    sender_name TEXT NOT NULL,
    outgoing    INTEGER NOT NULL CHECK (outgoing IN (0, 1)),
    body        TEXT NOT NULL,
    sent_at     INTEGER NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'delivered', 'failed', 'received')),
    error       TEXT
);
INSERT INTO messages_new (seq, id, room, sender, sender_name, outgoing, body, sent_at, status, error)
    SELECT seq, id, room, sender, sender_name, outgoing, body, sent_at, status, error FROM messages;
DROP TABLE messages;
ALTER TABLE messages_new RENAME TO messages;

CREATE UNIQUE INDEX messages_received_key ON messages (room, sender, id) WHERE outgoing = 0;
CREATE UNIQUE INDEX messages_own_key ON messages (id) WHERE outgoing = 1;
CREATE INDEX messages_by_room_time ON messages (room, sent_at, id);
CREATE INDEX messages_outbox ON messages (sent_at, id) WHERE status = 'pending';

CREATE TRIGGER messages_unread AFTER INSERT ON messages WHEN new.outgoing = 0 BEGIN
    UPDATE conversations SET unread = unread + 1
     WHERE room = new.room AND new.sent_at > last_read_at;
END;
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
CREATE TRIGGER messages_last AFTER INSERT ON messages BEGIN
    UPDATE conversations SET last_at = new.sent_at, last_seq = new.seq
     WHERE room = new.room
       AND (last_seq IS NULL
            OR (new.sent_at, new.id) > (last_at, (SELECT id FROM messages WHERE seq = last_seq)));
END;
