//! A link's tracks: the call's outgoing RTP forwarded on this connection's own tracks (VP8 and Opus, as a
//! browser sends them), and the peer's tracks handed to whoever plays them. Links carry RTP and nothing
//! else: capturing, encoding, decoding and playing are the media engine's (`crate::media`), which plugs in
//! through [`OutgoingMedia`] and [`RemoteTracks`]. The link's task decides when to renegotiate; this file
//! only adds, removes and receives tracks.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use rtc::media_stream::MediaStreamTrack;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;
use rtc::rtcp::receiver_report::ReceiverReport;
use rtc::rtcp::reception_report::ReceptionReport;
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

/// RTP payload types the links register (and a sender may stamp); each link rewrites outgoing packets
/// to what its peer negotiated.
pub const VP8_PAYLOAD_TYPE: u8 = 96;
pub const OPUS_PAYLOAD_TYPE: u8 = 111;

/// How often a receiver asks for a key frame while it has packets but no picture.
const PICTURE_LOSS_RETRY: Duration = Duration::from_secs(1);

/// The RTP a call sends: one VP8 and one Opus stream, shared by every link it is put on (the media
/// engine's capture).
pub trait OutgoingMedia: Send + Sync + 'static {
    /// A new receiver of the video (`true`) or audio RTP stream; `None` if that kind is not sent.
    fn subscribe(&self, video: bool) -> Option<broadcast::Receiver<Bytes>>;
    /// A peer asked for a key frame (or starts receiving): the next video frame should be one.
    fn request_keyframe(&self);
}

/// A track the peer started sending us.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteTrack {
    pub room: String,
    pub peer: String,
    /// The link it arrived on (see [`TrackStats::link`]): stays the same when the peer's id is re-keyed.
    pub link: u64,
    pub video: bool,
    /// The payload type of its media packets (retransmissions on other types are not passed on).
    pub payload_type: u8,
}

/// Where one remote track's packets go, until it is dropped (the track ended).
pub trait TrackSink: Send + Sync + 'static {
    /// One RTP packet (header included) of the track's payload type.
    fn push(&self, rtp: Vec<u8>);
    /// Still waiting for a first picture: the link asks the peer for a key frame every second meanwhile.
    fn awaiting_picture(&self) -> bool;
}

/// Takes the peers' tracks (the media engine's call session; see [`super::LinkManager::set_remote_tracks`]).
pub trait RemoteTracks: Send + Sync + 'static {
    /// `track` started; `None` drops its packets.
    fn on_track(&self, track: RemoteTrack) -> Option<Box<dyn TrackSink>>;
}

/// What one link sends.
#[derive(Default)]
pub(super) struct LinkTracks {
    sending: tokio::sync::Mutex<Sending>,
    /// The peer's key-frame requests, answered by the media we send.
    keyframes: Arc<KeyframeRequests>,
}

#[derive(Default)]
struct Sending {
    media: Option<Arc<dyn OutgoingMedia>>,
    senders: Vec<(Arc<dyn RtpSender>, AbortHandle)>,
    /// Whether packets flow: tracks are negotiated while a call rings, but nothing is sent until the
    /// peer accepts (as the web UI's disabled tracks).
    live: Arc<AtomicBool>,
}

/// The connection's side of one peer's call quality (the media engine adds what it decoded).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrackStats {
    /// Which link (see [`RemoteTrack::link`]).
    pub link: u64,
    /// Round trip of the selected ICE pair, in ms.
    pub rtt_ms: f64,
    /// Fraction of our packets the peer reported lost (0..1).
    pub loss: f64,
    /// Whether we are sending media on this link.
    pub sending: bool,
}

