// Generated from src-tauri (Rust) by p2pchat_app_lib::typescript. Do not edit.
// Regenerate: UPDATE_TS=1 cargo test -p p2pchat-app --lib typescript

import type { ClientFrame, IceServer, ServerFrame, SignalData } from './protocol.gen';
import type { ChannelMessage, ConnectionState, LinkEvent, LinkFingerprints } from './core.gen';
import type { Channel } from '@tauri-apps/api/core';

export type ErrorKind = "invalid" | "not_connected" | "locked" | "busy" | "disk_full" | "corrupt" | "wrong_key" | "folder" | "migrate" | "database" | "unavailable";

export type CommandError = { kind: ErrorKind, message: string, };

export type Settings = { 
/**
 * `ws(s)://host[:port]/ws` of the signaling server.
 */
server_url: string | null, display_name: string | null, 
/**
 * "Ring me when the window is closed" (desktop): closing the main window hides it to a tray icon and
 * the app keeps its connection, so calls still ring. Off by default: closing the window quits.
 */
close_to_tray: boolean, 
/**
 * "Start at login" (desktop, with `close_to_tray` only): the OS starts the app hidden (`--hidden`) when
 * the person logs in. Not stored here: it is whether the OS's login item exists (`crate::background`).
 */
start_at_login: boolean, };

export type AppInfo = { version: string, history_path: string, 
/**
 * Set when a damaged history file was moved aside at startup (tell the user where it is).
 */
history_recovered_from: string | null, 
/**
 * Why history is unavailable, if it is.
 */
history_error: CommandError | null, 
/**
 * `None` until the page has reported.
 */
webview: WebviewCapabilities | null, };

export type WebviewCapabilities = { rtc_peer_connection: boolean, get_user_media: boolean, };

export type Conversation = { room: string, title: string | null, muted: boolean, joined: boolean, unread: number, last_message: MessagePreview | null, };

export type MessagePreview = { id: string, sender_name: string, body: string, sent_at: number, outgoing: boolean, status: MessageStatus, };

export type Message = { id: string, room: string, sender: string, sender_name: string, outgoing: boolean, body: string, sent_at: number, status: MessageStatus, 
/**
 * Why the last send failed, for failed (or retried pending) messages.
 */
error: string | null, };

export type MessageStatus = "pending" | "sent" | "delivered" | "failed" | "received";

export type NewMessage = { 
/**
 * Client-made unique id (UUIDv7 by convention).
 */
id: string, room: string, 
/**
 * Sender's peer id (for outgoing messages, this device's current peer id or "me").
 */
sender: string, sender_name: string, outgoing: boolean, body: string, 
/**
 * Milliseconds since the Unix epoch, by the sender's clock.
 */
sent_at: number, };

export type Cursor = { sent_at: number, id: string, };

export type Page = { messages: Array<Message>, next: Cursor | null, };

export type SearchPage = { hits: Array<SearchHit>, next: SearchCursor | null, };

export type SearchCursor = { before: number, };

export type SearchHit = { id: string, room: string, sender_name: string, sent_at: number, snippet: Array<SnippetPart>, 
/**
 * Negated BM25 score: lower is more relevant (as FTS5's `bm25()`).
 */
rank: number, };

export type SnippetPart = { text: string, hit: boolean, };

export type CallRecord = { id: string, room: string, peer: string, peer_name: string, direction: CallDirection, media: string, started_at: number, answered_at: number | null, ended_at: number | null, 
/**
 * `None` while ringing or in progress.
 */
outcome: CallOutcome | null, 
/**
 * Talk time (answered → ended), when both are known.
 */
duration_ms: number | null, };

export type CallDirection = "incoming" | "outgoing";

export type CallOutcome = "answered" | "missed" | "declined" | "failed";

export type HistoryKeyStatus = { state: KeyState, 
/**
 * How the open history is protected (none while locked or if it failed to open).
 */
protection: Protection | null, 
/**
 * Why a passphrase is asked, for the person (no keyring and why, no key in it, a key that fails).
 */
reason: string | null, 
/**
 * The history file.
 */
path: string, 
/**
 * The shortest passphrase accepted when choosing one.
 */
min_passphrase_chars: number, };

export type KeyState = "ready" | "choose_passphrase" | "enter_passphrase";

export type Protection = "keyring" | "passphrase";

export type FallbackStatus = { 
/**
 * Chat goes through the native links.
 */
active: boolean, 
/**
 * ... because `P2PCHAT_FORCE_FALLBACK=1`.
 */
forced: boolean, 
/**
 * This device's certificate fingerprint (`sha-256 AB:CD:…`), the same on every native link; the
 * `local` of each link's `fingerprints`.
 */
fingerprint: string | null, };

