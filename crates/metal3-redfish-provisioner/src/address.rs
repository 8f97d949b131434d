//! A BareMetalHost's `bmc.address` read as a Redfish service: the endpoint the client talks
//! to, the system path the address names, and whether it asks for UEFI HTTP boot. Pure.

use metal3_redfish::Endpoint;

/// A BMC address this backend cannot use.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("BMC address: {0}")]
pub(crate) struct AddressError(String);

/// The service and the system path (empty when the address names none) of a BareMetalHost
/// `bmc.address` of the redfish family; `insecure` skips TLS certificate verification.
pub(crate) fn endpoint(address: &str, insecure: bool) -> Result<(Endpoint, String), AddressError> {
    let parsed = metal3_bmc::parse(address).map_err(|e| AddressError(e.to_string()))?;
    if !parsed.family().is_redfish() {
        return Err(AddressError(format!(
            "{} is not a Redfish address; the redfish provisioner manages redfish, \
             redfish-virtualmedia, redfish-uefihttp, idrac-redfish, idrac-virtualmedia and \
             ilo5-redfish hosts",
            parsed.bmc_type()
        )));
    }
    let scheme = parsed.transport().map_or("https", |t| t.as_str());
    let host = parsed.hostname();
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    };
    let base = match parsed.port() {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    };
    let path = parsed.path().trim_end_matches('/').to_string();
    Ok((Endpoint { base, insecure }, path))
}

/// Whether the address asks for UEFI HTTP boot instead of virtual media.
pub(crate) fn uefi_http(address: &str) -> bool {
    metal3_bmc::parse(address).is_ok_and(|a| a.scheme() == "redfish-uefihttp")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_from_bmc_addresses() {
        let (e, path) = endpoint(
            "redfish-virtualmedia+http://127.0.0.1:8000/redfish/v1/Systems/abc",
            false,
        )
        .expect("address");
        assert_eq!(e.base, "http://127.0.0.1:8000");
        assert_eq!(path, "/redfish/v1/Systems/abc");
        let (e, path) = endpoint("redfish://[fd00::5]/redfish/v1/Systems/1/", true).expect("ipv6");
        assert_eq!(e.base, "https://[fd00::5]");
        assert!(e.insecure);
        assert_eq!(path, "/redfish/v1/Systems/1");
        let (e, _) = endpoint(
            "idrac-virtualmedia://10.0.0.1/redfish/v1/Systems/System.Embedded.1",
            false,
        )
        .expect("idrac");
        assert_eq!(e.base, "https://10.0.0.1");
        let err = endpoint("ipmi://10.0.0.1", false).expect_err("ipmi");
        assert!(err.to_string().contains("not a Redfish address"), "{err}");
    }

    #[test]
    fn uefi_http_boot_is_asked_for_by_the_scheme() {
        assert!(uefi_http(
            "redfish-uefihttp://10.0.0.1/redfish/v1/Systems/1"
        ));
        assert!(!uefi_http(
            "redfish-virtualmedia://10.0.0.1/redfish/v1/Systems/1"
        ));
        assert!(!uefi_http("redfish://10.0.0.1/redfish/v1/Systems/1"));
        assert!(!uefi_http("not an address"));
        let err = endpoint("not an address", false).expect_err("garbage");
        assert!(err.to_string().starts_with("BMC address: "), "{err}");
    }
}
