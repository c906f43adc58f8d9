//! The hub: which sessions exist, who is in which room, and delivery of frames to a peer. Connection
//! handling talks to peers only through this API. The hub holds this server's sessions and the local
//! members of each room; its [`Backplane`] holds what lies beyond this server (room admission over every
//! server, delivery to peers elsewhere, sessions moving here on resume) and reports back through the hub's
//! channel of [`HubEvent`]s, handled in order by [`Hub::run`].

mod backplane;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use chat_protocol::{ErrorCode, PeerInfo, Resume, ServerFrame};
use rand::RngCore;
use serde_json::value::RawValue;
use tokio::sync::mpsc;

use crate::auth::Grant;
use crate::config::Config;
use crate::error::RequestError;
use crate::metrics::Metrics;
use crate::session::{Attached, RingLimits, Session};

pub use backplane::{
    Admitted, Backplane, BoxFuture, Claim, ClaimRequest, HubEvent, HubEvents, LocalBackplane,
    LocalSession, Moved, Remote, unix_micros,
};

/// Most rooms one client may be in at once.
pub const MAX_ROOMS_PER_SESSION: usize = 16;

/// Bytes a relayed `signal` adds around its `data`, `room` and `from` (type, seq, keys): an upper bound
/// used to check the global buffer before queueing it.
const SIGNAL_OVERHEAD: usize = 96;

/// Most hub events handled per wake-up of [`Hub::run`].
const EVENT_BATCH: usize = 256;

/// The limits the hub enforces (docs/security.md lists them with their defaults).
#[derive(Debug, Clone)]
pub struct HubLimits {
    pub room_capacity: usize,
    pub ring: RingLimits,
    /// Bytes over all rings.
    pub max_buffered_bytes: usize,
    /// Sessions, including those waiting in their grace period.
    pub max_sessions: usize,
    /// Per IPv4 address or IPv6 /64; 0: none.
    pub max_sessions_per_ip: usize,
    /// Per token `sub`; 0: none. Not applied on an open server (everyone is the same anonymous user).
    pub max_sessions_per_user: usize,
}

impl HubLimits {
    pub fn from_config(config: &Config) -> HubLimits {
        HubLimits {
            room_capacity: config.effective_room_capacity(),
            ring: RingLimits {
                frames: config.resume_buffer,
                bytes: config.resume_buffer_bytes,
            },
            max_buffered_bytes: config.max_buffered_bytes,
            max_sessions: config.max_sessions,
            max_sessions_per_ip: config.max_sessions_per_ip,
            max_sessions_per_user: config.max_sessions_per_user,
        }
    }
}

/// What a `hello` with `resume` gets.
pub enum ResumeOutcome {
    Resumed(Arc<Session>, Attached),
    /// Unknown, ended, another user's, or a wrong resume token: the client gets a fresh session.
    Fresh,
}

/// A session is out of a room here: it left, ended, or (`moved`) was resumed on another server and lives
/// on there. For what keeps per-room state of a session beside the hub (the SFU's participants).
#[derive(Debug, Clone)]
pub struct Departure {
    pub session: Arc<str>,
    pub room: Arc<str>,
    pub moved: bool,
}

pub struct Hub {
    state: Mutex<HubState>,
    limits: HubLimits,
    metrics: Arc<Metrics>,
    backplane: Arc<dyn Backplane>,
    departures: OnceLock<mpsc::UnboundedSender<Departure>>,
}

#[derive(Default)]
struct HubState {
    /// By session id, for resume.
    sessions: HashMap<Arc<str>, Arc<Session>>,
    /// Members of each non-empty room, in join order (at most `room_capacity`, so scans are short).
    rooms: HashMap<Arc<str>, Vec<Arc<Session>>>,
    /// Sessions waiting in their resume grace period, oldest first: the first to end when a limit needs
    /// room, since nobody is using them right now.
    parked: BTreeMap<u64, Arc<Session>>,
    next_park: u64,
    /// Sessions per IP key and per user, for their limits.
    per_ip: HashMap<IpAddr, usize>,
    per_user: HashMap<Box<str>, usize>,
    /// Sessions being claimed for a resume: events for them wait here until they are attached or loaded.
    claiming: HashMap<Arc<str>, Vec<Remote>>,
    /// Joins the backplane will answer later, per session (they count towards its room limit).
    joining: HashMap<Arc<str>, usize>,
}

