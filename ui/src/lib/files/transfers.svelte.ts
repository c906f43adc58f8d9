// Files sent and received peer to peer over "file" data channels (wire format: wire.ts, docs/files.md).
// The sender reads the file in slices and keeps each channel's buffered amount bounded (back-pressure),
// hashes the file on the side, and ends with its SHA-256; the receiver hashes what arrives, confirms
// what it has stored, and checks the hash at the end. When a channel drops before the end, the sender
// opens a new one on the same person's connection and the receiver answers with the offset it kept, so
// the transfer resumes there. Progress shown on both sides is what the receiver has confirmed.
// What a peer's offers may cost (how many, how many at once, how long idle) is bounded in `limits.ts`.

import { createSHA256, type IHasher } from 'hash-wasm';
import { v4 as uuidv4 } from 'uuid';
import {
  FILE_ANSWER_TIMEOUT_MS as OPEN_TIMEOUT_MS, FILE_IDLE_TIMEOUT_MS, FILE_RESUME_WINDOW_MS as RESUME_WINDOW_MS,
  FILE_RETRY_EVERY_MS as RESUME_RETRY_MS, FILE_WAIT_NOTICE_MS,
} from '../core.gen';
import { pageLimits, type IncomingLimits, type Ticket } from './limits';
import { isActive, progressOf } from './rows';
import { maxFileBytes } from './settings';
import {
  ACK_EVERY_BYTES, CHUNK_BYTES, controlText, formatBytes, isInlineImage, parseFileControl, type FileControl,
} from './wire';

export type FileStatus = 'sending' | 'receiving' | 'done' | 'failed' | 'cancelled';

/** How transfers reach people; implemented by the room over its peer links. */
export interface FileLinks {
  /** People we can send to now (their connection is up). */
  peers(): string[];
  /** A new "file" channel to `peer`, or null while there is no usable connection to them. */
  openChannel(peer: string): RTCDataChannel | null;
  nameOf(peer: string): string;
  /** Puts the transfer's row into the chat log. */
  showRow(key: string, mine: boolean, fromName: string): void;
}

/** Slices of the file read at once by the sender. */
const READ_BYTES = 1024 * 1024;
/** The sender pauses above this many buffered bytes and goes on below the low mark. */
const BUFFER_HIGH = 4 * 1024 * 1024;
const BUFFER_LOW = 1024 * 1024;
/** The receiver turns what arrived into a Blob every this many bytes (the browser may keep it on disk). */
const BLOB_PART_BYTES = 16 * 1024 * 1024;

/** One file going to or coming from one person, as the chat row shows it. */
export class Transfer {
  status = $state<FileStatus>('sending');
  /** Bytes the receiver has confirmed (the sender's view) or stored (the receiver's view). */
  confirmed = $state(0);
  /** Set when done: the file as a blob URL (a download link, or the thumbnail of an inline image). */
  url = $state<string | null>(null);
  sha256 = $state<string | null>(null);
  /** Why it failed or was cancelled; or, while it waits for a dropped channel, what it waits for. */
  note = $state<string | null>(null);
  readonly startedAt = Date.now();
  endedAt: number | null = null;

  constructor(
    readonly key: string,
    readonly id: string,
    public peer: string,
    readonly name: string,
    readonly size: number,
    readonly mime: string,
    readonly mine: boolean,
  ) {
    this.status = mine ? 'sending' : 'receiving';
  }

  get progress(): number {
    return progressOf(this.status, this.confirmed, this.size);
  }

  get active(): boolean {
    return isActive(this.status);
  }

  get image(): boolean {
    return isInlineImage(this.mime);
  }
}

/** A test hook's view of one transfer. */
export interface TransferReport {
  id: string;
  mine: boolean;
  name: string;
  size: number;
  status: FileStatus;
  confirmed: number;
  sha256: string | null;
  /** Offsets at which the receiver accepted a resumed channel. */
  resumedAt: number[];
  /** Bytes that crossed the wire (receiver side), to see that a resume did not start over. */
  wireBytes: number;
  /** When it was offered and when it ended (ms since the epoch), for the benchmark. */
  startedAt: number;
  endedAt: number | null;
}

