//! Where push registrations, the VAPID key and the short-lived ring state live: an embedded SQLite file
//! for a server alone (`--push-db`), Redis when several servers share it (`--redis-url`), so any of them
//! can ring a device another one registered and take a decline for a ring another one sent.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::str::FromStr;
use std::sync::Mutex;
use std::time::Duration;

use chat_protocol::PushSubscription;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

/// Every key starts with this (as the cluster's).
const PREFIX: &str = "p2pchat:";

/// How long a ring's decline token and its cancel stay valid, in ms (a little over the 45 s ring).
const RING_RECORD_MS: u64 = 60_000;

/// A store failure (the request is answered with `internal`).
pub type StoreError = String;

/// A device registered in a room.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Registration {
    pub room: String,
    pub device: String,
    pub subscription: PushSubscription,
    /// The registering session's `hello` name and peer id.
    pub name: String,
    pub peer: String,
    /// Unix ms.
    pub registered_at: u64,
    #[serde(skip)]
    pub expires_at: u64,
}

/// Who presents a device: the SHA-256 (hex) of its secret and the token `sub` ("" on an open server).
pub struct Owner<'a> {
    pub secret_hash: &'a str,
    pub user: &'a str,
}

/// The registration limits.
#[derive(Debug, Clone, Copy)]
pub struct RegisterLimits {
    pub per_room: u32,
    pub rooms_per_device: u32,
    pub per_user: u32,
}

/// Why a registration or unregistration is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Another secret or user registered this device.
    NotOwner,
    /// A limit is full: "room", "device" or "user".
    Limit(&'static str),
}

/// A ring that went out: what its decline and its cancel need.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RingRecord {
    pub room: String,
    pub device: String,
    pub call: String,
    /// The caller's session, name and peer id.
    pub sid: String,
    pub caller: String,
    pub caller_peer: String,
    pub media: Vec<String>,
    /// Unix ms.
    pub expires_at: u64,
    /// SHA-256 (hex) of the decline token.
    pub decline_hash: String,
}

pub enum Store {
    Sqlite(SqliteStore),
    Redis(RedisStore),
}

impl Store {
    /// The VAPID private key: `fresh` is kept if none is stored yet (with Redis: set if absent, so every
    /// server uses the first one written).
    pub async fn vapid_key(&self, fresh: &str) -> Result<String, StoreError> {
        match self {
            Store::Sqlite(s) => s.vapid_key(fresh).await,
            Store::Redis(s) => s.vapid_key(fresh).await,
        }
    }

    pub async fn register(
        &self,
        registration: &Registration,
        owner: &Owner<'_>,
        limits: RegisterLimits,
        now: u64,
    ) -> Result<Result<(), Refusal>, StoreError> {
        match self {
            Store::Sqlite(s) => s.register(registration, owner, limits, now).await,
            Store::Redis(s) => s.register(registration, owner, limits, now).await,
        }
    }

    /// Removes the device's registration in `room`, or in every room.
    pub async fn unregister(
        &self,
        device: &str,
        owner: &Owner<'_>,
        room: Option<&str>,
    ) -> Result<Result<(), Refusal>, StoreError> {
        match self {
            Store::Sqlite(s) => s.unregister(device, owner, room).await,
            Store::Redis(s) => s.unregister(device, owner, room).await,
        }
    }

    /// The registrations of `room` that have not expired.
    pub async fn registrations(
        &self,
        room: &str,
        now: u64,
    ) -> Result<Vec<Registration>, StoreError> {
        match self {
            Store::Sqlite(s) => s.registrations(room, now).await,
            Store::Redis(s) => s.registrations(room, now).await,
        }
    }

