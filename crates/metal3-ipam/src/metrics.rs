//! The IP address manager's Prometheus counters (served on `/metrics` by `metal3 ipam`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::facts::ClaimKind;

/// Labels naming a claim kind.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    /// `IPClaim` or `IPAddressClaim`.
    pub kind: String,
}

/// Labels of a failed allocation.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FailureLabels {
    /// `PoolExhausted` or `AllocationFailed`, as Cluster API names them.
    pub reason: String,
}

/// The counters.
#[derive(Default)]
pub struct Metrics {
    /// `metal3_ipam_allocations`: addresses handed out, by claim kind.
    pub allocations: Family<KindLabels, Counter>,
    /// `metal3_ipam_releases`: addresses taken back, by claim kind.
    pub releases: Family<KindLabels, Counter>,
    /// `metal3_ipam_allocation_failures`: claims that got no address, by reason.
    pub failures: Family<FailureLabels, Counter>,
    /// `metal3_ipam_conflicts`: pool writes that lost a race and were tried again.
    pub conflicts: Counter,
    /// `metal3_ipam_reconcile_errors`: passes that failed.
    pub reconcile_errors: Counter,
}

fn kind(k: ClaimKind) -> KindLabels {
    KindLabels {
        kind: k.claim_kind().to_string(),
    }
}

impl Metrics {
    /// Counts an address handed out.
    pub fn allocated(&self, k: ClaimKind) {
        self.allocations.get_or_create(&kind(k)).inc();
    }

    /// Counts an address taken back.
    pub fn released(&self, k: ClaimKind) {
        self.releases.get_or_create(&kind(k)).inc();
    }

    /// Counts a claim that got no address.
    pub fn failed(&self, exhausted: bool) {
        let reason = if exhausted {
            metal3_ipam_api::consts::CAPI_POOL_EXHAUSTED_REASON
        } else {
            metal3_ipam_api::consts::CAPI_ALLOCATION_FAILED_REASON
        };
        self.failures
            .get_or_create(&FailureLabels {
                reason: reason.to_string(),
            })
            .inc();
    }

    /// Registers every counter in `registry` (the client library adds `_total`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "metal3_ipam_allocations",
            "Addresses handed out, by claim kind",
            self.allocations.clone(),
        );
        registry.register(
            "metal3_ipam_releases",
            "Addresses taken back, by claim kind",
            self.releases.clone(),
        );
        registry.register(
            "metal3_ipam_allocation_failures",
            "Claims that got no address, by reason",
            self.failures.clone(),
        );
        registry.register(
            "metal3_ipam_conflicts",
            "Pool writes that lost a race and were tried again",
            self.conflicts.clone(),
        );
        registry.register(
            "metal3_ipam_reconcile_errors",
            "Passes over a pool that failed",
            self.reconcile_errors.clone(),
        );
    }
}
