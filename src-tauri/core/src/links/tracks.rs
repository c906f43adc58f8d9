//! A link's call media: our capture's RTP forwarded on this connection's own tracks (VP8 and Opus, as
//! a browser sends them), and the peer's tracks handed to playbacks. The link's task decides when to
//! renegotiate; this file only adds, removes and plays tracks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::shared::marshal::{Marshal, Unmarshal};
use tokio::sync::broadcast;
use tokio::task::AbortHandle;
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{MediaEngine, PeerConnection, RTCStatsReportEntry, StatsSelector};
use webrtc::rtp_transceiver::RtpSender;

use super::keyframes::KeyframeRequests;
use crate::media::{Capture, FrameSource, Playback, PlaybackOptions, PlaybackStats};

/// How often a receiver asks for a key frame while it has packets but no picture.
const PICTURE_LOSS_RETRY: Duration = Duration::from_secs(1);

/// What one link sends and plays.
#[derive(Default)]
pub(super) struct LinkMedia {
    sending: tokio::sync::Mutex<Sending>,
    playing: Mutex<Vec<Arc<PlaybackStats>>>,
    /// The peer's key-frame requests, answered by the capture we send.
    keyframes: Arc<KeyframeRequests>,
}

#[derive(Default)]
struct Sending {
    capture: Option<Arc<Capture>>,
    senders: Vec<(Arc<dyn RtpSender>, AbortHandle)>,
    /// Whether packets flow: tracks are negotiated while a call rings, but nothing is sent until the
    /// peer accepts (as the web UI's disabled tracks).
    live: Arc<AtomicBool>,
}

/// A snapshot of one peer's call quality (the indicator and the headless peer's `call-stats`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct MediaStats {
    /// Remote video frames decoded since the call started.
    pub frames_decoded: u64,
    /// Level (RMS, 0..1) of the peer's decoded sound.
    pub audio_level: f32,
    /// Bytes of the peer's media received so far (the caller turns it into a bitrate).
    pub bytes_received: u64,
    /// Round trip of the selected ICE pair, in ms.
    pub rtt_ms: f64,
    /// Fraction of our packets the peer reported lost (0..1).
    pub loss: f64,
    /// Whether we are sending media on this link.
    pub sending: bool,
}

impl LinkMedia {
    fn playing(&self) -> MutexGuard<'_, Vec<Arc<PlaybackStats>>> {
        self.playing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Puts `capture`'s media on `pc`'s tracks instead of what was there before (nothing, if `None`),
    /// flowing if `live`. Returns whether the tracks changed, i.e. whether the connection must
    /// renegotiate (switching `live` alone does not).
    pub async fn set_capture(
        &self,
        pc: &Arc<dyn PeerConnection>,
        capture: Option<Arc<Capture>>,
        live: bool,
    ) -> webrtc::error::Result<bool> {
        let mut sending = self.sending.lock().await;
        let was_live = sending.live.swap(live, Ordering::AcqRel);
        let same = match (&sending.capture, &capture) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if same {
            if live
                && !was_live
                && let Some(capture) = &capture
            {
                capture.request_keyframe(); // the picture starts with a key frame
            }
            return Ok(false);
        }
        for (sender, task) in std::mem::take(&mut sending.senders) {
            task.abort();
            pc.remove_track(&sender).await?;
        }
        sending.capture = capture.clone();
        self.keyframes.set_capture(capture.as_ref());
        let Some(capture) = capture else {
            return Ok(true);
        };
        for video in [false, true] {
            let Some(packets) = capture.subscribe(video) else {
                continue;
            };
            let ssrc = rand::random::<u32>();
            let track = Arc::new(TrackLocalStaticRTP::new(local_track(video, ssrc)));
            let sender = pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
            let mime = codec(video).mime_type;
            let live = sending.live.clone();
            let task = tokio::spawn(forward(track, sender.clone(), packets, ssrc, mime, live));
            sending.senders.push((sender, task.abort_handle()));
        }
        capture.request_keyframe();
        Ok(true)
    }

