// Adaptive bitrate: a pure function from the latest connection-quality samples to the video sender's
// encoding limits. The call applies the result with RTCRtpSender.setParameters every 2 s. It backs off fast
// on loss or delay and recovers slowly once the path has been clean for a while, so it does not oscillate.

export interface QualitySample {
  /** Fraction of video packets lost in the last interval, 0..1. */
  loss: number;
  /** Round-trip time in milliseconds. */
  rttMs: number;
}

export interface EncodingLimits {
  maxBitrate: number;
  scaleResolutionDownBy: number;
  maxFramerate: number;
}

export const FULL_QUALITY: EncodingLimits = { maxBitrate: 1_500_000, scaleResolutionDownBy: 1, maxFramerate: 30 };
const MIN_BITRATE = 150_000;
const MAX_SCALE = 4;
const LOW_FRAMERATE = 15;

const congested = (s: QualitySample) => s.loss > 0.08 || s.rttMs > 400;
const clean = (s: QualitySample) => s.loss < 0.02 && s.rttMs < 200;

/** Next limits given the samples so far (newest last) and the limits in force. */
export function nextLimits(samples: readonly QualitySample[], current: EncodingLimits): EncodingLimits {
  const latest = samples.at(-1);
  if (!latest) return current;
  if (congested(latest)) {
    if (current.maxBitrate > MIN_BITRATE) {
      return { ...current, maxBitrate: Math.max(MIN_BITRATE, Math.round(current.maxBitrate * 0.6)) };
    }
    // Bitrate is at its floor: trade resolution, then frame rate, for smoothness.
    if (current.scaleResolutionDownBy < MAX_SCALE) {
      return { ...current, scaleResolutionDownBy: current.scaleResolutionDownBy * 2 };
    }
    return { ...current, maxFramerate: LOW_FRAMERATE };
  }
  const recent = samples.slice(-3);
  if (recent.length === 3 && recent.every(clean)) {
    if (current.maxFramerate < FULL_QUALITY.maxFramerate) return { ...current, maxFramerate: FULL_QUALITY.maxFramerate };
    if (current.scaleResolutionDownBy > 1) return { ...current, scaleResolutionDownBy: current.scaleResolutionDownBy / 2 };
    if (current.maxBitrate < FULL_QUALITY.maxBitrate) {
      return { ...current, maxBitrate: Math.min(FULL_QUALITY.maxBitrate, Math.round(current.maxBitrate * 1.25)) };
    }
  }
  return current;
}