    /// Forgets a registration the push service no longer knows (404/410).
    pub async fn remove(&self, room: &str, device: &str) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.remove(room, device).await,
            Store::Redis(s) => s.remove(room, device).await,
        }
    }

    /// Renews a registration that was used.
    pub async fn touch(&self, room: &str, device: &str, expires_at: u64) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(s) => s.touch(room, device, expires_at).await,
            Store::Redis(s) => s.touch(room, device, expires_at).await,
        }
    }

    /// Counts one ring of `device` at `now` if it had fewer than `limit` in the last minute.
    pub async fn allow_ring(&self, device: &str, limit: u32, now: u64) -> Result<bool, StoreError> {
        match self {
            Store::Sqlite(_) => Ok(self.memory().allow_ring(device, limit, now)),
            Store::Redis(s) => s.allow_ring(device, limit, now).await,
        }
    }

    pub async fn put_ring(&self, ring: &RingRecord, now: u64) -> Result<(), StoreError> {
        match self {
            Store::Sqlite(_) => {
                self.memory().put_ring(ring, now);
                Ok(())
            }
            Store::Redis(s) => s.put_ring(ring).await,
        }
    }

    /// The ring whose decline token hashes to `decline_hash`, once.
    pub async fn take_decline(
        &self,
        decline_hash: &str,
        now: u64,
    ) -> Result<Option<RingRecord>, StoreError> {
        match self {
            Store::Sqlite(_) => Ok(self.memory().take_decline(decline_hash, now)),
            Store::Redis(s) => s.take_decline(decline_hash).await,
        }
    }

    /// The ring session `sid` sent to `device` for `call`, once (its decline token stops working).
    pub async fn take_ring(
        &self,
        sid: &str,
        call: &str,
        device: &str,
        now: u64,
    ) -> Result<Option<RingRecord>, StoreError> {
        match self {
            Store::Sqlite(_) => Ok(self.memory().take_ring(sid, call, device, now)),
            Store::Redis(s) => s.take_ring(sid, call, device).await,
        }
    }

    /// Peer ids in `room` on other servers as well (with Redis); a server alone knows its members itself.
    pub async fn room_peers(&self, room: &str) -> Result<Vec<String>, StoreError> {
        match self {
            Store::Sqlite(_) => Ok(Vec::new()),
            Store::Redis(s) => s.room_peers(room).await,
        }
    }

    fn memory(&self) -> std::sync::MutexGuard<'_, Memory> {
        match self {
            Store::Sqlite(s) => s.memory.lock().unwrap_or_else(|p| p.into_inner()),
            Store::Redis(_) => unreachable!("only the SQLite store keeps ring state in memory"),
        }
    }
}

fn ring_key(sid: &str, call: &str, device: &str) -> String {
    format!("{sid} {call} {device}")
}

/// The ring state of a server alone: it lives a minute, so memory is its place.
#[derive(Default)]
struct Memory {
    /// Ring times (Unix ms) per device, within the last minute.
    rings: HashMap<String, VecDeque<u64>>,
    by_decline: HashMap<String, RingRecord>,
    /// Decline hash by [`ring_key`].
    by_ring: HashMap<String, String>,
}

impl Memory {
    fn allow_ring(&mut self, device: &str, limit: u32, now: u64) -> bool {
        let since = now.saturating_sub(60_000);
        self.rings.retain(|_, times| {
            while times.front().is_some_and(|t| *t <= since) {
                times.pop_front();
            }
            !times.is_empty()
        });
        let times = self.rings.entry(device.to_owned()).or_default();
        if times.len() >= limit as usize {
            return false;
        }
        times.push_back(now);
        true
    }

    fn put_ring(&mut self, ring: &RingRecord, now: u64) {
        let kept = |r: &RingRecord| r.expires_at + (RING_RECORD_MS - 45_000) > now;
        self.by_decline.retain(|_, r| kept(r));
        let by_decline = &self.by_decline;
        self.by_ring.retain(|_, hash| by_decline.contains_key(hash));
        self.by_ring.insert(
            ring_key(&ring.sid, &ring.call, &ring.device),
            ring.decline_hash.clone(),
        );
        self.by_decline
            .insert(ring.decline_hash.clone(), ring.clone());
    }

    fn take_decline(&mut self, decline_hash: &str, now: u64) -> Option<RingRecord> {
        let ring = self.by_decline.remove(decline_hash)?;
        self.by_ring
            .remove(&ring_key(&ring.sid, &ring.call, &ring.device));
        (ring.expires_at > now).then_some(ring)
    }

    fn take_ring(&mut self, sid: &str, call: &str, device: &str, now: u64) -> Option<RingRecord> {
        let hash = self.by_ring.remove(&ring_key(sid, call, device))?;
        let ring = self.by_decline.remove(&hash)?;
        (ring.expires_at + (RING_RECORD_MS - 45_000) > now).then_some(ring)
    }
}

