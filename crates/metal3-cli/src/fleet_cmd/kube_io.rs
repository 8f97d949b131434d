//! The fleet commands' reads of hosts from the cluster (list and get only), with what a
//! refusal most likely means; a host's Events and the operator's Lease are read by
//! [`metal3_fleet::read`].

use anyhow::{Context, Result, bail};
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use metal3_api::v1alpha1::BareMetalHost;

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
