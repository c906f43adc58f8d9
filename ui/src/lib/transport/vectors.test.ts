// The reconnect rules shared with the app's Rust client, run from the same JSON cases
// (src-tauri/core/tests/vectors): both clients back off on the same curve and resume the same way.
import { describe, expect, it } from 'vitest';
import backoffVectors from '../../../../src-tauri/core/tests/vectors/backoff.json';
import sessionVectors from '../../../../src-tauri/core/tests/vectors/session.json';
import type { ServerFrame } from '../protocol.gen';
import { backoffDelay, DEFAULT_BACKOFF } from './backoff';
import { SessionTracker } from './session';

describe('shared backoff vectors', () => {
  it.each(backoffVectors.cases)('attempt $attempt, draw $random → $delay_ms ms', ({ attempt, random, delay_ms }) => {
    expect(backoffDelay(attempt, DEFAULT_BACKOFF, () => random)).toBe(delay_ms);
  });
});

interface Step {
  frame?: unknown;
  accept?: boolean;
  hello?: { name: string; token?: string };
  expect?: unknown;
}

describe('shared session vectors', () => {
  it.each(sessionVectors.cases)('$name', ({ steps }) => {
    const t = new SessionTracker();
    for (const step of steps as Step[]) {
      if (step.frame) expect(t.accept(step.frame as ServerFrame)).toBe(step.accept);
      else expect(t.hello(step.hello!.name, step.hello!.token)).toEqual(step.expect);
    }
  });
});
