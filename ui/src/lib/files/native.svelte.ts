// Files in the app window where the app's native links carry the chat (no WebRTC in the webview): the app
// sends and receives them (src-tauri/src/files.rs). A picked file is handed to the app in chunks (the
// webview has its bytes, not a path), then the app sends it to each person; every change of a transfer
// comes back as a `files://transfer` event and updates its row. Received files are saved by the app in
// the Downloads folder; the row shows where, and raster images get a thumbnail from their bytes. Files
// of earlier sessions come from the history (`file_history`) as done rows, placed by when they finished.

import { call, describeError, on } from '../ipc';
import type { FileRecord, FileTransfer } from '../ipc.gen';
import { isActive, progressOf, type FileRow, type FileRows, type FileStatus } from './rows';
import { maxFileBytes } from './settings';
import { formatBytes, isInlineImage } from './wire';

/** How the room lets files reach people over its native links. */
export interface NativeFileLinks {
  /** People whose native link is open now. */
  peers(): string[];
  nameOf(peer: string): string;
  /** Puts the transfer's row into the chat log. */
  showRow(key: string, mine: boolean, fromName: string): void;
  /** Puts the row of a file from the history into the chat log where `at` (ms) places it. */
  showPastRow?(key: string, mine: boolean, fromName: string, at: number): void;
}

/** Bytes of the picked file per `file_send_chunk` (sent as raw bytes). */
export const UPLOAD_CHUNK_BYTES = 1024 * 1024;

/** One row: a transfer the app runs, or (id null) a picked file still being handed to the app. */
export class NativeRow implements FileRow {
  status = $state<FileStatus>('sending');
  confirmed = $state(0);
  sha256 = $state<string | null>(null);
  url = $state<string | null>(null);
  note = $state<string | null>(null);
  path = $state<string | null>(null);
  peer = $state('');
  /** The person cancelled while the file was still being handed over. */
  aborted = false;

  constructor(
    readonly key: string,
    readonly id: string | null,
    peer: string,
    readonly name: string,
    readonly size: number,
    readonly mine: boolean,
  ) {
    this.peer = peer;
    this.status = mine ? 'sending' : 'receiving';
  }

  get progress(): number {
    return progressOf(this.status, this.confirmed, this.size);
  }

  get active(): boolean {
    return isActive(this.status);
  }

  get image(): boolean {
    return !this.mine && isInlineImage(imageType(this.name));
  }
}

/** The inline-image type of a file name by its extension (what the app will hand over for a thumbnail). */
export function imageType(name: string): string {
  const ext = name.toLowerCase().split('.').pop() ?? '';
  const types: Record<string, string> = {
    png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', webp: 'image/webp', avif: 'image/avif', bmp: 'image/bmp',
  };
  return name.includes('.') ? (types[ext] ?? 'application/octet-stream') : 'application/octet-stream';
}

export function fromBase64(text: string): Uint8Array<ArrayBuffer> {
  const raw = atob(text);
  const bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i += 1) bytes[i] = raw.charCodeAt(i);
  return bytes;
}

/** The row key of a transfer: the same as the browser's rows. */
export const rowKey = (t: Pick<FileTransfer, 'id' | 'incoming'>): string => `file-${t.incoming ? 'in' : 'out'}-${t.id}`;

export class NativeFiles implements FileRows {
  readonly all = $state<Record<string, FileRow>>({});
  error = $state<string | null>(null);
  private readonly unlisten: Promise<() => void>;
  private uploads = 0;
  private closed = false;
  /** The names the history keeps for people of past files (they may not be here now). */
  private readonly pastNames = new Map<string, string>();
  /** Rows of this run's transfers listed when the room opened (placed at the end until the history dates them). */
  private readonly listed = new Set<string>();

  constructor(
    private readonly room: string,
    private readonly links: NativeFileLinks,
    private readonly limit: () => number = maxFileBytes,
  ) {
    this.unlisten = on('files://transfer', (t) => {
      if (t.room === room) this.update(t);
    }).catch(() => () => undefined);
    // Transfers that started before this room was shown (e.g. while another room was open).
    call('file_transfers', { room }).then(
      (list) => {
        for (const t of list) {
          if (this.all[rowKey(t)]) continue;
          this.update(t);
          this.listed.add(rowKey(t));
        }
      },
      () => undefined,
    );
  }

  private row(key: string): NativeRow | undefined {
    return this.all[key] as NativeRow | undefined;
  }

  /** A transfer's new state from the app. */
  update(t: FileTransfer): void {
    const key = rowKey(t);
    let row = this.row(key);
    if (!row) {
      row = new NativeRow(key, t.id, t.peer, t.name, t.size, !t.incoming);
      this.all[key] = row;
      this.links.showRow(key, row.mine, t.incoming ? this.links.nameOf(t.peer) : '');
    }
    if (t.peer) row.peer = t.peer;
    row.confirmed = Math.max(row.confirmed, t.confirmed);
    row.status = t.status;
    row.sha256 = t.sha256;
    row.path = t.incoming ? t.path : null;
    row.note = t.status === 'failed' || t.status === 'cancelled' ? (t.reason ?? null) : null;
    if (t.status === 'done' && row.image && !row.url) void this.thumbnail(row);
  }

