//! Files over `file` data channels beside the chat channel, in the web UI's wire format (docs/files.md):
//! the sender opens one ordered, reliable channel labelled `file` per transfer attempt and offers the
//! file; the receiver accepts from an offset, confirms what it has stored, and checks the SHA-256 the
//! sender sends after the last byte. A channel that drops before the end is not the end: the sender
//! opens another on the same link and offers the same id, and the receiver answers with the offset it
//! kept. Received files are written to the configured folder (`<name>.<id>.part`, renamed once the hash
//! matches). What a peer's offers may cost (how many, how many at once, how long idle) is bounded by
//! `limits`. Nothing here runs until the owner calls [`LinkManager::enable_files`].

mod limits;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::{Instant, timeout};
use webrtc::data_channel::{DataChannel, DataChannelEvent, RTCDataChannelInit};
use webrtc::peer_connection::{PeerConnection, StatsSelector};

use self::limits::{Place, Waiting};
use super::{Inner, LinkManager};
use crate::constants::{FILE_IDLE_TIMEOUT, FILE_WAIT_NOTICE};

/// The data-channel label of a file transfer.
pub const FILE_CHANNEL_LABEL: &str = "file";
/// Largest binary message (the smallest max-message-size among the peers in use).
pub const CHUNK_BYTES: usize = 64 * 1024;
/// The receiver confirms what it has stored at least this often, and at the end.
pub const ACK_EVERY_BYTES: u64 = 1024 * 1024;
/// Default size limit of a received file.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// How long either side waits for a dropped transfer to come back.
pub const RESUME_WINDOW: Duration = Duration::from_secs(120);
/// How long a new channel may take to open, and the other side to answer an offer.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause between attempts while the connection is down.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);
/// Largest control message accepted.
pub const MAX_CONTROL_CHARS: usize = 4096;
/// Longest file name kept, in characters (code points).
pub const MAX_NAME_CHARS: usize = 255;
/// Offsets and sizes travel as JSON numbers: integers above 2^53 would not survive a browser.
const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;
/// A sender keeps at most what carries this rate over the link's round trip in flight (bytes/s,
/// 200 Mbit/s), and never less than [`MIN_FLIGHT`]; the manager's send buffer bounds it too.
const FLIGHT_RATE: f64 = 25_000_000.0;
/// webrtc-rs sends its window in one unpaced burst, and on a near link the burst lands in the
/// receiver's socket buffer at once (Chromium's is 128 KiB): a dropped tail costs a 1 s timeout.
const MIN_FLIGHT: usize = 64 * 1024;
/// How long a sender over its flight waits for SCTP's "buffered amount low" before it looks again.
const FLIGHT_RECHECK: Duration = Duration::from_millis(2);

/// A control message (text frame) on a `file` channel; the web UI's type is generated from it
/// (ui/src/lib/core.gen.ts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(tag = "t", rename_all = "kebab-case")]
pub enum FileControl {
    /// Sender → receiver, first on every channel. The same id again (a new channel) asks to resume.
    FileOffer {
        id: String,
        name: String,
        size: u64,
        mime: String,
    },
    /// Receiver → sender: send the bytes from `offset` on (0 for a new transfer, what it kept for a resume).
    FileAccept { id: String, offset: u64 },
    /// Receiver → sender: bytes stored so far (offset 0 while the offer waits its turn).
    FileAck { id: String, offset: u64 },
    /// Sender → receiver, after the last byte: the SHA-256 of the whole file (64 lowercase hex digits).
    FileDone { id: String, sha256: String },
    /// Receiver → sender: every byte arrived and the hash matched; the transfer is complete.
    FileReceived { id: String, sha256: String },
    /// Either side: the transfer ends here (cancelled by a person, refused, or failed), with a reason.
    FileCancel { id: String, reason: String },
}

impl FileControl {
    /// Parses and checks a control frame: ids, hashes and numbers as docs/files.md says, the name
    /// reduced to a plain file name. Anything else is `None`.
    pub fn parse(text: &str) -> Option<FileControl> {
        // Counted as the web UI counts (UTF-16 code units); tests/vectors/file_control.json.
        if text.len() > MAX_CONTROL_CHARS && text.encode_utf16().count() > MAX_CONTROL_CHARS {
            return None;
        }
        let message: FileControl = serde_json::from_str(text).ok()?;
        let valid_id = |id: &str| {
            (1..=64).contains(&id.len())
                && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        };
        let valid_sha =
            |s: &str| s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !valid_id(message.id()) {
            return None;
        }
        Some(match message {
            FileControl::FileOffer {
                id,
                name,
                size,
                mime,
            } if size <= MAX_SAFE_INTEGER => FileControl::FileOffer {
                id,
                name: clean_file_name(&name),
                size,
                mime: mime.chars().take(100).collect(),
            },
            FileControl::FileAccept { offset, .. } | FileControl::FileAck { offset, .. }
                if offset > MAX_SAFE_INTEGER =>
            {
                return None;
            }
            FileControl::FileDone { ref sha256, .. }
            | FileControl::FileReceived { ref sha256, .. }
                if !valid_sha(sha256) =>
            {
                return None;
            }
            FileControl::FileCancel { id, reason } => FileControl::FileCancel {
                id,
                reason: reason.chars().take(200).collect(),
            },
            FileControl::FileOffer { .. } => return None,
            other => other,
        })
    }

    pub fn id(&self) -> &str {
        match self {
            FileControl::FileOffer { id, .. }
            | FileControl::FileAccept { id, .. }
            | FileControl::FileAck { id, .. }
            | FileControl::FileDone { id, .. }
            | FileControl::FileReceived { id, .. }
            | FileControl::FileCancel { id, .. } => id,
        }
    }

