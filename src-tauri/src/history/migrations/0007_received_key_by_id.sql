-- Storing a batch of received messages touched the unique index that keeps them from being stored twice
-- (0004) at one place per room and sender: ≈ 5 000 scattered index pages for 10 000 messages over
-- 1 000 rooms, more than the page cache holds, so each batch read (and, encrypted, decrypted) most of
-- them again. Message ids are time-ordered (UUIDv7), so with the id first the new entries go to the end
-- of the index, a few pages per batch. The index is the same set of columns, so what counts as the same
-- message does not change; no query reads it in order.
DROP INDEX messages_received_key;
CREATE UNIQUE INDEX messages_received_key ON messages (id, room, sender) WHERE outgoing = 0;
