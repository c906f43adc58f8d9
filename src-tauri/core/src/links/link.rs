//! One native WebRTC connection (webrtc-rs) to one remote peer, carrying the same chat channel as the
//! web UI's `PeerLink` (ui/src/lib/call/peer.ts): label "chat", ordered, reliable, opened in-band (DCEP)
//! by the side that initiates the link (the newcomer) and accepted by the other. So the other side may
//! be a browser, an app with webview WebRTC or another fallback. In-band opening has no start-up race:
//! the opener's stream exists before any of its data, and the acceptor's channel exists before the
//! opener's first message is delivered (a pre-negotiated channel on webrtc-rs 0.21.1 registered its
//! stream only after the association was up, so a faster peer's first data broke it). If both sides
//! initiate (a rare simultaneous join), the link carries two chat channels: it reads both and sends on
//! the first one open. Negotiation is "perfect negotiation": one task handles the peer's signals strictly in
//! arrival order; on colliding offers the impolite side ignores the other's offer and the polite side
//! rolls its own back. ICE `failed` (or `disconnected` for 2 s) restarts ICE, at most three times in a
//! row; then the link gives up and reports it. The first remote description's DTLS fingerprint is
//! pinned: a later offer or answer naming another certificate fails the link (see [`super::safety`]).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chat_protocol::{IceServer, SignalData};
use rtc::peer_connection::transport::RTCDtlsRole;
use tokio::sync::mpsc;
use tokio::time::Instant;
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::error::{Error, Result};
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceCandidate, RTCIceCandidateInit, RTCIceConnectionState,
    RTCIceServer, RTCIceTransportPolicy, RTCPeerConnectionIceEvent, RTCSessionDescription,
    SettingEngineBuilder,
};

use super::safety;
use super::tracks::{self, LinkTracks, OutgoingMedia, RemoteTrack, register_media};
use super::{Inner, LinkEvent, LinkOptions};
use crate::chat::ChannelMessage;
use crate::constants::{
    CHAT_CHANNEL_LABEL, DISCONNECTED_GRACE, MAX_HELD_CANDIDATES, MAX_ICE_RESTARTS,
};

/// What the link's task works through, in order.
pub(super) enum Input {
    /// offer / answer / candidate / restart from the remote peer.
    Signal(SignalData),
    /// A candidate our side gathered, to trickle to the peer.
    LocalCandidate(RTCIceCandidate),
    Ice(RTCIceConnectionState),
    /// Restart ICE now (asked by the peer or the owner); not counted against the limit.
    Restart,
    /// The peer opened a data channel on this connection.
    RemoteChannel(Arc<dyn DataChannel>),
    /// Put this media on the connection's tracks (`None`: take it off), flowing if `live`;
    /// renegotiates when the tracks change; `done` hears once the offer (if any) is sent.
    Media {
        media: Option<Arc<dyn OutgoingMedia>>,
        live: bool,
        done: tokio::sync::oneshot::Sender<()>,
    },
    /// The peer sends us a media track.
    RemoteTrack(Arc<dyn TrackRemote>),
    Close,
}

/// What the manager and the channel readers know about a link.
pub(super) struct Shared {
    /// The chat channels, each with whether it is open now (normally one; see the module doc).
    channels: Mutex<Vec<(Arc<dyn DataChannel>, bool)>>,
    /// Whether the link counts as open: set with the first open channel, cleared by whoever reports
    /// `Closed` (the last channel's reader, or the manager removing the link).
    pub open: AtomicBool,
    /// The connection, once built: its certificates give the link's safety code.
    pub pc: std::sync::OnceLock<Arc<dyn PeerConnection>>,
    /// The remote fingerprint of the first remote description, the one webrtc-rs started DTLS with and
    /// checks the peer's certificate against (`None` inside: it named none usable). webrtc-rs never
    /// looks at a later description's fingerprint, so the link does: see `Negotiator::handle`.
    pub pinned: std::sync::OnceLock<Option<String>>,
    /// The call's tracks on this connection.
    pub tracks: Arc<LinkTracks>,
}

