//! The Lua scripts that keep rooms, sessions and delivery consistent across instances. Each runs
//! atomically in Redis, which is what makes room capacity, resume claims and "deliver to the current
//! owner" race-free between instances. Keys are built inside the scripts from the prefix in `ARGV[1]`, so
//! this needs one Redis (or a primary with replicas), not Redis Cluster.
//!
//! Keys (prefix `p2pchat:`): `node:<id>` heartbeat with a TTL; `nodes` every instance seen; `ns:<id>` the
//! sessions an instance owns; `s:<sid>` a session record (peer, name, user, node, epoch, SHA-256 of the resume token);
//! `sr:<sid>` its rooms; `r:<room>` members (peer → sid); `buf:<sid>` its replay buffer (frame texts,
//! capped); `pend:<sid>` events for it that found no instance listening; `orphans` sessions of dead
//! instances by the Redis time their grace ends.

use redis::Script;

/// Helpers every script starts with.
const PRELUDE: &str = r#"
local P = ARGV[1]
-- Publishes `msg` to the instance owning session `sid` (unless it is `skip`); when no instance listens
-- there (it died, or its subscription is reconnecting) the event waits in the session's pending list.
local function deliver(sid, msg, skip)
  local node = redis.call('HGET', P..'s:'..sid, 'node')
  if not node or node == skip then return 0 end
  if redis.call('PUBLISH', P..'ch:'..node, sid..' '..msg) == 0 then
    local key = P..'pend:'..sid
    redis.call('RPUSH', key, msg)
    redis.call('LTRIM', key, -256, -1)
  end
  return 1
end
-- Does nothing if the session is not in the room (a leave sent again after Redis was unreachable may
-- have been carried out already): the others hear of a leave once.
local function leave_room(room, peer, sid, skip)
  local rk = P..'r:'..room
  redis.call('SREM', P..'sr:'..sid, room)
  if redis.call('HGET', rk, peer) ~= sid then return end
  redis.call('HDEL', rk, peer)
  local msg = '{"t":"pl","room":"'..room..'","peer":"'..peer..'"}'
  for _, other in ipairs(redis.call('HVALS', rk)) do deliver(other, msg, skip) end
end
local function end_session(sid, skip)
  local sk = P..'s:'..sid
  local peer = redis.call('HGET', sk, 'peer')
  local owner = redis.call('HGET', sk, 'node')
  if peer then
    for _, room in ipairs(redis.call('SMEMBERS', P..'sr:'..sid)) do leave_room(room, peer, sid, skip) end
  end
  redis.call('DEL', sk, P..'sr:'..sid, P..'buf:'..sid, P..'pend:'..sid)
  if owner then redis.call('SREM', P..'ns:'..owner, sid) end
  redis.call('ZREM', P..'orphans', sid)
end
"#;

/// ARGV: prefix, room, to peer, event. → `unknown_peer` | `{'ok', sid, owner node}` (the sender's server
/// publishes the next signals to that node's channel itself).
const RELAY: &str = r#"
local sid = redis.call('HGET', P..'r:'..ARGV[2], ARGV[3])
if not sid then return 'unknown_peer' end
deliver(sid, ARGV[4], '')
return {'ok', sid, redis.call('HGET', P..'s:'..sid, 'node') or ''}
"#;

/// ARGV: prefix, room, peer, sid, capacity, peer-joined event, this node. → `{'room_full'}`, or
/// `{'new'|'again'}` and the joiner's server gets a `joined` event (`jd`) with the other members through
/// its channel, so nothing about the room published after this can reach it first. Members on the
/// joiner's server are told by that server.
const JOIN: &str = r#"
local rk = P..'r:'..ARGV[2]
local status = 'again'
if redis.call('HEXISTS', rk, ARGV[3]) == 0 then
  if redis.call('HLEN', rk) >= tonumber(ARGV[5]) then return {'room_full'} end
  status = 'new'
end
local peers = {}
local members = redis.call('HGETALL', rk)
for i = 1, #members, 2 do
  local peer, sid = members[i], members[i + 1]
  if peer ~= ARGV[3] then
    table.insert(peers, peer)
    table.insert(peers, redis.call('HGET', P..'s:'..sid, 'name') or '')
    if status == 'new' then deliver(sid, ARGV[6], ARGV[7]) end
  end
end
if status == 'new' then
  redis.call('HSET', rk, ARGV[3], ARGV[4])
  redis.call('SADD', P..'sr:'..ARGV[4], ARGV[2])
end
deliver(ARGV[4], cjson.encode({t = 'jd', room = ARGV[2], peers = peers}), '')
return {status}
"#;

