//! Realism knobs: latency, server errors, dropped connections, hung calls and a per-BMC
//! concurrency limit, applied to every request for a server (`/Systems/<id>…`,
//! `/Managers/<id>…`, `/Chassis/<id>…`, and everything on a server's own port); plus the power-on
//! self test time and the session rules (limit, idle timeout, lockout after failed logins).
//! Set at start (`metal3 sim --latency-ms …`) or at run time with `PUT /metal3-sim/faults`, for
//! the whole fleet or one server (`PUT /metal3-sim/faults/<server>`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::sessions::Rules;

/// What goes wrong, and how often. The default is a perfect, instant BMC.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Faults {
    /// Added latency in milliseconds, uniform in `[min, max]`.
    pub latency_ms: [u64; 2],
    /// Share of requests answered `500 Internal Server Error` (0–1).
    pub error_rate: f64,
    /// Share of requests that never get an answer (the connection is held open) (0–1).
    pub hang_rate: f64,
    /// Share of requests whose connection is dropped before a whole answer (0–1).
    pub reset_rate: f64,
    /// Requests one BMC serves at once; more get `503 Service Unavailable` (0 = unlimited).
    pub concurrency_limit: usize,
    /// With a concurrency limit: queue extra requests until a slot frees instead of 503.
    pub queue_when_busy: bool,
    /// Power-on self test: milliseconds from power on until the server runs what it booted.
    pub post_ms: u64,
    /// Sessions one BMC keeps open at once; more logins get 503 (0 = unlimited).
    pub session_limit: usize,
    /// Seconds of idleness after which a session ends.
    pub session_timeout_s: u64,
    /// Failed logins in a row that lock the account (0 = never).
    pub lockout_threshold: u32,
    /// Seconds a locked account stays locked.
    pub lockout_s: u64,
    /// The BMC does not offer `$expand` (many older BMCs do not).
    pub no_expand: bool,
    /// The BMC has no session service: basic authentication only.
    pub no_sessions: bool,
}

impl Default for Faults {
    fn default() -> Self {
        let rules = Rules::default();
        Self {
            latency_ms: [0, 0],
            error_rate: 0.0,
            hang_rate: 0.0,
            reset_rate: 0.0,
            concurrency_limit: 0,
            queue_when_busy: false,
            post_ms: 0,
            session_limit: rules.limit,
            session_timeout_s: rules.timeout.as_secs(),
            lockout_threshold: rules.lockout_threshold,
            lockout_s: rules.lockout.as_secs(),
            no_expand: false,
            no_sessions: false,
        }
    }
}

impl Faults {
    /// Checks the values, naming the field at fault.
    pub fn validate(&self) -> Result<(), String> {
        if self.latency_ms[0] > self.latency_ms[1] {
            return Err(format!(
                "latencyMs: the minimum {} is above the maximum {}",
                self.latency_ms[0], self.latency_ms[1]
            ));
        }
        for (name, rate) in [
            ("errorRate", self.error_rate),
            ("hangRate", self.hang_rate),
            ("resetRate", self.reset_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name}: {rate} is not between 0 and 1"));
            }
        }
        if self.session_timeout_s == 0 {
            return Err(
                "sessionTimeoutS: 0 would end every session at once; use at least 1".into(),
            );
        }
        Ok(())
    }

    /// The session rules these knobs set.
    pub fn session_rules(&self) -> Rules {
        Rules {
            limit: self.session_limit,
            timeout: Duration::from_secs(self.session_timeout_s),
            lockout_threshold: self.lockout_threshold,
            lockout: Duration::from_secs(self.lockout_s),
        }
    }
}

/// What to do with one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    Serve,
    Fail,
    Hang,
    Reset,
}

/// A small deterministic generator (SplitMix64): reproducible runs, no shared lock.
#[derive(Debug)]
pub struct Dice(AtomicU64);

impl Dice {
    pub fn new(seed: u64) -> Self {
        Self(AtomicU64::new(seed))
    }

    /// A number in `[0, 1)`.
    pub fn roll(&self) -> f64 {
        let mut z = self
            .0
            .fetch_add(0x9e37_79b9_7f4a_7c15, Ordering::Relaxed)
            .wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The latency and fate of one request under `faults`.
    pub fn judge(&self, faults: &Faults) -> (Duration, Verdict) {
        let [min, max] = faults.latency_ms;
        let latency = min + ((max - min) as f64 * self.roll()) as u64;
        let verdict = if self.roll() < faults.hang_rate {
            Verdict::Hang
        } else if self.roll() < faults.reset_rate {
            Verdict::Reset
        } else if self.roll() < faults.error_rate {
            Verdict::Fail
        } else {
            Verdict::Serve
        };
        (Duration::from_millis(latency), verdict)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_bmc_by_default() {
        let dice = Dice::new(1);
        for _ in 0..1000 {
            assert_eq!(
                dice.judge(&Faults::default()),
                (Duration::ZERO, Verdict::Serve)
            );
        }
    }

    #[test]
    fn rates_and_latency_are_honoured() {
        let dice = Dice::new(42);
        let faults = Faults {
            latency_ms: [10, 20],
            error_rate: 0.25,
            ..Faults::default()
        };
        let mut failed = 0;
        for _ in 0..10_000 {
            let (latency, verdict) = dice.judge(&faults);
            assert!((10..=20).contains(&(latency.as_millis() as u64)));
            failed += u32::from(verdict == Verdict::Fail);
        }
        assert!((2200..2800).contains(&failed), "{failed}");
        let always = Faults {
            hang_rate: 1.0,
            ..Faults::default()
        };
        assert_eq!(dice.judge(&always).1, Verdict::Hang);
        let dropped = Faults {
            reset_rate: 1.0,
            ..Faults::default()
        };
        assert_eq!(dice.judge(&dropped).1, Verdict::Reset);
    }

    #[test]
    fn bad_values_name_the_field() {
        let f = Faults {
            latency_ms: [5, 1],
            ..Faults::default()
        };
        assert!(
            f.validate()
                .expect_err("min > max")
                .starts_with("latencyMs")
        );
        let f = Faults {
            error_rate: 1.5,
            ..Faults::default()
        };
        assert!(f.validate().expect_err("rate").starts_with("errorRate"));
        let f = Faults {
            session_timeout_s: 0,
            ..Faults::default()
        };
        assert!(
            f.validate()
                .expect_err("timeout")
                .starts_with("sessionTimeoutS")
        );
        let parsed: Faults = serde_json::from_str(r#"{"postMs": 500}"#).expect("partial");
        assert_eq!(
            parsed.session_timeout_s, 1800,
            "unset knobs keep their defaults"
        );
        let parsed: Result<Faults, _> = serde_json::from_str(r#"{"errorRat": 0.1}"#);
        assert!(parsed.is_err(), "typos are refused");
    }
}
