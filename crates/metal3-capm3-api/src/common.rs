//! Types that both API versions share with identical wire form and schema: string enums and
//! the Cluster API types embedded in CAPM3 objects.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use metal3_api::wire_enum;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

wire_enum! {
    /// Hash algorithm of an image checksum.
    pub enum ChecksumType {
        /// MD5.
        Md5 => "md5",
        /// SHA-256.
        Sha256 => "sha256",
        /// SHA-512.
        Sha512 => "sha512",
    }
}

/// On-disk format of an image: the BareMetalHost's own enum, which the image is copied to.
pub use metal3_api::v1alpha1::ImageFormat as DiskFormat;

wire_enum! {
    /// Disk cleaning of the host before and after use, copied to the BareMetalHost.
    pub enum CleaningMode {
        /// Wipe disk metadata (partition tables, file system signatures).
        Metadata => "metadata",
        /// Do not clean.
        Disabled => "disabled",
    }
}

wire_enum! {
    /// Kind of a machine address.
    pub enum MachineAddressType {
        /// Host name.
        Hostname => "Hostname",
        /// Address reachable from outside the cluster.
        ExternalIp => "ExternalIP",
        /// Address reachable inside the cluster.
        InternalIp => "InternalIP",
        /// DNS name reachable from outside the cluster.
        ExternalDns => "ExternalDNS",
        /// DNS name reachable inside the cluster.
        InternalDns => "InternalDNS",
    }
}

wire_enum! {
    /// The object a rendered value is read from.
    #[derive(Default)]
    pub enum DataObject {
        /// The Cluster API Machine.
        #[default]
        Machine => "machine",
        /// The Metal3Machine.
        Metal3Machine => "metal3machine",
        /// The BareMetalHost.
        BareMetalHost => "baremetalhost",
    }
}

wire_enum! {
    /// Type of a physical or virtual ethernet link in network data.
    pub enum EthernetType {
        /// Linux bridge.
        Bridge => "bridge",
        /// VMware distributed virtual switch.
        Dvs => "dvs",
        /// Hardware virtual ethernet bridge.
        HwVeb => "hw_veb",
        /// Hyper-V switch.
        Hyperv => "hyperv",
        /// Open vSwitch.
        Ovs => "ovs",
        /// TAP device.
        Tap => "tap",
        /// vhost-user port.
        Vhostuser => "vhostuser",
        /// Virtual interface.
        Vif => "vif",
        /// Physical NIC.
        Phy => "phy",
    }
}

wire_enum! {
    /// Linux bonding mode.
    pub enum BondMode {
        /// Round robin.
        BalanceRr => "balance-rr",
        /// One active member, the others standby.
        ActiveBackup => "active-backup",
        /// Member chosen by a hash of the packet.
        BalanceXor => "balance-xor",
        /// Every packet on every member.
        Broadcast => "broadcast",
        /// Adaptive transmit load balancing.
        BalanceTlb => "balance-tlb",
        /// Adaptive load balancing both ways.
        BalanceAlb => "balance-alb",
        /// IEEE 802.3ad link aggregation (LACP).
        Lacp => "802.3ad",
    }
}

wire_enum! {
    /// Hash used to pick a bond member for a packet.
    pub enum BondXmitHashPolicy {
        /// MAC addresses.
        Layer2 => "layer2",
        /// IP addresses and ports.
        Layer3Plus4 => "layer3+4",
        /// MAC and IP addresses.
        Layer2Plus3 => "layer2+3",
    }
}

wire_enum! {
    /// How a remediation fixes an unhealthy node.
    pub enum RemediationType {
        /// Power-cycle the host.
        Reboot => "Reboot",
    }
}

wire_enum! {
    /// Where a remediation is.
    pub enum RemediationPhase {
        /// The host is being powered off.
        Running => "Running",
        /// The host is powered on again; waiting for the node to come back.
        Waiting => "Waiting",
        /// Remediation gave up; the Machine is to be deleted.
        DeletingMachine => "Deleting machine",
        /// Remediation cannot be done (e.g. the host is meant to be off).
        Failed => "Failed",
    }
}

/// One address of a machine.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct MachineAddress {
    /// What the address is: a host name, an internal or external IP or DNS name.
    pub r#type: MachineAddressType,
    /// The address itself.
    #[schemars(length(min = 1, max = 256))]
    pub address: String,
}

/// A Cluster API (v1beta1-style) condition, with a severity; kept in v1beta2 objects under
/// `status.deprecated.v1beta1`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct V1Beta1Condition {
    /// Condition type, in CamelCase.
    #[schemars(length(min = 1, max = 256))]
    pub r#type: String,
    /// `True`, `False` or `Unknown`.
    pub status: String,
    /// How bad a false condition is: `Error`, `Warning` or `Info`; empty when true.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(max = 32))]
    pub severity: String,
    /// When the status last changed.
    pub last_transition_time: Time,
    /// CamelCase reason of the last change.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1, max = 256))]
    pub reason: String,
    /// Details for people.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    #[schemars(length(min = 1, max = 10240))]
    pub message: String,
}
