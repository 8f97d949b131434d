//! Metal3DataTemplate (v1beta2): how a machine's metadata and network data are rendered.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{BondMode, BondXmitHashPolicy, DataObject, EthernetType};
use crate::schema::{any_object, is_default};

/// An IPv4 address in dotted decimal form.
pub(crate) const IPV4_PATTERN: &str = r"^((([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])\.){3}([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5]))$";
/// An IPv6 address in any of its textual forms.
pub(crate) const IPV6_PATTERN: &str = r"^(([0-9a-fA-F]{1,4}:){7,7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}|([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|[0-9a-fA-F]{1,4}:((:[0-9a-fA-F]{1,4}){1,6})|:((:[0-9a-fA-F]{1,4}){1,7}|:))$";
/// An IPv4 or IPv6 address.
pub(crate) const IP_PATTERN: &str = r"((^((([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5])\.){3}([0-9]|[1-9][0-9]|1[0-9]{2}|2[0-4][0-9]|25[0-5]))$)|(^(([0-9a-fA-F]{1,4}:){7,7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}|([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}|([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|[0-9a-fA-F]{1,4}:((:[0-9a-fA-F]{1,4}){1,6})|:((:[0-9a-fA-F]{1,4}){1,7}|:))$))";
/// A DNS-1123 subdomain.
pub(crate) const DNS_SUBDOMAIN_PATTERN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
/// A Kubernetes kind.
pub(crate) const KIND_PATTERN: &str = r"^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$";
/// A Linux interface name.
pub(crate) const LINK_NAME_PATTERN: &str = r"^[a-zA-Z][a-zA-Z0-9._-]*$";

/// Templates of the metadata and network data of the machines that refer to it.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta2",
    kind = "Metal3DataTemplate",
    namespaced,
    status = "Metal3DataTemplateStatus",
    derive = "PartialEq",
    derive = "Default",
    category = "cluster-api",
    shortname = "m3dt",
    shortname = "m3datatemplate",
    shortname = "m3datatemplates",
    shortname = "metal3dt",
    shortname = "metal3datatemplate",
    label("clusterctl.cluster.x-k8s.io/move", ""),
    printcolumn(
        name = "Cluster",
        type_ = "string",
        json_path = ".metadata.labels.cluster\\.x-k8s\\.io/cluster-name",
        description = "Cluster API cluster this belongs to"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp",
        description = "Time since the template was created"
    ),
    doc = "A template of cloud-init style metadata and network data: each Metal3Machine \
           referring to it gets a Metal3Data with its own index and the rendered Secrets."
)]
#[serde(rename_all = "camelCase")]
pub struct Metal3DataTemplateSpec {
    /// Deprecated and ignored: the cluster comes from the `cluster.x-k8s.io/cluster-name`
    /// label.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 512))]
    pub cluster_name: String,
    /// The metadata to render (a flat map of strings). Cannot be changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<MetaData>,
    /// The network data to render (OpenStack `network_data.json` layout). Cannot be changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_data: Option<NetworkData>,
}

/// What the template controller observed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metal3DataTemplateStatus {
    /// When the status was last written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
    /// The index given to each claim, by index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(min = 1, max = 512),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["index"])
    )]
    pub indexes: Vec<IndexEntry>,
}

/// The index of one claim.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct IndexEntry {
    /// Name of the Metal3DataClaim.
    #[schemars(length(min = 1, max = 512))]
    pub name: String,
    /// Its index.
    #[schemars(range(min = 0))]
    pub index: i32,
}

