//! The Redis backplane: several instances behind one address, sharing rooms and sessions through Redis
//! (`--redis-url`).
//!
//! Each instance owns the sessions whose client is connected to it: it assigns their `seq`, keeps their
//! ring (as without Redis) and mirrors every frame to a capped list in Redis, so another instance can
//! replay them. Redis holds who is in which room (peer → session), each session's record (owner instance,
//! epoch, resume token, rooms) and one pub/sub channel per instance. A `signal` to a peer on this instance
//! is delivered in memory by the hub; to a peer elsewhere the first goes through a script that finds the
//! owner and publishes to its channel, and later ones are published straight to that channel (`routes`
//! keeps the owner and how to leave it in order when the session moves). Operations on Redis go through one
//! ordered queue, sent as pipelines, so what one client does reaches Redis in the order it did it. What
//! arrives on this instance's channel goes to the hub as [`HubEvent`]s.
//!
//! docs/operations.md ("Several servers (Redis)", "Failures and what they can lose") describes failures and
//! what each can lose.

mod routes;
mod scripts;
mod wire;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use futures_util::StreamExt;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ErrorKind, RedisError, RedisResult, ServerErrorKind, Value};
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::error::RequestError;
use crate::hub::{
    Admitted, Backplane, BoxFuture, Claim, ClaimRequest, HubEvent, HubEvents, LocalSession, Moved,
    Remote, random_id, unix_micros,
};
use crate::metrics::Metrics;
use crate::session::{Pushed, Session, gauge_delta};
use routes::{Route, Routes};
use scripts::{Lua, Scripts};
use wire::{Message, encode_remote};

/// Every key and channel starts with this.
const PREFIX: &str = "p2pchat:";

/// A session's record is `<this><sid>` (scripts.rs, `s:<sid>`) while it lives, on any server: the SFU
/// placements drop participants whose session ended without leaving (their server died).
pub const SESSION_KEY_PREFIX: &str = "p2pchat:s:";

/// Longest a resume waits for the previous owner to hand a session over (flush its frames to Redis).
const TAKEOVER_TIMEOUT: Duration = Duration::from_secs(3);

/// Most queued operations sent to Redis in one pipeline.
const BATCH: usize = 1024;

/// One change to send to Redis, in order.
enum Op {
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
    /// A signal published straight to the channel of `node`, which holds session `sid` (as far as we
    /// know: if nobody listens there it goes through the script instead).
    Direct {
        from: Arc<Session>,
        room: Box<str>,
        to: Box<str>,
        sid: Arc<str>,
        node: Arc<str>,
        event: String,
    },
    /// A message about session `sid` to instance `to`; `heard` learns whether anyone listened.
    Publish {
        to: Arc<str>,
        sid: Arc<str>,
        message: String,
        heard: Option<oneshot::Sender<bool>>,
    },
    /// Resolves once everything queued before it reached Redis.
    Barrier(oneshot::Sender<()>),
}

impl Op {
    /// Bytes of relayed data this operation holds while it waits for Redis.
    fn held_bytes(&self) -> usize {
        match self {
            Op::Relay { event, .. } | Op::Forward { event, .. } | Op::Direct { event, .. } => {
                event.len()
            }
            _ => 0,
        }
    }
}

/// A session's frames and waiting events as Redis kept them.
struct Stored {
    /// Frame texts, oldest first (each carries its `seq`).
    frames: Vec<String>,
    /// Events that arrived while no instance listened for the session.
    pending: Vec<Remote>,
}

/// What a successful claim script found.
struct Claimed {
    peer: String,
    name: String,
    old_node: String,
    old_node_alive: bool,
    rooms: Vec<String>,
}

