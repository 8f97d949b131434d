//! Rendering a Metal3DataTemplate for one machine: the metadata (a flat map of strings) and the
//! network data (OpenStack `network_data.json` layout), both written as YAML into Secrets.
//! Pure: the objects and the addresses allocated from IP pools are inputs.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use kube::api::ObjectMeta;
use metal3_api::v1alpha1::BareMetalHost;
use metal3_capm3_api::common::DataObject;
use metal3_capm3_api::v1beta2::{
    FromPoolAnnotation, IpPoolReference, MetaData, NetworkData, NetworkDataLink,
    NetworkDataNetwork, NetworkDataRoutev4, NetworkDataRoutev6, NetworkLinkEthernetMac,
};
use serde_json::{Value, json};

use crate::provider_id::ProviderId;

/// Default API group of IP pools.
pub const IPAM_GROUP: &str = "ipam.metal3.io";
/// Default kind of IP pools.
pub const IPPOOL_KIND: &str = "IPPool";

/// An address allocated from a pool.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PoolAddress {
    /// The address.
    pub address: String,
    /// Prefix length of its network.
    pub prefix: i32,
    /// Gateway of its network.
    pub gateway: String,
    /// DNS servers of its network.
    pub dns_servers: Vec<String>,
}

/// A pool, by name, with the kind and group that serve it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolRef {
    /// Pool name.
    pub name: String,
    /// Pool kind (`IPPool` for Metal3 IPAM).
    pub kind: String,
    /// Pool API group (`ipam.metal3.io` for Metal3 IPAM).
    pub api_group: String,
}

impl PoolRef {
    /// Whether the pool is a Metal3 IPAM `IPPool` (claimed with an `IPClaim`); other pools are
    /// claimed with a Cluster API `IPAddressClaim`.
    pub fn is_metal3(&self) -> bool {
        self.kind == IPPOOL_KIND && self.api_group == IPAM_GROUP
    }
}

/// Why rendering failed; the message names what to fix.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RenderError(pub String);

fn err<T>(message: impl Into<String>) -> Result<T, RenderError> {
    Err(RenderError(message.into()))
}

/// The objects a rendering reads.
#[derive(Clone, Debug)]
pub struct Objects<'a> {
    /// Index of the Metal3Data in its template.
    pub index: i32,
    /// Namespace of the Metal3Data.
    pub namespace: &'a str,
    /// The Cluster API Machine.
    pub machine: &'a ObjectMeta,
    /// The Metal3Machine.
    pub metal3machine: &'a ObjectMeta,
    /// The BareMetalHost.
    pub host: &'a BareMetalHost,
}

impl Objects<'_> {
    fn meta(&self, object: DataObject) -> &ObjectMeta {
        match object {
            DataObject::Machine => self.machine,
            DataObject::Metal3Machine => self.metal3machine,
            DataObject::BareMetalHost => &self.host.metadata,
        }
    }

    fn annotation(&self, object: DataObject, key: &str) -> String {
        self.meta(object)
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .cloned()
            .unwrap_or_default()
    }

    fn label(&self, object: DataObject, key: &str) -> String {
        self.meta(object)
            .labels
            .as_ref()
            .and_then(|a| a.get(key))
            .cloned()
            .unwrap_or_default()
    }

    fn host_mac(&self, nic: &str) -> Result<String, RenderError> {
        let nics = self
            .host
            .status
            .as_ref()
            .and_then(|s| s.hardware.as_ref())
            .map(|h| h.nics.as_slice())
            .unwrap_or_default();
        if nics.is_empty() {
            return err(format!(
                "BareMetalHost {} has no NICs in its inventory yet; wait for inspection",
                self.host.metadata.name.as_deref().unwrap_or_default()
            ));
        }
        nics.iter()
            .find(|n| n.name == nic)
            .map(|n| n.mac.clone())
            .ok_or_else(|| {
                RenderError(format!(
                    "BareMetalHost {} has no NIC named {nic:?}",
                    self.host.metadata.name.as_deref().unwrap_or_default()
                ))
            })
    }

    fn pool_from_annotation(&self, a: &FromPoolAnnotation) -> Result<String, RenderError> {
        let value = self.annotation(a.object, &a.annotation);
        if value.is_empty() {
            return err(format!(
                "annotation {} is missing or empty on the {}; it must name an IP pool",
                a.annotation,
                a.object.as_str()
            ));
        }
        Ok(value)
    }

    fn provider_id(&self) -> ProviderId {
        ProviderId::new(
            self.metal3machine.namespace.as_deref().unwrap_or_default(),
            self.host.metadata.name.as_deref().unwrap_or_default(),
            self.metal3machine.name.as_deref().unwrap_or_default(),
        )
    }
}

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

