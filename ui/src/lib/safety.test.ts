// Safety codes from the cases shared with the app's native links (src-tauri/core/tests/vectors/safety.json):
// both derive the same code from the same descriptions, so a browser and an app compare equal.
import { describe, expect, it } from 'vitest';
import vectors from '../../../src-tauri/core/tests/vectors/safety.json';
import { codeOfFingerprints, connectionFingerprints, fingerprintOf } from './safety';

describe('shared safety vectors', () => {
  it.each(vectors.fingerprints)('fingerprint: $name', ({ sdp, fingerprint }) => {
    expect(fingerprintOf(sdp)).toBe(fingerprint);
  });

  it.each(vectors.codes)('code: $name', async ({ local, remote, code }) => {
    const [a, b] = [fingerprintOf(local), fingerprintOf(remote)];
    expect(a && b && (await codeOfFingerprints(a, b))).toBe(code);
  });
});

describe('safety codes', () => {
  it('are four groups of five digits, the same in either order, different for another certificate', async () => {
    const code = await codeOfFingerprints('sha-256 AA:BB', 'sha-256 CC:DD');
    expect(code).toMatch(/^\d{5} \d{5} \d{5} \d{5}$/);
    expect(await codeOfFingerprints('sha-256 CC:DD', 'sha-256 AA:BB')).toBe(code);
    expect(await codeOfFingerprints('sha-256 AA:BB', 'sha-256 CC:DE')).not.toBe(code);
  });
});

describe('connectionFingerprints', () => {
  const stats = (reports: Array<Record<string, unknown>>) => new Map(reports.map((r) => [r.id as string, r]));
  const pc = (reports: Array<Record<string, unknown>>, remoteSdp = 'a=fingerprint:sha-256 99:99') =>
    ({
      getStats: async () => stats(reports),
      currentLocalDescription: { sdp: 'a=fingerprint:sha-256 11:11' },
      currentRemoteDescription: { sdp: remoteSdp },
    }) as unknown as RTCPeerConnection;

  it('takes the certificates DTLS used, not what the latest description announces', async () => {
    const reports = [
      { id: 't', type: 'transport', dtlsState: 'connected', localCertificateId: 'l', remoteCertificateId: 'r' },
      { id: 'l', type: 'certificate', fingerprintAlgorithm: 'sha-256', fingerprint: 'aa:bb' },
      { id: 'r', type: 'certificate', fingerprintAlgorithm: 'sha-256', fingerprint: 'cc:dd' },
    ];
    expect(await connectionFingerprints(pc(reports))).toEqual({ local: 'sha-256 AA:BB', remote: 'sha-256 CC:DD' });
  });

  it('falls back to the current descriptions where the browser reports no certificates', async () => {
    expect(await connectionFingerprints(pc([]))).toEqual({ local: 'sha-256 11:11', remote: 'sha-256 99:99' });
    expect(await connectionFingerprints(pc([], ''))).toBeNull();
  });
});
