//! How long to wait before calling an unreachable hub again: doubling from one second up to
//! thirty, never giving up.

use std::time::Duration;

/// Growing pauses between failed calls.
#[derive(Clone, Debug)]
pub struct Backoff {
    next: Duration,
    first: Duration,
    max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new(Duration::from_secs(1), Duration::from_secs(30))
    }
}

impl Backoff {
    pub fn new(first: Duration, max: Duration) -> Self {
        Self {
            next: first,
            first,
            max,
        }
    }

    /// The pause before the next try; the one after is twice as long, up to the maximum.
    pub fn next_pause(&mut self) -> Duration {
        let pause = self.next;
        self.next = (self.next * 2).min(self.max);
        pause
    }

    /// A call went through: start again from the first pause.
    pub fn reset(&mut self) {
        self.next = self.first;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_thirty_seconds_and_start_over_after_a_success() {
        let mut b = Backoff::default();
        let secs: Vec<u64> = (0..8).map(|_| b.next_pause().as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 30, 30, 30]);
        b.reset();
        assert_eq!(b.next_pause(), Duration::from_secs(1));
    }
}
