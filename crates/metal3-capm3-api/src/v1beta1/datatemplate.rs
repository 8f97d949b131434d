//! Metal3DataTemplate (v1beta1).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::common::{BondMode, BondXmitHashPolicy, DataObject, EthernetType};
use crate::schema::{any_json, plain_integer};
use crate::v1beta2::{IP_PATTERN, IPV4_PATTERN, IPV6_PATTERN, LINK_NAME_PATTERN};

/// Templates of the metadata and network data of machines (v1beta1 form).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[kube(
    group = "infrastructure.cluster.x-k8s.io",
    version = "v1beta1",
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
    doc = "A template of metadata and network data (v1beta1 form, deprecated)."
)]
#[serde(rename_all = "camelCase")]
pub struct Metal3DataTemplateSpec {
    /// Name of the cluster the template belongs to.
    #[schemars(length(min = 1))]
    pub cluster_name: String,
    /// Deprecated: name of a template this one replaces.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub template_reference: String,
    /// The metadata to render.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub meta_data: Option<MetaData>,
    /// The network data to render.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_data: Option<NetworkData>,
}

/// What the template controller observed (v1beta1 form).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metal3DataTemplateStatus {
    /// When the status was last written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Time>,
    /// The index of each claim, by claim name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, PlainInteger>")]
    pub indexes: BTreeMap<String, i64>,
}

/// An integer without a format (schema helper).
#[derive(JsonSchema)]
#[schemars(transform = plain_integer)]
#[allow(dead_code)]
struct PlainInteger(i64);

/// The metadata items, each rendered under its own key.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetaData {
    /// Fixed strings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub strings: Vec<MetaDataString>,
    /// Names of the machine's objects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub object_names: Vec<MetaDataObjectName>,
    /// Values computed from the machine's index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub indexes: Vec<MetaDataIndex>,
    /// The namespace of the machine.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<MetaDataNamespace>,
    /// IP addresses allocated from pools.
    #[serde(
        rename = "ipAddressesFromIPPool",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub ip_addresses_from_pool: Vec<FromPool>,
    /// Prefix lengths of addresses allocated from pools.
    #[serde(
        rename = "prefixesFromIPPool",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub prefixes_from_pool: Vec<FromPool>,
    /// Gateways of addresses allocated from pools.
    #[serde(
        rename = "gatewaysFromIPPool",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub gateways_from_pool: Vec<FromPool>,
    /// DNS servers of addresses allocated from pools.
    #[serde(
        rename = "dnsServersFromIPPool",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub dns_servers_from_pool: Vec<FromPool>,
    /// MAC addresses of the host's NICs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_host_interfaces: Vec<MetaDataHostInterface>,
    /// Values of labels of the machine's objects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_labels: Vec<MetaDataFromLabel>,
    /// Values of annotations of the machine's objects.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_annotations: Vec<MetaDataFromAnnotation>,
}

/// A fixed string.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct MetaDataString {
    /// Metadata key.
    pub key: String,
    /// The value.
    pub value: String,
}

/// The name of one of the machine's objects.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct MetaDataObjectName {
    /// Metadata key.
    pub key: String,
    /// Which object.
    pub object: DataObject,
}

/// A value from the machine's index: `prefix + (offset + index × step) + suffix`.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct MetaDataIndex {
    /// Metadata key.
    pub key: String,
    /// Added to the scaled index.
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    #[schemars(transform = plain_integer)]
    pub offset: i64,
    /// Multiplies the index.
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    #[schemars(transform = plain_integer, extend("default" = 1))]
    pub step: i64,
    /// Text before the number.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    /// Text after the number.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub suffix: String,
}

/// The machine's namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct MetaDataNamespace {
    /// Metadata key.
    pub key: String,
}

/// A value taken from an address allocated from an IP pool.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct FromPool {
    /// Metadata key.
    pub key: String,
    /// Name of the pool.
    pub name: String,
    /// API group of the pool.
    pub api_group: String,
    /// Kind of the pool.
    pub kind: String,
}

/// The MAC address of a host NIC.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct MetaDataHostInterface {
    /// Metadata key.
    pub key: String,
    /// Name of the NIC in the host's inventory.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub interface: String,
    /// Use the host's boot MAC address.
    #[serde(
        rename = "fromBootMAC",
        default,
        skip_serializing_if = "crate::schema::is_false"
    )]
    pub from_boot_mac: bool,
}

/// The value of a label of one of the machine's objects.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct MetaDataFromLabel {
    /// Metadata key.
    pub key: String,
    /// Which object.
    pub object: DataObject,
    /// Label key.
    pub label: String,
}

