//! The BareMetalHost's enumerations: boot mode, operational status, error types, the
//! provisioning state and the other closed sets of values.

use super::*;

wire_enum! {
    /// Firmware boot mode used to boot the host.
    #[derive(Default)]
    pub enum BootMode {
        /// UEFI boot (the default when none is set).
        #[default]
        Uefi => "UEFI",
        /// UEFI boot with Secure Boot enforced.
        UefiSecureBoot => "UEFISecureBoot",
        /// Legacy BIOS boot.
        Legacy => "legacy",
    }
}

wire_enum! {
    /// Whether disks are wiped when a host is deprovisioned or first made available.
    #[derive(Default)]
    pub enum AutomatedCleaningMode {
        /// Clean disk metadata (partition tables, file system signatures). The default.
        #[default]
        Metadata => "metadata",
        /// Skip cleaning.
        Disabled => "disabled",
    }
}

wire_enum! {
    /// How hardware inspection is done (unset means `agent`).
    #[derive(Default)]
    pub enum InspectionMode {
        /// Do not inspect; the host's HardwareData, if any, must come from elsewhere.
        Disabled => "disabled",
        /// Boot the inspection ramdisk on the host and collect a full inventory.
        #[default]
        Agent => "agent",
        /// Ask the BMC only (out-of-band, e.g. Redfish); quicker but less detailed.
        Fast => "fast",
    }
}

wire_enum! {
    /// Hash algorithm of an image checksum.
    pub enum ChecksumType {
        /// MD5.
        Md5 => "md5",
        /// SHA-256.
        Sha256 => "sha256",
        /// SHA-512.
        Sha512 => "sha512",
        /// Detect the algorithm from the checksum's length.
        Auto => "auto",
    }
}

wire_enum! {
    /// On-disk format of an image.
    pub enum ImageFormat {
        /// Raw disk image.
        Raw => "raw",
        /// QEMU copy-on-write v2.
        Qcow2 => "qcow2",
        /// VirtualBox disk image.
        Vdi => "vdi",
        /// VMware disk image.
        Vmdk => "vmdk",
        /// Bootable ISO attached as virtual media and booted as is, without writing to disk.
        LiveIso => "live-iso",
    }
}

wire_enum! {
    /// RAID level of a hardware RAID volume.
    pub enum HardwareRaidLevel {
        /// Striping.
        Raid0 => "0",
        /// Mirroring.
        Raid1 => "1",
        /// Bit-level striping with Hamming-code parity.
        Raid2 => "2",
        /// Striping with distributed parity.
        Raid5 => "5",
        /// Striping with double distributed parity.
        Raid6 => "6",
        /// Stripe of mirrors.
        Raid10 => "1+0",
        /// Stripe of RAID-5 sets.
        Raid50 => "5+0",
        /// Stripe of RAID-6 sets.
        Raid60 => "6+0",
    }
}

wire_enum! {
    /// RAID level of a software (Linux md) RAID volume.
    pub enum SoftwareRaidLevel {
        /// Striping.
        Raid0 => "0",
        /// Mirroring.
        Raid1 => "1",
        /// Stripe of mirrors.
        Raid10 => "1+0",
    }
}

wire_enum! {
    /// Overall health of a host as the operator sees it.
    #[derive(Default)]
    pub enum OperationalStatus {
        /// Not determined yet.
        #[default]
        None => "",
        /// Working as expected.
        Ok => "OK",
        /// Found, but its BMC details are missing or incomplete.
        Discovered => "discovered",
        /// The last operation failed; see `errorType` and `errorMessage`.
        Error => "error",
        /// Provisioning is held back, e.g. by a concurrency limit.
        Delayed => "delayed",
        /// Detached from the provisioner; the operator leaves it alone.
        Detached => "detached",
        /// Undergoing servicing (firmware settings or updates) while provisioned.
        Servicing => "servicing",
    }
}