/// The metadata items, each rendered under its own key.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetaData {
    /// Fixed strings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(min = 1, max = 512),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["key"])
    )]
    pub strings: Vec<MetaDataString>,
    /// Names of the machine's objects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(min = 1, max = 512),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["key"])
    )]
    pub object_names: Vec<MetaDataObjectName>,
    /// Values computed from the machine's index in the template.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(min = 1, max = 512),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["key"])
    )]
    pub indexes: Vec<MetaDataIndex>,
    /// The namespace of the machine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(min = 1, max = 512),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["key"])
    )]
    pub namespaces: Vec<MetaDataNamespace>,
    /// IP addresses allocated from pools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(min = 1, max = 512),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["key"])
    )]
    pub ip_addresses_from_pool: Vec<FromPool>,
    /// Prefix lengths of addresses allocated from pools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(min = 1, max = 512),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["key"])
    )]
    pub prefixes_from_pool: Vec<FromPool>,
    /// Gateways of addresses allocated from pools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(min = 1, max = 512),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["key"])
    )]
    pub gateways_from_pool: Vec<FromPool>,
    /// DNS servers of addresses allocated from pools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(min = 1, max = 512),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["key"])
    )]
    pub dns_servers_from_pool: Vec<FromPool>,
    /// MAC addresses of the host's NICs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(min = 1, max = 512),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["key"])
    )]
    pub from_host_interfaces: Vec<MetaDataHostInterface>,
    /// Values of labels of the machine's objects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(min = 1, max = 512),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["key"])
    )]
    pub from_labels: Vec<MetaDataFromLabel>,
    /// Values of annotations of the machine's objects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(min = 1, max = 512),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["key"])
    )]
    pub from_annotations: Vec<MetaDataFromAnnotation>,
}

/// A fixed string.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct MetaDataString {
    /// Metadata key.
    #[schemars(length(min = 1, max = 512))]
    pub key: String,
    /// The value.
    #[schemars(length(min = 1, max = 512))]
    pub value: String,
}

/// The name of one of the machine's objects.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct MetaDataObjectName {
    /// Metadata key.
    #[schemars(length(min = 1, max = 512))]
    pub key: String,
    /// Which object.
    pub object: DataObject,
}

/// A value from the machine's index: `prefix + (offset + index × step) + suffix`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct MetaDataIndex {
    /// Metadata key.
    #[schemars(length(min = 1, max = 512))]
    pub key: String,
    /// Added to the scaled index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub offset: Option<i32>,
    /// Multiplies the index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1), extend("default" = 1))]
    pub step: Option<i32>,
    /// Text before the number.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1, max = 512))]
    pub prefix: String,
    /// Text after the number.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1, max = 512))]
    pub suffix: String,
}

/// The machine's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct MetaDataNamespace {
    /// Metadata key.
    #[schemars(length(min = 1, max = 512))]
    pub key: String,
}

/// A value taken from an address allocated from an IP pool.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FromPool {
    /// Metadata key.
    #[schemars(length(min = 1, max = 512))]
    pub key: String,
    /// Name of the pool.
    #[schemars(length(min = 1, max = 512))]
    pub name: String,
    /// API group of the pool.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1, max = 512), extend("default" = "ipam.metal3.io"))]
    pub api_group: String,
    /// Kind of the pool.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1, max = 512), extend("default" = "IPPool"))]
    pub kind: String,
}

/// The MAC address of a host NIC.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetaDataHostInterface {
    /// Metadata key.
    #[schemars(length(min = 1, max = 512))]
    pub key: String,
    /// Name of the NIC in the host's inventory.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1, max = 512))]
    pub interface: String,
    /// Use the host's boot MAC address instead of a named NIC.
    #[serde(
        rename = "fromBootMAC",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub from_boot_mac: Option<bool>,
}

/// The value of a label of one of the machine's objects ("" when absent).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct MetaDataFromLabel {
    /// Metadata key.
    #[schemars(length(min = 1, max = 512))]
    pub key: String,
    /// Which object.
    pub object: DataObject,
    /// Label key.
    #[schemars(length(min = 1, max = 512))]
    pub label: String,
}