impl LinkTracks {
    /// Puts `media` on `pc`'s tracks instead of what was there before (nothing, if `None`), flowing if
    /// `live`. Returns whether the tracks changed, i.e. whether the connection must renegotiate
    /// (switching `live` alone does not).
    pub async fn set_media(
        &self,
        pc: &Arc<dyn PeerConnection>,
        media: Option<Arc<dyn OutgoingMedia>>,
        live: bool,
    ) -> webrtc::error::Result<bool> {
        let mut sending = self.sending.lock().await;
        let was_live = sending.live.swap(live, Ordering::AcqRel);
        let same = match (&sending.media, &media) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        if same {
            if live
                && !was_live
                && let Some(media) = &media
            {
                media.request_keyframe(); // the picture starts with a key frame
            }
            return Ok(false);
        }
        for (sender, task) in std::mem::take(&mut sending.senders) {
            task.abort();
            pc.remove_track(&sender).await?;
        }
        sending.media = media.clone();
        self.keyframes.set_media(media.as_ref());
        let Some(media) = media else {
            return Ok(true);
        };
        for video in [false, true] {
            let Some(packets) = media.subscribe(video) else {
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
        media.request_keyframe();
        Ok(true)
    }

    /// The connection's RTT and reported loss, and whether we send.
    pub async fn stats(&self, link: u64, pc: Option<Arc<dyn PeerConnection>>) -> TrackStats {
        let mut stats = TrackStats {
            link,
            ..TrackStats::default()
        };
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

/// Reads the peer's `track` until it ends, handing its packets to the sink `handler` gives for it
/// (none: they are read and dropped). `identify` names the track once its first packet shows what it is.
pub(crate) async fn receive(
    track: Arc<dyn TrackRemote>,
    handler: Option<Arc<dyn RemoteTracks>>,
    identify: impl FnOnce(bool, u8) -> RemoteTrack,
) {
    let mut identify = Some(identify);
    let mut sink: Option<(Box<dyn TrackSink>, u8)> = None;
    let mut last_request: Option<tokio::time::Instant> = None;
    // Who we are in our key-frame requests: we send nothing on this track, so an SSRC of its own.
    let reporter = rand::random::<u32>().max(1);
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            if matches!(event, TrackRemoteEvent::OnEnded) {
                break;
            }
            continue;
        };
        if let Some(identify) = identify.take() {
            let video = track.kind().await == RtpCodecKind::Video;
            let payload_type = packet.header.payload_type;
            let remote = identify(video, payload_type);
            sink = handler
                .as_ref()
                .and_then(|h| h.on_track(remote))
                .map(|s| (s, payload_type));
        }
        let Some((sink, payload_type)) = &sink else {
            continue;
        };
        // Retransmissions and FEC on other payload types are not for the decoder.
        if packet.header.payload_type != *payload_type {
            continue;
        }
        if sink.awaiting_picture() {
            let due = last_request.is_none_or(|t| t.elapsed() >= PICTURE_LOSS_RETRY);
            if due {
                last_request = Some(tokio::time::Instant::now());
                let pli = PictureLossIndication {
                    sender_ssrc: reporter,
                    media_ssrc: packet.header.ssrc,
                };
                // Compound, a report first (RFC 3550 6.1): Janus finds the stream a receiver's
                // feedback is for from the report block, and dropped the request alone (or, sent
                // from SSRC 0, took it for the audio's).
                let report = ReceiverReport {
                    ssrc: reporter,
                    reports: vec![ReceptionReport {
                        ssrc: packet.header.ssrc,
                        last_sequence_number: packet.header.sequence_number.into(),
                        ..ReceptionReport::default()
                    }],
                    ..ReceiverReport::default()
                };
                let _ = track
                    .write_rtcp(vec![Box::new(report), Box::new(pli)])
                    .await;
            }
        }
        if let Ok(bytes) = packet.marshal() {
            sink.push(bytes.to_vec());
        }
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
/// key-frame requests answered by the media `link_tracks` sends.
pub(super) fn register_media(
    media: &mut MediaEngine,
    link_tracks: &LinkTracks,
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
        link_tracks.keyframes.watcher(),
    );
    Ok(configure_rtcp_reports(registry))
}

/// The media setup of a connection that is not a link (an SFU call's, to Janus): the links' codecs,
/// header extensions and feedback, key-frame requests going to `media`.
pub(crate) fn media_setup(
    media: Option<&Arc<dyn OutgoingMedia>>,
) -> webrtc::error::Result<(MediaEngine, webrtc::peer_connection::Registry)> {
    let link_tracks = LinkTracks::default();
    link_tracks.keyframes.set_media(media);
    let mut engine = MediaEngine::default();
    let registry = register_media(&mut engine, &link_tracks)?;
    Ok((engine, registry))
}

fn register_codecs(media: &mut MediaEngine) -> webrtc::error::Result<()> {
    for video in [false, true] {
        let parameters = rtc::rtp_transceiver::rtp_sender::RTCRtpCodecParameters {
            rtp_codec: codec(video),
            payload_type: if video {
                VP8_PAYLOAD_TYPE
            } else {
                OPUS_PAYLOAD_TYPE
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

pub(crate) fn codec(video: bool) -> RTCRtpCodec {
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

pub(crate) fn local_track(video: bool, ssrc: u32) -> MediaStreamTrack {
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

pub(crate) async fn negotiated_payload_type(sender: &Arc<dyn RtpSender>, mime: &str) -> Option<u8> {
    let parameters = sender.get_parameters().await.ok()?;
    parameters
        .rtp_parameters
        .codecs
        .iter()
        .find(|c| c.rtp_codec.mime_type.eq_ignore_ascii_case(mime))
        .map(|c| c.payload_type)
}