    pub fn to_text(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A name safe to show and to save under, on any system: the part after the last `/` or `\\`, without
/// controls or the bidi controls that could make `gnp.exe` read as `exe.png`, the characters Windows
/// forbids (`<>:"|?*`) as `_`, no trailing dots or spaces, `_` before a Windows device name (`CON`,
/// `nul.txt`), at most 255 characters, `file` if nothing is left. The same rules as the web UI's
/// `cleanFileName` (ui/src/lib/files/wire.ts), checked by the shared cases in
/// tests/vectors/file_names.json.
pub fn clean_file_name(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let clean: String = base
        .chars()
        .filter(|&c| !removed_from_names(c))
        .map(|c| {
            if matches!(c, '<' | '>' | ':' | '"' | '|' | '?' | '*') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let trailing = |c: char| c == '.' || c.is_whitespace();
    let mut clean = clean.trim().trim_end_matches(trailing).to_owned();
    let stem = clean.split('.').next().unwrap_or_default().trim_end();
    if is_reserved_on_windows(stem) {
        clean.insert(0, '_');
    }
    let clean: String = clean.chars().take(MAX_NAME_CHARS).collect();
    let clean = clean.trim_end_matches(trailing);
    if clean.is_empty() {
        "file".into()
    } else {
        clean.to_owned()
    }
}

/// Controls (C0, DEL, C1), bidi controls, line/paragraph separators and the byte-order mark.
fn removed_from_names(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{feff}'
        )
}

/// Windows device names (any case), which stay reserved with any extension.
fn is_reserved_on_windows(stem: &str) -> bool {
    let upper = stem.to_ascii_uppercase();
    if matches!(upper.as_str(), "CON" | "PRN" | "AUX" | "NUL") {
        return true;
    }
    let mut chars = upper.chars();
    let prefix: String = chars.by_ref().take(3).collect();
    let rest: Vec<char> = chars.collect();
    matches!(prefix.as_str(), "COM" | "LPT")
        && matches!(
            rest.as_slice(),
            ['1'..='9' | '\u{b9}' | '\u{b2}' | '\u{b3}']
        )
}

/// The type offered for a file, from its extension: raster images (shown inline by the web UI) by
/// name, everything else as opaque bytes.
pub fn mime_for(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_ascii_lowercase();
    match ext.as_str() {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "avif" => "image/avif",
        "bmp" => "image/bmp",
        _ => "application/octet-stream",
    }
}

/// What happens to transfers, for the owner (the app's history, the CLI peer's output).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum FileEvent {
    /// A transfer started: `incoming` when the peer offers it to us.
    Started {
        room: String,
        peer: String,
        id: String,
        name: String,
        size: u64,
        incoming: bool,
    },
    /// Bytes the receiver has confirmed (sender) or stored (receiver).
    Progress {
        room: String,
        id: String,
        confirmed: u64,
    },
    /// A file arrived whole (SHA-256 checked) and was saved at `path`.
    Received {
        room: String,
        peer: String,
        id: String,
        name: String,
        size: u64,
        sha256: String,
        path: PathBuf,
    },
    /// Our file arrived whole at the peer (it confirmed the same SHA-256).
    Sent {
        room: String,
        peer: String,
        id: String,
        name: String,
        size: u64,
        sha256: String,
    },
    /// The transfer ended without the file: cancelled (by either side), refused or failed.
    Ended {
        room: String,
        peer: String,
        id: String,
        outcome: FileEnd,
        /// What happened, for people.
        reason: String,
    },
}

/// How a transfer ended without the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS)]
#[serde(rename_all = "snake_case")]
pub enum FileEnd {
    /// A person on this side cancelled it.
    Cancelled,
    /// The person on the other side cancelled it.
    CancelledByPeer,
    /// Refused (a limit) or failed (connection, disk, damaged file).
    Failed,
}

/// Why a transfer is over without the file, inside the links: the outcome and the words for it. Any
/// plain text is a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Ending {
    outcome: FileEnd,
    reason: String,
}

impl Ending {
    /// This side cancelled.
    fn cancelled() -> Ending {
        Ending {
            outcome: FileEnd::Cancelled,
            reason: CANCELLED.into(),
        }
    }