export class FileTransfers {
  /** Every transfer this room has seen, by row key (class instances: Svelte keeps them as they are). */
  readonly all = $state<Record<string, Transfer>>({});
  error = $state<string | null>(null);
  /** Offers refused unseen because their sender offered too many (docs/files.md, "Limits"). */
  droppedOffers = 0;
  private readonly outgoing = new Map<string, Outgoing>();
  private readonly incoming = new Map<string, Incoming>();
  /**
   * Test hook: the next sender to pass this fraction of its file closes its channel ('drop', as a lost
   * connection would) or stops sending until the transfer ends ('pause', to cancel mid-way).
   */
  hold: { fraction: number; action: 'drop' | 'pause' } | null = null;

  constructor(
    private readonly links: FileLinks,
    private readonly limit: () => number = maxFileBytes,
    private readonly limits: IncomingLimits = pageLimits,
  ) {}

  /** Sends `file` to everyone we are connected to, one transfer each. */
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
    const hash = new FileHash(file);
    for (const peer of peers) {
      const id = uuidv4();
      const t = new Transfer(`file-out-${id}`, id, peer, file.name, file.size, file.type, true);
      this.all[t.key] = t;
      const out = new Outgoing(t, file, hash, this.links, this);
      this.outgoing.set(id, out);
      this.links.showRow(t.key, true, '');
      out.connect();
    }
  }

  /** A "file" channel the peer opened: its first message says which transfer it carries. */
  accept(peer: string, channel: RTCDataChannel): void {
    channel.binaryType = 'arraybuffer';
    channel.onmessage = ({ data }) => {
      const offer = parseFileControl(data);
      if (offer?.t !== 'file-offer') {
        channel.close();
        return;
      }
      // Every offer takes a token, resumes too (each brings a channel); a new one also needs a place.
      if (!this.limits.takeOffer(peer)) {
        this.drop(peer, channel, offer.id, 'too many files offered at once; try again later');
        return;
      }
      const known = this.incoming.get(offer.id);
      if (known) {
        if (known.transfer.peer === peer && known.matches(offer)) known.resume(channel);
        else refuse(channel, offer.id, 'this transfer id is taken');
        return;
      }
      if (this.all[`file-in-${offer.id}`]) {
        // Its row is there and the transfer is being set up (or ended): nothing new to show.
        refuse(channel, offer.id, 'this transfer id is taken');
        return;
      }
      const limit = this.limit();
      if (offer.size > limit) {
        const t = this.row(peer, offer);
        const reason = `larger than the ${formatBytes(limit)} limit`;
        t.status = 'failed';
        t.note = `Refused: ${reason}.`;
        refuse(channel, offer.id, reason);
        return;
      }
      const ticket = this.limits.request(peer);
      if (!ticket) {
        this.drop(peer, channel, offer.id, 'too many files waiting; try again when some have arrived');
        return;
      }
      const t = this.row(peer, offer);
      // Hashing runs in WebAssembly (twice as fast as JavaScript; on a small machine the hash is what
      // bounds the transfer). The sender sends no bytes before our accept, so nothing arrives meanwhile.
      void createSHA256().then(
        (hasher) => {
          const inc = new Incoming(t, hasher, ticket, () => this.limits.runningFrom(peer));
          this.incoming.set(offer.id, inc);
          inc.resume(channel);
        },
        (err) => {
          ticket.release();
          t.status = 'failed';
          t.note = `cannot check files here: ${String(err)}`;
          refuse(channel, offer.id, 'the receiver cannot check files');
        },
      );
    };
  }

  private row(peer: string, offer: Extract<FileControl, { t: 'file-offer' }>): Transfer {
    const t = new Transfer(`file-in-${offer.id}`, offer.id, peer, offer.name, offer.size, offer.mime, false);
    this.all[t.key] = t;
    this.links.showRow(t.key, false, this.links.nameOf(peer));
    return t;
  }

  /** An offer beyond the limits: refused, counted, never shown. */
  private drop(peer: string, channel: RTCDataChannel, id: string, reason: string): void {
    this.droppedOffers += 1;
    if (this.droppedOffers === 1 || this.droppedOffers % 1000 === 0) {
      console.warn(`files: refused ${this.droppedOffers} offer(s) beyond the limits (last from ${peer}: ${reason})`);
    }
    refuse(channel, id, reason);
  }

  peerName(peer: string): string {
    return this.links.nameOf(peer);
  }

  cancel(key: string): void {
    const t = this.all[key];
    if (!t?.active) return;
    (t.mine ? this.outgoing.get(t.id) : this.incoming.get(t.id))?.cancel('cancelled');
  }

  /** The person left: what is still under way with them fails. */
  peerLeft(peer: string): void {
    for (const t of Object.values(this.all)) {
      if (t.peer === peer && t.active) (t.mine ? this.outgoing.get(t.id) : this.incoming.get(t.id))?.fail(`${this.links.nameOf(peer)} left`);
    }
  }

  peerRenamed(from: string, to: string): void {
    for (const t of Object.values(this.all)) if (t.peer === from) t.peer = to;
  }

  close(): void {
    for (const t of Object.values(this.all)) {
      if (t.active) (t.mine ? this.outgoing.get(t.id) : this.incoming.get(t.id))?.fail('you left the room');
      if (t.url) URL.revokeObjectURL(t.url);
    }
  }

  report(): TransferReport[] {
    return Object.values(this.all).map((t) => {
      const inc = t.mine ? undefined : this.incoming.get(t.id);
      return {
        id: t.id, mine: t.mine, name: t.name, size: t.size, status: t.status, confirmed: t.confirmed, sha256: t.sha256,
        resumedAt: inc?.resumedAt ?? [], wireBytes: inc?.wireBytes ?? 0, startedAt: t.startedAt, endedAt: t.endedAt,
      };
    });
  }
}

