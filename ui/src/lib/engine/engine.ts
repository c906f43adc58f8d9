// The one port between a room and the links to its people (docs/ui.md, "Peer engine"). A room composes
// exactly one engine, chosen when it is made: `BrowserEngine` (the page's own RTCPeerConnections: chat and
// file data channels, call media) or `NativeEngine` (the app's Rust links over IPC, where the webview has
// no WebRTC). The room keeps what both share — who is present, the chat, the call's ringing — and tells
// the engine what the signaling server says; the engine reports its links back through `EngineHost`.
// Views see only the room and the engine-neutral state below.

import type { IceServer, SignalData } from '../protocol.gen';
import type { MediaLink } from '../call/call.svelte';
import type { DeviceChoice, LocalMedia } from '../call/media';
import type { FileRows } from '../files/rows';
import type { ChatDelivery } from '../chat/delivery';
import type { ChatLinks } from '../chat/chat.svelte';
import type { ChatHistory } from '../history';
import type { DeviceChoice as MenuChoice, MediaDevice, MediaDevices } from '../ipc.gen';

export type { MenuChoice, MediaDevice };

/** How a peer link looks in the people list. */
export type LinkState = RTCPeerConnectionState | 'none';

/** What the engine asks of, and reports to, the room that composes it. */
export interface EngineHost {
  readonly room: string;
  /** Our peer id in the signaling session (null before the first `welcome`). */
  me(): string | null;
  iceServers(): IceServer[];
  /** The server lists `peer` in the room now. */
  listed(peer: string): boolean;
  /** `peer` is in the people list now. */
  present(peer: string): boolean;
  /** The people list, in its order. */
  peers(): string[];
  nameOf(peer: string): string;
  /** Relays signaling data to `peer` through the server. */
  signal(peer: string, data: SignalData): void;
  /** For the test hook's signal trace. */
  trace(event: string): void;

  /** The link to `peer` changed state; `connected` also means its chat can be sent now. */
  linkState(peer: string, state: LinkState): void;
  /** The safety code of the link to `peer` (docs/security.md) and their certificate, as DTLS verified it. */
  safety(peer: string, code: string, fingerprint?: string): void;
  /** A chat channel message from `peer` (the engine keeps link-level messages such as `peer-id` to itself). */
  message(peer: string, text: string): void;
  /** A link to `peer` is up, whether or not the server lists them (it is peer to peer): they are listed. */
  reached(peer: string): void;
  /** The link to `peer` is gone: people the server does not list leave the list with it. */
  linkLost(peer: string, state: LinkState): void;
  /** A chat channel to `peer` opened: what waits in the outbox goes now. */
  channelOpen(peer: string): void;
  /** The person behind link `from` now has peer id `to` (the engine checked the claim). */
  rekeyed(from: string, to: string): void;
  /** A link exists now to `peer` (call media may go on it). */
  linkAdded(peer: string): void;
  /** The link to `peer` failed for good: a call with them ends. */
  callFailed(peer: string, reason: string): void;
  /** `peer`'s link is gone for good (a pending re-key that never proved itself). */
  drop(peer: string, reason: string): void;
  /** Puts a file transfer's row into the chat log (`at`: where the history places a past one, ms). */
  showFileRow(key: string, mine: boolean, fromName: string, at?: number): void;
}

/** A call picture: a live stream for a <video>, or the latest decoded frame for an <img>. */
export type Picture =
  | { kind: 'stream'; stream: MediaStream | null; muted: boolean }
  | { kind: 'frame'; frame: Frame | undefined };

/** A picture to draw: a blob URL of the JPEG, and how many pictures this source has sent so far. */
export interface Frame {
  url: string;
  count: number;
  width: number;
  height: number;
}

/** What the call needs of our own media to draw our preview. */
export interface LocalView {
  localStream: MediaStream | null;
  screenStream: MediaStream | null;
  cameraOff: boolean;
}

/** A menu of the cameras, microphones and speakers calls use, kept on this device (the app's native media). */
export interface DeviceMenu {
  /** The devices present (null until listed). */
  readonly devices: MediaDevices | null;
  /** The person's choice (null: the system's default). */
  readonly choice: MenuChoice;
  /** What the last device change could not do. */
  readonly deviceNotice: string | null;
  /** Calls send a test picture and tone whatever is chosen. */
  readonly testMedia: boolean;
  listDevices(): Promise<void>;
  choose(kind: keyof MenuChoice, id: string | null): Promise<void>;
}

/** Why a window without WebRTC of its own (and no native media) has no calls. */
export const NO_WEBRTC =
  'Calls are not available in this window because its web view has no WebRTC. Chat still works; open the room in your browser to call.';

/** What calls can do in this window, for the call area. */
export interface CallSupport {
  /** Calls run in this window. */
  readonly available: boolean;
  /** Why calls are not available here, for the person (null when they are, or while that is not known). */
  readonly unavailableText: string | null;
  /** What went wrong with the call's media mid-call (a pipeline error the app reports), for the person. */
  readonly mediaNotice: string | null;
  readonly screenShare: boolean;
  /** The devices menu beside the call button (null where devices are chosen in the call's controls). */
  readonly deviceMenu: DeviceMenu | null;
  /** Cameras and microphones for the call's own selects (undefined where the menu above chooses them). */
  listDevices?(): Promise<{ cameras: MediaDeviceInfo[]; microphones: MediaDeviceInfo[] }>;
  /** Opens the camera and microphone for a call. */
  media(choice?: DeviceChoice): Promise<LocalMedia>;
  /** The screen to share instead of the camera. */
  screen(): Promise<LocalMedia>;
  /** Our preview, or (with `peer`) that person's picture. */
  picture(peer: string | null, local: LocalView): Picture;
}

export interface PeerEngine {
  readonly calls: CallSupport;
  /** Files over this engine's links, as the chat's rows show them. */
  readonly files: FileRows;
  /** The chat gets the big column: this window's call area is small (calls are not its own). */
  readonly chatFirst: boolean;

  /** The room is shown and its stored chat is in place. */
  start(): void;
  close(): void;

  /** Our new id after a fresh (not resumed) signaling session replaced `previous`. */
  newId(previous: string, me: string): void;
  /** The server listed `peer` (a fresh `joined`): link to it as the newcomer. */
  linkTo(peer: string): void;
  /** Who the server lists changed: claims waiting for its word are looked at again. */
  listChanged(): void;
  /** The server says `peer` left (`reason`, for whoever misses them). True: its link stays for a re-key in
   * progress (it leaves the list only). */
  keepsLeaving(peer: string, reason: string): boolean;
  /** Signals of the links (negotiation, id checks). False: not the engine's, the call's. */
  signal(from: string, data: SignalData): boolean;
  /** Closes the link to a person who is gone. */
  drop(peer: string): void;

  /** Who runs the chat's delivery rules over this engine's links (`links`: the room's chat channels). */
  chatDelivery(links: ChatLinks, history?: ChatHistory): ChatDelivery;
  /** Sends chat text; false when the peer's channel is not open (the outbox sends it again later). */
  send(peer: string, text: string): boolean;
  linkState(peer: string): LinkState;
  /** Someone the server does not list stays in the people list while this engine reaches them. */
  reachesUnlisted(peer: string): boolean;
  /** The call's handle on the link to `peer`. */
  mediaLink(peer: string): MediaLink | undefined;

  /** Test hooks (only with test hooks on: call/trace.ts). */
  debug(): Record<string, unknown>;
}
