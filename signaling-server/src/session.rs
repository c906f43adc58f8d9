//! A session: one peer's identity and its numbered stream of server frames. The stream doubles as the
//! resume buffer (the last frames are kept for replay) and as the bounded outbound queue of the current
//! connection (a connection that lags more than the buffer behind is a slow reader and gets dropped), so a
//! session costs one small ring of frames and nothing more. The ring is bounded in frames and in bytes, and
//! its bytes count towards the server-wide `buffered_bytes`, which the hub keeps under its own cap.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use axum::extract::ws::Utf8Bytes;
use prometheus_client::metrics::gauge::Gauge;
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
    /// The connection fell more than the buffer behind.
    Overflowed,
}

/// Bounds of one session's ring.
#[derive(Debug, Clone, Copy)]
pub struct RingLimits {
    pub frames: usize,
    pub bytes: usize,
}

/// What the client needs to continue a session on a new connection.
pub struct Attached {
    /// Identifies the connection; a newer attach replaces it.
    pub generation: u64,
    /// The `seq` the `welcome` carries (for a resume: the position the replay continues after).
    pub welcome_seq: u64,
    /// The secret the next resume must present (new on every attach).
    pub resume_token: Arc<str>,
}

pub struct Session {
    /// Public id of the peer, shown to others in rooms.
    pub peer: Arc<str>,
    /// Id the client names to resume (not enough on its own: see the resume token).
    pub id: Arc<str>,
    pub name: Box<str>,
    /// Token `sub` (empty on an open server); only the same user may resume the session.
    pub user: Box<str>,
    /// Address (IPv4, or the /64 of IPv6) the session counts against in the per-IP limit.
    pub ip: IpAddr,
    limits: RingLimits,
    /// Server-wide bytes held in rings; this session adds and removes its own.
    buffered: Gauge,
    state: Mutex<SessionState>,
    /// Wakes the attached connection when frames were pushed or it was replaced.
    wake: Notify,
}

struct SessionState {
    next_seq: u64,
    frames: VecDeque<Outbound>,
    /// Sum of the frames' text lengths.
    bytes: usize,
    /// Highest seq handed to the current connection for writing.
    sent_seq: u64,
    /// Bumped by every attach, so a replaced connection can tell.
    generation: u64,
    attached: bool,
    overflowed: bool,
    ended: bool,
    /// Rooms this session is in (kept here so the hub can leave them all when the session ends).
    rooms: Vec<Arc<str>>,
    /// The grant of the token presented most recently (a resume brings a new one).
    grant: Grant,
    /// Proof of ownership the next resume must present; replaced on every attach.
    resume_token: Arc<str>,
    /// Key in the hub's list of sessions waiting in their grace period, while detached.
    parked: Option<u64>,
}