/// The value of an annotation of one of the machine's objects ("" when absent).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct MetaDataFromAnnotation {
    /// Metadata key.
    #[schemars(length(min = 1, max = 512))]
    pub key: String,
    /// Which object.
    pub object: DataObject,
    /// Annotation key.
    #[schemars(length(min = 1, max = 512))]
    pub annotation: String,
}

/// An IP pool named by an annotation of one of the machine's objects.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct FromPoolAnnotation {
    /// Which object.
    pub object: DataObject,
    /// Annotation whose value is the pool name.
    #[schemars(length(min = 1, max = 512))]
    pub annotation: String,
}

/// A reference to an IP pool by kind and name.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct IpPoolReference {
    /// Pool name.
    #[schemars(length(min = 1, max = 253), pattern(DNS_SUBDOMAIN_PATTERN))]
    pub name: String,
    /// Pool kind.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(
        length(min = 1, max = 63),
        pattern(KIND_PATTERN),
        extend("default" = "IPPool")
    )]
    pub kind: String,
    /// Pool API group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(
        length(min = 1, max = 253),
        pattern(DNS_SUBDOMAIN_PATTERN),
        extend("default" = "ipam.metal3.io")
    )]
    pub api_group: String,
}

/// Network data: links, networks on them and services.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct NetworkData {
    /// Ethernet interfaces, bonds and VLANs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub links: Option<NetworkDataLink>,
    /// Networks configured on the links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networks: Option<NetworkDataNetwork>,
    /// Services such as DNS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub services: Option<NetworkDataService>,
}

/// The links of the host.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct NetworkDataLink {
    /// Ethernet links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(min = 1, max = 32),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["id"])
    )]
    pub ethernets: Vec<NetworkDataLinkEthernet>,
    /// Bonds of links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(min = 1, max = 512),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["id"])
    )]
    pub bonds: Vec<NetworkDataLinkBond>,
    /// VLANs on links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(min = 1, max = 512),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["vlanID"])
    )]
    pub vlans: Vec<NetworkDataLinkVlan>,
}

/// Where a link's MAC address comes from: one of the three.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkLinkEthernetMac {
    /// The MAC address itself.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1, max = 512))]
    pub string: String,
    /// Name of a NIC in the host's inventory.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1, max = 512))]
    pub from_host_interface: String,
    /// An annotation of one of the machine's objects holding the MAC address.
    #[serde(default, skip_serializing_if = "is_default")]
    pub from_annotation: NetworkLinkEthernetMacFromAnnotation,
}

/// An annotation holding a MAC address.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct NetworkLinkEthernetMacFromAnnotation {
    /// Which object.
    pub object: DataObject,
    /// Annotation key.
    #[schemars(length(min = 1, max = 512))]
    pub annotation: String,
}

/// An ethernet link.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkDataLinkEthernet {
    /// Link type.
    pub r#type: EthernetType,
    /// Link ID, referred to by networks, bonds and VLANs.
    #[schemars(length(min = 1, max = 512))]
    pub id: String,
    /// Interface name on the host.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1, max = 15), pattern(LINK_NAME_PATTERN))]
    pub name: String,
    /// MTU in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1280, max = 9000), extend("default" = 1500))]
    pub mtu: Option<i32>,
    /// Where the MAC address comes from.
    pub mac_address: NetworkLinkEthernetMac,
}

/// A bond of links.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkDataLinkBond {
    /// Bonding mode.
    pub bond_mode: BondMode,
    /// Transmit hash policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bond_xmit_hash_policy: Option<BondXmitHashPolicy>,
    /// Link ID.
    #[schemars(length(min = 1, max = 512))]
    pub id: String,
    /// Interface name on the host.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1, max = 15), pattern(LINK_NAME_PATTERN))]
    pub name: String,
    /// MTU in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1280, max = 9000), extend("default" = 1500))]
    pub mtu: Option<i32>,
    /// Where the MAC address comes from.
    pub mac_address: NetworkLinkEthernetMac,
    /// Further bonding options, rendered as `bond_<name>`.
    #[schemars(
        length(min = 1, max = 512),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["name"])
    )]
    pub parameters: Vec<NetworkDataLinkBondParam>,
    /// IDs of the bonded links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 512),
        inner(length(min = 1, max = 512)),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub bond_links: Vec<String>,
}