/// The address allocated from `pool`, or an error saying it is missing.
fn from_pool<'a>(
    pools: &'a BTreeMap<String, PoolAddress>,
    pool: &str,
) -> Result<&'a PoolAddress, RenderError> {
    pools.get(pool).ok_or_else(|| {
        RenderError(format!(
            "no address has been allocated from IP pool {pool:?} yet"
        ))
    })
}

/// Renders the metadata: every item of the template, later kinds overriding earlier ones on
/// the same key (host interfaces, IP addresses, prefixes, gateways, indexes, namespaces, object
/// names, labels, annotations, strings), then `providerid`.
pub fn metadata(
    template: &MetaData,
    objects: &Objects<'_>,
    pools: &BTreeMap<String, PoolAddress>,
) -> Result<BTreeMap<String, String>, RenderError> {
    let mut out = BTreeMap::new();
    for entry in &template.from_host_interfaces {
        let value = if entry.from_boot_mac == Some(true) {
            let mac = &objects.host.spec.boot_mac_address;
            if mac.is_empty() {
                return err(format!(
                    "metadata key {:?}: BareMetalHost {} has no spec.bootMACAddress",
                    entry.key,
                    objects.host.metadata.name.as_deref().unwrap_or_default()
                ));
            }
            mac.clone()
        } else {
            objects.host_mac(&entry.interface)?
        };
        out.insert(entry.key.clone(), value);
    }
    for entry in &template.ip_addresses_from_pool {
        out.insert(
            entry.key.clone(),
            from_pool(pools, &entry.name)?.address.clone(),
        );
    }
    for entry in &template.prefixes_from_pool {
        out.insert(
            entry.key.clone(),
            from_pool(pools, &entry.name)?.prefix.to_string(),
        );
    }
    for entry in &template.gateways_from_pool {
        out.insert(
            entry.key.clone(),
            from_pool(pools, &entry.name)?.gateway.clone(),
        );
    }
    for entry in &template.indexes {
        let step = entry.step.filter(|s| *s != 0).unwrap_or(1);
        let value =
            i64::from(entry.offset.unwrap_or(0)) + i64::from(objects.index) * i64::from(step);
        out.insert(
            entry.key.clone(),
            format!("{}{value}{}", entry.prefix, entry.suffix),
        );
    }
    for entry in &template.namespaces {
        out.insert(entry.key.clone(), objects.namespace.to_string());
    }
    for entry in &template.object_names {
        let name = objects.meta(entry.object).name.clone().unwrap_or_default();
        out.insert(entry.key.clone(), name);
    }
    for entry in &template.from_labels {
        out.insert(entry.key.clone(), objects.label(entry.object, &entry.label));
    }
    for entry in &template.from_annotations {
        out.insert(
            entry.key.clone(),
            objects.annotation(entry.object, &entry.annotation),
        );
    }
    for entry in &template.strings {
        out.insert(entry.key.clone(), entry.value.clone());
    }
    out.insert("providerid".into(), objects.provider_id().metadata_value());
    Ok(out)
}

/// A dotted netmask of `prefix` bits (IPv4), or the IPv6 mask in address form.
fn netmask(prefix: i32, ipv4: bool) -> String {
    if ipv4 {
        let bits = prefix.clamp(0, 32) as u32;
        let mask = if bits == 0 {
            0
        } else {
            u32::MAX << (32 - bits)
        };
        Ipv4Addr::from(mask).to_string()
    } else {
        let bits = prefix.clamp(0, 128) as u32;
        let mask = if bits == 0 {
            0
        } else {
            u128::MAX << (128 - bits)
        };
        Ipv6Addr::from(mask).to_string()
    }
}