impl Shared {
    fn channels(&self) -> MutexGuard<'_, Vec<(Arc<dyn DataChannel>, bool)>> {
        // A poisoned lock only means a panic mid-push of plain data; keep going.
        self.channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Marks `channel` open or closed; returns how many chat channels are open now.
    fn set_open(&self, channel: &Arc<dyn DataChannel>, open: bool) -> usize {
        let mut channels = self.channels();
        for (c, is_open) in channels.iter_mut() {
            if Arc::ptr_eq(c, channel) {
                *is_open = open;
            }
        }
        channels.iter().filter(|(_, o)| *o).count()
    }
}

/// Handle to a running link; dropping it closes the connection.
pub(super) struct Link {
    /// Tells this link apart from a later one to the same peer id.
    pub id: u64,
    pub shared: Arc<Shared>,
    inputs: mpsc::UnboundedSender<Input>,
}

impl Link {
    /// Starts a link in `room`; `initiate` makes it announce the fallback and offer first (we are the
    /// newcomer), otherwise it waits for the peer's offer.
    pub fn spawn(
        inner: Arc<Inner>,
        room: String,
        id: u64,
        ice_servers: Vec<IceServer>,
        initiate: bool,
    ) -> Link {
        // Unbounded but small: only negotiation steps, candidates and state changes go through it;
        // chat data never does.
        let (inputs, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            channels: Mutex::new(Vec::new()),
            open: AtomicBool::new(false),
            pc: std::sync::OnceLock::new(),
            pinned: std::sync::OnceLock::new(),
            tracks: Arc::default(),
        });
        let task = LinkTask {
            inner,
            room,
            id,
            shared: shared.clone(),
        };
        tokio::spawn(task.run(ice_servers, initiate, inputs.clone(), rx));
        Link { id, shared, inputs }
    }

    pub fn input(&self, input: Input) {
        let _ = self.inputs.send(input);
    }

    /// A chat channel to send on, if one is open.
    pub fn open_channel(&self) -> Option<Arc<dyn DataChannel>> {
        if !self.shared.open.load(Ordering::Acquire) {
            return None;
        }
        let channels = self.shared.channels();
        channels
            .iter()
            .find(|(_, open)| *open)
            .map(|(c, _)| c.clone())
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        let _ = self.inputs.send(Input::Close);
    }
}

/// Forwards the connection's callbacks into the link's input queue (they run on webrtc-rs's driver,
/// which must not be blocked).
struct Handler {
    inputs: mpsc::UnboundedSender<Input>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_candidate(&self, event: RTCPeerConnectionIceEvent) {
        let _ = self.inputs.send(Input::LocalCandidate(event.candidate));
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        let _ = self.inputs.send(Input::Ice(state));
    }

    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let _ = self.inputs.send(Input::RemoteChannel(channel));
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let _ = self.inputs.send(Input::RemoteTrack(track));
    }
}

struct LinkTask {
    inner: Arc<Inner>,
    room: String,
    id: u64,
    shared: Arc<Shared>,
}

impl LinkTask {
    async fn run(
        self,
        ice_servers: Vec<IceServer>,
        initiate: bool,
        inputs: mpsc::UnboundedSender<Input>,
        mut rx: mpsc::UnboundedReceiver<Input>,
    ) {
        let started = async {
            let pc = build(
                &self.inner.options,
                &self.shared.tracks,
                ice_servers,
                inputs,
            )
            .await?;
            if initiate {
                // The opener: the channel is in our first offer and opened in-band once connected.
                let init = RTCDataChannelInit {
                    ordered: true,
                    ..Default::default()
                };
                let channel = pc
                    .create_data_channel(CHAT_CHANNEL_LABEL, Some(init))
                    .await?;
                self.adopt(channel);
            }
            Ok::<_, Error>(pc)
        };
        let pc = match started.await {
            Ok(pc) => {
                let _ = self.shared.pc.set(pc.clone());
                pc
            }
            Err(err) => {
                self.give_up(format!("cannot start WebRTC: {err}")).await;
                return;
            }
        };
        let mut n = Negotiator {
            task: &self,
            pc: pc.clone(),
            ignore_offer: false,
            held: Vec::new(),
            restarts: 0,
            restart_at: None,
            restart_wanted: false,
            offer_wanted: false,
        };
        if initiate {
            self.signal(SignalData::DcFallback);
            let result = n.offer(false).await;
            n.report(result);
        }
        let failure = loop {
            let deadline = n.restart_at;
            let input = tokio::select! {
                input = rx.recv() => input,
                () = tokio::time::sleep_until(deadline.unwrap_or_else(Instant::now)), if deadline.is_some() => {
                    n.restart_at = None;
                    match n.counted_restart().await {
                        Ok(()) => continue,
                        Err(reason) => break Some(reason),
                    }
                }
            };
            match input {
                None | Some(Input::Close) => break None,
                Some(input) => {
                    if let Err(reason) = n.handle(input).await {
                        break Some(reason);
                    }
                }
            }
        };
        if let Err(err) = pc.close().await {
            tracing::debug!(%err, "closing peer connection");
        }
        if let Some(reason) = failure {
            self.give_up(reason).await;
        }
    }

