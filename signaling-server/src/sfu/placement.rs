//! Which Janus instance and videoroom carry a call, and who is in it: in this server's memory, or with
//! `--redis-url` in Redis, so every server places the same (room, call) on the same videoroom. Each
//! operation is atomic (a lock here, a Lua script there): the first `sfu-join` of a call picks the least
//! loaded instance (participants placed on it), the last leave forgets the call, and a lost instance's
//! call is forgotten only if it still sits there.
//!
//! Redis keys (prefix `p2pchat:sfu:`): `call:<room>:<call>` the placement (hash: instance, janus_room,
//! secret), `members:<room>:<call>` its participants (hash: session id → token), and the load: each
//! server's own participants per instance in `load:<server>` (hash: API URL → count), rewritten from what
//! the server holds every health interval and expiring after three, listed in `servers` (set). A new call
//! goes where the sum over the servers' live `load:` keys is lowest, so the participants of a server that
//! died stop counting once its key expires.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use crate::cluster::SESSION_KEY_PREFIX;
use crate::hub::random_id;

/// What a new placement would be, should the call have none yet.
pub struct Candidate<'a> {
    pub janus_room: u64,
    pub secret: &'a str,
    pub token: &'a str,
}

/// A participant out of a call.
#[derive(Debug, PartialEq, Eq)]
pub struct Left {
    /// It was the last one: the call is forgotten.
    pub last: bool,
    /// Tokens of members whose session had ended without leaving, taken out with it.
    pub ended_tokens: Vec<String>,
}

/// Where the call is and this participant's token (its own from an earlier join, if it had one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    pub instance: String,
    pub janus_room: u64,
    pub secret: String,
    pub token: String,
}

pub enum Placements {
    Local(Mutex<HashMap<(String, String), LocalCall>>),
    Redis(Box<RedisPlacements>),
}

pub struct LocalCall {
    instance: String,
    janus_room: u64,
    secret: String,
    members: HashMap<String, String>,
}

pub struct RedisPlacements {
    client: redis::Client,
    conn: OnceCell<ConnectionManager>,
    /// This server's `load:` key.
    load_key: String,
    /// How long this server's load counts once it stops refreshing them.
    load_ttl: Duration,
    join: Script,
    leave: Script,
    lost: Script,
}

const PREFIX: &str = "p2pchat:sfu:";

/// KEYS: call, members, servers, this server's load. ARGV: sid, token, janus_room, secret, the load
/// keys' prefix, the load TTL in ms, then the instances that answer. A new participant counts on this
/// server's load at once (the next rewrite confirms it), so placements in between see it.
const JOIN: &str = r#"
local placed = redis.call('HMGET', KEYS[1], 'instance', 'janus_room', 'secret')
if not placed[1] then
  local loads = {}
  for _, server in ipairs(redis.call('SMEMBERS', KEYS[3])) do
    local key = ARGV[5] .. server
    if redis.call('EXISTS', key) == 0 then
      redis.call('SREM', KEYS[3], server)
    else
      for i = 7, #ARGV do
        loads[i] = (loads[i] or 0) + tonumber(redis.call('HGET', key, ARGV[i]) or '0')
      end
    end
  end
  local best, best_load = nil, nil
  for i = 7, #ARGV do
    local load = loads[i] or 0
    if best == nil or load < best_load then best, best_load = ARGV[i], load end
  end
  if best == nil then return nil end
  redis.call('HSET', KEYS[1], 'instance', best, 'janus_room', ARGV[3], 'secret', ARGV[4])
  placed = {best, ARGV[3], ARGV[4]}