pub struct RedisBackplane {
    /// This instance's id (random per process).
    node: Arc<str>,
    client: redis::Client,
    /// Set once Redis first answered.
    conn: OnceLock<ConnectionManager>,
    ops: mpsc::UnboundedSender<Op>,
    scripts: Scripts,
    /// In the cluster: sessions may start here.
    joined: AtomicBool,
    subscribed: AtomicBool,
    heartbeat_ok: AtomicBool,
    /// Held while `cluster_up` is set from `joined`, `subscribed` and `heartbeat_ok` ([`Self::publish_health`]).
    publishing_health: Mutex<()>,
    /// Resumes waiting for a previous owner's `Released` or for their own `Mark`, by [`waiter`] key.
    waiters: Mutex<HashMap<String, oneshot::Sender<()>>>,
    /// Where signals for peers on other servers go.
    routes: Routes,
    settings: ClusterConfig,
    events: HubEvents,
    metrics: Arc<Metrics>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// Leaves and ends that failed while Redis was unreachable, sent again after the next heartbeat.
    deferred: Mutex<Vec<Op>>,
}

/// Settings from the configuration.
pub struct ClusterConfig {
    pub url: String,
    pub node_ttl: Duration,
    pub grace: Duration,
    pub ring_frames: usize,
    pub room_capacity: usize,
}

impl RedisBackplane {
    /// Starts joining the servers sharing `settings.url` in the background, retrying with backoff while
    /// Redis cannot be reached (it may start after this server). Until then `/readyz` says not ready and
    /// `hello` is refused with `overloaded`, so a load balancer and the clients' own retries send people
    /// to a server that can take them. The URL was validated with the configuration.
    pub fn start(
        settings: ClusterConfig,
        events: HubEvents,
        metrics: Arc<Metrics>,
    ) -> Arc<RedisBackplane> {
        let (ops, queue) = mpsc::unbounded_channel();
        let client = redis::Client::open(settings.url.as_str()).unwrap_or_else(|_| {
            unreachable!("Config::validate accepts only a --redis-url that parses")
        });
        let cluster = Arc::new(RedisBackplane {
            node: random_id(),
            client,
            conn: OnceLock::new(),
            ops,
            scripts: Scripts::new(),
            joined: AtomicBool::new(false),
            subscribed: AtomicBool::new(false),
            heartbeat_ok: AtomicBool::new(false),
            publishing_health: Mutex::new(()),
            waiters: Mutex::new(HashMap::new()),
            routes: Routes::default(),
            settings,
            events,
            metrics,
            tasks: Mutex::new(Vec::new()),
            deferred: Mutex::new(Vec::new()),
        });
        let join = tokio::spawn(cluster.clone().join(queue));
        cluster.tasks().push(join);
        cluster
    }

    /// Sets the `cluster_up` gauge from the flags behind [`Backplane::healthy`]. Each task stores its flag
    /// and then publishes under one lock, so the last to publish has seen every change: without the lock
    /// the subscriber could read `joined` still false, be overtaken by the join task's publish and leave
    /// the gauge at 0 on a healthy server.
    fn publish_health(&self) {
        let _one_at_a_time = self
            .publishing_health
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        self.metrics.cluster_up.set(i64::from(self.healthy()));
    }

