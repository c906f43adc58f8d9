// Adaptive bitrate: a pure function from the latest connection-quality samples to the video sender's
// encoding limits. The call applies the result with RTCRtpSender.setParameters every 2 s. It backs off fast
// on loss or delay and recovers slowly once the path has been clean for a while, so it does not oscillate.
// The native sender's twin is src-tauri/core/src/media/abr.rs: its thresholds are generated into
// core.gen.ts and both run the cases of src-tauri/core/tests/vectors/abr.json (abr.test.ts).

import {
  ABR_BACKOFF_FACTOR,
  ABR_CLEAN_LOSS,
  ABR_CLEAN_RTT_MS,
  ABR_CLEAN_SAMPLES,
  ABR_CONGESTED_LOSS,
  ABR_CONGESTED_RTT_MS,
  ABR_LOW_FRAMERATE,
  ABR_MAX_BITRATE,
  ABR_MAX_FRAMERATE,
  ABR_MAX_SCALE,
  ABR_MIN_BITRATE,
  ABR_RECOVER_FACTOR,
} from '../core.gen';

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

export const FULL_QUALITY: EncodingLimits = { maxBitrate: ABR_MAX_BITRATE, scaleResolutionDownBy: 1, maxFramerate: ABR_MAX_FRAMERATE };

const congested = (s: QualitySample) => s.loss > ABR_CONGESTED_LOSS || s.rttMs > ABR_CONGESTED_RTT_MS;
const clean = (s: QualitySample) => s.loss < ABR_CLEAN_LOSS && s.rttMs < ABR_CLEAN_RTT_MS;

/** Next limits given the samples so far (newest last) and the limits in force. */
export function nextLimits(samples: readonly QualitySample[], current: EncodingLimits): EncodingLimits {
  const latest = samples.at(-1);
  if (!latest) return current;
  if (congested(latest)) {
    if (current.maxBitrate > ABR_MIN_BITRATE) {
      return { ...current, maxBitrate: Math.max(ABR_MIN_BITRATE, Math.round(current.maxBitrate * ABR_BACKOFF_FACTOR)) };
    }
    // Bitrate is at its floor: trade resolution, then frame rate, for smoothness.
    if (current.scaleResolutionDownBy < ABR_MAX_SCALE) {
      return { ...current, scaleResolutionDownBy: current.scaleResolutionDownBy * 2 };
    }
    return { ...current, maxFramerate: ABR_LOW_FRAMERATE };
  }
  const recent = samples.slice(-ABR_CLEAN_SAMPLES);
  if (recent.length === ABR_CLEAN_SAMPLES && recent.every(clean)) {
    if (current.maxFramerate < FULL_QUALITY.maxFramerate) return { ...current, maxFramerate: FULL_QUALITY.maxFramerate };
    if (current.scaleResolutionDownBy > 1) return { ...current, scaleResolutionDownBy: current.scaleResolutionDownBy / 2 };
    if (current.maxBitrate < FULL_QUALITY.maxBitrate) {
      return { ...current, maxBitrate: Math.min(FULL_QUALITY.maxBitrate, Math.round(current.maxBitrate * ABR_RECOVER_FACTOR)) };
    }
  }
  return current;
}
