//! Adaptive bitrate for the native sender: the web UI's rule (ui/src/lib/call/abr.ts), same thresholds,
//! so a native and a browser sender back off and recover alike. Back off fast on loss or delay, recover
//! slowly once the path has been clean for three samples in a row.

/// Fraction of packets lost in the last interval (0..1) and the round-trip time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QualitySample {
    pub loss: f64,
    pub rtt_ms: f64,
}

/// What the video encoder may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncodingLimits {
    pub max_bitrate: u32,
    pub scale_down_by: u32,
    pub max_framerate: u32,
}

pub const FULL_QUALITY: EncodingLimits = EncodingLimits {
    max_bitrate: 1_500_000,
    scale_down_by: 1,
    max_framerate: 30,
};
const MIN_BITRATE: u32 = 150_000;
const MAX_SCALE: u32 = 4;
const LOW_FRAMERATE: u32 = 15;

fn congested(s: &QualitySample) -> bool {
    s.loss > 0.08 || s.rtt_ms > 400.0
}

fn clean(s: &QualitySample) -> bool {
    s.loss < 0.02 && s.rtt_ms < 200.0
}

/// The next limits given the samples so far (newest last) and the limits in force.
pub fn next_limits(samples: &[QualitySample], current: EncodingLimits) -> EncodingLimits {
    let Some(latest) = samples.last() else {
        return current;
    };
    if congested(latest) {
        if current.max_bitrate > MIN_BITRATE {
            let lower = (f64::from(current.max_bitrate) * 0.6).round() as u32;
            return EncodingLimits {
                max_bitrate: lower.max(MIN_BITRATE),
                ..current
            };
        }
        // Bitrate is at its floor: trade resolution, then frame rate, for smoothness.
        if current.scale_down_by < MAX_SCALE {
            return EncodingLimits {
                scale_down_by: current.scale_down_by * 2,
                ..current
            };
        }
        return EncodingLimits {
            max_framerate: LOW_FRAMERATE,
            ..current
        };
    }
    let recent = &samples[samples.len().saturating_sub(3)..];
    if recent.len() == 3 && recent.iter().all(clean) {
        if current.max_framerate < FULL_QUALITY.max_framerate {
            return EncodingLimits {
                max_framerate: FULL_QUALITY.max_framerate,
                ..current
            };
        }
        if current.scale_down_by > 1 {
            return EncodingLimits {
                scale_down_by: current.scale_down_by / 2,
                ..current
            };
        }
        if current.max_bitrate < FULL_QUALITY.max_bitrate {
            let higher = (f64::from(current.max_bitrate) * 1.25).round() as u32;
            return EncodingLimits {
                max_bitrate: higher.min(FULL_QUALITY.max_bitrate),
                ..current
            };
        }
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOSSY: QualitySample = QualitySample {
        loss: 0.2,
        rtt_ms: 50.0,
    };
    const CLEAN: QualitySample = QualitySample {
        loss: 0.0,
        rtt_ms: 20.0,
    };

    #[test]
    fn loss_lowers_the_bitrate_then_the_resolution_then_the_frame_rate() {
        let mut limits = FULL_QUALITY;
        let mut seen = Vec::new();
        for _ in 0..12 {
            limits = next_limits(&[LOSSY], limits);
            seen.push(limits);
        }
        assert_eq!(seen[0].max_bitrate, 900_000);
        assert!(
            seen.iter()
                .any(|l| l.max_bitrate == MIN_BITRATE && l.scale_down_by == 1)
        );
        assert_eq!(limits.scale_down_by, MAX_SCALE);
        assert_eq!(limits.max_framerate, LOW_FRAMERATE);
    }

    #[test]
    fn recovers_only_after_three_clean_samples() {
        let low = EncodingLimits {
            max_bitrate: 400_000,
            ..FULL_QUALITY
        };
        assert_eq!(next_limits(&[LOSSY, CLEAN, CLEAN], low), low);
        assert_eq!(
            next_limits(&[CLEAN, CLEAN, CLEAN], low).max_bitrate,
            500_000
        );
    }
}