    /// The peer's `file-cancel` with `reason`: the wire's `cancelled` means a person there cancelled
    /// (`their side`: "sender" or "receiver"); anything else is their failure.
    fn from_peer(reason: String, their_side: &str) -> Ending {
        if reason == CANCELLED {
            Ending {
                outcome: FileEnd::CancelledByPeer,
                reason: format!("the {their_side} cancelled"),
            }
        } else {
            reason.into()
        }
    }
}

impl From<String> for Ending {
    fn from(reason: String) -> Ending {
        Ending {
            outcome: FileEnd::Failed,
            reason,
        }
    }
}

impl From<&str> for Ending {
    fn from(reason: &str) -> Ending {
        reason.to_owned().into()
    }
}

/// Where received files go and how large they may be; events go to `events`.
#[derive(Debug, Clone)]
pub struct FileOptions {
    pub dir: PathBuf,
    pub max_bytes: u64,
    pub events: mpsc::Sender<FileEvent>,
}

#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("files are not enabled")]
    Disabled,
    #[error("no connection to {0}")]
    NoLink(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A new channel for an unfinished incoming transfer, with the offer it started with.
type Resumed = (Arc<dyn DataChannel>, FileControl);

/// The manager's file state: the options once enabled, and incoming transfers that may resume.
#[derive(Default)]
pub(super) struct Files {
    options: Mutex<Option<FileOptions>>,
    /// Unfinished incoming transfers by id: where a resumed channel is handed, and which link it came on.
    incoming: Mutex<HashMap<String, (u64, mpsc::Sender<Resumed>)>>,
    /// Transfers under way (both directions) by id: set to true to cancel one.
    cancels: Mutex<HashMap<String, watch::Sender<bool>>>,
    /// How many offers a peer may make, and how many files come in at once.
    limits: limits::Limits,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Files {
    fn options(&self) -> Option<FileOptions> {
        lock(&self.options).clone()
    }

    /// Registers a transfer that may be cancelled; the receiver resolves once it is.
    fn cancellable(&self, id: &str) -> watch::Receiver<bool> {
        let (tx, rx) = watch::channel(false);
        lock(&self.cancels).insert(id.to_owned(), tx);
        rx
    }

    fn finished(&self, id: &str) {
        lock(&self.cancels).remove(id);
    }
}

/// Resolves once the transfer is cancelled (never if its registration is gone).
async fn cancelled(mut rx: watch::Receiver<bool>) {
    if rx.wait_for(|c| *c).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The reason of a transfer this side cancelled (`FileEvent::Ended`).
const CANCELLED: &str = "cancelled";

impl LinkManager {
    /// Accepts files from peers into `options.dir` and allows sending; events go to `options.events`.
    pub fn enable_files(&self, options: FileOptions) {
        *lock(&self.inner.files.options) = Some(options);
    }

    /// Cancels transfer `id` (either direction) if it is under way: the peer is told (`file-cancel` with
    /// reason `cancelled`), a partly received file is deleted, and the transfer ends with the reason
    /// [`CANCELLED`]. Returns whether such a transfer was under way.
    pub fn cancel_file(&self, id: &str) -> bool {
        match lock(&self.inner.files.cancels).get(id) {
            Some(cancel) => {
                cancel.send_replace(true);
                true
            }
            None => false,
        }
    }

    /// Sends the file at `path` to `peer` in `room` (resuming over new channels if one drops); returns
    /// the transfer id. Progress and the outcome come as [`FileEvent`]s.
    pub async fn send_file(
        &self,
        room: &str,
        peer: &str,
        path: &Path,
    ) -> Result<String, FileError> {
        let options = self.inner.files.options().ok_or(FileError::Disabled)?;
        let link = {
            let state = self.inner.state();
            state
                .rooms
                .get(room)
                .and_then(|r| r.links.get(peer))
                .map(|l| l.id)
        };
        let link = link.ok_or_else(|| FileError::NoLink(peer.to_owned()))?;
        let size = tokio::fs::metadata(path).await?.len();
        let id = uuid::Uuid::now_v7().to_string();
        let name = clean_file_name(
            &path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        let offer = FileControl::FileOffer {
            id: id.clone(),
            name,
            size,
            mime: mime_for(path).into(),
        };
        let cancel = self.inner.files.cancellable(&id);
        let outgoing = Outgoing {
            cancel,
            inner: self.inner.clone(),
            events: options.events,
            room: room.to_owned(),
            link,
            path: path.to_owned(),
            offer,
            size,
        };
        tokio::spawn(outgoing.run());
        Ok(id)
    }
}

/// A `file` channel the peer opened on link `link` in `room` (the link's hook for non-chat channels).
pub(super) fn accept(inner: Arc<Inner>, room: String, link: u64, channel: Arc<dyn DataChannel>) {
    tokio::spawn(async move {
        let Some(options) = inner.files.options() else {
            let _ = channel.close().await;
            return;
        };
        let Some(offer) = first_offer(&channel).await else {
            let _ = channel.close().await;
            return;
        };
        let FileControl::FileOffer { id, name, size, .. } = &offer else {
            return;
        };
        // Every offer takes a token, resumes too (each brings a channel); a new one also needs a place.
        if !inner
            .files
            .limits
            .take_offer(link, std::time::Instant::now())
        {
            drop_offer(
                &inner,
                &channel,
                id,
                "too many files offered at once; try again later",
            )
            .await;
            return;
        }
        let known = lock(&inner.files.incoming).get(id).cloned();
        if let Some((from, resume)) = known {
            if from == link && resume.send((channel.clone(), offer.clone())).await.is_ok() {
                return;
            }
            refuse(&channel, id, "this transfer id is taken").await;
            return;
        }
        let peer = inner.key_of(&room, link).unwrap_or_default();
        let ended = |ending: Ending| FileEvent::Ended {
            room: room.clone(),
            peer: peer.clone(),
            id: id.clone(),
            outcome: ending.outcome,
            reason: ending.reason,
        };
        if *size > options.max_bytes {
            let reason = if options.max_bytes == 0 {
                "this peer does not take files".to_owned()
            } else {
                format!("larger than the {} byte limit", options.max_bytes)
            };
            refuse(&channel, id, &reason).await;
            let _ = options
                .events
                .send(ended(format!("Refused: {reason}").into()))
                .await;
            return;
        }
        let Some(waiting) = inner.files.limits.wait(link) else {
            let reason = "too many files waiting; try again when some have arrived";
            drop_offer(&inner, &channel, id, reason).await;
            return;
        };
        let (resume_tx, mut resumes) = mpsc::channel(1);
        lock(&inner.files.incoming).insert(id.clone(), (link, resume_tx));
        let cancel = inner.files.cancellable(id);
        let started = FileEvent::Started {
            room: room.clone(),
            peer: peer.clone(),
            id: id.clone(),
            name: name.clone(),
            size: *size,
            incoming: true,
        };
        let _ = options.events.send(started).await;
        let same_file = |o: &FileControl| matches!(o, FileControl::FileOffer { name: n, size: s, .. } if n == name && s == size);
        // Nothing is opened or buffered for an offer until it has its place.
        let waited = wait_for_place(
            waiting,
            id,
            Some(channel),
            &mut resumes,
            same_file,
            cancel.clone(),
        )
        .await;
        let (place, channel) = match waited {
            Ok(placed) => placed,
            Err(reason) => {
                lock(&inner.files.incoming).remove(id);
                inner.files.finished(id);
                let _ = options.events.send(ended(reason)).await;
                return;
            }
        };
        let part = options.dir.join(format!(".{name}.{id}.part"));
        let file = match tokio::fs::File::create(&part).await {
            Ok(file) => file,
            Err(err) => {
                if let Some(channel) = &channel {
                    refuse(channel, id, "the receiver cannot save it").await;
                }
                lock(&inner.files.incoming).remove(id);
                inner.files.finished(id);
                let _ = options
                    .events
                    .send(ended(
                        format!("cannot save {}: {err}", part.display()).into(),
                    ))
                    .await;
                return;
            }
        };
        let incoming = Incoming {
            inner: inner.clone(),
            options,
            room,
            link,
            id: id.clone(),
            name: name.clone(),
            size: *size,
            part,
            file: tokio::io::BufWriter::with_capacity(1024 * 1024, file),
            hasher: Sha256::new(),
            received: 0,
            acked: 0,
            cancel,
            _place: place,
        };
        incoming.run(channel, resumes).await;
    });
}

/// An offer beyond the limits: refused, counted and logged, never shown.
async fn drop_offer(inner: &Inner, channel: &Arc<dyn DataChannel>, id: &str, reason: &str) {
    let dropped = inner.files.limits.dropped();
    if dropped == 1 || dropped.is_multiple_of(1000) {
        tracing::warn!(dropped, reason, "file offers refused beyond the limits");
    }
    refuse(channel, id, reason).await;
}

/// Waits in line for a place, telling the sender to wait (`file-ack` at offset 0, every
/// [`FILE_WAIT_NOTICE`]) and following it to a new channel if one drops meanwhile. Returns the place and
/// the channel to accept on (None: the sender is expected back on a new one).
async fn wait_for_place(
    waiting: Waiting,
    id: &str,
    mut channel: Option<Arc<dyn DataChannel>>,
    resumes: &mut mpsc::Receiver<Resumed>,
    same_file: impl Fn(&FileControl) -> bool,
    cancel: watch::Receiver<bool>,
) -> Result<(Place, Option<Arc<dyn DataChannel>>), Ending> {
    let place = waiting.place();
    tokio::pin!(place);
    let mut notice = tokio::time::interval(FILE_WAIT_NOTICE);
    let mut lost_since: Option<Instant> = None;
    let wait = FileControl::FileAck {
        id: id.to_owned(),
        offset: 0,
    }
    .to_text();
    loop {
        let current = channel.clone();
        let poll = async move {
            match current {
                Some(current) => current.poll().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            place = &mut place => return Ok((place, channel)),
            _ = notice.tick() => {
                if let Some(channel) = &channel {
                    let _ = channel.send_text(&wait).await;
                }
                if lost_since.is_some_and(|since| since.elapsed() > RESUME_WINDOW) {
                    return Err("the sender did not come back".into());
                }
            }
            event = poll => match event {
                Some(DataChannelEvent::OnClose) | None => {
                    channel = None;
                    lost_since.get_or_insert_with(Instant::now);
                }
                Some(DataChannelEvent::OnMessage(_)) => {
                    if let Some(channel) = &channel {
                        refuse(channel, id, "unexpected message").await;
                    }
                    return Err("the sender sent something before it was accepted".into());
                }
                Some(_) => {}
            },
            next = resumes.recv() => match next {
                Some((next, offer)) if same_file(&offer) => {
                    if let Some(old) = channel.replace(next) {
                        let _ = old.close().await;
                    }
                    lost_since = None;
                    notice.reset_immediately();
                }
                Some((next, _)) => {
                    refuse(&next, id, "a different file under this id").await;
                    return Err("the sender offered a different file".into());
                }
                None => return Err("the sender did not come back".into()),
            },
            () = cancelled(cancel.clone()) => {
                if let Some(channel) = &channel {
                    refuse(channel, id, CANCELLED).await;
                }
                return Err(Ending::cancelled());
            }
        }
    }
}

/// The first message of a new `file` channel, if it is an offer.
async fn first_offer(channel: &Arc<dyn DataChannel>) -> Option<FileControl> {
    let wait = async {
        while let Some(event) = channel.poll().await {
            match event {
                DataChannelEvent::OnMessage(m) if m.is_string => {
                    return std::str::from_utf8(&m.data)
                        .ok()
                        .and_then(FileControl::parse);
                }
                DataChannelEvent::OnMessage(_) | DataChannelEvent::OnClose => return None,
                _ => {}
            }
        }
        None
    };
    match timeout(ANSWER_TIMEOUT, wait).await {
        Ok(Some(offer @ FileControl::FileOffer { .. })) => Some(offer),
        _ => None,
    }
}

async fn refuse(channel: &Arc<dyn DataChannel>, id: &str, reason: &str) {
    let cancel = FileControl::FileCancel {
        id: id.to_owned(),
        reason: reason.to_owned(),
    };
    let _ = channel.send_text(&cancel.to_text()).await;
    close_after(channel.clone());
}

/// Closes a channel once the peer had time to read what we sent last: reads it (dropping what still
/// arrives) until the peer closes it, at most ANSWER_TIMEOUT, then closes our side. Closing at once
/// could drop the last message still queued (the peer would never see a cancel), and a channel nobody
/// reads holds the connection's incoming data up (chat included).
fn close_after(channel: Arc<dyn DataChannel>) {
    tokio::spawn(async move {
        let _ = timeout(ANSWER_TIMEOUT, async {
            while let Some(event) = channel.poll().await {
                if matches!(event, DataChannelEvent::OnClose) {
                    break;
                }
            }
        })
        .await;
        let _ = channel.close().await;
    });
}

/// A file coming from a peer: one task per transfer, across the channels it arrives on.
struct Incoming {
    inner: Arc<Inner>,
    options: FileOptions,
    room: String,
    link: u64,
    id: String,
    name: String,
    size: u64,
    part: PathBuf,
    file: tokio::io::BufWriter<tokio::fs::File>,
    hasher: Sha256,
    received: u64,
    acked: u64,
    cancel: watch::Receiver<bool>,
    /// Its place among the files coming in at once, freed when the transfer ends.
    _place: Place,
}

/// How a channel's turn ended.
enum Turn {
    /// Closed before the end: wait for the sender to come back.
    Dropped,
    /// The transfer is over (saved, or ended with this reason).
    Over(Result<PathBuf, Ending>),
}

impl Incoming {
    /// Receives over `first` (None: the sender is expected back on a new channel) and the channels
    /// the sender opens after it, until the transfer is over.
    async fn run(
        mut self,
        first: Option<Arc<dyn DataChannel>>,
        mut resumes: mpsc::Receiver<Resumed>,
    ) {
        let mut channel = first;
        let outcome = loop {
            if let Some(current) = &channel {
                match self.turn(current, &mut resumes).await {
                    Turn::Over(outcome) => break outcome,
                    Turn::Dropped => {}
                }
            }
            match tokio::select! {
                next = timeout(RESUME_WINDOW, resumes.recv()) => next,
                () = cancelled(self.cancel.clone()) => break Err(Ending::cancelled()),
            } {
                Ok(Some((next, offer))) if self.matches(&offer) => channel = Some(next),
                Ok(Some((next, _))) => {
                    refuse(&next, &self.id, "a different file under this id").await;
                    break Err("the sender offered a different file".into());
                }
                _ => break Err("the sender did not come back".into()),
            }
        };
        lock(&self.inner.files.incoming).remove(&self.id);
        self.inner.files.finished(&self.id);
        let peer = self.inner.key_of(&self.room, self.link).unwrap_or_default();
        let event = match outcome {
            Ok(path) => FileEvent::Received {
                room: self.room,
                peer,
                id: self.id,
                name: self.name,
                size: self.size,
                sha256: hex(&self.hasher.finalize()),
                path,
            },
            Err(reason) => {
                if let Some(channel) = channel {
                    close_after(channel);
                }
                let _ = tokio::fs::remove_file(&self.part).await;
                FileEvent::Ended {
                    room: self.room,
                    peer,
                    id: self.id,
                    outcome: reason.outcome,
                    reason: reason.reason,
                }
            }
        };
        let _ = self.options.events.send(event).await;
    }

    fn matches(&self, offer: &FileControl) -> bool {
        matches!(offer, FileControl::FileOffer { name, size, .. } if *name == self.name && *size == self.size)
    }

    /// Reads one channel: accepts from what is stored, then bytes and control messages until it
    /// closes, the transfer ends, or the sender comes back on a newer channel.
    async fn turn(
        &mut self,
        channel: &Arc<dyn DataChannel>,
        resumes: &mut mpsc::Receiver<Resumed>,
    ) -> Turn {
        let accept = FileControl::FileAccept {
            id: self.id.clone(),
            offset: self.received,
        };
        if channel.send_text(&accept.to_text()).await.is_err() {
            return Turn::Dropped;
        }
        let mut idle_until = Instant::now() + FILE_IDLE_TIMEOUT;
        loop {
            let event = tokio::select! {
                event = tokio::time::timeout_at(idle_until, channel.poll()) => match event {
                    Ok(event) => {
                        idle_until = Instant::now() + FILE_IDLE_TIMEOUT;
                        event
                    }
                    Err(_) => {
                        let reason = format!("nothing arrived for {} s", FILE_IDLE_TIMEOUT.as_secs());
                        refuse(channel, &self.id, &reason).await;
                        return Turn::Over(Err(reason.into()));
                    }
                },
                () = cancelled(self.cancel.clone()) => {
                    refuse(channel, &self.id, CANCELLED).await;
                    return Turn::Over(Err(Ending::cancelled()));
                }
                newer = resumes.recv() => {
                    // The old channel is dead on the sender's side; the new one continues.
                    let _ = channel.close().await;
                    return match newer {
                        Some((next, offer)) if self.matches(&offer) => Box::pin(self.turn(&next, resumes)).await,
                        _ => Turn::Over(Err("the sender offered a different file".into())),
                    };
                }
            };
            match event {
                Some(DataChannelEvent::OnMessage(m)) if !m.is_string => {
                    if let Err(reason) = self.store(&m.data).await {
                        refuse(channel, &self.id, &reason).await;
                        return Turn::Over(Err(reason.into()));
                    }
                    if self.received - self.acked >= ACK_EVERY_BYTES
                        && self.ack(channel).await.is_err()
                    {
                        return Turn::Dropped;
                    }
                }
                Some(DataChannelEvent::OnMessage(m)) => {
                    let control = std::str::from_utf8(&m.data)
                        .ok()
                        .and_then(FileControl::parse);
                    return match control {
                        Some(FileControl::FileDone { id, sha256 }) if id == self.id => {
                            Turn::Over(self.finish(channel, &sha256).await.map_err(Ending::from))
                        }
                        Some(FileControl::FileCancel { id, reason }) if id == self.id => {
                            Turn::Over(Err(Ending::from_peer(reason, "sender")))
                        }
                        _ => {
                            refuse(channel, &self.id, "unexpected message").await;
                            Turn::Over(Err("the sender sent something unexpected".into()))
                        }
                    };
                }
                Some(DataChannelEvent::OnClose) | None => return Turn::Dropped,
                Some(_) => {}
            }
        }
    }

    async fn store(&mut self, bytes: &[u8]) -> Result<(), String> {
        if self.received + bytes.len() as u64 > self.size {
            return Err("the sender sent more than it offered".into());
        }
        self.file
            .write_all(bytes)
            .await
            .map_err(|e| format!("cannot save: {e}"))?;
        self.hasher.update(bytes);
        self.received += bytes.len() as u64;
        Ok(())
    }

    /// Confirms what is stored (written out, so a resume starts from bytes really kept).
    async fn ack(&mut self, channel: &Arc<dyn DataChannel>) -> webrtc::error::Result<()> {
        let _ = self.file.flush().await;
        self.acked = self.received;
        let progress = FileEvent::Progress {
            room: self.room.clone(),
            id: self.id.clone(),
            confirmed: self.received,
        };
        let _ = self.options.events.try_send(progress);
        let ack = FileControl::FileAck {
            id: self.id.clone(),
            offset: self.received,
        };
        channel.send_text(&ack.to_text()).await
    }

    async fn finish(
        &mut self,
        channel: &Arc<dyn DataChannel>,
        sha256: &str,
    ) -> Result<PathBuf, String> {
        if self.received != self.size {
            refuse(channel, &self.id, "incomplete").await;
            return Err(format!(
                "the sender finished after {} of {} bytes",
                self.received, self.size
            ));
        }
        let digest = hex(&self.hasher.clone().finalize());
        if digest != sha256 {
            refuse(
                channel,
                &self.id,
                "the file arrived damaged (SHA-256 mismatch)",
            )
            .await;
            return Err("the file arrived damaged (SHA-256 mismatch)".into());
        }
        self.file
            .flush()
            .await
            .map_err(|e| format!("cannot save: {e}"))?;
        self.file
            .get_ref()
            .sync_all()
            .await
            .map_err(|e| format!("cannot save: {e}"))?;
        let path = free_path(&self.options.dir, &self.name).await;
        tokio::fs::rename(&self.part, &path)
            .await
            .map_err(|e| format!("cannot save: {e}"))?;
        let _ = self.ack(channel).await;
        let received = FileControl::FileReceived {
            id: self.id.clone(),
            sha256: digest,
        };
        let _ = channel.send_text(&received.to_text()).await;
        // The sender closes the channel once it has the confirmation. Wait for that (bounded): an owner
        // that stops right after the file arrived would otherwise close the connection while the
        // confirmation is still queued, and the sender would never see its file as delivered.
        let _ = timeout(ANSWER_TIMEOUT, async {
            while let Some(event) = channel.poll().await {
                if matches!(event, DataChannelEvent::OnClose) {
                    break;
                }
            }
        })
        .await;
        Ok(path)
    }
}

/// `dir/name`, or `dir/name (1).ext`, `(2)`, … if taken.
async fn free_path(dir: &Path, name: &str) -> PathBuf {
    let candidate = dir.join(name);
    if tokio::fs::metadata(&candidate).await.is_err() {
        return candidate;
    }
    let path = Path::new(name);
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| format!(".{}", e.to_string_lossy()))
        .unwrap_or_default();
    for n in 1.. {
        let candidate = dir.join(format!("{stem} ({n}){ext}"));
        if tokio::fs::metadata(&candidate).await.is_err() {
            return candidate;
        }
    }
    unreachable!()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Our file going to one peer, over one channel after another until it is through.
struct Outgoing {
    cancel: watch::Receiver<bool>,
    inner: Arc<Inner>,
    events: mpsc::Sender<FileEvent>,
    room: String,
    link: u64,
    path: PathBuf,
    offer: FileControl,
    size: u64,
}

impl Outgoing {
    fn id(&self) -> String {
        self.offer.id().to_owned()
    }

    fn peer(&self) -> String {
        self.inner.key_of(&self.room, self.link).unwrap_or_default()
    }

    async fn run(self) {
        let FileControl::FileOffer { name, .. } = &self.offer else {
            return;
        };
        let name = name.clone();
        let started = FileEvent::Started {
            room: self.room.clone(),
            peer: self.peer(),
            id: self.id(),
            name: name.clone(),
            size: self.size,
            incoming: false,
        };
        let _ = self.events.send(started).await;
        let hashed = tokio::select! {
            hashed = sha256_of(&self.path) => Some(hashed),
            () = cancelled(self.cancel.clone()) => None,
        };
        let outcome = match hashed {
            Some(Ok(sha)) => self.deliver(&sha).await.map(|()| sha),
            Some(Err(err)) => Err(format!("cannot read the file: {err}").into()),
            None => Err(Ending::cancelled()),
        };
        self.inner.files.finished(&self.id());
        let event = match outcome {
            Ok(sha256) => FileEvent::Sent {
                room: self.room.clone(),
                peer: self.peer(),
                id: self.id(),
                name,
                size: self.size,
                sha256,
            },
            Err(ending) => FileEvent::Ended {
                room: self.room.clone(),
                peer: self.peer(),
                id: self.id(),
                outcome: ending.outcome,
                reason: ending.reason,
            },
        };
        let _ = self.events.send(event).await;
    }

    /// Attempts until the peer confirms the whole file, or the connection stays gone RESUME_WINDOW.
    async fn deliver(&self, sha256: &str) -> Result<(), Ending> {
        let mut lost_since: Option<Instant> = None;
        loop {
            match self.attempt(sha256).await {
                Attempt::Done => return Ok(()),
                Attempt::Ended(reason) => return Err(reason),
                Attempt::Dropped => {
                    let since = *lost_since.get_or_insert_with(Instant::now);
                    if since.elapsed() > RESUME_WINDOW {
                        return Err("the connection did not come back".into());
                    }
                    tokio::select! {
                        () = tokio::time::sleep(RETRY_EVERY) => {}
                        () = cancelled(self.cancel.clone()) => return Err(Ending::cancelled()),
                    }
                }
            }
        }
    }

    /// One channel: offer, send from the accepted offset, the hash, and wait for the confirmation.
    async fn attempt(&self, sha256: &str) -> Attempt {
        let pc = {
            let state = self.inner.state();
            let link = state
                .rooms
                .get(&self.room)
                .and_then(|r| r.links.values().find(|l| l.id == self.link));
            match link {
                Some(link) => link.shared.pc.get().cloned(),
                None => return Attempt::Ended("the connection to the peer is gone".into()),
            }
        };
        let Some(pc) = pc else {
            return Attempt::Dropped;
        };
        let init = RTCDataChannelInit {
            ordered: true,
            ..Default::default()
        };
        let Ok(channel) = pc.create_data_channel(FILE_CHANNEL_LABEL, Some(init)).await else {
            return Attempt::Dropped;
        };
        let flight = flight_for(&pc).await;
        let result = tokio::select! {
            result = self.over(&channel, sha256, flight) => result,
            () = cancelled(self.cancel.clone()) => {
                let cancel = FileControl::FileCancel { id: self.id(), reason: CANCELLED.into() };
                let _ = channel.send_text(&cancel.to_text()).await;
                Attempt::Ended(Ending::cancelled())
            }
        };
        if matches!(&result, Attempt::Ended(e) if e.outcome == FileEnd::Cancelled) {
            close_after(channel);
        } else {
            let _ = channel.close().await;
        }
        result
    }

    async fn over(&self, channel: &Arc<dyn DataChannel>, sha256: &str, flight: usize) -> Attempt {
        // Open, offer, accept.
        let opened = timeout(ANSWER_TIMEOUT, async {
            while let Some(event) = channel.poll().await {
                match event {
                    DataChannelEvent::OnOpen => return true,
                    DataChannelEvent::OnClose => return false,
                    _ => {}
                }
            }
            false
        });
        if !matches!(opened.await, Ok(true))
            || channel.send_text(&self.offer.to_text()).await.is_err()
        {
            return Attempt::Dropped;
        }
        let offset = loop {
            match timeout(ANSWER_TIMEOUT, next_control(channel, None)).await {
                Ok(Some(FileControl::FileAccept { offset, .. })) if offset <= self.size => {
                    break offset;
                }
                // Before an accept: the receiver has other files coming in and keeps this one waiting.
                Ok(Some(FileControl::FileAck { .. })) => {}
                Ok(Some(FileControl::FileCancel { reason, .. })) => {
                    return Attempt::Ended(Ending::from_peer(reason, "receiver"));
                }
                Ok(Some(_)) => {
                    return Attempt::Ended("the receiver sent something unexpected".into());
                }
                Ok(None) => return Attempt::Dropped,
                Err(_) => {
                    return Attempt::Ended(
                        "no answer from the receiver (it may not take files)".into(),
                    );
                }
            }
        };
        // The bytes go out while the answers (acks, a cancel) and "buffered amount low" are read beside
        // them.
        let _ = channel
            .set_buffered_amount_low_threshold(u32::try_from(flight / 2).unwrap_or(u32::MAX))
            .await;
        let drained = Arc::new(Notify::new());
        let (answers_tx, mut answers) = mpsc::unbounded_channel();
        let reader = {
            let channel = channel.clone();
            let drained = drained.clone();
            tokio::spawn(async move {
                while let Some(control) = next_control(&channel, Some(&drained)).await {
                    if answers_tx.send(control).is_err() {
                        break;
                    }
                }
            })
        };
        let flight = Flight {
            limit: flight,
            drained,
        };
        let result = self
            .stream(channel, offset, sha256, &mut answers, &flight)
            .await;
        reader.abort();
        result
    }

    async fn stream(
        &self,
        channel: &Arc<dyn DataChannel>,
        offset: u64,
        sha256: &str,
        answers: &mut mpsc::UnboundedReceiver<FileControl>,
        flight: &Flight,
    ) -> Attempt {
        let mut file = match tokio::fs::File::open(&self.path).await {
            Ok(file) => file,
            Err(err) => return Attempt::Ended(format!("cannot read the file: {err}").into()),
        };
        if let Err(err) = file.seek(std::io::SeekFrom::Start(offset)).await {
            return Attempt::Ended(format!("cannot read the file: {err}").into());
        }
        let mut left = self.size - offset;
        let mut buf = vec![0u8; CHUNK_BYTES];
        while left > 0 {
            let want = CHUNK_BYTES.min(left as usize);
            if let Err(err) = file.read_exact(&mut buf[..want]).await {
                return Attempt::Ended(format!("cannot read the file: {err}").into());
            }
            // Back-pressure: our flight, then `send` itself waits while the manager's send buffer is full.
            flight.room(channel).await;
            if channel.send(buf[..want].into()).await.is_err() {
                return Attempt::Dropped;
            }
            left -= want as u64;
            while let Ok(answer) = answers.try_recv() {
                if let Some(end) = self.on_answer(answer) {
                    return end;
                }
            }
        }
        let done = FileControl::FileDone {
            id: self.id(),
            sha256: sha256.to_owned(),
        };
        if channel.send_text(&done.to_text()).await.is_err() {
            return Attempt::Dropped;
        }
        loop {
            match answers.recv().await {
                Some(FileControl::FileReceived { sha256: theirs, .. }) => {
                    return if theirs == sha256 {
                        Attempt::Done
                    } else {
                        Attempt::Ended("the receiver reported a different SHA-256".into())
                    };
                }
                Some(answer) => {
                    if let Some(end) = self.on_answer(answer) {
                        return end;
                    }
                }
                None => return Attempt::Dropped,
            }
        }
    }

    /// An ack (progress) or the end of the transfer.
    fn on_answer(&self, answer: FileControl) -> Option<Attempt> {
        match answer {
            FileControl::FileAck { offset, .. } => {
                let progress = FileEvent::Progress {
                    room: self.room.clone(),
                    id: self.id(),
                    confirmed: offset.min(self.size),
                };
                let _ = self.events.try_send(progress);
                None
            }
            FileControl::FileCancel { reason, .. } => {
                Some(Attempt::Ended(Ending::from_peer(reason, "receiver")))
            }
            _ => Some(Attempt::Ended(
                "the receiver sent something unexpected".into(),
            )),
        }
    }
}

enum Attempt {
    Done,
    Dropped,
    Ended(Ending),
}

/// What one transfer keeps in flight on its channel, and the signal that SCTP released some of it.
struct Flight {
    limit: usize,
    drained: Arc<Notify>,
}

impl Flight {
    /// Waits until less than the limit is in flight (the message then goes on top, as with the send
    /// buffer: a limit of one message must still let two overlap, or each waits for a delayed ack).
    async fn room(&self, channel: &Arc<dyn DataChannel>) {
        loop {
            if channel.outstanding_bytes().await.unwrap_or(0) < self.limit {
                return;
            }
            // The event is edge-triggered on SCTP's own count: look again after a moment regardless.
            let _ = timeout(FLIGHT_RECHECK, self.drained.notified()).await;
        }
    }
}

/// The flight of a new transfer on `pc`: enough for [`FLIGHT_RATE`] at the connection's round trip
/// (ICE's measurement), at least [`MIN_FLIGHT`]; unbounded (the send buffer decides) while no round
/// trip is known.
async fn flight_for(pc: &Arc<dyn PeerConnection>) -> usize {
    let report = pc
        .get_stats(std::time::Instant::now(), StatsSelector::None)
        .await;
    let rtt = report
        .candidate_pairs()
        .find(|pair| pair.nominated)
        .map_or(0.0, |pair| pair.current_round_trip_time);
    flight_at(rtt)
}

/// The flight for a round trip of `rtt` seconds (0: not measured yet).
fn flight_at(rtt: f64) -> usize {
    if rtt > 0.0 {
        ((rtt * FLIGHT_RATE) as usize).max(MIN_FLIGHT)
    } else {
        usize::MAX
    }
}

/// The next control message on `channel`; None once it closed. Binary frames are not expected here.
/// "Buffered amount low" wakes `drained`, if given.
async fn next_control(
    channel: &Arc<dyn DataChannel>,
    drained: Option<&Notify>,
) -> Option<FileControl> {
    while let Some(event) = channel.poll().await {
        match event {
            DataChannelEvent::OnBufferedAmountLow => {
                if let Some(drained) = drained {
                    drained.notify_one();
                }
            }
            DataChannelEvent::OnMessage(m) if m.is_string => {
                if let Some(control) = std::str::from_utf8(&m.data)
                    .ok()
                    .and_then(FileControl::parse)
                {
                    return Some(control);
                }
            }
            DataChannelEvent::OnClose => return None,
            _ => {}
        }
    }
    None
}

/// The SHA-256 of a file, read off the async threads.
async fn sha256_of(path: &Path) -> std::io::Result<String> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(path)?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut file, &mut hasher)?;
        Ok(hex(&hasher.finalize()))
    })
    .await
    .map_err(std::io::Error::other)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flight_grows_with_the_round_trip_from_a_floor() {
        assert_eq!(
            flight_at(0.0),
            usize::MAX,
            "no round trip measured: the send buffer decides"
        );
        assert_eq!(
            flight_at(0.000_3),
            MIN_FLIGHT,
            "loopback and LAN keep the floor"
        );
        assert_eq!(flight_at(0.020), 500_000, "200 Mbit/s over 20 ms");
        assert_eq!(flight_at(0.050), 1_250_000);
    }

    #[test]
    fn control_messages_round_trip_as_the_web_ui_writes_them() {
        let text =
            r#"{"t":"file-offer","id":"6f0c-1","name":"../a/b.png","size":5,"mime":"image/png"}"#;
        assert_eq!(
            FileControl::parse(text),
            Some(FileControl::FileOffer {
                id: "6f0c-1".into(),
                name: "b.png".into(),
                size: 5,
                mime: "image/png".into()
            })
        );
        let ack = FileControl::FileAck {
            id: "x".into(),
            offset: 1_048_576,
        };
        assert_eq!(
            ack.to_text(),
            r#"{"t":"file-ack","id":"x","offset":1048576}"#
        );
        assert_eq!(FileControl::parse(&ack.to_text()), Some(ack));
        let done = FileControl::FileDone {
            id: "x".into(),
            sha256: "ab".repeat(32),
        };
        assert_eq!(FileControl::parse(&done.to_text()), Some(done));
    }

    #[test]
    fn malformed_control_messages_are_refused() {
        for bad in [
            "nope",
            r#"{"t":"file-ack","id":"x","offset":-1}"#,
            r#"{"t":"file-ack","id":"../x","offset":1}"#,
            r#"{"t":"file-ack","id":"x","offset":9007199254740992}"#,
            r#"{"t":"file-done","id":"x","sha256":"ABC"}"#,
            r#"{"t":"msg","id":"x"}"#,
        ] {
            assert_eq!(FileControl::parse(bad), None, "{bad}");
        }
    }

    /// A peer's `file-cancel` says a person cancelled only with the wire's `cancelled`; any other reason
    /// is its failure, whatever the words.
    #[test]
    fn a_peers_cancel_is_typed_by_the_wire_not_the_words() {
        let by_peer = Ending::from_peer("cancelled".into(), "sender");
        assert_eq!(by_peer.outcome, FileEnd::CancelledByPeer);
        assert_eq!(by_peer.reason, "the sender cancelled");
        let failed = Ending::from_peer("disk full, cancelled".into(), "receiver");
        assert_eq!(failed.outcome, FileEnd::Failed);
        assert_eq!(Ending::cancelled().outcome, FileEnd::Cancelled);
    }

    #[test]
    fn names_are_plain_file_names() {
        assert_eq!(clean_file_name("../../etc/passwd"), "passwd");
        assert_eq!(clean_file_name("C:\\Users\\a\\r.pdf"), "r.pdf");
        assert_eq!(clean_file_name("a\u{0}b\nc.txt"), "abc.txt");
        assert_eq!(clean_file_name(".."), "file");
        assert_eq!(clean_file_name(&"é".repeat(400)).chars().count(), 255);
    }

    /// The cases shared with the web UI (tests/vectors/file_control.json): both read the same control
    /// texts as the same messages, refuse the same malformed ones, and write them byte for byte alike.
    #[test]
    fn control_messages_parse_as_the_shared_vectors_say() {
        use crate::vectors::{case_text, expand};
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/vectors/file_control.json")).unwrap();
        for case in vectors["cases"].as_array().unwrap() {
            let name = &case["name"];
            let text = case_text(case);
            let parsed = FileControl::parse(&text);
            let value = parsed.as_ref().map(|m| serde_json::to_value(m).unwrap());
            assert_eq!(value.unwrap_or_default(), expand(&case["parsed"]), "{name}");
            if case["exact"].as_bool() == Some(true) {
                assert_eq!(parsed.unwrap().to_text(), text, "{name}");
            }
        }
    }

    /// The cases shared with the web UI (tests/vectors/file_names.json): a name cannot pretend to be
    /// another (bidi overrides) nor fail to save or land on a device on Windows, the same on both sides.
    #[test]
    fn names_are_cleaned_as_the_shared_vectors_say() {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/vectors/file_names.json")).unwrap();
        let mut wrong = Vec::new();
        for case in vectors["cases"].as_array().unwrap() {
            let input = case["input"].as_str().unwrap();
            let expected = case["output"].as_str().unwrap();
            let cleaned = clean_file_name(input);
            if cleaned != expected {
                wrong.push(format!(
                    "{}: {input:?} -> {cleaned:?}, want {expected:?}",
                    case["name"]
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