fn valid_mac(mac: &str) -> bool {
    let parts: Vec<&str> = mac.split([':', '-']).collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn link_mac(
    mac: &NetworkLinkEthernetMac,
    objects: &Objects<'_>,
) -> Result<Option<String>, RenderError> {
    let value = if !mac.string.is_empty() {
        mac.string.clone()
    } else if !mac.from_host_interface.is_empty() {
        objects.host_mac(&mac.from_host_interface)?
    } else if mac.from_annotation != Default::default() {
        objects.annotation(mac.from_annotation.object, &mac.from_annotation.annotation)
    } else {
        return Ok(None);
    };
    if !valid_mac(&value) {
        return err(format!(
            "{value:?} is not a MAC address (six hex pairs separated by ':' or '-')"
        ));
    }
    Ok(Some(value))
}

fn links(links: &NetworkDataLink, objects: &Objects<'_>) -> Result<Vec<Value>, RenderError> {
    let mut out = Vec::new();
    for bond in &links.bonds {
        let mut entry = json!({
            "type": "bond",
            "id": bond.id,
            "mtu": bond.mtu.unwrap_or(1500),
            "bond_mode": bond.bond_mode.as_str(),
            "bond_xmit_hash_policy": bond.bond_xmit_hash_policy.map(|p| p.as_str()).unwrap_or_default(),
            "bond_links": bond.bond_links,
        });
        if !bond.name.is_empty() {
            entry["name"] = json!(bond.name);
        }
        if let Some(mac) = link_mac(&bond.mac_address, objects)? {
            entry["ethernet_mac_address"] = json!(mac);
        }
        let mut clashing = Vec::new();
        for param in &bond.parameters {
            let key = format!("bond_{}", param.name);
            if entry.get(&key).is_some() {
                clashing.push(param.name.clone());
            } else {
                entry[key] = param.value.clone();
            }
        }
        if !clashing.is_empty() {
            return err(format!(
                "bond {}: parameters {} clash with fields of the bond itself; set those fields instead",
                bond.id,
                clashing.join(", ")
            ));
        }
        out.push(entry);
    }
    for eth in &links.ethernets {
        let mut entry = json!({
            "type": eth.r#type.as_str(),
            "id": eth.id,
            "mtu": eth.mtu.unwrap_or(1500),
        });
        if !eth.name.is_empty() {
            entry["name"] = json!(eth.name);
        }
        if let Some(mac) = link_mac(&eth.mac_address, objects)? {
            entry["ethernet_mac_address"] = json!(mac);
        }
        out.push(entry);
    }
    for vlan in &links.vlans {
        let mut entry = json!({
            "type": "vlan",
            "id": vlan.id,
            "mtu": vlan.mtu.unwrap_or(1500),
            "vlan_link": vlan.vlan_link,
            "vlan_id": vlan.vlan_id,
        });
        if !vlan.name.is_empty() {
            entry["name"] = json!(vlan.name);
        }
        if let Some(mac) = link_mac(&vlan.mac_address, objects)? {
            entry["vlan_mac_address"] = json!(mac);
        }
        out.push(entry);
    }
    Ok(out)
}

/// A route of either family, seen through the fields rendering needs.
struct Route<'a> {
    network: &'a str,
    prefix: i32,
    gateway: Option<&'a str>,
    gateway_pool: &'a str,
    gateway_ref: &'a IpPoolReference,
    gateway_annotation: &'a FromPoolAnnotation,
    dns: &'a [String],
    dns_pool: &'a str,
}

/// The [`Route`] view of both families' routes.
macro_rules! route_view {
    ($route:ty) => {
        impl<'a> From<&'a $route> for Route<'a> {
            fn from(r: &'a $route) -> Self {
                Route {
                    network: &r.network,
                    prefix: r.prefix.unwrap_or(0),
                    gateway: r.gateway.string.as_deref(),
                    gateway_pool: &r.gateway.from_ip_pool,
                    gateway_ref: &r.gateway.from_pool_ref,
                    gateway_annotation: &r.gateway.from_pool_annotation,
                    dns: r
                        .services
                        .as_ref()
                        .map(|s| s.dns.as_slice())
                        .unwrap_or_default(),
                    dns_pool: r
                        .services
                        .as_ref()
                        .map(|s| s.dns_from_ip_pool.as_str())
                        .unwrap_or_default(),
                }
            }
        }
    };
}
route_view!(NetworkDataRoutev4);
route_view!(NetworkDataRoutev6);

fn dns_services(
    addresses: &[String],
    pool: &str,
    pools: &BTreeMap<String, PoolAddress>,
) -> Result<Vec<Value>, RenderError> {
    let mut out: Vec<Value> = addresses
        .iter()
        .map(|a| json!({"type": "dns", "address": a}))
        .collect();
    if !pool.is_empty() {
        for a in &from_pool(pools, pool)?.dns_servers {
            out.push(json!({"type": "dns", "address": a}));
        }
    }
    Ok(out)
}

