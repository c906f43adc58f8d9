//! Several instances behind one address, sharing rooms and sessions through Redis (`--redis-url`).
//!
//! Each instance owns the sessions whose client is connected to it: it assigns their `seq`, keeps their
//! ring (as without Redis) and mirrors every frame to a capped list in Redis, so another instance can
//! replay them. Redis holds who is in which room (peer → session), each session's record (owner instance,
//! epoch, resume token, rooms) and one pub/sub channel per instance. A `signal` to a peer on this instance
//! is delivered in memory; to a peer elsewhere it goes through a script that finds the owner and publishes
//! to its channel, so delivery follows a session that moved. Operations on Redis go through one ordered
//! queue, sent as pipelines, so what one client does reaches Redis in the order it did it.
//!
//! docs/operations.md ("Several servers (Redis)", "Failures and what they can lose") describes failures and
//! what each can lose.

mod scripts;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError, RedisResult, ServerErrorKind, Value};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::RequestError;
use crate::hub::Hub;
use crate::metrics::Metrics;
use crate::session::{Session, gauge_delta};
use scripts::{Lua, Scripts};

/// Every key and channel starts with this.
const PREFIX: &str = "p2pchat:";

/// Longest a resume waits for the previous owner to hand a session over (flush its frames to Redis).
const TAKEOVER_TIMEOUT: Duration = Duration::from_secs(3);

/// Most queued operations sent to Redis in one pipeline.
const BATCH: usize = 1024;

/// What one instance tells another about a session it owns; on the wire `"<session id> <json>"`.
#[derive(Debug)]
pub enum Event {
    Signal {
        room: String,
        from: String,
        data: Box<RawValue>,
        /// Unix time in µs when the sender's instance received it, for the cross-instance latency.
        at: u64,
    },
    PeerJoined {
        room: String,
        peer: String,
        name: String,
    },
    PeerLeft {
        room: String,
        peer: String,
    },
    /// This server's session joined `room`, whose other members are `peers` (peer id, name).
    Joined {
        room: String,
        peers: Vec<(String, String)>,
    },
    /// Another instance resumed this session: close its connection and hand it over.
    Take {
        by: String,
    },
    /// Reply to `Take`: every frame of the session is in Redis.
    Released,
}

/// The JSON form of [`Event`] (flat, so `data` stays raw JSON).
#[derive(Serialize, Deserialize)]
struct Wire<'a> {
    t: &'a str,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    room: Option<&'a str>,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    peer: Option<&'a str>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    from: Option<&'a str>,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    data: Option<&'a RawValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    at: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none", borrow)]
    by: Option<&'a str>,
    /// Of `jd`: peer, name, peer, name… (Lua's JSON encoder writes an empty list as `{}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    peers: Option<serde_json::Value>,
}

impl Wire<'_> {
    fn empty(t: &str) -> Wire<'_> {
        Wire {
            t,
            room: None,
            peer: None,
            name: None,
            from: None,
            data: None,
            at: None,
            by: None,
            peers: None,
        }
    }
}

impl Event {
    pub fn encode(&self) -> String {
        let wire = match self {
            Event::Signal {
                room,
                from,
                data,
                at,
            } => Wire {
                room: Some(room),
                from: Some(from),
                data: Some(data),
                at: Some(*at),
                ..Wire::empty("sig")
            },
            Event::PeerJoined { room, peer, name } => Wire {
                room: Some(room),
                peer: Some(peer),
                name: Some(name.clone()),
                ..Wire::empty("pj")
            },
            Event::PeerLeft { room, peer } => Wire {
                room: Some(room),
                peer: Some(peer),
                ..Wire::empty("pl")
            },
            Event::Joined { room, peers } => Wire {
                room: Some(room),
                peers: Some(
                    peers
                        .iter()
                        .flat_map(|(peer, name)| [peer.clone(), name.clone()])
                        .collect(),
                ),
                ..Wire::empty("jd")
            },
            Event::Take { by } => Wire {
                by: Some(by),
                ..Wire::empty("take")
            },
            Event::Released => Wire::empty("rel"),
        };
        serde_json::to_string(&wire).unwrap_or_default()
    }

