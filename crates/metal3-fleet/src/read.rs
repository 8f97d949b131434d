//! The reads a host's story needs beyond the host itself (list and get only): its Events, its
//! step log and the operator's leader-election Lease.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use metal3_api::v1alpha1::BareMetalHost;

use crate::steps::{self, Step};

/// The operator's Lease (upstream's ID; `metal3 operator` uses the same).
pub const OPERATOR_LEASE: &str = "baremetal-operator";

/// The Events regarding `host`. Listed through events.k8s.io/v1, which also returns the
/// Events written through core/v1 (one storage; core's fields show as `deprecated*`), so one
/// list sees both and none twice.
pub async fn events(client: &Client, host: &BareMetalHost) -> Result<Vec<Event>, kube::Error> {
    let ns = host.namespace().unwrap_or_default();
    let api: Api<Event> = Api::namespaced(client.clone(), &ns);
    let fields = format!(
        "regarding.kind=BareMetalHost,regarding.name={}",
        host.name_any()
    );
    Ok(api
        .list(&ListParams::default().fields(&fields))
        .await?
        .items)
}

/// The host's step log, as the operator keeps it; empty when there is none or it cannot be
/// read (a reader without `get` on ConfigMaps still sees the rest of the story).
pub async fn steps(client: &Client, host: &BareMetalHost) -> Vec<Step> {
    let Some(name) = steps::config_map_name(&host.name_any()) else {
        return Vec::new();
    };
    let api: Api<ConfigMap> =
        Api::namespaced(client.clone(), &host.namespace().unwrap_or_default());
    match api.get_opt(&name).await {
        Ok(Some(cm)) => steps::of_config_map(&cm),
        _ => Vec::new(),
    }
}

/// The operator's Lease wherever it is; when the whole cluster's Leases are not readable, the
/// one in `namespace`. Empty when there is none (leader election off) or none is readable.
pub async fn operator_leases(client: &Client, namespace: Option<&str>) -> Vec<Lease> {
    let by_name = ListParams::default().fields(&format!("metadata.name={OPERATOR_LEASE}"));
    let all: Api<Lease> = Api::all(client.clone());
    match all.list(&by_name).await {
        Ok(list) => list.items,
        Err(_) => match namespace {
            Some(ns) => {
                let api: Api<Lease> = Api::namespaced(client.clone(), ns);
                api.get_opt(OPERATOR_LEASE)
                    .await
                    .ok()
                    .flatten()
                    .into_iter()
                    .collect()
            }
            None => Vec::new(),
        },
    }
}
