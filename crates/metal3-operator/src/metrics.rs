//! Prometheus metrics with the upstream `metal3_*` names.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Labels naming one host.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HostLabels {
    /// The host's namespace.
    pub namespace: String,
    /// The host's name.
    pub host: String,
}

/// Labels of a host error.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorTypeLabels {
    /// The error type (`status.errorType`).
    pub error_type: String,
}

/// Labels of a provisioning state change.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateChangeLabels {
    /// The state left.
    pub prev_state: String,
    /// The state entered.
    pub new_state: String,
}

/// Labels of a power change.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PowerLabels {
    /// The host's namespace.
    pub namespace: String,
    /// The host's name.
    pub host: String,
    /// `on` or `off`.
    pub on_off: String,
}

/// The operator's metrics.
pub struct Metrics {
    /// `metal3_reconcile`: reconciles, per host.
    pub reconcile: Family<HostLabels, Counter>,
    /// Every host's reconciles together, for the fleet page's rate (not exported: the sum of
    /// `metal3_reconcile`).
    pub reconciles: Counter,
    /// `metal3_reconcile_error`: reconciles that failed.
    pub reconcile_error: Counter,
    /// `metal3_host_error`: host errors, by type.
    pub host_error: Family<ErrorTypeLabels, Counter>,
    /// `metal3_provisioning_state_change`: provisioning state changes.
    pub state_change: Family<StateChangeLabels, Counter>,
    /// `metal3_operation_power_change`: power changes asked for, per host.
    pub power_change: Family<PowerLabels, Counter>,
    /// `metal3_credentials_missing`: passes that found the credentials Secret missing.
    pub credentials_missing: Counter,
    /// `metal3_credentials_invalid`: passes that found the BMC details invalid.
    pub credentials_invalid: Counter,
    /// `metal3_credentials_updated`: credentials validated after a change.
    pub credentials_updated: Counter,
    /// `metal3_host_unmanaged`: hosts found without BMC details.
    pub unmanaged: Counter,
    /// `metal3_delayed__provisioning`: provisioning delayed for lack of capacity.
    pub delayed_provisioning: Counter,
    /// `metal3_delayed__deprovisioning`: deprovisioning delayed for lack of capacity.
    pub delayed_deprovisioning: Counter,
    /// `metal3_delete_without_deprovisioning`: hosts deleted without deprovisioning.
    pub delete_without_deprovisioning: Counter,
    /// `metal3_provisioner_not_ready`: reconciles that found the provisioner not ready.
    pub provisioner_not_ready: Counter,
    /// `metal3_waiting_for_preprov_image`: registrations waiting for a preprovisioning image.
    pub waiting_for_preprov_image: Counter,
    /// `metal3_operation_register_duration_seconds`: time spent registering.
    pub register_duration: Histogram,
    /// `metal3_operation_inspect_duration_seconds`: time spent inspecting.
    pub inspect_duration: Histogram,
    /// `metal3_operation_provision_duration_seconds`: time spent provisioning.
    pub provision_duration: Histogram,
    /// `metal3_operation_deprovision_duration_seconds`: time spent deprovisioning.
    pub deprovision_duration: Histogram,
    /// `metal3_operator_shards_held`: the shards this replica holds (`--shards`; 0 without).
    pub shards_held: Gauge,
}

/// Upstream's buckets for operation durations, in seconds.
const DURATION_BUCKETS: [f64; 6] = [30.0, 90.0, 180.0, 360.0, 720.0, 1440.0];

impl Default for Metrics {
    fn default() -> Self {
        let histogram = || Histogram::new(DURATION_BUCKETS);
        Self {
            reconcile: Family::default(),
            reconciles: Counter::default(),
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
            shards_held: Gauge::default(),
        }
    }
}

impl Metrics {
    /// Registers every metric in `registry` under its upstream name. (The client library adds
    /// the `_total` suffix to counters.)
    pub fn register(&self, registry: &mut Registry) {
        let r = registry;
        r.register(
            "metal3_operator_shards_held",
            "Shards this replica holds (--shards)",
            self.shards_held.clone(),
        );
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