/// The value of an annotation of one of the machine's objects.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct MetaDataFromAnnotation {
    /// Metadata key.
    pub key: String,
    /// Which object.
    pub object: DataObject,
    /// Annotation key.
    pub annotation: String,
}

/// An IP pool named by an annotation.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct FromPoolAnnotation {
    /// Which object.
    pub object: DataObject,
    /// Annotation whose value is the pool name.
    pub annotation: String,
}

/// A reference to an object of some kind in the same namespace (`TypedLocalObjectReference`).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-map-type" = "atomic"))]
pub struct TypedLocalObjectReference {
    /// API group of the object; the core group when empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_group: Option<String>,
    /// Kind of the object.
    pub kind: String,
    /// Name of the object.
    pub name: String,
}

/// Network data: links, networks and services.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct NetworkData {
    /// Ethernet interfaces, bonds and VLANs (always written).
    #[serde(default)]
    #[schemars(transform = crate::schema::no_default)]
    pub links: NetworkDataLink,
    /// Networks on the links (always written).
    #[serde(default)]
    #[schemars(transform = crate::schema::no_default)]
    pub networks: NetworkDataNetwork,
    /// Services such as DNS (always written).
    #[serde(default)]
    #[schemars(transform = crate::schema::no_default)]
    pub services: NetworkDataService,
}

/// The links of the host.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
pub struct NetworkDataLink {
    /// Ethernet links.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ethernets: Vec<NetworkDataLinkEthernet>,
    /// Bonds.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bonds: Vec<NetworkDataLinkBond>,
    /// VLANs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vlans: Vec<NetworkDataLinkVlan>,
}

/// Where a link's MAC address comes from.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkLinkEthernetMac {
    /// The MAC address itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub string: Option<String>,
    /// Name of a NIC in the host's inventory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_host_interface: Option<String>,
    /// An annotation holding the MAC address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_annotation: Option<FromPoolAnnotation>,
}

/// An ethernet link.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkDataLinkEthernet {
    /// Link type.
    pub r#type: EthernetType,
    /// Link ID.
    pub id: String,
    /// Interface name on the host.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 15), pattern(LINK_NAME_PATTERN))]
    pub name: String,
    /// MTU in bytes.
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    #[schemars(range(max = 9000), transform = plain_integer, extend("default" = 1500))]
    pub mtu: i64,
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
    pub id: String,
    /// Interface name on the host.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 15), pattern(LINK_NAME_PATTERN))]
    pub name: String,
    /// MTU in bytes.
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    #[schemars(range(max = 9000), transform = plain_integer, extend("default" = 1500))]
    pub mtu: i64,
    /// Where the MAC address comes from.
    pub mac_address: NetworkLinkEthernetMac,
    /// Further bonding options, by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    #[schemars(with = "BTreeMap<String, AnyJson>")]
    pub parameters: BTreeMap<String, serde_json::Value>,
    /// IDs of the bonded links.
    #[serde(default)]
    #[schemars(transform = crate::schema::no_default)]
    pub bond_links: Vec<String>,
}

/// Any JSON value (schema helper).
#[derive(JsonSchema)]
#[schemars(schema_with = "any_json")]
#[allow(dead_code)]
struct AnyJson;

/// A VLAN on a link.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkDataLinkVlan {
    /// VLAN ID.
    #[serde(rename = "vlanID")]
    #[schemars(range(max = 4096), transform = plain_integer)]
    pub vlan_id: i64,
    /// Link ID.
    pub id: String,
    /// Interface name on the host.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 15), pattern(LINK_NAME_PATTERN))]
    pub name: String,
    /// MTU in bytes.
    #[serde(default, skip_serializing_if = "crate::schema::is_default")]
    #[schemars(range(max = 9000), transform = plain_integer, extend("default" = 1500))]
    pub mtu: i64,
    /// Where the MAC address comes from.
    pub mac_address: NetworkLinkEthernetMac,
    /// ID of the link the VLAN is on.
    pub vlan_link: String,
}

/// Networks on the links.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct NetworkDataNetwork {
    /// Static IPv4 networks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ipv4: Vec<NetworkDataIPv4>,
    /// Static IPv6 networks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ipv6: Vec<NetworkDataIPv6>,
    /// IPv4 networks configured by DHCP.
    #[serde(rename = "ipv4DHCP", default, skip_serializing_if = "Vec::is_empty")]
    pub ipv4_dhcp: Vec<NetworkDataIPv4DHCP>,
    /// IPv6 networks configured by DHCPv6.
    #[serde(rename = "ipv6DHCP", default, skip_serializing_if = "Vec::is_empty")]
    pub ipv6_dhcp: Vec<NetworkDataIPv6DHCP>,
    /// IPv6 networks configured by stateless autoconfiguration.
    #[serde(rename = "ipv6SLAAC", default, skip_serializing_if = "Vec::is_empty")]
    pub ipv6_slaac: Vec<NetworkDataIPv6DHCP>,
}