/// Registrations in an SQLite file; ring state in memory.
pub struct SqliteStore {
    pool: SqlitePool,
    memory: Mutex<Memory>,
}

fn db_error(e: sqlx::Error) -> StoreError {
    format!("push store: {e}")
}

impl SqliteStore {
    /// Opens (creating if needed) the file and brings its schema up to date.
    pub async fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite://")
            .map_err(db_error)?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // One connection: writes are serialized anyway, and each request is a few small statements.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(db_error)?;
        sqlx::migrate!("./migrations")
            .run(&pool)
            .await
            .map_err(|e| format!("push store {}: {e}", path.display()))?;
        Ok(SqliteStore {
            pool,
            memory: Mutex::new(Memory::default()),
        })
    }

    async fn vapid_key(&self, fresh: &str) -> Result<String, StoreError> {
        sqlx::query(
            "INSERT INTO push_settings (key, value) VALUES ('vapid_key', ?) ON CONFLICT DO NOTHING",
        )
        .bind(fresh)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        sqlx::query_scalar("SELECT value FROM push_settings WHERE key = 'vapid_key'")
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)
    }

    async fn register(
        &self,
        reg: &Registration,
        owner: &Owner<'_>,
        limits: RegisterLimits,
        now: u64,
    ) -> Result<Result<(), Refusal>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let now = ms(now);
        sqlx::query("DELETE FROM push_registrations WHERE expires_at <= ?")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(db_error)?;
        sqlx::query(
            "DELETE FROM push_devices WHERE device NOT IN (SELECT device FROM push_registrations)",
        )
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        let known: Option<(String, String)> =
            sqlx::query_as("SELECT secret_hash, user FROM push_devices WHERE device = ?")
                .bind(&reg.device)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        if let Some((secret_hash, user)) = &known
            && (secret_hash != owner.secret_hash || user != owner.user)
        {
            return Ok(Err(Refusal::NotOwner));
        }
        let count =
            |sql: &'static str, arg: &str| sqlx::query_scalar::<_, i64>(sql).bind(arg.to_owned());
        let exists: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM push_registrations WHERE room = ? AND device = ?",
        )
        .bind(&reg.room)
        .bind(&reg.device)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_error)?;
        if exists == 0 {
            let in_room = count(
                "SELECT COUNT(*) FROM push_registrations WHERE room = ?",
                &reg.room,
            )
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
            if in_room >= i64::from(limits.per_room) {
                return Ok(Err(Refusal::Limit("room")));
            }
            let rooms = count(
                "SELECT COUNT(*) FROM push_registrations WHERE device = ?",
                &reg.device,
            )
            .fetch_one(&mut *tx)
            .await
            .map_err(db_error)?;
            if rooms >= i64::from(limits.rooms_per_device) {
                return Ok(Err(Refusal::Limit("device")));
            }
            if !owner.user.is_empty() {
                let of_user = count(
                    "SELECT COUNT(*) FROM push_registrations r JOIN push_devices d USING (device) WHERE d.user = ?",
                    owner.user,
                )
                .fetch_one(&mut *tx)
                .await
                .map_err(db_error)?;
                if of_user >= i64::from(limits.per_user) {
                    return Ok(Err(Refusal::Limit("user")));
                }
            }
        }
        if known.is_none() {
            sqlx::query("INSERT INTO push_devices (device, secret_hash, user) VALUES (?, ?, ?)")
                .bind(&reg.device)
                .bind(owner.secret_hash)
                .bind(owner.user)
                .execute(&mut *tx)
                .await
                .map_err(db_error)?;
        }
        let subscription = serde_json::to_string(&reg.subscription).map_err(|e| e.to_string())?;
        sqlx::query(
            "INSERT INTO push_registrations (room, device, subscription, name, peer, registered_at, expires_at)
             VALUES (?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (room, device) DO UPDATE SET subscription = excluded.subscription,
               name = excluded.name, peer = excluded.peer, registered_at = excluded.registered_at,
               expires_at = excluded.expires_at",
        )
        .bind(&reg.room)
        .bind(&reg.device)
        .bind(subscription)
        .bind(&reg.name)
        .bind(&reg.peer)
        .bind(ms(reg.registered_at))
        .bind(ms(reg.expires_at))
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(Ok(()))
    }

    async fn unregister(
        &self,
        device: &str,
        owner: &Owner<'_>,
        room: Option<&str>,
    ) -> Result<Result<(), Refusal>, StoreError> {
        let mut tx = self.pool.begin().await.map_err(db_error)?;
        let known: Option<(String, String)> =
            sqlx::query_as("SELECT secret_hash, user FROM push_devices WHERE device = ?")
                .bind(device)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_error)?;
        let Some((secret_hash, user)) = known else {
            return Ok(Ok(()));
        };
        if secret_hash != owner.secret_hash || user != owner.user {
            return Ok(Err(Refusal::NotOwner));
        }
        match room {
            Some(room) => {
                sqlx::query("DELETE FROM push_registrations WHERE room = ? AND device = ?")
                    .bind(room)
                    .bind(device)
                    .execute(&mut *tx)
                    .await
            }
            None => {
                sqlx::query("DELETE FROM push_registrations WHERE device = ?")
                    .bind(device)
                    .execute(&mut *tx)
                    .await
            }
        }
        .map_err(db_error)?;
        tx.commit().await.map_err(db_error)?;
        Ok(Ok(()))
    }

    async fn registrations(&self, room: &str, now: u64) -> Result<Vec<Registration>, StoreError> {
        let rows = sqlx::query(
            "SELECT device, subscription, name, peer, registered_at, expires_at FROM push_registrations
             WHERE room = ? AND expires_at > ? ORDER BY registered_at",
        )
        .bind(room)
        .bind(ms(now))
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let subscription: String = row.get("subscription");
                Some(Registration {
                    room: room.to_owned(),
                    device: row.get("device"),
                    subscription: serde_json::from_str(&subscription).ok()?,
                    name: row.get("name"),
                    peer: row.get("peer"),
                    registered_at: u64::try_from(row.get::<i64, _>("registered_at")).ok()?,
                    expires_at: u64::try_from(row.get::<i64, _>("expires_at")).ok()?,
                })
            })
            .collect())
    }

    async fn remove(&self, room: &str, device: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM push_registrations WHERE room = ? AND device = ?")
            .bind(room)
            .bind(device)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }

    async fn touch(&self, room: &str, device: &str, expires_at: u64) -> Result<(), StoreError> {
        sqlx::query("UPDATE push_registrations SET expires_at = ? WHERE room = ? AND device = ?")
            .bind(ms(expires_at))
            .bind(room)
            .bind(device)
            .execute(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(())
    }
}

