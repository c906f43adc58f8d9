// The chat's delivery rules shared with the Rust client (src-tauri/core/src/chat/session.rs), run from the
// same JSON cases (src-tauri/core/tests/vectors/chat*.json): both send, ack, resend, de-duplicate, count
// read receipts and clamp a peer's clock alike, parse the channel's texts alike, hold a flood to the same
// pace, and remember the same received ids.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import chatVectors from '../../../../src-tauri/core/tests/vectors/chat.json';
import messageVectors from '../../../../src-tauri/core/tests/vectors/chat_messages.json';
import rateVectors from '../../../../src-tauri/core/tests/vectors/chat_ratelimit.json';
import seenVectors from '../../../../src-tauri/core/tests/vectors/chat_seen.json';
import { Chat } from './chat.svelte';
import { caseText, expand } from '../vectors.testing';
import { parseChannelMessage } from './message';
import { ChatRateLimit, type Admission } from './ratelimit';
import { SeenIds } from './seen';

interface Step {
  room?: string[];
  now?: number;
  send?: string;
  as?: string;
  open?: string;
  from?: string;
  ack?: string;
  read?: string[];
  text?: unknown;
  raw?: string;
  shown?: { id: string; body: string; sentAt: number };
  left?: string;
  renamed?: [string, string];
  out?: Array<[string, string | object]>;
  delivered?: Record<string, boolean>;
}

/** The clock when a case does not set it. */
const DEFAULT_NOW = 1_700_000_000_000;

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(DEFAULT_NOW);
});
afterEach(() => vi.useRealTimers());

describe('shared chat delivery vectors', () => {
  it.each(chatVectors.cases)('$name', ({ steps }) => {
    let room: string[] = [];
    const out: Array<[string, string]> = [];
    const chat = new Chat(
      { peers: () => room, send: (peer, text) => out.push([peer, text]) > 0, nameOf: (peer) => peer },
      () => 'Ann',
      undefined,
      { readReceipts: false, typing: false },
      () => false,
    );
    const ids = new Map<string, string>();
    const mine = (name: string) => chat.lines.find((l) => l.mine && l.id === ids.get(name));
    for (const [i, step] of (steps as Step[]).entries()) {
      const where = `step ${i}: ${JSON.stringify(step)}`;
      out.length = 0;
      const shownBefore = chat.lines.filter((l) => !l.mine).length;
      if (step.room) room = step.room;
      if (step.now !== undefined) vi.setSystemTime(step.now);
      if (step.send !== undefined) {
        expect(chat.send(step.send), where).toBe(true);
        ids.set(step.as!, chat.lines.at(-1)!.id);
      }
      if (step.open) chat.flush(step.open);
      if (step.from) {
        const text =
          step.raw ??
          JSON.stringify(step.ack ? { t: 'ack', id: ids.get(step.ack) } : step.read ? { t: 'read', ids: step.read.map((n) => ids.get(n)) } : step.text);
        chat.receive(step.from, text);
        const shown = chat.lines.filter((l) => !l.mine).slice(shownBefore);
        expect(
          shown.map(({ id, body, sentAt }) => ({ id, body, sentAt })),
          where,
        ).toEqual(step.shown ? [step.shown] : []);
      }
      if (step.left) chat.peerLeft(step.left);
      if (step.renamed) chat.peerRenamed(...step.renamed);
      if (step.out) {
        const expected = step.out.map(([peer, what]) => [peer, typeof what === 'string' ? { t: 'msg', id: ids.get(what) } : what]);
        const actual = out.map(([peer, text]) => {
          const sent = JSON.parse(text) as { t: string; id: string };
          return [peer, sent.t === 'msg' ? { t: 'msg', id: sent.id } : sent];
        });
        expect(actual, where).toEqual(expected);
      }
      for (const [name, delivered] of Object.entries(step.delivered ?? {})) {
        expect(['delivered', 'read'].includes(mine(name)!.status), `${where}: ${name}`).toBe(delivered);
      }
    }
  });
});

describe('shared chat message vectors', () => {
  it.each(messageVectors.cases)('$name', (c) => {
    expect(parseChannelMessage(caseText(c))).toEqual(expand(c.parsed));
  });
});

interface RateStep {
  at_ms?: number;
  released?: Array<[string, string]>;
  from?: string;
  count?: number;
  admitted?: Record<Admission, number>;
  gone?: string;
  renamed?: [string, string];
}

describe('shared chat rate limit vectors', () => {
  it.each(rateVectors.cases)('$name', async ({ steps }) => {
    vi.setSystemTime(0);
    const released: Array<[string, string]> = [];
    const limit = new ChatRateLimit((peer, text) => released.push([peer, text]));
    const sent = new Map<string, number>();
    for (const [i, step] of (steps as RateStep[]).entries()) {
      const where = `step ${i}: ${JSON.stringify(step)}`;
      released.length = 0;
      if (step.at_ms !== undefined) await vi.advanceTimersByTimeAsync(step.at_ms - Date.now());
      if (step.released) expect(released, where).toEqual(step.released);
      if (step.from) {
        const admitted: Record<Admission, number> = { now: 0, later: 0, dropped: 0 };
        for (let n = 0; n < step.count!; n++) {
          const number = (sent.get(step.from) ?? 0) + 1;
          sent.set(step.from, number);
          admitted[limit.admit(step.from, `${step.from} ${number}`)] += 1;
        }
        expect(admitted, where).toEqual(step.admitted);
      }
      if (step.gone) limit.peerGone(step.gone);
      if (step.renamed) limit.peerRenamed(...step.renamed);
    }
    limit.close();
  });
});

interface SeenStep {
  add?: [string, string];
  adds?: string;
  count?: number;
  has?: [string, string];
  is?: boolean;
  rename?: [string, string];
}

describe('shared seen-ids vectors', () => {
  it.each(seenVectors.cases)('$name', ({ steps }) => {
    const seen = new SeenIds();
    const counts = new Map<string, number>();
    for (const [i, step] of (steps as SeenStep[]).entries()) {
      if (step.add) seen.add(...step.add);
      if (step.adds) {
        for (let n = 0; n < step.count!; n++) {
          const number = (counts.get(step.adds) ?? 0) + 1;
          counts.set(step.adds, number);
          seen.add(step.adds, `${step.adds}-${number}`);
        }
      }
      if (step.has) expect(seen.has(...step.has), `step ${i}: ${JSON.stringify(step)}`).toBe(step.is);
      if (step.rename) seen.rename(...step.rename);
    }
  });
});