/// A bonding option.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct NetworkDataLinkBondParam {
    /// Option name, without the `bond_` prefix.
    #[schemars(length(min = 1, max = 512))]
    pub name: String,
    /// Option value, any JSON.
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    #[schemars(schema_with = "any_object")]
    pub value: serde_json::Value,
}

/// A VLAN on a link.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkDataLinkVlan {
    /// VLAN ID.
    #[serde(rename = "vlanID")]
    #[schemars(range(min = 0, max = 4096))]
    pub vlan_id: i32,
    /// Link ID.
    #[schemars(length(min = 1, max = 512))]
    pub id: String,
    /// Interface name on the host.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1, max = 15), pattern(LINK_NAME_PATTERN))]
    pub name: String,
    /// MTU in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1280, max = 9000), extend("default" = 1500))]
    pub mtu: Option<i32>,
    /// Where the MAC address comes from.
    pub mac_address: NetworkLinkEthernetMac,
    /// ID of the link the VLAN is on.
    #[schemars(length(min = 1, max = 512))]
    pub vlan_link: String,
}

/// Networks on the links.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct NetworkDataNetwork {
    /// Static IPv4 networks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(min = 1, max = 512),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["id"])
    )]
    pub ipv4: Vec<NetworkDataIPv4>,
    /// Static IPv6 networks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(min = 1, max = 512),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["id"])
    )]
    pub ipv6: Vec<NetworkDataIPv6>,
    /// IPv4 networks configured by DHCP.
    #[serde(rename = "ipv4DHCP", default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(min = 1, max = 512),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["id"])
    )]
    pub ipv4_dhcp: Vec<NetworkDataIPv4DHCP>,
    /// IPv6 networks configured by DHCPv6.
    #[serde(rename = "ipv6DHCP", default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(min = 1, max = 512),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["id"])
    )]
    pub ipv6_dhcp: Vec<NetworkDataIPv6DHCP>,
    /// IPv6 networks configured by stateless autoconfiguration.
    #[serde(rename = "ipv6SLAAC", default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(min = 1, max = 512),
        extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["id"])
    )]
    pub ipv6_slaac: Vec<NetworkDataIPv6DHCP>,
}

/// Declares a static network type of one IP family.
macro_rules! static_network {
    ($(#[$meta:meta])* $name:ident, $route:ty) => {
        $(#[$meta])*
        #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct $name {
            /// Network ID.
            #[schemars(length(min = 1, max = 512))]
            pub id: String,
            /// ID of the link the network is on.
            #[schemars(length(min = 1, max = 512))]
            pub link: String,
            /// Name of the IP pool (of kind IPPool) the address comes from.
            #[serde(rename = "ipAddressFromIPPool", default, skip_serializing_if = "String::is_empty")]
            #[schemars(length(min = 1, max = 512))]
            pub ip_address_from_ip_pool: String,
            /// The pool the address comes from, by kind and name.
            #[serde(default, skip_serializing_if = "is_default")]
            pub from_pool_ref: IpPoolReference,
            /// An annotation naming the pool the address comes from.
            #[serde(default, skip_serializing_if = "is_default")]
            pub from_pool_annotation: FromPoolAnnotation,
            /// Routes of the network.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            #[schemars(
                length(min = 1, max = 512),
                extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["network"])
            )]
            pub routes: Vec<$route>,
        }
    };
}

static_network! {
    /// A static IPv4 network.
    NetworkDataIPv4, NetworkDataRoutev4
}
static_network! {
    /// A static IPv6 network.
    NetworkDataIPv6, NetworkDataRoutev6
}

