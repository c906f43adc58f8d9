//! The hub: which sessions exist, who is in which room, and delivery of frames to a peer. Connection
//! handling talks to peers only through this API. With `--redis-url` the hub holds this server's sessions
//! and the local members of each room, and the [`Cluster`] shares the rest with the other servers: room
//! membership and capacity, session records for a resume elsewhere, and delivery to peers elsewhere.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use chat_protocol::{ErrorCode, PeerInfo, Resume, ServerFrame};
use rand::RngCore;
use serde_json::value::RawValue;

use crate::auth::Grant;
use crate::cluster::{Cluster, Event, LocalSession, Op, unix_micros};
use crate::config::Config;
use crate::error::RequestError;
use crate::metrics::Metrics;
use crate::session::{Attached, Pushed, RingLimits, Session};

/// Most rooms one client may be in at once.
pub const MAX_ROOMS_PER_SESSION: usize = 16;

/// Bytes a relayed `signal` adds around its `data`, `room` and `from` (type, seq, keys): an upper bound
/// used to check the global buffer before queueing it.
const SIGNAL_OVERHEAD: usize = 96;

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
            room_capacity: config.room_capacity,
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

pub struct Hub {
    state: Mutex<HubState>,
    limits: HubLimits,
    metrics: Arc<Metrics>,
    /// Set with `--redis-url`.
    cluster: OnceLock<Arc<Cluster>>,
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
    /// Sessions being taken over from another server: events for them wait here until they are loaded.
    claiming: HashMap<Arc<str>, Vec<Event>>,
    /// Joins sent to Redis and not answered yet, per session (they count towards its room limit).
    joining: HashMap<Arc<str>, usize>,
}

impl Hub {
    pub fn new(limits: HubLimits, metrics: Arc<Metrics>) -> Hub {
        Hub {
            state: Mutex::new(HubState::default()),
            limits,
            metrics,
            cluster: OnceLock::new(),
        }
    }

    pub fn set_cluster(&self, cluster: Arc<Cluster>) {
        let _ = self.cluster.set(cluster);
    }