    pub fn decode(text: &str) -> Option<Event> {
        let w: Wire = serde_json::from_str(text).ok()?;
        let s = |v: Option<&str>| v.map(str::to_owned);
        Some(match w.t {
            "sig" => Event::Signal {
                room: s(w.room)?,
                from: s(w.from)?,
                data: w.data?.to_owned(),
                at: w.at.unwrap_or(0),
            },
            "pj" => Event::PeerJoined {
                room: s(w.room)?,
                peer: s(w.peer)?,
                name: w.name.unwrap_or_default(),
            },
            "pl" => Event::PeerLeft {
                room: s(w.room)?,
                peer: s(w.peer)?,
            },
            "jd" => {
                let flat: Vec<String> = match w.peers {
                    Some(serde_json::Value::Array(items)) => items
                        .into_iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect(),
                    _ => Vec::new(),
                };
                Event::Joined {
                    room: s(w.room)?,
                    peers: flat
                        .chunks(2)
                        .filter_map(|pair| match pair {
                            [peer, name] => Some((peer.clone(), name.clone())),
                            _ => None,
                        })
                        .collect(),
                }
            }
            "take" => Event::Take { by: s(w.by)? },
            "rel" => Event::Released,
            _ => return None,
        })
    }
}

/// Current Unix time in µs.
pub fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// One change to send to Redis, in order.
pub enum Op {
    /// A new session's record.
    Register {
        sid: Arc<str>,
        peer: Arc<str>,
        name: Box<str>,
        user: Box<str>,
        token: Arc<str>,
    },
    /// A frame pushed to a session's ring, for replay elsewhere.
    Mirror {
        sid: Arc<str>,
        text: Utf8Bytes,
        /// Frames the ring held after this one was pushed: Redis keeps as many, so its copy is bounded
        /// by the ring's byte limit too, not only by its frame count.
        keep: usize,
    },
    Join {
        session: Arc<Session>,
        room: Arc<str>,
        announce: String,
    },
    Leave {
        sid: Arc<str>,
        peer: Arc<str>,
        room: Arc<str>,
    },
    End {
        sid: Arc<str>,
    },
    /// A signal to a peer that is not on this instance.
    Relay {
        from: Arc<Session>,
        room: Box<str>,
        to: Box<str>,
        event: String,
    },
    /// An event for a session that moved on.
    Forward {
        sid: Arc<str>,
        event: String,
    },
    /// Tells instance `to` that session `sid` is handed over (after its mirrored frames, by the order).
    Released {
        sid: Arc<str>,
        to: String,
    },
    /// Resolves once everything queued before it reached Redis.
    Barrier(oneshot::Sender<()>),
}

impl Op {
    /// Bytes of relayed data this operation holds while it waits for Redis.
    fn held_bytes(&self) -> usize {
        match self {
            Op::Relay { event, .. } | Op::Forward { event, .. } => event.len(),
            _ => 0,
        }
    }
}

/// What a successful resume claim found.
pub struct Claim {
    pub peer: String,
    pub name: String,
    pub old_node: String,
    pub old_node_alive: bool,
    pub rooms: Vec<String>,
}

/// A session's frames and waiting events as Redis kept them.
pub struct Stored {
    /// Frame texts, oldest first (each carries its `seq`).
    pub frames: Vec<String>,
    /// Events that arrived while no instance listened for the session.
    pub pending: Vec<Event>,
}

pub struct Cluster {
    /// This instance's id (random per process).
    pub node: Arc<str>,
    client: redis::Client,
    conn: ConnectionManager,
    ops: mpsc::UnboundedSender<Op>,
    scripts: Scripts,
    subscribed: AtomicBool,
    heartbeat_ok: AtomicBool,
    /// Resumes waiting for a previous owner's `Released`, by session id.
    waiters: Mutex<HashMap<String, oneshot::Sender<()>>>,
    ring_frames: usize,
    room_capacity: usize,
    node_ttl: Duration,
    grace: Duration,
    hub: Weak<Hub>,
    metrics: Arc<Metrics>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Leaves and ends that failed while Redis was unreachable, sent again after the next heartbeat.
    deferred: Mutex<Vec<Op>>,
}

