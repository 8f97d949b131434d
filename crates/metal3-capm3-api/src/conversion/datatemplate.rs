//! Metal3DataTemplate: metadata and network data templates.

use std::collections::BTreeMap;

use super::{ConversionError, Kind, narrow, non_empty};
use crate::schema::is_default;
use crate::{v1beta1 as old, v1beta2 as new};

pub(crate) struct DataTemplate;

fn nonzero(value: i64, field: &str) -> Result<Option<i32>, ConversionError> {
    (value != 0).then(|| narrow(value, field)).transpose()
}

fn pools_up(list: &[old::FromPool]) -> Vec<new::FromPool> {
    list.iter()
        .map(|p| new::FromPool {
            key: p.key.clone(),
            name: p.name.clone(),
            api_group: p.api_group.clone(),
            kind: p.kind.clone(),
        })
        .collect()
}

fn pools_down(list: &[new::FromPool]) -> Vec<old::FromPool> {
    list.iter()
        .map(|p| old::FromPool {
            key: p.key.clone(),
            name: p.name.clone(),
            api_group: p.api_group.clone(),
            kind: p.kind.clone(),
        })
        .collect()
}

fn meta_up(m: &old::MetaData) -> Result<new::MetaData, ConversionError> {
    Ok(new::MetaData {
        strings: m
            .strings
            .iter()
            .map(|s| new::MetaDataString {
                key: s.key.clone(),
                value: s.value.clone(),
            })
            .collect(),
        object_names: m
            .object_names
            .iter()
            .map(|o| new::MetaDataObjectName {
                key: o.key.clone(),
                object: o.object,
            })
            .collect(),
        indexes: m
            .indexes
            .iter()
            .map(|i| {
                Ok(new::MetaDataIndex {
                    key: i.key.clone(),
                    offset: nonzero(i.offset, "spec.metaData.indexes[].offset")?,
                    step: nonzero(i.step, "spec.metaData.indexes[].step")?,
                    prefix: i.prefix.clone(),
                    suffix: i.suffix.clone(),
                })
            })
            .collect::<Result<_, ConversionError>>()?,
        namespaces: m
            .namespaces
            .iter()
            .map(|n| new::MetaDataNamespace { key: n.key.clone() })
            .collect(),
        ip_addresses_from_pool: pools_up(&m.ip_addresses_from_pool),
        prefixes_from_pool: pools_up(&m.prefixes_from_pool),
        gateways_from_pool: pools_up(&m.gateways_from_pool),
        dns_servers_from_pool: pools_up(&m.dns_servers_from_pool),
        from_host_interfaces: m
            .from_host_interfaces
            .iter()
            .map(|h| new::MetaDataHostInterface {
                key: h.key.clone(),
                interface: h.interface.clone(),
                from_boot_mac: h.from_boot_mac.then_some(true),
            })
            .collect(),
        from_labels: m
            .from_labels
            .iter()
            .map(|l| new::MetaDataFromLabel {
                key: l.key.clone(),
                object: l.object,
                label: l.label.clone(),
            })
            .collect(),
        from_annotations: m
            .from_annotations
            .iter()
            .map(|a| new::MetaDataFromAnnotation {
                key: a.key.clone(),
                object: a.object,
                annotation: a.annotation.clone(),
            })
            .collect(),
    })
}