function refuse(channel: RTCDataChannel, id: string, reason: string): void {
  channel.send(controlText({ t: 'file-cancel', id, reason }));
  channel.close();
}

/**
 * The SHA-256 of a file being sent, fed by the senders with the slices they read anyway (the file is read
 * once, not twice); `hex()` reads whatever they skipped.
 */
class FileHash {
  private readonly hasher: Promise<IHasher> = createSHA256();
  /** Bytes hashed so far, from the start. */
  private hashed = 0;
  private digest: string | null = null;

  constructor(private readonly file: Blob) {}

  /** Bytes a sender read at `at`; only what continues the hashed prefix counts. */
  async feed(at: number, bytes: Uint8Array): Promise<void> {
    const hasher = await this.hasher;
    if (at > this.hashed || at + bytes.length <= this.hashed) return;
    hasher.update(bytes.subarray(this.hashed - at));
    this.hashed = at + bytes.length;
  }

  async hex(): Promise<string> {
    while (this.hashed < this.file.size) {
      const at = this.hashed;
      await this.feed(at, new Uint8Array(await this.file.slice(at, at + READ_BYTES).arrayBuffer()));
    }
    this.digest ??= (await this.hasher).digest('hex');
    return this.digest;
  }
}

/** Resolves when `channel` drained below its low mark, or closed. */
function drained(channel: RTCDataChannel): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      channel.removeEventListener('bufferedamountlow', done);
      channel.removeEventListener('close', done);
      resolve();
    };
    channel.addEventListener('bufferedamountlow', done);
    channel.addEventListener('close', done);
  });
}

function closed(channel: RTCDataChannel): Promise<void> {
  return new Promise((resolve) => {
    if (channel.readyState === 'closed') resolve();
    else channel.addEventListener('close', () => resolve());
  });
}

/** Our file going to one person, over one channel after another until it is through. */
class Outgoing {
  private channel: RTCDataChannel | null = null;
  private retry: ReturnType<typeof setTimeout> | undefined;
  /** When the transfer lost its channel; resuming is given up RESUME_WINDOW_MS later. */
  private lostAt: number | null = null;
  /** Whether the receiver accepted on the current channel (before that, a `file-ack` means "wait"). */
  private accepted = false;

  constructor(
    readonly transfer: Transfer,
    private readonly file: File,
    private readonly hash: FileHash,
    private readonly links: FileLinks,
    private readonly owner: FileTransfers,
  ) {}

