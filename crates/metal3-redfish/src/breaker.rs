//! A circuit breaker per BMC, as plain data with the clock passed in: after `threshold`
//! failures in a row the BMC is left alone for `cooldown`; then one trial call decides.

use std::time::{Duration, Instant};

/// Breaker settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rules {
    pub threshold: u32,
    pub cooldown: Duration,
}

/// The breaker of one BMC.
#[derive(Clone, Debug)]
pub struct Breaker {
    rules: Rules,
    failures: u32,
    open_until: Option<Instant>,
}

impl Breaker {
    pub fn new(rules: Rules) -> Self {
        Self {
            rules,
            failures: 0,
            open_until: None,
        }
    }

    /// Whether a call may go out now; `Err(until)` while the breaker is open. Once the cool-down
    /// is over one trial call goes out and the breaker stays shut to others until it reports.
    pub fn allow(&mut self, now: Instant) -> Result<(), Instant> {
        match self.open_until {
            Some(until) if now < until => Err(until),
            Some(_) => {
                self.open_until = Some(now + self.rules.cooldown);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// The BMC answered.
    pub fn success(&mut self) {
        self.failures = 0;
        self.open_until = None;
    }

    /// The BMC failed (unreachable, timed out, or a server error).
    pub fn failure(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        if self.rules.threshold > 0 && self.failures >= self.rules.threshold {
            self.open_until = Some(now + self.rules.cooldown);
        }
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Rules {
        Rules {
            threshold: 3,
            cooldown: Duration::from_secs(30),
        }
    }

    #[test]
    fn opens_after_failures_in_a_row_and_closes_on_success() {
        let t0 = Instant::now();
        let mut b = Breaker::new(rules());
        b.failure(t0);
        b.failure(t0);
        assert!(b.allow(t0).is_ok(), "two failures keep it shut");
        b.success();
        b.failure(t0);
        b.failure(t0);
        assert!(b.allow(t0).is_ok(), "the count restarted");
        b.failure(t0);
        assert_eq!(
            b.allow(t0 + Duration::from_secs(10)),
            Err(t0 + rules().cooldown)
        );
    }

    #[test]
    fn one_trial_after_the_cooldown() {
        let t0 = Instant::now();
        let mut b = Breaker::new(rules());
        for _ in 0..3 {
            b.failure(t0);
        }
        let later = t0 + Duration::from_secs(31);
        assert!(b.allow(later).is_ok(), "the trial call");
        assert!(b.allow(later).is_err(), "others wait for the trial");
        b.failure(later);
        assert!(
            b.allow(later + Duration::from_secs(5)).is_err(),
            "failed trial: open again"
        );
        let much_later = later + Duration::from_secs(61);
        assert!(b.allow(much_later).is_ok());
        b.success();
        assert!(b.allow(much_later).is_ok());
        assert_eq!(b.failures(), 0);
    }

    #[test]
    fn a_zero_threshold_never_opens() {
        let t0 = Instant::now();
        let mut b = Breaker::new(Rules {
            threshold: 0,
            ..rules()
        });
        for _ in 0..100 {
            b.failure(t0);
        }
        assert!(b.allow(t0).is_ok());
    }
}
