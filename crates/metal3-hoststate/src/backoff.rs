//! Retry delays after host errors.

use std::time::Duration;

/// Upper bound of the exponent: the longest delay is 2^9 minutes (8h32m).
const MAX_EXPONENT: i64 = 9;

/// Delay before retrying a host that failed `error_count` times: 2^n minutes (n =
/// min(count, 9)) shortened by a jitter of 0–50 %, drawn from `jitter` in `[0, 1)`.
/// `base` is the unit (one minute in production; tests shorten it).
pub fn backoff(error_count: i64, jitter: f64, base: Duration) -> Duration {
    let n = error_count.clamp(0, MAX_EXPONENT) as u32;
    let full = base * 2u32.pow(n);
    let cut = jitter.clamp(0.0, 1.0 - f64::EPSILON) * 0.5;
    full.mul_f64(1.0 - cut)
}

/// A jitter in `[0, 1)` that is stable for one host and error count, so that every reconcile
/// of a waiting host computes the same retry time, while hosts spread out.
pub fn stable_jitter(uid: &str, error_count: i64) -> f64 {
    // FNV-1a over the uid and the count.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in uid.bytes().chain(error_count.to_le_bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn doubles_up_to_the_cap() {
        let expect = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 512, 512];
        for (count, minutes) in expect.iter().enumerate() {
            assert_eq!(
                backoff(count as i64, 0.0, MIN),
                MIN * *minutes,
                "count {count}"
            );
        }
        assert_eq!(backoff(-3, 0.0, MIN), MIN);
    }

    #[test]
    fn jitter_cuts_at_most_half() {
        assert_eq!(backoff(1, 0.5, MIN), Duration::from_secs(90));
        let most = backoff(9, 0.999_999, MIN);
        assert!(most > MIN * 256 && most <= MIN * 512, "{most:?}");
    }

    proptest! {
        #[test]
        fn always_within_bounds(count in -5i64..100, jitter in 0.0f64..1.0) {
            let d = backoff(count, jitter, MIN);
            let n = count.clamp(0, 9) as u32;
            let full = MIN * 2u32.pow(n);
            prop_assert!(d <= full);
            prop_assert!(d >= full / 2);
        }

        #[test]
        fn stable_jitter_is_stable_and_in_range(uid in ".{0,40}", count in 0i64..20) {
            let a = stable_jitter(&uid, count);
            prop_assert_eq!(a, stable_jitter(&uid, count));
            prop_assert!((0.0..1.0).contains(&a));
        }
    }
}