/// Unix ms as SQLite's integer.
fn ms(t: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX)
}

/// Registrations and ring state in Redis, shared by every server. Keys (prefix `p2pchat:`):
/// `push:vapid` the VAPID key; `push:dev:<device>` its secret hash and user; `push:dr:<device>` its rooms;
/// `push:reg:<room>` device → registration JSON; `push:exp:<room>` device → expiry (Unix ms);
/// `push:user:<sub>` "room device" of a user's registrations; `push:rate:<device>` its rings of the last
/// minute; `push:decl:<hash>` a ring by decline-token hash and `push:ring:<sid> <call> <device>` the same
/// ring for its cancel (both expire after a minute). Registration keys expire 30 days after their last
/// write; entries are filtered by their own expiry.
pub struct RedisStore {
    conn: ConnectionManager,
    register: redis::Script,
    unregister: redis::Script,
    remove: redis::Script,
    touch: redis::Script,
    rate: redis::Script,
    ttl_ms: u64,
}

/// Drops what expired of a device's registrations; `live(room, device)` says whether one is still there.
const LIVE: &str = r#"
local P = ARGV[1]
local now = tonumber(ARGV[2])
local function live(r, d)
  local e = tonumber(redis.call('HGET', P..'push:exp:'..r, d) or '0')
  if e > now then return true end
  redis.call('HDEL', P..'push:reg:'..r, d)
  redis.call('HDEL', P..'push:exp:'..r, d)
  return false
end
"#;

/// ARGV: prefix, now, room, device, secret hash, user, registration JSON, expires, per room, rooms per
/// device, per user, key TTL ms.
const REGISTER: &str = r#"
local room, dev, secret, user = ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local dk, drk = P..'push:dev:'..dev, P..'push:dr:'..dev
local rk, ek = P..'push:reg:'..room, P..'push:exp:'..room
for _, r in ipairs(redis.call('SMEMBERS', drk)) do
  if not live(r, dev) then redis.call('SREM', drk, r) end