end
local token = redis.call('HGET', KEYS[2], ARGV[1])
if not token then
  token = ARGV[2]
  redis.call('HSET', KEYS[2], ARGV[1], token)
  redis.call('HINCRBY', KEYS[4], placed[1], 1)
  redis.call('PEXPIRE', KEYS[4], ARGV[6])
  redis.call('SADD', KEYS[3], string.sub(KEYS[4], #ARGV[5] + 1))
end
return {placed[1], placed[2], placed[3], token}
"#;

/// KEYS: call, members. ARGV: sid, the session records' key prefix. Returns `{-1, {}}` (not a member), or
/// `{0 (others remain) | 1 (last out), {tokens of the members taken out with it}}`: members whose
/// session ended without leaving (their server died and they did not resume elsewhere) go too, so the
/// last one out still destroys the videoroom. A member's session record exists from before its first
/// `sfu-join` (a session joins the room, through Redis, before it may ask).
const LEAVE: &str = r#"
if redis.call('HDEL', KEYS[2], ARGV[1]) == 0 then return {-1, {}} end
local gone = {}
local members = redis.call('HGETALL', KEYS[2])
for i = 1, #members, 2 do
  if redis.call('EXISTS', ARGV[2] .. members[i]) == 0 then
    redis.call('HDEL', KEYS[2], members[i])
    table.insert(gone, members[i + 1])
  end
end
if redis.call('HLEN', KEYS[2]) > 0 then return {0, gone} end
redis.call('DEL', KEYS[1])
return {1, gone}
"#;

/// KEYS: call, members. ARGV: instance, janus_room. Forgets the call if it is still there.
const LOST: &str = r#"
local placed = redis.call('HMGET', KEYS[1], 'instance', 'janus_room')
if placed[1] ~= ARGV[1] or placed[2] ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
return 1
"#;

impl Placements {
    pub fn local() -> Placements {
        Placements::Local(Mutex::new(HashMap::new()))
    }

    /// Placements shared through Redis; this server's load counts expire `load_ttl` after it last
    /// refreshed them ([`Placements::refresh_load`]).
    pub fn redis(url: &str, load_ttl: Duration) -> Result<Placements, String> {
        let client = redis::Client::open(url).map_err(|e| format!("--redis-url: {e}"))?;
        Ok(Placements::Redis(Box::new(RedisPlacements {
            client,
            conn: OnceCell::new(),
            load_key: format!("{PREFIX}load:{}", random_id()),
            load_ttl,
            join: Script::new(JOIN),
            leave: Script::new(LEAVE),
            lost: Script::new(LOST),
        })))
    }

    /// Places `sid` in the call: on its current placement, else on the least loaded of `instances`
    /// (`None` if there is none). Joining again returns the same token.
    pub async fn join(
        &self,
        room: &str,
        call: &str,
        sid: &str,
        candidate: &Candidate<'_>,
        instances: &[&str],
    ) -> Result<Option<Placed>, String> {
        match self {
            Placements::Local(calls) => {
                let mut calls = lock(calls);
                let key = (room.to_owned(), call.to_owned());
                if !calls.contains_key(&key) {
                    let Some(best) = instances
                        .iter()
                        .min_by_key(|i| local_load(&calls, i))
                        .map(|i| i.to_string())
                    else {
                        return Ok(None);
                    };
                    let placed = LocalCall {
                        instance: best,
                        janus_room: candidate.janus_room,
                        secret: candidate.secret.to_owned(),
                        members: HashMap::new(),
                    };
                    calls.insert(key.clone(), placed);
                }
                let Some(placed) = calls.get_mut(&key) else {
                    return Ok(None);
                };
                let token = placed
                    .members
                    .entry(sid.to_owned())
                    .or_insert_with(|| candidate.token.to_owned())
                    .clone();
                Ok(Some(Placed {
                    instance: placed.instance.clone(),
                    janus_room: placed.janus_room,
                    secret: placed.secret.clone(),
                    token,
                }))
            }
            Placements::Redis(redis) => {
                let mut invocation = redis.join.prepare_invoke();
                invocation
                    .key(call_keys(room, call).as_slice())
                    .key(format!("{PREFIX}servers"))
                    .key(&redis.load_key);
                invocation
                    .arg(sid)
                    .arg(candidate.token)
                    .arg(candidate.janus_room)
                    .arg(candidate.secret)
                    .arg(format!("{PREFIX}load:"))
                    .arg(redis.ttl_ms())
                    .arg(instances);
                let reply: Option<(String, u64, String, String)> = invocation
                    .invoke_async(&mut redis.conn().await?)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(reply.map(|(instance, janus_room, secret, token)| Placed {
                    instance,
                    janus_room,
                    secret,
                    token,
                }))
            }
        }
    }

    /// Takes `sid` out of the call: `None` if it was not in it, else whether it was the last one (the
    /// call is forgotten) and the tokens of members whose session ended meanwhile without leaving (taken
    /// out with it; with Redis only).
    pub async fn leave(&self, room: &str, call: &str, sid: &str) -> Result<Option<Left>, String> {
        match self {
            Placements::Local(calls) => {
                let mut calls = lock(calls);
                let key = (room.to_owned(), call.to_owned());
                let Some(placed) = calls.get_mut(&key) else {
                    return Ok(None);
                };
                if placed.members.remove(sid).is_none() {
                    return Ok(None);
                }
                let last = placed.members.is_empty();
                if last {
                    calls.remove(&key);
                }
                Ok(Some(Left {
                    last,
                    ended_tokens: Vec::new(),
                }))
            }
            Placements::Redis(redis) => {
                let (outcome, ended_tokens): (i64, Vec<String>) = redis
                    .leave
                    .key(call_keys(room, call).as_slice())
                    .arg(sid)
                    .arg(SESSION_KEY_PREFIX)
                    .invoke_async(&mut redis.conn().await?)
                    .await
                    .map_err(|e| e.to_string())?;
                if outcome < 0 {
                    return Ok(None);
                }
                Ok(Some(Left {
                    last: outcome == 1,
                    ended_tokens,
                }))
            }
        }
    }

    /// Forgets the call if it still sits on videoroom `janus_room` of `instance` (which was lost).
    pub async fn lost(
        &self,
        room: &str,
        call: &str,
        instance: &str,
        janus_room: u64,
    ) -> Result<(), String> {
        match self {
            Placements::Local(calls) => {
                let mut calls = lock(calls);
                let key = (room.to_owned(), call.to_owned());
                if calls
                    .get(&key)
                    .is_some_and(|c| c.instance == instance && c.janus_room == janus_room)
                {
                    calls.remove(&key);
                }
                Ok(())
            }
            Placements::Redis(redis) => {
                let _: i64 = redis
                    .lost
                    .key(call_keys(room, call).as_slice())
                    .arg(instance)
                    .arg(janus_room)
                    .invoke_async(&mut redis.conn().await?)
                    .await
                    .map_err(|e| e.to_string())?;
                Ok(())
            }
        }
    }

    /// With Redis: replaces this server's load counts with `load` (its participants per instance API
    /// URL) and keeps them for the load TTL. Called every health interval; a server that stops calling
    /// it stops counting.
    pub async fn refresh_load(&self, load: &HashMap<&str, usize>) -> Result<(), String> {
        let Placements::Redis(redis) = self else {
            return Ok(());
        };
        let mut pipe = redis::pipe();
        pipe.atomic().del(&redis.load_key).ignore();
        if !load.is_empty() {
            let counts: Vec<(&str, usize)> = load.iter().map(|(i, n)| (*i, *n)).collect();
            pipe.hset_multiple(&redis.load_key, &counts)
                .ignore()
                .pexpire(&redis.load_key, redis.ttl_ms())
                .ignore()
                .sadd(format!("{PREFIX}servers"), redis.server_id())
                .ignore();
        }
        pipe.query_async::<()>(&mut redis.conn().await?)
            .await
            .map_err(|e| e.to_string())
    }

    /// With Redis: takes this server's load counts away at once (it is shutting down).
    pub async fn clear_load(&self) -> Result<(), String> {
        self.refresh_load(&HashMap::new()).await
    }
}

impl RedisPlacements {
    fn ttl_ms(&self) -> i64 {
        i64::try_from(self.load_ttl.as_millis()).unwrap_or(i64::MAX)
    }

    fn server_id(&self) -> &str {
        &self.load_key[PREFIX.len() + "load:".len()..]
    }

    async fn conn(&self) -> Result<ConnectionManager, String> {
        let conn = self
            .conn
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(std::time::Duration::from_secs(2)))
                    .set_response_timeout(Some(std::time::Duration::from_secs(2)));
                self.client.get_connection_manager_with_config(config).await
            })
            .await
            .map_err(|e| format!("Redis: {e}"))?;
        Ok(conn.clone())
    }
}

