// The browser history's encryption at rest: what a message says (its text, its sender's name, its error)
// is sealed with AES-GCM under this device's key, a non-extractable WebCrypto key that IndexedDB keeps as
// the CryptoKey object itself (script on the page can use it but never read it out). Each record has its
// own random 96-bit IV, and is bound to its (room, sender, id) key so a sealed text can't be moved to
// another message.

/** A record's private part, encrypted. */
export interface Sealed {
  iv: Uint8Array<ArrayBuffer>;
  data: ArrayBuffer;
}

/** What a stored message says, as it is sealed. */
export interface MessageContent {
  sender_name: string;
  body: string;
  error: string | null;
}

/** The history can't be read with this device's key (missing, replaced or damaged). */
export class HistoryLockedError extends Error {
  override name = 'HistoryLockedError';
}

export const LOCKED_NO_KEY =
  "This browser's chat history is encrypted, but its key is missing from this browser, so it can't be read. Nothing was deleted; \"Forget this device\" erases it and starts afresh.";
export const LOCKED_WRONG_KEY =
  "This browser's chat history can't be decrypted with this browser's key (the key was replaced or the history is damaged). Nothing was deleted; \"Forget this device\" erases it and starts afresh.";

export function newDeviceKey(): Promise<CryptoKey> {
  return crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
}

const bound = (recordKey: readonly string[]) => new TextEncoder().encode(JSON.stringify(recordKey));

export async function seal(key: CryptoKey, recordKey: readonly string[], content: MessageContent): Promise<Sealed> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const plain = new TextEncoder().encode(JSON.stringify([content.sender_name, content.body, content.error]));
  const data = await crypto.subtle.encrypt({ name: 'AES-GCM', iv, additionalData: bound(recordKey) }, key, plain);
  return { iv, data };
}

export async function open(key: CryptoKey, recordKey: readonly string[], sealed: Sealed): Promise<MessageContent> {
  let plain: ArrayBuffer;
  try {
    plain = await crypto.subtle.decrypt({ name: 'AES-GCM', iv: sealed.iv, additionalData: bound(recordKey) }, key, sealed.data);
  } catch {
    throw new HistoryLockedError(LOCKED_WRONG_KEY);
  }
  const [sender_name, body, error] = JSON.parse(new TextDecoder().decode(plain)) as [string, string, string | null];
  return { sender_name, body, error };
}
