// The frame format of end-to-end encrypted media in SFU calls (docs/security.md, "Calls through the SFU"),
// byte for byte what the native engine will write and read. Each encoded frame (one VP8 picture or one Opus
// packet, before RTP packetization) becomes
//
//   clear prefix | AES-GCM ciphertext of the rest, with its 16-byte tag | IV (12 bytes) | key id (1 byte)
//
// The clear prefix is what the SFU and the receiver's depacketizer read: VP8's frame tag (3 bytes) and, on a
// key frame, its start code and size (7 more: 10), Opus's TOC byte (1). It is the additional authenticated
// data, so it cannot be changed either. The key is the sender's own (random, 256 bits), named by the key id.

export type MediaKind = 'audio' | 'video';

export const IV_BYTES = 12;
export const TAG_BYTES = 16;
/** IV and key id after the ciphertext. */
export const TRAILER_BYTES = IV_BYTES + 1;
export const KEY_BYTES = 32;
const VP8_KEY_FRAME_CLEAR = 10;
const VP8_DELTA_FRAME_CLEAR = 3;
const OPUS_CLEAR = 1;

/** How many leading bytes of a frame of `length` bytes stay clear; `first` is its first byte. */
export function clearBytes(kind: MediaKind, first: number | undefined, length: number): number {
  if (first === undefined) return 0;
  if (kind === 'audio') return Math.min(OPUS_CLEAR, length);
  // VP8 frame tag, bit 0: 0 is a key frame (RFC 6386, 9.1).
  return Math.min((first & 0x01) === 0 ? VP8_KEY_FRAME_CLEAR : VP8_DELTA_FRAME_CLEAR, length);
}

export async function importFrameKey(raw: Uint8Array): Promise<CryptoKey> {
  return crypto.subtle.importKey('raw', raw as BufferSource, 'AES-GCM', false, ['encrypt', 'decrypt']);
}

export function newKeyBytes(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(KEY_BYTES));
}

/** Encrypts one encoded frame under `key` (named `keyId`, 0–255). `iv` is random unless a test gives one. */
export async function sealFrame(key: CryptoKey, keyId: number, kind: MediaKind, frame: Uint8Array, iv = crypto.getRandomValues(new Uint8Array(IV_BYTES))): Promise<Uint8Array> {
  const clear = frame.subarray(0, clearBytes(kind, frame[0], frame.length));
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt({ name: 'AES-GCM', iv: iv as BufferSource, additionalData: clear as BufferSource }, key, frame.subarray(clear.length) as BufferSource),
  );
  const out = new Uint8Array(clear.length + sealed.length + TRAILER_BYTES);
  out.set(clear, 0);
  out.set(sealed, clear.length);
  out.set(iv, clear.length + sealed.length);
  out[out.length - 1] = keyId & 0xff;
  return out;
}

/** The key id a sealed frame names, or null when it is too short to be one. */
export function frameKeyId(data: Uint8Array): number | null {
  return data.length >= TAG_BYTES + TRAILER_BYTES ? (data[data.length - 1] ?? null) : null;
}

/** Decrypts a sealed frame with the sender's key it names; null when it is not one or does not open. */
export async function openFrame(key: CryptoKey, kind: MediaKind, data: Uint8Array): Promise<Uint8Array | null> {
  if (frameKeyId(data) === null) return null;
  const iv = data.subarray(data.length - TRAILER_BYTES, data.length - 1);
  const body = data.subarray(0, data.length - TRAILER_BYTES);
  const clear = body.subarray(0, clearBytes(kind, body[0], body.length - TAG_BYTES));
  try {
    const plain = new Uint8Array(
      await crypto.subtle.decrypt({ name: 'AES-GCM', iv: iv as BufferSource, additionalData: clear as BufferSource }, key, body.subarray(clear.length) as BufferSource),
    );
    const out = new Uint8Array(clear.length + plain.length);
    out.set(clear, 0);
    out.set(plain, clear.length);
    return out;
  } catch {
    return null;
  }
}