end
if redis.call('SCARD', drk) == 0 then redis.call('DEL', dk) end
local d = redis.call('HMGET', dk, 'secret', 'user')
if d[1] and (d[1] ~= secret or d[2] ~= user) then return 'owner' end
if redis.call('SISMEMBER', drk, room) == 0 then
  local n = 0
  for _, other in ipairs(redis.call('HKEYS', rk)) do
    if live(room, other) then n = n + 1 else redis.call('SREM', P..'push:dr:'..other, room) end
  end
  if n >= tonumber(ARGV[9]) then return 'room' end
  if redis.call('SCARD', drk) >= tonumber(ARGV[10]) then return 'device' end
  if user ~= '' then
    local n = 0
    local uk = P..'push:user:'..user
    for _, m in ipairs(redis.call('SMEMBERS', uk)) do
      local sp = string.find(m, ' ', 1, true)
      if sp and live(string.sub(m, 1, sp - 1), string.sub(m, sp + 1)) then n = n + 1
      else redis.call('SREM', uk, m) end
    end
    if n >= tonumber(ARGV[11]) then return 'user' end
  end
end
local ttl = ARGV[12]
redis.call('HSET', dk, 'secret', secret, 'user', user)
redis.call('HSET', rk, dev, ARGV[7])
redis.call('HSET', ek, dev, ARGV[8])
redis.call('SADD', drk, room)
for _, k in ipairs({dk, drk, rk, ek}) do redis.call('PEXPIRE', k, ttl) end
if user ~= '' then
  local uk = P..'push:user:'..user
  redis.call('SADD', uk, room..' '..dev)
  redis.call('PEXPIRE', uk, ttl)
end
return 'ok'
"#;

/// ARGV: prefix, now, device, secret hash, user, room or "".
const UNREGISTER: &str = r#"
local dev = ARGV[3]
local dk, drk = P..'push:dev:'..dev, P..'push:dr:'..dev
local d = redis.call('HMGET', dk, 'secret', 'user')
if not d[1] then return 'ok' end
if d[1] ~= ARGV[4] or d[2] ~= ARGV[5] then return 'owner' end
local rooms = redis.call('SMEMBERS', drk)
if ARGV[6] ~= '' then rooms = {ARGV[6]} end
for _, r in ipairs(rooms) do
  redis.call('HDEL', P..'push:reg:'..r, dev)
  redis.call('HDEL', P..'push:exp:'..r, dev)
  redis.call('SREM', drk, r)
  if d[2] ~= '' then redis.call('SREM', P..'push:user:'..d[2], r..' '..dev) end
end
return 'ok'
"#;

/// ARGV: prefix, now, room, device.
const REMOVE: &str = r#"
local room, dev = ARGV[3], ARGV[4]
redis.call('HDEL', P..'push:reg:'..room, dev)
redis.call('HDEL', P..'push:exp:'..room, dev)
redis.call('SREM', P..'push:dr:'..dev, room)
local user = redis.call('HGET', P..'push:dev:'..dev, 'user')
if user and user ~= '' then redis.call('SREM', P..'push:user:'..user, room..' '..dev) end
return 'ok'
"#;

/// ARGV: prefix, now, room, device, expires, key TTL ms.
const TOUCH: &str = r#"
local room, dev = ARGV[3], ARGV[4]
if not live(room, dev) then return 0 end
redis.call('HSET', P..'push:exp:'..room, dev, ARGV[5])
for _, k in ipairs({P..'push:reg:'..room, P..'push:exp:'..room, P..'push:dev:'..dev, P..'push:dr:'..dev}) do
  redis.call('PEXPIRE', k, ARGV[6])
end
return 1
"#;

/// ARGV: prefix, now, device, limit, a unique member.
const RATE: &str = r#"
local k = P..'push:rate:'..ARGV[3]
redis.call('ZREMRANGEBYSCORE', k, '-inf', now - 60000)
if redis.call('ZCARD', k) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', k, now, ARGV[5])
redis.call('PEXPIRE', k, 60000)
return 1
"#;

fn redis_error(e: redis::RedisError) -> StoreError {
    format!("push store (Redis): {e}")
}

