// This device's identity: one DTLS certificate, kept in IndexedDB and used by every peer connection, so the
// safety code of two devices stays the same across visits, reloads and calls, and can be verified once.
// Contacts marked as verified are kept with the certificate fingerprint they had; a verified contact whose
// fingerprint changed is a warning, an unverified one is simply new (docs/security.md, Device identity).
// "Forget this device" erases both.

import { deleteDB, openDB, type DBSchema, type IDBPDatabase } from 'idb';
// A certificate is made for a year and replaced a month before it expires (the code then changes), as the app's.
import { IDENTITY_LIFETIME_MS as LIFETIME_MS, IDENTITY_RENEW_BEFORE_MS as RENEW_BEFORE_MS } from './core.gen';

export const IDENTITY_DB = 'p2pchat-identity';
const DEVICE_KEY = 'device';

/** A contact verified by comparing codes: the name they go by and the fingerprint their device had. */
export interface VerifiedContact {
  name: string;
  fingerprint: string;
  verifiedAt: number;
}

interface Schema extends DBSchema {
  certificates: { key: string; value: RTCCertificate };
  verified: { key: string; value: VerifiedContact };
}

/** How a connected person's device compares with what was verified for their name. */
export type IdentityStatus = 'verified' | 'changed' | 'new';

export function identityStatus(verified: VerifiedContact | undefined, fingerprint: string | undefined): IdentityStatus {
  if (!verified || !fingerprint) return 'new';
  return verified.fingerprint === fingerprint ? 'verified' : 'changed';
}

let db: Promise<IDBPDatabase<Schema> | null> | null = null;
let certificate: Promise<RTCCertificate | undefined> | null = null;

function open(): Promise<IDBPDatabase<Schema> | null> {
  db ??= (async () => {
    try {
      if (typeof indexedDB === 'undefined') return null;
      return await openDB<Schema>(IDENTITY_DB, 1, {
        upgrade(d) {
          d.createObjectStore('certificates');
          d.createObjectStore('verified', { keyPath: 'name' });
        },
        // Another tab forgets this device: let it delete the database.
        blocking(_current, _next, event) {
          (event.target as IDBDatabase).close();
          db = null;
          certificate = null;
        },
      });
    } catch {
      return null;
    }
  })();
  return db;
}

/**
 * This device's certificate for every peer connection: the stored one, or a new one (ECDSA P-256) when
 * there is none or it expires within a month. Undefined where the page cannot keep one (no IndexedDB or
 * no RTCPeerConnection): connections then get a fresh certificate each, as browsers do by default.
 */
export function deviceCertificate(now = Date.now()): Promise<RTCCertificate | undefined> {
  certificate ??= (async () => {
    if (typeof RTCPeerConnection === 'undefined') return undefined;
    const store = await open();
    try {
      const kept = await store?.get('certificates', DEVICE_KEY);
      if (kept && kept.expires - now > RENEW_BEFORE_MS) return kept;
      const made = await RTCPeerConnection.generateCertificate({
        name: 'ECDSA',
        namedCurve: 'P-256',
        expires: LIFETIME_MS,
      } as AlgorithmIdentifier);
      await store?.put('certificates', made, DEVICE_KEY);
      return made;
    } catch {
      return undefined;
    }
  })();
  return certificate;
}

/** The sha-256 fingerprint of a certificate as safety codes write it (`sha-256 AB:CD:…`). */
export function fingerprintOfCertificate(cert: RTCCertificate): string | undefined {
  const found = cert.getFingerprints().find((f) => f.algorithm?.toLowerCase() === 'sha-256');
  return found?.value ? `sha-256 ${found.value.toUpperCase()}` : undefined;
}

/** What was verified for `name`, if anything. */
export async function verifiedContact(name: string): Promise<VerifiedContact | undefined> {
  return (await open())?.get('verified', name);
}

/** Remembers that the person called `name` showed the same code on a device with `fingerprint`. */
export async function markVerified(name: string, fingerprint: string): Promise<VerifiedContact> {
  const contact = { name, fingerprint, verifiedAt: Date.now() };
  await (await open())?.put('verified', contact);
  return contact;
}

/** Erases this device's certificate and verified contacts (part of "forget this device"). */
export async function forgetIdentity(): Promise<void> {
  (await db)?.close();
  db = null;
  certificate = null;
  await deleteDB(IDENTITY_DB);
}
