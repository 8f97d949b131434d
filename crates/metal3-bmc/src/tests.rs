use super::*;
use proptest::prelude::*;

/// `(address, bmc type, hostname, port, path)` for addresses that parse.
const VALID: &[(&str, &str, &str, Option<u16>, &str)] = &[
    (
        "libvirt://192.168.122.1:6233/?abc=def",
        "libvirt",
        "192.168.122.1",
        Some(6233),
        "/",
    ),
    ("192.168.122.1", "ipmi", "192.168.122.1", None, ""),
    ("my.favoritebmc.com", "ipmi", "my.favoritebmc.com", None, ""),
    (
        "192.168.122.1:6233",
        "ipmi",
        "192.168.122.1",
        Some(6233),
        "",
    ),
    (
        "[fe80::fc33:62ff:fe83:8a76]:6233",
        "ipmi",
        "fe80::fc33:62ff:fe83:8a76",
        Some(6233),
        "",
    ),
    (
        "ipmi://192.168.122.1:6233",
        "ipmi",
        "192.168.122.1",
        Some(6233),
        "",
    ),
    ("ipmi:192.168.122.1", "ipmi", "192.168.122.1", None, ""),
    (
        "ipmi:192.168.122.1:6233",
        "ipmi",
        "192.168.122.1",
        Some(6233),
        "",
    ),
    (
        "IPMI://bmc-1.rack-2.example.com",
        "ipmi",
        "bmc-1.rack-2.example.com",
        None,
        "",
    ),
    (
        "redfish://192.168.122.1",
        "redfish",
        "192.168.122.1",
        None,
        "",
    ),
    (
        "redfish://192.168.122.1:6233/foo",
        "redfish",
        "192.168.122.1",
        Some(6233),
        "/foo",
    ),
    (
        "redfish://[fe80::fc33:62ff:fe83:8a76]",
        "redfish",
        "fe80::fc33:62ff:fe83:8a76",
        None,
        "",
    ),
    (
        "redfish://[fe80::fc33:62ff:fe83:8a76]:6233/foo",
        "redfish",
        "fe80::fc33:62ff:fe83:8a76",
        Some(6233),
        "/foo",
    ),
    (
        "redfish:192.168.122.1",
        "redfish",
        "192.168.122.1",
        None,
        "",
    ),
    (
        "redfish+http://192.168.122.1/redfish/v1/Systems/1",
        "redfish+http",
        "192.168.122.1",
        None,
        "/redfish/v1/Systems/1",
    ),
    (
        "redfish+https://bmc/redfish/v1/Systems/1",
        "redfish+https",
        "bmc",
        None,
        "/redfish/v1/Systems/1",
    ),
    (
        "redfish-virtualmedia://192.168.122.1/redfish/v1/Systems/1",
        "redfish-virtualmedia",
        "192.168.122.1",
        None,
        "/redfish/v1/Systems/1",
    ),
    (
        "redfish-virtualmedia+http://192.168.111.1:8000/redfish/v1/Systems/abc",
        "redfish-virtualmedia+http",
        "192.168.111.1",
        Some(8000),
        "/redfish/v1/Systems/abc",
    ),
    (
        "redfish-uefihttp://bmc.example.com/redfish/v1/Systems/1",
        "redfish-uefihttp",
        "bmc.example.com",
        None,
        "/redfish/v1/Systems/1",
    ),
    (
        "ilo5-redfish://192.168.122.1/redfish/v1/Systems/1",
        "ilo5-redfish",
        "192.168.122.1",
        None,
        "/redfish/v1/Systems/1",
    ),
    (
        "ilo5-virtualmedia+https://192.168.122.1/redfish/v1/Systems/1",
        "ilo5-virtualmedia+https",
        "192.168.122.1",
        None,
        "/redfish/v1/Systems/1",
    ),
    (
        "idrac-redfish://192.168.122.1/redfish/v1/Systems/System.Embedded.1",
        "idrac-redfish",
        "192.168.122.1",
        None,
        "/redfish/v1/Systems/System.Embedded.1",
    ),
    (
        "idrac-virtualmedia+https://192.168.122.1:443/redfish/v1/Systems/System.Embedded.1",
        "idrac-virtualmedia+https",
        "192.168.122.1",
        Some(443),
        "/redfish/v1/Systems/System.Embedded.1",
    ),
    (
        "redfish://user@192.168.122.1/redfish/v1/Systems/1",
        "redfish",
        "192.168.122.1",
        None,
        "/redfish/v1/Systems/1",
    ),
];