export type OpenPeer = { peer: string, 
/**
 * The link's safety code, as `fallback://open` carries it.
 */
safety: string | null, 
/**
 * The link's certificates (ours, the peer's as DTLS verified it), as `fallback://open` carries them.
 */
fingerprints: LinkFingerprints | null, };

export type NotificationAction = { action: string, room: string | null, call: string | null, };

export type CallMediaSupport = { 
/**
 * Every GStreamer element a call needs is installed.
 */
available: boolean, 
/**
 * What is missing, each with the Debian package that ships it.
 */
missing: Array<MissingElement>, 
/**
 * Test sources instead of camera and microphone (`P2PCHAT_TEST_MEDIA=1`).
 */
test_media: boolean, };

export type MissingElement = { element: string, 
/**
 * The Debian package to install.
 */
package: string, };

export type LocalMediaInfo = { video: boolean, audio: boolean, 
/**
 * Why a device is left out (no camera: audio only), for the person.
 */
notices: Array<string>, };

export type CallMediaStats = { frames_decoded: number, audio_level: number, bytes_received: number, rtt_ms: number, loss: number, sending: boolean, };

export type SfuMediaStatus = { 
/**
 * We are in the videoroom.
 */
joined: boolean, 
/**
 * Why the videoroom was lost (Janus hung up, stopped answering, refused us), if it was.
 */
lost: string | null, peers: Array<SfuPeerMedia>, };

export type SfuPeerMedia = { peer: string, frames_decoded: number, 
/**
 * Level (RMS, 0..1) of their decoded sound.
 */
audio_level: number, };

export type DeviceChoice = { camera: string | null, microphone: string | null, speaker: string | null, };

export type MediaDevices = { cameras: Array<MediaDevice>, microphones: Array<MediaDevice>, speakers: Array<MediaDevice>, };

export type MediaDevice = { 
/**
 * What the pipelines open: a V4L2 path (`/dev/video0`) or a PulseAudio source or sink name.
 */
id: string, 
/**
 * What the person reads ("Integrated Camera", "Built-in Audio Analog Stereo").
 */
name: string, };

export type MediaNotice = { notice: string, event: MediaEvent, };

export type MediaEvent = { "kind": "error", pipeline: MediaPipeline, message: string, } | { "kind": "warning", pipeline: MediaPipeline, message: string, } | { "kind": "ended", pipeline: MediaPipeline, };

export type MediaPipeline = { "media": "camera" } | { "media": "screen" } | { "media": "microphone" } | { "media": "peer-video", room: string, peer: string, } | { "media": "peer-audio", room: string, peer: string, };

export type FileStatus = "sending" | "receiving" | "done" | "failed" | "cancelled";

export type FileEnd = "cancelled" | "cancelled_by_peer" | "failed";

export type ChatIncoming = { room: string, peer: string, 
/**
 * A `msg`, its `sentAt` clamped to our clock and `name` the one the server knows for `peer`.
 */
message: ChannelMessage, };

export type ChatDelivery = "sent" | "delivered" | "read";

export type ChatStatus = { room: string, id: string, peer: string, status: ChatDelivery, };

export type FileTransfer = { room: string, peer: string, id: string, name: string, size: number, 
/**
 * The peer sends it to us.
 */
incoming: boolean, status: FileStatus, 
/**
 * Bytes the receiver has confirmed (both sides show this).
 */
confirmed: number, 
/**
 * Once done: the SHA-256 both sides checked.
 */
sha256: string | null, 
/**
 * Once received: where the file was saved on this device.
 */
path: string | null, 
/**
 * Once it ended without the file: who cancelled it, or that it failed.
 */
ended: FileEnd | null, 
/**
 * Why it failed or was cancelled, for people.
 */
reason: string | null, };

export type FileRecord = { transfer_id: string, room: string, peer: string, peer_name: string, direction: CallDirection, name: string, size: number, sha256: string, path: string, 
/**
 * When it finished (ms since the Unix epoch).
 */
at: number, };