  /** Opens a channel and offers the file (again, for a resume); retries while the connection is down. */
  connect(): void {
    const t = this.transfer;
    if (!t.active) return;
    const channel = this.links.openChannel(t.peer);
    if (!channel) {
      this.retryLater();
      return;
    }
    this.channel = channel;
    this.accepted = false;
    channel.binaryType = 'arraybuffer';
    const openTimer = setTimeout(() => {
      if (channel.readyState === 'open') this.fail(`no answer from ${this.links.nameOf(t.peer)} (their app may not take files)`);
      else channel.close();
    }, OPEN_TIMEOUT_MS);
    channel.onopen = () => {
      channel.send(controlText({ t: 'file-offer', id: t.id, name: t.name, size: t.size, mime: t.mime }));
    };
    channel.onmessage = ({ data }) => {
      clearTimeout(openTimer);
      this.onControl(channel, parseFileControl(data));
    };
    channel.onclose = () => {
      clearTimeout(openTimer);
      if (channel !== this.channel) return;
      this.channel = null;
      this.retryLater();
    };
  }

  cancel(reason: string): void {
    this.end('cancelled', reason, true);
  }

  fail(reason: string): void {
    this.end('failed', reason, true);
  }

  private retryLater(): void {
    const t = this.transfer;
    if (!t.active) return;
    this.lostAt ??= Date.now();
    if (Date.now() - this.lostAt > RESUME_WINDOW_MS) {
      this.fail(`the connection to ${this.links.nameOf(t.peer)} did not come back`);
      return;
    }
    t.note = 'Connection lost; waiting to resume…';
    clearTimeout(this.retry);
    this.retry = setTimeout(() => this.connect(), RESUME_RETRY_MS);
  }

  private onControl(channel: RTCDataChannel, message: FileControl | null): void {
    const t = this.transfer;
    if (channel !== this.channel || !t.active) return;
    if (!message || message.id !== t.id) {
      this.fail('the receiver sent something unexpected');
      return;
    }
    switch (message.t) {
      case 'file-accept':
        if (message.offset > t.size) {
          this.fail('the receiver asked for bytes past the end');
          return;
        }
        this.lostAt = null;
        this.accepted = true;
        t.note = null;
        t.confirmed = message.offset;
        void this.pump(channel, message.offset);
        return;
      case 'file-ack':
        // Before an accept: the receiver has other files coming in and keeps this one waiting.
        if (!this.accepted) t.note = `Waiting: ${this.links.nameOf(t.peer)} is receiving other files`;
        else if (message.offset <= t.size) t.confirmed = Math.max(t.confirmed, message.offset);
        return;
      case 'file-received':
        void this.hash.hex().then((digest) => {
          if (message.sha256 !== digest) {
            this.fail('the receiver reported a different SHA-256');
            return;
          }
          t.sha256 = digest;
          t.confirmed = t.size;
          t.url = URL.createObjectURL(t.image ? this.file : new Blob([this.file], { type: 'application/octet-stream' }));
          this.end('done', null, false);
        });
        return;
      case 'file-cancel':
        this.end(message.reason === 'cancelled' ? 'cancelled' : 'failed', message.reason === 'cancelled' ? `${this.links.nameOf(t.peer)} cancelled` : message.reason, false);
        return;
      default:
        this.fail('the receiver sent something unexpected');
    }
  }

  /** Sends the bytes from `offset` to the end, then the hash; stops when this channel is no longer ours. */
  private async pump(channel: RTCDataChannel, offset: number): Promise<void> {
    const t = this.transfer;
    const current = () => channel === this.channel && channel.readyState === 'open' && t.active;
    channel.bufferedAmountLowThreshold = BUFFER_LOW;
    try {
      for (let at = offset; at < t.size; at += READ_BYTES) {
        const slice = new Uint8Array(await this.file.slice(at, Math.min(at + READ_BYTES, t.size)).arrayBuffer());
        await this.hash.feed(at, slice);
        for (let i = 0; i < slice.length; i += CHUNK_BYTES) {
          if (channel.bufferedAmount > BUFFER_HIGH) await drained(channel);
          if (!current()) return;
          channel.send(slice.subarray(i, i + CHUNK_BYTES));
          const hold = this.owner.hold;
          if (hold && at + i >= hold.fraction * t.size) {
            this.owner.hold = null;
            if (hold.action === 'drop') channel.close();
            else await closed(channel);
            return;
          }
        }
      }
      const sha = await this.hash.hex();
      if (current()) channel.send(controlText({ t: 'file-done', id: t.id, sha256: sha }));
    } catch (err) {
      // The file became unreadable (moved, deleted): nothing to resume from.
      if (t.active) this.fail(`could not read the file: ${String(err)}`);
    }
  }

