//! Prometheus metrics with the upstream `metal3_*` names.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HostLabels {
    pub namespace: String,
    pub host: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorTypeLabels {
    pub error_type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateChangeLabels {
    pub prev_state: String,
    pub new_state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PowerLabels {
    pub namespace: String,
    pub host: String,
    pub on_off: String,
}

/// The operator's metrics.
#[derive(Default)]
pub struct Metrics {
    pub reconcile: Family<HostLabels, Counter>,
    pub reconcile_error: Counter,
    pub host_error: Family<ErrorTypeLabels, Counter>,
    pub state_change: Family<StateChangeLabels, Counter>,
    pub power_change: Family<PowerLabels, Counter>,
    pub credentials_missing: Counter,
    pub credentials_invalid: Counter,
    pub credentials_updated: Counter,
    pub unmanaged: Counter,
    pub delayed_provisioning: Counter,
    pub delayed_deprovisioning: Counter,
}

impl Metrics {
    /// Registers every metric in `registry` under its upstream name. (The client library adds
    /// the `_total` suffix to counters.)
    pub fn register(&self, registry: &mut Registry) {
        let r = registry;
        r.register(
            "metal3_reconcile",
            "Reconciles of a host",
            self.reconcile.clone(),
        );
        r.register(
            "metal3_reconcile_error",
            "Reconciles that failed",
            self.reconcile_error.clone(),
        );
        r.register(
            "metal3_host_error",
            "Host errors by type",
            self.host_error.clone(),
        );
        r.register(
            "metal3_provisioning_state_change",
            "Provisioning state changes",
            self.state_change.clone(),
        );
        r.register(
            "metal3_operation_power_change",
            "Power changes requested",
            self.power_change.clone(),
        );
        r.register(
            "metal3_credentials_missing",
            "Hosts whose credentials Secret is missing",
            self.credentials_missing.clone(),
        );
        r.register(
            "metal3_credentials_invalid",
            "Hosts whose BMC details are invalid",
            self.credentials_invalid.clone(),
        );
        r.register(
            "metal3_credentials_updated",
            "BMC credentials validated after a change",
            self.credentials_updated.clone(),
        );
        r.register(
            "metal3_host_unmanaged",
            "Hosts found without BMC details",
            self.unmanaged.clone(),
        );
        r.register(
            "metal3_delayed__provisioning",
            "Hosts delayed before provisioning for lack of capacity",
            self.delayed_provisioning.clone(),
        );
        r.register(
            "metal3_delayed__deprovisioning",
            "Hosts delayed before deprovisioning for lack of capacity",
            self.delayed_deprovisioning.clone(),
        );
    }
}
