//! Prometheus metrics with the upstream `metal3_*` names.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
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
    pub delete_without_deprovisioning: Counter,
    pub provisioner_not_ready: Counter,
    pub waiting_for_preprov_image: Counter,
    pub register_duration: Histogram,
    pub inspect_duration: Histogram,
    pub provision_duration: Histogram,
    pub deprovision_duration: Histogram,
}

/// Upstream's buckets for operation durations, in seconds.
const DURATION_BUCKETS: [f64; 6] = [30.0, 90.0, 180.0, 360.0, 720.0, 1440.0];

impl Default for Metrics {
    fn default() -> Self {
        let histogram = || Histogram::new(DURATION_BUCKETS);
        Self {
            reconcile: Family::default(),
            reconcile_error: Counter::default(),
            host_error: Family::default(),
            state_change: Family::default(),
            power_change: Family::default(),
            credentials_missing: Counter::default(),
            credentials_invalid: Counter::default(),
            credentials_updated: Counter::default(),
            unmanaged: Counter::default(),
            delayed_provisioning: Counter::default(),
            delayed_deprovisioning: Counter::default(),
            delete_without_deprovisioning: Counter::default(),
            provisioner_not_ready: Counter::default(),
            waiting_for_preprov_image: Counter::default(),
            register_duration: histogram(),
            inspect_duration: histogram(),
            provision_duration: histogram(),
            deprovision_duration: histogram(),
        }
    }
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
        r.register(
            "metal3_delete_without_deprovisioning",
            "Detached hosts deleted without deprovisioning",
            self.delete_without_deprovisioning.clone(),
        );
        r.register(
            "metal3_provisioner_not_ready",
            "Reconciles that found the provisioner not ready",
            self.provisioner_not_ready.clone(),
        );
        r.register(
            "metal3_waiting_for_preprov_image",
            "Registrations waiting for a preprovisioning image",
            self.waiting_for_preprov_image.clone(),
        );
        for (name, help, h) in [
            (
                "metal3_operation_register_duration_seconds",
                "Time spent registering",
                &self.register_duration,
            ),
            (
                "metal3_operation_inspect_duration_seconds",
                "Time spent inspecting",
                &self.inspect_duration,
            ),
            (
                "metal3_operation_provision_duration_seconds",
                "Time spent provisioning",
                &self.provision_duration,
            ),
            (
                "metal3_operation_deprovision_duration_seconds",
                "Time spent deprovisioning",
                &self.deprovision_duration,
            ),
        ] {
            r.register(name, help, h.clone());
        }
    }
}