  private end(status: FileStatus, note: string | null, tell: boolean): void {
    const t = this.transfer;
    if (!t.active) return;
    clearTimeout(this.retry);
    t.endedAt = Date.now();
    t.status = status;
    t.note = note;
    const channel = this.channel;
    this.channel = null;
    if (channel?.readyState === 'open' && tell) channel.send(controlText({ t: 'file-cancel', id: t.id, reason: note ?? status }));
    channel?.close();
  }
}

/**
 * A file coming from one person; survives a dropped channel for RESUME_WINDOW_MS. It waits for its place
 * (`ticket`, see limits.ts) before it accepts, telling the sender to wait meanwhile; once under way, an
 * open channel with nothing arriving for FILE_IDLE_TIMEOUT_MS fails it.
 */
class Incoming {
  private channel: RTCDataChannel | null = null;
  /** While waiting for a place: the timer that tells the sender to wait. */
  private waitNotice: ReturnType<typeof setInterval> | undefined;
  private idle: ReturnType<typeof setTimeout> | undefined;
  private received = 0;
  private acked = 0;
  private readonly parts: Blob[] = [];
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private giveUp: ReturnType<typeof setTimeout> | undefined;
  readonly resumedAt: number[] = [];
  wireBytes = 0;

  constructor(
    readonly transfer: Transfer,
    private readonly hasher: IHasher,
    private readonly ticket: Ticket,
    private readonly runningFromPeer: () => number,
  ) {
    ticket.onStart = () => this.start();
  }

  matches(offer: Extract<FileControl, { t: 'file-offer' }>): boolean {
    return offer.size === this.transfer.size && offer.name === this.transfer.name;
  }

  /** Takes `channel` (the first, or a new one after a drop) and tells the sender where to go on from. */
  resume(channel: RTCDataChannel): void {
    const t = this.transfer;
    if (!t.active) {
      refuse(channel, t.id, t.status === 'done' ? 'already received' : 'this transfer has ended');
      return;
    }
    clearTimeout(this.giveUp);
    const old = this.channel;
    this.channel = channel;
    old?.close();
    channel.onmessage = ({ data }) => {
      if (channel !== this.channel) return;
      this.armIdle();
      if (data instanceof ArrayBuffer) this.onBytes(data);
      else this.onControl(parseFileControl(data));
    };
    channel.onclose = () => {
      if (channel !== this.channel) return;
      this.channel = null;
      clearTimeout(this.idle);
      clearInterval(this.waitNotice);
      if (!t.active) return;
      t.note = 'Connection lost; waiting for the sender…';
      this.giveUp = setTimeout(() => this.fail('the sender did not come back'), RESUME_WINDOW_MS);
    };
    if (this.ticket.started) this.acceptFrom(channel);
    else this.waitForPlace(channel);
  }

  /** Tells the sender where to go on from; from now on the channel must not stay silent. */
  private acceptFrom(channel: RTCDataChannel): void {
    if (this.received > 0) this.resumedAt.push(this.received);
    this.transfer.note = null;
    channel.send(controlText({ t: 'file-accept', id: this.transfer.id, offset: this.received }));
    this.armIdle();
  }

  /** No place yet: "stored 0 bytes so far" (a `file-ack` before the accept) until there is one. */
  private waitForPlace(channel: RTCDataChannel): void {
    const t = this.transfer;
    t.note = `Waiting: ${this.runningFromPeer()} files from them are coming in`;
    const notice = () => {
      if (channel === this.channel && channel.readyState === 'open') {
        channel.send(controlText({ t: 'file-ack', id: t.id, offset: this.received }));
      }
    };
    notice();
    clearInterval(this.waitNotice);
    this.waitNotice = setInterval(notice, FILE_WAIT_NOTICE_MS);
  }