/// Declares a dynamically configured network type of one IP family.
macro_rules! dynamic_network {
    ($(#[$meta:meta])* $name:ident, $route:ty) => {
        $(#[$meta])*
        #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
        pub struct $name {
            /// Network ID.
            #[schemars(length(min = 1, max = 512))]
            pub id: String,
            /// ID of the link the network is on.
            #[schemars(length(min = 1, max = 512))]
            pub link: String,
            /// Routes of the network.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            #[schemars(
                length(min = 1, max = 512),
                extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["network"])
            )]
            pub routes: Vec<$route>,
        }
    };
}

dynamic_network! {
    /// An IPv4 network configured by DHCP.
    NetworkDataIPv4DHCP, NetworkDataRoutev4
}
dynamic_network! {
    /// An IPv6 network configured by DHCPv6 or SLAAC.
    NetworkDataIPv6DHCP, NetworkDataRoutev6
}

/// Declares the route, gateway and service types of one IP family.
macro_rules! family {
    ($route:ident, $gateway:ident, $service:ident, $pattern:expr, $items:path, $max_prefix:literal, $family:literal) => {
        #[doc = concat!("An ", $family, " route.")]
        #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
        pub struct $route {
            /// Destination network address.
            #[schemars(pattern($pattern))]
            pub network: String,
            /// Prefix length of the destination (0 when unset).
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(range(min = 0, max = $max_prefix))]
            pub prefix: Option<i32>,
            /// Next hop.
            pub gateway: $gateway,
            /// Services reached through the route.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub services: Option<$service>,
        }

        #[doc = concat!("An ", $family, " gateway: one of the four sources.")]
        #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct $gateway {
            /// The gateway address itself.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(pattern($pattern))]
            pub string: Option<String>,
            /// Name of an IP pool (of kind IPPool) whose gateway is used.
            #[serde(
                rename = "fromIPPool",
                default,
                skip_serializing_if = "String::is_empty"
            )]
            #[schemars(length(min = 1, max = 512))]
            pub from_ip_pool: String,
            /// An IP pool, by kind and name, whose gateway is used.
            #[serde(default, skip_serializing_if = "is_default")]
            pub from_pool_ref: IpPoolReference,
            /// An annotation naming the IP pool whose gateway is used.
            #[serde(default, skip_serializing_if = "is_default")]
            pub from_pool_annotation: FromPoolAnnotation,
        }

        #[doc = concat!("Services reached over ", $family, ".")]
        #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct $service {
            /// DNS server addresses.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            #[schemars(
                                                        length(min = 1, max = 512),
                                                        inner(pattern($pattern)),
                                                        extend("x-kubernetes-list-type" = "set"),
                                                        transform = $items
                                                    )]
            pub dns: Vec<String>,
            /// Name of an IP pool whose DNS servers are used.
            #[serde(
                rename = "dnsFromIPPool",
                default,
                skip_serializing_if = "String::is_empty"
            )]
            #[schemars(length(min = 1, max = 512))]
            pub dns_from_ip_pool: String,
        }
    };
}

family!(
    NetworkDataRoutev4,
    NetworkGatewayv4,
    NetworkDataServicev4,
    IPV4_PATTERN,
    crate::schema::ipv4_items,
    32,
    "IPv4"
);
family!(
    NetworkDataRoutev6,
    NetworkGatewayv6,
    NetworkDataServicev6,
    IPV6_PATTERN,
    crate::schema::ipv6_items,
    128,
    "IPv6"
);

/// Services of the host, over either IP family.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkDataService {
    /// DNS server addresses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(min = 1, max = 512),
        inner(pattern(IP_PATTERN)),
        extend("x-kubernetes-list-type" = "set"),
        transform = crate::schema::ip_items
    )]
    pub dns: Vec<String>,
    /// Name of an IP pool whose DNS servers are used.
    #[serde(
        rename = "dnsFromIPPool",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    #[schemars(length(min = 1, max = 512))]
    pub dns_from_ip_pool: String,
}
