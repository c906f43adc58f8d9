//! A session: one peer's identity and its numbered stream of server frames. The stream doubles as the
//! resume buffer (the last N frames are kept for replay) and as the bounded outbound queue of the current
//! connection (a connection that lags more than N frames behind is a slow reader and gets dropped), so a
//! session costs one small ring of frames and nothing more.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::Notify;

use crate::auth::Grant;

/// One server frame, already serialized with its `seq`.
#[derive(Clone)]
pub struct Outbound {
    pub seq: u64,
    pub text: Utf8Bytes,
    /// When the `signal` this frame relays arrived, for the relay latency metric.
    pub relayed_at: Option<Instant>,
}

/// What a connection finds when it asks its session for frames to write.
pub enum Pending {
    /// Frames to write, in order (possibly none).
    Frames,
    /// A newer connection resumed this session; this one must close.
    Replaced,
    /// The connection fell more than the buffer size behind.
    Overflowed,
}

pub struct Session {
    /// Public id of the peer, shown to others in rooms.
    pub peer: Arc<str>,
    /// Secret id that lets the same client resume.
    pub id: Arc<str>,
    pub name: Box<str>,
    pub grant: Grant,
    state: Mutex<SessionState>,
    /// Wakes the attached connection when frames were pushed or it was replaced.
    wake: Notify,
}

struct SessionState {
    next_seq: u64,
    frames: VecDeque<Outbound>,
    /// Highest seq handed to the current connection for writing.
    sent_seq: u64,
    /// Bumped by every attach, so a replaced connection can tell.
    generation: u64,
    attached: bool,
    overflowed: bool,
    ended: bool,
    /// Rooms this session is in (kept here so the hub can leave them all when the session ends).
    rooms: Vec<Arc<str>>,
}

impl Session {
    pub fn new(peer: Arc<str>, id: Arc<str>, name: Box<str>, grant: Grant) -> Session {
        Session {
            peer,
            id,
            name,
            grant,
            state: Mutex::new(SessionState {
                next_seq: 1,
                frames: VecDeque::new(),
                sent_seq: 0,
                generation: 0,
                attached: false,
                overflowed: false,
                ended: false,
                rooms: Vec::new(),
            }),
            wake: Notify::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SessionState> {
        // A panic while holding this lock cannot leave the ring inconsistent, so keep serving.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Appends a frame built for the next seq, keeping at most `capacity` frames, and wakes the connection.
    pub fn push(
        &self,
        capacity: usize,
        relayed_at: Option<Instant>,
        build: impl FnOnce(u64) -> String,
    ) {
        let mut state = self.lock();
        if state.ended {
            return;
        }
        let seq = state.next_seq;
        state.next_seq += 1;
        if state.frames.len() >= capacity
            && let Some(evicted) = state.frames.pop_front()
            && state.attached
            && evicted.seq > state.sent_seq
        {
            state.overflowed = true;
        }
        state.frames.push_back(Outbound {
            seq,
            text: build(seq).into(),
            relayed_at,
        });
        drop(state);
        self.wake.notify_one();
    }

    /// Binds a new connection. `resume_from` is the client's `last_seq` when resuming; frames after it
    /// that are still buffered will be replayed. Returns the connection's generation and the seq its
    /// resumed `welcome` carries.
    pub fn attach(&self, resume_from: Option<u64>) -> (u64, u64) {
        let mut state = self.lock();
        state.generation += 1;
        state.attached = true;
        state.overflowed = false;
        let last_assigned = state.next_seq - 1;
        let oldest_kept = state.frames.front().map_or(state.next_seq, |f| f.seq);
        state.sent_seq = match resume_from {
            // Frames older than the buffer are gone; replay what is kept.
            Some(last) => last.min(last_assigned).max(oldest_kept.saturating_sub(1)),
            None => 0,
        };
        let generation = state.generation;
        let welcome_seq = state.sent_seq;
        drop(state);
        self.wake.notify_one();
        (generation, welcome_seq)
    }

    /// Moves frames not yet handed to connection `generation` into `out`.
    pub fn take_pending(&self, generation: u64, out: &mut Vec<Outbound>) -> Pending {
        let mut state = self.lock();
        if state.generation != generation || state.ended {
            drop(state);
            // Pass the wake-up on: it may have been meant for the newer connection.
            self.wake.notify_one();
            return Pending::Replaced;
        }
        if state.overflowed {
            return Pending::Overflowed;
        }
        let sent = state.sent_seq;
        out.extend(state.frames.iter().filter(|f| f.seq > sent).cloned());
        if let Some(last) = out.last() {
            state.sent_seq = last.seq;
        }
        Pending::Frames
    }

    /// Resolves when frames were pushed or the connection was replaced.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Unbinds connection `generation`; `true` when it was still the current one (the session is now
    /// dropped and its resume grace period starts).
    pub fn detach(&self, generation: u64) -> bool {
        let mut state = self.lock();
        if state.generation == generation && !state.ended {
            state.attached = false;
            true
        } else {
            false
        }
    }

    /// `true` when no connection re-attached since `generation` dropped.
    pub fn still_dropped(&self, generation: u64) -> bool {
        let state = self.lock();
        state.generation == generation && !state.attached && !state.ended
    }

    /// `true` once the attached connection fell more than the buffer size behind.
    pub fn is_overflowed(&self) -> bool {
        self.lock().overflowed
    }

    pub fn is_ended(&self) -> bool {
        self.lock().ended
    }

    /// Marks the session over and returns the rooms it was in.
    pub(crate) fn end(&self) -> Vec<Arc<str>> {
        let mut state = self.lock();
        state.ended = true;
        state.frames = VecDeque::new();
        let rooms = std::mem::take(&mut state.rooms);
        drop(state);
        self.wake.notify_one();
        rooms
    }

    pub(crate) fn rooms_len(&self) -> usize {
        self.lock().rooms.len()
    }

    pub(crate) fn in_room(&self, room: &str) -> bool {
        self.lock().rooms.iter().any(|r| &**r == room)
    }

    pub(crate) fn add_room(&self, room: Arc<str>) {
        self.lock().rooms.push(room);
    }

    pub(crate) fn remove_room(&self, room: &str) {
        self.lock().rooms.retain(|r| &**r != room);
    }
}
