// A Transport for unit tests: the test emits server frames and reads the signals the room sent.
// Imported only by tests (*.test.ts), so the app bundle never contains it.

import type { ServerFrame, SignalData } from '../protocol.gen';
import { Listeners, type ConnectionState, type PushFrame, type SfuFrame, type Transport } from './types';

export class FakeTransport implements Transport {
  readonly frames = new Listeners<ServerFrame>();
  readonly states = new Listeners<ConnectionState>();
  readonly signals: Array<{ to: string; data: SignalData }> = [];
  readonly pushes: PushFrame[] = [];
  readonly sfuFrames: SfuFrame[] = [];
  connect() {}
  join() {}
  leave() {}
  signal(_room: string, to: string, data: SignalData) {
    this.signals.push({ to, data });
  }
  pushFrame(frame: PushFrame) {
    this.pushes.push(frame);
  }
  sfuFrame(frame: SfuFrame) {
    this.sfuFrames.push(frame);
  }
  onFrame(listener: (frame: ServerFrame) => void) {
    return this.frames.add(listener);
  }
  onState(listener: (state: ConnectionState) => void) {
    return this.states.add(listener);
  }
  close() {}
}
