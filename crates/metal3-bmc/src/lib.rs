//! BMC addresses of Metal³ hosts: parsing, and what each address scheme implies.
//!
//! A BareMetalHost's `spec.bmc.address` names both the BMC and the protocol used to drive it
//! (`ipmi://10.0.0.5:623`, `redfish-virtualmedia+http://bmc/redfish/v1/Systems/1`, or a bare
//! `10.0.0.5`). [`parse`] accepts exactly the addresses upstream Metal³ accepts, with the same
//! error messages, and the resulting [`BmcAddress`] knows the Ironic driver, the hardware
//! interfaces, the capabilities (boot MAC needed, secure boot, ISO boot, provisioning network)
//! and the Ironic `driver_info` of the address. Pure logic, no I/O.
//!
//! [`url`] is the Go URL parsing this rests on (`url.Parse`, and `url.ParseRequestURI`, which
//! the admission rules use for image and event URLs), kept here so there is one copy of it.

use serde::Serialize;
use serde_json::{Map, Value, json};

pub mod url;

/// Why an address was rejected. The messages are upstream's, word for word.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BmcError {
    /// The address is empty.
    #[error("missing BMC address")]
    Missing,
    /// The address is not a URL, `host:port` or host name that upstream accepts.
    #[error("failed to parse BMC address information: {0}")]
    Parse(String),
    /// The scheme names no supported BMC type (including schemes upstream has removed).
    #[error("Unknown BMC type '{bmc_type}' for address {address}")]
    UnknownType {
        /// The scheme as written (lower-cased).
        bmc_type: String,
        /// The whole address.
        address: String,
    },
}

/// Transport of a Redfish-family address (`redfish+http://…`); HTTPS unless told otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// Plain HTTP (`+http`).
    Http,
    /// HTTPS (`+https`, or no suffix).
    Https,
}

impl Transport {
    /// `http` or `https`.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Http => "http",
            Transport::Https => "https",
        }
    }
}

/// The family of an address scheme, which fixes driver, interfaces and capabilities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// `ipmi` and bare addresses: IPMI power, iPXE boot.
    Ipmi,
    /// `libvirt`: IPMI (virtualbmc) in front of a libvirt VM; needs the boot MAC.
    Libvirt,
    /// `redfish`, `ilo5-redfish`: Redfish management, iPXE boot.
    Redfish,
    /// `redfish-virtualmedia`, `ilo5-virtualmedia`: Redfish with virtual-media boot.
    RedfishVirtualMedia,
    /// `redfish-uefihttp`: Redfish with UEFI HTTP boot.
    RedfishUefiHttp,
    /// `idrac-redfish`: Dell iDRAC through its Redfish interfaces, iPXE boot.
    IdracRedfish,
    /// `idrac-virtualmedia`: Dell iDRAC with virtual-media boot.
    IdracVirtualMedia,
}

/// Every supported scheme (before any `+http`/`+https`) and its family.
pub const SCHEMES: &[(&str, Family)] = &[
    ("ipmi", Family::Ipmi),
    ("libvirt", Family::Libvirt),
    ("redfish", Family::Redfish),
    ("ilo5-redfish", Family::Redfish),
    ("redfish-virtualmedia", Family::RedfishVirtualMedia),
    ("ilo5-virtualmedia", Family::RedfishVirtualMedia),
    ("redfish-uefihttp", Family::RedfishUefiHttp),
    ("idrac-redfish", Family::IdracRedfish),
    ("idrac-virtualmedia", Family::IdracVirtualMedia),
];

impl Family {
    fn of_scheme(scheme: &str) -> Option<Family> {
        SCHEMES.iter().find(|(s, _)| *s == scheme).map(|(_, f)| *f)
    }

    /// True for the Redfish-based families, which accept `+http`/`+https`.
    pub fn is_redfish(self) -> bool {
        !matches!(self, Family::Ipmi | Family::Libvirt)
    }
}

/// Ironic hardware interfaces an address selects; `None` leaves Ironic's default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Interfaces {
    /// `boot_interface`.
    pub boot: Option<&'static str>,
    /// `bios_interface`.
    pub bios: Option<&'static str>,
    /// `management_interface`.
    pub management: Option<&'static str>,
    /// `power_interface`.
    pub power: Option<&'static str>,
    /// `vendor_interface`.
    pub vendor: Option<&'static str>,
    /// `raid_interface`.
    pub raid: Option<&'static str>,
    /// `firmware_interface`.
    pub firmware: Option<&'static str>,
    /// `inspect_interface` used for fast (out-of-band) inspection.
    pub inspect: Option<&'static str>,
}

/// A parsed, supported BMC address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BmcAddress {
    family: Family,
    bmc_type: String,
    scheme_len: usize,
    transport: Option<Transport>,
    host: String,
    hostname: String,
    port: String,
    path: String,
    privilege_level: String,
}

const IPMI_DEFAULT_PORT: &str = "623";
const IPMI_DEFAULT_PRIVILEGE: &str = "ADMINISTRATOR";