  /**
   * Shows the room's finished files from the history (earlier sessions too) as done rows, oldest first;
   * a file this run already shows keeps its row. Call once the chat's stored messages are in place.
   */
  async showHistory(): Promise<void> {
    let past: FileRecord[];
    try {
      past = await call('file_history', { room: this.room });
    } catch {
      return; // No history (unavailable): this run's rows still show.
    }
    if (this.closed) return;
    for (const f of [...past].reverse()) {
      const incoming = f.direction === 'incoming';
      const key = rowKey({ id: f.transfer_id, incoming });
      const shown = this.all[key];
      if (shown) {
        // A transfer of this run listed when the room opened: its row moves to when it finished.
        if (this.listed.has(key)) this.links.showPastRow?.(key, shown.mine, incoming ? this.peerName(f.peer) : '', f.at);
        continue;
      }
      const row = new NativeRow(key, f.transfer_id, f.peer, f.name, f.size, !incoming);
      row.status = 'done';
      row.confirmed = f.size;
      row.sha256 = f.sha256;
      row.path = incoming ? f.path : null;
      if (f.peer_name) this.pastNames.set(f.peer, f.peer_name);
      this.all[key] = row;
      const fromName = incoming ? this.peerName(f.peer) : '';
      if (this.links.showPastRow) this.links.showPastRow(key, !incoming, fromName, f.at);
      else this.links.showRow(key, !incoming, fromName);
      if (row.image) void this.thumbnail(row);
    }
  }

  /** Hands `file` to the app and has it sent to everyone connected (one transfer each). */
  send(file: File): void {
    const limit = this.limit();
    if (file.size > limit) {
      this.error = `Files are limited to ${formatBytes(limit)}; ${file.name} has ${formatBytes(file.size)}.`;
      return;
    }
    const peers = this.links.peers();
    if (peers.length === 0) {
      this.error = 'Nobody here to send it to yet.';
      return;
    }
    this.error = null;
    this.uploads += 1;
    const row = new NativeRow(`file-up-${this.uploads}-${Date.now()}`, null, peers.length === 1 ? (peers[0] ?? '') : '', file.name, file.size, true);
    row.note = 'Preparing…';
    this.all[row.key] = row;
    this.links.showRow(row.key, true, '');
    void this.upload(row, file, peers);
  }

  private async upload(row: NativeRow, file: File, peers: string[]): Promise<void> {
    let upload: string | null = null;
    try {
      upload = await call('file_send_start', { name: file.name, size: file.size });
      for (let offset = 0; offset < file.size; offset += UPLOAD_CHUNK_BYTES) {
        if (row.aborted || this.closed) {
          await call('file_send_abort', { upload });
          row.status = 'cancelled';
          row.note = null;
          return;
        }
        const bytes = new Uint8Array(await file.slice(offset, offset + UPLOAD_CHUNK_BYTES).arrayBuffer());
        await call('file_send_chunk', { upload, offset, data: bytes });
        row.note = `Preparing… ${Math.floor(((offset + bytes.length) * 100) / Math.max(file.size, 1))}%`;
      }
      await call('file_send_finish', { upload, room: this.room, peers });
      // Each transfer has its own row now (from the app's events); this one is no longer needed.
      delete this.all[row.key];
    } catch (err) {
      if (upload !== null) void call('file_send_abort', { upload }).catch(() => undefined);
      row.status = 'failed';
      row.note = describeError(err);
    }
  }

  private async thumbnail(row: NativeRow): Promise<void> {
    if (!row.id) return;
    try {
      const data = await call('file_image', { id: row.id });
      if (!data || this.closed) return;
      // A blob of the declared raster type, decoded by an <img>: nothing received is inserted as markup.
      row.url = URL.createObjectURL(new Blob([fromBase64(data)], { type: imageType(row.name) }));
    } catch {
      // No thumbnail: the row still shows where the file is.
    }
  }

  peerName(peer: string): string {
    if (!peer) return 'everyone here';
    return this.pastNames.get(peer) ?? this.links.nameOf(peer);
  }

  cancel(key: string): void {
    const row = this.row(key);
    if (!row?.active) return;
    if (row.id === null) {
      row.aborted = true;
      return;
    }
    call('file_cancel', { id: row.id }).catch((err) => (this.error = describeError(err)));
  }

  reveal(key: string): void {
    const id = this.row(key)?.id;
    if (id) call('file_reveal', { id }).catch((err) => (this.error = describeError(err)));
  }

  peerRenamed(from: string, to: string): void {
    for (const row of Object.values(this.all)) if (row.peer === from) (row as NativeRow).peer = to;
  }

  close(): void {
    this.closed = true;
    void this.unlisten.then((stop) => stop());
    for (const row of Object.values(this.all)) if (row.url) URL.revokeObjectURL(row.url);
  }
}