/** Every command the UI may invoke, with its arguments and result. */
export interface Commands {
  connect: { args: { name: string; url?: string | null; token?: string | null }; result: ConnectionState };
  disconnect: { args: Record<string, never>; result: null };
  join_room: { args: { room: string }; result: null };
  leave_room: { args: { room: string }; result: null };
  send_signal: { args: { room: string; to: string; data: SignalData }; result: null };
  push_frame: { args: { frame: ClientFrame }; result: null };
  sfu_frame: { args: { frame: ClientFrame }; result: null };
  connection_state: { args: Record<string, never>; result: ConnectionState };
  get_settings: { args: Record<string, never>; result: Settings };
  set_settings: { args: { settings: Settings }; result: Settings };
  app_info: { args: Record<string, never>; result: AppInfo };
  take_deep_link: { args: Record<string, never>; result: string | null };
  forget_device: { args: Record<string, never>; result: null };
  report_webview_capabilities: { args: { capabilities: WebviewCapabilities }; result: null };
  list_conversations: { args: { limit?: number | null }; result: Array<Conversation> };
  messages_page: { args: { room: string; before?: Cursor | null; limit?: number | null }; result: Page };
  search_messages: { args: { query: string; room?: string | null; before?: SearchCursor | null; limit?: number | null }; result: SearchPage };
  mark_read: { args: { room: string; up_to: number }; result: null };
  room_muted: { args: { room: string }; result: boolean };
  set_room_muted: { args: { room: string; muted: boolean }; result: null };
  save_message: { args: { message: NewMessage }; result: boolean };
  set_message_status: { args: { id: string; status: MessageStatus; error?: string | null }; result: boolean };
  outbox: { args: { room?: string | null }; result: Array<Message> };
  call_log: { args: { before?: number | null; limit?: number | null }; result: Array<CallRecord> };
  history_key_status: { args: Record<string, never>; result: HistoryKeyStatus };
  unlock_history: { args: { passphrase: string }; result: HistoryKeyStatus };
  start_new_history: { args: Record<string, never>; result: HistoryKeyStatus };
  open_room_in_browser: { args: { room: string }; result: string };
  fallback_status: { args: Record<string, never>; result: FallbackStatus };
  fallback_send: { args: { room: string; peer: string; text: string }; result: boolean };
  chat_send: { args: { room: string; message: ChannelMessage }; result: Array<string> };
  fallback_open_peers: { args: { room: string }; result: Array<OpenPeer> };
  call_media_support: { args: Record<string, never>; result: CallMediaSupport };
  call_media_start: { args: Record<string, never>; result: LocalMediaInfo };
  call_media_stop: { args: Record<string, never>; result: null };
  call_media_attach: { args: { room: string; peer: string; live: boolean }; result: boolean };
  call_media_detach: { args: { room: string; peer: string }; result: boolean };
  call_media_limits: { args: { room: string; peer: string; max_bitrate: number }; result: null };
  call_media_mute: { args: { muted: boolean }; result: null };
  call_media_camera_off: { args: { off: boolean }; result: null };
  call_media_stats: { args: { room: string; peer: string }; result: CallMediaStats | null };
  call_media_devices: { args: Record<string, never>; result: MediaDevices };
  call_media_use_devices: { args: { choice: DeviceChoice }; result: Array<string> };
  call_media_share_screen: { args: { on: boolean }; result: Array<string> };
  call_frames: { args: { frames: Channel<ArrayBuffer> }; result: null };
  call_frames_drawn: { args: { count: number }; result: null };
  call_sfu_give_key: { args: { room: string; call: string; peers: Array<string>; rotate: boolean }; result: Array<string> };
  call_sfu_peer_key: { args: { room: string; call: string; peer: string; id: number; key?: Array<number> | null }; result: null };
  call_sfu_join: { args: { room: string; call: string; me: string; url: string; token: string; janus_room: number; ice_servers: Array<IceServer> }; result: null };
  call_sfu_publish: { args: { room: string; call: string }; result: boolean };
  call_sfu_leave: { args: { room: string; call: string; end: boolean }; result: null };
  call_sfu_status: { args: { room: string; call: string }; result: SfuMediaStatus };
  file_send_start: { args: { name: string; size: number }; result: string };
  file_send_chunk: { args: { upload: string; offset: number; data: Uint8Array }; result: number };
  file_send_finish: { args: { upload: string; room: string; peers: Array<string> }; result: Array<string> };
  file_send_abort: { args: { upload: string }; result: null };
  file_cancel: { args: { id: string }; result: boolean };
  file_transfers: { args: { room: string }; result: Array<FileTransfer> };
  file_history: { args: { room: string; limit?: number | null }; result: Array<FileRecord> };
  file_reveal: { args: { id: string }; result: null };
  file_image: { args: { id: string }; result: string | null };
  history_search_files: { args: { query: string; limit?: number | null }; result: Array<FileRecord> };
}

export const COMMANDS = ['connect', 'disconnect', 'join_room', 'leave_room', 'send_signal', 'push_frame', 'sfu_frame', 'connection_state', 'get_settings', 'set_settings', 'app_info', 'take_deep_link', 'forget_device', 'report_webview_capabilities', 'list_conversations', 'messages_page', 'search_messages', 'mark_read', 'room_muted', 'set_room_muted', 'save_message', 'set_message_status', 'outbox', 'call_log', 'history_key_status', 'unlock_history', 'start_new_history', 'open_room_in_browser', 'fallback_status', 'fallback_send', 'chat_send', 'fallback_open_peers', 'call_media_support', 'call_media_start', 'call_media_stop', 'call_media_attach', 'call_media_detach', 'call_media_limits', 'call_media_mute', 'call_media_camera_off', 'call_media_stats', 'call_media_devices', 'call_media_use_devices', 'call_media_share_screen', 'call_frames', 'call_frames_drawn', 'call_sfu_give_key', 'call_sfu_peer_key', 'call_sfu_join', 'call_sfu_publish', 'call_sfu_leave', 'call_sfu_status', 'file_send_start', 'file_send_chunk', 'file_send_finish', 'file_send_abort', 'file_cancel', 'file_transfers', 'file_history', 'file_reveal', 'file_image', 'history_search_files'] as const;

