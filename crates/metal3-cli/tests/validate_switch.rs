//! `metal3 validate` on BareMetalSwitches and HostNetworkAttachments: upstream's samples and
//! our examples pass, broken variants are refused with the field named.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn validate(path: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_metal3"))
        .args(["validate", &path.display().to_string()])
        .output()
        .expect("the metal3 binary runs")
}

fn file(relative: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(relative)
}

#[test]
fn samples_and_examples_pass() {
    for path in [
        "tests/data/switch-samples.yaml",
        "../../examples/baremetalswitch.yaml",
        "../../examples/hostnetworkattachment.yaml",
    ] {
        let out = validate(&file(path));
        assert!(out.status.success(), "{path}: {out:?}");
        assert!(out.stdout.is_empty(), "{path}: {out:?}");
    }
}

#[test]
fn broken_variants_name_their_fields() {
    let out = validate(&file("tests/data/switch-broken.yaml"));
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    // The API server's checks (the CRD schema) first; the webhook's rules judge only what
    // passes them, as in a cluster (so `wide`'s VLAN range is not reached).
    for expected in [
        "BareMetalSwitch/net/dashed-mac: spec.macAddress: should match '^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$'",
        "BareMetalSwitch/net/other-driver: spec.driver: unknown variant `netconf`",
        "HostNetworkAttachment/net/access-with-vlans: spec.allowedVLANs: allowedVLANs cannot be specified for access mode",
        "HostNetworkAttachment/net/wide: spec.nativeVLAN: should be less than or equal to 4094",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    assert_eq!(text.lines().count(), 4, "{text}");
}
