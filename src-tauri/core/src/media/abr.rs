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

/// How often a call samples each peer's quality and applies the next limits: the thresholds below
/// (three clean samples to climb) are in these steps.
pub const SAMPLE_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
/// The limits on a clean path: where a call starts and what recovery climbs back to.
pub const FULL_QUALITY: EncodingLimits = EncodingLimits {
    max_bitrate: 1_500_000,
    scale_down_by: 1,
    max_framerate: 30,
};
/// The bitrate floor: below it, resolution and then frame rate give way instead.
pub const MIN_BITRATE: u32 = 150_000;
/// The most the resolution is scaled down by (a quarter of each side).
pub const MAX_SCALE: u32 = 4;
/// The frame rate once bitrate and resolution are at their floors.
pub const LOW_FRAMERATE: u32 = 15;
/// A sample with more loss (fraction) or a longer round trip (ms) than this is congested: back off now.
pub const CONGESTED_LOSS: f64 = 0.08;
pub const CONGESTED_RTT_MS: f64 = 400.0;
/// A sample with less loss and a shorter round trip than this is clean.
pub const CLEAN_LOSS: f64 = 0.02;
pub const CLEAN_RTT_MS: f64 = 200.0;
/// Clean samples in a row before one step of recovery.
pub const CLEAN_SAMPLES: usize = 3;
/// Bitrate is multiplied by this on congestion...
pub const BACKOFF_FACTOR: f64 = 0.6;
/// ...and by this on each step of recovery.
pub const RECOVER_FACTOR: f64 = 1.25;

fn congested(s: &QualitySample) -> bool {
    s.loss > CONGESTED_LOSS || s.rtt_ms > CONGESTED_RTT_MS
}

fn clean(s: &QualitySample) -> bool {
    s.loss < CLEAN_LOSS && s.rtt_ms < CLEAN_RTT_MS
}

/// The next limits given the samples so far (newest last) and the limits in force.
pub fn next_limits(samples: &[QualitySample], current: EncodingLimits) -> EncodingLimits {
    let Some(latest) = samples.last() else {
        return current;
    };
    if congested(latest) {
        if current.max_bitrate > MIN_BITRATE {
            let lower = (f64::from(current.max_bitrate) * BACKOFF_FACTOR).round() as u32;
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
    let recent = &samples[samples.len().saturating_sub(CLEAN_SAMPLES)..];
    if recent.len() == CLEAN_SAMPLES && recent.iter().all(clean) {
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
            let higher = (f64::from(current.max_bitrate) * RECOVER_FACTOR).round() as u32;
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

    /// The cases shared with the web UI's sender (tests/vectors/abr.json): a native and a browser sender
    /// back off and recover alike, step for step.
    #[test]
    fn follows_the_shared_vectors() {
        let limits = |v: &serde_json::Value| EncodingLimits {
            max_bitrate: v["max_bitrate"].as_u64().unwrap() as u32,
            scale_down_by: v["scale_down_by"].as_u64().unwrap() as u32,
            max_framerate: v["max_framerate"].as_u64().unwrap() as u32,
        };
        for case in crate::vectors::cases(include_str!("../../tests/vectors/abr.json")) {
            let name = case["name"].as_str().unwrap();
            let samples: Vec<QualitySample> = case["samples"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| QualitySample {
                    loss: s["loss"].as_f64().unwrap(),
                    rtt_ms: s["rtt_ms"].as_f64().unwrap(),
                })
                .collect();
            let mut current = case.get("start").map_or(FULL_QUALITY, limits);
            for (i, expected) in case["expect"].as_array().unwrap().iter().enumerate() {
                current = next_limits(&samples[..=i], current);
                assert_eq!(current, limits(expected), "{name}, sample {i}");
            }
        }
    }

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
