// What one person's file offers may cost us (docs/files.md, "Limits"; the app's native receiver applies the
// same numbers, generated from Rust into core.gen.ts). New offers take a token from the peer's bucket (a
// burst of FILE_OFFER_BURST, then FILE_OFFERS_PER_SECOND); at most MAX_INCOMING_FILES_PER_PEER files come
// in at once from one peer and MAX_INCOMING_FILES from everyone; up to MAX_WAITING_FILE_OFFERS more of a
// peer wait their turn, in arrival order. Offers beyond either bound are refused and never shown.

import { takeToken, type Tokens } from '../bucket';
import {
  FILE_OFFER_BURST, FILE_OFFERS_PER_SECOND, MAX_INCOMING_FILES, MAX_INCOMING_FILES_PER_PEER, MAX_WAITING_FILE_OFFERS,
} from '../core.gen';

/** One offer's place: started now, or waiting until `onStart` is called. */
export interface Ticket {
  readonly started: boolean;
  /** Called once when a waiting ticket gets its place. */
  onStart: (() => void) | null;
  /** The transfer ended (or was given up while waiting): frees its place or leaves the queue. */
  release(): void;
}

interface Peer extends Tokens {
  running: number;
  waiting: number;
}

class Place implements Ticket {
  started = false;
  released = false;
  onStart: (() => void) | null = null;

  constructor(
    readonly peer: string,
    private readonly owner: IncomingLimits,
  ) {}

  release(): void {
    if (this.released) return;
    this.released = true;
    this.owner.released(this);
  }
}

export class IncomingLimits {
  private readonly peers = new Map<string, Peer>();
  private readonly queue: Place[] = [];
  private running = 0;

  constructor(private readonly now: () => number = () => Date.now()) {}

  /** Whether `peer` may make another new offer now (takes a token from its bucket). */
  takeOffer(peer: string): boolean {
    return takeToken(this.peer(peer), FILE_OFFER_BURST, FILE_OFFERS_PER_SECOND, this.now());
  }

  /** A place for a new transfer from `peer`: started at once, waiting, or null when too many wait. */
  request(peer: string): Ticket | null {
    const p = this.peer(peer);
    const place = new Place(peer, this);
    if (this.hasRoom(p)) {
      this.start(place, p);
      return place;
    }
    if (p.waiting >= MAX_WAITING_FILE_OFFERS) return null;
    p.waiting += 1;
    this.queue.push(place);
    return place;
  }

  /** Files coming in from `peer` now, and overall. */
  runningFrom(peer: string): number {
    return this.peers.get(peer)?.running ?? 0;
  }

  get runningOverall(): number {
    return this.running;
  }

  /** Called by a ticket's `release`. */
  released(place: Place): void {
    const p = this.peer(place.peer);
    if (place.started) {
      p.running -= 1;
      this.running -= 1;
    } else {
      p.waiting -= 1;
      this.queue.splice(this.queue.indexOf(place), 1);
    }
    this.forgetIdle(place.peer, p);
    this.startWaiting();
  }

  /** Starts waiting offers, oldest first, while their peer and the whole have room. */
  private startWaiting(): void {
    for (let i = 0; i < this.queue.length && this.running < MAX_INCOMING_FILES; ) {
      const place = this.queue[i];
      if (!place) break;
      const p = this.peer(place.peer);
      if (!this.hasRoom(p)) {
        i += 1;
        continue;
      }
      this.queue.splice(i, 1);
      p.waiting -= 1;
      this.start(place, p);
      place.onStart?.();
    }
  }

  private hasRoom(p: Peer): boolean {
    return p.running < MAX_INCOMING_FILES_PER_PEER && this.running < MAX_INCOMING_FILES;
  }

  private start(place: Place, p: Peer): void {
    place.started = true;
    p.running += 1;
    this.running += 1;
  }

  private peer(peer: string): Peer {
    let p = this.peers.get(peer);
    if (!p) {
      p = { tokens: FILE_OFFER_BURST, at: this.now(), running: 0, waiting: 0 };
      this.peers.set(peer, p);
    }
    return p;
  }

  /** A peer with nothing running or waiting and a full bucket is forgotten (the map stays small). */
  private forgetIdle(peer: string, p: Peer): void {
    const full = p.tokens + ((this.now() - p.at) / 1000) * FILE_OFFERS_PER_SECOND >= FILE_OFFER_BURST;
    if (p.running === 0 && p.waiting === 0 && full) this.peers.delete(peer);
  }
}

/** The limits of this page: one room's transfers and the next share them. */
export const pageLimits = new IncomingLimits();
