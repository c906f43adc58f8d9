//! Whether the native links run at all. The app turns them on only where the webview has no
//! `RTCPeerConnection` (or when forced for tests); the webview reports that a moment after the page
//! loads, while the signaling socket may already have delivered the welcome, the room list or a peer's
//! offer. The gate keeps those frames (bounded) and replays them in order once the decision is made, so
//! a slow page load loses nothing; frames after a "has WebRTC" report are dropped.

use std::collections::VecDeque;
use std::future::Future;

use chat_protocol::ServerFrame;
use tokio::sync::Mutex;

use super::LinkManager;

/// Frames kept while undecided; beyond this the oldest go (a page that never reports).
pub const MAX_PENDING_FRAMES: usize = 1024;

/// Where the gate sends frames once open: the [`LinkManager`] (a recorder in tests).
pub trait FrameSink: Send + Sync {
    fn on_frame(&self, frame: &ServerFrame) -> impl Future<Output = ()> + Send;
}

impl FrameSink for LinkManager {
    fn on_frame(&self, frame: &ServerFrame) -> impl Future<Output = ()> + Send {
        LinkManager::on_frame(self, frame)
    }
}

enum Mode {
    /// The webview has not reported yet: frames wait here.
    Undecided(VecDeque<ServerFrame>),
    Active,
    Inactive,
}

/// The links behind their on/off decision.
pub struct FallbackGate<S = LinkManager> {
    sink: S,
    forced: bool,
    mode: Mutex<Mode>,
}

impl<S: FrameSink> FallbackGate<S> {
    /// `forced`: active from the start, whatever the webview reports.
    pub fn new(sink: S, forced: bool) -> FallbackGate<S> {
        let mode = if forced {
            Mode::Active
        } else {
            Mode::Undecided(VecDeque::new())
        };
        FallbackGate {
            sink,
            forced,
            mode: Mutex::new(mode),
        }
    }

    pub fn sink(&self) -> &S {
        &self.sink
    }

    pub fn forced(&self) -> bool {
        self.forced
    }

    pub async fn active(&self) -> bool {
        matches!(*self.mode.lock().await, Mode::Active)
    }

    /// The webview reported whether it has `RTCPeerConnection`. Without it the links turn on and catch
    /// up on the frames kept so far, in order. Decided once: later page loads report the same webview.
    pub async fn webview_reported(&self, rtc_peer_connection: bool) {
        let mut mode = self.mode.lock().await;
        let Mode::Undecided(pending) = &mut *mode else {
            return;
        };
        let pending = std::mem::take(pending);
        if rtc_peer_connection {
            *mode = Mode::Inactive;
            return;
        }
        tracing::info!("webview has no WebRTC: chat uses the native data-channel fallback");
        // Still holding the lock: a frame arriving meanwhile waits and comes after these.
        for frame in &pending {
            self.sink.on_frame(frame).await;
        }
        *mode = Mode::Active;
    }

    /// Every server frame, in order.
    pub async fn on_frame(&self, frame: &ServerFrame) {
        let mut mode = self.mode.lock().await;
        match &mut *mode {
            Mode::Active => self.sink.on_frame(frame).await,
            Mode::Undecided(pending) => {
                if pending.len() == MAX_PENDING_FRAMES {
                    pending.pop_front();
                }
                pending.push_back(frame.clone());
            }
            Mode::Inactive => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use super::*;

    #[derive(Default)]
    struct Recorder(StdMutex<Vec<u64>>);

    impl FrameSink for Recorder {
        fn on_frame(&self, frame: &ServerFrame) -> impl Future<Output = ()> + Send {
            self.0.lock().unwrap().push(frame.seq());
            std::future::ready(())
        }
    }

    fn frame(seq: u64) -> ServerFrame {
        ServerFrame::parse(&format!(
            r#"{{"type":"peer-left","seq":{seq},"room":"r","peer":"p{seq}"}}"#
        ))
        .unwrap()
    }

    /// A page that reports "no WebRTC" late still gets the welcome, room list and offers that came
    /// first, in order, then everything after.
    #[tokio::test]
    async fn frames_before_the_report_are_replayed_in_order() {
        let gate = FallbackGate::new(Recorder::default(), false);
        for seq in 1..=3 {
            gate.on_frame(&frame(seq)).await;
        }
        assert!(
            gate.sink().0.lock().unwrap().is_empty(),
            "undecided: nothing passes yet"
        );
        assert!(!gate.active().await);
        gate.webview_reported(false).await;
        gate.on_frame(&frame(4)).await;
        assert_eq!(*gate.sink().0.lock().unwrap(), [1, 2, 3, 4]);
        assert!(gate.active().await);
        // A later page load cannot turn it off again.
        gate.webview_reported(true).await;
        assert!(gate.active().await);
    }

    /// A webview with WebRTC runs its own links: nothing reaches the native ones, before or after.
    #[tokio::test]
    async fn a_webview_with_webrtc_keeps_the_gate_closed() {
        let gate = FallbackGate::new(Recorder::default(), false);
        gate.on_frame(&frame(1)).await;
        gate.webview_reported(true).await;
        gate.on_frame(&frame(2)).await;
        assert!(gate.sink().0.lock().unwrap().is_empty());
        assert!(!gate.active().await);
    }

    /// Forced on (tests, P2PCHAT_FORCE_FALLBACK=1): frames pass at once, whatever the page says.
    #[tokio::test]
    async fn forced_is_active_from_the_start() {
        let gate = FallbackGate::new(Recorder::default(), true);
        gate.on_frame(&frame(1)).await;
        gate.webview_reported(true).await;
        gate.on_frame(&frame(2)).await;
        assert_eq!(*gate.sink().0.lock().unwrap(), [1, 2]);
        assert!(gate.forced());
    }

    /// A page that never reports cannot grow memory: only the newest frames are kept.
    #[tokio::test]
    async fn pending_frames_are_bounded() {
        let gate = FallbackGate::new(Recorder::default(), false);
        let total = MAX_PENDING_FRAMES as u64 + 10;
        for seq in 1..=total {
            gate.on_frame(&frame(seq)).await;
        }
        gate.webview_reported(false).await;
        let seen = gate.sink().0.lock().unwrap().clone();
        assert_eq!(seen.len(), MAX_PENDING_FRAMES);
        assert_eq!(seen.first(), Some(&11));
        assert_eq!(seen.last(), Some(&total));
    }
}