    pub fn cluster(&self) -> Option<&Arc<Cluster>> {
        self.cluster.get()
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
    /// With Redis, the session may be on another server: see [`Hub::resume_from_cluster`].
    pub async fn resume(&self, resume: &Resume, grant: &Grant, ip: IpAddr) -> ResumeOutcome {
        match self.cluster().cloned() {
            None => self.resume_local(resume, grant),
            Some(cluster) => self.resume_from_cluster(&cluster, resume, grant, ip).await,
        }
    }

    fn resume_local(&self, resume: &Resume, grant: &Grant) -> ResumeOutcome {
        let mut state = self.lock();
        let Some(session) = state.sessions.get(resume.session.as_str()).cloned() else {
            return ResumeOutcome::Fresh;
        };
        if *session.user != *grant.user
            || session.is_ended()
            || !session.resume_token_matches(&resume.token)
        {
            return ResumeOutcome::Fresh;
        }
        if !session.rooms_allowed_by(grant) {
            self.end_locked(&mut state, &session);
            return ResumeOutcome::Fresh;
        }
        session.set_grant(grant.clone());
        if let Some(key) = session.set_parked(None)
            && state.parked.remove(&key).is_some()
        {
            self.metrics.sessions_parked.dec();
        }
        let attached = session.attach(Some(resume.last_seq), random_id());
        drop(state);
        self.metrics.resumes.inc();
        ResumeOutcome::Resumed(session, attached)
    }

    /// Resume through Redis: claims the session record (only the holder of its current resume token can,
    /// so of two racing resumes one wins and the other starts afresh). If this server holds the session it
    /// re-attaches as without Redis; else the previous owner is asked to close its connection and flush
    /// its frames, and the session is rebuilt here from Redis: its rooms, its buffered frames (replayed
    /// after `last_seq`) and the events that waited while no server held it.
    async fn resume_from_cluster(
        &self,
        cluster: &Cluster,
        resume: &Resume,
        grant: &Grant,
        ip: IpAddr,
    ) -> ResumeOutcome {
        let sid: Arc<str> = resume.session.as_str().into();
        let new_token = random_id();
        {
            let mut state = self.lock();
            // Never overwrite a claim under way: of two resumes racing here, the later starts afresh.
            if state.claiming.contains_key(&sid) {
                return ResumeOutcome::Fresh;
            }
            match state.sessions.get(&sid) {
                // Held here: a wrong user or token is refused here, before anything else, so it never
                // holds back the live session's events.
                Some(session) => {
                    if *session.user != *grant.user
                        || session.is_ended()
                        || !session.resume_token_matches(&resume.token)
                    {
                        return ResumeOutcome::Fresh;
                    }
                }
                // Moving here, it counts towards this server's session limits: checked before the claim,
                // so a resume refused for them leaves the session where it is (and the fresh `hello`
                // that follows is refused for the same limit).
                None => {
                    if self
                        .make_room_locked(&mut state, ip_key(ip), &grant.user)
                        .is_err()
                    {
                        return ResumeOutcome::Fresh;
                    }
                    // Events for it that arrive here before it is loaded wait (see `deliver_remote`).
                    state.claiming.insert(sid.clone(), Vec::new());
                }
            }
        }
        let claim = match cluster
            .claim(&sid, &grant.user, &resume.token, &new_token)
            .await
        {
            Ok(Some(claim)) => claim,
            Ok(None) => return self.stop_claiming(&sid),
            Err(e) => {
                tracing::warn!("resume claim failed in Redis: {e}");
                return self.stop_claiming(&sid);
            }
        };
        if claim.old_node == *cluster.node {
            let mut state = self.lock();
            if let Some(session) = state.sessions.get(&sid).cloned() {
                if !session.rooms_allowed_by(grant) {
                    self.end_locked(&mut state, &session);
                    drop(state);
                    self.finish_claiming(&sid, None);
                    return ResumeOutcome::Fresh;
                }
                session.set_grant(grant.clone());
                if let Some(key) = session.set_parked(None)
                    && state.parked.remove(&key).is_some()
                {
                    self.metrics.sessions_parked.dec();
                }
                let attached = session.attach(Some(resume.last_seq), new_token);
                drop(state);
                self.finish_claiming(&sid, Some(&session));
                self.metrics.resumes.inc();
                return ResumeOutcome::Resumed(session, attached);
            }
        } else if claim.old_node_alive {
            cluster.take_over(&sid, &claim.old_node).await;
        }
        let stored = match cluster.load(&sid).await {
            Ok(stored) => stored,
            Err(e) => {
                tracing::warn!("cannot load a resumed session from Redis: {e}");
                return self.stop_claiming(&sid);
            }
        };
        let frames: Vec<(u64, String)> = stored
            .frames
            .into_iter()
            .filter_map(|text| Some((seq_of(&text)?, text)))
            .collect();
        let next_seq = frames.last().map_or(0, |f| f.0).max(resume.last_seq) + 1;
        let session = Arc::new(Session::new(
            claim.peer.into(),
            sid.clone(),
            claim.name.into(),
            grant.clone(),
            ip_key(ip),
            self.limits.ring,
            self.metrics.buffered_bytes.clone(),
        ));
        session.restore(frames, next_seq);
        let mut state = self.lock();
        // Sessions that started here meanwhile may have filled a limit again.
        if let Err((reason, _)) = self.make_room_locked(&mut state, session.ip, &session.user) {
            self.metrics.session_refused(reason);
            drop(state);
            cluster.end_remote(sid.clone());
            self.finish_claiming(&sid, None);
            return ResumeOutcome::Fresh;
        }
        self.insert_locked(&mut state, &session);
        for room in claim.rooms {
            let room: Arc<str> = room.into();
            state
                .rooms
                .entry(room.clone())
                .or_insert_with(|| {
                    self.metrics.rooms.inc();
                    Vec::new()
                })
                .push(session.clone());
            session.add_room(room);
        }
        if !session.rooms_allowed_by(grant) {
            self.end_locked(&mut state, &session);
            drop(state);
            self.finish_claiming(&sid, None);
            return ResumeOutcome::Fresh;
        }
        let attached = session.attach(Some(resume.last_seq), new_token);
        drop(state);
        for event in stored.pending {
            self.apply(&session, event);
        }
        self.finish_claiming(&sid, Some(&session));
        self.metrics.resumes.inc();
        ResumeOutcome::Resumed(session, attached)
    }

    /// A claim that did not happen: events held for the session go on to wherever it is.
    fn stop_claiming(&self, sid: &Arc<str>) -> ResumeOutcome {
        self.finish_claiming(sid, None);
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
                match (session, self.cluster()) {
                    (Some(session), _) => self.apply(session, event),
                    (None, Some(cluster)) => cluster.queue(Op::Forward {
                        sid: sid.clone(),
                        event: event.encode(),
                    }),
                    (None, None) => {}
                }
            }
        }
    }

    /// Another server resumed `sid`: its connection here closes (1000) and it is forgotten without
    /// `peer-left`, since it lives on there.
    pub fn hand_over(&self, sid: &str) {
        let mut state = self.lock();
        let Some(session) = state.sessions.remove(sid) else {
            return;
        };
        if let Some(key) = session.set_parked(None)
            && state.parked.remove(&key).is_some()
        {
            self.metrics.sessions_parked.dec();
        }
        decrement(&mut state.per_ip, &session.ip);
        decrement(&mut state.per_user, &*session.user);
        for room in session.end() {
            if let Some(members) = state.rooms.get_mut(&room) {
                members.retain(|s| !Arc::ptr_eq(s, &session));
                if members.is_empty() {
                    state.rooms.remove(&room);
                    self.metrics.rooms.dec();
                }
            }
        }
        self.metrics.sessions.dec();
    }

    /// An event from another server for session `sid`: delivered if the session is here, held if it is
    /// being taken over, else passed on to where it moved.
    pub fn deliver_remote(&self, sid: &str, event: Event) {
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
        if let Some(cluster) = self.cluster() {
            cluster.queue(Op::Forward {
                sid: sid.into(),
                event: event.encode(),
            });
        }
    }

    fn apply(&self, session: &Arc<Session>, event: Event) {
        match event {
            Event::Signal {
                room,
                from,
                data,
                at,
            } => {
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
            Event::PeerJoined { room, peer, name } => {
                self.send(session, |seq| ServerFrame::PeerJoined {
                    seq,
                    room,
                    peer,
                    name,
                });
            }
            Event::PeerLeft { room, peer } => {
                self.send(session, |seq| ServerFrame::PeerLeft { seq, room, peer });
            }
            Event::Joined { room, peers } => self.join_done(session, &room, Ok(peers)),
            Event::Take { .. } | Event::Released => {}
        }
    }

    /// This server's sessions, to write to Redis again after it lost them.
    pub fn local_sessions(&self) -> Vec<LocalSession> {
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

    pub fn session_count(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Binds the first connection of a new session.
    pub fn attach_new(&self, session: &Session) -> Attached {
        let attached = session.attach(None, random_id());
        if let Some(cluster) = self.cluster() {
            cluster.queue(Op::Register {
                sid: session.id.clone(),
                peer: session.peer.clone(),
                name: session.name.clone(),
                user: session.user.clone(),
                token: attached.resume_token.clone(),
            });
        }
        attached
    }

    /// Queues an already serialized frame built for the next seq (the `welcome`).
    pub fn push_text(&self, session: &Session, build: impl FnOnce(u64) -> String) {
        let pushed = session.push(None, build);
        self.mirror(session, pushed);
    }

    fn mirror(&self, session: &Session, pushed: Option<Pushed>) {
        if let (Some(Pushed { text, kept }), Some(cluster)) = (pushed, self.cluster()) {
            cluster.queue(Op::Mirror {
                sid: session.id.clone(),
                text,
                keep: kept,
            });
        }
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

    fn send_at(
        &self,
        session: &Session,
        relayed_at: Option<Instant>,
        frame: impl FnOnce(u64) -> ServerFrame,
    ) {
        let mut frame_type = "";
        let pushed = session.push(relayed_at, |seq| {
            let frame = frame(seq);
            frame_type = type_of(&frame);
            // Serializing these types cannot fail: all keys are strings and `data` is already valid JSON.
            serde_json::to_string(&frame).unwrap_or_default()
        });
        self.mirror(session, pushed);
        if !frame_type.is_empty() {
            self.metrics.frame_out(frame_type);
        }
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
    /// Joining a room again just repeats `joined`.
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
        let already_in = session.in_room(room);
        // With Redis a join completes later: those under way count too, or a burst of joins would pass.
        let joining = state.joining.get(&session.id).copied().unwrap_or(0);
        if !already_in && session.rooms_len() + joining >= MAX_ROOMS_PER_SESSION {
            return Err(RequestError::TooManyRooms(MAX_ROOMS_PER_SESSION));
        }
        if let Some(cluster) = self.cluster() {
            *state.joining.entry(session.id.clone()).or_default() += 1;
            // Capacity and the member list come from Redis, atomically; see `join_done`.
            let announce = Event::PeerJoined {
                room: room.to_owned(),
                peer: session.peer.to_string(),
                name: session.name.to_string(),
            };
            cluster.queue(Op::Join {
                session: session.clone(),
                room: room.into(),
                announce: announce.encode(),
            });
            return Ok(());
        }
        let members = state.rooms.get(room);
        if !already_in && members.is_some_and(|m| m.len() >= self.limits.room_capacity) {
            return Err(RequestError::RoomFull(self.limits.room_capacity));
        }
        let others: Vec<Arc<Session>> = members
            .map(|m| {
                m.iter()
                    .filter(|s| !Arc::ptr_eq(s, session))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        if !already_in {
            let key: Arc<str> = room.into();
            for other in &others {
                self.send(other, |seq| ServerFrame::PeerJoined {
                    seq,
                    room: room.to_owned(),
                    peer: session.peer.to_string(),
                    name: session.name.to_string(),
                });
            }
            let members = state.rooms.entry(key.clone()).or_insert_with(|| {
                self.metrics.rooms.inc();
                Vec::new()
            });
            members.push(session.clone());
            session.add_room(key);
        }
        let peers = others
            .iter()
            .map(|s| PeerInfo {
                peer: s.peer.to_string(),
                name: s.name.to_string(),
            })
            .collect();
        // Queued under the hub lock so no frame about this room can overtake `joined`.
        self.send(session, |seq| ServerFrame::Joined {
            seq,
            room: room.to_owned(),
            peers,
        });
        Ok(())
    }

    /// With Redis, the outcome of a `join`: `peers` are the other members on every server. Members here
    /// get `peer-joined` from this server (the script told those elsewhere).
    pub fn join_done(
        &self,
        session: &Arc<Session>,
        room: &str,
        peers: Result<Vec<(String, String)>, RequestError>,
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
        if session.is_ended() {
            return;
        }
        if !session.in_room(room) {
            let key: Arc<str> = room.into();
            let members = state.rooms.entry(key.clone()).or_insert_with(|| {
                self.metrics.rooms.inc();
                Vec::new()
            });
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
        let peers = peers
            .into_iter()
            .map(|(peer, name)| PeerInfo { peer, name })
            .collect();
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
        if let Some(cluster) = self.cluster() {
            cluster.queue(Op::Leave {
                sid: session.id.clone(),
                peer: session.peer.clone(),
                room: room.into(),
            });
        }
        Ok(())
    }

    fn remove_member(&self, state: &mut HubState, session: &Arc<Session>, room: &str) {
        let Some(members) = state.rooms.get_mut(room) else {
            return;
        };
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
        }
    }

    /// Relays `data` from `from` to the peer `to`, both of whom must be in `room`. `from` is set here,
    /// never taken from the client.
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
        let recipient = {
            let state = self.lock();
            let members = state.rooms.get(room);
            let Some(members) = members.filter(|m| m.iter().any(|s| Arc::ptr_eq(s, from))) else {
                return Err(RequestError::NotInRoom(room.to_owned()));
            };
            let local = members.iter().find(|s| &*s.peer == to).cloned();
            match (local, self.cluster()) {
                (Some(recipient), _) => recipient,
                (None, None) => return Err(RequestError::UnknownPeer),
                // Not here: Redis knows whether `to` is in the room on another server (else
                // `unknown_peer` comes back) and which one.
                (None, Some(cluster)) => {
                    let event = Event::Signal {
                        room: room.to_owned(),
                        from: from.peer.to_string(),
                        data: data.to_owned(),
                        at: unix_micros(),
                    };
                    cluster.queue(Op::Relay {
                        from: from.clone(),
                        room: room.into(),
                        to: to.into(),
                        event: event.encode(),
                    });
                    return Ok(());
                }
            }
        };
        self.send_at(&recipient, Some(received), |seq| ServerFrame::Signal {
            seq,
            room: room.to_owned(),
            from: from.peer.to_string(),
            data: data.to_owned(),
        });
        Ok(())
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
        if let Some(key) = session.set_parked(None)
            && state.parked.remove(&key).is_some()
        {
            self.metrics.sessions_parked.dec();
        }
        decrement(&mut state.per_ip, &session.ip);
        decrement(&mut state.per_user, &*session.user);
        state.joining.remove(&session.id);
        for room in session.end() {
            self.remove_member(state, session, &room);
        }
        if let Some(cluster) = self.cluster() {
            cluster.queue(Op::End {
                sid: session.id.clone(),
            });
        }
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
        Hub::new(HubLimits::from_config(&config), Arc::new(Metrics::new()))
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