impl RedisStore {
    /// Connects to Redis at `url` (validated with the configuration).
    pub async fn connect(url: &str, ttl: Duration) -> Result<RedisStore, StoreError> {
        let client = redis::Client::open(url).map_err(redis_error)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)));
        let conn = client
            .get_connection_manager_with_config(config)
            .await
            .map_err(redis_error)?;
        let script = |body: &str| redis::Script::new(&format!("{LIVE}{body}"));
        Ok(RedisStore {
            conn,
            register: script(REGISTER),
            unregister: script(UNREGISTER),
            remove: script(REMOVE),
            touch: script(TOUCH),
            rate: script(RATE),
            ttl_ms: u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX),
        })
    }

    async fn run<T: redis::FromRedisValue>(
        &self,
        script: &redis::Script,
        now: u64,
        args: &[&str],
    ) -> Result<T, StoreError> {
        let mut invocation = script.prepare_invoke();
        invocation.arg(PREFIX).arg(now);
        for arg in args {
            invocation.arg(*arg);
        }
        let mut conn = self.conn.clone();
        invocation
            .invoke_async(&mut conn)
            .await
            .map_err(redis_error)
    }

    async fn vapid_key(&self, fresh: &str) -> Result<String, StoreError> {
        let mut conn = self.conn.clone();
        let key = format!("{PREFIX}push:vapid");
        let _: () = redis::cmd("SET")
            .arg(&key)
            .arg(fresh)
            .arg("NX")
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        redis::cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .map_err(redis_error)
    }

    async fn register(
        &self,
        reg: &Registration,
        owner: &Owner<'_>,
        limits: RegisterLimits,
        now: u64,
    ) -> Result<Result<(), Refusal>, StoreError> {
        let json = serde_json::to_string(reg).map_err(|e| e.to_string())?;
        let answer: String = self
            .run(
                &self.register,
                now,
                &[
                    &reg.room,
                    &reg.device,
                    owner.secret_hash,
                    owner.user,
                    &json,
                    &reg.expires_at.to_string(),
                    &limits.per_room.to_string(),
                    &limits.rooms_per_device.to_string(),
                    &limits.per_user.to_string(),
                    &self.ttl_ms.to_string(),
                ],
            )
            .await?;
        Ok(refusal(&answer))
    }

    async fn unregister(
        &self,
        device: &str,
        owner: &Owner<'_>,
        room: Option<&str>,
    ) -> Result<Result<(), Refusal>, StoreError> {
        let answer: String = self
            .run(
                &self.unregister,
                0,
                &[
                    device,
                    owner.secret_hash,
                    owner.user,
                    room.unwrap_or_default(),
                ],
            )
            .await?;
        Ok(refusal(&answer))
    }

    async fn registrations(&self, room: &str, now: u64) -> Result<Vec<Registration>, StoreError> {
        let mut conn = self.conn.clone();
        let (regs, exps): (HashMap<String, String>, HashMap<String, u64>) = redis::pipe()
            .hgetall(format!("{PREFIX}push:reg:{room}"))
            .hgetall(format!("{PREFIX}push:exp:{room}"))
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        let mut out: Vec<Registration> = regs
            .into_iter()
            .filter_map(|(device, json)| {
                let expires_at = *exps.get(&device)?;
                let mut reg: Registration = serde_json::from_str(&json).ok()?;
                reg.expires_at = expires_at;
                (expires_at > now && reg.device == device).then_some(reg)
            })
            .collect();
        out.sort_by_key(|r| r.registered_at);
        Ok(out)
    }

    async fn remove(&self, room: &str, device: &str) -> Result<(), StoreError> {
        let _: String = self.run(&self.remove, 0, &[room, device]).await?;
        Ok(())
    }

    async fn touch(&self, room: &str, device: &str, expires_at: u64) -> Result<(), StoreError> {
        let _: i64 = self
            .run(
                &self.touch,
                crate::push::now_ms(),
                &[
                    room,
                    device,
                    &expires_at.to_string(),
                    &self.ttl_ms.to_string(),
                ],
            )
            .await?;
        Ok(())
    }

    async fn allow_ring(&self, device: &str, limit: u32, now: u64) -> Result<bool, StoreError> {
        let member = crate::hub::random_id();
        let allowed: i64 = self
            .run(&self.rate, now, &[device, &limit.to_string(), &member])
            .await?;
        Ok(allowed == 1)
    }

    async fn put_ring(&self, ring: &RingRecord) -> Result<(), StoreError> {
        let json = serde_json::to_string(ring).map_err(|e| e.to_string())?;
        let mut conn = self.conn.clone();
        redis::pipe()
            .cmd("SET")
            .arg(format!("{PREFIX}push:decl:{}", ring.decline_hash))
            .arg(&json)
            .arg("PX")
            .arg(RING_RECORD_MS)
            .ignore()
            .cmd("SET")
            .arg(format!(
                "{PREFIX}push:ring:{}",
                ring_key(&ring.sid, &ring.call, &ring.device)
            ))
            .arg(&json)
            .arg("PX")
            .arg(RING_RECORD_MS)
            .ignore()
            .query_async::<()>(&mut conn)
            .await
            .map_err(redis_error)
    }

    async fn take_decline(&self, decline_hash: &str) -> Result<Option<RingRecord>, StoreError> {
        let mut conn = self.conn.clone();
        let json: Option<String> = redis::cmd("GETDEL")
            .arg(format!("{PREFIX}push:decl:{decline_hash}"))
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        let ring = json.and_then(|j| serde_json::from_str::<RingRecord>(&j).ok());
        // Only the ring's own decline is valid within its 45 s; the key lives a little longer for cancels.
        Ok(ring.filter(|r| r.expires_at > crate::push::now_ms()))
    }

    async fn take_ring(
        &self,
        sid: &str,
        call: &str,
        device: &str,
    ) -> Result<Option<RingRecord>, StoreError> {
        let mut conn = self.conn.clone();
        let json: Option<String> = redis::cmd("GETDEL")
            .arg(format!("{PREFIX}push:ring:{}", ring_key(sid, call, device)))
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        let Some(ring) = json.and_then(|j| serde_json::from_str::<RingRecord>(&j).ok()) else {
            return Ok(None);
        };
        let _: () = redis::cmd("DEL")
            .arg(format!("{PREFIX}push:decl:{}", ring.decline_hash))
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        Ok(Some(ring))
    }

    async fn room_peers(&self, room: &str) -> Result<Vec<String>, StoreError> {
        let mut conn = self.conn.clone();
        redis::cmd("HKEYS")
            .arg(format!("{PREFIX}r:{room}"))
            .query_async(&mut conn)
            .await
            .map_err(redis_error)
    }
}

