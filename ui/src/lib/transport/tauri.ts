// Tauri adapter: the app's Rust backend owns the signaling socket (reconnect and resume happen there);
// this forwards commands through `call`/`send` (ipc.ts) and receives frames and connection state as events.

import { call, on, send } from '../ipc';
import type { Settings } from '../ipc.gen';
import type { ServerFrame, SignalData } from '../protocol.gen';
import type { TokenSource } from '../token';
import { Listeners, type ConnectionState, type PushFrame, type SfuFrame, type Transport } from './types';

export class TauriTransport implements Transport {
  private readonly frames = new Listeners<ServerFrame>();
  private readonly states = new Listeners<ConnectionState>();
  private readonly unlisten: Array<Promise<() => void>> = [];
  /**
   * Settles when the last `connect` did. Room commands wait for it: sent at once they could reach the
   * backend before its client exists (a first start) or go to the client `connect` is replacing (a new
   * token after a refusal), and be lost.
   */
  private connected: Promise<unknown> = Promise.resolve();
  /** State events received so far: one that arrives before `connect`'s answer is newer than the answer. */
  private stateEvents = 0;

  /** `serverUrl`: the signaling server to use; absent means the one saved in the app's settings. */
  constructor(private readonly serverUrl?: string) {
    this.unlisten.push(on('signaling://frame', (frame) => this.frames.emit(frame)));
    this.unlisten.push(
      on('signaling://state', (state) => {
        this.stateEvents += 1;
        this.states.emit(state);
      }),
    );
  }

  connect(name: string, tokens?: TokenSource): void {
    // The answer is the state right now (events only report changes). A refused connect (e.g. an invalid
    // server address) leaves the app offline; the badge says so, and the failure is reported (ipc.ts).
    // The backend presents the token in every hello and resume, and stops reconnecting when the server
    // refuses it (the refusal arrives as an `error` frame).
    // A fast server may have the backend connected (and its event here) before the answer, which then
    // says the older "connecting": the event wins.
    // Listening first: listen() registers asynchronously, and what the backend emits before (a refused
    // invitation's `error` frame, the first state change) would otherwise be lost.
    const listening = Promise.all(this.unlisten);
    this.connected = listening
      .then(() => {
        const events = this.stateEvents;
        return call('connect', { name, url: this.serverUrl, token: tokens?.current() ?? null }).then((state) => {
          if (this.stateEvents === events) this.states.emit(state);
        });
      })
      .catch(() => this.states.emit('offline'));
  }

  join(room: string): void {
    void this.connected.then(() => send('join_room', { room }));
  }

  leave(room: string): void {
    void this.connected.then(() => send('leave_room', { room }));
  }

  signal(room: string, to: string, data: SignalData): void {
    void this.connected.then(() => send('send_signal', { room, to, data }));
  }

  /** Ringing people who are away: the app's connection sends it, the answers come back as frames. */
  pushFrame(frame: PushFrame): void {
    void this.connected.then(() => send('push_frame', { frame }));
  }

  /** Moving a call to the SFU and out: the app's connection sends it; `sfu`, `sfu-lost` and a refusal come
   * back as frames, and the call's media goes where the window's engine does it (page or native). */
  sfuFrame(frame: SfuFrame): void {
    void this.connected.then(() => send('sfu_frame', { frame }));
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

/** The server address and name saved in the app's settings (empty when unreadable: the failure is reported). */
export async function savedSettings(): Promise<Partial<Settings>> {
  try {
    return await call('get_settings');
  } catch {
    return {};
  }
}