fn meta_down(m: &new::MetaData) -> old::MetaData {
    old::MetaData {
        strings: m
            .strings
            .iter()
            .map(|s| old::MetaDataString {
                key: s.key.clone(),
                value: s.value.clone(),
            })
            .collect(),
        object_names: m
            .object_names
            .iter()
            .map(|o| old::MetaDataObjectName {
                key: o.key.clone(),
                object: o.object,
            })
            .collect(),
        indexes: m
            .indexes
            .iter()
            .map(|i| old::MetaDataIndex {
                key: i.key.clone(),
                offset: i.offset.unwrap_or(0).into(),
                step: i.step.unwrap_or(0).into(),
                prefix: i.prefix.clone(),
                suffix: i.suffix.clone(),
            })
            .collect(),
        namespaces: m
            .namespaces
            .iter()
            .map(|n| old::MetaDataNamespace { key: n.key.clone() })
            .collect(),
        ip_addresses_from_pool: pools_down(&m.ip_addresses_from_pool),
        prefixes_from_pool: pools_down(&m.prefixes_from_pool),
        gateways_from_pool: pools_down(&m.gateways_from_pool),
        dns_servers_from_pool: pools_down(&m.dns_servers_from_pool),
        from_host_interfaces: m
            .from_host_interfaces
            .iter()
            .map(|h| old::MetaDataHostInterface {
                key: h.key.clone(),
                interface: h.interface.clone(),
                from_boot_mac: h.from_boot_mac.unwrap_or(false),
            })
            .collect(),
        from_labels: m
            .from_labels
            .iter()
            .map(|l| old::MetaDataFromLabel {
                key: l.key.clone(),
                object: l.object,
                label: l.label.clone(),
            })
            .collect(),
        from_annotations: m
            .from_annotations
            .iter()
            .map(|a| old::MetaDataFromAnnotation {
                key: a.key.clone(),
                object: a.object,
                annotation: a.annotation.clone(),
            })
            .collect(),
    }
}

fn annotation_up(a: &Option<old::FromPoolAnnotation>) -> new::FromPoolAnnotation {
    a.as_ref()
        .map(|a| new::FromPoolAnnotation {
            object: a.object,
            annotation: a.annotation.clone(),
        })
        .unwrap_or_default()
}

fn annotation_down(a: &new::FromPoolAnnotation) -> Option<old::FromPoolAnnotation> {
    (!is_default(a)).then(|| old::FromPoolAnnotation {
        object: a.object,
        annotation: a.annotation.clone(),
    })
}

fn pool_ref_up(r: &Option<old::TypedLocalObjectReference>) -> new::IpPoolReference {
    r.as_ref()
        .map(|r| new::IpPoolReference {
            name: r.name.clone(),
            kind: r.kind.clone(),
            api_group: r.api_group.clone().unwrap_or_default(),
        })
        .unwrap_or_default()
}

fn pool_ref_down(r: &new::IpPoolReference) -> Option<old::TypedLocalObjectReference> {
    (!is_default(r)).then(|| old::TypedLocalObjectReference {
        api_group: non_empty(&r.api_group),
        kind: r.kind.clone(),
        name: r.name.clone(),
    })
}

fn mac_up(m: &old::NetworkLinkEthernetMac) -> new::NetworkLinkEthernetMac {
    new::NetworkLinkEthernetMac {
        string: m.string.clone().unwrap_or_default(),
        from_host_interface: m.from_host_interface.clone().unwrap_or_default(),
        from_annotation: m
            .from_annotation
            .as_ref()
            .map(|a| new::NetworkLinkEthernetMacFromAnnotation {
                object: a.object,
                annotation: a.annotation.clone(),
            })
            .unwrap_or_default(),
    }
}

fn mac_down(m: &new::NetworkLinkEthernetMac) -> old::NetworkLinkEthernetMac {
    old::NetworkLinkEthernetMac {
        string: non_empty(&m.string),
        from_host_interface: non_empty(&m.from_host_interface),
        from_annotation: (!is_default(&m.from_annotation)).then(|| old::FromPoolAnnotation {
            object: m.from_annotation.object,
            annotation: m.from_annotation.annotation.clone(),
        }),
    }
}

