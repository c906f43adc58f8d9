//! The hub: which sessions exist, who is in which room, and delivery of frames to a peer. Connection
//! handling talks to peers only through this API, so a multi-instance backplane (Redis pub/sub) can later
//! replace this in-memory implementation without touching `connection.rs`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine;
use chat_protocol::{ErrorCode, PeerInfo, ServerFrame};
use rand::RngCore;
use serde_json::value::RawValue;

use crate::auth::Grant;
use crate::error::RequestError;
use crate::metrics::Metrics;
use crate::session::Session;

/// Most rooms one client may be in at once.
pub const MAX_ROOMS_PER_SESSION: usize = 16;

pub struct Hub {
    state: Mutex<HubState>,
    room_capacity: usize,
    buffer_frames: usize,
    metrics: Arc<Metrics>,
}

#[derive(Default)]
struct HubState {
    /// By secret session id, for resume.
    sessions: HashMap<Arc<str>, Arc<Session>>,
    /// Members of each non-empty room, in join order (at most `room_capacity`, so scans are short).
    rooms: HashMap<Arc<str>, Vec<Arc<Session>>>,
}

impl Hub {
    pub fn new(room_capacity: usize, buffer_frames: usize, metrics: Arc<Metrics>) -> Hub {
        Hub {
            state: Mutex::new(HubState::default()),
            room_capacity,
            buffer_frames,
            metrics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HubState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Creates a session with fresh random peer and session ids (128 bits each, URL-safe).
    pub fn create_session(&self, name: Box<str>, grant: Grant) -> Arc<Session> {
        let session = Arc::new(Session::new(random_id(), random_id(), name, grant));
        self.lock()
            .sessions
            .insert(session.id.clone(), session.clone());
        self.metrics.sessions.inc();
        session
    }

    /// The live session `id` if it belongs to the same user (an open server has one anonymous user).
    pub fn find_for_resume(&self, id: &str, grant: &Grant) -> Option<Arc<Session>> {
        let session = self.lock().sessions.get(id).cloned()?;
        (session.grant.user == grant.user && !session.is_ended()).then_some(session)
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
        session.push(self.buffer_frames, relayed_at, |seq| {
            let frame = frame(seq);
            frame_type = type_of(&frame);
            // Serializing these types cannot fail: all keys are strings and `data` is already valid JSON.
            serde_json::to_string(&frame).unwrap_or_default()
        });
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
        if !session.grant.allows_room(room) {
            return Err(RequestError::Unauthorized(format!(
                "your token does not allow room {room:?}"
            )));
        }
        let mut state = self.lock();
        let already_in = session.in_room(room);
        if !already_in && session.rooms_len() >= MAX_ROOMS_PER_SESSION {
            return Err(RequestError::TooManyRooms(MAX_ROOMS_PER_SESSION));
        }
        let members = state.rooms.get(room);
        if !already_in && members.is_some_and(|m| m.len() >= self.room_capacity) {
            return Err(RequestError::RoomFull(self.room_capacity));
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

    /// Removes `session` from `room`; the others get `peer-left`.
    pub fn leave(&self, session: &Arc<Session>, room: &str) -> Result<(), RequestError> {
        let mut state = self.lock();
        if !session.in_room(room) {
            return Err(RequestError::NotInRoom(room.to_owned()));
        }
        session.remove_room(room);
        self.remove_member(&mut state, session, room);
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
        from: &Session,
        room: &str,
        to: &str,
        data: &RawValue,
        received: Instant,
    ) -> Result<(), RequestError> {
        let recipient = {
            let state = self.lock();
            let members = state.rooms.get(room);
            let Some(members) = members.filter(|m| m.iter().any(|s| std::ptr::eq(&**s, from)))
            else {
                return Err(RequestError::NotInRoom(room.to_owned()));
            };
            members
                .iter()
                .find(|s| &*s.peer == to)
                .cloned()
                .ok_or(RequestError::UnknownPeer)?
        };
        self.send_at(&recipient, Some(received), |seq| ServerFrame::Signal {
            seq,
            room: room.to_owned(),
            from: from.peer.to_string(),
            data: data.to_owned(),
        });
        Ok(())
    }

    /// Ends `session`: it leaves every room (others see `peer-left`) and can no longer be resumed.
    pub fn end_session(&self, session: &Arc<Session>) {
        let mut state = self.lock();
        if state.sessions.remove(&session.id).is_none() {
            return;
        }
        for room in session.end() {
            self.remove_member(&mut state, session, &room);
        }
        self.metrics.sessions.dec();
    }

    /// Starts the resume grace period of a dropped session: unless a connection resumes it by then,
    /// the session ends.
    pub fn end_after_grace(
        self: &Arc<Self>,
        session: Arc<Session>,
        generation: u64,
        grace: Duration,
    ) {
        let hub = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(grace).await;
            if session.still_dropped(generation) {
                hub.end_session(&session);
            }
        });
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

fn random_id() -> Arc<str> {
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(bytes)
        .into()
}
