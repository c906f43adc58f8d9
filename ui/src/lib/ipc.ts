// The one way the UI reaches the app's Rust side. `call(name, args)` is typed by the generated contract
// (ipc.gen.ts, from src-tauri/src/ipc): a wrong name, argument or result type fails the type check. A failed
// command rejects with a `CommandError` ({kind, message}) for the caller to show; a command nobody waits for
// (`send`) tells its failure to the failure listeners instead (the app shows it), so no failure is silent or
// an unhandled rejection.

import { invoke } from '@tauri-apps/api/core';
import { listen } from '@tauri-apps/api/event';
import { INVOKE, RAW_BODY, type CommandError, type Commands, type ErrorKind, type Events } from './ipc.gen';
import { Listeners } from './transport/types';

export type { CommandError, ErrorKind };

type Args<K extends keyof Commands> = Commands[K]['args'];
/** Commands whose arguments may all be left out take none. */
type ArgList<K extends keyof Commands> = Record<string, never> extends Args<K> ? [args?: Args<K>] : [args: Args<K>];

/** A failed command, as the failure listeners hear it. */
export interface CommandFailure {
  command: keyof Commands;
  error: CommandError;
}

const failures = new Listeners<CommandFailure>();

/** Hears every failed `send` (the app shows them). */
export function onCommandFailure(listener: (failure: CommandFailure) => void): () => void {
  return failures.add(listener);
}

/** Invokes `name` (through its path: `plugin:<plugin>|<name>` for the app's plugins' commands); rejects
 * with a `CommandError`. A command that takes bytes (`RAW_BODY`) gets them as the request's raw body and
 * its other arguments as headers. */
export async function call<K extends keyof Commands>(name: K, ...args: ArgList<K>): Promise<Commands[K]['result']> {
  try {
    const given = (args[0] ?? {}) as Record<string, unknown>;
    const raw = RAW_BODY[name];
    if (raw) {
      const { [raw]: body, ...rest } = given;
      const headers = Object.fromEntries(Object.entries(rest).map(([key, value]) => [key, String(value)]));
      return await invoke<Commands[K]['result']>(INVOKE[name], body as Uint8Array, { headers });
    }
    return await invoke<Commands[K]['result']>(INVOKE[name], given);
  } catch (err) {
    throw asCommandError(err);
  }
}

/** Invokes `name` without waiting; a failure reaches the failure listeners. */
export function send<K extends keyof Commands>(name: K, ...args: ArgList<K>): void {
  call(name, ...args).catch((error: CommandError) => failures.emit({ command: name, error }));
}

/** Listens to the app's event `name`; resolves to the function that stops listening. */
export function on<E extends keyof Events>(name: E, handler: (payload: Events[E]) => void): Promise<() => void> {
  return listen<Events[E]>(name, (event) => handler(event.payload));
}

/** Whatever a command rejected with, as a `CommandError` (the Rust side always sends one; IPC failures don't). */
export function asCommandError(err: unknown): CommandError {
  const e = err as Partial<CommandError> | null | undefined;
  if (e && typeof e === 'object' && typeof e.kind === 'string' && typeof e.message === 'string') {
    return { kind: e.kind, message: e.message };
  }
  return { kind: 'unavailable', message: err instanceof Error ? err.message : String(err) };
}

/** A sentence for the person reading it. */
export function describeError(err: unknown): string {
  const e = asCommandError(err);
  if (e.kind === 'disk_full') return 'The disk is full: this message is kept as pending and not saved to history.';
  return e.message;
}
