//! The payloads of commands and events that are the app's own (the history's rows are `crate::history`'s,
//! the settings `crate::settings`'s, the core's types the core's): what the UI receives, generated into
//! its `ipc.gen.ts`.

use p2pchat_core::links::FileEnd;
use p2pchat_core::links::safety::LinkFingerprints;
use p2pchat_core::media::MissingElement;
use serde::{Deserialize, Serialize};
use tauri::Runtime;
use tauri::ipc::{Channel, CommandArg, CommandItem, InvokeError, InvokeResponseBody};
use ts_rs::TS;

/// Bytes a command takes as the raw body of its request, not JSON (`file_send_chunk`): the UI's `call()`
/// sends that argument as the body and the others as headers.
pub struct RawBody;

impl TS for RawBody {
    type WithoutGenerics = RawBody;
    type OptionInnerType = RawBody;
    fn name(_: &ts_rs::Config) -> String {
        "Uint8Array".to_owned()
    }
    fn inline(cfg: &ts_rs::Config) -> String {
        Self::name(cfg)
    }
}

/// A chat message a peer sent over a native link, new (each once, already acked): `chat://message`.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ChatIncoming {
    pub room: String,
    pub peer: String,
    /// A `msg`, its `sentAt` clamped to our clock and `name` the one the server knows for `peer`.
    pub message: p2pchat_core::chat::ChannelMessage,
}

/// How far one of our messages got with one peer (`chat://status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum ChatDelivery {
    /// Handed to the peer's open channel.
    Sent,
    /// The peer acked it.
    Delivered,
    /// The peer's read receipt named it.
    Read,
}

/// `chat://status`: message `id` in `room` reached `status` with `peer`.
#[derive(Debug, Clone, Serialize, TS)]
pub struct ChatStatus {
    pub room: String,
    pub id: String,
    pub peer: String,
    pub status: ChatDelivery,
}

/// Whether native calls can run here (`call_media_support`).
#[derive(Debug, Clone, Serialize, TS)]
pub struct CallMediaSupport {
    /// Every GStreamer element a call needs is installed.
    pub available: bool,
    /// What is missing, each with the Debian package that ships it.
    pub missing: Vec<MissingElement>,
    /// Test sources instead of camera and microphone (`P2PCHAT_TEST_MEDIA=1`).
    pub test_media: bool,
}

/// What `call_media_start` could open.
#[derive(Debug, Clone, Serialize, TS)]
pub struct LocalMediaInfo {
    pub video: bool,
    pub audio: bool,
    /// Why a device is left out (no camera: audio only), for the person.
    pub notices: Vec<String>,
}

/// The camera, microphone and speaker the person chose (`call_media_use_devices`); `None`: the
/// system's default. Ids are those `call_media_devices` lists.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct DeviceChoice {
    pub camera: Option<String>,
    pub microphone: Option<String>,
    pub speaker: Option<String>,
}

/// One peer's call quality (`call_media_stats`), as the UI's quality indicator reads it.
#[derive(Debug, Clone, Serialize, TS)]
pub struct CallMediaStats {
    pub frames_decoded: f64,
    pub audio_level: f64,
    pub bytes_received: f64,
    pub rtt_ms: f64,
    pub loss: f64,
    pub sending: bool,
}

/// What an SFU call's videoroom plays now (`call_sfu_status`).
#[derive(Debug, Clone, Default, Serialize, TS)]
pub struct SfuMediaStatus {
    /// We are in the videoroom.
    pub joined: bool,
    /// Why the videoroom was lost (Janus hung up, stopped answering, refused us), if it was.
    pub lost: Option<String>,
    pub peers: Vec<SfuPeerMedia>,
}

/// One participant's media through the SFU, as decoded here.
#[derive(Debug, Clone, Serialize, TS)]
pub struct SfuPeerMedia {
    pub peer: String,
    pub frames_decoded: f64,
    /// Level (RMS, 0..1) of their decoded sound.
    pub audio_level: f64,
}

/// The window's frame channel as a command argument (a `Channel` of raw bytes: each message is
/// `u32` big-endian header length, the JSON header `{room, peer, width, height}` (`room`/`peer`
/// null for our own preview), then the JPEG).
pub struct FrameChannel(pub Channel<InvokeResponseBody>);

