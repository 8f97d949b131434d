//! The IP pools a template refers to: the metadata's pools, each network's and route's address
//! source, and the DNS pools, resolved to one kind and group per pool name.

use std::collections::BTreeMap;

use metal3_capm3_api::v1beta2::{FromPoolAnnotation, IpPoolReference, MetaData, NetworkData};

use super::{IPAM_GROUP, IPPOOL_KIND, Objects, PoolRef, RenderError, Route, err};

/// The pools a template refers to, by name. A name used with two different kinds is an error.
/// Pools named through annotations are resolved from `objects`; without them (when addresses
/// are being released) such references are skipped.
pub fn referenced_pools(
    meta: Option<&MetaData>,
    network: Option<&NetworkData>,
    objects: Option<&Objects<'_>>,
) -> Result<BTreeMap<String, PoolRef>, RenderError> {
    let mut pools: BTreeMap<String, PoolRef> = BTreeMap::new();
    let mut add = |name: &str, kind: &str, group: &str| -> Result<(), RenderError> {
        if name.is_empty() {
            return Ok(());
        }
        let pool = PoolRef {
            name: name.to_string(),
            kind: if kind.is_empty() { IPPOOL_KIND } else { kind }.to_string(),
            api_group: if group.is_empty() { IPAM_GROUP } else { group }.to_string(),
        };
        match pools.get(name) {
            Some(old) if *old != pool => err(format!(
                "IP pool {name:?} is referred to as {}/{} and as {}/{}; one name must mean one pool",
                old.api_group, old.kind, pool.api_group, pool.kind
            )),
            Some(_) => Ok(()),
            None => {
                pools.insert(name.to_string(), pool);
                Ok(())
            }
        }
    };
    if let Some(meta) = meta {
        for p in meta
            .ip_addresses_from_pool
            .iter()
            .chain(&meta.prefixes_from_pool)
            .chain(&meta.gateways_from_pool)
            .chain(&meta.dns_servers_from_pool)
        {
            // Metadata pools are always Metal3 IP pools.
            add(&p.name, IPPOOL_KIND, IPAM_GROUP)?;
        }
    }
    let annotation = |a: &FromPoolAnnotation| -> Result<Option<String>, RenderError> {
        if *a == FromPoolAnnotation::default() {
            return Ok(None);
        }
        objects.map(|o| o.pool_from_annotation(a)).transpose()
    };
    let mut source =
        |a: &FromPoolAnnotation, r: &IpPoolReference, name: &str| -> Result<(), RenderError> {
            if *a != FromPoolAnnotation::default() {
                if let Some(name) = annotation(a)? {
                    add(&name, IPPOOL_KIND, IPAM_GROUP)?;
                }
                Ok(())
            } else if !r.name.is_empty() {
                add(&r.name, &r.kind, &r.api_group)
            } else {
                add(name, "", "")
            }
        };
    if let Some(networks) = network.and_then(|n| n.networks.as_ref()) {
        let routes4 = networks
            .ipv4
            .iter()
            .flat_map(|n| &n.routes)
            .chain(networks.ipv4_dhcp.iter().flat_map(|n| &n.routes))
            .map(Route::from);
        let routes6 = networks
            .ipv6
            .iter()
            .flat_map(|n| &n.routes)
            .chain(networks.ipv6_dhcp.iter().flat_map(|n| &n.routes))
            .chain(networks.ipv6_slaac.iter().flat_map(|n| &n.routes))
            .map(Route::from);
        for n in &networks.ipv4 {
            source(
                &n.from_pool_annotation,
                &n.from_pool_ref,
                &n.ip_address_from_ip_pool,
            )?;
        }
        for n in &networks.ipv6 {
            source(
                &n.from_pool_annotation,
                &n.from_pool_ref,
                &n.ip_address_from_ip_pool,
            )?;
        }
        for route in routes4.chain(routes6) {
            source(
                route.gateway_annotation,
                route.gateway_ref,
                route.gateway_pool,
            )?;
            source(
                &FromPoolAnnotation::default(),
                &IpPoolReference::default(),
                route.dns_pool,
            )?;
        }
    }
    if let Some(services) = network.and_then(|n| n.services.as_ref()) {
        add(&services.dns_from_ip_pool, "", "")?;
    }
    Ok(pools)
}
