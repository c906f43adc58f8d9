// Local camera and microphone: asks for what the call needs and falls back (video+audio → audio only →
// none) with a message a person can act on when permission is denied or a device is missing. Also the
// screen to share.

export interface LocalMedia {
  stream: MediaStream | null;
  /** Set when the call runs with less than requested, e.g. "Camera not found: audio only". */
  notice: string | null;
  /** Media that lives outside the page (the app's native capture): its switches, instead of the tracks'. */
  control?: MediaControl;
}

/** Mute, camera off and stop for media the page holds no tracks of. */
export interface MediaControl {
  setMuted(muted: boolean): void;
  setCameraOff(off: boolean): void;
  stop(): void;
}

export interface DeviceChoice {
  cameraId?: string;
  microphoneId?: string;
}

function describe(err: unknown, what: string): string {
  const name = err instanceof DOMException ? err.name : '';
  if (name === 'NotAllowedError' || name === 'SecurityError') return `${what} permission was denied`;
  if (name === 'NotFoundError' || name === 'OverconstrainedError') return `no ${what.toLowerCase()} was found`;
  if (name === 'NotReadableError') return `the ${what.toLowerCase()} is in use by another program`;
  return `the ${what.toLowerCase()} could not be started`;
}

export async function getLocalMedia(choice: DeviceChoice = {}): Promise<LocalMedia> {
  if (!navigator.mediaDevices?.getUserMedia) {
    return { stream: null, notice: 'This browser cannot use a camera or microphone here (a secure https page is needed): chat only.' };
  }
  const audio: MediaTrackConstraints | boolean = choice.microphoneId ? { deviceId: { exact: choice.microphoneId } } : true;
  const video: MediaTrackConstraints = choice.cameraId
    ? { deviceId: { exact: choice.cameraId }, width: { ideal: 1280 }, height: { ideal: 720 } }
    : { width: { ideal: 1280 }, height: { ideal: 720 } };
  try {
    return { stream: await navigator.mediaDevices.getUserMedia({ audio, video }), notice: null };
  } catch (videoError) {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio });
      return { stream, notice: `Camera unavailable (${describe(videoError, 'Camera')}): audio only.` };
    } catch (audioError) {
      return { stream: null, notice: `Camera and microphone unavailable (${describe(audioError, 'Microphone')}): you can still chat.` };
    }
  }
}

/** Whether this browser can share a screen at all (phone browsers cannot). */
export function canShareScreen(): boolean {
  return typeof navigator !== 'undefined' && typeof navigator.mediaDevices?.getDisplayMedia === 'function';
}

/** A screen, window or tab the person picks, for sharing instead of the camera (video only). */
export async function getScreen(): Promise<LocalMedia> {
  if (!navigator.mediaDevices?.getDisplayMedia) {
    return { stream: null, notice: 'This browser cannot share the screen here.' };
  }
  try {
    return { stream: await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false }), notice: null };
  } catch (err) {
    // Closing the picker is a choice, not a problem worth a notice.
    if (err instanceof DOMException && err.name === 'NotAllowedError') return { stream: null, notice: null };
    return { stream: null, notice: `Screen sharing unavailable (${describe(err, 'Screen')}).` };
  }
}

export async function listDevices(): Promise<{ cameras: MediaDeviceInfo[]; microphones: MediaDeviceInfo[] }> {
  const devices = (await navigator.mediaDevices?.enumerateDevices?.()) ?? [];
  return {
    cameras: devices.filter((d) => d.kind === 'videoinput'),
    microphones: devices.filter((d) => d.kind === 'audioinput'),
  };
}

export function stopMedia(stream: MediaStream | null): void {
  for (const track of stream?.getTracks() ?? []) track.stop();
}