fn call_keys(room: &str, call: &str) -> [String; 2] {
    [
        format!("{PREFIX}call:{room}:{call}"),
        format!("{PREFIX}members:{room}:{call}"),
    ]
}

fn local_load(calls: &HashMap<(String, String), LocalCall>, instance: &str) -> usize {
    calls
        .values()
        .filter(|c| c.instance == instance)
        .map(|c| c.members.len())
        .sum()
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate<'a>(token: &'a str, janus_room: u64) -> Candidate<'a> {
        Candidate {
            janus_room,
            secret: "s",
            token,
        }
    }

    /// The least loaded instance takes a new call; a call stays where it is; the last leave forgets it.
    #[tokio::test]
    async fn local_placement_balances_keeps_and_forgets_calls() {
        let p = Placements::local();
        let both = ["a", "b"];
        let one = p
            .join("r", "c1", "s1", &candidate("t1", 1), &both)
            .await
            .unwrap()
            .unwrap();
        let two = p
            .join("r", "c1", "s2", &candidate("t2", 2), &both)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((one.instance.as_str(), one.janus_room), ("a", 1));
        assert_eq!(
            (two.instance.as_str(), two.janus_room, two.token.as_str()),
            ("a", 1, "t2")
        );
        let again = p
            .join("r", "c1", "s1", &candidate("t9", 9), &both)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.token, "t1", "joining again keeps the token");
        let other = p
            .join("r", "c2", "s3", &candidate("t3", 3), &both)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(other.instance, "b", "the less loaded instance");
        let left = |last| {
            Some(Left {
                last,
                ended_tokens: Vec::new(),
            })
        };
        assert_eq!(p.leave("r", "c1", "s1").await.unwrap(), left(false));
        assert_eq!(p.leave("r", "c1", "s1").await.unwrap(), None);
        assert_eq!(p.leave("r", "c1", "s2").await.unwrap(), left(true));
        assert!(
            p.join("r", "c4", "s4", &candidate("t4", 4), &[])
                .await
                .unwrap()
                .is_none()
        );
        p.lost("r", "c2", "b", 99).await.unwrap();
        assert_eq!(
            p.leave("r", "c2", "s3").await.unwrap(),
            left(true),
            "another room id: kept"
        );
    }
}
