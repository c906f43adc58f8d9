// The file-transfer wire format (normative description: docs/files.md). One ordered, reliable data channel
// labelled "file" per transfer attempt, opened in-band by the sender beside the "chat" channel on the same
// peer connection. Text frames are the JSON control messages below; binary frames are the file's bytes, in
// order, at most CHUNK_BYTES each.

// The constants and the control-message union are generated from the native side
// (src-tauri/core/src/links/files.rs); both parse and write the cases of
// src-tauri/core/tests/vectors/file_control.json alike.
import { MAX_FILE_CONTROL_CHARS, MAX_FILE_NAME_CHARS, type FileControl } from '../core.gen';

export { ACK_EVERY_BYTES, CHUNK_BYTES, DEFAULT_MAX_FILE_BYTES, FILE_CHANNEL_LABEL, MAX_FILE_NAME_CHARS } from '../core.gen';
/**
 * A control message (text frame): `file-offer` (sender, first on every channel; the same id on a new channel
 * asks to resume), `file-accept` (receiver: send from `offset`), `file-ack` (receiver: bytes stored; 0 while
 * the offer waits its turn), `file-done` (sender: SHA-256 of the whole file), `file-received` (receiver: the
 * hash matched, complete), `file-cancel` (either side: the transfer ends, with a reason).
 */
export type { FileControl };

const ID = /^[A-Za-z0-9-]{1,64}$/;
const SHA256 = /^[0-9a-f]{64}$/;
const isOffset = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
/** `text` cut to at most `max` characters (code points, as the native side counts). */
const cut = (text: string, max: number): string => (text.length <= max ? text : [...text].slice(0, max).join(''));

/** Parses a control frame; anything malformed is null (and ends the transfer, see `transfers`). */
export function parseFileControl(data: unknown): FileControl | null {
  if (typeof data !== 'string' || data.length > MAX_FILE_CONTROL_CHARS) return null;
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
      return { t: 'file-offer', id, name: cleanFileName(v.name), size: v.size, mime: cut(v.mime, 100) };
    case 'file-accept':
    case 'file-ack':
      return isOffset(v.offset) ? { t: v.t, id, offset: v.offset } : null;
    case 'file-done':
    case 'file-received':
      return typeof v.sha256 === 'string' && SHA256.test(v.sha256) ? { t: v.t, id, sha256: v.sha256 } : null;
    case 'file-cancel':
      return typeof v.reason === 'string' ? { t: 'file-cancel', id, reason: cut(v.reason, 200) } : null;
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