/// Settings from the configuration.
pub struct ClusterConfig<'a> {
    pub url: &'a str,
    pub node_ttl: Duration,
    pub grace: Duration,
    pub ring_frames: usize,
    pub room_capacity: usize,
}

impl Cluster {
    /// Connects to Redis, registers this instance and starts its tasks (operation queue, subscription,
    /// heartbeat). Fails if Redis cannot be reached now; later outages are survived.
    pub async fn start(
        config: ClusterConfig<'_>,
        node: Arc<str>,
        hub: &Arc<Hub>,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Cluster>, String> {
        let unreachable = |e: RedisError| format!("cannot reach Redis at --redis-url: {e}");
        let client = redis::Client::open(config.url).map_err(unreachable)?;
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_max_delay(Duration::from_millis(500));
        let conn = client
            .get_connection_manager_with_config(manager)
            .await
            .map_err(unreachable)?;
        let (ops, queue) = mpsc::unbounded_channel();
        let cluster = Arc::new(Cluster {
            node,
            client,
            conn,
            ops,
            scripts: Scripts::new(),
            subscribed: AtomicBool::new(false),
            heartbeat_ok: AtomicBool::new(false),
            waiters: Mutex::new(HashMap::new()),
            ring_frames: config.ring_frames,
            room_capacity: config.room_capacity,
            node_ttl: config.node_ttl,
            grace: config.grace,
            hub: Arc::downgrade(hub),
            metrics,
            tasks: Mutex::new(Vec::new()),
            deferred: Mutex::new(Vec::new()),
        });
        cluster.load_scripts().await.map_err(unreachable)?;
        cluster.heartbeat().await.map_err(unreachable)?;
        cluster.heartbeat_ok.store(true, Ordering::Relaxed);
        let tasks = vec![
            tokio::spawn(cluster.clone().run_ops(queue)),
            tokio::spawn(cluster.clone().run_subscriber()),
            tokio::spawn(cluster.clone().run_heartbeat()),
        ];
        *cluster.tasks.lock().unwrap_or_else(|p| p.into_inner()) = tasks;
        tracing::info!(node = %cluster.node, "joined the cluster through Redis");
        Ok(cluster)
    }

    /// How long a replay buffer outlives its last frame: long enough for any resume that may still need
    /// it (its owner's death noticed after the heartbeat TTL, then a grace period, twice over).
    fn buffer_ttl_ms(&self) -> u128 {
        (self.node_ttl + 2 * self.grace + Duration::from_secs(60)).as_millis()
    }

    /// Subscribed to this instance's channel and heartbeating: `/readyz` says ready only then.
    pub fn is_healthy(&self) -> bool {
        self.subscribed.load(Ordering::Relaxed) && self.heartbeat_ok.load(Ordering::Relaxed)
    }

    /// Queues `op` for Redis. The signals it carries count towards `--max-buffered-bytes` until Redis took
    /// them, so a flood towards other servers is refused with `overloaded` like one on this server, instead
    /// of growing the queue while Redis is slow.
    pub fn queue(&self, op: Op) {
        let held = gauge_delta(op.held_bytes());
        self.metrics.buffered_bytes.inc_by(held);
        // Fails only once the queue task ended, at shutdown.
        if self.ops.send(op).is_err() {
            self.metrics.buffered_bytes.dec_by(held);
        }
    }

    /// Leaves the cluster on shutdown: flushes the queue, then removes this instance's heartbeat so the
    /// others start the grace period of the sessions it still owns (nobody resumed them elsewhere).
    pub async fn stop(&self) {
        let (done, flushed) = oneshot::channel();
        self.queue(Op::Barrier(done));
        let _ = tokio::time::timeout(Duration::from_secs(3), flushed).await;
        let mut conn = self.conn.clone();
        let _: RedisResult<()> = redis::cmd("DEL")
            .arg(format!("{PREFIX}node:{}", self.node))
            .query_async(&mut conn)
            .await;
        for task in self
            .tasks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            task.abort();
        }
    }

