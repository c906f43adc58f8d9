// Picks the transport adapter: the Rust backend inside the Tauri app, a WebSocket in a browser.
import { BrowserTransport } from './browser';
import { TauriTransport, inTauri } from './tauri';
import type { Transport } from './types';

export function createTransport(): Transport {
  return inTauri() ? new TauriTransport() : new BrowserTransport();
}
