// The file-transfer wire format (normative description: docs/files.md). One ordered, reliable data channel
// labelled "file" per transfer attempt, opened in-band by the sender beside the "chat" channel on the same
// peer connection. Text frames are the JSON control messages below; binary frames are the file's bytes, in
// order, at most CHUNK_BYTES each.

/** The data-channel label of a file transfer. */
export const FILE_CHANNEL_LABEL = 'file';
/** Largest binary frame (the smallest max-message-size the peers in use accept). */
export const CHUNK_BYTES = 64 * 1024;
/** The receiver confirms what it has stored at least this often (and at the end). */
export const ACK_EVERY_BYTES = 1024 * 1024;
/** Default size limit of a file, sent or received (configurable, see `settings.ts`). */
export const DEFAULT_MAX_FILE_BYTES = 2 * 1024 ** 3;
/** Longest file name kept, in characters. */
export const MAX_FILE_NAME_CHARS = 255;
/** Largest control message accepted. */
const MAX_CONTROL_CHARS = 4096;

export type FileControl =
  /** Sender → receiver, first on every channel. The same id again (a new channel) asks to resume. */
  | { t: 'file-offer'; id: string; name: string; size: number; mime: string }
  /** Receiver → sender: send the bytes from `offset` on (0 for a new transfer, what it kept for a resume). */
  | { t: 'file-accept'; id: string; offset: number }
  /** Receiver → sender: bytes stored so far. */
  | { t: 'file-ack'; id: string; offset: number }
  /** Sender → receiver, after the last byte: the SHA-256 of the whole file (64 lowercase hex digits). */
  | { t: 'file-done'; id: string; sha256: string }
  /** Receiver → sender: every byte arrived and the hash matched; the transfer is complete. */
  | { t: 'file-received'; id: string; sha256: string }
  /** Either side: the transfer ends here (cancelled by a person, refused, or failed), with a reason. */
  | { t: 'file-cancel'; id: string; reason: string };

const ID = /^[A-Za-z0-9-]{1,64}$/;
const SHA256 = /^[0-9a-f]{64}$/;
const isOffset = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Parses a control frame; anything malformed is null (and ends the transfer, see `transfers`). */
export function parseFileControl(data: unknown): FileControl | null {
  if (typeof data !== 'string' || data.length > MAX_CONTROL_CHARS) return null;
  let v: Record<string, unknown>;
  try {
    const value: unknown = JSON.parse(data);
    if (typeof value !== 'object' || value === null) return null;
    v = value as Record<string, unknown>;
  } catch {
    return null;
  }
  if (typeof v.id !== 'string' || !ID.test(v.id)) return null;
  const id = v.id;
  switch (v.t) {
    case 'file-offer':
      if (typeof v.name !== 'string' || !isOffset(v.size) || typeof v.mime !== 'string') return null;
      return { t: 'file-offer', id, name: cleanFileName(v.name), size: v.size, mime: v.mime.slice(0, 100) };
    case 'file-accept':
    case 'file-ack':
      return isOffset(v.offset) ? { t: v.t, id, offset: v.offset } : null;
    case 'file-done':
    case 'file-received':
      return typeof v.sha256 === 'string' && SHA256.test(v.sha256) ? { t: v.t, id, sha256: v.sha256 } : null;
    case 'file-cancel':
      return { t: 'file-cancel', id, reason: typeof v.reason === 'string' ? v.reason.slice(0, 200) : 'cancelled' };
    default:
      return null;
  }
}

/**
 * Characters a name loses: controls (C0, DEL, C1), the bidi controls that could make `gnp.exe` read as
 * `exe.png` (U+061C, U+200E/U+200F, U+202A–U+202E, U+2066–U+2069), line/paragraph separators and BOM.
 */
// eslint-disable-next-line no-control-regex
const REMOVED = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ufeff]/gu;
/** Characters Windows does not allow in a name; each becomes `_`. */
const FORBIDDEN = /[<>:"|?*]/g;
/** Windows device names, reserved with any extension (`CON.txt`), in any case. */
const RESERVED = /^(CON|PRN|AUX|NUL|COM[1-9\u00b9\u00b2\u00b3]|LPT[1-9\u00b9\u00b2\u00b3])$/i;
const TRAILING = /[\s.]+$/u;

/**
 * A name safe to show and to save under, on any system: no folders, no control or bidi characters, none
 * Windows forbids, no trailing dots or spaces, not a Windows device name, not empty, not too long. The
 * same rules as the app's native receiver (`clean_file_name`), checked by the shared cases in
 * src-tauri/core/tests/vectors/file_names.json.
 */
export function cleanFileName(name: string): string {
  const base = name.split(/[/\\]/).pop() ?? '';
  let clean = base.replace(REMOVED, '').replace(FORBIDDEN, '_').trim().replace(TRAILING, '');
  if (RESERVED.test((clean.split('.')[0] ?? '').trimEnd())) clean = `_${clean}`;
  clean = [...clean].slice(0, MAX_FILE_NAME_CHARS).join('').replace(TRAILING, '');
  return clean === '' ? 'file' : clean;
}

/** Image types shown inline as a thumbnail (decoded by an <img>). SVG is not among them: it is a document. */
const INLINE_IMAGES = new Set(['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'image/avif', 'image/bmp']);
export const isInlineImage = (mime: string): boolean => INLINE_IMAGES.has(mime.toLowerCase());

export const controlText = (message: FileControl): string => JSON.stringify(message);

/** "1.5 MB" style sizes for people. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}