    /// Claims session `sid` for this instance if `token` is its current resume token (and `user` its
    /// user); it then carries `new_token`. `None`: unknown, ended, another user's, or a wrong token.
    pub async fn claim(
        &self,
        sid: &str,
        user: &str,
        token: &str,
        new_token: &str,
    ) -> RedisResult<Option<Claim>> {
        let (token, new_token) = (token_hash(token), token_hash(new_token));
        let reply = self
            .invoke(
                &self.scripts.claim,
                &[PREFIX, sid, user, &token, &new_token, &self.node],
            )
            .await?;
        let mut fields = strings(reply).into_iter();
        if fields.next().as_deref() != Some("ok") {
            return Ok(None);
        }
        let mut next = || fields.next().unwrap_or_default();
        let (peer, name, old_node, alive) = (next(), next(), next(), next());
        Ok(Some(Claim {
            peer,
            name,
            old_node,
            old_node_alive: alive == "1",
            rooms: fields.collect(),
        }))
    }

    /// Asks the previous owner of `sid` to close its connection and flush its frames, and waits (bounded)
    /// for it. Returns at once if no instance listens there (it died).
    pub async fn take_over(&self, sid: &str, old_node: &str) {
        let (done, released) = oneshot::channel();
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(sid.to_owned(), done);
        let event = Event::Take {
            by: self.node.to_string(),
        };
        let mut conn = self.conn.clone();
        let listeners: RedisResult<i64> = redis::cmd("PUBLISH")
            .arg(format!("{PREFIX}ch:{old_node}"))
            .arg(format!("{sid} {}", event.encode()))
            .query_async(&mut conn)
            .await;
        if matches!(listeners, Ok(n) if n > 0)
            && tokio::time::timeout(TAKEOVER_TIMEOUT, released)
                .await
                .is_err()
        {
            tracing::warn!(
                old_node,
                "previous owner did not hand the session over in time"
            );
        }
        self.waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(sid);
        self.metrics.cluster_takeovers.inc();
    }

    /// The frames and pending events Redis holds for `sid` (the pending ones are taken).
    pub async fn load(&self, sid: &str) -> RedisResult<Stored> {
        let reply = self.invoke(&self.scripts.load, &[PREFIX, sid]).await?;
        let mut parts = match reply {
            Value::Array(parts) => parts.into_iter(),
            _ => Vec::new().into_iter(),
        };
        let frames = parts.next().map(strings).unwrap_or_default();
        let pending = parts
            .next()
            .map(strings)
            .unwrap_or_default()
            .iter()
            .filter_map(|text| Event::decode(text))
            .collect();
        Ok(Stored { frames, pending })
    }

    /// Ends a session this instance no longer holds in memory but Redis still lists (a claim that found
    /// the session's rooms no longer allowed).
    pub fn end_remote(&self, sid: Arc<str>) {
        self.queue(Op::End { sid });
    }

    /// Runs a script, loading it first if Redis does not know it (it restarted).
    async fn invoke(&self, lua: &Lua, args: &[&str]) -> RedisResult<Value> {
        let mut conn = self.conn.clone();
        let mut cmd = redis::cmd("EVALSHA");
        cmd.arg(&lua.sha).arg(0).arg(args);
        match cmd.query_async(&mut conn).await {
            Err(e) if is_noscript(&e) => {
                self.load_scripts().await?;
                cmd.query_async(&mut conn).await
            }
            other => other,
        }
    }

    async fn load_scripts(&self) -> RedisResult<()> {
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        for lua in self.scripts.all() {
            pipe.cmd("SCRIPT").arg("LOAD").arg(&lua.code).ignore();
        }
        pipe.query_async(&mut conn).await
    }