/// ARGV: prefix, sid, event, this node: passes on an event that reached an instance which no longer owns
/// the session (it moved while the event was in flight).
const FORWARD: &str = r#"
return deliver(ARGV[2], ARGV[3], ARGV[4])
"#;

/// ARGV: prefix, room, peer, sid, this node.
const LEAVE: &str = r#"
leave_room(ARGV[2], ARGV[3], ARGV[4], ARGV[5])
return 1
"#;

/// ARGV: prefix, sid, this node. Ends the session if this node still owns it (not if another took it over).
const END: &str = r#"
if redis.call('HGET', P..'s:'..ARGV[2], 'node') ~= ARGV[3] then return 0 end
end_session(ARGV[2], ARGV[3])
return 1
"#;

/// ARGV: prefix, sid, user, resume token hash, new resume token hash, this node. Compare-and-set of the
/// resume token (as SHA-256, see `token_hash`): only one of two racing resumes can present the current one. → `{'fresh'}` or
/// `{'ok', peer, name, old node, old node alive (0/1), room...}`.
const CLAIM: &str = r#"
local sk = P..'s:'..ARGV[2]
local r = redis.call('HMGET', sk, 'peer', 'name', 'user', 'token', 'node')
if not r[1] or r[3] ~= ARGV[3] or ARGV[4] == '' or r[4] ~= ARGV[4] then return {'fresh'} end
redis.call('HINCRBY', sk, 'epoch', 1)
redis.call('HSET', sk, 'token', ARGV[5], 'node', ARGV[6])
redis.call('SREM', P..'ns:'..r[5], ARGV[2])
redis.call('SADD', P..'ns:'..ARGV[6], ARGV[2])
redis.call('ZREM', P..'orphans', ARGV[2])
local out = {'ok', r[1], r[2], r[5], tostring(redis.call('EXISTS', P..'node:'..r[5]))}
for _, room in ipairs(redis.call('SMEMBERS', P..'sr:'..ARGV[2])) do table.insert(out, room) end
return out
"#;

/// ARGV: prefix, sid. → `{buffered frames, pending events}`; the pending list is emptied.
const LOAD: &str = r#"
local pk = P..'pend:'..ARGV[2]
local out = {redis.call('LRANGE', P..'buf:'..ARGV[2], 0, -1), redis.call('LRANGE', pk, 0, -1)}
redis.call('DEL', pk)
return out
"#;

/// ARGV: prefix, resume grace in ms. Instances whose heartbeat expired (by Redis's clock) have their
/// sessions start the grace period; sessions whose grace ended leave their rooms. → sessions ended.
const REAP: &str = r#"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, node in ipairs(redis.call('SMEMBERS', P..'nodes')) do
  if redis.call('EXISTS', P..'node:'..node) == 0 then
    for _, sid in ipairs(redis.call('SMEMBERS', P..'ns:'..node)) do
      redis.call('ZADD', P..'orphans', 'NX', now + tonumber(ARGV[2]), sid)
    end
    redis.call('DEL', P..'ns:'..node)
    redis.call('SREM', P..'nodes', node)
  end
end
local ended = 0
for _, sid in ipairs(redis.call('ZRANGEBYSCORE', P..'orphans', '-inf', now)) do
  local owner = redis.call('HGET', P..'s:'..sid, 'node')
  if owner and redis.call('EXISTS', P..'node:'..owner) == 1 then
    redis.call('ZREM', P..'orphans', sid)
  else
    end_session(sid, '')
    ended = ended + 1
  end
end
return ended
"#;

/// One script: its source (for `SCRIPT LOAD` after Redis restarted) and SHA1 (for `EVALSHA`).
pub struct Lua {
    pub code: String,
    pub sha: String,
}

pub struct Scripts {
    pub relay: Lua,
    pub forward: Lua,
    pub join: Lua,
    pub leave: Lua,
    pub end: Lua,
    pub claim: Lua,
    pub load: Lua,
    pub reap: Lua,
}

impl Scripts {
    pub fn new() -> Scripts {
        let lua = |body: &str| {
            let code = format!("{PRELUDE}{body}");
            let sha = Script::new(&code).get_hash().to_owned();
            Lua { code, sha }
        };
        Scripts {
            relay: lua(RELAY),
            forward: lua(FORWARD),
            join: lua(JOIN),
            leave: lua(LEAVE),
            end: lua(END),
            claim: lua(CLAIM),
            load: lua(LOAD),
            reap: lua(REAP),
        }
    }

    pub fn all(&self) -> [&Lua; 8] {
        [
            &self.relay,
            &self.forward,
            &self.join,
            &self.leave,
            &self.end,
            &self.claim,
            &self.load,
            &self.reap,
        ]
    }
}
