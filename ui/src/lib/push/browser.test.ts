// This device's push identity in a browser (push/browser.ts): a random id and secret of the lengths the
// protocol takes, made once and kept in IndexedDB, the rooms it wants to be rung for, and "forget this
// device" erasing them (a new identity afterwards). IndexedDB here is fake-indexeddb; the server part of
// forgetting (a WebSocket) is left out by passing no server.
import 'fake-indexeddb/auto';
import { describe, expect, it } from 'vitest';
import { MAX_DEVICE_ID_CHARS, MAX_DEVICE_SECRET_CHARS, MIN_DEVICE_ID_CHARS, MIN_DEVICE_SECRET_CHARS } from '../protocol.gen';
import { forgetWebPush, fromBase64Url, toBase64Url, webPush } from './browser';

describe('push identity in a browser', () => {
  it('is made once, in the protocol\'s alphabet and lengths, and kept', async () => {
    const device = await webPush.device();
    expect(device.id).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(device.secret).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(device.id.length).toBeGreaterThanOrEqual(MIN_DEVICE_ID_CHARS);
    expect(device.id.length).toBeLessThanOrEqual(MAX_DEVICE_ID_CHARS);
    expect(device.secret.length).toBeGreaterThanOrEqual(MIN_DEVICE_SECRET_CHARS);
    expect(device.secret.length).toBeLessThanOrEqual(MAX_DEVICE_SECRET_CHARS);
    expect(await webPush.device()).toEqual(device);
  });

  it('remembers the rooms it wants to be rung for', async () => {
    await webPush.setWanted('team', true);
    await webPush.setWanted('other', true);
    await webPush.setWanted('other', false);
    expect(await webPush.wanted('team')).toBe(true);
    expect(await webPush.wanted('other')).toBe(false);
  });

  it('forget this device erases the id, the secret and the rooms', async () => {
    const before = await webPush.device();
    await webPush.setWanted('team', true);
    await forgetWebPush(null);
    expect(await webPush.wanted('team')).toBe(false);
    const after = await webPush.device();
    expect(after.id).not.toBe(before.id);
    expect(after.secret).not.toBe(before.secret);
  });

  it('base64url round trip (the server key the subscription is made with)', () => {
    const bytes = new Uint8Array([0, 251, 255, 62, 63, 4]);
    expect(toBase64Url(bytes)).toBe('APv_Pj8E');
    expect([...fromBase64Url('APv_Pj8E')]).toEqual([...bytes]);
  });
});