impl Session {
    pub fn new(
        peer: Arc<str>,
        id: Arc<str>,
        name: Box<str>,
        grant: Grant,
        ip: IpAddr,
        limits: RingLimits,
        buffered: Gauge,
    ) -> Session {
        Session {
            peer,
            id,
            name,
            user: grant.user.clone().into_boxed_str(),
            ip,
            limits,
            buffered,
            state: Mutex::new(SessionState {
                next_seq: 1,
                frames: VecDeque::new(),
                bytes: 0,
                sent_seq: 0,
                generation: 0,
                attached: false,
                overflowed: false,
                ended: false,
                rooms: Vec::new(),
                grant,
                resume_token: Arc::from(""),
                parked: None,
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

    /// Appends a frame built for the next seq and wakes the connection. Older frames are evicted to stay
    /// within the ring's frame and byte limits; evicting one the connection has not written yet makes it
    /// a slow reader. `report` sees the frame while the session is still locked, so whatever it passes the
    /// frame to (a copy in Redis) has it before the session can end. `false` if the session has ended.
    pub fn push(
        &self,
        relayed_at: Option<Instant>,
        build: impl FnOnce(u64) -> String,
        report: impl FnOnce(&Pushed),
    ) -> bool {
        let mut state = self.lock();
        if state.ended {
            return false;
        }
        let seq = state.next_seq;
        state.next_seq += 1;
        let mut text = build(seq);
        // Serializing grows the buffer by doubling: without this a frame just over a power of two would
        // hold almost twice the bytes the budget counts.
        text.shrink_to_fit();
        let mut freed = 0;
        while state.frames.len() >= self.limits.frames
            || (!state.frames.is_empty() && state.bytes + text.len() > self.limits.bytes)
        {
            let Some(evicted) = state.frames.pop_front() else {
                break;
            };
            state.bytes -= evicted.text.len();
            freed += evicted.text.len();
            if state.attached && evicted.seq > state.sent_seq {
                state.overflowed = true;
            }
        }
        state.bytes += text.len();
        self.buffered
            .inc_by(gauge_delta(text.len()) - gauge_delta(freed));
        let text = Utf8Bytes::from(text);
        state.frames.push_back(Outbound {
            seq,
            text: text.clone(),
            relayed_at,
        });
        report(&Pushed {
            text,
            kept: state.frames.len(),
        });
        drop(state);
        self.wake.notify_one();
        true
    }

    /// Fills the ring of a session taken over from another server with the frames it had sent (`seq`,
    /// text; oldest first, within this ring's limits) and continues numbering at `next_seq`.
    pub(crate) fn restore(&self, frames: Vec<(u64, String)>, next_seq: u64) {
        let mut state = self.lock();
        let mut kept: VecDeque<Outbound> = VecDeque::new();
        let mut bytes = 0;
        for (seq, text) in frames.into_iter().rev() {
            if kept.len() >= self.limits.frames || bytes + text.len() > self.limits.bytes {
                break;
            }
            bytes += text.len();
            kept.push_front(Outbound {
                seq,
                text: text.into(),
                relayed_at: None,
            });
        }
        self.buffered.inc_by(gauge_delta(bytes));
        state.frames = kept;
        state.bytes = bytes;
        state.next_seq = next_seq;
    }

    /// The current resume token (for the shared session record).
    pub(crate) fn resume_token(&self) -> Arc<str> {
        self.lock().resume_token.clone()
    }

    pub(crate) fn rooms(&self) -> Vec<Arc<str>> {
        self.lock().rooms.clone()
    }

    /// Binds a new connection. `resume_from` is the client's `last_seq` when resuming; frames after it
    /// that are still buffered will be replayed.
    pub fn attach(&self, resume_from: Option<u64>, resume_token: Arc<str>) -> Attached {
        let mut state = self.lock();
        state.generation += 1;
        state.attached = true;
        state.overflowed = false;
        state.resume_token = resume_token.clone();
        let last_assigned = state.next_seq - 1;
        let oldest_kept = state.frames.front().map_or(state.next_seq, |f| f.seq);
        state.sent_seq = match resume_from {
            // Frames older than the buffer are gone; replay what is kept.
            Some(last) => last.min(last_assigned).max(oldest_kept.saturating_sub(1)),
            None => 0,
        };
        let attached = Attached {
            generation: state.generation,
            welcome_seq: state.sent_seq,
            resume_token,
        };
        drop(state);
        self.wake.notify_one();
        attached
    }

    /// Frees the frames the attached connection has already written (kept only to replay them should the
    /// connection have dropped silently); returns the bytes freed. A later resume may then see a gap.
    pub fn trim_delivered(&self) -> usize {
        let mut state = self.lock();
        if !state.attached {
            return 0;
        }
        let mut freed = 0;
        while state
            .frames
            .front()
            .is_some_and(|f| f.seq <= state.sent_seq)
        {
            if let Some(frame) = state.frames.pop_front() {
                freed += frame.text.len();
            }
        }
        state.bytes -= freed;
        self.buffered.dec_by(gauge_delta(freed));
        freed
    }

    /// Whether `token` is this session's current resume token (compared in constant time).
    pub fn resume_token_matches(&self, token: &str) -> bool {
        let state = self.lock();
        let expected = state.resume_token.as_bytes();
        let token = token.as_bytes();
        !expected.is_empty()
            && expected.len() == token.len()
            && expected
                .iter()
                .zip(token)
                .fold(0u8, |diff, (a, b)| diff | (a ^ b))
                == 0
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

    /// `true` once the attached connection fell more than the buffer behind.
    pub fn is_overflowed(&self) -> bool {
        self.lock().overflowed
    }

    pub fn is_ended(&self) -> bool {
        self.lock().ended
    }

    /// Marks the session over, frees its ring and returns the rooms it was in.
    pub(crate) fn end(&self) -> Vec<Arc<str>> {
        let mut state = self.lock();
        state.ended = true;
        state.frames = VecDeque::new();
        self.buffered.dec_by(gauge_delta(state.bytes));
        state.bytes = 0;
        let rooms = std::mem::take(&mut state.rooms);
        drop(state);
        self.wake.notify_one();
        rooms
    }

    pub fn allows_room(&self, room: &str) -> bool {
        self.lock().grant.allows_room(room)
    }

    /// Whether `grant` allows every room the session is in.
    pub(crate) fn rooms_allowed_by(&self, grant: &Grant) -> bool {
        self.lock().rooms.iter().all(|room| grant.allows_room(room))
    }

    pub(crate) fn set_grant(&self, grant: Grant) {
        self.lock().grant = grant;
    }

    pub(crate) fn set_parked(&self, key: Option<u64>) -> Option<u64> {
        std::mem::replace(&mut self.lock().parked, key)
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

/// A frame [`Session::push`] queued.
pub struct Pushed {
    pub text: Utf8Bytes,
    /// Frames the replay ring holds with it (within its frame and byte limits): what Redis keeps of its
    /// mirror.
    pub kept: usize,
}

/// A byte count as the buffered-bytes gauge takes it.
pub(crate) fn gauge_delta(bytes: usize) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(frames: usize, bytes: usize) -> (Session, Gauge) {
        let gauge = Gauge::default();
        let session = Session::new(
            "p".into(),
            "s".into(),
            "n".into(),
            Grant::open(),
            IpAddr::from([127, 0, 0, 1]),
            RingLimits { frames, bytes },
            gauge.clone(),
        );
        (session, gauge)
    }

    #[test]
    fn ring_keeps_the_newest_frames_within_its_byte_budget_and_counts_them_globally() {
        let (s, gauge) = session(256, 1000);
        for _ in 0..10 {
            s.push(None, |_| "x".repeat(300), |_| {});
        }
        // 3 × 300 fit in 1000 bytes; the global gauge holds exactly what the ring holds.
        assert_eq!(gauge.get(), 900);
        let attached = s.attach(Some(0), "t".into());
        assert_eq!(
            attached.welcome_seq, 7,
            "replay starts at the oldest kept frame"
        );
        let mut out = Vec::new();
        assert!(matches!(
            s.take_pending(attached.generation, &mut out),
            Pending::Frames
        ));
        assert_eq!(
            out.iter().map(|f| f.seq).collect::<Vec<_>>(),
            vec![8, 9, 10]
        );
        s.end();
        assert_eq!(gauge.get(), 0);
    }

    #[test]
    fn evicting_an_unwritten_frame_of_an_attached_connection_is_an_overflow() {
        let (s, _) = session(256, 1000);
        s.attach(None, "t".into());
        for _ in 0..4 {
            s.push(None, |_| "x".repeat(300), |_| {});
        }
        assert!(s.is_overflowed());
    }

    #[test]
    fn trimming_frees_only_frames_already_handed_to_the_connection() {
        let (s, gauge) = session(256, 10_000);
        let attached = s.attach(None, "t".into());
        s.push(None, |_| "a".repeat(100), |_| {});
        s.push(None, |_| "b".repeat(100), |_| {});
        let mut out = Vec::new();
        s.take_pending(attached.generation, &mut out);
        s.push(None, |_| "c".repeat(100), |_| {});
        assert_eq!(s.trim_delivered(), 200);
        assert_eq!(gauge.get(), 100);
        out.clear();
        s.take_pending(attached.generation, &mut out);
        assert_eq!(out.len(), 1, "the unwritten frame is still there");
        assert_eq!(&*out[0].text, "c".repeat(100));
    }

    #[test]
    fn resume_token_must_match_exactly() {
        let (s, _) = session(16, 1000);
        assert!(
            !s.resume_token_matches(""),
            "no token before the first attach"
        );
        s.attach(None, "secret-1".into());
        assert!(s.resume_token_matches("secret-1"));
        assert!(!s.resume_token_matches("secret-2"));
        assert!(!s.resume_token_matches("secret-"));
        s.attach(Some(0), "secret-2".into());
        assert!(!s.resume_token_matches("secret-1"), "rotated on attach");
    }
}
