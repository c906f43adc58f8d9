// The file size limit: DEFAULT_MAX_FILE_BYTES unless this browser (or app window) set its own in
// localStorage under MAX_FILE_BYTES_KEY, as a whole number of bytes. It bounds both what we send and what
// we accept: a received file is held in memory (the browser may page it to disk) until it is saved.

import { DEFAULT_MAX_FILE_BYTES } from './wire';

export const MAX_FILE_BYTES_KEY = 'p2pchat.maxFileBytes';

export function maxFileBytes(): number {
  try {
    const value = Number(globalThis.localStorage?.getItem(MAX_FILE_BYTES_KEY) ?? '');
    if (Number.isSafeInteger(value) && value > 0) return value;
  } catch {
    // No storage (private mode, sandboxed frame): the default applies.
  }
  return DEFAULT_MAX_FILE_BYTES;
}
