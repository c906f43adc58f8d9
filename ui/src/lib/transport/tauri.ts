// Tauri adapter: the app's Rust backend owns the signaling socket (reconnect and resume happen there);
// this forwards commands with `invoke` and receives frames and connection state as events.

import { invoke } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';
import type { ServerFrame, SignalData } from '../protocol.gen';
import { Listeners, type ConnectionState, type Transport } from './types';

export class TauriTransport implements Transport {
  private readonly frames = new Listeners<ServerFrame>();
  private readonly states = new Listeners<ConnectionState>();
  private readonly unlisten: Array<Promise<() => void>> = [];

  /** `serverUrl`: the signaling server to use; absent means the one saved in the app's settings. */
  constructor(private readonly serverUrl?: string) {
    this.unlisten.push(listen<ServerFrame>('signaling://frame', (e) => this.frames.emit(e.payload)));
    this.unlisten.push(listen<ConnectionState>('signaling://state', (e) => this.states.emit(e.payload)));
  }

  connect(name: string): void {
    const args: Record<string, string> = { name };
    if (this.serverUrl) args.url = this.serverUrl;
    // The answer is the state right now (events only report changes). A refused connect (e.g. an invalid
    // server address) leaves the app offline; the badge says so.
    invoke<ConnectionState>('connect', args).then(
      (state) => this.states.emit(state),
      () => this.states.emit('offline'),
    );
  }

  join(room: string): void {
    void invoke('join_room', { room });
  }

  leave(room: string): void {
    void invoke('leave_room', { room });
  }

  signal(room: string, to: string, data: SignalData): void {
    void invoke('send_signal', { room, to, data });
  }

  onFrame(listener: (frame: ServerFrame) => void): () => void {
    return this.frames.add(listener);
  }

  onState(listener: (state: ConnectionState) => void): () => void {
    return this.states.add(listener);
  }

  close(): void {
    for (const pending of this.unlisten) void pending.then((stop) => stop());
  }
}

/** True inside the Tauri app's webview. */
export function inTauri(): boolean {
  return typeof window !== 'undefined' && '__TAURI_INTERNALS__' in window;
}

export interface SavedSettings {
  server_url?: string | null;
  display_name?: string | null;
}

/** The server address and name saved in the app's settings (empty when unreadable). */
export async function savedSettings(): Promise<SavedSettings> {
  try {
    return await invoke<SavedSettings>('get_settings');
  } catch {
    return {};
  }
}

/** Opens the room in the default browser (app: `<server>/#/room/<room>`; browser: a new tab). */
export function openInBrowser(room: string): void {
  if (inTauri()) void invoke('open_room_in_browser', { room });
  else window.open(location.href, '_blank');
}
