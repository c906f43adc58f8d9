// The SFU frame format byte for byte across both implementations: the cases in
// src-tauri/core/tests/vectors/sfu_frame.json were sealed by this file's sealFrame (fixed keys and IVs), and
// the native engine (src-tauri/core/src/sfu/frame.rs) opens them and seals the same bytes from them.
import { describe, expect, it } from 'vitest';
import vectors from '../../../../src-tauri/core/tests/vectors/sfu_frame.json';
import { importFrameKey, openFrame, sealFrame, type MediaKind } from './e2ee-frame';

const hex = (s: string) => Uint8Array.from(s.match(/../g) ?? [], (b) => parseInt(b, 16));
const toHex = (b: Uint8Array) => [...b].map((x) => x.toString(16).padStart(2, '0')).join('');

describe('SFU frame vectors (shared with the native engine)', () => {
  for (const c of vectors.cases) {
    it(c.name, async () => {
      const key = await importFrameKey(hex(c.key));
      const kind = c.kind as MediaKind;
      if (c.frame !== null) {
        expect(toHex(await sealFrame(key, c.key_id, kind, hex(c.frame), hex(c.iv)))).toBe(c.sealed);
      }
      const opened = await openFrame(key, kind, hex(c.sealed));
      expect(opened === null ? null : toHex(opened)).toBe(c.frame);
    });
  }
});
