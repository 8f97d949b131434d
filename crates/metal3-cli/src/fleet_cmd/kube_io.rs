//! The fleet commands' reads from the cluster (list and get only): hosts, a host's Events, the
//! operator's leader-election Lease.

use anyhow::{Context, Result, bail};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::events::v1::Event;
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use metal3_api::v1alpha1::BareMetalHost;

/// The operator's leader-election Lease (upstream's ID; `metal3 operator` uses the same).
const OPERATOR_LEASE: &str = "baremetal-operator";

/// What a failed list of hosts most likely means.
fn hosts_error(e: kube::Error) -> anyhow::Error {
    match &e {
        kube::Error::Api(s) if s.code == 404 => {
            anyhow::anyhow!(
                "the BareMetalHost CRD (metal3.io/v1alpha1) is not installed in this cluster"
            )
        }
        kube::Error::Api(s) if s.code == 403 => {
            anyhow::anyhow!("not allowed to list BareMetalHosts: {}", s.message)
        }
        _ => anyhow::Error::new(e).context("listing BareMetalHosts"),
    }
}

/// The hosts of `namespace`, or of every namespace.
pub async fn hosts(client: &Client, namespace: Option<&str>) -> Result<Vec<BareMetalHost>> {
    let api: Api<BareMetalHost> = match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    Ok(api
        .list(&ListParams::default())
        .await
        .map_err(hosts_error)?
        .items)
}

/// Host `name` in `namespace`; without one, the only host of that name in the cluster.
pub async fn host(client: &Client, namespace: Option<&str>, name: &str) -> Result<BareMetalHost> {
    if let Some(ns) = namespace {
        let api: Api<BareMetalHost> = Api::namespaced(client.clone(), ns);
        return api
            .get_opt(name)
            .await
            .map_err(hosts_error)?
            .with_context(|| format!("no BareMetalHost {name} in namespace {ns}"));
    }
    let api: Api<BareMetalHost> = Api::all(client.clone());
    let found = api
        .list(&ListParams::default().fields(&format!("metadata.name={name}")))
        .await
        .map_err(hosts_error)?
        .items;
    match found.len() {
        0 => bail!("no BareMetalHost {name} in any namespace"),
        1 => Ok(found.into_iter().next().context("one host")?),
        _ => {
            let namespaces: Vec<String> = found.iter().filter_map(|h| h.namespace()).collect();
            bail!(
                "BareMetalHost {name} is in several namespaces ({}): say which with -n",
                namespaces.join(", ")
            )
        }
    }
}

/// The Events regarding `host`. Listed through events.k8s.io/v1, which also returns the
/// Events written through core/v1 (one storage; core's fields show as `deprecated*`), so one
/// list sees both and none twice.
pub async fn events(client: &Client, host: &BareMetalHost) -> Result<Vec<Event>> {
    let ns = host.namespace().unwrap_or_default();
    let api: Api<Event> = Api::namespaced(client.clone(), &ns);
    let fields = format!(
        "regarding.kind=BareMetalHost,regarding.name={}",
        host.name_any()
    );
    Ok(api
        .list(&ListParams::default().fields(&fields))
        .await
        .with_context(|| {
            format!(
                "listing the Events of BareMetalHost {ns}/{}",
                host.name_any()
            )
        })?
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
