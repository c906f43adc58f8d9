// The UI's one command wrapper: failures arrive as typed {kind, message}, and a command nobody waits for
// reports its failure instead of becoming an unhandled rejection.
import { beforeEach, describe, expect, it, vi } from 'vitest';

const invoke = vi.fn();
vi.mock('@tauri-apps/api/core', () => ({ invoke: (...args: unknown[]) => invoke(...args) }));

const { call, describeError, onCommandFailure, send } = await import('./ipc');

describe('call', () => {
  beforeEach(() => invoke.mockReset());

  it('passes the arguments to the command (a plugin\'s through its path) and resolves with the result', async () => {
    invoke.mockResolvedValueOnce(true);
    await expect(call('room_muted', { room: 'team' })).resolves.toBe(true);
    expect(invoke).toHaveBeenCalledWith('plugin:history|room_muted', { room: 'team' });
    invoke.mockResolvedValueOnce('offline');
    await call('connection_state');
    expect(invoke).toHaveBeenLastCalledWith('connection_state', {});
  });

  it('sends bytes as the raw body and the other arguments as headers', async () => {
    invoke.mockResolvedValueOnce(3);
    const data = new Uint8Array([104, 101, 108]);
    await expect(call('file_send_chunk', { upload: 'up-1', offset: 0, data })).resolves.toBe(3);
    expect(invoke).toHaveBeenCalledWith('plugin:files|file_send_chunk', data, { headers: { upload: 'up-1', offset: '0' } });
  });

  it('rejects with the command error the app sent', async () => {
    invoke.mockRejectedValueOnce({ kind: 'disk_full', message: 'the disk is full: no space' });
    const error = await call('mark_read', { room: 'team', up_to: 1 }).catch((e: unknown) => e);
    expect(error).toEqual({ kind: 'disk_full', message: 'the disk is full: no space' });
    expect(describeError(error)).toMatch(/disk is full/);
  });

  it('turns an IPC failure that is no command error into `unavailable`', async () => {
    invoke.mockRejectedValueOnce('command join_room not allowed');
    await expect(call('join_room', { room: 'x' })).rejects.toEqual({ kind: 'unavailable', message: 'command join_room not allowed' });
  });
});

describe('send', () => {
  it('reports a failure to the listeners, with the command it came from', async () => {
    const heard: unknown[] = [];
    const stop = onCommandFailure((f) => heard.push(f));
    invoke.mockRejectedValueOnce({ kind: 'not_connected', message: 'not connected to the signaling server' });
    send('leave_room', { room: 'team' });
    await vi.waitFor(() => expect(heard).toHaveLength(1));
    expect(heard[0]).toEqual({ command: 'leave_room', error: { kind: 'not_connected', message: 'not connected to the signaling server' } });
    stop();
  });
});
