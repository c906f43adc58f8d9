// The test hook's signal trace: bounded to the newest events, in order, and off in a production page unless
// a test switched test hooks on before the page loaded.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SignalTrace, TRACE_CAPACITY, testHooksEnabled } from './trace';

afterEach(() => {
  vi.unstubAllEnvs();
  vi.unstubAllGlobals();
});

describe('SignalTrace', () => {
  it(`keeps the newest ${TRACE_CAPACITY} events, oldest first, with their time`, () => {
    let now = Date.UTC(2025, 0, 1, 12, 0, 0);
    const trace = new SignalTrace(TRACE_CAPACITY, () => now++);
    trace.record('first');
    expect(trace.entries()).toEqual(['12:00:00.000 first']);
    for (let i = 1; i <= 2 * TRACE_CAPACITY + 5; i++) trace.record(`e${i}`);
    const entries = trace.entries();
    expect(entries).toHaveLength(TRACE_CAPACITY);
    expect(entries[0]).toMatch(/ e206$/);
    expect(entries.at(-1)).toMatch(/ e405$/);
  });
});

describe('testHooksEnabled', () => {
  it('is off in a production build unless the page was told before it loaded', () => {
    vi.stubEnv('DEV', false);
    expect(testHooksEnabled()).toBe(false);
    vi.stubGlobal('__p2pchatTestHooks', true);
    expect(testHooksEnabled()).toBe(true);
  });
});