    fn signal(&self, data: SignalData) {
        self.inner.signal(&self.room, self.id, data);
    }

    /// Reads `channel` (ours, or one the peer opened) as one of this link's chat channels.
    fn adopt(&self, channel: Arc<dyn DataChannel>) {
        self.shared.channels().push((channel.clone(), false));
        tokio::spawn(read_channel(
            self.inner.clone(),
            self.room.clone(),
            self.id,
            self.shared.clone(),
            channel,
        ));
    }

    /// The link cannot recover: it leaves the manager and says why.
    async fn give_up(&self, reason: String) {
        tracing::warn!(room = %self.room, %reason, "fallback link failed");
        let Some(peer) = self.inner.key_of(&self.room, self.id) else {
            return;
        };
        self.inner.remove_link(&self.room, &peer, self.id).await;
        self.inner
            .emit(LinkEvent::Failed {
                room: self.room.clone(),
                peer,
                reason,
            })
            .await;
    }
}

/// Builds the connection: ICE servers from `welcome`, relay-only if asked, default codecs (a browser
/// that rings renegotiates with audio/video sections, which are then answered receive-only instead
/// of failing the whole negotiation), and the send-buffer bound that makes senders wait.
async fn build(
    options: &LinkOptions,
    link_tracks: &LinkTracks,
    ice_servers: Vec<IceServer>,
    inputs: mpsc::UnboundedSender<Input>,
) -> Result<Arc<dyn PeerConnection>> {
    let servers = ice_servers
        .into_iter()
        .map(|s| RTCIceServer {
            urls: s.urls,
            username: s.username.unwrap_or_default(),
            credential: s.credential.unwrap_or_default(),
        })
        .collect();
    let policy = if options.relay_only {
        RTCIceTransportPolicy::Relay
    } else {
        RTCIceTransportPolicy::All
    };
    let mut config = RTCConfigurationBuilder::new()
        .with_ice_servers(servers)
        .with_ice_transport_policy(policy);
    // This device's certificate, so the safety code with a peer stays the same across links.
    if let Some(certificate) = options.identity.as_ref().and_then(|i| i.certificate()) {
        config = config.with_certificates(vec![certificate]);
    }
    let config = config.build();
    let mut media = MediaEngine::default();
    let interceptors = register_media(&mut media, link_tracks)?;
    // We are the DTLS server whichever side offers first: Chromium always answers as the client
    // (`a=setup:active`), so our answers take the server's side (`passive`). With webrtc-rs's default
    // (answer as the client), answering the browser's offer after a negotiation we started claimed the
    // client role we did not have, and Chromium refused that answer ("Failed to set SSL role").
    let settings = SettingEngineBuilder::new()
        .with_answering_dtls_role(RTCDtlsRole::Server)
        .build();
    let pc = PeerConnectionBuilder::new()
        .with_configuration(config)
        .with_setting_engine(settings)
        .with_media_engine(media)
        .with_interceptor_registry(interceptors)
        .with_handler(Arc::new(Handler { inputs }))
        // Every interface (loopback excluded), fresh ports; re-resolved on each ICE restart.
        .with_udp_addrs(vec!["0.0.0.0:0".to_owned()])
        .with_data_channel_send_buffer_limit(options.send_buffer)
        .build()
        .await?;
    Ok(Arc::new(pc))
}

