// Browser adapter: one WebSocket to `/ws` of the page's origin (wss on https). Reconnects with jittered
// backoff and resumes the session, so a server restart or network blip does not end calls; after a fresh
// (non-resumed) session it re-joins the rooms the UI is in. Every hello presents the current invitation
// token; when the server refuses it (missing, invalid, expired: docs/protocol.md, Session 5–6) it tries once
// with a renewed token, and otherwise stops and reports the refusal instead of reconnecting in a loop.

import { OFFLINE_AFTER } from '../core.gen';
import type { ClientFrame, ServerFrame, SignalData } from '../protocol.gen';
import { backoffDelay } from './backoff';
import { Pacer } from './pacer';
import { SessionTracker } from './session';
import type { TokenSource } from '../token';
import { Listeners, type ConnectionState, type PushFrame, type SfuFrame, type Transport } from './types';


export class BrowserTransport implements Transport {
  private socket: WebSocket | null = null;
  private readonly tracker = new SessionTracker();
  private readonly rooms = new Set<string>();
  private readonly frames = new Listeners<ServerFrame>();
  private readonly states = new Listeners<ConnectionState>();
  private name = '';
  private tokens: TokenSource | undefined;
  /** The token the current connection's hello presented. */
  private presented: string | undefined;
  /** An `unauthorized` refusal of the session, held until the server closes (it may be recoverable). */
  private refusal: ServerFrame | null = null;
  private attempt = 0;
  private closed = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private watchdog: ReturnType<typeof setInterval> | undefined;
  private lastHeard = 0;
  private readonly pacer = new Pacer<string>((text) => {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(text);
  });

  constructor(private readonly url = defaultUrl()) {}

  connect(name: string, tokens?: TokenSource): void {
    this.name = name;
    this.tokens = tokens;
    this.closed = false;
    this.states.emit('connecting');
    this.open();
  }

  join(room: string): void {
    this.rooms.add(room);
    this.send({ type: 'join', room });
  }

  leave(room: string): void {
    this.rooms.delete(room);
    this.send({ type: 'leave', room });
  }

  signal(room: string, to: string, data: SignalData): void {
    this.send({ type: 'signal', room, to, data });
  }

  pushFrame(frame: PushFrame): void {
    this.send(frame);
  }

  sfuFrame(frame: SfuFrame): void {
    this.send(frame);
  }

  onFrame(listener: (frame: ServerFrame) => void): () => void {
    return this.frames.add(listener);
  }

  onState(listener: (state: ConnectionState) => void): () => void {
    return this.states.add(listener);
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.watchdog);
    this.socket?.close(1000);
    this.socket = null;
  }

  /**
   * Frames sent while disconnected are dropped: joins are repeated on reconnect, and peer connections
   * that matter are already established peer to peer.
   */
  private send(frame: ClientFrame): void {
    if (this.socket?.readyState === WebSocket.OPEN) this.pacer.push(JSON.stringify(frame));
  }

  private open(): void {
    const socket = new WebSocket(this.url);
    this.socket = socket;
    this.refusal = null;
    socket.onopen = () => {
      this.presented = this.tokens?.current();
      this.pacer.push(JSON.stringify(this.tracker.hello(this.name, this.presented)));
    };
    socket.onmessage = (event) => this.onMessage(event.data);
    socket.onclose = () => {
      if (this.socket !== socket) return;
      clearInterval(this.watchdog);
      this.pacer.clear();
      this.socket = null;
      if (this.closed) return;
      if (this.refusal) void this.afterRefusal(this.refusal);
      else this.scheduleReconnect();
    };
  }

  /**
   * The server refused the token and closed. A newer token (renewed in time, or renewed now) resumes the
   * session at once; otherwise the refusal is final: reported once, and no more attempts.
   */
  private async afterRefusal(refusal: ServerFrame): Promise<void> {
    this.states.emit('reconnecting');
    let fresh = this.tokens?.current();
    if (!fresh || fresh === this.presented) fresh = await this.tokens?.renew();
    if (this.closed) return;
    if (fresh && fresh !== this.presented) {
      this.open();
      return;
    }
    this.closed = true;
    this.states.emit('offline');
    this.frames.emit(refusal);
  }

  private onMessage(data: unknown): void {
    if (typeof data !== 'string') return;
    let frame: ServerFrame;
    try {
      frame = JSON.parse(data) as ServerFrame;
    } catch {
      return;
    }
    this.lastHeard = Date.now();
    if (!this.tracker.accept(frame)) return;
    if (frame.type === 'error' && frame.code === 'unauthorized' && frame.ref !== 'join') {
      this.refusal = frame; // the server closes next; see afterRefusal
      return;
    }
    if (frame.type === 'welcome') {
      this.attempt = 0;
      this.startWatchdog(frame.heartbeat_ms);
      this.states.emit('connected');
      this.frames.emit(frame);
      // A fresh session lost its rooms; a resumed one kept them.
      if (!frame.resumed) for (const room of this.rooms) this.send({ type: 'join', room });
      return;
    }
    this.frames.emit(frame);
  }

  /** Browsers hide WebSocket pings, so a half-open connection is found with protocol pings. */
  private startWatchdog(heartbeatMs: number): void {
    clearInterval(this.watchdog);
    this.lastHeard = Date.now();
    this.watchdog = setInterval(() => {
      if (Date.now() - this.lastHeard > 2 * heartbeatMs) this.socket?.close(4000, 'no answer');
      else this.send({ type: 'ping' });
    }, heartbeatMs);
  }

  private scheduleReconnect(): void {
    this.attempt += 1;
    this.states.emit(this.attempt > OFFLINE_AFTER ? 'offline' : 'reconnecting');
    this.retryTimer = setTimeout(() => this.open(), backoffDelay(this.attempt - 1));
  }
}

function defaultUrl(): string {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  return `${scheme}://${location.host}/ws`;
}
