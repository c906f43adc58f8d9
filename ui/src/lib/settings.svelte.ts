// The person's chat privacy choices, kept on this device (localStorage, in the browser and the app's
// webview alike): whether peers get read receipts from us and whether they see that we are typing.
// Both are on by default, as in most chat apps; turning one off stops sending it at once.

const KEY = 'p2pchat.chat-settings';

interface Stored {
  readReceipts: boolean;
  typing: boolean;
}

export class ChatSettings {
  readReceipts = $state(true);
  typing = $state(true);

  constructor(private readonly storage: Pick<Storage, 'getItem' | 'setItem'> | undefined = globalThis.localStorage) {
    const saved = this.load();
    this.readReceipts = saved.readReceipts;
    this.typing = saved.typing;
  }

  setReadReceipts(on: boolean): void {
    this.readReceipts = on;
    this.save();
  }

  setTyping(on: boolean): void {
    this.typing = on;
    this.save();
  }

  private load(): Stored {
    const defaults: Stored = { readReceipts: true, typing: true };
    try {
      const value: unknown = JSON.parse(this.storage?.getItem(KEY) ?? 'null');
      if (typeof value !== 'object' || value === null) return defaults;
      const v = value as Record<string, unknown>;
      return {
        readReceipts: typeof v.readReceipts === 'boolean' ? v.readReceipts : defaults.readReceipts,
        typing: typeof v.typing === 'boolean' ? v.typing : defaults.typing,
      };
    } catch {
      return defaults; // unreadable (edited by hand, storage blocked): the defaults
    }
  }

  private save(): void {
    try {
      this.storage?.setItem(KEY, JSON.stringify({ readReceipts: this.readReceipts, typing: this.typing } satisfies Stored));
    } catch {
      // Storage blocked or full: the choice holds for this page.
    }
  }
}

/** This device's settings, shared by every room. */
export const chatSettings = new ChatSettings();