fn routes<'a>(
    routes: impl Iterator<Item = Route<'a>>,
    ipv4: bool,
    objects: &Objects<'_>,
    pools: &BTreeMap<String, PoolAddress>,
) -> Result<Vec<Value>, RenderError> {
    routes
        .map(|r| {
            let gateway = if let Some(g) = r.gateway {
                g.to_string()
            } else if *r.gateway_annotation != FromPoolAnnotation::default() {
                from_pool(pools, &objects.pool_from_annotation(r.gateway_annotation)?)?
                    .gateway
                    .clone()
            } else if !r.gateway_ref.name.is_empty() {
                from_pool(pools, &r.gateway_ref.name)?.gateway.clone()
            } else if !r.gateway_pool.is_empty() {
                from_pool(pools, r.gateway_pool)?.gateway.clone()
            } else {
                String::new()
            };
            Ok(json!({
                "network": r.network,
                "netmask": netmask(r.prefix, ipv4),
                "gateway": gateway,
                "services": dns_services(r.dns, r.dns_pool, pools)?,
            }))
        })
        .collect()
}

fn networks(
    networks: &NetworkDataNetwork,
    objects: &Objects<'_>,
    pools: &BTreeMap<String, PoolAddress>,
) -> Result<Vec<Value>, RenderError> {
    let mut out = Vec::new();
    let address = |a: &FromPoolAnnotation, r: &IpPoolReference, name: &str| {
        let pool = if *a != FromPoolAnnotation::default() {
            objects.pool_from_annotation(a)?
        } else if !r.name.is_empty() {
            r.name.clone()
        } else {
            name.to_string()
        };
        from_pool(pools, &pool).cloned()
    };
    for n in &networks.ipv4 {
        let a = address(
            &n.from_pool_annotation,
            &n.from_pool_ref,
            &n.ip_address_from_ip_pool,
        )?;
        out.push(json!({
            "type": "ipv4", "id": n.id, "link": n.link,
            "ip_address": a.address, "netmask": netmask(a.prefix, true),
            "routes": routes(n.routes.iter().map(Route::from), true, objects, pools)?,
        }));
    }
    for n in &networks.ipv6 {
        let a = address(
            &n.from_pool_annotation,
            &n.from_pool_ref,
            &n.ip_address_from_ip_pool,
        )?;
        out.push(json!({
            "type": "ipv6", "id": n.id, "link": n.link,
            "ip_address": a.address, "netmask": netmask(a.prefix, false),
            "routes": routes(n.routes.iter().map(Route::from), false, objects, pools)?,
        }));
    }
    for n in &networks.ipv4_dhcp {
        out.push(json!({
            "type": "ipv4_dhcp", "id": n.id, "link": n.link,
            "routes": routes(n.routes.iter().map(Route::from), true, objects, pools)?,
        }));
    }
    for (kind, list) in [
        ("ipv6_dhcp", &networks.ipv6_dhcp),
        ("ipv6_slaac", &networks.ipv6_slaac),
    ] {
        for n in list {
            out.push(json!({
                "type": kind, "id": n.id, "link": n.link,
                "routes": routes(n.routes.iter().map(Route::from), false, objects, pools)?,
            }));
        }
    }
    Ok(out)
}

/// Renders the network data: `links` (bonds, then ethernets, then VLANs), `networks` and
/// `services`, each always present.
pub fn network_data(
    template: &NetworkData,
    objects: &Objects<'_>,
    pools: &BTreeMap<String, PoolAddress>,
) -> Result<Value, RenderError> {
    let links = match &template.links {
        Some(l) => links(l, objects)?,
        None => Vec::new(),
    };
    let networks = match &template.networks {
        Some(n) => networks(n, objects, pools)?,
        None => Vec::new(),
    };
    let services = match &template.services {
        Some(s) => dns_services(&s.dns, &s.dns_from_ip_pool, pools)?,
        None => Vec::new(),
    };
    Ok(json!({"links": links, "networks": networks, "services": services}))
}