fn links_up(l: &old::NetworkDataLink) -> Result<new::NetworkDataLink, ConversionError> {
    Ok(new::NetworkDataLink {
        ethernets: l
            .ethernets
            .iter()
            .map(|e| {
                Ok(new::NetworkDataLinkEthernet {
                    r#type: e.r#type,
                    id: e.id.clone(),
                    name: e.name.clone(),
                    mtu: nonzero(e.mtu, "spec.networkData.links.ethernets[].mtu")?,
                    mac_address: mac_up(&e.mac_address),
                })
            })
            .collect::<Result<_, ConversionError>>()?,
        bonds: l
            .bonds
            .iter()
            .map(|b| {
                Ok(new::NetworkDataLinkBond {
                    bond_mode: b.bond_mode,
                    bond_xmit_hash_policy: b.bond_xmit_hash_policy,
                    id: b.id.clone(),
                    name: b.name.clone(),
                    mtu: nonzero(b.mtu, "spec.networkData.links.bonds[].mtu")?,
                    mac_address: mac_up(&b.mac_address),
                    parameters: b
                        .parameters
                        .iter()
                        .map(|(name, value)| new::NetworkDataLinkBondParam {
                            name: name.clone(),
                            value: value.clone(),
                        })
                        .collect(),
                    bond_links: b.bond_links.clone(),
                })
            })
            .collect::<Result<_, ConversionError>>()?,
        vlans: l
            .vlans
            .iter()
            .map(|v| {
                Ok(new::NetworkDataLinkVlan {
                    vlan_id: narrow(v.vlan_id, "spec.networkData.links.vlans[].vlanID")?,
                    id: v.id.clone(),
                    name: v.name.clone(),
                    mtu: nonzero(v.mtu, "spec.networkData.links.vlans[].mtu")?,
                    mac_address: mac_up(&v.mac_address),
                    vlan_link: v.vlan_link.clone(),
                })
            })
            .collect::<Result<_, ConversionError>>()?,
    })
}

fn links_down(l: &new::NetworkDataLink) -> old::NetworkDataLink {
    old::NetworkDataLink {
        ethernets: l
            .ethernets
            .iter()
            .map(|e| old::NetworkDataLinkEthernet {
                r#type: e.r#type,
                id: e.id.clone(),
                name: e.name.clone(),
                mtu: e.mtu.unwrap_or(0).into(),
                mac_address: mac_down(&e.mac_address),
            })
            .collect(),
        bonds: l
            .bonds
            .iter()
            .map(|b| old::NetworkDataLinkBond {
                bond_mode: b.bond_mode,
                bond_xmit_hash_policy: b.bond_xmit_hash_policy,
                id: b.id.clone(),
                name: b.name.clone(),
                mtu: b.mtu.unwrap_or(0).into(),
                mac_address: mac_down(&b.mac_address),
                parameters: b
                    .parameters
                    .iter()
                    .map(|p| (p.name.clone(), p.value.clone()))
                    .collect::<BTreeMap<_, _>>(),
                bond_links: b.bond_links.clone(),
            })
            .collect(),
        vlans: l
            .vlans
            .iter()
            .map(|v| old::NetworkDataLinkVlan {
                vlan_id: v.vlan_id.into(),
                id: v.id.clone(),
                name: v.name.clone(),
                mtu: v.mtu.unwrap_or(0).into(),
                mac_address: mac_down(&v.mac_address),
                vlan_link: v.vlan_link.clone(),
            })
            .collect(),
    }
}