wire_enum! {
    /// Category of the most recent failure.
    pub enum ErrorType {
        /// A host created as already provisioned could not be registered.
        ProvisionedRegistration => "provisioned registration error",
        /// Registering the host with the provisioner failed (often bad BMC credentials or an
        /// unreachable BMC).
        Registration => "registration error",
        /// Hardware inspection failed.
        Inspection => "inspection error",
        /// Preparing (cleaning, RAID, firmware settings) failed.
        Preparation => "preparation error",
        /// Writing the image or deploying failed.
        Provisioning => "provisioning error",
        /// Powering the host on or off failed.
        PowerManagement => "power management error",
        /// Detaching the host from the provisioner failed.
        Detach => "detach error",
        /// Servicing a provisioned host failed.
        Servicing => "servicing error",
    }
}

/// Where a host is in its lifecycle (`status.provisioning.state`).
///
/// The schema leaves this a free string, so a value this version does not know decodes as
/// [`ProvisioningState::Other`] instead of failing and round-trips unchanged.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum ProvisioningState {
    /// No state yet: the host was just created.
    #[default]
    None,
    /// No BMC details, so the host cannot be managed.
    Unmanaged,
    /// Being registered with the provisioner and its BMC credentials checked.
    Registering,
    /// Legacy state, from when hosts were matched to hardware profiles.
    MatchProfile,
    /// Being cleaned and configured (RAID, firmware settings) before use.
    Preparing,
    /// Older name for `available`.
    Ready,
    /// Ready to be provisioned.
    Available,
    /// An image is being written.
    Provisioning,
    /// An image has been written and the host is in use.
    Provisioned,
    /// Provisioned by something else; only power is managed.
    ExternallyProvisioned,
    /// The image is being removed.
    Deprovisioning,
    /// Hardware is being inspected.
    Inspecting,
    /// Being powered off before deletion.
    PoweringOffBeforeDelete,
    /// Being deleted.
    Deleting,
    /// A state this version does not know, kept verbatim.
    Other(String),
}

impl ProvisioningState {
    /// Every state this version knows, in declaration order.
    pub const KNOWN: &'static [Self] = &[
        Self::None,
        Self::Unmanaged,
        Self::Registering,
        Self::MatchProfile,
        Self::Preparing,
        Self::Ready,
        Self::Available,
        Self::Provisioning,
        Self::Provisioned,
        Self::ExternallyProvisioned,
        Self::Deprovisioning,
        Self::Inspecting,
        Self::PoweringOffBeforeDelete,
        Self::Deleting,
    ];

    /// The state as written on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::None => "",
            Self::Unmanaged => "unmanaged",
            Self::Registering => "registering",
            Self::MatchProfile => "match profile",
            Self::Preparing => "preparing",
            Self::Ready => "ready",
            Self::Available => "available",
            Self::Provisioning => "provisioning",
            Self::Provisioned => "provisioned",
            Self::ExternallyProvisioned => "externally provisioned",
            Self::Deprovisioning => "deprovisioning",
            Self::Inspecting => "inspecting",
            Self::PoweringOffBeforeDelete => "powering off before delete",
            Self::Deleting => "deleting",
            Self::Other(s) => s,
        }
    }

    /// Whether this is one of [`Self::KNOWN`].
    pub fn is_known(&self) -> bool {
        !matches!(self, Self::Other(_))
    }
}

impl From<&str> for ProvisioningState {
    fn from(value: &str) -> Self {
        Self::KNOWN
            .iter()
            .find(|s| s.as_str() == value)
            .cloned()
            .unwrap_or_else(|| Self::Other(value.to_string()))
    }
}

impl From<String> for ProvisioningState {
    fn from(value: String) -> Self {
        match Self::from(value.as_str()) {
            Self::Other(_) => Self::Other(value),
            known => known,
        }
    }
}

impl fmt::Display for ProvisioningState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ProvisioningState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ProvisioningState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::from)
    }
}

impl JsonSchema for ProvisioningState {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "ProvisioningState".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string" })
    }
}

// ---------------------------------------------------------------------------------------------
