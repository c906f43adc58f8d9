//! The peer's key-frame requests (RTCP PLI and FIR) reach our encoder. A browser asks for one when it
//! starts decoding our video, or after a loss it cannot repair; unanswered, it shows nothing until the
//! encoder's next periodic key frame (2 s). The connection's RTCP ends in its interceptor chain, so a
//! small interceptor there watches for the requests and passes every packet on unchanged.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use rtc::interceptor::{Interceptor, Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::sansio::Protocol;

use super::tracks::OutgoingMedia;

/// A receiver repeats its request until a key frame arrives; one forced key frame per this interval
/// answers it without flooding the encoder (each key frame is several times a normal frame).
const MIN_INTERVAL: Duration = Duration::from_millis(250);

/// Where a link's key-frame requests go: the media it currently sends, if any.
#[derive(Default)]
pub(super) struct KeyframeRequests {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    media: Option<Weak<dyn OutgoingMedia>>,
    last: Option<Instant>,
}

impl KeyframeRequests {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The media later requests go to (`None`: we send nothing).
    pub fn set_media(&self, media: Option<&Arc<dyn OutgoingMedia>>) {
        self.state().media = media.map(Arc::downgrade);
    }

    /// Asks the media we send for a key frame, unless one was asked for just now.
    fn request(&self) {
        let mut state = self.state();
        if state.last.is_some_and(|t| t.elapsed() < MIN_INTERVAL) {
            return;
        }
        let Some(media) = state.media.as_ref().and_then(Weak::upgrade) else {
            return;
        };
        state.last = Some(Instant::now());
        drop(state);
        tracing::debug!("the peer asked for a key frame");
        media.request_keyframe();
    }

    /// The interceptor to add to the connection's chain.
    pub fn watcher(self: &Arc<Self>) -> KeyframeRequestWatcher {
        KeyframeRequestWatcher {
            requests: self.clone(),
            read: VecDeque::new(),
            write: VecDeque::new(),
        }
    }
}

/// Passes every packet through; a PLI or FIR among the inbound RTCP asks for a key frame.
pub(super) struct KeyframeRequestWatcher {
    requests: Arc<KeyframeRequests>,
    read: VecDeque<TaggedPacket>,
    write: VecDeque<TaggedPacket>,
}

fn asks_for_keyframe(packet: &dyn rtc::rtcp::Packet) -> bool {
    let packet = packet.as_any();
    packet.is::<PictureLossIndication>() || packet.is::<FullIntraRequest>()
}

impl Protocol<TaggedPacket, TaggedPacket, ()> for KeyframeRequestWatcher {
    type Rout = TaggedPacket;
    type Wout = TaggedPacket;
    type Eout = ();
    type Error = rtc::shared::error::Error;
    type Time = Instant;

    fn handle_read(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        if let Packet::Rtcp(packets) = &msg.message.packet
            && packets.iter().any(|p| asks_for_keyframe(p.as_ref()))
        {
            self.requests.request();
        }
        self.read.push_back(msg);
        Ok(())
    }

    fn poll_read(&mut self) -> Option<TaggedPacket> {
        self.read.pop_front()
    }

    fn handle_write(&mut self, msg: TaggedPacket) -> Result<(), Self::Error> {
        self.write.push_back(msg);
        Ok(())
    }

    fn poll_write(&mut self) -> Option<TaggedPacket> {
        self.write.pop_front()
    }
}

impl Interceptor for KeyframeRequestWatcher {
    fn bind_local_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_local_stream(&mut self, _info: &StreamInfo) {}
    fn bind_remote_stream(&mut self, _info: &StreamInfo) {}
    fn unbind_remote_stream(&mut self, _info: &StreamInfo) {}
}
