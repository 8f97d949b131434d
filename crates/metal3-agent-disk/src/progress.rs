//! Progress of a deploy: what the writer is doing and how many bytes are settled, shared
//! between the writing thread and the task that reports, and the rate over the last seconds.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use metal3_agent_api::Progress;

/// The steps of a deploy, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Step {
    Downloading = 0,
    Writing = 1,
    Syncing = 2,
    ConfigDrive = 3,
    Wiping = 4,
}

impl Step {
    /// The step as the host shows it.
    pub fn name(self) -> &'static str {
        match self {
            Step::Downloading => "downloading image",
            Step::Writing => "writing image",
            Step::Syncing => "syncing disk",
            Step::ConfigDrive => "writing config drive",
            Step::Wiping => "wiping partial write",
        }
    }

    fn from_u8(v: u8) -> Step {
        match v {
            1 => Step::Writing,
            2 => Step::Syncing,
            3 => Step::ConfigDrive,
            4 => Step::Wiping,
            _ => Step::Downloading,
        }
    }
}

/// Counters the writer updates and the reporter reads.
#[derive(Debug, Default)]
pub struct Counters {
    /// Bytes written to (or zeroed on) the disk.
    pub settled: Arc<AtomicU64>,
    /// The bytes the image will settle, when known; 0 while unknown.
    total: AtomicU64,
    step: AtomicU8,
}

impl Counters {
    pub fn set_step(&self, step: Step) {
        self.step.store(step as u8, Ordering::Relaxed);
    }

    pub fn step(&self) -> Step {
        Step::from_u8(self.step.load(Ordering::Relaxed))
    }

    pub fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::Relaxed);
    }

    pub fn settled(&self) -> u64 {
        self.settled.load(Ordering::Relaxed)
    }

    /// Progress now, with the rate from `meter`.
    pub fn progress(&self, bytes_per_second: u64) -> Progress {
        let total = self.total.load(Ordering::Relaxed);
        Progress {
            bytes_done: self.settled(),
            bytes_total: (total > 0).then_some(total),
            bytes_per_second,
        }
    }
}

/// The rate over a sliding window of samples.
#[derive(Debug)]
pub struct RateMeter {
    window: Duration,
    samples: VecDeque<(Duration, u64)>,
}

impl RateMeter {
    pub fn new(window: Duration) -> Self {
        RateMeter {
            window,
            samples: VecDeque::new(),
        }
    }

    /// Records `bytes` done at `at` (time since the start) and returns bytes per second over
    /// the window.
    pub fn sample(&mut self, at: Duration, bytes: u64) -> u64 {
        self.samples.push_back((at, bytes));
        while self.samples.len() > 2
            && self
                .samples
                .front()
                .is_some_and(|(t, _)| at.saturating_sub(*t) > self.window)
        {
            self.samples.pop_front();
        }
        let Some(&(t0, b0)) = self.samples.front() else {
            return 0;
        };
        let dt = at.saturating_sub(t0).as_secs_f64();
        if dt <= 0.0 {
            return 0;
        }
        (bytes.saturating_sub(b0) as f64 / dt) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_over_the_window() {
        let mut m = RateMeter::new(Duration::from_secs(5));
        assert_eq!(m.sample(Duration::ZERO, 0), 0);
        assert_eq!(m.sample(Duration::from_secs(1), 100), 100);
        assert_eq!(m.sample(Duration::from_secs(2), 300), 150);
        // Older samples leave the window: the rate follows the recent pace.
        for s in 3..=10 {
            m.sample(Duration::from_secs(s), 300 + (s - 2) * 1000);
        }
        assert_eq!(m.sample(Duration::from_secs(11), 9300), 1000);
    }

    #[test]
    fn counters_report_progress() {
        let c = Counters::default();
        assert_eq!(c.step(), Step::Downloading);
        c.set_step(Step::Writing);
        c.settled.fetch_add(42, Ordering::Relaxed);
        assert_eq!(
            c.progress(7),
            Progress {
                bytes_done: 42,
                bytes_total: None,
                bytes_per_second: 7
            }
        );
        c.set_total(100);
        assert_eq!(c.progress(0).bytes_total, Some(100));
        assert_eq!(c.step().name(), "writing image");
    }
}