/// Parses a BMC address as upstream Metal³ does.
pub fn parse(address: &str) -> Result<BmcAddress, BmcError> {
    if address.is_empty() {
        return Err(BmcError::Missing);
    }
    let parsed = parsed_url(address)?;
    let bmc_type = parsed.scheme.clone();
    let (scheme, transport) = match bmc_type.split_once('+') {
        Some((scheme, "http")) => (scheme, Some(Transport::Http)),
        Some((scheme, "https")) => (scheme, Some(Transport::Https)),
        Some(_) => ("", None),
        None => (bmc_type.as_str(), None),
    };
    let family = Family::of_scheme(scheme)
        .filter(|f| transport.is_none() || f.is_redfish())
        .ok_or_else(|| BmcError::UnknownType {
            bmc_type: bmc_type.clone(),
            address: address.to_string(),
        })?;
    let transport = family
        .is_redfish()
        .then(|| transport.unwrap_or(Transport::Https));
    let privilege_level = url::query_value(&parsed.raw_query, "privilegelevel")
        .unwrap_or_else(|| IPMI_DEFAULT_PRIVILEGE.to_string());
    Ok(BmcAddress {
        family,
        scheme_len: scheme.len(),
        transport,
        hostname: parsed.hostname().to_string(),
        port: parsed.port().to_string(),
        host: parsed.host,
        path: parsed.path,
        privilege_level,
        bmc_type,
    })
}

/// Upstream's `GetParsedURL`: a URL, an opaque `scheme:host`, a `host:port` or a bare host
/// (the last two meaning IPMI), then a host-name check.
fn parsed_url(address: &str) -> Result<url::GoUrl, BmcError> {
    let parsed = match url::parse(address) {
        Err(e) => {
            if address.contains(':') && !url::is_host_port(address) {
                return Err(BmcError::Parse(e));
            }
            url::GoUrl {
                scheme: "ipmi".into(),
                host: address.to_string(),
                ..url::GoUrl::default()
            }
        }
        Ok(parsed) if !parsed.opaque.is_empty() => {
            url::parse(&address.replacen(':', "://", 1)).map_err(BmcError::Parse)?
        }
        Ok(parsed) if parsed.scheme.is_empty() && parsed.hostname().is_empty() => {
            url::parse(&format!("ipmi://{address}")).map_err(BmcError::Parse)?
        }
        Ok(parsed) => parsed,
    };
    check_hostname(parsed.hostname())?;
    Ok(parsed)
}

/// Upstream's `checkDNSValid`: an IP address, or dot-separated DNS labels of 1–63 letters,
/// digits and inner hyphens.
fn check_hostname(hostname: &str) -> Result<(), BmcError> {
    if hostname.is_empty() || hostname.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    let label_ok = |label: &str| {
        let bytes = label.as_bytes();
        (1..=63).contains(&bytes.len())
            && bytes
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
            && bytes.first() != Some(&b'-')
            && bytes.last() != Some(&b'-')
    };
    if hostname.split('.').all(label_ok) {
        Ok(())
    } else {
        Err(BmcError::Parse(format!(
            "BMC address hostname/IP : [{hostname}] is invalid"
        )))
    }
}

impl BmcAddress {
    /// The BMC type as upstream names it in messages: the scheme including any `+http`/`+https`
    /// (`idrac-virtualmedia+https`).
    pub fn bmc_type(&self) -> &str {
        &self.bmc_type
    }

    /// The scheme without `+http`/`+https` (`redfish-virtualmedia`).
    pub fn scheme(&self) -> &str {
        &self.bmc_type[..self.scheme_len]
    }

    /// The scheme's family.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Transport of Redfish-family addresses; `None` for IPMI.
    pub fn transport(&self) -> Option<Transport> {
        self.transport
    }

    /// Host name or IP address, without brackets or port.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// The port, if the address gives one.
    pub fn port(&self) -> Option<u16> {
        self.port.parse().ok()
    }

