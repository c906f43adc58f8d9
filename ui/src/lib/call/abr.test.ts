// Protects call quality on bad networks: recorded stat sequences where loss/RTT rise and recover must
// lower the sender's limits promptly and restore full quality without oscillating.
import { describe, expect, it } from 'vitest';
import vectors from '../../../../src-tauri/core/tests/vectors/abr.json';
import { FULL_QUALITY, nextLimits, type EncodingLimits, type QualitySample } from './abr';

/** Runs the controller over a recorded sequence, as the call does every 2 s. */
function replay(sequence: QualitySample[], start: EncodingLimits = FULL_QUALITY): EncodingLimits[] {
  const out: EncodingLimits[] = [];
  let limits = start;
  for (let i = 0; i < sequence.length; i++) {
    limits = nextLimits(sequence.slice(0, i + 1), limits);
    out.push(limits);
  }
  return out;
}

const good = { loss: 0, rttMs: 40 };
const lossy = { loss: 0.15, rttMs: 80 };
const slow = { loss: 0.01, rttMs: 650 };

describe('nextLimits', () => {
  it('keeps full quality on a clean path', () => {
    expect(replay([good, good, good, good]).at(-1)).toEqual(FULL_QUALITY);
  });

  it('cuts bitrate at once when loss rises, down to the floor, then resolution, then frame rate', () => {
    const steps = replay(Array(10).fill(lossy));
    expect(steps[0]!.maxBitrate).toBe(900_000);
    expect(steps.map((s) => s.maxBitrate).every((b, i, all) => i === 0 || b <= all[i - 1]!)).toBe(true);
    const last = steps.at(-1)!;
    expect(last.maxBitrate).toBe(150_000);
    expect(last.scaleResolutionDownBy).toBe(4);
    expect(last.maxFramerate).toBe(15);
  });

  it('reacts to RTT as well as loss', () => {
    expect(replay([slow])[0]!.maxBitrate).toBeLessThan(FULL_QUALITY.maxBitrate);
  });

  it('recovers only after three clean samples and step by step', () => {
    const degraded = replay(Array(10).fill(lossy)).at(-1)!;
    const recovery = replay([good, good, good, good, good], degraded);
    expect(recovery[0]).toEqual(degraded);
    expect(recovery[1]).toEqual(degraded);
    expect(recovery[2]!.maxFramerate).toBe(30);
    expect(recovery[3]!.scaleResolutionDownBy).toBe(2);
    const full = replay(Array(30).fill(good), degraded).at(-1);
    expect(full).toEqual(FULL_QUALITY);
  });

  it('does not climb while the path is only middling', () => {
    const middling = { loss: 0.04, rttMs: 250 };
    const start = { ...FULL_QUALITY, maxBitrate: 500_000 };
    expect(replay(Array(6).fill(middling), start).at(-1)).toEqual(start);
  });
});

interface Limits {
  max_bitrate: number;
  scale_down_by: number;
  max_framerate: number;
}
const fromVector = (l: Limits): EncodingLimits => ({ maxBitrate: l.max_bitrate, scaleResolutionDownBy: l.scale_down_by, maxFramerate: l.max_framerate });

// The same cases as the native sender (src-tauri/core/src/media/abr.rs): both back off and recover alike.
describe('shared ABR vectors', () => {
  it.each(vectors.cases)('$name', (c) => {
    const start = 'start' in c ? fromVector(c.start as Limits) : FULL_QUALITY;
    const samples = c.samples.map((s) => ({ loss: s.loss, rttMs: s.rtt_ms }));
    expect(replay(samples, start)).toEqual(c.expect.map(fromVector));
  });
});
