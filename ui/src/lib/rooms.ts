// Input rules of the join screen. Room names follow the protocol: 1–64 characters of A–Z a–z 0–9 . _ -
export function isValidRoomName(room: string): boolean {
  return /^[A-Za-z0-9._-]{1,64}$/.test(room);
}

/** A signaling server address the app accepts: ws(s):// or http(s):// with a host. */
export function isServerUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return ['ws:', 'wss:', 'http:', 'https:'].includes(url.protocol) && url.hostname.length > 0;
  } catch {
    return false;
  }
}
