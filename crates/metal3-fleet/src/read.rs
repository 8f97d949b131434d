//! The reads a host's story needs beyond the host itself (list and get only): its Events and
//! the operator's leader-election Lease.

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use metal3_api::v1alpha1::BareMetalHost;

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