#[test]
fn valid_addresses() {
    for (address, bmc_type, hostname, port, path) in VALID {
        let bmc = parse(address).unwrap_or_else(|e| panic!("{address}: {e}"));
        assert_eq!(bmc.bmc_type(), *bmc_type, "{address}");
        assert_eq!(bmc.hostname(), *hostname, "{address}");
        assert_eq!(bmc.port(), *port, "{address}");
        assert_eq!(bmc.path(), *path, "{address}");
    }
}

#[test]
fn invalid_addresses() {
    let cases = [
        ("", "missing BMC address"),
        (
            "my-.examplehost.com",
            "failed to parse BMC address information: BMC address hostname/IP : [my-.examplehost.com] is invalid",
        ),
        (
            "ipmi://-host.example.com.org:6223",
            "BMC address hostname/IP : [-host.example.com.org] is invalid",
        ),
        (
            "ipmi://host+1.example.com.org:6223",
            "BMC address hostname/IP : [host+1.example.com.org] is invalid",
        ),
        (
            "[fe80::fc33:62ff:fe33:8xff]:6223",
            "BMC address hostname/IP : [fe80::fc33:62ff:fe33:8xff] is invalid",
        ),
        (
            "[fe80::fc33:62ff:fe83:8a76]",
            "failed to parse BMC address information: parse \"[fe80::fc33:62ff:fe83:8a76]\": first path segment in URL cannot contain colon",
        ),
        (
            "ipmi://[@]host.example.com",
            "failed to parse BMC address information: parse \"ipmi://[@]host.example.com\": net/url: invalid userinfo",
        ),
        (
            "ipmi://[fe80::fc33:62ff:fe33:8xff]:6223",
            "failed to parse BMC address information: parse \"ipmi://[fe80::fc33:62ff:fe33:8xff]:6223\": invalid host",
        ),
        (
            "ipm:host.example.com:6223",
            "Unknown BMC type 'ipm' for address ipm:host.example.com:6223",
        ),
        (
            "test:127.0.1.1",
            "Unknown BMC type 'test' for address test:127.0.1.1",
        ),
        (
            "host.example.com:6223",
            "Unknown BMC type 'host.example.com' for address host.example.com:6223",
        ),
        (
            "ipmi+https://192.168.122.1",
            "Unknown BMC type 'ipmi+https' for address ipmi+https://192.168.122.1",
        ),
        (
            "redfish+ftp://192.168.122.1",
            "Unknown BMC type 'redfish+ftp' for address redfish+ftp://192.168.122.1",
        ),
        (
            "a.b.c:d:e",
            "parse \"a.b.c://d:e\": invalid port \":e\" after host",
        ),
        ("ipmi://", "Unknown BMC type"),
    ];
    for (address, message) in cases {
        match parse(address) {
            Ok(bmc) if message == "Unknown BMC type" => {
                // `ipmi://` parses with an empty host, as upstream's does.
                assert_eq!(bmc.hostname(), "", "{address}");
            }
            Ok(bmc) => panic!("{address}: expected an error, got {bmc:?}"),
            Err(e) => assert!(e.to_string().contains(message), "{address}: {e}"),
        }
    }
}

#[test]
fn removed_schemes_are_unknown() {
    for scheme in [
        "ilo4",
        "ilo4-virtualmedia",
        "ilo5",
        "irmc",
        "idrac",
        "ibmc",
        "irmc-virtualmedia",
    ] {
        let address = format!("{scheme}://192.168.122.1");
        assert_eq!(
            parse(&address),
            Err(BmcError::UnknownType {
                bmc_type: scheme.into(),
                address: address.clone()
            }),
        );
        assert_eq!(
            parse(&address).expect_err("removed").to_string(),
            format!("Unknown BMC type '{scheme}' for address {address}")
        );
    }
}

/// `(scheme, driver, boot, bios, mgmt/power/vendor, raid, firmware, inspect, needs MAC,
/// secure boot, ISO, provisioning network)`.
type Row = (
    &'static str,
    &'static str,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    bool,
    bool,
    bool,
    bool,
);

