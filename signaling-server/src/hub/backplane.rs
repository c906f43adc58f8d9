//! What the hub needs from whatever joins it to other servers, and what it hears back. The hub holds this
//! server's sessions and the local members of each room; a [`Backplane`] holds the rest: room admission
//! (capacity over every server), delivery to peers elsewhere, and sessions moving between servers on
//! resume. [`LocalBackplane`] is a single server (nothing elsewhere); `cluster::RedisBackplane` shares
//! rooms and sessions through Redis. A backplane never calls into the hub: it reports back with
//! [`HubEvent`]s on the hub's channel, which the hub handles in order (`Hub::run`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chat_protocol::PeerInfo;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot};

use crate::error::RequestError;
use crate::session::{Pushed, Session};

/// A boxed future, so that `dyn Backplane` can have async methods.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The hub holds its backplane as `Arc<dyn Backplane>`: the choice is made once at start from the
/// configuration, every call on the hot path (`pushed`, `relay`) costs one indirect call next to a Redis
/// round trip or nothing at all (local), and a generic `Hub<B>` would carry the type parameter through the
/// server state, every connection and the HTTP routes for no measurable gain.
pub trait Backplane: Send + Sync {
    /// Whether sessions may start here now (with Redis: once this server has joined the others).
    fn accepting(&self) -> bool;

    /// Whether `/readyz` may say ready as far as the backplane goes.
    fn healthy(&self) -> bool;

    /// A new session's first connection was bound; `token` is its resume token.
    fn registered(&self, session: &Session, token: &Arc<str>);

    /// A frame was pushed to `session`'s ring. Called under the session's lock, so a session that ended
    /// (or was handed over) has had every frame reported before [`Session::end`] returns.
    fn pushed(&self, sid: &Arc<str>, pushed: &Pushed);

    /// `session` asks to join `room`, which has `members_here` members on this server (`again`: the session
    /// is one of them). The backplane decides with what only it sees, the members elsewhere: it admits now
    /// (with the members elsewhere), refuses, or answers later with [`HubEvent::Joined`].
    fn join(
        &self,
        session: &Arc<Session>,
        room: &str,
        members_here: usize,
        again: bool,
    ) -> Result<Admitted, RequestError>;

    /// `session` left `room` (its members here have been told).
    fn left(&self, session: &Session, room: &str);

    /// Session `sid` ended (its members here have been told).
    fn ended(&self, sid: &Arc<str>);

    /// No member of `room` is left on this server (nothing from here is sent to the room any more).
    fn deserted(&self, room: &str);

    /// A signal from `from` to the peer `to` in `room`, who is not a member on this server. An error is
    /// the answer to the sender now; a refusal found later comes back as [`HubEvent::Refused`].
    fn relay(
        &self,
        from: &Arc<Session>,
        room: &str,
        to: &str,
        data: &RawValue,
    ) -> Result<(), RequestError>;

    /// An event that reached this server for session `sid`, which is not (or no longer) here.
    fn forward(&self, sid: &Arc<str>, event: Remote);

    /// Session `sid`, claimed with [`Claim::Moved`], is now a member of its rooms here: the signals from
    /// this server's sessions that the backplane kept for it since the claim, to deliver (in order)
    /// before any later one.
    fn arrived(&self, sid: &Arc<str>) -> Vec<Remote>;

    /// Claims session `sid` for this server if `token` is its current resume token and `user` its user;
    /// it then carries `new_token`. `held_here`: the hub holds it. `None`: nothing to resume (unknown,
    /// ended, another user's, a wrong token, or the shared state is unreachable).
    fn claim<'a>(&'a self, claim: ClaimRequest<'a>) -> BoxFuture<'a, Option<Claim>>;

    /// Leaves the other servers on shutdown, after at most `drain` for the sessions to move elsewhere.
    fn stop(&self, drain: Duration) -> BoxFuture<'_, ()>;
}

/// The parts of a resume a claim checks.
pub struct ClaimRequest<'a> {
    pub sid: &'a Arc<str>,
    pub user: &'a str,
    pub token: &'a str,
    pub new_token: &'a str,
    pub held_here: bool,
}

/// What a successful claim found.
pub enum Claim {
    /// The session is held here: it re-attaches.
    Here,
    /// The session was held elsewhere (or by a server that stopped) and moves here.
    Moved(Moved),
}