/// Negotiation state of one link (the web UI's PeerLink fields of the same names).
struct Negotiator<'a> {
    task: &'a LinkTask,
    pc: Arc<dyn PeerConnection>,
    ignore_offer: bool,
    held: Vec<RTCIceCandidateInit>,
    restarts: u32,
    /// When `disconnected` has lasted long enough to restart.
    restart_at: Option<Instant>,
    /// A restart was asked for mid-negotiation; done once stable.
    restart_wanted: bool,
    /// Our tracks changed mid-negotiation; offer once stable.
    offer_wanted: bool,
}

impl Negotiator<'_> {
    /// Handles one input; `Err(reason)` when the link gave up.
    async fn handle(&mut self, input: Input) -> std::result::Result<(), String> {
        match input {
            Input::Signal(data) => {
                if let SignalData::Offer { sdp } | SignalData::Answer { sdp } = &data
                    && let Some(pinned) = self.task.shared.pinned.get()
                    && !safety::announces_only(sdp, pinned.as_deref())
                {
                    // An honest peer keeps its certificate for the life of its connection. A new one
                    // would not reach DTLS (webrtc-rs keeps the first session) but would change the
                    // code people compare: a server in the middle could show its own. Refuse the link.
                    return Err(format!(
                        "the peer's DTLS certificate changed mid-connection (a new {} names {}, the \
                         connection verified {}): the signaling may have been tampered with, so the \
                         link is closed",
                        if matches!(data, SignalData::Offer { .. }) {
                            "offer"
                        } else {
                            "answer"
                        },
                        safety::fingerprint_of(sdp).unwrap_or_else(|| "no fingerprint".into()),
                        pinned.as_deref().unwrap_or("none"),
                    ));
                }
                let result = self.on_signal(data).await;
                self.report(result);
            }
            Input::LocalCandidate(candidate) => self.send_candidate(&candidate),
            Input::Ice(state) => return self.on_ice_state(state).await,
            Input::Restart => {
                let result = self.offer(true).await;
                self.report(result);
            }
            Input::RemoteChannel(channel) => {
                match channel.label().await {
                    Ok(label) if label == CHAT_CHANNEL_LABEL => self.task.adopt(channel),
                    Ok(label) if label == super::files::FILE_CHANNEL_LABEL => super::files::accept(
                        self.task.inner.clone(),
                        self.task.room.clone(),
                        self.task.id,
                        channel,
                    ),
                    // Not ours to interpret (a future feature's channel): leave it unread.
                    _ => {
                        tracing::debug!(room = %self.task.room, "ignoring a data channel that is not chat")
                    }
                }
            }
            Input::Media { media, live, done } => {
                match self
                    .task
                    .shared
                    .tracks
                    .set_media(&self.pc, media, live)
                    .await
                {
                    Ok(true) => {
                        let result = self.offer(false).await;
                        self.report(result);
                    }
                    Ok(false) => {}
                    Err(err) => {
                        tracing::warn!(room = %self.task.room, %err, "cannot change call media")
                    }
                }
                let _ = done.send(());
            }
            Input::RemoteTrack(track) => {
                if let Some(peer) = self.task.inner.key_of(&self.task.room, self.task.id) {
                    let room = self.task.room.clone();
                    let link = self.task.id;
                    let identify = move |video, payload_type| RemoteTrack {
                        room,
                        peer,
                        link,
                        video,
                        payload_type,
                    };
                    let handler = self.task.inner.remote_tracks();
                    tokio::spawn(tracks::receive(track, handler, identify));
                }
            }
            Input::Close => {}
        }
        Ok(())
    }

    /// A failed negotiation step is not fatal: the next offer replaces a stale description.
    fn report(&self, result: Result<()>) {
        if let Err(err) = result {
            tracing::debug!(room = %self.task.room, %err, "negotiation step failed");
        }
    }

    async fn on_signal(&mut self, data: SignalData) -> Result<()> {
        match data {
            SignalData::Offer { sdp } => {
                let collision = !self.stable().await;
                let polite = self.task.inner.polite(&self.task.room, self.task.id);
                self.ignore_offer = !polite && collision;
                tracing::debug!(room = %self.task.room, collision, polite, "offer from the peer");
                if self.ignore_offer {
                    return Ok(());
                }
                if collision {
                    self.pc
                        .set_local_description(RTCSessionDescription::rollback(None)?)
                        .await?;
                }
                let fingerprint = safety::fingerprint_of(&sdp);
                self.pc
                    .set_remote_description(RTCSessionDescription::offer(sdp)?)
                    .await?;
                self.pin(fingerprint);
                self.retry_held().await;
                let answer = self.pc.create_answer(None).await?;
                self.pc.set_local_description(answer).await?;
                if let Some(local) = self.pc.local_description().await {
                    self.task.signal(SignalData::Answer { sdp: local.sdp });
                }
                self.after_stable().await
            }
            SignalData::Answer { sdp } => {
                self.ignore_offer = false;
                if self.pc.pending_local_description().await.is_none() {
                    return Ok(()); // no offer of ours is waiting: a stale answer
                }
                let fingerprint = safety::fingerprint_of(&sdp);
                self.pc
                    .set_remote_description(RTCSessionDescription::answer(sdp)?)
                    .await?;
                self.pin(fingerprint);
                self.retry_held().await;
                self.after_stable().await
            }
            SignalData::Candidate { candidate } => {
                if candidate.is_null() {
                    return Ok(()); // end of candidates
                }
                let init: RTCIceCandidateInit = serde_json::from_value(candidate)
                    .map_err(|e| Error::Other(format!("bad candidate: {e}")))?;
                if init.candidate.is_empty() {
                    return Ok(());
                }
                // After a collision the peer answers with the credentials of the offer we ignored
                // and does not gather again, so these are needed later: keep them.
                let applicable = !self.ignore_offer && self.pc.remote_description().await.is_some();
                if !applicable || self.pc.add_ice_candidate(init.clone()).await.is_err() {
                    self.hold(init);
                }
                Ok(())
            }
            SignalData::Restart => self.offer(true).await,
            _ => Ok(()),
        }
    }

    /// Pins the fingerprint of the first remote description applied: the one webrtc-rs started the
    /// DTLS transport with (later ones do not change it; the check is in `handle`).
    fn pin(&self, fingerprint: Option<String>) {
        if self.task.shared.pinned.set(fingerprint).is_ok() {
            tracing::debug!(room = %self.task.room, pinned = ?self.task.shared.pinned.get(), "remote DTLS fingerprint pinned");
        }
    }

    /// Sends an offer (with fresh ICE credentials if `restart`); mid-negotiation a restart waits.
    async fn offer(&mut self, restart: bool) -> Result<()> {
        if !self.stable().await {
            self.restart_wanted |= restart;
            self.offer_wanted |= !restart;
            return Ok(());
        }
        if restart {
            tracing::info!(room = %self.task.room, "ICE restart offer");
            self.pc.restart_ice().await?;
        }
        let offer = self.pc.create_offer(None).await?;
        tracing::debug!(room = %self.task.room, restart, "offering");
        self.pc.set_local_description(offer).await?;
        if let Some(local) = self.pc.local_description().await {
            self.task.signal(SignalData::Offer { sdp: local.sdp });
        }
        Ok(())
    }

    async fn after_stable(&mut self) -> Result<()> {
        if std::mem::take(&mut self.restart_wanted) {
            self.offer_wanted = false;
            self.offer(true).await?;
        } else if std::mem::take(&mut self.offer_wanted) {
            self.offer(false).await?;
        }
        Ok(())
    }

    /// Signaling state `stable`: no offer of either side is pending.
    async fn stable(&self) -> bool {
        self.pc.pending_local_description().await.is_none()
            && self.pc.pending_remote_description().await.is_none()
    }

    fn hold(&mut self, candidate: RTCIceCandidateInit) {
        if self.held.len() < MAX_HELD_CANDIDATES {
            self.held.push(candidate);
        }
    }

    /// Applies held candidates once a remote description may match them; misfits are dropped.
    async fn retry_held(&mut self) {
        for candidate in std::mem::take(&mut self.held) {
            let _ = self.pc.add_ice_candidate(candidate).await;
        }
    }

    fn send_candidate(&self, candidate: &RTCIceCandidate) {
        let Ok(mut init) = candidate.to_json() else {
            return;
        };
        // webrtc-rs writes an empty mid; with BUNDLE the first section is right for every peer.
        init.sdp_mid = None;
        init.sdp_mline_index = Some(0);
        if let Ok(candidate) = serde_json::to_value(init) {
            self.task.signal(SignalData::Candidate { candidate });
        }
    }

    async fn on_ice_state(
        &mut self,
        state: RTCIceConnectionState,
    ) -> std::result::Result<(), String> {
        self.restart_at = None;
        match state {
            RTCIceConnectionState::Connected | RTCIceConnectionState::Completed => {
                self.restarts = 0;
            }
            RTCIceConnectionState::Disconnected => {
                self.restart_at = Some(Instant::now() + DISCONNECTED_GRACE);
            }
            RTCIceConnectionState::Failed => return self.counted_restart().await,
            _ => {}
        }
        Ok(())
    }

    /// An ICE restart on trouble; `Err` once the allowed restarts are used up.
    async fn counted_restart(&mut self) -> std::result::Result<(), String> {
        if self.restarts >= MAX_ICE_RESTARTS {
            return Err(format!(
                "the connection was lost and {MAX_ICE_RESTARTS} attempts to restore it failed"
            ));
        }
        self.restarts += 1;
        tracing::info!(room = %self.task.room, attempt = self.restarts, "ICE restart");
        let result = self.offer(true).await;
        self.report(result);
        Ok(())
    }
}