const TABLE: &[Row] = &[
    (
        "ipmi", "ipmi", "ipxe", None, None, "no-raid", None, None, false, false, false, true,
    ),
    (
        "libvirt", "ipmi", "ipxe", None, None, "no-raid", None, None, true, false, false, true,
    ),
    (
        "redfish",
        "redfish",
        "ipxe",
        None,
        None,
        "redfish",
        Some("redfish"),
        Some("redfish"),
        false,
        true,
        false,
        true,
    ),
    (
        "ilo5-redfish",
        "redfish",
        "ipxe",
        None,
        None,
        "redfish",
        Some("redfish"),
        Some("redfish"),
        false,
        true,
        false,
        true,
    ),
    (
        "redfish-virtualmedia",
        "redfish",
        "redfish-virtual-media",
        None,
        None,
        "redfish",
        Some("redfish"),
        Some("redfish"),
        false,
        true,
        true,
        false,
    ),
    (
        "ilo5-virtualmedia",
        "redfish",
        "redfish-virtual-media",
        None,
        None,
        "redfish",
        Some("redfish"),
        Some("redfish"),
        false,
        true,
        true,
        false,
    ),
    (
        "redfish-uefihttp",
        "redfish",
        "redfish-https",
        None,
        None,
        "redfish",
        Some("redfish"),
        Some("redfish"),
        false,
        true,
        true,
        false,
    ),
    (
        "idrac-redfish",
        "idrac",
        "ipxe",
        Some("idrac-redfish"),
        Some("idrac-redfish"),
        "idrac-redfish",
        Some("redfish"),
        Some("redfish"),
        false,
        true,
        false,
        true,
    ),
    (
        "idrac-virtualmedia",
        "idrac",
        "idrac-redfish-virtual-media",
        Some("idrac-redfish"),
        Some("idrac-redfish"),
        "idrac-redfish",
        Some("redfish"),
        Some("redfish"),
        false,
        true,
        true,
        false,
    ),
];

#[test]
fn driver_table() {
    assert_eq!(TABLE.len(), SCHEMES.len(), "every scheme has a row");
    for &(scheme, driver, boot, bios, mpv, raid, firmware, inspect, mac, secure, iso, provnet) in
        TABLE
    {
        for suffix in ["", "+http", "+https"] {
            let address = format!("{scheme}{suffix}://192.168.122.1/redfish/v1/Systems/1");
            let bmc = match parse(&address) {
                Ok(bmc) => bmc,
                // IPMI schemes take no transport suffix.
                Err(e) if !suffix.is_empty() && driver == "ipmi" => {
                    assert!(e.to_string().starts_with("Unknown BMC type"), "{e}");
                    continue;
                }
                Err(e) => panic!("{address}: {e}"),
            };
            assert_eq!(bmc.scheme(), scheme);
            assert_eq!(bmc.driver(), driver, "{address}");
            let i = bmc.interfaces();
            assert_eq!(i.boot, Some(boot), "{address}");
            assert_eq!(i.bios, bios, "{address}");
            assert_eq!(
                (i.management, i.power, i.vendor),
                (mpv, mpv, mpv),
                "{address}"
            );
            assert_eq!(i.raid, Some(raid), "{address}");
            assert_eq!(i.firmware, firmware, "{address}");
            assert_eq!(i.inspect, inspect, "{address}");
            assert_eq!(bmc.needs_boot_mac(), mac, "{address}");
            assert_eq!(bmc.supports_secure_boot(), secure, "{address}");
            assert_eq!(bmc.supports_iso(), iso, "{address}");
            assert_eq!(bmc.needs_provisioning_network(), provnet, "{address}");
            assert_eq!(
                bmc.supports_fast_inspection(),
                inspect.is_some(),
                "{address}"
            );
            assert_eq!(bmc.supports_raid(), raid != "no-raid", "{address}");
            let expected_transport = match (driver, suffix) {
                ("ipmi", _) => None,
                (_, "+http") => Some(Transport::Http),
                _ => Some(Transport::Https),
            };
            assert_eq!(bmc.transport(), expected_transport, "{address}");
        }
    }
}

#[test]
fn ipmi_driver_info() {
    let bmc = parse("ipmi://192.168.122.1:6233").expect("valid");
    assert_eq!(
        Value::Object(bmc.driver_info(false)),
        json!({"ipmi_address": "192.168.122.1", "ipmi_port": "6233", "ipmi_priv_level": "ADMINISTRATOR"})
    );
    let bmc = parse("ipmi://[fd00::5]?privilegelevel=OPERATOR").expect("valid");
    assert_eq!(
        Value::Object(bmc.driver_info(true)),
        json!({"ipmi_address": "fd00::5", "ipmi_port": "623", "ipmi_priv_level": "OPERATOR", "ipmi_verify_ca": false})
    );
    let bmc = parse("libvirt://10.0.0.1:6230/?privilegelevel=x;y").expect("valid");
    assert_eq!(
        bmc.driver_info(false)["ipmi_priv_level"],
        json!("ADMINISTRATOR")
    );
    let with_creds = bmc.driver_info_with_credentials("admin", "s3cret", false);
    assert_eq!(with_creds["ipmi_username"], json!("admin"));
    assert_eq!(with_creds["ipmi_password"], json!("s3cret"));
}