/// Converts the routes, gateways and services of one IP family.
macro_rules! family_conversion {
    ($up:ident, $down:ident, $route:ident, $gateway:ident, $service:ident) => {
        fn $up(routes: &[old::$route]) -> Result<Vec<new::$route>, ConversionError> {
            routes
                .iter()
                .map(|r| {
                    let services = new::$service {
                        dns: r.services.dns.clone(),
                        dns_from_ip_pool: r.services.dns_from_ip_pool.clone().unwrap_or_default(),
                    };
                    Ok(new::$route {
                        network: r.network.clone(),
                        prefix: nonzero(r.prefix, "spec.networkData.networks[].routes[].prefix")?,
                        gateway: new::$gateway {
                            string: r.gateway.string.clone(),
                            from_ip_pool: r.gateway.from_ip_pool.clone().unwrap_or_default(),
                            from_pool_ref: pool_ref_up(&r.gateway.from_pool_ref),
                            from_pool_annotation: annotation_up(&r.gateway.from_pool_annotation),
                        },
                        services: (!is_default(&services)).then_some(services),
                    })
                })
                .collect()
        }

        fn $down(routes: &[new::$route]) -> Vec<old::$route> {
            routes
                .iter()
                .map(|r| {
                    let services = r.services.clone().unwrap_or_default();
                    old::$route {
                        network: r.network.clone(),
                        prefix: r.prefix.unwrap_or(0).into(),
                        gateway: old::$gateway {
                            string: r.gateway.string.clone(),
                            from_ip_pool: non_empty(&r.gateway.from_ip_pool),
                            from_pool_ref: pool_ref_down(&r.gateway.from_pool_ref),
                            from_pool_annotation: annotation_down(&r.gateway.from_pool_annotation),
                        },
                        services: old::$service {
                            dns: services.dns,
                            dns_from_ip_pool: non_empty(&services.dns_from_ip_pool),
                        },
                    }
                })
                .collect()
        }
    };
}

family_conversion!(
    routes4_up,
    routes4_down,
    NetworkDataRoutev4,
    NetworkGatewayv4,
    NetworkDataServicev4
);
family_conversion!(
    routes6_up,
    routes6_down,
    NetworkDataRoutev6,
    NetworkGatewayv6,
    NetworkDataServicev6
);

/// Converts static networks (same fields in both families).
macro_rules! static_conversion {
    ($up:ident, $down:ident, $net:ident, $routes_up:ident, $routes_down:ident) => {
        fn $up(list: &[old::$net]) -> Result<Vec<new::$net>, ConversionError> {
            list.iter()
                .map(|n| {
                    Ok(new::$net {
                        id: n.id.clone(),
                        link: n.link.clone(),
                        ip_address_from_ip_pool: n.ip_address_from_ip_pool.clone(),
                        from_pool_ref: pool_ref_up(&n.from_pool_ref),
                        from_pool_annotation: annotation_up(&n.from_pool_annotation),
                        routes: $routes_up(&n.routes)?,
                    })
                })
                .collect()
        }

        fn $down(list: &[new::$net]) -> Vec<old::$net> {
            list.iter()
                .map(|n| old::$net {
                    id: n.id.clone(),
                    link: n.link.clone(),
                    ip_address_from_ip_pool: n.ip_address_from_ip_pool.clone(),
                    from_pool_ref: pool_ref_down(&n.from_pool_ref),
                    from_pool_annotation: annotation_down(&n.from_pool_annotation),
                    routes: $routes_down(&n.routes),
                })
                .collect()
        }
    };
}

static_conversion!(
    ipv4_up,
    ipv4_down,
    NetworkDataIPv4,
    routes4_up,
    routes4_down
);
static_conversion!(
    ipv6_up,
    ipv6_down,
    NetworkDataIPv6,
    routes6_up,
    routes6_down
);

/// Converts dynamically configured networks.
macro_rules! dynamic_conversion {
    ($up:ident, $down:ident, $net:ident, $routes_up:ident, $routes_down:ident) => {
        fn $up(list: &[old::$net]) -> Result<Vec<new::$net>, ConversionError> {
            list.iter()
                .map(|n| {
                    Ok(new::$net {
                        id: n.id.clone(),
                        link: n.link.clone(),
                        routes: $routes_up(&n.routes)?,
                    })
                })
                .collect()
        }

        fn $down(list: &[new::$net]) -> Vec<old::$net> {
            list.iter()
                .map(|n| old::$net {
                    id: n.id.clone(),
                    link: n.link.clone(),
                    routes: $routes_down(&n.routes),
                })
                .collect()
        }
    };
}

dynamic_conversion!(
    dhcp4_up,
    dhcp4_down,
    NetworkDataIPv4DHCP,
    routes4_up,
    routes4_down
);
dynamic_conversion!(
    dhcp6_up,
    dhcp6_down,
    NetworkDataIPv6DHCP,
    routes6_up,
    routes6_down
);