/// Reads one chat channel until it closes: the link's first open channel reports `Open`, every text
/// message goes to the owner (awaiting its queue, so a slow owner slows the peer through SCTP flow
/// control, never memory), and the last one to close reports `Closed`. `peer-id` announcements are
/// reported, then claim a re-key of the link (see `Inner::claim_rekey`); `peer-id-proof`s answer our
/// check of such a claim (`Inner::proof`) and are not reported.
async fn read_channel(
    inner: Arc<Inner>,
    room: String,
    id: u64,
    shared: Arc<Shared>,
    channel: Arc<dyn DataChannel>,
) {
    while let Some(event) = channel.poll().await {
        let Some(peer) = inner.key_of(&room, id) else {
            break; // removed from the manager: closing
        };
        match event {
            DataChannelEvent::OnOpen => {
                shared.set_open(&channel, true);
                if !shared.open.swap(true, Ordering::AcqRel) {
                    let room = room.clone();
                    let fingerprints = shared.fingerprints().await;
                    let safety = fingerprints.as_ref().map(|f| f.code());
                    inner
                        .emit(LinkEvent::Open {
                            room,
                            peer,
                            safety,
                            fingerprints,
                        })
                        .await;
                }
            }
            DataChannelEvent::OnMessage(message) if message.is_string => {
                let Ok(text) = String::from_utf8(message.data.to_vec()) else {
                    continue;
                };
                let new_id = match ChannelMessage::parse(&text) {
                    Some(ChannelMessage::PeerId { peer }) => Some(peer),
                    // Link-level: checks this link's own re-key claim; not the owner's to see.
                    Some(ChannelMessage::PeerIdProof { nonce }) => {
                        inner.proof(&room, id, &nonce).await;
                        continue;
                    }
                    _ => None,
                };
                let room = room.clone();
                inner
                    .emit(LinkEvent::Message {
                        room: room.clone(),
                        peer: peer.clone(),
                        text,
                    })
                    .await;
                if let Some(to) = new_id
                    && to != peer
                {
                    inner.claim_rekey(&room, id, &to).await;
                }
            }
            DataChannelEvent::OnClose => break,
            _ => {}
        }
    }
    let still_open = shared.set_open(&channel, false);
    if still_open == 0
        && shared.open.swap(false, Ordering::AcqRel)
        && let Some(peer) = inner.key_of(&room, id)
    {
        inner.emit(LinkEvent::Closed { room, peer }).await;
    }
}
