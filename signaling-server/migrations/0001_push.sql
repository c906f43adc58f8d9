-- Push registrations of a single server (docs/operations.md, "Push"). With --redis-url they live in Redis.

-- Server-wide settings: the VAPID private key ("vapid_key", base64url of the 32-byte P-256 scalar).
CREATE TABLE push_settings (
    key TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- A device that registered: the SHA-256 (hex) of its secret and the token `sub` of its first registration
-- ("" on an open server). Later registrations naming it must match both.
CREATE TABLE push_devices (
    device TEXT PRIMARY KEY NOT NULL,
    secret_hash TEXT NOT NULL,
    user TEXT NOT NULL
);

-- One registration per (room, device): where its pushes go and who registered it.
CREATE TABLE push_registrations (
    room TEXT NOT NULL,
    device TEXT NOT NULL REFERENCES push_devices (device) ON DELETE CASCADE,
    -- The protocol's subscription object, as JSON.
    subscription TEXT NOT NULL,
    name TEXT NOT NULL,
    peer TEXT NOT NULL,
    -- Unix ms.
    registered_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (room, device)
);

CREATE INDEX push_registrations_device ON push_registrations (device);
CREATE INDEX push_registrations_expires ON push_registrations (expires_at);