fn network_up(n: &old::NetworkData) -> Result<new::NetworkData, ConversionError> {
    let links = links_up(&n.links)?;
    let networks = new::NetworkDataNetwork {
        ipv4: ipv4_up(&n.networks.ipv4)?,
        ipv6: ipv6_up(&n.networks.ipv6)?,
        ipv4_dhcp: dhcp4_up(&n.networks.ipv4_dhcp)?,
        ipv6_dhcp: dhcp6_up(&n.networks.ipv6_dhcp)?,
        ipv6_slaac: dhcp6_up(&n.networks.ipv6_slaac)?,
    };
    let services = new::NetworkDataService {
        dns: n.services.dns.clone(),
        dns_from_ip_pool: n.services.dns_from_ip_pool.clone().unwrap_or_default(),
    };
    Ok(new::NetworkData {
        links: (!is_default(&links)).then_some(links),
        networks: (!is_default(&networks)).then_some(networks),
        services: (!is_default(&services)).then_some(services),
    })
}

fn network_down(n: &new::NetworkData) -> old::NetworkData {
    let links = n.links.clone().unwrap_or_default();
    let networks = n.networks.clone().unwrap_or_default();
    let services = n.services.clone().unwrap_or_default();
    old::NetworkData {
        links: links_down(&links),
        networks: old::NetworkDataNetwork {
            ipv4: ipv4_down(&networks.ipv4),
            ipv6: ipv6_down(&networks.ipv6),
            ipv4_dhcp: dhcp4_down(&networks.ipv4_dhcp),
            ipv6_dhcp: dhcp6_down(&networks.ipv6_dhcp),
            ipv6_slaac: dhcp6_down(&networks.ipv6_slaac),
        },
        services: old::NetworkDataService {
            dns: services.dns,
            dns_from_ip_pool: non_empty(&services.dns_from_ip_pool),
        },
    }
}

impl Kind for DataTemplate {
    const KIND: &'static str = "Metal3DataTemplate";
    type SpokeSpec = old::Metal3DataTemplateSpec;
    type HubSpec = new::Metal3DataTemplateSpec;
    type SpokeStatus = old::Metal3DataTemplateStatus;
    type HubStatus = new::Metal3DataTemplateStatus;

    fn spec_up(s: &Self::SpokeSpec) -> Result<Self::HubSpec, ConversionError> {
        Ok(new::Metal3DataTemplateSpec {
            cluster_name: s.cluster_name.clone(),
            meta_data: s.meta_data.as_ref().map(meta_up).transpose()?,
            network_data: s.network_data.as_ref().map(network_up).transpose()?,
        })
    }

    fn spec_down(s: &Self::HubSpec) -> Self::SpokeSpec {
        old::Metal3DataTemplateSpec {
            cluster_name: s.cluster_name.clone(),
            template_reference: String::new(),
            meta_data: s.meta_data.as_ref().map(meta_down),
            network_data: s.network_data.as_ref().map(network_down),
        }
    }

    fn status_up(s: &Self::SpokeStatus) -> Result<Self::HubStatus, ConversionError> {
        let mut indexes = s
            .indexes
            .iter()
            .map(|(name, index)| {
                Ok(new::IndexEntry {
                    name: name.clone(),
                    index: narrow(*index, "status.indexes")?,
                })
            })
            .collect::<Result<Vec<_>, ConversionError>>()?;
        indexes.sort_by(|a, b| a.index.cmp(&b.index).then_with(|| a.name.cmp(&b.name)));
        Ok(new::Metal3DataTemplateStatus {
            last_updated: s.last_updated.clone(),
            indexes,
        })
    }

    fn status_down(s: &Self::HubStatus) -> Self::SpokeStatus {
        old::Metal3DataTemplateStatus {
            last_updated: s.last_updated.clone(),
            indexes: s
                .indexes
                .iter()
                .map(|e| (e.name.clone(), e.index.into()))
                .collect(),
        }
    }
}
