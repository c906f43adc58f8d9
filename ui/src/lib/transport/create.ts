// Picks the transport adapter: the Rust backend inside the Tauri app, a WebSocket in a browser.
import { BrowserTransport } from './browser';
import { TauriTransport, inTauri } from './tauri';
import type { Transport } from './types';

/** `serverUrl` is only used in the app; a browser always talks to the server that served the page. */
export function createTransport(serverUrl?: string): Transport {
  return inTauri() ? new TauriTransport(serverUrl) : new BrowserTransport();
}
