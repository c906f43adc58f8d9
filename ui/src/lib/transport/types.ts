// The one interface the UI uses to reach the signaling server. Two adapters implement it: `browser.ts`
// (a WebSocket from the page) and `tauri.ts` (the app's Rust backend owns the socket).

import type { ClientFrame, ServerFrame, SignalData } from '../protocol.gen';
import type { ConnectionState } from '../core.gen';
import type { TokenSource } from '../token';

/** What the connection indicator shows (generated from the app's Rust client). */
export type { ConnectionState };

/** The frames of ringing people who are away (docs/protocol.md, Push): registering, asking, ringing. */
export type PushFrame = Extract<ClientFrame, { type: 'push-register' | 'push-unregister' | 'offline-members' | 'ring' | 'ring-cancel' }>;

/** Moving a call's media to the SFU and out of it (docs/protocol.md, SFU). */
export type SfuFrame = Extract<ClientFrame, { type: 'sfu-join' | 'sfu-leave' }>;

export interface Transport {
  /**
   * Starts the session and keeps it up (reconnects with backoff and resume) until `close`. `tokens` gives
   * the invitation token each `hello` presents (servers with an auth secret require one). After the server
   * refuses the token for good (docs/protocol.md, Session 5–6) the transport stops reconnecting, reports
   * the refusal as the `error` frame it got and shows `offline`.
   */
  connect(name: string, tokens?: TokenSource): void;
  join(room: string): void;
  leave(room: string): void;
  /** Relays `data` to one peer of `room`. */
  signal(room: string, to: string, data: SignalData): void;
  /** Sends a push frame (absent where the connection cannot: the room then hides ringing people who are away). */
  pushFrame?(frame: PushFrame): void;
  /** Sends an SFU frame (absent where the connection cannot: calls then stay peer to peer). */
  sfuFrame?(frame: SfuFrame): void;
  /** Every server frame, once, in order. Returns an unsubscribe function. */
  onFrame(listener: (frame: ServerFrame) => void): () => void;
  onState(listener: (state: ConnectionState) => void): () => void;
  close(): void;
}

/** Small listener registry shared by the adapters. */
export class Listeners<T> {
  private listeners = new Set<(value: T) => void>();

  add(listener: (value: T) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(value: T): void {
    for (const listener of this.listeners) listener(value);
  }
}
