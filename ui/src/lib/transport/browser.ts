// Browser adapter: one WebSocket to `/ws` of the page's origin (wss on https). Reconnects with jittered
// backoff and resumes the session, so a server restart or network blip does not end calls; after a fresh
// (non-resumed) session it re-joins the rooms the UI is in.

import type { ClientFrame, ServerFrame, SignalData } from '../protocol.gen';
import { backoffDelay } from './backoff';
import { Pacer } from './pacer';
import { SessionTracker } from './session';
import { Listeners, type ConnectionState, type Transport } from './types';

/** Consecutive failed attempts after which the indicator says "offline" (it keeps retrying). */
const OFFLINE_AFTER = 3;

export class BrowserTransport implements Transport {
  private socket: WebSocket | null = null;
  private readonly tracker = new SessionTracker();
  private readonly rooms = new Set<string>();
  private readonly frames = new Listeners<ServerFrame>();
  private readonly states = new Listeners<ConnectionState>();
  private name = '';
  private attempt = 0;
  private closed = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private watchdog: ReturnType<typeof setInterval> | undefined;
  private lastHeard = 0;
  private readonly pacer = new Pacer<string>((text) => {
    if (this.socket?.readyState === WebSocket.OPEN) this.socket.send(text);
  });

  constructor(private readonly url = defaultUrl()) {}

  connect(name: string): void {
    this.name = name;
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
    socket.onopen = () => this.pacer.push(JSON.stringify(this.tracker.hello(this.name)));
    socket.onmessage = (event) => this.onMessage(event.data);
    socket.onclose = () => {
      if (this.socket !== socket) return;
      clearInterval(this.watchdog);
      this.pacer.clear();
      this.socket = null;
      if (!this.closed) this.scheduleReconnect();
    };
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
