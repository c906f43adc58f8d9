//! A call's media on top of the links: the one capture every peer of the call shares, put on or taken
//! off each peer's link through the link's track hooks, the peers' tracks played as they arrive, the
//! counters of both, and what the pipelines report mid-call as [`MediaEvent`]s. The links know nothing
//! of this: they carry RTP (see `crate::links::OutgoingMedia` and `RemoteTracks`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::mpsc;

use super::types::{CaptureOptions, MediaEvent, MediaEvents, PlaybackOptions, PlaybackStats};
use super::{Capture, FrameSource, MediaError, Playback};
use crate::links::{LinkManager, OutgoingMedia, RemoteTrack, RemoteTracks, TrackSink};

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

/// The call media of one app or headless peer: at most one capture at a time, and every peer's
/// tracks played. Dropping it stops the capture; the playbacks end with their tracks.
pub struct CallSession {
    links: LinkManager,
    players: Arc<Players>,
    capture: Mutex<Option<Arc<Capture>>>,
}

impl CallSession {
    /// Takes the peers' tracks on `links` from now on, played as `playback` says; what the pipelines
    /// report mid-call comes out of the returned receiver.
    pub fn new(
        links: LinkManager,
        playback: PlaybackOptions,
    ) -> (CallSession, mpsc::UnboundedReceiver<MediaEvent>) {
        let (events, received) = mpsc::unbounded_channel();
        let players = Arc::new(Players {
            options: playback,
            events,
            playing: Playing::default(),
        });
        links.set_remote_tracks(players.clone());
        let session = CallSession {
            links,
            players,
            capture: Mutex::new(None),
        };
        (session, received)
    }

    fn capture_slot(&self) -> MutexGuard<'_, Option<Arc<Capture>>> {
        self.capture
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The running capture, if any.
    pub fn capture(&self) -> Option<Arc<Capture>> {
        self.capture_slot().clone()
    }

    /// Starts the call's capture unless one runs (then returns that one). Blocking: devices open.
    pub fn start_capture(&self, options: CaptureOptions) -> Result<Arc<Capture>, MediaError> {
        if let Some(running) = self.capture() {
            return Ok(running);
        }
        let started = Arc::new(Capture::start(options, self.players.events.clone())?);
        // Two starts raced: the first stays.
        Ok(self.capture_slot().get_or_insert(started).clone())
    }

    /// Stops the capture (the call ended); false if none ran. Links keep whatever was taken off them.
    pub fn stop_capture(&self) -> bool {
        self.capture_slot().take().is_some()
    }

    /// Puts the capture on the link to `peer` in `room`, sending at once when `live` (false: the call
    /// rings, media is negotiated but not sent). The receiver hears once the link sent its offer, if
    /// one was needed; `None` when there is no capture or no link to `peer`.
    pub fn attach(
        &self,
        room: &str,
        peer: &str,
        live: bool,
    ) -> Option<tokio::sync::oneshot::Receiver<()>> {
        let media = self.capture()? as Arc<dyn OutgoingMedia>;
        self.links.set_tracks(room, peer, Some(media), live)
    }

    /// Takes our media off the link to `peer` (they left the call); `None` when there is no link.
    pub fn detach(&self, room: &str, peer: &str) -> Option<tokio::sync::oneshot::Receiver<()>> {
        self.links.set_tracks(room, peer, None, false)
    }

    /// Call quality of the link to `peer` with what we decoded of theirs; `None` when there is no link.
    pub async fn stats(&self, room: &str, peer: &str) -> Option<MediaStats> {
        let link = self.links.track_stats(room, peer).await?;
        let mut stats = MediaStats {
            rtt_ms: link.rtt_ms,
            loss: link.loss,
            sending: link.sending,
            ..MediaStats::default()
        };
        for playing in self.players.playing(link.link) {
            stats.frames_decoded += playing.frames_decoded();
            stats.audio_level = stats.audio_level.max(playing.audio_level());
            stats.bytes_received += playing.bytes_received();
        }
        Some(stats)
    }
}

/// Counters of what plays, by the link it arrived on.
type Playing = Arc<Mutex<HashMap<u64, Vec<Arc<PlaybackStats>>>>>;

fn lock(playing: &Playing) -> MutexGuard<'_, HashMap<u64, Vec<Arc<PlaybackStats>>>> {
    playing
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Plays the peers' tracks (the links' [`RemoteTracks`] hook) and keeps their counters by link, so a
/// peer whose id is re-keyed keeps its counters.
struct Players {
    options: PlaybackOptions,
    events: MediaEvents,
    playing: Playing,
}

impl Players {
    fn playing(&self, link: u64) -> Vec<Arc<PlaybackStats>> {
        lock(&self.playing).get(&link).cloned().unwrap_or_default()
    }
}

impl RemoteTracks for Players {
    fn on_track(&self, track: RemoteTrack) -> Option<Box<dyn TrackSink>> {
        let source = FrameSource::Remote {
            room: track.room,
            peer: track.peer,
        };
        let started = if track.video {
            Playback::video(track.payload_type, source, &self.options, &self.events)
        } else {
            Playback::audio(track.payload_type, &source, &self.options, &self.events)
        };
        let playback = match started {
            Ok(playback) => playback,
            Err(err) => {
                tracing::warn!(%err, video = track.video, "cannot play the peer's media");
                return None;
            }
        };
        lock(&self.playing)
            .entry(track.link)
            .or_default()
            .push(playback.stats());
        Some(Box::new(PlayingTrack {
            playback,
            video: track.video,
            link: track.link,
            playing: self.playing.clone(),
        }))
    }
}

/// One remote track being played, until its link stops reading it.
struct PlayingTrack {
    playback: Playback,
    video: bool,
    link: u64,
    playing: Playing,
}

impl TrackSink for PlayingTrack {
    fn push(&self, rtp: Vec<u8>) {
        self.playback.push(rtp);
    }

    fn awaiting_picture(&self) -> bool {
        self.video && self.playback.stats().frames_decoded() == 0
    }
}

impl Drop for PlayingTrack {
    fn drop(&mut self) {
        let stats = self.playback.stats();
        let mut playing = lock(&self.playing);
        if let Some(of_link) = playing.get_mut(&self.link) {
            of_link.retain(|s| !Arc::ptr_eq(s, &stats));
            if of_link.is_empty() {
                playing.remove(&self.link);
            }
        }
    }
}
