//! Calls through the SFU where the app's native engine carries the media (the Linux app): the web UI
//! keeps the call's state machine (ui/src/lib/call/sfu-call.svelte.ts: when to move, asking to be
//! placed, Janus lost) and these commands of the calls plugin do what the page's WebRTC does there
//! (ui/src/lib/call/native-sfu.ts drives them): our key and the others' (`p2pchat_core::sfu::CallKeys`,
//! ours sent as `sfu-key` on the native chat links, replaced when someone leaves), and the Janus
//! videoroom (`p2pchat_core::sfu::VideoRoom`): the call's one capture published, sealed with our key,
//! everyone else's media opened with theirs and decoded into the same frame channel as mesh calls
//! (keyed room and peer, so the tiles draw them) and to the speaker. One SFU call per room.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use chat_protocol::IceServer;
use p2pchat_core::links::LinkManager;
use p2pchat_core::media::MediaEvents;
#[cfg(target_os = "linux")]
use p2pchat_core::media::{FrameSink, PlaybackOptions};
use p2pchat_core::sfu::{CallKeys, FrameKey, key_message};
use tauri::State;

use super::{Calls, FrameHub};
use crate::error::{CommandError, ErrorKind};
use crate::ipc::{SfuMediaStatus, SfuPeerMedia};

type Result<T> = std::result::Result<T, CommandError>;

/// One room's SFU call: its keys, and its videoroom while joined.
struct SfuCall {
    call: String,
    keys: Arc<CallKeys>,
    #[cfg(target_os = "linux")]
    room: Option<Joined>,
    /// Why the videoroom was lost (until it is joined again).
    lost: Arc<Mutex<Option<String>>>,
}

/// A videoroom we are in, and how we joined it (to join again with the capture, once it opens).
#[cfg(target_os = "linux")]
struct Joined {
    videoroom: p2pchat_core::sfu::VideoRoom,
    place: p2pchat_core::sfu::SfuPlace,
    me: String,
    ice_servers: Vec<IceServer>,
    /// It publishes the call's capture (false: it opened after we joined).
    published: bool,
}