impl Hub {
    pub fn new(limits: HubLimits, metrics: Arc<Metrics>, backplane: Arc<dyn Backplane>) -> Hub {
        Hub {
            state: Mutex::new(HubState::default()),
            limits,
            metrics,
            backplane,
            departures: OnceLock::new(),
        }
    }

    /// Every [`Departure`] from now on (one watcher per hub: a second call gets `None`).
    pub fn watch_departures(&self) -> Option<mpsc::UnboundedReceiver<Departure>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.departures.set(tx).ok()?;
        Some(rx)
    }

    fn departed(&self, session: &Session, room: &str, moved: bool) {
        if let Some(tx) = self.departures.get() {
            let _ = tx.send(Departure {
                session: session.id.clone(),
                room: room.into(),
                moved,
            });
        }
    }

    /// The channel a backplane reports on; [`Hub::run`] takes the receiving end.
    pub fn channel() -> (HubEvents, mpsc::UnboundedReceiver<HubEvent>) {
        mpsc::unbounded_channel()
    }

    /// Handles the backplane's events in order until it drops its sender.
    pub async fn run(self: Arc<Self>, mut events: mpsc::UnboundedReceiver<HubEvent>) {
        let mut batch = Vec::with_capacity(EVENT_BATCH);
        while events.recv_many(&mut batch, EVENT_BATCH).await > 0 {
            for event in batch.drain(..) {
                self.handle(event);
            }
        }
    }

    fn handle(&self, event: HubEvent) {
        match event {
            HubEvent::Deliver { sid, event } => self.deliver_remote(&sid, event),
            HubEvent::HandOver { sid, done } => {
                self.hand_over(&sid);
                let _ = done.send(());
            }
            HubEvent::Joined {
                session,
                room,
                peers,
            } => self.join_done(&session, &room, peers),
            HubEvent::Refused { session, error } => {
                self.send_error(&session, &error, Some("signal"));
            }
            HubEvent::Sessions(reply) => {
                let _ = reply.send(self.local_sessions());
            }
            HubEvent::Flush(done) => {
                let _ = done.send(());
            }
        }
    }

    /// Whether sessions may start (see [`Backplane::accepting`]).
    pub fn accepting(&self) -> bool {
        self.backplane.accepting()
    }

    /// Whether the backplane is healthy, for `/readyz`.
    pub fn healthy(&self) -> bool {
        self.backplane.healthy()
    }

    /// Leaves the other servers on shutdown (see [`Backplane::stop`]).
    pub async fn stop(&self, drain: Duration) {
        self.backplane.stop(drain).await;
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Creates a session with fresh random peer and session ids (128 bits each, URL-safe) for a client at
    /// `ip`, within the session limits: at a limit, the oldest session of the same address, of the same
    /// user, or (global limit) of anyone that waits in its grace period is ended to make room; if there is
    /// none the `hello` is refused.
    pub fn create_session(
        &self,
        name: Box<str>,
        grant: Grant,
        ip: IpAddr,
    ) -> Result<Arc<Session>, RequestError> {
        let ip = ip_key(ip);
        let mut state = self.lock();
        if let Err((reason, error)) = self.make_room_locked(&mut state, ip, &grant.user) {
            self.metrics.session_refused(reason);
            return Err(error);
        }
        let session = Arc::new(Session::new(
            random_id(),
            random_id(),
            name,
            grant,
            ip,
            self.limits.ring,
            self.metrics.buffered_bytes.clone(),
        ));
        self.insert_locked(&mut state, &session);
        Ok(session)
    }

    /// Makes room for one more session of address `ip` (already an [`ip_key`]) and `user` within the
    /// session limits, ending the oldest parked session that counts towards a full one; the error names
    /// the limit (its metrics reason and the refusal).
    fn make_room_locked(
        &self,
        state: &mut HubState,
        ip: IpAddr,
        user: &str,
    ) -> Result<(), (&'static str, RequestError)> {
        let limits = &self.limits;
        if limits.max_sessions_per_ip > 0
            && state.per_ip.get(&ip).copied().unwrap_or(0) >= limits.max_sessions_per_ip
            && !self.evict_parked(state, |s| s.ip == ip, "per_ip")
        {
            return Err(("per_ip", RequestError::TooManySessions("address")));
        }
        if limits.max_sessions_per_user > 0
            && !user.is_empty()
            && state.per_user.get(user).copied().unwrap_or(0) >= limits.max_sessions_per_user
            && !self.evict_parked(state, |s| *s.user == *user, "per_user")
        {
            return Err(("per_user", RequestError::TooManySessions("user")));
        }
        if state.sessions.len() >= limits.max_sessions
            && !self.evict_parked(state, |_| true, "max_sessions")
        {
            return Err((
                "max_sessions",
                RequestError::Overloaded("session limit reached"),
            ));
        }
        Ok(())
    }

    /// Counts `session` in as held here.
    fn insert_locked(&self, state: &mut HubState, session: &Arc<Session>) {
        state.sessions.insert(session.id.clone(), session.clone());
        *state.per_ip.entry(session.ip).or_default() += 1;
        if !session.user.is_empty() {
            *state.per_user.entry(session.user.clone()).or_default() += 1;
        }
        self.metrics.sessions.inc();
    }

    /// Re-attaches the session `resume` names if the client proves it owns it: same user and the resume
    /// token of its latest `welcome`. The token presented now replaces the session's grant; if it no
    /// longer allows a room the session is in, the session ends (others see `peer-left`) and the client
    /// starts afresh, rejoining what it may. Anything else leaves the named session untouched.
    ///
    /// The backplane claims the session (only the holder of its current resume token can, so of two racing
    /// resumes one wins and the other starts afresh). Held here, it re-attaches; held elsewhere, it moves
    /// here with its rooms, its buffered frames (replayed after `last_seq`) and the events that waited.
    pub async fn resume(&self, resume: &Resume, grant: &Grant, ip: IpAddr) -> ResumeOutcome {
        let sid: Arc<str> = resume.session.as_str().into();
        let Some(held_here) = self.start_claiming(&sid, resume, grant, ip) else {
            return ResumeOutcome::Fresh;
        };
        let new_token = random_id();
        let claim = self
            .backplane
            .claim(ClaimRequest {
                sid: &sid,
                user: &grant.user,
                token: &resume.token,
                new_token: &new_token,
                held_here,
            })
            .await;
        match claim {
            None => self.stop_claiming(&sid),
            Some(Claim::Here) => self.reattach(&sid, resume.last_seq, grant, new_token),
            Some(Claim::Moved(moved)) => self.move_here(&sid, moved, resume, grant, ip, new_token),
        }
    }

    /// The checks before a claim; `Some(held here)` if it may go on. From here until the claim is done,
    /// events for the session wait (see [`Hub::deliver_remote`]).
    fn start_claiming(
        &self,
        sid: &Arc<str>,
        resume: &Resume,
        grant: &Grant,
        ip: IpAddr,
    ) -> Option<bool> {
        let mut state = self.lock();
        // Never overwrite a claim under way: of two resumes racing here, the later starts afresh.
        if state.claiming.contains_key(sid) {
            return None;
        }
        let held_here = match state.sessions.get(sid) {
            // Held here: a wrong user or token is refused here, before anything else, so it never holds
            // back the live session's events.
            Some(session) => {
                let owned = *session.user == *grant.user
                    && !session.is_ended()
                    && session.resume_token_matches(&resume.token);
                if !owned {
                    return None;
                }
                true
            }
            // Moving here, it counts towards this server's session limits: checked before the claim, so a
            // resume refused for them leaves the session where it is (and the fresh `hello` that follows
            // is refused for the same limit).
            None => {
                self.make_room_locked(&mut state, ip_key(ip), &grant.user)
                    .ok()?;
                false
            }
        };
        state.claiming.insert(sid.clone(), Vec::new());
        Some(held_here)
    }

    /// The claimed session is held here: it re-attaches with the new grant, unless that grant no longer
    /// allows one of its rooms.
    fn reattach(
        &self,
        sid: &Arc<str>,
        last_seq: u64,
        grant: &Grant,
        new_token: Arc<str>,
    ) -> ResumeOutcome {
        let mut state = self.lock();
        let Some(session) = state.sessions.get(sid).cloned() else {
            drop(state);
            return self.stop_claiming(sid);
        };
        if !session.rooms_allowed_by(grant) {
            self.end_locked(&mut state, &session);
            drop(state);
            return self.stop_claiming(sid);
        }
        session.set_grant(grant.clone());
        self.unpark_locked(&mut state, &session);
        let attached = session.attach(Some(last_seq), new_token);
        drop(state);
        self.finish_claiming(sid, Some(&session));
        self.metrics.resumes.inc();
        ResumeOutcome::Resumed(session, attached)
    }

    /// The claimed session was held elsewhere: it is rebuilt here from what the backplane kept, within
    /// this server's session limits and the new grant's rooms.
    fn move_here(
        &self,
        sid: &Arc<str>,
        moved: Moved,
        resume: &Resume,
        grant: &Grant,
        ip: IpAddr,
        new_token: Arc<str>,
    ) -> ResumeOutcome {
        let frames: Vec<(u64, String)> = moved
            .frames
            .into_iter()
            .filter_map(|text| Some((seq_of(&text)?, text)))
            .collect();
        let next_seq = frames.last().map_or(0, |f| f.0).max(resume.last_seq) + 1;
        let session = Arc::new(Session::new(
            moved.peer.into(),
            sid.clone(),
            moved.name.into(),
            grant.clone(),
            ip_key(ip),
            self.limits.ring,
            self.metrics.buffered_bytes.clone(),
        ));
        session.restore(frames, next_seq);
        let mut state = self.lock();
        let arrived = self.backplane.arrived(sid);
        // Sessions that started here meanwhile may have filled a limit again.
        if let Err((reason, _)) = self.make_room_locked(&mut state, session.ip, &session.user) {
            self.metrics.session_refused(reason);
            drop(state);
            self.backplane.ended(sid);
            return self.stop_claiming(sid);
        }
        self.insert_locked(&mut state, &session);
        for room in moved.rooms {
            let room: Arc<str> = room.into();
            self.room_entry(&mut state, &room).push(session.clone());
            session.add_room(room);
        }
        if !session.rooms_allowed_by(grant) {
            self.end_locked(&mut state, &session);
            drop(state);
            return self.stop_claiming(sid);
        }
        // After what was held meanwhile (sent before these), and before what this server's sessions send
        // from now on (held too, until the claim is finished: see `relay`).
        if let Some(held) = state.claiming.get_mut(sid) {
            held.extend(arrived);
        }
        let attached = session.attach(Some(resume.last_seq), new_token);
        drop(state);
        for event in moved.pending {
            self.apply(&session, event);
        }
        self.finish_claiming(sid, Some(&session));
        self.metrics.resumes.inc();
        ResumeOutcome::Resumed(session, attached)
    }

    /// A claim that did not happen: events held for the session go to it if it is still here, else on to
    /// wherever it is.
    fn stop_claiming(&self, sid: &Arc<str>) -> ResumeOutcome {
        let here = self.lock().sessions.get(sid).cloned();
        self.finish_claiming(sid, here.as_ref());
        ResumeOutcome::Fresh
    }

    /// Delivers the events held while `sid` was being claimed, in order, to `session` (or on to wherever
    /// the session is), then lets new events reach it directly.
    fn finish_claiming(&self, sid: &Arc<str>, session: Option<&Arc<Session>>) {
        loop {
            let held = {
                let mut state = self.lock();
                let Some(held) = state.claiming.get_mut(sid) else {
                    return;
                };
                if held.is_empty() {
                    state.claiming.remove(sid);
                    return;
                }
                std::mem::take(held)
            };
            for event in held {
                match session {
                    Some(session) => self.apply(session, event),
                    None => self.backplane.forward(sid, event),
                }
            }
        }
    }

    /// No longer waiting in its grace period.
    fn unpark_locked(&self, state: &mut HubState, session: &Session) {
        if let Some(key) = session.set_parked(None)
            && state.parked.remove(&key).is_some()
        {
            self.metrics.sessions_parked.dec();
        }
    }

    /// The members of `room` here, created (and counted) if it has none yet.
    fn room_entry<'a>(
        &self,
        state: &'a mut HubState,
        room: &Arc<str>,
    ) -> &'a mut Vec<Arc<Session>> {
        state.rooms.entry(room.clone()).or_insert_with(|| {
            self.metrics.rooms.inc();
            Vec::new()
        })
    }

    /// Another server resumed `sid`: its connection here closes (1000) and it is forgotten without
    /// `peer-left`, since it lives on there.
    fn hand_over(&self, sid: &str) {
        let mut state = self.lock();
        let Some(session) = state.sessions.remove(sid) else {
            return;
        };
        self.unpark_locked(&mut state, &session);
        decrement(&mut state.per_ip, &session.ip);
        decrement(&mut state.per_user, &*session.user);
        for room in session.end() {
            self.departed(&session, &room, true);
            if let Some(members) = state.rooms.get_mut(&room) {
                members.retain(|s| !Arc::ptr_eq(s, &session));
                if members.is_empty() {
                    state.rooms.remove(&room);
                    self.metrics.rooms.dec();
                    self.backplane.deserted(&room);
                }
            }
        }
        self.metrics.sessions.dec();
    }

    /// An event from another server for session `sid`: delivered if the session is here, held if it is
    /// being claimed, else passed on to where it moved.
    fn deliver_remote(&self, sid: &Arc<str>, event: Remote) {
        let mut state = self.lock();
        if let Some(held) = state.claiming.get_mut(sid) {
            held.push(event);
            return;
        }
        if let Some(session) = state.sessions.get(sid).cloned() {
            drop(state);
            self.apply(&session, event);
            return;
        }
        drop(state);
        self.backplane.forward(sid, event);
    }

    fn apply(&self, session: &Arc<Session>, event: Remote) {
        match event {
            Remote::Signal {
                room,
                from,
                data,
                at,
                ..
            } => {
                // Sent while it left the room (the sender's server had not heard yet).
                if !session.in_room(&room) {
                    self.metrics.remote_signals_dropped.inc();
                    return;
                }
                // The same budget as a relay between two sessions of this server. The sender's server
                // already answered it, so a signal over the budget is dropped and counted.
                let size = data.get().len() + room.len() + from.len() + SIGNAL_OVERHEAD;
                if self.reserve_buffer(size).is_err() {
                    self.metrics.remote_signals_dropped.inc();
                    return;
                }
                let took = Duration::from_micros(unix_micros().saturating_sub(at));
                self.metrics.cross_node_latency.observe(took.as_secs_f64());
                let received = Instant::now().checked_sub(took);
                self.send_at(session, received, |seq| ServerFrame::Signal {
                    seq,
                    room,
                    from,
                    data,
                });
            }
            Remote::PeerJoined { room, peer, name } => {
                self.send(session, |seq| ServerFrame::PeerJoined {
                    seq,
                    room,
                    peer,
                    name,
                });
            }
            Remote::PeerLeft { room, peer } => {
                self.send(session, |seq| ServerFrame::PeerLeft { seq, room, peer });
            }
            Remote::Joined { room, peers } => self.join_done(session, &room, Ok(peers)),
            Remote::RingDeclined { room, device, call } => {
                self.send(session, |seq| ServerFrame::RingDeclined {
                    seq,
                    room,
                    device,
                    call,
                });
            }
        }
    }

    /// This server's sessions, for the backplane to write again after the shared state lost them.
    fn local_sessions(&self) -> Vec<LocalSession> {
        self.lock()
            .sessions
            .values()
            .map(|s| LocalSession {
                id: s.id.clone(),
                peer: s.peer.clone(),
                name: s.name.clone(),
                user: s.user.clone(),
                token: s.resume_token(),
                rooms: s.rooms(),
            })
            .collect()
    }

    /// Delivers `event` to session `sid` wherever it is (here, being claimed here, or on another server).
    pub fn deliver(&self, sid: &str, event: Remote) {
        self.deliver_remote(&Arc::from(sid), event);
    }

    /// The peer ids of `room`'s members on this server.
    pub fn members_here(&self, room: &str) -> Vec<String> {
        self.lock()
            .rooms
            .get(room)
            .map(|members| members.iter().map(|s| s.peer.to_string()).collect())
            .unwrap_or_default()
    }

    pub fn session_count(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Binds the first connection of a new session.
    pub fn attach_new(&self, session: &Session) -> Attached {
        let attached = session.attach(None, random_id());
        self.backplane.registered(session, &attached.resume_token);
        attached
    }

    /// Queues an already serialized frame built for the next seq (the `welcome`).
    pub fn push_text(&self, session: &Session, build: impl FnOnce(u64) -> String) {
        session.push(None, build, |pushed| {
            self.backplane.pushed(&session.id, pushed);
        });
    }

    /// Ends the oldest session waiting in its grace period that matches `which`; false if there is none.
    fn evict_parked(
        &self,
        state: &mut HubState,
        which: impl Fn(&Session) -> bool,
        reason: &'static str,
    ) -> bool {
        let Some(session) = state.parked.values().find(|s| which(s)).cloned() else {
            return false;
        };
        self.end_locked(state, &session);
        self.metrics.session_evicted(reason);
        true
    }

    /// Queues a server frame for `session`, numbered with its next seq.
    pub fn send(&self, session: &Session, frame: impl FnOnce(u64) -> ServerFrame) {
        self.send_at(session, None, frame);
    }

    /// Queues a server frame; `false` if the session has ended (nothing was queued).
    fn send_at(
        &self,
        session: &Session,
        relayed_at: Option<Instant>,
        frame: impl FnOnce(u64) -> ServerFrame,
    ) -> bool {
        let mut frame_type = "";
        let pushed = session.push(
            relayed_at,
            |seq| {
                let frame = frame(seq);
                frame_type = type_of(&frame);
                // Serializing these types cannot fail: all keys are strings and `data` is already valid
                // JSON.
                serde_json::to_string(&frame).unwrap_or_default()
            },
            |pushed| self.backplane.pushed(&session.id, pushed),
        );
        if !frame_type.is_empty() {
            self.metrics.frame_out(frame_type);
        }
        pushed
    }

    /// Queues an `error` frame.
    pub fn send_error(&self, session: &Session, error: &RequestError, r#ref: Option<&str>) {
        self.metrics.error(error.code().as_str());
        self.send(session, |seq| ServerFrame::Error {
            seq,
            code: error.code(),
            message: error.to_string(),
            r#ref: r#ref.map(str::to_owned),
        });
    }

    /// Counts an error that is sent outside a session (before `welcome`).
    pub fn count_error(&self, code: ErrorCode) {
        self.metrics.error(code.as_str());
    }

    /// Adds `session` to `room`: it gets `joined` with the members already there, they get `peer-joined`.
    /// Joining a room again just repeats `joined`. The backplane admits the join, now or later.
    pub fn join(&self, session: &Arc<Session>, room: &str) -> Result<(), RequestError> {
        if !chat_protocol::is_valid_room_name(room) {
            return Err(RequestError::InvalidRoomName);
        }
        if !session.allows_room(room) {
            return Err(RequestError::Unauthorized(format!(
                "your token does not allow room {room:?}"
            )));
        }
        let mut state = self.lock();
        let again = session.in_room(room);
        // A join answered later counts too, or a burst of joins would pass.
        let joining = state.joining.get(&session.id).copied().unwrap_or(0);
        if !again && session.rooms_len() + joining >= MAX_ROOMS_PER_SESSION {
            return Err(RequestError::TooManyRooms(MAX_ROOMS_PER_SESSION));
        }
        let members = state.rooms.get(room).map_or(&[][..], Vec::as_slice);
        match self.backplane.join(session, room, members.len(), again)? {
            Admitted::Later => {
                *state.joining.entry(session.id.clone()).or_default() += 1;
            }
            Admitted::Now(elsewhere) => {
                let mut peers: Vec<PeerInfo> = members
                    .iter()
                    .filter(|s| !Arc::ptr_eq(s, session))
                    .map(|s| PeerInfo {
                        peer: s.peer.to_string(),
                        name: s.name.to_string(),
                    })
                    .collect();
                peers.extend(elsewhere);
                self.enter_room(&mut state, session, room, peers);
            }
        }
        Ok(())
    }

    /// The answer to a join the backplane admitted later: `peers` are the other members on every server.
    fn join_done(
        &self,
        session: &Arc<Session>,
        room: &str,
        peers: Result<Vec<PeerInfo>, RequestError>,
    ) {
        let mut state = self.lock();
        decrement(&mut state.joining, &session.id);
        let peers = match peers {
            Ok(peers) => peers,
            Err(error) => {
                drop(state);
                return self.send_error(session, &error, Some("join"));
            }
        };
        if !session.is_ended() {
            self.enter_room(&mut state, session, room, peers);
        }
    }

    /// Puts `session` in `room` (unless it is there already; the members here get `peer-joined`) and
    /// sends it `joined` with `peers`. Under the hub lock, so no frame about this room can overtake
    /// `joined`.
    fn enter_room(
        &self,
        state: &mut HubState,
        session: &Arc<Session>,
        room: &str,
        peers: Vec<PeerInfo>,
    ) {
        if !session.in_room(room) {
            let key: Arc<str> = room.into();
            let members = self.room_entry(state, &key);
            for other in members.iter() {
                self.send(other, |seq| ServerFrame::PeerJoined {
                    seq,
                    room: room.to_owned(),
                    peer: session.peer.to_string(),
                    name: session.name.to_string(),
                });
            }
            members.push(session.clone());
            session.add_room(key);
        }
        self.send(session, |seq| ServerFrame::Joined {
            seq,
            room: room.to_owned(),
            peers,
        });
    }

    /// Removes `session` from `room`; the others get `peer-left`.
    pub fn leave(&self, session: &Arc<Session>, room: &str) -> Result<(), RequestError> {
        let mut state = self.lock();
        if !session.in_room(room) {
            return Err(RequestError::NotInRoom(room.to_owned()));
        }
        session.remove_room(room);
        self.remove_member(&mut state, session, room);
        self.backplane.left(session, room);
        Ok(())
    }

    fn remove_member(&self, state: &mut HubState, session: &Arc<Session>, room: &str) {
        let Some(members) = state.rooms.get_mut(room) else {
            return;
        };
        self.departed(session, room, false);
        members.retain(|s| !Arc::ptr_eq(s, session));
        for other in members.iter() {
            self.send(other, |seq| ServerFrame::PeerLeft {
                seq,
                room: room.to_owned(),
                peer: session.peer.to_string(),
            });
        }
        if members.is_empty() {
            state.rooms.remove(room);
            self.metrics.rooms.dec();
            self.backplane.deserted(room);
        }
    }

    /// Relays `data` from `from` to the peer `to`, both of whom must be in `room`. `from` is set here,
    /// never taken from the client. A recipient that is not here (or was handed over a moment ago) is the
    /// backplane's.
    pub fn relay(
        &self,
        from: &Arc<Session>,
        room: &str,
        to: &str,
        data: &RawValue,
        received: Instant,
    ) -> Result<(), RequestError> {
        let size = data.get().len() + room.len() + from.peer.len() + SIGNAL_OVERHEAD;
        self.reserve_buffer(size)?;
        let signal = |seq| ServerFrame::Signal {
            seq,
            room: room.to_owned(),
            from: from.peer.to_string(),
            data: data.to_owned(),
        };
        let recipient = {
            let mut state = self.lock();
            let members = state.rooms.get(room);
            let Some(members) = members.filter(|m| m.iter().any(|s| Arc::ptr_eq(s, from))) else {
                return Err(RequestError::NotInRoom(room.to_owned()));
            };
            let Some(recipient) = members.iter().find(|s| &*s.peer == to).cloned() else {
                // Under the hub lock: a session moving here joins its rooms under it too, so every
                // signal this server sent it before that went through the backplane.
                return self.backplane.relay(from, room, to, data);
            };
            // It just moved here and events from elsewhere still wait: this one goes after them.
            if let Some(held) = state.claiming.get_mut(&recipient.id) {
                held.push(Remote::Signal {
                    room: room.to_owned(),
                    from: from.peer.to_string(),
                    data: data.to_owned(),
                    at: unix_micros(),
                    sender: None,
                });
                return Ok(());
            }
            recipient
        };
        if self.send_at(&recipient, Some(received), signal) {
            return Ok(());
        }
        // Handed over to another server a moment ago.
        self.backplane.relay(from, room, to, data)
    }

    /// Makes room for `size` more buffered bytes under `--max-buffered-bytes`. First sessions waiting in
    /// their grace period end, oldest first (nobody uses them now); then connected sessions drop the frames
    /// their connection already wrote (kept only for a replay after a silent drop), in one pass over all
    /// sessions, which frees enough for a long while; if frames not yet written still fill the budget the
    /// relay is refused with `overloaded`.
    fn reserve_buffer(&self, size: usize) -> Result<(), RequestError> {
        let over = |hub: &Hub| {
            usize::try_from(hub.metrics.buffered_bytes.get()).unwrap_or(0) + size
                > hub.limits.max_buffered_bytes
        };
        if !over(self) {
            return Ok(());
        }
        let mut state = self.lock();
        while over(self) {
            if !self.evict_parked(&mut state, |_| true, "buffered_bytes") {
                break;
            }
        }
        if over(self) {
            self.metrics.buffer_trims.inc();
            for session in state.sessions.values() {
                session.trim_delivered();
            }
        }
        if over(self) {
            return Err(RequestError::Overloaded("buffer memory limit reached"));
        }
        Ok(())
    }

    /// Ends `session`: it leaves every room (others see `peer-left`) and can no longer be resumed.
    pub fn end_session(&self, session: &Arc<Session>) {
        let mut state = self.lock();
        self.end_locked(&mut state, session);
    }

    fn end_locked(&self, state: &mut HubState, session: &Arc<Session>) {
        if state.sessions.remove(&session.id).is_none() {
            return;
        }
        self.unpark_locked(state, session);
        decrement(&mut state.per_ip, &session.ip);
        decrement(&mut state.per_user, &*session.user);
        state.joining.remove(&session.id);
        for room in session.end() {
            self.remove_member(state, session, &room);
        }
        self.backplane.ended(&session.id);
        self.metrics.sessions.dec();
    }

    /// Starts the resume grace period of connection `generation` of `session`, if it is still the current
    /// one: the session waits, counted as parked, and ends unless a connection resumes it in time.
    pub fn park(self: &Arc<Self>, session: Arc<Session>, generation: u64, grace: Duration) {
        let mut state = self.lock();
        if !session.detach(generation) {
            return;
        }
        let key = state.next_park;
        state.next_park += 1;
        session.set_parked(Some(key));
        state.parked.insert(key, session.clone());
        self.metrics.sessions_parked.inc();
        drop(state);
        let hub = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            if session.still_dropped(generation) {
                hub.end_session(&session);
            }
        });
    }
}

