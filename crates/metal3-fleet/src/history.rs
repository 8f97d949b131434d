//! The fleet over time (pure): samples of hosts by state and of the operator's counters, kept
//! in memory for the last hour or so, and the rates they give. The operator takes a sample
//! every few seconds; the fleet page draws them.

use std::collections::{BTreeMap, VecDeque};

use k8s_openapi::jiff::{SignedDuration, Timestamp};
use serde::Serialize;

/// The operator's running totals at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Counters {
    /// Host reconciles.
    pub reconciles: u64,
    /// HTTP requests to BMCs or to Ironic; `None` when the backend does not count them.
    pub backend_requests: Option<u64>,
    /// Requests to the Kubernetes API server.
    pub api_requests: u64,
}

/// The fleet at one moment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sample {
    pub at: Timestamp,
    pub by_state: BTreeMap<String, usize>,
    pub counters: Counters,
}

/// Per-minute rates over a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rates {
    /// How long the window is (0 until two samples exist).
    pub window_seconds: i64,
    pub reconciles_per_minute: f64,
    pub backend_requests_per_minute: Option<f64>,
    pub api_requests_per_minute: f64,
}

/// The last `capacity` samples, oldest first.
#[derive(Debug)]
pub struct History {
    samples: VecDeque<Sample>,
    capacity: usize,
}

impl History {
    /// An empty history keeping at most `capacity` samples (at least 2).
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(2);
        Self {
            samples: VecDeque::with_capacity(capacity),
            capacity,
        }
    }

    /// Adds `sample`, dropping the oldest when full. A sample older than the newest (a clock
    /// stepped back) replaces nothing and is dropped.
    pub fn record(&mut self, sample: Sample) {
        if self.samples.back().is_some_and(|last| sample.at < last.at) {
            return;
        }
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }

    /// The samples, oldest first.
    pub fn samples(&self) -> impl ExactSizeIterator<Item = &Sample> {
        self.samples.iter()
    }

    /// Rates over the last `window` (from the oldest sample inside it to the newest). Counters
    /// that went down (the operator restarted and counts afresh) count from zero.
    pub fn rates(&self, window: SignedDuration) -> Rates {
        let Some(last) = self.samples.back() else {
            return Rates::default();
        };
        let Some(first) = self
            .samples
            .iter()
            .find(|s| last.at.duration_since(s.at) <= window)
            .filter(|first| first.at < last.at)
        else {
            return Rates::default();
        };
        let seconds = last.at.duration_since(first.at).as_secs_f64();
        let per_minute = |from: u64, to: u64| {
            let delta = if to >= from { to - from } else { to };
            delta as f64 * 60.0 / seconds
        };
        let (a, b) = (&first.counters, &last.counters);
        Rates {
            window_seconds: last.at.duration_since(first.at).as_secs(),
            reconciles_per_minute: per_minute(a.reconciles, b.reconciles),
            backend_requests_per_minute: match (a.backend_requests, b.backend_requests) {
                (Some(x), Some(y)) => Some(per_minute(x, y)),
                _ => None,
            },
            api_requests_per_minute: per_minute(a.api_requests, b.api_requests),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_s: i64, reconciles: u64, backend: Option<u64>, api: u64) -> Sample {
        Sample {
            at: Timestamp::from_second(1_800_000_000 + at_s).expect("time"),
            by_state: BTreeMap::from([("available".to_string(), 3)]),
            counters: Counters {
                reconciles,
                backend_requests: backend,
                api_requests: api,
            },
        }
    }

    #[test]
    fn the_oldest_samples_go_when_full() {
        let mut h = History::new(3);
        for i in 0..5 {
            h.record(sample(i * 10, 0, None, 0));
        }
        let at: Vec<i64> = h.samples().map(|s| s.at.as_second()).collect();
        assert_eq!(at, [1_800_000_020, 1_800_000_030, 1_800_000_040]);
    }

    #[test]
    fn a_sample_from_the_past_is_dropped() {
        let mut h = History::new(10);
        h.record(sample(20, 1, None, 1));
        h.record(sample(10, 2, None, 2));
        assert_eq!(h.samples().len(), 1);
        assert_eq!(h.samples().next().map(|s| s.counters.reconciles), Some(1));
    }

    #[test]
    fn rates_are_per_minute_over_the_window() {
        let mut h = History::new(100);
        h.record(sample(0, 0, Some(0), 0));
        h.record(sample(60, 100, Some(30), 1000));
        h.record(sample(120, 160, Some(60), 1600));
        let all = h.rates(SignedDuration::from_secs(300));
        assert_eq!(all.window_seconds, 120);
        assert_eq!(all.reconciles_per_minute, 80.0);
        assert_eq!(all.backend_requests_per_minute, Some(30.0));
        assert_eq!(all.api_requests_per_minute, 800.0);
        // Only the last minute.
        let last = h.rates(SignedDuration::from_secs(60));
        assert_eq!(last.window_seconds, 60);
        assert_eq!(last.reconciles_per_minute, 60.0);
        assert_eq!(last.api_requests_per_minute, 600.0);
    }

    #[test]
    fn no_rates_without_two_samples_and_none_for_an_uncounted_backend() {
        let mut h = History::new(10);
        assert_eq!(h.rates(SignedDuration::from_secs(60)), Rates::default());
        h.record(sample(0, 5, None, 5));
        assert_eq!(h.rates(SignedDuration::from_secs(60)), Rates::default());
        h.record(sample(30, 10, None, 20));
        let r = h.rates(SignedDuration::from_secs(60));
        assert_eq!(r.backend_requests_per_minute, None);
        assert_eq!(r.reconciles_per_minute, 10.0);
    }

    #[test]
    fn a_restarted_counter_counts_from_zero() {
        let mut h = History::new(10);
        h.record(sample(0, 500, Some(500), 500));
        h.record(sample(60, 20, Some(10), 40));
        let r = h.rates(SignedDuration::from_secs(120));
        assert_eq!(r.reconciles_per_minute, 20.0);
        assert_eq!(r.backend_requests_per_minute, Some(10.0));
        assert_eq!(r.api_requests_per_minute, 40.0);
    }
}