/// The SFU calls of the app's rooms (managed by the calls plugin).
pub struct SfuCalls {
    calls: tokio::sync::Mutex<HashMap<String, SfuCall>>,
    links: LinkManager,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    frames: Arc<FrameHub>,
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    events: MediaEvents,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SfuCalls {
    /// SFU calls whose keys go over `links`, pictures to `frames`, pipeline reports to `events`.
    pub fn new(links: LinkManager, frames: Arc<FrameHub>, events: MediaEvents) -> SfuCalls {
        SfuCalls {
            calls: tokio::sync::Mutex::default(),
            links,
            frames,
            events,
        }
    }

    /// The keys of `call` in `room` (new ones for a call this room did not have).
    async fn keys(&self, room: &str, call: &str) -> Arc<CallKeys> {
        let mut calls = self.calls.lock().await;
        let entry = calls.entry(room.to_owned());
        let fresh = || SfuCall {
            call: call.to_owned(),
            keys: Arc::new(CallKeys::new()),
            #[cfg(target_os = "linux")]
            room: None,
            lost: Arc::default(),
        };
        let current = entry.or_insert_with(fresh);
        if current.call != call {
            #[cfg(target_os = "linux")]
            if let Some(old) = current.room.take() {
                tokio::spawn(old.videoroom.close());
            }
            *current = fresh();
        }
        current.keys.clone()
    }
}

/// Gives `peers` our key for `call` in `room` on their chat links; with `rotate`, a new key first
/// (someone left: whoever stays gets it, our frames use it a moment later). Returns the peers it
/// reached.
#[tauri::command(rename_all = "snake_case")]
pub async fn call_sfu_give_key(
    sfu: State<'_, SfuCalls>,
    room: String,
    call: String,
    peers: Vec<String>,
    rotate: bool,
) -> Result<Vec<String>> {
    let keys = sfu.keys(&room, &call).await;
    if rotate {
        keys.rotate();
    }
    let key = keys.announced_key();
    let text = key_message(&call, &key);
    let mut reached = Vec::new();
    for peer in peers {
        if sfu.links.send(&room, &peer, &text).await.unwrap_or(false) {
            reached.push(peer);
        }
    }
    tracing::info!(%room, %call, key = key.id, rotate, ?reached, "our SFU key given");
    Ok(reached)
}

/// `peer`'s key `id` (32 bytes) for `call` in `room`, as their `sfu-key` said; without `key`, their
/// keys are forgotten (they left the call).
#[tauri::command(rename_all = "snake_case")]
pub async fn call_sfu_peer_key(
    sfu: State<'_, SfuCalls>,
    room: String,
    call: String,
    peer: String,
    id: u8,
    key: Option<Vec<u8>>,
) -> Result<()> {
    let keys = sfu.keys(&room, &call).await;
    match key {
        Some(raw) => {
            let raw = raw
                .try_into()
                .map_err(|_| CommandError::new(ErrorKind::Invalid, "a key is 32 bytes"))?;
            keys.set_peer_key(&peer, FrameKey::new(id, raw));
            tracing::info!(%room, %call, %peer, key = id, "a participant's SFU key taken");
        }
        None => keys.forget(&peer),
    }
    Ok(())
}

/// Joins the Janus videoroom the signaling server placed `call` in (`url`, `token`, `janus_room`) as
/// `me` (our peer id): publishes the call's capture, if it is open (else `call_sfu_publish` does once it
/// is), and plays everyone else's media. A videoroom this call was in before is left first.
#[allow(clippy::too_many_arguments)]
#[tauri::command(rename_all = "snake_case")]
pub async fn call_sfu_join(
    calls: State<'_, Calls>,
    sfu: State<'_, SfuCalls>,
    room: String,
    call: String,
    me: String,
    url: String,
    token: String,
    janus_room: u64,
    ice_servers: Vec<IceServer>,
) -> Result<()> {
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (
            calls,
            sfu,
            room,
            call,
            me,
            url,
            token,
            janus_room,
            ice_servers,
        );
        Err(CommandError::new(
            ErrorKind::Unavailable,
            "calls through the media server need the webview's WebRTC here",
        ))
    }
    #[cfg(target_os = "linux")]
    {
        let place = p2pchat_core::sfu::SfuPlace {
            url,
            token,
            janus_room,
        };
        join_videoroom(&calls, &sfu, &room, &call, me, place, ice_servers).await
    }
}

/// Publishes the call's capture, opened after we joined the videoroom of `call` in `room`: joins it again
/// with the capture (the others see us leave and come back publishing). True when it did.
#[tauri::command(rename_all = "snake_case")]
pub async fn call_sfu_publish(
    calls: State<'_, Calls>,
    sfu: State<'_, SfuCalls>,
    room: String,
    call: String,
) -> Result<bool> {
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (calls, sfu, room, call);
        Ok(false)
    }
    #[cfg(target_os = "linux")]
    {
        if calls.capture().is_none() {
            return Ok(false);
        }
        let again = {
            let rooms = sfu.calls.lock().await;
            rooms
                .get(&room)
                .filter(|c| c.call == call)
                .and_then(|c| c.room.as_ref())
                .filter(|joined| !joined.published)
                .map(|joined| {
                    (
                        joined.me.clone(),
                        joined.place.clone(),
                        joined.ice_servers.clone(),
                    )
                })
        };
        let Some((me, place, ice_servers)) = again else {
            return Ok(false);
        };
        join_videoroom(&calls, &sfu, &room, &call, me, place, ice_servers).await?;
        Ok(true)
    }
}