fn decrement<K, Q>(counts: &mut HashMap<K, usize>, key: &Q)
where
    K: std::borrow::Borrow<Q> + std::hash::Hash + Eq,
    Q: std::hash::Hash + Eq + ?Sized,
{
    if let Some(count) = counts.get_mut(key) {
        *count -= 1;
        if *count == 0 {
            counts.remove(key);
        }
    }
}

/// What the per-IP limits count: an IPv4 address, or the /64 network of an IPv6 address (one host
/// usually holds a whole /64, so counting single IPv6 addresses would limit nothing).
pub fn ip_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

fn type_of(frame: &ServerFrame) -> &'static str {
    match frame {
        ServerFrame::Welcome { .. } => "welcome",
        ServerFrame::Joined { .. } => "joined",
        ServerFrame::PeerJoined { .. } => "peer-joined",
        ServerFrame::PeerLeft { .. } => "peer-left",
        ServerFrame::Signal { .. } => "signal",
        ServerFrame::Pong { .. } => "pong",
        ServerFrame::Error { .. } => "error",
        ServerFrame::PushRegistered { .. } => "push-registered",
        ServerFrame::PushUnregistered { .. } => "push-unregistered",
        ServerFrame::OfflineMembers { .. } => "offline-members",
        ServerFrame::Ringing { .. } => "ringing",
        ServerFrame::RingDeclined { .. } => "ring-declined",
        ServerFrame::Sfu { .. } => "sfu",
        ServerFrame::SfuLost { .. } => "sfu-lost",
    }
}

