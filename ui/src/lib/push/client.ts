// "Ring me here when I'm away": what a room needs of the device to be rung by push while no page of it is
// open (docs/ui.md, Ringing people who are away). The browser's is Web Push through the service worker
// (push/browser.ts); a platform without one has none and the room hides the switch.

import type { PushSubscription as WirePushSubscription } from '../protocol.gen';

/** This device's registration identity: a random id and the secret that proves it (kept on the device). */
export interface PushDevice {
  id: string;
  secret: string;
}

export type Subscribed = { subscription: WirePushSubscription } | { refused: string };

export interface PushClient {
  /** This device's id and secret, made once and kept until "forget this device". */
  device(): Promise<PushDevice>;
  /** Whether the person asked to be rung here for `room` (then every join registers again, which renews it). */
  wanted(room: string): Promise<boolean>;
  setWanted(room: string, on: boolean): Promise<void>;
  /**
   * The subscription to register with the server's VAPID key (base64url), asking for permission to notify
   * when `ask` (only from the person's click), or why there is none.
   */
  subscribe(vapidKey: string, ask: boolean): Promise<Subscribed>;
}