/// Joins `place` for `call` in `room` with the call's capture (if open), leaving the videoroom the call
/// was in before.
#[cfg(target_os = "linux")]
async fn join_videoroom(
    calls: &Calls,
    sfu: &SfuCalls,
    room: &str,
    call: &str,
    me: String,
    place: p2pchat_core::sfu::SfuPlace,
    ice_servers: Vec<IceServer>,
) -> Result<()> {
    let keys = sfu.keys(room, call).await;
    leave_room(sfu, room, call).await;
    let capture = calls.capture();
    let published = capture.is_some();
    let playback = PlaybackOptions {
        frames: Some(sfu.frames.clone() as Arc<dyn FrameSink>),
        speaker: true,
    };
    let (videoroom, mut lost_rx) = p2pchat_core::sfu::VideoRoom::join(
        place.clone(),
        room,
        &me,
        capture,
        ice_servers.clone(),
        keys,
        playback,
        sfu.events.clone(),
    )
    .await
    .map_err(|err| CommandError::new(ErrorKind::Unavailable, err))?;
    let mut rooms = sfu.calls.lock().await;
    let Some(current) = rooms.get_mut(room).filter(|c| c.call == call) else {
        // The call ended while we joined.
        drop(rooms);
        videoroom.close().await;
        return Err(CommandError::new(ErrorKind::Invalid, "the call has ended"));
    };
    let joined = Joined {
        videoroom,
        place,
        me,
        ice_servers,
        published,
    };
    if let Some(old) = current.room.replace(joined) {
        tokio::spawn(old.videoroom.close());
    }
    let lost = Arc::new(Mutex::new(None));
    current.lost = lost.clone();
    tokio::spawn(async move {
        if let Some(reason) = lost_rx.recv().await {
            *lock(&lost) = Some(reason);
        }
    });
    tracing::info!(%room, %call, published, "joined the call's videoroom");
    Ok(())
}

/// Leaves the videoroom of `call` in `room`, if in one.
#[cfg(target_os = "linux")]
async fn leave_room(sfu: &SfuCalls, room: &str, call: &str) {
    let videoroom = {
        let mut rooms = sfu.calls.lock().await;
        rooms
            .get_mut(room)
            .filter(|c| c.call == call)
            .and_then(|c| c.room.take())
    };
    if let Some(joined) = videoroom {
        joined.videoroom.close().await;
    }
}

/// Leaves the videoroom of `call` in `room` (Janus was lost: the call may be placed again); with
/// `end`, the call is over here and its keys go too.
#[tauri::command(rename_all = "snake_case")]
pub async fn call_sfu_leave(
    sfu: State<'_, SfuCalls>,
    room: String,
    call: String,
    end: bool,
) -> Result<()> {
    #[cfg(target_os = "linux")]
    leave_room(&sfu, &room, &call).await;
    if end {
        let mut rooms = sfu.calls.lock().await;
        if rooms.get(&room).is_some_and(|c| c.call == call) {
            rooms.remove(&room);
        }
    }
    Ok(())
}

/// What the videoroom of `call` in `room` plays now: whose media, how much of it was decoded, and why
/// it was lost, if it was.
#[tauri::command(rename_all = "snake_case")]
pub async fn call_sfu_status(
    sfu: State<'_, SfuCalls>,
    room: String,
    call: String,
) -> Result<SfuMediaStatus> {
    let rooms = sfu.calls.lock().await;
    let Some(current) = rooms.get(&room).filter(|c| c.call == call) else {
        return Ok(SfuMediaStatus::default());
    };
    let lost = lock(&current.lost).clone();
    #[cfg(target_os = "linux")]
    let peers = current
        .room
        .as_ref()
        .map(|Joined { videoroom, .. }| {
            videoroom
                .peers()
                .into_iter()
                .map(|peer| {
                    let stats = videoroom.stats(&peer);
                    SfuPeerMedia {
                        frames_decoded: stats.frames_decoded as f64,
                        audio_level: f64::from(stats.audio_level),
                        peer,
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    #[cfg(not(target_os = "linux"))]
    let peers: Vec<SfuPeerMedia> = Vec::new();
    Ok(SfuMediaStatus {
        #[cfg(target_os = "linux")]
        joined: current.room.is_some(),
        #[cfg(not(target_os = "linux"))]
        joined: false,
        lost,
        peers,
    })
}