/// The `seq` of a serialized server frame.
fn seq_of(text: &str) -> Option<u64> {
    #[derive(serde::Deserialize)]
    struct Numbered {
        seq: u64,
    }
    serde_json::from_str::<Numbered>(text).ok().map(|n| n.seq)
}

pub(crate) fn random_id() -> Arc<str> {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(bytes)
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(max_buffered_bytes: usize) -> Hub {
        let config = Config::from_args([
            "--max-frame-bytes",
            "1024",
            "--resume-buffer-bytes",
            "4096",
            "--max-buffered-bytes",
            &max_buffered_bytes.to_string(),
        ])
        .unwrap();
        Hub::new(
            HubLimits::from_config(&config),
            Arc::new(Metrics::new()),
            Arc::new(LocalBackplane::new(config.room_capacity)),
        )
    }

    fn member(hub: &Hub, name: &str) -> Arc<Session> {
        let session = hub
            .create_session(name.into(), Grant::open(), IpAddr::from([10, 0, 0, 1]))
            .unwrap();
        hub.attach_new(&session);
        hub.join(&session, "r").unwrap();
        session
    }

    /// Connected sessions whose connections have not written their frames (here: never took them) cannot
    /// be trimmed and nobody is parked: the budget holds by refusing the relay. (A real connection writes
    /// its frames at once, so this takes many clients that stop reading at the same time.)
    #[test]
    fn unwritten_frames_over_the_budget_refuse_relays_with_overloaded() {
        let hub = hub(12_000);
        let sender = member(&hub, "s");
        let recipients: Vec<_> = (0..5).map(|i| member(&hub, &format!("r{i}"))).collect();
        let data = RawValue::from_string(format!("\"{}\"", "x".repeat(900))).unwrap();
        let mut refused = 0;
        for to in recipients.iter().cycle().take(30) {
            match hub.relay(&sender, "r", &to.peer, &data, Instant::now()) {
                Ok(()) => {}
                Err(RequestError::Overloaded(_)) => refused += 1,
                Err(other) => panic!("{other}"),
            }
        }
        assert!(refused > 0);
        assert_eq!(hub.metrics.buffer_trims.get(), refused);
        let buffered = usize::try_from(hub.metrics.buffered_bytes.get()).unwrap();
        assert!(buffered <= 12_000, "{buffered}");
    }

    #[test]
    fn ipv6_addresses_count_per_64_and_mapped_ipv4_as_ipv4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_key(a), ip_key(b));
        assert_ne!(ip_key(a), ip_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(ip_key(mapped), IpAddr::from([192, 0, 2, 7]));
    }
}
