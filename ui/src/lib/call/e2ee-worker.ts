// The worker that seals our SFU call's media frames and opens everyone else's (e2ee-frame.ts), between the
// encoder and the packetizer and between the depacketizer and the decoder. It gets its frames from
// RTCRtpScriptTransform (`rtctransform` events) or, where the browser has only createEncodedStreams, as the
// streams the page hands over. Keys come from the page (e2ee.ts): ours for sending, each sender's for what we
// receive, and which sender a received media line (mid) carries. A frame that does not open (no key yet,
// a wrong key) is dropped, never passed on: without the key there is no picture and no sound.

import { frameKeyId, importFrameKey, openFrame, sealFrame, type MediaKind } from './e2ee-frame';

export interface TransformOptions {
  operation: 'encrypt' | 'decrypt';
  kind: MediaKind;
  /** The receiving media line (decrypt): its sender is looked up per frame, as a line may change sender. */
  mid?: string;
}

export type WorkerMessage =
  | { type: 'own-key'; id: number; raw: Uint8Array }
  | { type: 'peer-key'; peer: string; id: number; raw: Uint8Array }
  | { type: 'forget-peer'; peer: string }
  /** The same person under a new peer id (a new signaling session): their keys follow them. */
  | { type: 'rename-peer'; from: string; to: string }
  /** Which sender each receiving mid carries now (the whole map). */
  | { type: 'senders'; senders: Record<string, string> }
  | { type: 'streams'; readable: ReadableStream; writable: WritableStream; options: TransformOptions };

/** What the worker tells the page: the first frame of `peer` opened (their SFU media is through). */
export interface WorkerReport {
  type: 'opened';
  peer: string;
  kind: MediaKind;
}

/** Received keys kept per sender: frames under the previous keys may still be on their way after a rotation. */
const KEPT_KEYS = 3;

interface EncodedFrame {
  data: ArrayBuffer;
}

const scope = self as unknown as {
  postMessage(message: WorkerReport): void;
  onmessage: ((event: MessageEvent<WorkerMessage>) => void) | null;
  onrtctransform: ((event: { transformer: { readable: ReadableStream; writable: WritableStream; options: TransformOptions } }) => void) | null;
};

let own: { id: number; key: CryptoKey } | null = null;
const peers = new Map<string, Map<number, CryptoKey>>();
let senders: Record<string, string> = {};
const opened = new Set<string>();

scope.onmessage = ({ data }) => void onMessage(data);
scope.onrtctransform = ({ transformer }) => run(transformer.readable, transformer.writable, transformer.options);

async function onMessage(message: WorkerMessage): Promise<void> {
  switch (message.type) {
    case 'own-key':
      own = { id: message.id, key: await importFrameKey(message.raw) };
      return;
    case 'peer-key': {
      const keys = peers.get(message.peer) ?? new Map<number, CryptoKey>();
      keys.delete(message.id);
      keys.set(message.id, await importFrameKey(message.raw));
      for (const oldest of keys.keys()) if (keys.size > KEPT_KEYS) keys.delete(oldest);
      peers.set(message.peer, keys);
      return;
    }
    case 'forget-peer':
      peers.delete(message.peer);
      for (const key of [...opened]) if (key.startsWith(`${message.peer} `)) opened.delete(key);
      return;
    case 'rename-peer': {
      const keys = peers.get(message.from);
      peers.delete(message.from);
      if (keys) peers.set(message.to, keys);
      return;
    }
    case 'senders':
      senders = message.senders;
      return;
    case 'streams':
      run(message.readable, message.writable, message.options);
      return;
  }
}

function run(readable: ReadableStream, writable: WritableStream, options: TransformOptions): void {
  const transform = new TransformStream<EncodedFrame, EncodedFrame>({
    async transform(frame, controller) {
      const data = new Uint8Array(frame.data);
      const out = options.operation === 'encrypt' ? await seal(options.kind, data) : await open(options, data);
      if (!out) return;
      frame.data = out.buffer as ArrayBuffer;
      controller.enqueue(frame);
    },
  });
  // A transform ends with its sender or receiver; nothing to report then.
  readable.pipeThrough(transform).pipeTo(writable).catch(() => undefined);
}

async function seal(kind: MediaKind, data: Uint8Array): Promise<Uint8Array | null> {
  // Nothing leaves in clear: until our key is set, frames are dropped.
  return own ? sealFrame(own.key, own.id, kind, data) : null;
}

async function open(options: TransformOptions, data: Uint8Array): Promise<Uint8Array | null> {
  const peer = options.mid === undefined ? undefined : senders[options.mid];
  const id = frameKeyId(data);
  const key = peer === undefined || id === null ? undefined : peers.get(peer)?.get(id);
  if (!key || peer === undefined) return null;
  const plain = await openFrame(key, options.kind, data);
  const first = `${peer} ${options.kind}`;
  if (plain && !opened.has(first)) {
    opened.add(first);
    scope.postMessage({ type: 'opened', peer, kind: options.kind });
  }
  return plain;
}
