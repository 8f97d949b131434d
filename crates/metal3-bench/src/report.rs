//! The Markdown report: what the phases measured, what the run cost, and how long hosts spent
//! in each state (p50/p95/p99).

use std::collections::BTreeMap;
use std::time::Duration;

use crate::Args;
use crate::fleet::Seen;

/// What the lifecycle's phases measured.
pub(crate) struct Phases {
    /// From creating the hosts until all are available.
    pub(crate) to_available: Duration,
    /// From asking for live ISOs until all hosts are provisioned.
    pub(crate) provision_time: Duration,
    /// The whole lifecycle, idle windows left out.
    pub(crate) total: Duration,
    /// BMC calls per phase.
    pub(crate) calls: BTreeMap<&'static str, u64>,
    /// BMC calls during the two idle windows of available hosts.
    pub(crate) idle_available: [crate::fleet::Idle; 2],
    /// BMC calls during the two idle windows of provisioned hosts.
    pub(crate) idle_provisioned: [crate::fleet::Idle; 2],
}

/// Everything the report shows.
pub(crate) struct Report<'a> {
    /// How the benchmark ran.
    pub(crate) args: &'a Args,
    /// The simulated BMC latency, `[min, max]` ms.
    pub(crate) latency: [u64; 2],
    /// What the phases measured.
    pub(crate) phases: Phases,
    /// The operator's peak RSS in KiB and CPU seconds.
    pub(crate) operator_usage: (u64, f64),
    /// Ironic's processes' summed peak RSS in KiB and CPU seconds, with Ironic.
    pub(crate) ironic_usage: Option<(u64, f64)>,
    /// API server requests during the run, by kind, most first.
    pub(crate) api_by_kind: Vec<(String, f64)>,
    /// Seconds spent in each provisioning state, one entry per host and visit.
    pub(crate) per_state: BTreeMap<String, Vec<f64>>,
}

impl Report<'_> {
    /// Prints the report on stdout.
    pub(crate) fn print(self) {
        self.print_measures();
        println!();
        print_states(self.per_state);
    }

    fn print_measures(&self) {
        let args = self.args;
        let phases = &self.phases;
        let n = args.hosts as f64;
        println!(
            "## {} hosts, --provisioner {:?}",
            args.hosts, args.provisioner
        );
        println!();
        println!(
            "Settings: BMC latency {}-{} ms per call, POST {} ms, operator concurrency {}.",
            self.latency[0], self.latency[1], args.post_ms, args.concurrency
        );
        println!();
        println!("| Measure | Value |");
        println!("|---|---|");
        println!(
            "| Whole lifecycle (create → available → provisioned → available, idle windows left out) | {:.1} s, {:.0} hosts/hour |",
            phases.total.as_secs_f64(),
            n / phases.total.as_secs_f64() * 3600.0
        );
        println!(
            "| Created → all available | {:.1} s |",
            phases.to_available.as_secs_f64()
        );
        println!(
            "| Provision all (live ISO) | {:.1} s, {:.0} hosts/hour |",
            phases.provision_time.as_secs_f64(),
            n / phases.provision_time.as_secs_f64() * 3600.0
        );
        for (phase, c) in &phases.calls {
            println!("| BMC calls per host: {phase} | {:.1} |", *c as f64 / n);
        }
        for (what, windows) in [
            ("available", &phases.idle_available),
            ("provisioned", &phases.idle_provisioned),
        ] {
            for (which, (idle, kinds)) in ["first", "second (steady state)"].iter().zip(windows) {
                println!(
                    "| BMC calls per {what} host per idle hour, {which} window | {:.1} (over {} s: {kinds:?}) |",
                    *idle as f64 / n * 3600.0 / args.idle_seconds as f64,
                    args.idle_seconds
                );
            }
        }
        let (rss_kib, cpu_s) = self.operator_usage;
        println!("| Operator peak RSS | {:.1} MiB |", rss_kib as f64 / 1024.0);
        println!(
            "| Operator CPU | {cpu_s:.1} s ({:.2} s per host) |",
            cpu_s / n
        );
        if let Some((rss_kib, cpu_s)) = self.ironic_usage {
            println!(
                "| Ironic (all its processes: peak RSS summed, CPU) | {:.1} MiB, {cpu_s:.1} s ({:.2} s per host) |",
                rss_kib as f64 / 1024.0,
                cpu_s / n
            );
        }
        let api_requests: f64 = self.api_by_kind.iter().map(|(_, v)| v).sum();
        println!(
            "| API server requests per host (all clients, bench driver included) | {:.1} |",
            api_requests / n
        );
        let top: Vec<String> = self
            .api_by_kind
            .iter()
            .take(8)
            .map(|(k, v)| format!("{k}: {:.1}", v / n))
            .collect();
        println!("| … of which per host, most first | {} |", top.join(", "));
    }
}

/// The table of time in each state.
fn print_states(per_state: BTreeMap<String, Vec<f64>>) {
    println!("| State | hosts | p50 s | p95 s | p99 s |");
    println!("|---|---|---|---|---|");
    for (state, mut times) in per_state {
        times.sort_by(f64::total_cmp);
        println!(
            "| {state} | {} | {:.1} | {:.1} | {:.1} |",
            times.len(),
            percentile(&times, 50.0),
            percentile(&times, 95.0),
            percentile(&times, 99.0)
        );
    }
}

/// Seconds spent in each state (the empty state as `(new)`), across hosts.
pub(crate) fn time_in_states(seen: &BTreeMap<String, Seen>) -> BTreeMap<String, Vec<f64>> {
    let mut per_state: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for host in seen.values() {
        for pair in host.states.windows(2) {
            let (state, since) = &pair[0];
            let (_, until) = &pair[1];
            per_state
                .entry(if state.is_empty() {
                    "(new)".into()
                } else {
                    state.clone()
                })
                .or_default()
                .push(until.duration_since(*since).as_secs_f64());
        }
    }
    per_state
}

/// The `p`th percentile of `sorted` (nearest rank; 0 when empty).
fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let sorted: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&sorted, 50.0), 51.0);
        assert_eq!(percentile(&sorted, 99.0), 99.0);
        assert_eq!(percentile(&sorted, 100.0), 100.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn time_is_counted_per_state_left() {
        let t = Instant::now();
        let mut seen = BTreeMap::new();
        seen.insert(
            "h".to_string(),
            Seen {
                states: vec![
                    (String::new(), t),
                    ("registering".into(), t + Duration::from_secs(1)),
                    ("available".into(), t + Duration::from_secs(4)),
                ],
                ..Seen::default()
            },
        );
        let per_state = time_in_states(&seen);
        assert_eq!(per_state["(new)"], [1.0]);
        assert_eq!(per_state["registering"], [3.0]);
        assert!(!per_state.contains_key("available"), "still there");
    }
}