    fn tasks(&self) -> std::sync::MutexGuard<'_, Vec<JoinHandle<()>>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connects (with backoff), registers this instance and starts its tasks: operation queue,
    /// subscription, heartbeat. Later outages are survived.
    async fn join(self: Arc<Self>, queue: mpsc::UnboundedReceiver<Op>) {
        use backon::{ExponentialBuilder, Retryable};
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(5))
            .with_jitter()
            .without_max_times();
        let attempt = async || {
            self.connect()
                .await
                .map_err(|e| format!("cannot reach Redis at --redis-url: {e}"))
        };
        let joined = attempt
            .retry(backoff)
            .notify(|err, wait| tracing::warn!("{err}; not ready, retrying in {wait:.1?}"))
            .await;
        if joined.is_err() {
            return;
        }
        self.heartbeat_ok.store(true, Ordering::Relaxed);
        let tasks = [
            tokio::spawn(self.clone().run_ops(queue)),
            tokio::spawn(self.clone().run_subscriber()),
            tokio::spawn(self.clone().run_heartbeat()),
        ];
        self.tasks().extend(tasks);
        self.joined.store(true, Ordering::Relaxed);
        self.publish_health();
        tracing::info!(node = %self.node, "joined the cluster through Redis");
    }

    async fn connect(&self) -> RedisResult<()> {
        if self.conn.get().is_none() {
            let manager = ConnectionManagerConfig::new()
                .set_connection_timeout(Some(Duration::from_secs(2)))
                .set_response_timeout(Some(Duration::from_secs(2)))
                .set_max_delay(Duration::from_millis(500));
            let conn = self
                .client
                .get_connection_manager_with_config(manager)
                .await?;
            let _ = self.conn.set(conn);
        }
        self.load_scripts().await?;
        self.heartbeat().await?;
        Ok(())
    }

    /// The connection to Redis; an error before Redis first answered.
    fn conn(&self) -> RedisResult<ConnectionManager> {
        self.conn.get().cloned().ok_or_else(|| {
            RedisError::from(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "not connected to Redis yet",
            ))
        })
    }

    /// How long a replay buffer outlives its last frame: long enough for any resume that may still need
    /// it (its owner's death noticed after the heartbeat TTL, then a grace period, twice over).
    fn buffer_ttl_ms(&self) -> u128 {
        (self.settings.node_ttl + 2 * self.settings.grace + Duration::from_secs(60)).as_millis()
    }

    /// Queues `op` for Redis. The signals it carries count towards `--max-buffered-bytes` until Redis took
    /// them, so a flood towards other servers is refused with `overloaded` like one on this server, instead
    /// of growing the queue while Redis is slow.
    fn queue(&self, op: Op) {
        let held = gauge_delta(op.held_bytes());
        self.metrics.buffered_bytes.inc_by(held);
        // Fails only once the queue task ended, at shutdown.
        if self.ops.send(op).is_err() {
            self.metrics.buffered_bytes.dec_by(held);
        }
    }

    /// Tells the hub; fails only once the hub stopped listening, at shutdown.
    fn tell_hub(&self, event: HubEvent) {
        let _ = self.events.send(event);
    }

    /// This server's sessions, as the hub lists them.
    async fn local_sessions(&self) -> Vec<LocalSession> {
        let (reply, sessions) = oneshot::channel();
        self.tell_hub(HubEvent::Sessions(reply));
        sessions.await.unwrap_or_default()
    }

    /// Until the sessions held here have moved to other servers (or `drain` passed), keeps answering
    /// their takeovers; then flushes the queue and removes this instance's heartbeat so the others start
    /// the grace period of the sessions it still owns (nobody resumed them elsewhere).
    async fn leave(&self, drain: Duration) {
        if self.joined.load(Ordering::Relaxed) {
            let deadline = tokio::time::Instant::now() + drain;
            while !self.local_sessions().await.is_empty() && tokio::time::Instant::now() < deadline
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let (done, flushed) = oneshot::channel();
            self.queue(Op::Barrier(done));
            let _ = tokio::time::timeout(Duration::from_secs(3), flushed).await;
            if let Ok(mut conn) = self.conn() {
                let _: RedisResult<()> = redis::cmd("DEL")
                    .arg(format!("{PREFIX}node:{}", self.node))
                    .query_async(&mut conn)
                    .await;
            }
        }
        for task in self.tasks().drain(..) {
            task.abort();
        }
    }

    /// Claims session `sid` for this instance if `token` is its current resume token (and `user` its
    /// user); it then carries `new_token`. `None`: unknown, ended, another user's, or a wrong token.
    async fn claim_record(
        &self,
        sid: &str,
        user: &str,
        token: &str,
        new_token: &str,
    ) -> RedisResult<Option<Claimed>> {
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
        Ok(Some(Claimed {
            peer,
            name,
            old_node,
            old_node_alive: alive == "1",
            rooms: fields.collect(),
        }))
    }

    /// The claim of a resume: the record in Redis first; a session held elsewhere is then taken over from
    /// its previous owner and loaded.
    async fn claim_session(&self, request: ClaimRequest<'_>) -> Option<Claim> {
        let sid = request.sid;
        let claimed = match self
            .claim_record(sid, request.user, request.token, request.new_token)
            .await
        {
            Ok(claimed) => claimed?,
            Err(e) => {
                tracing::warn!("resume claim failed in Redis: {e}");
                return None;
            }
        };
        if claimed.old_node == *self.node && request.held_here {
            return Some(Claim::Here);
        }
        if claimed.old_node != *self.node {
            self.take_over(sid, &claimed).await;
        }
        let stored = match self.load(sid).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!("cannot load a resumed session from Redis: {e}");
                self.routes.lock().arrived(sid);
                return None;
            }
        };
        Some(Claim::Moved(Moved {
            peer: claimed.peer,
            name: claimed.name,
            rooms: claimed.rooms,
            frames: stored.frames,
            pending: stored.pending,
        }))
    }

    /// Asks the previous owner of `sid` to close its connection and flush its frames, and waits (bounded)
    /// for it (at once if no instance listens there: it died). From the moment the request is queued,
    /// signals from this server for the session wait for it here ([`Routes::arriving`]); those queued before
    /// reached the previous owner first, or this server's channel, whose events the hub holds by the time
    /// this returns.
    async fn take_over(&self, sid: &Arc<str>, claimed: &Claimed) {
        let (released_tx, released) = oneshot::channel();
        let (marked_tx, marked) = oneshot::channel();
        let (heard_tx, heard) = oneshot::channel();
        {
            let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
            waiters.insert(waiter("rel", sid), released_tx);
            waiters.insert(waiter("mk", sid), marked_tx);
        }
        {
            let mut routes = self.routes.lock();
            routes.arriving(sid, &claimed.peer, &claimed.rooms);
            if claimed.old_node_alive {
                let take = Message::Take {
                    by: self.node.to_string(),
                };
                self.publish(
                    &claimed.old_node.as_str().into(),
                    sid,
                    &take,
                    Some(heard_tx),
                );
            }
            self.publish(&self.node, sid, &Message::Mark, None);
        }
        if claimed.old_node_alive {
            if heard.await.unwrap_or(false)
                && tokio::time::timeout(TAKEOVER_TIMEOUT, released)
                    .await
                    .is_err()
            {
                tracing::warn!(
                    old_node = claimed.old_node,
                    "previous owner did not hand the session over in time"
                );
            }
            self.metrics.cluster_takeovers.inc();
        }
        let _ = tokio::time::timeout(TAKEOVER_TIMEOUT, marked).await;
        {
            let mut waiters = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
            waiters.remove(&waiter("rel", sid));
            waiters.remove(&waiter("mk", sid));
        }
        self.flush_hub().await;
    }

    /// Returns once the hub handled every event sent to it before.
    async fn flush_hub(&self) {
        let (done, flushed) = oneshot::channel();
        self.tell_hub(HubEvent::Flush(done));
        let _ = flushed.await;
    }

    /// Queues `message` about session `sid` to instance `to`.
    fn publish(
        &self,
        to: &Arc<str>,
        sid: &Arc<str>,
        message: &Message,
        heard: Option<oneshot::Sender<bool>>,
    ) {
        self.queue(Op::Publish {
            to: to.clone(),
            sid: sid.clone(),
            message: message.encode(),
            heard,
        });
    }

    /// The frames and pending events Redis holds for `sid` (the pending ones are taken).
    async fn load(&self, sid: &str) -> RedisResult<Stored> {
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
            .filter_map(|text| match Message::decode(text) {
                Some(Message::Deliver(remote)) => Some(remote),
                _ => None,
            })
            .collect();
        Ok(Stored { frames, pending })
    }

    /// Runs a script, loading it first if Redis does not know it (it restarted).
    async fn invoke(&self, lua: &Lua, args: &[&str]) -> RedisResult<Value> {
        let mut conn = self.conn()?;
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
        let mut conn = self.conn()?;
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
        let ttl = u64::try_from(self.settings.node_ttl.as_millis()).unwrap_or(u64::MAX);
        let grace = self.settings.grace.as_millis().to_string();
        let mut conn = self.conn()?;
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
        let mut tick = tokio::time::interval(self.settings.node_ttl / 3);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let ok = match self.heartbeat().await {
                Ok(expired) => {
                    self.replay_deferred().await;
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
                self.publish_health();
            }
        }
    }

    /// Queues again the leaves and ends Redis could not take while unreachable, except leaves of rooms the
    /// session is in again by now (it joined back once Redis answered).
    async fn replay_deferred(&self) {
        let deferred =
            std::mem::take(&mut *self.deferred.lock().unwrap_or_else(|p| p.into_inner()));
        if deferred.is_empty() {
            return;
        }
        let held: HashMap<Arc<str>, Vec<Arc<str>>> = self
            .local_sessions()
            .await
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
                self.publish_health();
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
            self.publish_health();
            match listened {
                Ok(()) => tracing::warn!("Redis closed this instance's subscription; reconnecting"),
                Err(e) => tracing::warn!("Redis subscription failed: {e}; retrying"),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    fn on_message(self: &Arc<Self>, text: &str) {
        let Some((sid, json)) = text.split_once(' ') else {
            return;
        };
        let Some(message) = Message::decode(json) else {
            tracing::warn!("unreadable message on this instance's channel");
            return;
        };
        let sid: Arc<str> = sid.into();
        match message {
            Message::Deliver(event) => {
                if let Remote::PeerLeft { room, peer } = &event {
                    self.routes.lock().forget(room, peer);
                }
                self.tell_hub(HubEvent::Deliver { sid, event });
            }
            Message::Released => self.wake(&waiter("rel", &sid)),
            Message::Mark => self.wake(&waiter("mk", &sid)),
            Message::Take { by } => {
                // Released once the hub forgot the session, so after its last mirrored frame: the new
                // owner reads them all.
                let (done, handed_over) = oneshot::channel();
                self.tell_hub(HubEvent::HandOver {
                    sid: sid.clone(),
                    done,
                });
                self.after(async { handed_over.await.is_ok() }, move |cluster| {
                    cluster.publish(&by.as_str().into(), &sid, &Message::Released, None);
                });
            }
            Message::Moved => {
                let mut routes = self.routes.lock();
                for node in routes.moved(&sid) {
                    let (heard, listened) = oneshot::channel();
                    let flush = Message::Flush {
                        by: self.node.to_string(),
                    };
                    self.publish(&node, &sid, &flush, Some(heard));
                    // Nobody left to answer: what waits goes on now.
                    let sid = sid.clone();
                    self.after(async { listened.await == Ok(false) }, move |cluster| {
                        cluster.flushed(&sid);
                    });
                }
            }
            Message::Flush { by } => {
                // Answered once the hub passed on what arrived before (see `forward`).
                let (done, flushed) = oneshot::channel();
                self.tell_hub(HubEvent::Flush(done));
                self.after(async { flushed.await.is_ok() }, move |cluster| {
                    cluster.publish(&by.as_str().into(), &sid, &Message::Flushed, None);
                });
            }
            Message::Flushed => self.flushed(&sid),
        }
    }

    /// Runs `then` once `ready` resolved to `true`, without holding up this instance's channel.
    fn after(
        self: &Arc<Self>,
        ready: impl Future<Output = bool> + Send + 'static,
        then: impl FnOnce(&RedisBackplane) + Send + 'static,
    ) {
        let cluster = self.clone();
        tokio::spawn(async move {
            if ready.await {
                then(&cluster);
            }
        });
    }

    /// `sid`'s former server passed on everything we sent it, or nobody listens there: the signals kept
    /// meanwhile go through the script.
    fn flushed(&self, sid: &str) {
        let mut routes = self.routes.lock();
        for relay in routes.flushed(sid) {
            self.queue(relay);
        }
    }

    fn wake(&self, key: &str) {
        if let Some(waiter) = self
            .waiters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key)
        {
            let _ = waiter.send(());
        }
    }

    /// Writes every local session's record and room memberships again, and delivers what waited.
    async fn resync(&self) -> RedisResult<()> {
        let sessions = self.local_sessions().await;
        if sessions.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn()?;
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
                self.tell_hub(HubEvent::Deliver {
                    sid: s.id.clone(),
                    event,
                });
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
        let (pipe, replies, send) = self.pipeline(&ops);
        let results: Vec<RedisResult<Value>> = if !send {
            Vec::new()
        } else {
            let sent = match self.conn() {
                Ok(mut conn) => pipe.query_async::<Vec<RedisResult<Value>>>(&mut conn).await,
                Err(e) => Err(e),
            };
            match sent {
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
        self.answer(ops, replies, results)
    }

    /// The pipeline carrying `ops`, for each op the index of the reply it needs (its last command) if
    /// any, and whether there is anything to send.
    fn pipeline(&self, ops: &[Op]) -> (redis::Pipeline, Vec<Option<usize>>, bool) {
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        let mut replies: Vec<Option<usize>> = Vec::with_capacity(ops.len());
        let mut commands = 0usize;
        // Per session: this batch's frames, and how many frames to keep after the last of them.
        let mut mirrors: HashMap<&str, (Vec<&[u8]>, usize)> = HashMap::new();
        for op in ops {
            if let Op::Mirror { sid, text, keep } = op {
                let mirror = mirrors.entry(sid).or_default();
                mirror.0.push(text.as_bytes());
                mirror.1 = *keep;
            }
        }
        for op in ops {
            let added = self.command(&mut pipe, op, &mut mirrors);
            commands += added;
            replies.push((added > 0).then(|| commands - 1));
        }
        // A registration's commands have no reply, but must be sent.
        let registers = ops.iter().any(|op| matches!(op, Op::Register { .. }));
        (pipe, replies, commands > 0 || registers)
    }

    /// Adds the commands of `op` to `pipe`; returns how many replies they add.
    fn command<'a>(
        &self,
        pipe: &mut redis::Pipeline,
        op: &'a Op,
        mirrors: &mut HashMap<&'a str, (Vec<&'a [u8]>, usize)>,
    ) -> usize {
        let node: &str = &self.node;
        match op {
            Op::Register {
                sid,
                peer,
                name,
                user,
                token,
            } => register(pipe, node, sid, peer, name, user, token),
            Op::Mirror { sid, .. } => match mirrors.remove(&**sid) {
                // All of this batch's frames of the session at the place of its first one.
                Some((texts, keep)) => {
                    let key = format!("{PREFIX}buf:{sid}");
                    let keep = keep.clamp(1, self.settings.ring_frames);
                    let keep = i64::try_from(keep).unwrap_or(256);
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
                let capacity = self.settings.room_capacity.to_string();
                eval(
                    pipe,
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
            Op::Leave { sid, peer, room } => {
                eval(pipe, &self.scripts.leave, &[PREFIX, room, peer, sid, node])
            }
            Op::End { sid } => eval(pipe, &self.scripts.end, &[PREFIX, sid, node]),
            Op::Relay {
                room, to, event, ..
            } => eval(pipe, &self.scripts.relay, &[PREFIX, room, to, event]),
            Op::Forward { sid, event } => {
                eval(pipe, &self.scripts.forward, &[PREFIX, sid, event, node])
            }
            Op::Direct {
                sid, node, event, ..
            } => {
                pipe.cmd("PUBLISH")
                    .arg(format!("{PREFIX}ch:{node}"))
                    .arg(format!("{sid} {event}"));
                1
            }
            Op::Publish {
                to, sid, message, ..
            } => {
                pipe.cmd("PUBLISH")
                    .arg(format!("{PREFIX}ch:{to}"))
                    .arg(format!("{sid} {message}"));
                1
            }
            Op::Barrier(_) => 0,
        }
    }

    /// Hands each op its reply; returns those Redis refused for an unknown script.
    fn answer(
        &self,
        ops: Vec<Op>,
        replies: Vec<Option<usize>>,
        results: Vec<RedisResult<Value>>,
    ) -> Vec<Op> {
        let mut results: Vec<Option<RedisResult<Value>>> = results.into_iter().map(Some).collect();
        let mut retry = Vec::new();
        for (op, reply) in ops.into_iter().zip(replies) {
            let result = reply.and_then(|i| results.get_mut(i).and_then(Option::take));
            match result {
                Some(Err(e)) if is_noscript(&e) => retry.push(op),
                // Nobody listens on that server's channel (it stopped, or is reconnecting): the script
                // delivers to the owner Redis knows, or keeps the signal for a resume.
                Some(Ok(Value::Int(0))) if matches!(op, Op::Direct { .. }) => {
                    if let Op::Direct {
                        from,
                        room,
                        to,
                        node,
                        event,
                        ..
                    } = op
                    {
                        self.routes.lock().unheard(&node);
                        retry.push(Op::Relay {
                            from,
                            room,
                            to,
                            event,
                        });
                    }
                }
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
        match op {
            // On success the `joined` event comes through this server's channel.
            Op::Join { session, room, .. } if is_string(&first(&value), "room_full") => {
                let full = RequestError::RoomFull(self.settings.room_capacity);
                self.tell_hub(HubEvent::Joined {
                    session,
                    room,
                    peers: Err(full),
                });
            }
            Op::Relay { from, room, to, .. } => {
                if is_string(&value, "unknown_peer") {
                    self.tell_hub(HubEvent::Refused {
                        session: from,
                        error: RequestError::UnknownPeer,
                    });
                    return;
                }
                self.metrics.cluster_relays.inc();
                // `ok`, the recipient's session and its owner: later signals go straight there.
                if let [_, sid, node] = &strings(value)[..]
                    && !node.is_empty()
                    && *node != *self.node
                {
                    self.routes
                        .lock()
                        .learn(&room, &to, sid.as_str().into(), node.as_str().into());
                }
            }
            Op::Direct { .. } => {
                self.metrics.cluster_relays.inc();
            }
            Op::Publish {
                heard: Some(heard), ..
            } => {
                let _ = heard.send(!matches!(value, Value::Int(0)));
            }
            Op::Barrier(done) => {
                let _ = done.send(());
            }
            _ => {}
        }
    }

    /// An operation Redis did not carry out: the client that asked hears of it.
    fn failed(&self, op: Op) {
        let unavailable =
            RequestError::Overloaded("the servers' shared state (Redis) is unreachable");
        match op {
            Op::Join { session, room, .. } => self.tell_hub(HubEvent::Joined {
                session,
                room,
                peers: Err(unavailable),
            }),
            Op::Relay { from, .. } | Op::Direct { from, .. } => self.tell_hub(HubEvent::Refused {
                session: from,
                error: unavailable,
            }),
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

impl Backplane for RedisBackplane {
    fn accepting(&self) -> bool {
        self.joined.load(Ordering::Relaxed)
    }

    /// Subscribed to this instance's channel and heartbeating.
    fn healthy(&self) -> bool {
        self.accepting()
            && self.subscribed.load(Ordering::Relaxed)
            && self.heartbeat_ok.load(Ordering::Relaxed)
    }

    fn registered(&self, session: &Session, token: &Arc<str>) {
        self.queue(Op::Register {
            sid: session.id.clone(),
            peer: session.peer.clone(),
            name: session.name.clone(),
            user: session.user.clone(),
            token: token.clone(),
        });
    }

    fn pushed(&self, sid: &Arc<str>, pushed: &Pushed) {
        self.queue(Op::Mirror {
            sid: sid.clone(),
            text: pushed.text.clone(),
            keep: pushed.kept,
        });
    }

    /// Capacity and the member list come from Redis, atomically: the answer comes through this
    /// server's channel (`joined`) or from the script's reply (room full).
    fn join(
        &self,
        session: &Arc<Session>,
        room: &str,
        _: usize,
        _: bool,
    ) -> Result<Admitted, RequestError> {
        let announce = Remote::PeerJoined {
            room: room.to_owned(),
            peer: session.peer.to_string(),
            name: session.name.to_string(),
        };
        self.queue(Op::Join {
            session: session.clone(),
            room: room.into(),
            announce: encode_remote(&announce),
        });
        Ok(Admitted::Later)
    }

    fn left(&self, session: &Session, room: &str) {
        self.queue(Op::Leave {
            sid: session.id.clone(),
            peer: session.peer.clone(),
            room: room.into(),
        });
    }

    fn ended(&self, sid: &Arc<str>) {
        self.queue(Op::End { sid: sid.clone() });
    }

    /// Routes into the room would otherwise stay: its `peer-left`s no longer reach this server.
    fn deserted(&self, room: &str) {
        self.routes.lock().desert(room);
    }

    /// Straight to the owner's channel when it is known ([`Routes`]); else Redis knows whether `to` is in
    /// the room on another server (else `unknown_peer` comes back) and which one.
    fn relay(
        &self,
        from: &Arc<Session>,
        room: &str,
        to: &str,
        data: &RawValue,
    ) -> Result<(), RequestError> {
        let event = Remote::Signal {
            room: room.to_owned(),
            from: from.peer.to_string(),
            data: data.to_owned(),
            at: unix_micros(),
            sender: Some(self.node.clone()),
        };
        let mut routes = self.routes.lock();
        let relay = |event: &Remote| Op::Relay {
            from: from.clone(),
            room: room.into(),
            to: to.into(),
            event: encode_remote(event),
        };
        match routes.get(room, to).cloned() {
            None => self.queue(relay(&event)),
            Some(Route::Direct { sid, node }) => self.queue(Op::Direct {
                from: from.clone(),
                room: room.into(),
                to: to.into(),
                sid,
                node,
                event: encode_remote(&event),
            }),
            Some(Route::Draining { sid, .. }) => routes.hold(&sid, relay(&event)),
            Some(Route::Here { sid }) => routes.keep(&sid, event),
        }
        Ok(())
    }

    /// Passed on through the script to the owner Redis knows. A server that sent it here directly is told,
    /// so it stops (in order: see [`Routes`]).
    fn forward(&self, sid: &Arc<str>, event: Remote) {
        if let Remote::Signal {
            sender: Some(node), ..
        } = &event
            && *node != self.node
        {
            self.publish(node, sid, &Message::Moved, None);
        }
        self.queue(Op::Forward {
            sid: sid.clone(),
            event: encode_remote(&event),
        });
    }

    fn arrived(&self, sid: &Arc<str>) -> Vec<Remote> {
        self.routes.lock().arrived(sid)
    }

    fn claim<'a>(&'a self, claim: ClaimRequest<'a>) -> BoxFuture<'a, Option<Claim>> {
        Box::pin(self.claim_session(claim))
    }

    fn stop(&self, drain: Duration) -> BoxFuture<'_, ()> {
        Box::pin(self.leave(drain))
    }
}

/// The key of a resume waiting for `kind` (`rel`, `mk`) about session `sid`.
fn waiter(kind: &str, sid: &str) -> String {
    format!("{kind} {sid}")
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
