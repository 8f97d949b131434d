//! The network data of a machine, in OpenStack's `network_data.json` layout: links (bonds,
//! ethernets, VLANs), networks with their routes, and DNS services.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use metal3_capm3_api::v1beta2::{
    FromPoolAnnotation, IpPoolReference, NetworkData, NetworkDataLink, NetworkDataNetwork,
    NetworkLinkEthernetMac,
};
use serde_json::{Value, json};

use super::{Objects, PoolAddress, RenderError, Route, err, from_pool};

/// A dotted netmask of `prefix` bits (IPv4), or the IPv6 mask in address form.
pub(super) fn netmask(prefix: i32, ipv4: bool) -> String {
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
