// What the chat's file rows draw (FileMessage.svelte, FilePicker.svelte), whichever side carries the files:
// the webview's own data channels (FileTransfers) or the app's native links (NativeFiles).

import type { FileStatus } from './transfers.svelte';

export type { FileStatus };

/** One transfer as its row shows it. */
export interface FileRow {
  readonly mine: boolean;
  readonly peer: string;
  readonly name: string;
  readonly size: number;
  readonly status: FileStatus;
  /** 0–100: what the receiver has confirmed. */
  readonly progress: number;
  readonly active: boolean;
  readonly sha256: string | null;
  /** Once done: a blob URL of the file (a download link; the thumbnail of an inline image). */
  readonly url: string | null;
  readonly image: boolean;
  readonly note: string | null;
  /** Where a received file was saved on this device (app only). */
  readonly path?: string | null;
}

/** The transfers of a room, as the chat shows and starts them. */
export interface FileRows {
  readonly all: Record<string, FileRow>;
  readonly error: string | null;
  send(file: File): void;
  cancel(key: string): void;
  peerName(peer: string): string;
  /** Shows a received file in the system's file manager (app only). */
  reveal?(key: string): void;
}

/** A row's progress, 0–100: what the receiver confirmed of `size` bytes (100 once done). */
export function progressOf(status: FileStatus, confirmed: number, size: number): number {
  if (status === 'done') return 100;
  return size === 0 ? 0 : Math.floor((confirmed * 100) / size);
}

/** Whether a transfer in `status` is still going (it can be cancelled). */
export const isActive = (status: FileStatus): boolean => status === 'sending' || status === 'receiving';

/** Puts `line` into `lines` (oldest first) after every line not newer than it; a line with its id moves. */
export function insertByTime<T extends { id: string; sentAt: number }>(lines: T[], line: T): void {
  const old = lines.findIndex((l) => l.id === line.id);
  if (old >= 0) lines.splice(old, 1);
  let i = lines.length;
  while (i > 0 && (lines[i - 1]?.sentAt ?? 0) > line.sentAt) i -= 1;
  lines.splice(i, 0, line);
}
