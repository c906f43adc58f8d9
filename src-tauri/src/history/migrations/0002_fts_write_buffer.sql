-- Full-text index writes: FTS5 buffers new entries in memory and writes them out as a new index segment
-- when the buffer exceeds `hashsize` (1 MiB by default) or the transaction ends. A batch of 10 000
-- messages made several small segments that FTS5 then had to merge again; 16 MiB makes one per batch.
-- The buffer exists only while a write transaction is open.
INSERT INTO messages_fts (messages_fts, rank) VALUES ('hashsize', 16777216);