/** What the window invokes for each command: plugin commands are `plugin:<plugin>|<name>`. */
export const INVOKE: Record<keyof Commands, string> = { connect: 'connect', disconnect: 'disconnect', join_room: 'join_room', leave_room: 'leave_room', send_signal: 'send_signal', push_frame: 'push_frame', sfu_frame: 'sfu_frame', connection_state: 'connection_state', get_settings: 'get_settings', set_settings: 'set_settings', app_info: 'app_info', take_deep_link: 'take_deep_link', forget_device: 'forget_device', report_webview_capabilities: 'report_webview_capabilities', list_conversations: 'plugin:history|list_conversations', messages_page: 'plugin:history|messages_page', search_messages: 'plugin:history|search_messages', mark_read: 'plugin:history|mark_read', room_muted: 'plugin:history|room_muted', set_room_muted: 'plugin:history|set_room_muted', save_message: 'save_message', set_message_status: 'plugin:history|set_message_status', outbox: 'plugin:history|outbox', call_log: 'plugin:history|call_log', history_key_status: 'plugin:history|history_key_status', unlock_history: 'plugin:history|unlock_history', start_new_history: 'plugin:history|start_new_history', open_room_in_browser: 'open_room_in_browser', fallback_status: 'plugin:links|fallback_status', fallback_send: 'plugin:links|fallback_send', chat_send: 'plugin:links|chat_send', fallback_open_peers: 'plugin:links|fallback_open_peers', call_media_support: 'plugin:calls|call_media_support', call_media_start: 'plugin:calls|call_media_start', call_media_stop: 'plugin:calls|call_media_stop', call_media_attach: 'plugin:calls|call_media_attach', call_media_detach: 'plugin:calls|call_media_detach', call_media_limits: 'plugin:calls|call_media_limits', call_media_mute: 'plugin:calls|call_media_mute', call_media_camera_off: 'plugin:calls|call_media_camera_off', call_media_stats: 'plugin:calls|call_media_stats', call_media_devices: 'plugin:calls|call_media_devices', call_media_use_devices: 'plugin:calls|call_media_use_devices', call_media_share_screen: 'plugin:calls|call_media_share_screen', call_frames: 'plugin:calls|call_frames', call_frames_drawn: 'plugin:calls|call_frames_drawn', call_sfu_give_key: 'plugin:calls|call_sfu_give_key', call_sfu_peer_key: 'plugin:calls|call_sfu_peer_key', call_sfu_join: 'plugin:calls|call_sfu_join', call_sfu_publish: 'plugin:calls|call_sfu_publish', call_sfu_leave: 'plugin:calls|call_sfu_leave', call_sfu_status: 'plugin:calls|call_sfu_status', file_send_start: 'plugin:files|file_send_start', file_send_chunk: 'plugin:files|file_send_chunk', file_send_finish: 'plugin:files|file_send_finish', file_send_abort: 'plugin:files|file_send_abort', file_cancel: 'plugin:files|file_cancel', file_transfers: 'plugin:files|file_transfers', file_history: 'plugin:files|file_history', file_reveal: 'plugin:files|file_reveal', file_image: 'plugin:files|file_image', history_search_files: 'plugin:files|history_search_files' };

/** Commands that take one argument as raw bytes (the request's body; the others go as headers). */
export const RAW_BODY: Partial<Record<keyof Commands, string>> = { file_send_chunk: 'data' };

/** Every event the app emits to the window, with its payload. */
export interface Events {
  'signaling://frame': ServerFrame;
  'signaling://state': ConnectionState;
  'app://notification': NotificationAction;
  'app://deep-link': null;
  'app://webview': WebviewCapabilities;
  'files://transfer': FileTransfer;
  'chat://message': ChatIncoming;
  'chat://status': ChatStatus;
  'calls://media': MediaNotice;
  'fallback://open': Extract<LinkEvent, { kind: 'open' }>;
  'fallback://message': Extract<LinkEvent, { kind: 'message' }>;
  'fallback://closed': Extract<LinkEvent, { kind: 'closed' }>;
  'fallback://rekeyed': Extract<LinkEvent, { kind: 'rekeyed' }>;
  'fallback://failed': Extract<LinkEvent, { kind: 'failed' }>;
}
