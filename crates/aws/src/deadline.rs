//! When a function's invocation hands its work over to the next: the worker's and the intake's.

use std::time::Instant;

/// When to hand over: `margin` before the invocation's deadline (milliseconds since the epoch, as
/// the Lambda context gives it), or a quarter of the time left if that is shorter, so that a function
/// configured with a short timeout still gets work done in each invocation. `None` (run to the end)
/// when the runtime gives no deadline still ahead: Lambda always does, but `cargo lambda watch` sends
/// its timeout (600000) instead of a time, and handing over with no time to work would only loop.
pub fn hand_over_at(deadline_ms: u64, margin: std::time::Duration) -> Option<Instant> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let left = std::time::Duration::from_millis(deadline_ms).checked_sub(now).filter(|left| !left.is_zero());
    let Some(left) = left else {
        tracing::warn!(deadline_ms, "the runtime gave no deadline ahead; this invocation runs to the end");
        return None;
    };
    tracing::info!(time_left_ms = left.as_millis() as u64, "invocation starts");
    Some(Instant::now() + left.saturating_sub(margin.min(left / 4)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_over_the_margin_before_the_deadline() {
        let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
        let margin = std::time::Duration::from_secs(60);
        let at = hand_over_at(now_ms + 900_000, margin).unwrap();
        let left = at.duration_since(Instant::now()).as_secs();
        assert!((838..=840).contains(&left), "{left}");
        // A timeout shorter than the margin keeps three quarters of it for work.
        let at = hand_over_at(now_ms + 20_000, margin).unwrap();
        let left = at.duration_since(Instant::now()).as_secs();
        assert!((14..=15).contains(&left), "{left}");
        // No deadline ahead (cargo lambda watch sends 600000): run to the end rather than hand over at once.
        assert_eq!(hand_over_at(600_000, margin), None);
        assert_eq!(hand_over_at(now_ms - 1_000, margin), None);
    }
}
