-- Search in one room without filtering every match (src/history/search.rs): each message's index entry
-- also holds a token naming its room, U+F8FF (private use: a word character for the tokenizer, never
-- typed) followed by the room name in hex (room names are ASCII letters, digits, '.', '_' and '-'; hex keeps
-- the punctuation from splitting the token). A search in one room ANDs that token with the typed words, so
-- FTS5 walks only that room's matches. The index's row id stays messages.seq, which grows as messages are
-- stored: search walks it newest first, in bounded steps (`rowid < ? AND rowid >= ? ORDER BY rowid DESC`).
-- The indexed text comes from a view (body, then the room token), so 'rebuild' and the triggers agree.
-- The vocabulary table is now of type 'instance': search lists the completions of a typed word one term
-- at a time (skipping to the next term), which reads one entry per term, where type 'row' counted every
-- message of each term it listed. The index is rebuilt from the messages once.
DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;
DROP TABLE messages_vocab;
DROP TABLE messages_fts;

CREATE VIEW messages_fts_source (seq, text) AS
    SELECT seq, body || ' ' || char(63743) || hex(room) FROM messages;

CREATE VIRTUAL TABLE messages_fts USING fts5 (
    text,
    content = 'messages_fts_source',
    content_rowid = 'seq',
    tokenize = "unicode61 remove_diacritics 2 categories 'L* N* Co M*'",
    prefix = '2 3',
    detail = none,
    columnsize = 0
);
CREATE VIRTUAL TABLE messages_vocab USING fts5vocab (messages_fts, 'instance');
-- As in 0002: one index segment per large write transaction.
INSERT INTO messages_fts (messages_fts, rank) VALUES ('hashsize', 16777216);
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, text)
    VALUES (new.seq, new.body || ' ' || char(63743) || hex(new.room));
END;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text)
    VALUES ('delete', old.seq, old.body || ' ' || char(63743) || hex(old.room));
END;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF body, room ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text)
    VALUES ('delete', old.seq, old.body || ' ' || char(63743) || hex(old.room));
    INSERT INTO messages_fts (rowid, text)
    VALUES (new.seq, new.body || ' ' || char(63743) || hex(new.room));
END;