impl<'de, R: Runtime> CommandArg<'de, R> for FrameChannel {
    fn from_command(command: CommandItem<'de, R>) -> std::result::Result<Self, InvokeError> {
        Channel::from_command(command).map(FrameChannel)
    }
}

impl TS for FrameChannel {
    type WithoutGenerics = FrameChannel;
    type OptionInnerType = FrameChannel;
    fn name(_: &ts_rs::Config) -> String {
        "Channel<ArrayBuffer>".to_owned()
    }
    fn inline(cfg: &ts_rs::Config) -> String {
        Self::name(cfg)
    }
}

/// Stable names of failures the UI can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Bad input (a server address, room or name the app cannot use).
    Invalid,
    /// No signaling connection right now.
    NotConnected,
    /// Another program holds the history file.
    Locked,
    /// The history database is briefly busy: try again.
    Busy,
    DiskFull,
    /// The history file is damaged.
    Corrupt,
    /// The history is encrypted and the key or passphrase given does not open it (nothing was changed).
    WrongKey,
    /// The history folder cannot be created.
    Folder,
    /// The history schema cannot be updated.
    Migrate,
    /// Any other database failure.
    Database,
    /// A part of the app is not running (the native links, the browser opener).
    Unavailable,
}

/// A failed command, as the UI receives it.
#[derive(Debug, Clone, Serialize, TS)]
pub struct CommandError {
    pub kind: ErrorKind,
    pub message: String,
}

impl CommandError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> CommandError {
        CommandError {
            kind,
            message: message.into(),
        }
    }
}

/// Facts the UI needs at startup.
#[derive(Debug, Serialize, TS)]
pub struct AppInfo {
    pub version: String,
    pub history_path: String,
    /// Set when a damaged history file was moved aside at startup (tell the user where it is).
    pub history_recovered_from: Option<String>,
    /// Why history is unavailable, if it is.
    pub history_error: Option<CommandError>,
    /// `None` until the page has reported.
    pub webview: Option<WebviewCapabilities>,
}

/// What the page reported about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct WebviewCapabilities {
    pub rtc_peer_connection: bool,
    pub get_user_media: bool,
}

/// What the UI is told when the user acts on a notification.
#[derive(Debug, Clone, Serialize, TS)]
pub struct NotificationAction {
    pub action: String,
    pub room: Option<String>,
    pub call: Option<String>,
}

/// `fallback_status`'s answer.
#[derive(Debug, Clone, Serialize, TS)]
pub struct FallbackStatus {
    /// Chat goes through the native links.
    pub active: bool,
    /// ... because `P2PCHAT_FORCE_FALLBACK=1`.
    pub forced: bool,
    /// This device's certificate fingerprint (`sha-256 AB:CD:…`), the same on every native link; the
    /// `local` of each link's `fingerprints`.
    pub fingerprint: Option<String>,
}

/// A peer whose chat channel is open (`fallback_open_peers`).
#[derive(Debug, Clone, Serialize, TS)]
pub struct OpenPeer {
    pub peer: String,
    /// The link's safety code, as `fallback://open` carries it.
    pub safety: Option<String>,
    /// The link's certificates (ours, the peer's as DTLS verified it), as `fallback://open` carries them.
    pub fingerprints: Option<LinkFingerprints>,
}

/// Where a transfer is, as the window shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    Sending,
    Receiving,
    Done,
    Failed,
    Cancelled,
}

/// One transfer (one file to or from one person), as `files://transfer` and `file_transfers` carry it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
pub struct FileTransfer {
    pub room: String,
    pub peer: String,
    pub id: String,
    pub name: String,
    pub size: u64,
    /// The peer sends it to us.
    pub incoming: bool,
    pub status: FileStatus,
    /// Bytes the receiver has confirmed (both sides show this).
    pub confirmed: u64,
    /// Once done: the SHA-256 both sides checked.
    pub sha256: Option<String>,
    /// Once received: where the file was saved on this device.
    pub path: Option<String>,
    /// Once it ended without the file: who cancelled it, or that it failed.
    pub ended: Option<FileEnd>,
    /// Why it failed or was cancelled, for people.
    pub reason: Option<String>,
}

/// What a call's pipeline reported mid-call (`calls://media`): what happened, and what it means for the
/// person, shown in the call.
#[derive(Debug, Clone, Serialize, TS)]
pub struct MediaNotice {
    pub notice: String,
    pub event: p2pchat_core::media::MediaEvent,
}
