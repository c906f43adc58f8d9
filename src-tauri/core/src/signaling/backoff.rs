//! Reconnect delays: exponential backoff with full jitter (the same curve as the web UI's), so that many
//! apps reconnecting after a server restart spread out instead of arriving together.

use std::time::Duration;

/// First retry ceiling.
pub const BASE: Duration = Duration::from_millis(250);
/// Largest delay between attempts.
pub const MAX: Duration = Duration::from_secs(10);

/// Delay before reconnect attempt `attempt` (0-based): `random` ∈ [0, 1) times
/// `min(MAX, BASE · 2^attempt)`.
pub fn delay(attempt: u32, random: f64) -> Duration {
    let ceiling = BASE.saturating_mul(1u32 << attempt.min(16)).min(MAX);
    ceiling.mul_f64(random.clamp(0.0, 1.0))
}

/// [`delay`] with a random jitter.
pub fn jittered(attempt: u32) -> Duration {
    delay(attempt, rand::random::<f64>())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cases shared with the web UI's backoff (tests/vectors/backoff.json): the same curve.
    #[test]
    fn follows_the_shared_vectors() {
        let vectors: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/vectors/backoff.json")).unwrap();
        for case in vectors["cases"].as_array().unwrap() {
            let attempt = case["attempt"].as_u64().unwrap() as u32;
            let random = case["random"].as_f64().unwrap();
            let ms = (delay(attempt, random).as_secs_f64() * 1000.0).round() as u64;
            assert_eq!(ms, case["delay_ms"].as_u64().unwrap(), "{case}");
        }
    }

    /// After a server restart, retries grow, stop growing at the cap, and are spread over the range.
    #[test]
    fn grows_exponentially_to_the_cap_with_full_jitter() {
        let top: Vec<u128> = (0..4).map(|a| delay(a, 1.0).as_millis()).collect();
        assert_eq!(top, [250, 500, 1000, 2000]);
        assert_eq!(delay(10, 1.0), MAX);
        assert_eq!(delay(u32::MAX, 1.0), MAX);
        assert_eq!(delay(3, 0.0), Duration::ZERO);
        assert_eq!(delay(3, 0.5).as_millis(), 1000);
        assert!((0..100).all(|_| jittered(2) <= Duration::from_secs(1)));
    }
}
