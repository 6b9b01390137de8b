//! Backoff for retries the SDK does not make itself (unprocessed batch items, throttled invokes).

use std::time::Duration;

/// Exponential backoff with jitter: between half and all of 50 ms x 2^attempt, capped at 5 s.
pub fn backoff(attempt: u32) -> Duration {
    use rand::Rng;
    let cap = 50u64.saturating_mul(1 << attempt.min(7)).min(5_000);
    Duration::from_millis(rand::rng().random_range(cap / 2..=cap))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(0) <= Duration::from_millis(50));
        assert!(backoff(3) >= Duration::from_millis(200));
        assert!(backoff(20) <= Duration::from_secs(5));
        assert!(backoff(20) >= Duration::from_millis(2_500));
    }
}