    /// Plays the peer's `track` until it ends; `peer` names the pictures' source.
    pub async fn play(
        self: Arc<Self>,
        track: Arc<dyn TrackRemote>,
        options: PlaybackOptions,
        room: String,
        peer: String,
    ) {
        let mut playback: Option<(Playback, u8)> = None;
        let mut last_request: Option<tokio::time::Instant> = None;
        while let Some(event) = track.poll().await {
            let TrackRemoteEvent::OnRtpPacket(packet) = event else {
                if matches!(event, TrackRemoteEvent::OnEnded) {
                    break;
                }
                continue;
            };
            let video = track.kind().await == RtpCodecKind::Video;
            if playback.is_none() {
                let payload_type = packet.header.payload_type;
                let started = if video {
                    let source = FrameSource::Remote {
                        room: room.clone(),
                        peer: peer.clone(),
                    };
                    Playback::video(payload_type, source, &options)
                } else {
                    Playback::audio(payload_type, &options)
                };
                match started {
                    Ok(p) => {
                        self.playing().push(p.stats());
                        playback = Some((p, payload_type));
                    }
                    Err(err) => {
                        tracing::warn!(%err, video, "cannot play the peer's media");
                        return;
                    }
                }
            }
            let Some((playback, payload_type)) = &playback else {
                continue;
            };
            // Retransmissions and FEC on other payload types are not for the decoder.
            if packet.header.payload_type != *payload_type {
                continue;
            }
            if video && playback.stats().frames_decoded() == 0 {
                let due = last_request.is_none_or(|t| t.elapsed() >= PICTURE_LOSS_RETRY);
                if due {
                    last_request = Some(tokio::time::Instant::now());
                    let pli = PictureLossIndication {
                        sender_ssrc: 0,
                        media_ssrc: packet.header.ssrc,
                    };
                    let _ = track.write_rtcp(vec![Box::new(pli)]).await;
                }
            }
            if let Ok(bytes) = packet.marshal() {
                playback.push(bytes.to_vec());
            }
        }
        if let Some((playback, _)) = playback {
            let stats = playback.stats();
            self.playing().retain(|s| !Arc::ptr_eq(s, &stats));
        }
    }

    /// Counters of what this link plays and sends, with the connection's RTT and reported loss.
    pub async fn stats(&self, pc: Option<Arc<dyn PeerConnection>>) -> MediaStats {
        let mut stats = MediaStats::default();
        for playing in self.playing().iter() {
            stats.frames_decoded += playing.frames_decoded();
            stats.audio_level = stats.audio_level.max(playing.audio_level());
            stats.bytes_received += playing.bytes_received();
        }
        {
            let sending = self.sending.lock().await;
            stats.sending = !sending.senders.is_empty() && sending.live.load(Ordering::Acquire);
        }
        if let Some(pc) = pc {
            let report = pc
                .get_stats(std::time::Instant::now(), StatsSelector::None)
                .await;
            for entry in report.iter() {
                match entry {
                    RTCStatsReportEntry::IceCandidatePair(pair) if pair.nominated => {
                        stats.rtt_ms = pair.current_round_trip_time * 1000.0;
                    }
                    RTCStatsReportEntry::RemoteInboundRtp(remote) => {
                        stats.loss = stats.loss.max(remote.fraction_lost);
                    }
                    _ => {}
                }
            }
        }
        stats
    }
}

/// Position of the key-frame request watcher in the interceptor chain: past the built-in ones (the
/// webrtc crate's rtcp-processing example uses the same).
const KEYFRAME_WATCHER_SLOT: usize = 14_000;

/// RTP header extensions in Chromium's order, so they get Chromium's ids: when both sides offer at
/// once and the browser rolls its offer back, it refuses an offer that gives an id it already uses to
/// another extension ("RTP extension ID reassignment not supported").
const HEADER_EXTENSIONS: [(&str, bool); 4] = [
    ("urn:ietf:params:rtp-hdrext:ssrc-audio-level", false),
    (
        "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
        true,
    ),
    (
        "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
        true,
    ),
    ("urn:ietf:params:rtp-hdrext:sdes:mid", true),
];

