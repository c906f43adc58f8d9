// Client side of the protocol's session rules: remembers the session and its resume token for `resume`,
// tracks the highest `seq` processed and drops replayed duplicates (docs/protocol.md, Session 3–4).

import { PROTOCOL_VERSION, type ClientFrame, type ServerFrame } from '../protocol.gen';

export type Hello = Extract<ClientFrame, { type: 'hello' }>;

export class SessionTracker {
  session: string | null = null;
  peer: string | null = null;
  lastSeq = 0;
  /** From the latest `welcome`: the server resumes the session only for the holder of this secret. */
  private resumeToken = '';

  /** The `hello` to send on (re)connect: with `resume` once a session exists. */
  hello(name: string, token?: string): Hello {
    const hello: Hello = { type: 'hello', v: PROTOCOL_VERSION, name };
    if (token) hello.token = token;
    if (this.session) hello.resume = { session: this.session, last_seq: this.lastSeq, token: this.resumeToken };
    return hello;
  }

  /**
   * Records a frame from the server. Returns false for a frame already processed (replayed twice), which the
   * caller must ignore. A fresh `welcome` starts a new numbering. Every `welcome` brings a new resume token
   * (the previous one stops working).
   */
  accept(frame: ServerFrame): boolean {
    if (frame.type === 'welcome') {
      this.session = frame.session;
      this.peer = frame.peer;
      this.resumeToken = frame.resume_token;
      // A resumed welcome carries the seq the replay continues after; a fresh one restarts at 1.
      this.lastSeq = frame.seq;
      return true;
    }
    if (frame.seq === 0) return true; // refusal before a session exists
    if (frame.seq <= this.lastSeq) return false;
    this.lastSeq = frame.seq;
    return true;
  }
}