/// A session moving to this server, as the backplane kept it.
pub struct Moved {
    pub peer: String,
    pub name: String,
    pub rooms: Vec<String>,
    /// Frame texts it was sent, oldest first (each carries its `seq`).
    pub frames: Vec<String>,
    /// Events that waited while no server held it, in order.
    pub pending: Vec<Remote>,
}

/// The answer of [`Backplane::join`] when it admits.
pub enum Admitted {
    /// Admitted now; these are the room's other members on other servers.
    Now(Vec<PeerInfo>),
    /// The answer comes as [`HubEvent::Joined`].
    Later,
}

/// What reaches a session from another server.
#[derive(Debug)]
pub enum Remote {
    Signal {
        room: String,
        from: String,
        data: Box<RawValue>,
        /// Unix time in µs when the sender's server received it, for the cross-server latency.
        at: u64,
        /// The server the sender is on, if it addressed this one directly (so it can be told when the
        /// recipient moved on).
        sender: Option<Arc<str>>,
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
    /// The session joined `room`, whose other members (on every server) are `peers`.
    Joined {
        room: String,
        peers: Vec<PeerInfo>,
    },
    /// `device`, rung by push by this session for `call`, declined (`POST /push/decline`, on any server).
    RingDeclined {
        room: String,
        device: String,
        call: String,
    },
}

/// What a backplane tells the hub.
pub enum HubEvent {
    /// An event for session `sid`.
    Deliver { sid: Arc<str>, event: Remote },
    /// Another server resumed `sid`: it is forgotten here without `peer-left` (it lives on there). `done`
    /// is answered once no frame can be pushed to it here any more.
    HandOver {
        sid: Arc<str>,
        done: oneshot::Sender<()>,
    },
    /// The answer to a join the backplane admitted [`Admitted::Later`].
    Joined {
        session: Arc<Session>,
        room: Arc<str>,
        peers: Result<Vec<PeerInfo>, RequestError>,
    },
    /// A signal of `session` that could not be delivered.
    Refused {
        session: Arc<Session>,
        error: RequestError,
    },
    /// This server's sessions, to write to the shared state again after it lost them.
    Sessions(oneshot::Sender<Vec<LocalSession>>),
    /// Answered once every event sent before it has been handled.
    Flush(oneshot::Sender<()>),
}

/// The sending half of the hub's channel, given to the backplane.
pub type HubEvents = mpsc::UnboundedSender<HubEvent>;

/// A session held here, as the backplane writes it again.
pub struct LocalSession {
    pub id: Arc<str>,
    pub peer: Arc<str>,
    pub name: Box<str>,
    pub user: Box<str>,
    pub token: Arc<str>,
    pub rooms: Vec<Arc<str>>,
}

/// Current Unix time in µs (the clock [`Remote::Signal`] carries).
pub fn unix_micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// One server alone: every room member and every session is here.
pub struct LocalBackplane {
    room_capacity: usize,
}

impl LocalBackplane {
    pub fn new(room_capacity: usize) -> LocalBackplane {
        LocalBackplane { room_capacity }
    }
}

impl Backplane for LocalBackplane {
    fn accepting(&self) -> bool {
        true
    }

    fn healthy(&self) -> bool {
        true
    }

    fn registered(&self, _: &Session, _: &Arc<str>) {}

    fn pushed(&self, _: &Arc<str>, _: &Pushed) {}

    fn join(
        &self,
        _: &Arc<Session>,
        _: &str,
        members_here: usize,
        again: bool,
    ) -> Result<Admitted, RequestError> {
        if !again && members_here >= self.room_capacity {
            return Err(RequestError::RoomFull(self.room_capacity));
        }
        Ok(Admitted::Now(Vec::new()))
    }

    fn left(&self, _: &Session, _: &str) {}

    fn ended(&self, _: &Arc<str>) {}

    fn deserted(&self, _: &str) {}

    fn relay(&self, _: &Arc<Session>, _: &str, _: &str, _: &RawValue) -> Result<(), RequestError> {
        Err(RequestError::UnknownPeer)
    }

    fn forward(&self, _: &Arc<str>, _: Remote) {}

    fn arrived(&self, _: &Arc<str>) -> Vec<Remote> {
        Vec::new()
    }

    fn claim<'a>(&'a self, claim: ClaimRequest<'a>) -> BoxFuture<'a, Option<Claim>> {
        Box::pin(std::future::ready(claim.held_here.then_some(Claim::Here)))
    }

    fn stop(&self, _: Duration) -> BoxFuture<'_, ()> {
        Box::pin(std::future::ready(()))
    }
}