/// A static IPv4 network.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkDataIPv4 {
    /// Network ID.
    pub id: String,
    /// ID of the link the network is on.
    pub link: String,
    /// Name of the IP pool the address comes from.
    #[serde(
        rename = "ipAddressFromIPPool",
        default,
        skip_serializing_if = "String::is_empty"
    )]
    pub ip_address_from_ip_pool: String,
    /// The pool the address comes from, by kind and name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_pool_ref: Option<TypedLocalObjectReference>,
    /// An annotation naming the pool the address comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_pool_annotation: Option<FromPoolAnnotation>,
    /// Routes of the network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<NetworkDataRoutev4>,
}

/// A static IPv6 network.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct NetworkDataIPv6 {
    /// Network ID.
    pub id: String,
    /// ID of the link the network is on.
    pub link: String,
    /// Name of the IP pool the address comes from.
    #[serde(rename = "ipAddressFromIPPool")]
    pub ip_address_from_ip_pool: String,
    /// The pool the address comes from, by kind and name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_pool_ref: Option<TypedLocalObjectReference>,
    /// An annotation naming the pool the address comes from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_pool_annotation: Option<FromPoolAnnotation>,
    /// Routes of the network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<NetworkDataRoutev6>,
}

/// An IPv4 network configured by DHCP.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct NetworkDataIPv4DHCP {
    /// Network ID.
    pub id: String,
    /// ID of the link the network is on.
    pub link: String,
    /// Routes of the network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<NetworkDataRoutev4>,
}

/// An IPv6 network configured by DHCPv6 or SLAAC.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct NetworkDataIPv6DHCP {
    /// Network ID.
    pub id: String,
    /// ID of the link the network is on.
    pub link: String,
    /// Routes of the network.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<NetworkDataRoutev6>,
}

/// Declares the route, gateway and service types of one IP family (v1beta1 forms).
macro_rules! family {
    ($route:ident, $gateway:ident, $service:ident, $pattern:expr, $items:path, $max_prefix:literal, $family:literal) => {
        #[doc = concat!("An ", $family, " route.")]
        #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
        pub struct $route {
            /// Destination network address.
            #[schemars(pattern($pattern))]
            pub network: String,
            /// Prefix length of the destination.
            #[serde(default, skip_serializing_if = "crate::schema::is_default")]
            #[schemars(range(max = $max_prefix), transform = plain_integer)]
            pub prefix: i64,
            /// Next hop.
            pub gateway: $gateway,
            /// Services reached through the route (always written).
            #[serde(default)]
            #[schemars(transform = crate::schema::no_default)]
            pub services: $service,
        }

        #[doc = concat!("An ", $family, " gateway: one of the four sources.")]
        #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct $gateway {
            /// The gateway address itself.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            #[schemars(pattern($pattern))]
            pub string: Option<String>,
            /// Name of an IP pool whose gateway is used.
            #[serde(
                rename = "fromIPPool",
                default,
                skip_serializing_if = "Option::is_none"
            )]
            pub from_ip_pool: Option<String>,
            /// An IP pool, by kind and name, whose gateway is used.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub from_pool_ref: Option<TypedLocalObjectReference>,
            /// An annotation naming the IP pool whose gateway is used.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            pub from_pool_annotation: Option<FromPoolAnnotation>,
        }

        #[doc = concat!("Services reached over ", $family, ".")]
        #[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
        #[serde(rename_all = "camelCase")]
        pub struct $service {
            /// DNS server addresses.
            #[serde(default, skip_serializing_if = "Vec::is_empty")]
            #[schemars(inner(pattern($pattern)), transform = $items)]
            pub dns: Vec<String>,
            /// Name of an IP pool whose DNS servers are used.
            #[serde(
                rename = "dnsFromIPPool",
                default,
                skip_serializing_if = "Option::is_none"
            )]
            pub dns_from_ip_pool: Option<String>,
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
    #[schemars(inner(pattern(IP_PATTERN)), transform = crate::schema::ip_items)]
    pub dns: Vec<String>,
    /// Name of an IP pool whose DNS servers are used.
    #[serde(
        rename = "dnsFromIPPool",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub dns_from_ip_pool: Option<String>,
}
