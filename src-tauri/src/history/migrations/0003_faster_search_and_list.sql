-- The search index keeps only which messages contain each word (detail=none, columnsize=0): search
-- matches whole words and prefixes and ranks in Rust (src/history/search.rs), so FTS5's positions and
-- per-row sizes (phrases, NEAR, bm25) were written on every insert and never read. Writes get ≈ 25 %
-- faster and the index smaller. Without positions a query word must be exactly one index token, so
-- words are letters, digits, marks and private-use characters (categories 'L* N* Co M*'), the same
-- rule search.rs splits typed words by; this also keeps words of scripts written with combining vowel
-- signs (Devanagari, Thai, …) whole. The index is rebuilt from the messages once.
DROP TRIGGER messages_fts_insert;
DROP TRIGGER messages_fts_delete;
DROP TRIGGER messages_fts_update;
DROP TABLE messages_fts;

CREATE VIRTUAL TABLE messages_fts USING fts5 (
    body,
    content = 'messages',
    content_rowid = 'seq',
    tokenize = "unicode61 remove_diacritics 2 categories 'L* N* Co M*'",
    prefix = '2 3',
    detail = none,
    columnsize = 0
);
-- The index's words, to look up the completions of a typed word (src/history/search.rs).
CREATE VIRTUAL TABLE messages_vocab USING fts5vocab (messages_fts, 'row');
-- As in 0002: one index segment per large write transaction.
INSERT INTO messages_fts (messages_fts, rank) VALUES ('hashsize', 16777216);
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');

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

-- The conversation list asks for the most recently active conversations first without reading every
-- room's messages: each conversation keeps its newest message (by sender time, then id, as pages order
-- them), kept up to date by a trigger, and an index orders conversations by it.
ALTER TABLE conversations ADD COLUMN last_at INTEGER;
ALTER TABLE conversations ADD COLUMN last_seq INTEGER;
UPDATE conversations SET last_seq = (
    SELECT seq FROM messages WHERE room = conversations.room ORDER BY sent_at DESC, id DESC LIMIT 1);
UPDATE conversations SET last_at = (SELECT sent_at FROM messages WHERE seq = conversations.last_seq);
CREATE INDEX conversations_by_activity ON conversations (coalesce(last_at, created_at) DESC, room);

CREATE TRIGGER messages_last AFTER INSERT ON messages BEGIN
    UPDATE conversations SET last_at = new.sent_at, last_seq = new.seq
     WHERE room = new.room
       AND (last_seq IS NULL
            OR (new.sent_at, new.id) > (last_at, (SELECT id FROM messages WHERE seq = last_seq)));
END;