  /** Our place came: accept on the channel we have (or on the next one the sender opens). */
  private start(): void {
    clearInterval(this.waitNotice);
    if (!this.transfer.active) return;
    if (this.channel?.readyState === 'open') this.acceptFrom(this.channel);
  }

  private armIdle(): void {
    clearTimeout(this.idle);
    if (!this.ticket.started || !this.transfer.active) return;
    this.idle = setTimeout(() => this.fail(`nothing arrived for ${FILE_IDLE_TIMEOUT_MS / 1000} s`), FILE_IDLE_TIMEOUT_MS);
  }

  cancel(reason: string): void {
    this.end('cancelled', reason, true);
  }

  fail(reason: string): void {
    this.end('failed', reason, true);
  }

  private onBytes(data: ArrayBuffer): void {
    const t = this.transfer;
    if (!t.active) return;
    if (!this.ticket.started) {
      this.fail('the sender sent bytes before they were accepted');
      return;
    }
    this.wireBytes += data.byteLength;
    if (this.received + data.byteLength > t.size) {
      this.fail('the sender sent more than it offered');
      return;
    }
    const bytes = new Uint8Array(data);
    this.hasher.update(bytes);
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    this.received += bytes.length;
    if (this.pendingBytes >= BLOB_PART_BYTES) this.flushParts();
    if (this.received - this.acked >= ACK_EVERY_BYTES) this.ack();
  }

  private onControl(message: FileControl | null): void {
    const t = this.transfer;
    if (!t.active) return;
    if (message?.t === 'file-cancel' && message.id === t.id) {
      this.end(message.reason === 'cancelled' ? 'cancelled' : 'failed', message.reason === 'cancelled' ? 'the sender cancelled' : message.reason, false);
      return;
    }
    if (message?.t !== 'file-done' || message.id !== t.id) {
      this.fail('the sender sent something unexpected');
      return;
    }
    if (this.received !== t.size) {
      this.fail(`the sender finished after ${this.received} of ${t.size} bytes`);
      return;
    }
    const digest = this.hasher.digest('hex');
    if (digest !== message.sha256) {
      this.fail('the file arrived damaged (SHA-256 mismatch)');
      return;
    }
    this.ack();
    this.channel?.send(controlText({ t: 'file-received', id: t.id, sha256: digest }));
    this.flushParts();
    // Only inline images keep their type; anything else is opaque bytes, so opening it never renders it.
    t.url = URL.createObjectURL(new Blob(this.parts, { type: t.image ? t.mime : 'application/octet-stream' }));
    t.sha256 = digest;
    this.parts.length = 0;
    this.end('done', null, false);
  }

  private ack(): void {
    this.acked = this.received;
    this.transfer.confirmed = this.received;
    if (this.channel?.readyState === 'open') this.channel.send(controlText({ t: 'file-ack', id: this.transfer.id, offset: this.received }));
  }

  private flushParts(): void {
    if (this.pending.length === 0) return;
    this.parts.push(new Blob(this.pending as BlobPart[]));
    this.pending = [];
    this.pendingBytes = 0;
  }

  private end(status: FileStatus, note: string | null, tell: boolean): void {
    const t = this.transfer;
    if (!t.active) return;
    clearTimeout(this.giveUp);
    clearTimeout(this.idle);
    clearInterval(this.waitNotice);
    t.endedAt = Date.now();
    t.status = status;
    t.note = note;
    if (status !== 'done') {
      this.parts.length = 0;
      this.pending = [];
    }
    const channel = this.channel;
    this.channel = null;
    if (channel?.readyState === 'open' && tell) channel.send(controlText({ t: 'file-cancel', id: t.id, reason: note ?? status }));
    // The sender closes after `file-received`; closing here could drop that last message.
    if (status !== 'done') channel?.close();
    // Last: freeing the place may start a waiting transfer.
    this.ticket.release();
  }
}