/// YAML text of a rendered value (keys sorted, as upstream writes them).
pub fn to_yaml<T: serde::Serialize>(value: &T) -> Result<String, RenderError> {
    serde_saphyr::to_string(value).map_err(|e| RenderError(format!("cannot write YAML: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use metal3_api::v1alpha1::{BareMetalHostSpec, BareMetalHostStatus, HardwareDetails, Nic};

    fn meta(name: &str, labels: Value, annotations: Value) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some("ns".into()),
            labels: serde_json::from_value(labels).expect("labels"),
            annotations: serde_json::from_value(annotations).expect("annotations"),
            ..Default::default()
        }
    }

    fn host() -> BareMetalHost {
        let mut h = BareMetalHost::new(
            "host-0",
            BareMetalHostSpec {
                boot_mac_address: "00:00:00:00:00:01".into(),
                ..Default::default()
            },
        );
        h.metadata = meta(
            "host-0",
            json!({"rack": "r1"}),
            json!({"pool": "pool-from-host", "mac": "aa:bb:cc:dd:ee:ff"}),
        );
        h.status = Some(BareMetalHostStatus {
            hardware: Some(HardwareDetails {
                nics: vec![Nic {
                    name: "eth0".into(),
                    mac: "52:54:00:00:00:10".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        });
        h
    }

    struct World {
        machine: ObjectMeta,
        m3m: ObjectMeta,
        host: BareMetalHost,
    }

    fn world() -> World {
        World {
            machine: meta(
                "machine-0",
                json!({"role": "worker"}),
                json!({"note": "hello"}),
            ),
            m3m: meta("m3m-0", json!({}), json!({})),
            host: host(),
        }
    }

    fn objects(w: &World, index: i32) -> Objects<'_> {
        Objects {
            index,
            namespace: "ns",
            machine: &w.machine,
            metal3machine: &w.m3m,
            host: &w.host,
        }
    }

    fn pools() -> BTreeMap<String, PoolAddress> {
        [
            (
                "pool".to_string(),
                PoolAddress {
                    address: "192.168.0.14".into(),
                    prefix: 24,
                    gateway: "192.168.0.1".into(),
                    dns_servers: vec!["10.0.0.53".into()],
                },
            ),
            (
                "pool6".to_string(),
                PoolAddress {
                    address: "fd00::14".into(),
                    prefix: 64,
                    gateway: "fd00::1".into(),
                    dns_servers: vec![],
                },
            ),
            (
                "pool-from-host".to_string(),
                PoolAddress {
                    address: "172.16.0.9".into(),
                    prefix: 16,
                    gateway: "172.16.0.1".into(),
                    dns_servers: vec![],
                },
            ),
        ]
        .into()
    }

    #[test]
    fn metadata_of_every_kind() {
        let template: MetaData = serde_json::from_value(json!({
            "strings": [{"key": "s", "value": "v"}, {"key": "clash", "value": "strings win"}],
            "objectNames": [{"key": "machine", "object": "machine"}, {"key": "m3m", "object": "metal3machine"}, {"key": "bmh", "object": "baremetalhost"}],
            "indexes": [{"key": "idx", "offset": 10, "step": 2, "prefix": "node-", "suffix": ".x"}, {"key": "plain"}],
            "namespaces": [{"key": "ns"}],
            "ipAddressesFromPool": [{"key": "ip", "name": "pool"}],
            "prefixesFromPool": [{"key": "prefix", "name": "pool"}],
            "gatewaysFromPool": [{"key": "gw", "name": "pool"}, {"key": "clash", "name": "pool"}],
            "fromHostInterfaces": [{"key": "mac", "interface": "eth0"}, {"key": "boot", "fromBootMAC": true}],
            "fromLabels": [{"key": "role", "object": "machine", "label": "role"}, {"key": "rack", "object": "baremetalhost", "label": "rack"}, {"key": "none", "object": "metal3machine", "label": "x"}],
            "fromAnnotations": [{"key": "note", "object": "machine", "annotation": "note"}],
        }))
        .expect("template");
        let w = world();
        let out = metadata(&template, &objects(&w, 3), &pools()).expect("renders");
        let want: BTreeMap<String, String> = serde_json::from_value(json!({
            "s": "v", "clash": "strings win", "machine": "machine-0", "m3m": "m3m-0", "bmh": "host-0",
            "idx": "node-16.x", "plain": "3", "ns": "ns", "ip": "192.168.0.14", "prefix": "24",
            "gw": "192.168.0.1", "mac": "52:54:00:00:00:10", "boot": "00:00:00:00:00:01",
            "role": "worker", "rack": "r1", "none": "", "note": "hello",
            "providerid": "ns/host-0/m3m-0",
        }))
        .expect("want");
        assert_eq!(out, want);
    }

    #[test]
    fn metadata_errors_say_what_is_missing() {
        let w = world();
        let bad_nic: MetaData = serde_json::from_value(
            json!({"fromHostInterfaces": [{"key": "m", "interface": "eth9"}]}),
        )
        .expect("t");
        assert!(
            metadata(&bad_nic, &objects(&w, 0), &pools())
                .expect_err("nic")
                .0
                .contains("eth9")
        );
        let no_pool: MetaData = serde_json::from_value(
            json!({"ipAddressesFromPool": [{"key": "ip", "name": "elsewhere"}]}),
        )
        .expect("t");
        assert!(
            metadata(&no_pool, &objects(&w, 0), &pools())
                .expect_err("pool")
                .0
                .contains("elsewhere")
        );
    }

    #[test]
    fn the_reference_ipv4_network() {
        let template: NetworkData = serde_json::from_value(json!({
            "networks": {"ipv4": [{"id": "abc", "link": "def", "ipAddressFromIPPool": "pool",
                "routes": [{"network": "10.0.0.0", "prefix": 16, "gateway": {"string": "192.168.1.1"}, "services": {"dns": ["8.8.8.8"]}}]}]},
        }))
        .expect("template");
        let w = world();
        let out = network_data(&template, &objects(&w, 0), &pools()).expect("renders");
        assert_eq!(
            out,
            json!({
                "links": [], "services": [],
                "networks": [{"type": "ipv4", "id": "abc", "link": "def", "ip_address": "192.168.0.14", "netmask": "255.255.255.0",
                    "routes": [{"network": "10.0.0.0", "netmask": "255.255.0.0", "gateway": "192.168.1.1", "services": [{"type": "dns", "address": "8.8.8.8"}]}]}],
            })
        );
    }

    #[test]
    fn links_networks_and_services() {
        let template: NetworkData = serde_json::from_value(json!({
            "links": {
                "ethernets": [{"type": "phy", "id": "eth0", "macAddress": {"fromHostInterface": "eth0"}}],
                "bonds": [{"bondMode": "802.3ad", "bondXmitHashPolicy": "layer3+4", "id": "bond0", "name": "bond0", "mtu": 9000,
                           "macAddress": {"string": "00:11:22:33:44:55"}, "parameters": [{"name": "miimon", "value": {"ms": 100}}], "bondLinks": ["eth0"]}],
                "vlans": [{"vlanID": 100, "id": "vlan100", "vlanLink": "bond0", "macAddress": {"fromAnnotation": {"object": "baremetalhost", "annotation": "mac"}}}],
            },
            "networks": {
                "ipv6": [{"id": "v6", "link": "bond0", "fromPoolRef": {"name": "pool6"}, "routes": [{"network": "::", "gateway": {"fromIPPool": "pool6"}}]}],
                "ipv4": [{"id": "v4", "link": "vlan100", "fromPoolAnnotation": {"object": "baremetalhost", "annotation": "pool"},
                          "routes": [{"network": "0.0.0.0", "gateway": {"fromPoolAnnotation": {"object": "baremetalhost", "annotation": "pool"}}, "services": {"dnsFromIPPool": "pool"}}]}],
                "ipv4DHCP": [{"id": "d4", "link": "eth0"}],
                "ipv6SLAAC": [{"id": "s6", "link": "eth0"}],
            },
            "services": {"dns": ["8.8.4.4"], "dnsFromIPPool": "pool"},
        }))
        .expect("template");
        let w = world();
        let out = network_data(&template, &objects(&w, 0), &pools()).expect("renders");
        assert_eq!(
            out["links"],
            json!([
                {"type": "bond", "id": "bond0", "name": "bond0", "mtu": 9000, "bond_mode": "802.3ad", "bond_xmit_hash_policy": "layer3+4",
                 "bond_links": ["eth0"], "ethernet_mac_address": "00:11:22:33:44:55", "bond_miimon": {"ms": 100}},
                {"type": "phy", "id": "eth0", "mtu": 1500, "ethernet_mac_address": "52:54:00:00:00:10"},
                {"type": "vlan", "id": "vlan100", "mtu": 1500, "vlan_link": "bond0", "vlan_id": 100, "vlan_mac_address": "aa:bb:cc:dd:ee:ff"},
            ])
        );
        assert_eq!(
            out["networks"][0],
            json!({"type": "ipv4", "id": "v4", "link": "vlan100", "ip_address": "172.16.0.9", "netmask": "255.255.0.0",
            "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "172.16.0.1", "services": [{"type": "dns", "address": "10.0.0.53"}]}]})
        );
        assert_eq!(
            out["networks"][1],
            json!({"type": "ipv6", "id": "v6", "link": "bond0", "ip_address": "fd00::14", "netmask": "ffff:ffff:ffff:ffff::",
            "routes": [{"network": "::", "netmask": "::", "gateway": "fd00::1", "services": []}]})
        );
        assert_eq!(out["networks"][2]["type"], "ipv4_dhcp");
        assert_eq!(out["networks"][3]["type"], "ipv6_slaac");
        assert_eq!(
            out["services"],
            json!([{"type": "dns", "address": "8.8.4.4"}, {"type": "dns", "address": "10.0.0.53"}])
        );
        // The YAML reads back as the same document.
        let yaml = to_yaml(&out).expect("yaml");
        let back: Value = serde_saphyr::from_str(&yaml).expect("parses");
        assert_eq!(back, out, "{yaml}");
    }

    #[test]
    fn bad_links_are_refused() {
        let w = world();
        let clash: NetworkData = serde_json::from_value(
            json!({"links": {"bonds": [{"bondMode": "balance-rr", "id": "b", "macAddress": {},
            "parameters": [{"name": "mode", "value": {}}, {"name": "links", "value": {}}]}]}}),
        )
        .expect("t");
        let e = network_data(&clash, &objects(&w, 0), &pools())
            .expect_err("clash")
            .0;
        assert!(e.contains("mode, links"), "{e}");
        let bad_mac: NetworkData = serde_json::from_value(json!({"links": {"ethernets": [{"type": "phy", "id": "e", "macAddress": {"string": "nope"}}]}})).expect("t");
        assert!(
            network_data(&bad_mac, &objects(&w, 0), &pools())
                .expect_err("mac")
                .0
                .contains("MAC")
        );
    }

    #[test]
    fn referenced_pools_are_collected_and_checked() {
        let w = world();
        let meta: MetaData =
            serde_json::from_value(json!({"ipAddressesFromPool": [{"key": "ip", "name": "pool"}]}))
                .expect("m");
        let network: NetworkData = serde_json::from_value(json!({"networks": {
            "ipv4": [{"id": "a", "link": "l", "fromPoolRef": {"name": "capi", "kind": "InClusterIPPool", "apiGroup": "ipam.cluster.x-k8s.io"}},
                     {"id": "b", "link": "l", "fromPoolAnnotation": {"object": "baremetalhost", "annotation": "pool"}}],
            "ipv6DHCP": [{"id": "c", "link": "l", "routes": [{"network": "::", "gateway": {"fromIPPool": "gw6"}, "services": {"dnsFromIPPool": "dns"}}]}],
        }})).expect("n");
        let pools =
            referenced_pools(Some(&meta), Some(&network), Some(&objects(&w, 0))).expect("pools");
        assert_eq!(
            pools.keys().cloned().collect::<Vec<_>>(),
            ["capi", "dns", "gw6", "pool", "pool-from-host"]
        );
        assert!(pools["pool"].is_metal3());
        assert!(!pools["capi"].is_metal3());
        // Without the objects (release), annotation-named pools are skipped.
        let pools = referenced_pools(Some(&meta), Some(&network), None).expect("pools");
        assert!(!pools.contains_key("pool-from-host"));
        let clash: NetworkData = serde_json::from_value(json!({"networks": {"ipv4": [{"id": "a", "link": "l", "fromPoolRef": {"name": "pool", "kind": "Other"}}]}})).expect("n");
        assert!(
            referenced_pools(Some(&meta), Some(&clash), None)
                .expect_err("clash")
                .0
                .contains("one name must mean one pool")
        );
    }

    #[test]
    fn netmasks() {
        assert_eq!(netmask(0, true), "0.0.0.0");
        assert_eq!(netmask(32, true), "255.255.255.255");
        assert_eq!(netmask(20, true), "255.255.240.0");
        assert_eq!(
            netmask(128, false),
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
        );
        assert_eq!(netmask(48, false), "ffff:ffff:ffff::");
    }
}
