//! `--kube-api-qps` and `--kube-api-burst`, as upstream's controllers offer them: a
//! client-side limit on the rate of API requests.

use metal3_kube::throttle::Throttle;

#[derive(clap::Args, Debug, Clone)]
pub struct KubeApiLimits {
    /// API requests per second this process sends on average; 0 (the default) sets no
    /// client-side limit and leaves it to the API server's priority and fairness. Upstream's
    /// controllers default to 20, which throttles them in scale runs.
    #[arg(long, default_value_t = 0.0)]
    pub kube_api_qps: f64,
    /// API requests sent at once before `--kube-api-qps` spaces them out.
    #[arg(long, default_value_t = 30)]
    pub kube_api_burst: u32,
}

impl KubeApiLimits {
    /// The limit, or `None` when there is none.
    pub fn throttle(&self) -> Option<Throttle> {
        Throttle::from_flags(self.kube_api_qps, self.kube_api_burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_or_nonsense_qps_means_no_limit() {
        for qps in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            let limits = KubeApiLimits {
                kube_api_qps: qps,
                kube_api_burst: 30,
            };
            assert_eq!(limits.throttle(), None, "{qps}");
        }
        let limits = KubeApiLimits {
            kube_api_qps: 20.0,
            kube_api_burst: 30,
        };
        assert_eq!(
            limits.throttle(),
            Some(Throttle {
                qps: 20.0,
                burst: 30
            })
        );
    }
}
