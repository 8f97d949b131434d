//! Client-side rate limiting of API requests (`--kube-api-qps`, `--kube-api-burst`, as
//! upstream's controllers offer them): a token bucket filled at `qps` tokens a second, holding
//! at most `burst`; a request takes a token or waits, in order of arrival, for its turn. Off
//! unless asked for: the API server's own priority and fairness already protects it, and a
//! low client-side limit is what throttles upstream's controllers in scale runs.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

use tower::{Layer, Service};

/// The limit: `qps` requests a second on average, `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Throttle {
    pub qps: f64,
    pub burst: u32,
}

impl Throttle {
    /// The limit `--kube-api-qps`/`--kube-api-burst` ask for: none for 0 (the default), a
    /// negative or a non-finite rate.
    pub fn from_flags(qps: f64, burst: u32) -> Option<Self> {
        (qps > 0.0 && qps.is_finite()).then_some(Self { qps, burst })
    }
}

/// The bucket's arithmetic, free of clocks: a reservation at `now` returns how long the
/// request waits.
#[derive(Debug)]
pub struct Bucket {
    limit: Throttle,
    /// Tokens left at `at` (negative: requests already waiting for tokens to come).
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// A full bucket at `now`.
    pub fn new(limit: Throttle, now: Instant) -> Self {
        Self {
            limit,
            tokens: f64::from(limit.burst.max(1)),
            at: now,
        }
    }

    /// Takes a token at `now`: how long the request waits for it (zero when one was there).
    pub fn reserve(&mut self, now: Instant) -> Duration {
        let qps = self.limit.qps.max(f64::MIN_POSITIVE);
        let burst = f64::from(self.limit.burst.max(1));
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * qps).min(burst);
        self.at = self.at.max(now);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / qps)
        }
    }
}

/// A [`Layer`] that throttles a client's requests (one bucket for every clone).
#[derive(Clone)]
pub struct ThrottleLayer {
    bucket: Arc<Mutex<Bucket>>,
}

impl ThrottleLayer {
    pub fn new(limit: Throttle) -> Self {
        Self {
            bucket: Arc::new(Mutex::new(Bucket::new(limit, Instant::now()))),
        }
    }
}

impl<S> Layer<S> for ThrottleLayer {
    type Service = Throttled<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Throttled {
            inner,
            bucket: self.bucket.clone(),
            reserved: false,
            wait: None,
        }
    }
}

/// A service that is ready only once its next request's turn in the bucket came (the
/// client's buffer holds the requests behind it, in order).
pub struct Throttled<S> {
    inner: S,
    bucket: Arc<Mutex<Bucket>>,
    /// A token is reserved for the next call.
    reserved: bool,
    /// Until when that token is not there yet.
    wait: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<S, R> Service<R> for Throttled<S>
where
    S: Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if !self.reserved {
            let wait = self
                .bucket
                .lock()
                .map(|mut b| b.reserve(Instant::now()))
                .unwrap_or_default();
            self.reserved = true;
            if !wait.is_zero() {
                self.wait = Some(Box::pin(tokio::time::sleep(wait)));
            }
        }
        if let Some(wait) = &mut self.wait {
            if wait.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.wait = None;
        }
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        self.reserved = false;
        self.inner.call(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: Throttle = Throttle {
        qps: 10.0,
        burst: 3,
    };

    #[test]
    fn a_burst_passes_at_once_then_requests_are_spaced_by_one_over_qps() {
        let t0 = Instant::now();
        let mut bucket = Bucket::new(LIMIT, t0);
        let waits: Vec<Duration> = (0..6).map(|_| bucket.reserve(t0)).collect();
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 0, 0, 100, 200, 300]);
    }

    #[test]
    fn tokens_come_back_with_time_up_to_the_burst() {
        let t0 = Instant::now();
        let mut bucket = Bucket::new(LIMIT, t0);
        for _ in 0..3 {
            assert_eq!(bucket.reserve(t0), Duration::ZERO);
        }
        // 150 ms later one token came back (and a half).
        let t1 = t0 + Duration::from_millis(150);
        assert_eq!(bucket.reserve(t1), Duration::ZERO);
        assert_eq!(bucket.reserve(t1).as_millis(), 50);
        // After a long quiet spell the bucket holds the burst, no more.
        let t2 = t1 + Duration::from_secs(60);
        let waits: Vec<u128> = (0..4).map(|_| bucket.reserve(t2).as_millis()).collect();
        assert_eq!(waits, [0, 0, 0, 100]);
    }

    #[test]
    fn a_zero_burst_still_lets_one_request_through() {
        let t0 = Instant::now();
        let mut bucket = Bucket::new(Throttle { qps: 1.0, burst: 0 }, t0);
        assert_eq!(bucket.reserve(t0), Duration::ZERO);
        assert_eq!(bucket.reserve(t0), Duration::from_secs(1));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_through_the_layer_wait_their_turn() {
        use tower::ServiceExt;
        let service = tower::service_fn(|n: u32| async move {
            Ok::<_, std::convert::Infallible>((n, tokio::time::Instant::now()))
        });
        let mut throttled = ThrottleLayer::new(Throttle {
            qps: 10.0,
            burst: 2,
        })
        .layer(service);
        let start = tokio::time::Instant::now();
        let mut at = Vec::new();
        for n in 0..5 {
            let ready = throttled.ready().await.expect("ready");
            let (answer, when) = ready.call(n).await.expect("answer");
            assert_eq!(answer, n);
            at.push((when - start).as_millis());
        }
        // Two at once, then one every 100 ms (on tokio's paused clock, the bucket's own
        // clock standing still).
        assert_eq!(at, [0, 0, 100, 200, 300]);
    }
}
