// Reads call quality from RTCPeerConnection.getStats: round-trip time, video loss and outgoing bitrate.
// Feeds both the quality indicator and the adaptive-bitrate controller.

import type { QualitySample } from './abr';

export interface Quality extends QualitySample {
  /** Outgoing bits per second over the last interval; null on the first reading. */
  bitrate: number | null;
  /** Video frames decoded from this peer so far. */
  framesDecoded: number;
  /** Type of the local candidate of the selected pair: host, srflx or relay. */
  localCandidateType: string | null;
}

interface Counters {
  at: number;
  bytesSent: number;
}

/** Keeps the previous counters of one connection to turn cumulative stats into per-interval figures. */
export class QualityMeter {
  private previous: Counters | null = null;

  async measure(pc: RTCPeerConnection): Promise<Quality> {
    const report = await pc.getStats();
    let rttMs = 0;
    let bytesSent = 0;
    let loss = 0;
    let framesDecoded = 0;
    let localCandidateId: string | null = null;
    report.forEach((s: Record<string, unknown> & { type: string }) => {
      if (s.type === 'candidate-pair' && s.nominated && s.state === 'succeeded') {
        rttMs = Number(s.currentRoundTripTime ?? 0) * 1000;
        localCandidateId = String(s.localCandidateId ?? '');
      }
      if (s.type === 'outbound-rtp') bytesSent += Number(s.bytesSent ?? 0);
      // The receiver's RTCP reports say what share of our video it lost in the last interval.
      if (s.type === 'remote-inbound-rtp' && s.kind === 'video') loss = Math.max(loss, Number(s.fractionLost ?? 0));
      if (s.type === 'inbound-rtp' && s.kind === 'video') framesDecoded += Number(s.framesDecoded ?? 0);
    });
    const local = localCandidateId ? (report.get(localCandidateId) as { candidateType?: string } | undefined) : undefined;
    const now = performance.now();
    const prev = this.previous;
    this.previous = { at: now, bytesSent };
    const seconds = prev ? (now - prev.at) / 1000 : 0;
    return {
      rttMs,
      loss,
      bitrate: prev && seconds > 0 ? ((bytesSent - prev.bytesSent) * 8) / seconds : null,
      framesDecoded,
      localCandidateType: local?.candidateType ?? null,
    };
  }
}
