// Ringing, run from the cases shared with the native Ring (src-tauri/core/tests/vectors/ring.json,
// src-tauri/core/src/media/ring.rs): both ring, answer, time out, refuse when busy, resolve glare and take
// early accepts alike. Peer links and the camera are fakes; what is compared is the call signals sent and
// where ringing stands.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import vectors from '../../../../src-tauri/core/tests/vectors/ring.json';
import type { SignalData } from '../protocol.gen';
import { Call, type MediaLink } from './call.svelte';

interface Step {
  room?: string[];
  place?: boolean;
  answer?: boolean;
  decline?: boolean;
  hangup?: boolean;
  from?: string;
  signal?: Record<string, unknown>;
  gone?: string;
  wait_ms?: number;
  sent?: unknown[];
  phase?: string;
  participants?: string[];
}

/** Told only to the rest of the room by the web UI (joining a call in progress), not part of ringing. */
const ANNOUNCEMENTS = new Set(['in-call', 'left-call']);

const stream = { getTracks: () => [], getAudioTracks: () => [], getVideoTracks: () => [] } as unknown as MediaStream;
const link: MediaLink = {
  setLocalMedia: () => undefined,
  prepareLocalMedia: () => undefined,
  clearLocalMedia: () => undefined,
  shareVideo: () => undefined,
  videoSender: () => undefined,
  measure: async () => null,
};

beforeEach(() => vi.useFakeTimers());
afterEach(() => vi.useRealTimers());

describe('shared ringing vectors', () => {
  it.each(vectors.cases)('$name', async ({ steps }) => {
    let room: string[] = [];
    const sent: Array<{ to: string; data: SignalData }> = [];
    const call = new Call(
      { peers: () => room, nameOf: (p) => p, signal: (to, data) => sent.push({ to, data }), link: () => link, system: () => undefined },
      async () => ({ stream, notice: null }),
    );
    let ours = '';
    const label = (id: unknown) => (id === ours ? 'ours' : id);
    for (const [i, step] of (steps as Step[]).entries()) {
      const where = `step ${i}: ${JSON.stringify(step)}`;
      sent.length = 0;
      if (step.room) room = step.room;
      if (step.place) {
        await call.start();
        ours = call.id ?? '';
      }
      if (step.answer) await call.accept();
      if (step.decline) call.decline();
      if (step.hangup) call.hangup();
      if (step.from) call.onSignal(step.from, { ...step.signal, call: step.signal!.call === 'ours' ? ours : step.signal!.call } as SignalData);
      if (step.gone) call.peerGone(step.gone);
      if (step.wait_ms !== undefined) await vi.advanceTimersByTimeAsync(step.wait_ms);
      if (step.sent) {
        const signals = sent
          .filter(({ data }) => !ANNOUNCEMENTS.has(data.kind))
          .map(({ to, data }) => {
            const id = label((data as { call?: string }).call);
            if (data.kind !== 'invite') return [to, data.kind, id];
            return [to, 'invite', id, data.peers ? [...data.peers].sort() : null];
          });
        const order = (list: unknown[]) => list.map((s) => JSON.stringify(s)).sort();
        expect(order(signals), where).toEqual(order(step.sent));
      }
      if (step.phase) expect(call.phase, where).toBe(step.phase);
      if (step.participants) expect([...call.participants].sort(), where).toEqual(step.participants);
    }
  });
});