fn refusal(answer: &str) -> Result<(), Refusal> {
    match answer {
        "ok" => Ok(()),
        "owner" => Err(Refusal::NotOwner),
        "room" => Err(Refusal::Limit("room")),
        "device" => Err(Refusal::Limit("device")),
        _ => Err(Refusal::Limit("user")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(sid: &str, expires_at: u64) -> RingRecord {
        RingRecord {
            room: "r".into(),
            device: "device-1".into(),
            call: "c".into(),
            sid: sid.into(),
            caller: "Alice".into(),
            caller_peer: "p".into(),
            media: vec!["audio".into()],
            expires_at,
            decline_hash: format!("h-{sid}"),
        }
    }

    #[test]
    fn rings_per_device_slide_over_a_minute() {
        let mut memory = Memory::default();
        assert!((0..6).all(|i| memory.allow_ring("d", 6, 1_000 + i)));
        assert!(!memory.allow_ring("d", 6, 2_000));
        assert!(memory.allow_ring("other", 6, 2_000));
        assert!(!memory.allow_ring("d", 6, 60_999));
        assert!(
            memory.allow_ring("d", 6, 61_001),
            "the first ring left the window"
        );
    }

    #[test]
    fn a_decline_token_works_once_and_ends_the_cancel() {
        let mut memory = Memory::default();
        memory.put_ring(&ring("s1", 45_000), 0);
        assert!(memory.take_decline("h-s1", 1_000).is_some());
        assert!(memory.take_decline("h-s1", 1_000).is_none());
        assert!(memory.take_ring("s1", "c", "device-1", 1_000).is_none());
        memory.put_ring(&ring("s2", 45_000), 0);
        assert!(memory.take_decline("h-s2", 46_000).is_none(), "expired");
        memory.put_ring(&ring("s3", 45_000), 0);
        assert!(memory.take_ring("s3", "c", "device-1", 50_000).is_some());
        assert!(memory.take_decline("h-s3", 1_000).is_none());
    }
}