    /// The (percent-decoded) path, e.g. `/redfish/v1/Systems/1`.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The Ironic hardware type (driver).
    pub fn driver(&self) -> &'static str {
        match self.family {
            Family::Ipmi | Family::Libvirt => "ipmi",
            Family::Redfish | Family::RedfishVirtualMedia | Family::RedfishUefiHttp => "redfish",
            Family::IdracRedfish | Family::IdracVirtualMedia => "idrac",
        }
    }

    /// The hardware interfaces this address selects.
    pub fn interfaces(&self) -> Interfaces {
        const REDFISH: Option<&str> = Some("redfish");
        const IDRAC: Option<&str> = Some("idrac-redfish");
        match self.family {
            Family::Ipmi | Family::Libvirt => Interfaces {
                boot: Some("ipxe"),
                raid: Some("no-raid"),
                ..Interfaces::default()
            },
            Family::Redfish => Interfaces {
                boot: Some("ipxe"),
                raid: REDFISH,
                firmware: REDFISH,
                inspect: REDFISH,
                ..Interfaces::default()
            },
            Family::RedfishVirtualMedia => Interfaces {
                boot: Some("redfish-virtual-media"),
                raid: REDFISH,
                firmware: REDFISH,
                inspect: REDFISH,
                ..Interfaces::default()
            },
            Family::RedfishUefiHttp => Interfaces {
                boot: Some("redfish-https"),
                raid: REDFISH,
                firmware: REDFISH,
                inspect: REDFISH,
                ..Interfaces::default()
            },
            Family::IdracRedfish | Family::IdracVirtualMedia => Interfaces {
                boot: Some(if self.family == Family::IdracRedfish {
                    "ipxe"
                } else {
                    "idrac-redfish-virtual-media"
                }),
                bios: IDRAC,
                management: IDRAC,
                power: IDRAC,
                vendor: IDRAC,
                raid: IDRAC,
                firmware: REDFISH,
                inspect: REDFISH,
            },
        }
    }

    /// Whether the host's `bootMACAddress` is required (it always is when inspection is off).
    pub fn needs_boot_mac(&self) -> bool {
        self.family == Family::Libvirt
    }

    /// Whether `bootMode: UEFISecureBoot` is possible.
    pub fn supports_secure_boot(&self) -> bool {
        self.family.is_redfish()
    }

    /// Whether the driver can boot an ISO (virtual media or UEFI HTTP) instead of PXE.
    pub fn supports_iso(&self) -> bool {
        matches!(
            self.family,
            Family::RedfishVirtualMedia | Family::RedfishUefiHttp | Family::IdracVirtualMedia
        )
    }

    /// Whether the driver needs a provisioning network (DHCP/PXE) to boot the agent.
    pub fn needs_provisioning_network(&self) -> bool {
        !self.supports_iso()
    }

    /// Whether `inspectionMode: fast` (out-of-band inspection) is possible.
    pub fn supports_fast_inspection(&self) -> bool {
        self.interfaces().inspect.is_some()
    }

    /// Whether hardware RAID can be configured (the RAID interface is not `no-raid`).
    pub fn supports_raid(&self) -> bool {
        self.interfaces().raid != Some("no-raid")
    }

    /// The Ironic `driver_info` of this address, without credentials.
    pub fn driver_info(&self, disable_certificate_verification: bool) -> Map<String, Value> {
        let mut info = Map::new();
        match self.transport {
            None => {
                let port = if self.port.is_empty() {
                    IPMI_DEFAULT_PORT
                } else {
                    &self.port
                };
                info.insert("ipmi_address".into(), json!(self.hostname));
                info.insert("ipmi_port".into(), json!(port));
                info.insert("ipmi_priv_level".into(), json!(self.privilege_level));
                if disable_certificate_verification {
                    info.insert("ipmi_verify_ca".into(), json!(false));
                }
            }
            Some(transport) => {
                info.insert(
                    "redfish_address".into(),
                    json!(format!("{}://{}", transport.as_str(), self.host)),
                );
                let trimmed = self.path.trim_matches('/');
                let always = self.family == Family::RedfishUefiHttp;
                if always || (!trimmed.is_empty() && trimmed != "redfish/v1") {
                    info.insert("redfish_system_id".into(), json!(self.path));
                }
                if disable_certificate_verification {
                    info.insert("redfish_verify_ca".into(), json!(false));
                }
            }
        }
        info
    }

    /// The Ironic `driver_info` including the BMC credentials. Never log or print the result.
    pub fn driver_info_with_credentials(
        &self,
        username: &str,
        password: &str,
        disable_certificate_verification: bool,
    ) -> Map<String, Value> {
        let mut info = self.driver_info(disable_certificate_verification);
        let prefix = if self.transport.is_some() {
            "redfish"
        } else {
            "ipmi"
        };
        info.insert(format!("{prefix}_username"), json!(username));
        info.insert(format!("{prefix}_password"), json!(password));
        info
    }
}

/// What `metal3 bmc parse` prints.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Description<'a> {
    scheme: &'a str,
    transport: Option<Transport>,
    driver: &'a str,
    hostname: &'a str,
    port: Option<u16>,
    path: &'a str,
    interfaces: Interfaces,
    driver_info: Map<String, Value>,
    needs_boot_mac: bool,
    supports_secure_boot: bool,
    supports_iso: bool,
    needs_provisioning_network: bool,
}

/// Parses `address` and describes it as one JSON object (the output of `metal3 bmc parse`).
pub fn describe(address: &str, disable_certificate_verification: bool) -> Result<Value, BmcError> {
    let bmc = parse(address)?;
    let description = Description {
        scheme: bmc.scheme(),
        transport: bmc.transport(),
        driver: bmc.driver(),
        hostname: bmc.hostname(),
        port: bmc.port(),
        path: bmc.path(),
        interfaces: bmc.interfaces(),
        driver_info: bmc.driver_info(disable_certificate_verification),
        needs_boot_mac: bmc.needs_boot_mac(),
        supports_secure_boot: bmc.supports_secure_boot(),
        supports_iso: bmc.supports_iso(),
        needs_provisioning_network: bmc.needs_provisioning_network(),
    };
    Ok(serde_json::to_value(description).unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests;
#[cfg(test)]
mod url_props;
