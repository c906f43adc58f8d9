//! Per-connection abuse limits: a token bucket for message rate and a sliding count of protocol errors.

use std::time::{Duration, Instant};

/// Token bucket: `rate` tokens per second, at most `burst` saved up.
pub struct RateLimiter {
    tokens: f64,
    last: Instant,
    rate: f64,
    burst: f64,
}

impl RateLimiter {
    pub fn new(rate_per_sec: u32, burst: u32) -> RateLimiter {
        RateLimiter {
            tokens: f64::from(burst),
            last: Instant::now(),
            rate: f64::from(rate_per_sec),
            burst: f64::from(burst),
        }
    }

    /// Takes one token; `false` means the message must be refused with `rate_limited`.
    pub fn allow(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Counts protocol errors in a fixed window; more than `max` in `window` means the client is broken or
/// hostile and the connection is closed with 1008.
pub struct ErrorBudget {
    window_start: Instant,
    count: u32,
    max: u32,
    window: Duration,
}

impl ErrorBudget {
    pub fn new(max: u32, window: Duration) -> ErrorBudget {
        ErrorBudget {
            window_start: Instant::now(),
            count: 0,
            max,
            window,
        }
    }

    /// Records one error; `true` when the budget is exceeded.
    pub fn record(&mut self, now: Instant) -> bool {
        if now.saturating_duration_since(self.window_start) > self.window {
            self.window_start = now;
            self.count = 0;
        }
        self.count += 1;
        self.count > self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refills_at_rate() {
        let start = Instant::now();
        let mut bucket = RateLimiter::new(50, 200);
        bucket.last = start;
        assert_eq!((0..250).filter(|_| bucket.allow(start)).count(), 200);
        // 100 ms later five tokens have accrued.
        let later = start + Duration::from_millis(100);
        assert_eq!((0..10).filter(|_| bucket.allow(later)).count(), 5);
    }

    #[test]
    fn error_budget_trips_on_the_eleventh_error_in_the_window() {
        let start = Instant::now();
        let mut budget = ErrorBudget::new(10, Duration::from_secs(10));
        budget.window_start = start;
        assert!((0..10).all(|_| !budget.record(start)));
        assert!(budget.record(start));
        let mut budget = ErrorBudget::new(10, Duration::from_secs(10));
        budget.window_start = start;
        assert!((0..10).all(|_| !budget.record(start)));
        assert!(!budget.record(start + Duration::from_secs(11)));
    }
}
