// End-to-end encryption of an SFU call's media, the page's side: one worker (e2ee-worker.ts) seals our frames
// and opens the others', attached to each sender and receiver of the call's connections to Janus with
// RTCRtpScriptTransform, or createEncodedStreams where the browser has only that. Keys: each sender has its
// own (random, 256-bit AES-GCM), handed to every other participant over the peer-to-peer chat channel
// (`{"t":"sfu-key",…}`, already end-to-end encrypted by DTLS), and replaced when someone leaves the call so
// they cannot read what follows. docs/security.md, "Calls through the SFU".

import { KEY_BYTES, newKeyBytes, type MediaKind } from './e2ee-frame';
import type { TransformOptions, WorkerMessage, WorkerReport } from './e2ee-worker';

/** How long a new key is announced before our frames use it: the others have it by then (the chat channel
 * is ordered and reliable), and frames under the old one still open meanwhile. */
export const KEY_SWITCH_DELAY_MS = 1000;

/** A key as it travels on the chat channel. */
export interface SfuKeyMessage {
  t: 'sfu-key';
  call: string;
  /** 0–255, the key id frames carry in their trailer. */
  id: number;
  /** The raw key, base64. */
  key: string;
}

/** Reads an `sfu-key` chat channel message; null for anything else. */
export function parseSfuKey(text: string): { call: string; id: number; raw: Uint8Array } | null {
  if (!text.includes('"sfu-key"')) return null;
  try {
    const v = JSON.parse(text) as Partial<SfuKeyMessage>;
    if (v.t !== 'sfu-key' || typeof v.call !== 'string' || typeof v.key !== 'string') return null;
    if (!Number.isInteger(v.id) || (v.id as number) < 0 || (v.id as number) > 255) return null;
    const raw = Uint8Array.from(atob(v.key), (c) => c.charCodeAt(0));
    return raw.length === KEY_BYTES ? { call: v.call, id: v.id as number, raw } : null;
  } catch {
    return null;
  }
}

export function sfuKeyText(call: string, id: number, raw: Uint8Array): string {
  const message: SfuKeyMessage = { t: 'sfu-key', call, id, key: btoa(String.fromCharCode(...raw)) };
  return JSON.stringify(message);
}

type EncodedStreams = { readable: ReadableStream; writable: WritableStream };
type WithEncodedStreams = { createEncodedStreams?(): EncodedStreams; transform?: unknown };

/** The worker and the transforms of one call. */
export class FrameCrypto {
  private readonly worker = new Worker(new URL('./e2ee-worker.ts', import.meta.url), { type: 'module' });
  /** RTCRtpScriptTransform (standard), else Chromium's older createEncodedStreams. */
  private readonly script = typeof RTCRtpScriptTransform !== 'undefined';

  constructor(opened: (peer: string, kind: MediaKind) => void) {
    this.worker.onmessage = ({ data }: MessageEvent<WorkerReport>) => {
      if (data.type === 'opened') opened(data.peer, data.kind);
    };
  }

  /** Whether this browser can encrypt frames at all. */
  static supported(): boolean {
    return typeof RTCRtpScriptTransform !== 'undefined' || 'createEncodedStreams' in (globalThis.RTCRtpSender?.prototype ?? {});
  }

  /** What a connection whose frames we transform needs (createEncodedStreams must be asked for up front). */
  connectionConfig(): RTCConfiguration {
    return this.script ? {} : ({ encodedInsertableStreams: true } as RTCConfiguration);
  }

  encryptSender(sender: RTCRtpSender, kind: MediaKind): void {
    this.attach(sender as unknown as WithEncodedStreams, { operation: 'encrypt', kind });
  }

  /** `mid`: the media line, whose sender the worker looks up per frame (`setSenders`). */
  decryptReceiver(receiver: RTCRtpReceiver, kind: MediaKind, mid: string): void {
    this.attach(receiver as unknown as WithEncodedStreams, { operation: 'decrypt', kind, mid });
  }

  setOwnKey(id: number, raw: Uint8Array): void {
    this.post({ type: 'own-key', id, raw });
  }

  setPeerKey(peer: string, id: number, raw: Uint8Array): void {
    this.post({ type: 'peer-key', peer, id, raw });
  }

  forgetPeer(peer: string): void {
    this.post({ type: 'forget-peer', peer });
  }

  renamePeer(from: string, to: string): void {
    this.post({ type: 'rename-peer', from, to });
  }

  setSenders(senders: Record<string, string>): void {
    this.post({ type: 'senders', senders });
  }

  close(): void {
    this.worker.terminate();
  }

  private attach(end: WithEncodedStreams, options: TransformOptions): void {
    if (this.script) {
      end.transform = new RTCRtpScriptTransform(this.worker, options);
      return;
    }
    const streams = end.createEncodedStreams?.();
    if (!streams) return;
    const message: WorkerMessage = { type: 'streams', ...streams, options };
    this.worker.postMessage(message, [streams.readable as unknown as Transferable, streams.writable as unknown as Transferable]);
  }

  private post(message: WorkerMessage): void {
    this.worker.postMessage(message);
  }
}

/** Our sending key in a call: made, given to each participant, replaced when someone leaves. */
export class CallKeys {
  private id = 0;
  private raw = newKeyBytes();
  private switchTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly call: string,
    private readonly crypto: FrameCrypto,
    private readonly send: (peer: string, text: string) => void,
  ) {
    crypto.setOwnKey(this.id, this.raw);
  }

  /** A participant gets the key our frames use now (or the one they will use in a moment). */
  giveTo(peer: string): void {
    this.send(peer, sfuKeyText(this.call, this.id, this.raw));
  }

  /** Someone left: a new key for those who stay, used once they have had it a moment. */
  rotate(stay: string[]): void {
    this.id = (this.id + 1) & 0xff;
    this.raw = newKeyBytes();
    const { id, raw } = this;
    for (const peer of stay) this.giveTo(peer);
    clearTimeout(this.switchTimer);
    this.switchTimer = setTimeout(() => this.crypto.setOwnKey(id, raw), KEY_SWITCH_DELAY_MS);
  }

  /** The key our frames use or are about to use (a test reads a recording with it). */
  current(): { id: number; raw: Uint8Array } {
    return { id: this.id, raw: this.raw };
  }

  close(): void {
    clearTimeout(this.switchTimer);
  }
}