/// The media a call uses and its feedback: VP8 and Opus only, so whichever side offers, both agree
/// on what GStreamer encodes and decodes (Chromium offers both); NACK retransmission, RTCP reports
/// (RTT and loss for the quality indicator), transport-wide congestion feedback, and the peer's
/// key-frame requests answered by `link_media`'s capture.
pub(super) fn register_media(
    media: &mut MediaEngine,
    link_media: &LinkMedia,
) -> webrtc::error::Result<webrtc::peer_connection::Registry> {
    use webrtc::peer_connection::{
        Registry, configure_nack, configure_rtcp_reports, configure_twcc_receiver_only,
    };
    register_codecs(media)?;
    for (uri, video) in HEADER_EXTENSIONS {
        let kinds: &[RtpCodecKind] = if video {
            &[RtpCodecKind::Audio, RtpCodecKind::Video]
        } else {
            &[RtpCodecKind::Audio]
        };
        for kind in kinds {
            let extension = rtc::rtp_transceiver::rtp_sender::RTCRtpHeaderExtensionCapability {
                uri: uri.to_owned(),
            };
            media.register_header_extension(extension, *kind, None)?;
        }
    }
    let registry = configure_nack(Registry::new(), media);
    let registry = configure_twcc_receiver_only(registry, media)?;
    // Application-most, after every interceptor that reads RTCP.
    let registry = registry.with(
        rtc::interceptor::Slot::from(KEYFRAME_WATCHER_SLOT),
        link_media.keyframes.watcher(),
    );
    Ok(configure_rtcp_reports(registry))
}

fn register_codecs(media: &mut MediaEngine) -> webrtc::error::Result<()> {
    for video in [false, true] {
        let parameters = rtc::rtp_transceiver::rtp_sender::RTCRtpCodecParameters {
            rtp_codec: codec(video),
            payload_type: if video {
                crate::media::VP8_PAYLOAD_TYPE
            } else {
                crate::media::OPUS_PAYLOAD_TYPE
            },
        };
        let kind = if video {
            RtpCodecKind::Video
        } else {
            RtpCodecKind::Audio
        };
        media.register_codec(parameters, kind)?;
    }
    Ok(())
}

fn codec(video: bool) -> RTCRtpCodec {
    if video {
        RTCRtpCodec {
            mime_type: "video/VP8".to_owned(),
            clock_rate: 90_000,
            channels: 0,
            sdp_fmtp_line: String::new(),
            rtcp_feedback: vec![],
        }
    } else {
        RTCRtpCodec {
            mime_type: "audio/opus".to_owned(),
            clock_rate: 48_000,
            channels: 2,
            sdp_fmtp_line: "minptime=10;useinbandfec=1".to_owned(),
            rtcp_feedback: vec![],
        }
    }
}

fn local_track(video: bool, ssrc: u32) -> MediaStreamTrack {
    let kind = if video {
        RtpCodecKind::Video
    } else {
        RtpCodecKind::Audio
    };
    let id = uuid::Uuid::now_v7().to_string();
    MediaStreamTrack::new(
        "p2pchat".to_owned(),
        id.clone(),
        id,
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec: codec(video),
            ..Default::default()
        }],
    )
}

/// Forwards the capture's packets on one track: our SSRC, and the payload type this peer negotiated
/// (looked up again whenever the sender refuses one, e.g. after a renegotiation).
async fn forward(
    track: Arc<TrackLocalStaticRTP>,
    sender: Arc<dyn RtpSender>,
    mut packets: broadcast::Receiver<Bytes>,
    ssrc: u32,
    mime: String,
    live: Arc<AtomicBool>,
) {
    let mut payload_type: Option<u8> = None;
    loop {
        let bytes = match packets.recv().await {
            Ok(bytes) => bytes,
            // A slow link skips packets (the receiver's NACKs and key frames repair the gap).
            Err(broadcast::error::RecvError::Lagged(_)) => continue,
            Err(broadcast::error::RecvError::Closed) => return,
        };
        if !live.load(Ordering::Acquire) {
            continue;
        }
        if payload_type.is_none() {
            payload_type = negotiated_payload_type(&sender, &mime).await;
        }
        let Some(pt) = payload_type else {
            continue; // not negotiated yet
        };
        let Ok(mut packet) = rtp::Packet::unmarshal(&mut bytes.as_ref()) else {
            continue;
        };
        packet.header.ssrc = ssrc;
        packet.header.payload_type = pt;
        if track.write_rtp(packet).await.is_err() {
            payload_type = None;
        }
    }
}

async fn negotiated_payload_type(sender: &Arc<dyn RtpSender>, mime: &str) -> Option<u8> {
    let parameters = sender.get_parameters().await.ok()?;
    parameters
        .rtp_parameters
        .codecs
        .iter()
        .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
        .map(|c| c.payload_type)
}