#[test]
fn redfish_driver_info() {
    let cases = [
        (
            "redfish://192.168.122.1/redfish/v1/Systems/1",
            json!({"redfish_address": "https://192.168.122.1", "redfish_system_id": "/redfish/v1/Systems/1"}),
        ),
        (
            "redfish+http://192.168.122.1:8000/redfish/v1/",
            json!({"redfish_address": "http://192.168.122.1:8000"}),
        ),
        (
            "redfish-virtualmedia://[fd00::1]:8443/redfish/v1",
            json!({"redfish_address": "https://[fd00::1]:8443"}),
        ),
        (
            "idrac-virtualmedia://192.168.122.1",
            json!({"redfish_address": "https://192.168.122.1"}),
        ),
        (
            "redfish-uefihttp://192.168.122.1",
            json!({"redfish_address": "https://192.168.122.1", "redfish_system_id": ""}),
        ),
        (
            "ilo5-redfish+https://bmc/redfish/v1/Systems/abc/",
            json!({"redfish_address": "https://bmc", "redfish_system_id": "/redfish/v1/Systems/abc/"}),
        ),
    ];
    for (address, expected) in cases {
        let bmc = parse(address).expect(address);
        assert_eq!(Value::Object(bmc.driver_info(false)), expected, "{address}");
        assert_eq!(bmc.driver_info(true)["redfish_verify_ca"], json!(false));
        let creds = bmc.driver_info_with_credentials("root", "calvin", false);
        assert_eq!(
            (&creds["redfish_username"], &creds["redfish_password"]),
            (&json!("root"), &json!("calvin"))
        );
        assert!(!bmc.driver_info(false).contains_key("redfish_password"));
    }
}

#[test]
fn describe_prints_the_cli_object() {
    let d = describe(
        "redfish-virtualmedia+http://192.168.111.1:8000/redfish/v1/Systems/1",
        false,
    )
    .expect("valid");
    assert_eq!(
        d,
        json!({
            "scheme": "redfish-virtualmedia",
            "transport": "http",
            "driver": "redfish",
            "hostname": "192.168.111.1",
            "port": 8000,
            "path": "/redfish/v1/Systems/1",
            "interfaces": {"boot": "redfish-virtual-media", "bios": null, "management": null,
                           "power": null, "vendor": null, "raid": "redfish",
                           "firmware": "redfish", "inspect": "redfish"},
            "driverInfo": {"redfish_address": "http://192.168.111.1:8000",
                           "redfish_system_id": "/redfish/v1/Systems/1"},
            "needsBootMac": false,
            "supportsSecureBoot": true,
            "supportsIso": true,
            "needsProvisioningNetwork": false
        })
    );
    let d = describe("10.1.2.3", true).expect("valid");
    assert_eq!(d["scheme"], json!("ipmi"));
    assert_eq!(d["transport"], Value::Null);
    assert_eq!(d["port"], Value::Null);
    assert_eq!(d["driverInfo"]["ipmi_verify_ca"], json!(false));
    assert!(describe("ilo4://10.1.2.3", false).is_err());
}

proptest! {
    #[test]
    fn never_panics_on_any_string(s in ".*") {
        let _ = parse(&s);
        let _ = describe(&s, true);
    }

    #[test]
    fn never_panics_on_url_like_strings(
        scheme in "(ipmi|libvirt|redfish|redfish-virtualmedia|idrac-virtualmedia|x)?(\\+https?)?",
        sep in "(://|:|//)?",
        user in "([a-z@\\[\\]]{0,3}@)?",
        host in "(\\[[0-9a-f:%]{0,12}\\]|[a-z0-9.\\-]{0,12})",
        port in "(:[0-9a-z]{0,6})?",
        path in "(/[a-zA-Z0-9%/]{0,10})?",
        query in "(\\?[a-z=&;%+]{0,12})?",
    ) {
        let address = format!("{scheme}{sep}{user}{host}{port}{path}{query}");
        if let Ok(bmc) = parse(&address) {
            // Whatever parses is fully described and has a valid host name.
            prop_assert!(check_hostname(bmc.hostname()).is_ok());
            let _ = bmc.driver_info(false);
        }
    }
}