    /// Refreshes this instance's heartbeat and lets Redis end the sessions of instances that stopped.
    /// Returns whether the heartbeat had expired (or Redis lost it): the others may then have counted this
    /// instance as gone and started its sessions' grace period, so they must be registered again.
    async fn heartbeat(&self) -> RedisResult<bool> {
        let ttl = u64::try_from(self.node_ttl.as_millis()).unwrap_or(u64::MAX);
        let grace = self.grace.as_millis().to_string();
        let mut conn = self.conn.clone();
        let (previous,): (Option<String>,) = redis::pipe()
            .cmd("SET")
            .arg(format!("{PREFIX}node:{}", self.node))
            .arg(1)
            .arg("PX")
            .arg(ttl)
            .arg("GET")
            .cmd("SADD")
            .arg(format!("{PREFIX}nodes"))
            .arg(&*self.node)
            .ignore()
            .query_async(&mut conn)
            .await?;
        let ended = self.invoke(&self.scripts.reap, &[PREFIX, &grace]).await?;
        if let Value::Int(n) = ended
            && n > 0
        {
            tracing::info!(sessions = n, "ended sessions of stopped instances");
        }
        Ok(previous.is_none())
    }

    async fn run_heartbeat(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.node_ttl / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let ok = match self.heartbeat().await {
                Ok(expired) => {
                    self.replay_deferred();
                    if expired && let Err(e) = self.resync().await {
                        tracing::warn!("cannot register this instance's sessions again: {e}");
                    }
                    true
                }
                Err(e) => {
                    tracing::warn!("Redis heartbeat failed: {e}");
                    false
                }
            };
            if self.heartbeat_ok.swap(ok, Ordering::Relaxed) != ok {
                self.metrics.cluster_up.set(i64::from(self.is_healthy()));
            }
        }
    }

    /// Queues again the leaves and ends Redis could not take while unreachable, except leaves of rooms the
    /// session is in again by now (it joined back once Redis answered).
    fn replay_deferred(&self) {
        let deferred =
            std::mem::take(&mut *self.deferred.lock().unwrap_or_else(|p| p.into_inner()));
        if deferred.is_empty() {
            return;
        }
        let Some(hub) = self.hub.upgrade() else {
            return;
        };
        let held: HashMap<Arc<str>, Vec<Arc<str>>> = hub
            .local_sessions()
            .into_iter()
            .map(|s| (s.id, s.rooms))
            .collect();
        for op in deferred {
            if let Op::Leave { sid, room, .. } = &op
                && held.get(sid).is_some_and(|rooms| rooms.contains(room))
            {
                continue;
            }
            self.queue(op);
        }
    }

    /// Listens on this instance's channel; after every (re)connection re-registers the local sessions
    /// (Redis may have restarted empty) and takes the events that waited for them.
    async fn run_subscriber(self: Arc<Self>) {
        let channel = format!("{PREFIX}ch:{}", self.node);
        loop {
            let listened: RedisResult<()> = async {
                let mut pubsub = self.client.get_async_pubsub().await?;
                pubsub.subscribe(&channel).await?;
                let mut messages = pubsub.into_on_message();
                self.resync().await?;
                self.subscribed.store(true, Ordering::Relaxed);
                self.metrics.cluster_up.set(i64::from(self.is_healthy()));
                tracing::info!("subscribed to this instance's Redis channel");
                while let Some(message) = messages.next().await {
                    if let Ok(text) = std::str::from_utf8(message.get_payload_bytes()) {
                        self.on_message(text);
                    }
                }
                Ok(())
            }
            .await;
            self.subscribed.store(false, Ordering::Relaxed);
            self.metrics.cluster_up.set(0);
            match listened {
                Ok(()) => tracing::warn!("Redis closed this instance's subscription; reconnecting"),
                Err(e) => tracing::warn!("Redis subscription failed: {e}; retrying"),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn on_message(&self, text: &str) {
        let Some((sid, json)) = text.split_once(' ') else {
            return;
        };
        let Some(event) = Event::decode(json) else {
            tracing::warn!("unreadable message on this instance's channel");
            return;
        };
        let Some(hub) = self.hub.upgrade() else {
            return;
        };
        match event {
            Event::Released => {
                if let Some(waiter) = self
                    .waiters
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(sid)
                {
                    let _ = waiter.send(());
                }
            }
            Event::Take { by } => {
                hub.hand_over(sid);
                // Queued after the session's mirrored frames, so the new owner reads them all.
                self.queue(Op::Released {
                    sid: sid.into(),
                    to: by,
                });
            }
            event => hub.deliver_remote(sid, event),
        }
    }

    /// Writes every local session's record and room memberships again, and delivers what waited.
    async fn resync(&self) -> RedisResult<()> {
        let Some(hub) = self.hub.upgrade() else {
            return Ok(());
        };
        let sessions = hub.local_sessions();
        if sessions.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn.clone();
        let mut pipe = redis::pipe();
        for s in &sessions {
            register(
                &mut pipe, &self.node, &s.id, &s.peer, &s.name, &s.user, &s.token,
            );
            // Its grace period may have started while this instance counted as gone.
            pipe.cmd("ZREM")
                .arg(format!("{PREFIX}orphans"))
                .arg(&*s.id)
                .ignore();
            for room in &s.rooms {
                pipe.cmd("SADD")
                    .arg(format!("{PREFIX}sr:{}", s.id))
                    .arg(&**room)
                    .ignore();
                pipe.cmd("HSET")
                    .arg(format!("{PREFIX}r:{room}"))
                    .arg(&*s.peer)
                    .arg(&*s.id)
                    .ignore();
            }
        }
        pipe.query_async::<()>(&mut conn).await?;
        for s in &sessions {
            let stored = self.load(&s.id).await?;
            for event in stored.pending {
                hub.deliver_remote(&s.id, event);
            }
        }
        tracing::info!(sessions = sessions.len(), "re-registered sessions in Redis");
        Ok(())
    }

    async fn run_ops(self: Arc<Self>, mut queue: mpsc::UnboundedReceiver<Op>) {
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            if queue.recv_many(&mut batch, BATCH).await == 0 {
                return;
            }
            let held = gauge_delta(batch.iter().map(Op::held_bytes).sum());
            let retry = self.execute(std::mem::take(&mut batch)).await;
            if !retry.is_empty() {
                // Redis lost the scripts (it restarted): load them and send those operations again.
                if let Err(e) = self.load_scripts().await {
                    tracing::warn!("cannot load scripts into Redis: {e}");
                }
                let failed = self.execute(retry).await;
                for op in failed {
                    self.failed(op);
                }
            }
            self.metrics.buffered_bytes.dec_by(held);
        }
    }

    /// Sends `ops` as one pipeline and handles each reply; returns those Redis refused for an unknown
    /// script.
    async fn execute(&self, ops: Vec<Op>) -> Vec<Op> {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        // For each op, the index of the reply it needs (its last command), if any.
        let mut replies: Vec<Option<usize>> = Vec::with_capacity(ops.len());
        let mut commands = 0usize;
        // Commands whose reply is ignored (a registration) do not count in `commands`, but must be sent.
        let mut ignored = false;
        // Per session: this batch's frames, and how many frames to keep after the last of them.
        let mut mirrors: HashMap<&str, (Vec<&[u8]>, usize)> = HashMap::new();
        for op in &ops {
            if let Op::Mirror { sid, text, keep } = op {
                let mirror = mirrors.entry(sid).or_default();
                mirror.0.push(text.as_bytes());
                mirror.1 = *keep;
            }
        }
        let node: &str = &self.node;
        for op in &ops {
            let added = match op {
                Op::Register {
                    sid,
                    peer,
                    name,
                    user,
                    token,
                } => {
                    ignored = true;
                    register(&mut pipe, node, sid, peer, name, user, token)
                }
                Op::Mirror { sid, .. } => match mirrors.remove(&**sid) {
                    // All of this batch's frames of the session at the place of its first one.
                    Some((texts, keep)) => {
                        let key = format!("{PREFIX}buf:{sid}");
                        let keep = i64::try_from(keep.clamp(1, self.ring_frames)).unwrap_or(256);
                        pipe.cmd("RPUSH").arg(&key).arg(texts);
                        pipe.cmd("LTRIM").arg(&key).arg(-keep).arg(-1);
                        // With an expiry the buffer is what Redis may evict under `maxmemory` (policy
                        // volatile-lru), never a room or session record (docs/operations.md).
                        pipe.cmd("PEXPIRE").arg(&key).arg(self.buffer_ttl_ms());
                        3
                    }
                    None => 0,
                },
                Op::Join {
                    session,
                    room,
                    announce,
                } => {
                    let capacity = self.room_capacity.to_string();
                    eval(
                        &mut pipe,
                        &self.scripts.join,
                        &[
                            PREFIX,
                            room,
                            &session.peer,
                            &session.id,
                            &capacity,
                            announce,
                            node,
                        ],
                    )
                }
                Op::Leave { sid, peer, room } => eval(
                    &mut pipe,
                    &self.scripts.leave,
                    &[PREFIX, room, peer, sid, node],
                ),
                Op::End { sid } => eval(&mut pipe, &self.scripts.end, &[PREFIX, sid, node]),
                Op::Relay {
                    room, to, event, ..
                } => eval(&mut pipe, &self.scripts.relay, &[PREFIX, room, to, event]),
                Op::Forward { sid, event } => eval(
                    &mut pipe,
                    &self.scripts.forward,
                    &[PREFIX, sid, event, node],
                ),
                Op::Released { sid, to } => {
                    pipe.cmd("PUBLISH")
                        .arg(format!("{PREFIX}ch:{to}"))
                        .arg(format!("{sid} {}", Event::Released.encode()));
                    1
                }
                Op::Barrier(_) => 0,
            };
            commands += added;
            replies.push((added > 0).then(|| commands - 1));
        }
        let results: Vec<RedisResult<Value>> = if commands == 0 && !ignored {
            Vec::new()
        } else {
            let mut conn = self.conn.clone();
            match pipe.query_async::<Vec<RedisResult<Value>>>(&mut conn).await {
                Ok(results) => results,
                Err(e) => {
                    tracing::warn!("Redis pipeline failed: {e}");
                    self.metrics.cluster_errors.inc();
                    for op in ops {
                        self.failed(op);
                    }
                    return Vec::new();
                }
            }
        };
        let mut results: Vec<Option<RedisResult<Value>>> = results.into_iter().map(Some).collect();
        let mut retry = Vec::new();
        for (op, reply) in ops.into_iter().zip(replies) {
            let result = reply.and_then(|i| results.get_mut(i).and_then(Option::take));
            match result {
                Some(Err(e)) if is_noscript(&e) => retry.push(op),
                Some(Err(e)) => {
                    tracing::warn!("Redis refused an operation: {e}");
                    self.metrics.cluster_errors.inc();
                    self.failed(op);
                }
                Some(Ok(value)) => self.done(op, value),
                None => self.done(op, Value::Nil),
            }
        }
        retry
    }

    fn done(&self, op: Op, value: Value) {
        let Some(hub) = self.hub.upgrade() else {
            return;
        };
        match op {
            // On success the `joined` event comes through this server's channel.
            Op::Join { session, room, .. } if is_string(&first(&value), "room_full") => {
                let full = RequestError::RoomFull(self.room_capacity);
                hub.join_done(&session, &room, Err(full));
            }
            Op::Relay { from, .. } => {
                if is_string(&value, "unknown_peer") {
                    hub.send_error(&from, &RequestError::UnknownPeer, Some("signal"));
                } else {
                    self.metrics.cluster_relays.inc();
                }
            }
            Op::Barrier(done) => {
                let _ = done.send(());
            }
            _ => {}
        }
    }

    /// An operation Redis did not carry out: the client that asked hears of it.
    fn failed(&self, op: Op) {
        let Some(hub) = self.hub.upgrade() else {
            return;
        };
        let unavailable =
            RequestError::Overloaded("the servers' shared state (Redis) is unreachable");
        match op {
            Op::Join { session, room, .. } => hub.join_done(&session, &room, Err(unavailable)),
            Op::Relay { from, .. } => hub.send_error(&from, &unavailable, Some("signal")),
            Op::Barrier(done) => {
                let _ = done.send(());
            }
            // Sessions and rooms left while Redis was unreachable: done once it is back, else they would
            // stay listed (and count towards room capacity) in Redis.
            op @ (Op::End { .. } | Op::Leave { .. }) => {
                self.deferred
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(op);
            }
            _ => {}
        }
    }
}

/// A local session as [`Cluster::resync`] writes it again.
pub struct LocalSession {
    pub id: Arc<str>,
    pub peer: Arc<str>,
    pub name: Box<str>,
    pub user: Box<str>,
    pub token: Arc<str>,
    pub rooms: Vec<Arc<str>>,
}

fn register(
    pipe: &mut redis::Pipeline,
    node: &str,
    sid: &str,
    peer: &str,
    name: &str,
    user: &str,
    token: &str,
) -> usize {
    pipe.cmd("HSET")
        .arg(format!("{PREFIX}s:{sid}"))
        .arg(&[
            ("peer", peer),
            ("name", name),
            ("user", user),
            ("node", node),
            ("token", &token_hash(token)),
        ])
        .ignore();
    pipe.cmd("HSETNX")
        .arg(format!("{PREFIX}s:{sid}"))
        .arg("epoch")
        .arg(1)
        .ignore();
    pipe.cmd("SADD")
        .arg(format!("{PREFIX}ns:{node}"))
        .arg(sid)
        .ignore();
    // `.ignore()` commands produce no reply, so they do not count.
    0
}

/// What Redis keeps of a resume token, and what a claim compares: its SHA-256. The script compares with
/// Lua's `==`, whose time depends on where the strings differ; over hashes that reveals nothing an
/// attacker can steer towards the token, and Redis never holds a token that would resume a session.
fn token_hash(token: &str) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn eval(pipe: &mut redis::Pipeline, lua: &Lua, args: &[&str]) -> usize {
    pipe.cmd("EVALSHA").arg(&lua.sha).arg(0).arg(args);
    1
}

/// The first element of an array reply (else `Nil`).
fn first(value: &Value) -> Value {
    match value {
        Value::Array(items) => items.first().cloned().unwrap_or(Value::Nil),
        _ => Value::Nil,
    }
}

fn is_string(value: &Value, expected: &str) -> bool {
    match value {
        Value::BulkString(b) => b == expected.as_bytes(),
        Value::SimpleString(s) => s == expected,
        _ => false,
    }
}

fn is_noscript(e: &RedisError) -> bool {
    matches!(e.kind(), ErrorKind::Server(ServerErrorKind::NoScript))
}

/// The strings of a (possibly nested once) array reply; anything else gives none.
fn strings(value: Value) -> Vec<String> {
    let text = |v: Value| match v {
        Value::BulkString(b) => String::from_utf8(b).ok(),
        Value::SimpleString(s) => Some(s),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    };
    match value {
        Value::Array(items) | Value::Set(items) => items.into_iter().filter_map(text).collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_with_raw_data() {
        let data = RawValue::from_string(r#"{"kind":"offer","sdp":"v=0\r\n"}"#.into()).unwrap();
        let text = Event::Signal {
            room: "r".into(),
            from: "p".into(),
            data,
            at: 7,
        }
        .encode();
        match Event::decode(&text) {
            Some(Event::Signal { data, at, .. }) => {
                assert_eq!(data.get(), r#"{"kind":"offer","sdp":"v=0\r\n"}"#);
                assert_eq!(at, 7);
            }
            other => panic!("{other:?}"),
        }
        // The scripts write peer-left and joined themselves; they must read back.
        let lua_written = r#"{"t":"pl","room":"team-1","peer":"abc_-"}"#;
        assert!(matches!(
            Event::decode(lua_written),
            Some(Event::PeerLeft { .. })
        ));
        let empty = r#"{"t":"jd","room":"r","peers":{}}"#;
        assert!(
            matches!(Event::decode(empty), Some(Event::Joined { peers, .. }) if peers.is_empty())
        );
        let two = r#"{"t":"jd","room":"r","peers":["p1","Ann","p2",""]}"#;
        match Event::decode(two) {
            Some(Event::Joined { peers, .. }) => assert_eq!(
                peers,
                vec![("p1".into(), "Ann".into()), ("p2".into(), String::new())]
            ),
            other => panic!("{other:?}"),
        }
    }
}
