// Verified contacts (identity.ts) in IndexedDB: kept by name with the fingerprint they had, compared with the
// fingerprint a link shows, and erased by "forget this device". (The certificate itself needs a browser's
// RTCPeerConnection: tests/e2e/identity.test.mjs.)
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { forgetIdentity, identityStatus, markVerified, verifiedContact } from './identity';

const BOB = 'sha-256 AA:BB';
const OTHER = 'sha-256 CC:DD';

describe('verified contacts', () => {
  it('a verified device is verified, another device under the same name has changed, anyone else is new', async () => {
    await markVerified('Bob', BOB);
    const bob = await verifiedContact('Bob');
    expect(identityStatus(bob, BOB)).toBe('verified');
    expect(identityStatus(bob, OTHER)).toBe('changed');
    expect(identityStatus(await verifiedContact('Carol'), BOB)).toBe('new');
    expect(identityStatus(bob, undefined)).toBe('new');
  });

  it('forgetting this device erases them', async () => {
    await markVerified('Bob', BOB);
    await forgetIdentity();
    expect(await verifiedContact('Bob')).toBeUndefined();
  });
});
