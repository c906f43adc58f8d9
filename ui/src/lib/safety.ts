// Safety codes: a short number derived from both DTLS certificate fingerprints of one peer connection, the
// same at both ends, that two people compare by voice. The signaling server relays the SDP that carries the
// fingerprints, so it could swap them and sit in the middle of a link; it cannot make both ends show the same
// code (docs/security.md, Safety codes). The app's native links derive the same code
// (src-tauri/core/src/links/safety.rs); both run the cases in src-tauri/core/tests/vectors/safety.json.

// Digest prefix (the hash means nothing outside this use); 4 groups of 5 digits (≈ 66 bits), each from 5
// digest bytes (40 bits: mod 10^5 is uniform to 10^-7): the native links' numbers, generated.
import {
  SAFETY_DIGITS as DIGITS, SAFETY_DOMAIN as DOMAIN, SAFETY_GROUP_BYTES as GROUP_BYTES, SAFETY_GROUPS as GROUPS,
} from './core.gen';

/**
 * The DTLS certificate fingerprint `sdp` announces, normalised as `sha-256 AB:CD:…` (algorithm lower case,
 * hex upper case): the sha-256 line if there is one, else the first well-formed one.
 */
export function fingerprintOf(sdp: string): string | null {
  const found: string[] = [];
  for (const raw of sdp.split('\n')) {
    const line = raw.trim();
    if (!line.startsWith('a=fingerprint:')) continue;
    const normal = normalise(line.slice('a=fingerprint:'.length));
    if (normal) found.push(normal);
  }
  return found.find((f) => f.startsWith('sha-256 ')) ?? found[0] ?? null;
}

function normalise(value: string): string | null {
  const trimmed = value.trim();
  const space = trimmed.indexOf(' ');
  if (space <= 0) return null;
  const algorithm = trimmed.slice(0, space);
  const hex = trimmed.slice(space + 1).trim();
  if (!hex.split(':').every((b) => /^[0-9a-fA-F]{2}$/.test(b))) return null;
  return `${algorithm.toLowerCase()} ${hex.toUpperCase()}`;
}

/** The code of a connection whose ends announce fingerprints `a` and `b`, in either order. */
export async function codeOfFingerprints(a: string, b: string): Promise<string> {
  const [lo, hi] = a <= b ? [a, b] : [b, a];
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(`${DOMAIN}${lo}\n${hi}`)));
  const groups: string[] = [];
  for (let g = 0; g < GROUPS; g++) {
    // 40 bits fit a double exactly.
    let n = 0;
    for (const byte of digest.subarray(g * GROUP_BYTES, (g + 1) * GROUP_BYTES)) n = n * 256 + byte;
    groups.push(String(n % 10 ** DIGITS).padStart(DIGITS, '0'));
  }
  return groups.join(' ');
}

/** Both DTLS certificate fingerprints of a connection, normalised as `fingerprintOf` writes them. */
export interface LinkFingerprints {
  local: string;
  remote: string;
}

/**
 * The fingerprints of the certificates a connected `pc` actually uses: ours and the one DTLS verified
 * for the peer (getStats' certificate reports), not whatever a later description announces. Falls back to
 * the current descriptions where the browser reports no certificates.
 */
export async function connectionFingerprints(pc: RTCPeerConnection): Promise<LinkFingerprints | null> {
  try {
    const stats = await pc.getStats();
    const reports = [...stats.values()] as Array<Record<string, unknown>>;
    const transport = reports.find((r) => r.type === 'transport' && r.dtlsState === 'connected');
    const certificate = (id: unknown) => reports.find((r) => r.type === 'certificate' && r.id === id);
    const written = (r: Record<string, unknown> | undefined) =>
      typeof r?.fingerprint === 'string' && typeof r.fingerprintAlgorithm === 'string'
        ? normalise(`${r.fingerprintAlgorithm} ${r.fingerprint}`)
        : null;
    const local = written(certificate(transport?.localCertificateId));
    const remote = written(certificate(transport?.remoteCertificateId));
    if (local && remote) return { local, remote };
  } catch {
    // No stats: the descriptions below.
  }
  const local = fingerprintOf(pc.currentLocalDescription?.sdp ?? '');
  const remote = fingerprintOf(pc.currentRemoteDescription?.sdp ?? '');
  return local && remote ? { local, remote } : null;
}
