// Safety codes from the cases shared with the app's native links (src-tauri/core/tests/vectors/safety.json):
// both derive the same code from the same descriptions, so a browser and an app compare equal.
import { describe, expect, it } from 'vitest';
import vectors from '../../../src-tauri/core/tests/vectors/safety.json';
import { codeOfFingerprints, fingerprintOf, safetyCode } from './safety';

describe('shared safety vectors', () => {
  it.each(vectors.fingerprints)('fingerprint: $name', ({ sdp, fingerprint }) => {
    expect(fingerprintOf(sdp)).toBe(fingerprint);
  });

  it.each(vectors.codes)('code: $name', async ({ local, remote, code }) => {
    expect(await safetyCode(local, remote)).toBe(code);
  });
});

describe('safety codes', () => {
  it('are four groups of five digits, the same in either order, different for another certificate', async () => {
    const code = await codeOfFingerprints('sha-256 AA:BB', 'sha-256 CC:DD');
    expect(code).toMatch(/^\d{5} \d{5} \d{5} \d{5}$/);
    expect(await codeOfFingerprints('sha-256 CC:DD', 'sha-256 AA:BB')).toBe(code);
    expect(await codeOfFingerprints('sha-256 AA:BB', 'sha-256 CC:DE')).not.toBe(code);
  });

  it('are missing without both descriptions', async () => {
    expect(await safetyCode(undefined, 'a=fingerprint:sha-256 AA')).toBeNull();
  });
});
