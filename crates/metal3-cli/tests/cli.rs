//! The `metal3` binary as users run it: arguments, output and exit codes.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::{Value, json};

fn metal3(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_metal3"))
        .args(args)
        .output()
        .expect("the metal3 binary runs")
}

fn data(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
        .display()
        .to_string()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn bmc_parse_prints_one_json_object() {
    let out = metal3(&[
        "bmc",
        "parse",
        "idrac-virtualmedia://10.0.0.5/redfish/v1/Systems/System.Embedded.1",
    ]);
    assert!(out.status.success(), "{out:?}");
    let parsed: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(parsed["scheme"], json!("idrac-virtualmedia"));
    assert_eq!(parsed["transport"], json!("https"));
    assert_eq!(parsed["driver"], json!("idrac"));
    assert_eq!(
        parsed["interfaces"]["boot"],
        json!("idrac-redfish-virtual-media")
    );
    assert_eq!(parsed["interfaces"]["vendor"], json!("idrac-redfish"));
    assert_eq!(
        parsed["driverInfo"],
        json!({"redfish_address": "https://10.0.0.5",
               "redfish_system_id": "/redfish/v1/Systems/System.Embedded.1"})
    );
    assert_eq!(parsed["supportsIso"], json!(true));
    assert_eq!(parsed["needsProvisioningNetwork"], json!(false));
}

#[test]
fn bmc_parse_flag_disables_certificate_verification() {
    let out = metal3(&[
        "bmc",
        "parse",
        "--disable-certificate-verification",
        "ipmi://[fd00::7]:6230",
    ]);
    assert!(out.status.success(), "{out:?}");
    let parsed: Value = serde_json::from_slice(&out.stdout).expect("stdout is JSON");
    assert_eq!(parsed["hostname"], json!("fd00::7"));
    assert_eq!(parsed["port"], json!(6230));
    assert_eq!(parsed["transport"], Value::Null);
    assert_eq!(parsed["driverInfo"]["ipmi_verify_ca"], json!(false));
}

#[test]
fn bmc_parse_rejects_invalid_addresses_on_stderr() {
    let out = metal3(&["bmc", "parse", "ilo4://10.0.0.5"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.trim(),
        "Unknown BMC type 'ilo4' for address ilo4://10.0.0.5"
    );
    assert_eq!(err.lines().count(), 1);
}

#[test]
fn validate_reports_every_problem_and_exits_1() {
    let out = metal3(&["validate", &data("hosts.yaml")]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("BareMetalHost/metal3/worker-1: ")),
        "only the bad host is reported: {text}"
    );
    for expected in [
        "spec.bmc.address: Unknown BMC type 'ilo4'",
        "spec.disablePowerOff: node can't simultaneously have online set to false",
        "spec.rootDeviceHints.deviceName: device name of root device hint must be a /dev/ path",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn validate_accepts_valid_manifests_from_stdin() {
    let manifest = r#"{"apiVersion": "metal3.io/v1alpha1", "kind": "DataImage",
        "metadata": {"name": "worker-0", "namespace": "metal3"},
        "spec": {"url": "http://example.com/data.iso"}}"#;
    let mut child = Command::new(env!("CARGO_BIN_EXE_metal3"))
        .args(["validate", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("the metal3 binary runs");
    use std::io::Write;
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(manifest.as_bytes())
        .expect("stdin takes the manifest");
    let out = child.wait_with_output().expect("metal3 finishes");
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty());
}

#[test]
fn validate_applies_update_rules_with_old() {
    let dir = std::env::temp_dir().join(format!("metal3-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let host = |mac: &str, state: &str| {
        format!(
            "apiVersion: metal3.io/v1alpha1\nkind: BareMetalHost\nmetadata:\n  name: h\n  namespace: ns\n\
             spec:\n  online: true\n  bootMACAddress: \"{mac}\"\n  bmc:\n    address: redfish://10.0.0.1/redfish/v1/Systems/1\n    credentialsName: s\n\
             status:\n  operationalStatus: OK\n  errorMessage: \"\"\n  errorCount: 0\n  poweredOn: true\n  provisioningFailCount: 0\n  provisioning:\n    state: {state}\n    ID: \"\"\n"
        )
    };
    let old = dir.join("old.yaml");
    let new = dir.join("new.yaml");
    std::fs::write(&old, host("00:11:22:33:44:55", "available")).expect("write old");
    std::fs::write(&new, host("00:11:22:33:44:66", "available")).expect("write new");
    let paths = [old.display().to_string(), new.display().to_string()];
    // Without --old the change is a plain create: valid.
    assert!(metal3(&["validate", &paths[1]]).status.success());
    let out = metal3(&["validate", "--old", &paths[0], &paths[1]]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out).trim(),
        "BareMetalHost/ns/h: spec.bootMACAddress: bootMACAddress can not be changed once it is set"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn validate_names_decoding_errors() {
    let out = metal3(&["validate", &data("bad-enum.yaml")]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.starts_with("BareMetalHost/default/h: spec.bootMode: unknown variant `bios`"),
        "{text}"
    );
}

#[test]
fn validate_refuses_unknown_fields_unless_lenient() {
    let path = data("unknown-field.yaml");
    let out = metal3(&["validate", &path]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        stdout(&out).trim(),
        "PreprovisioningImage/default/worker-0: spec.foo: unknown field \"spec.foo\""
    );
    let out = metal3(&["validate", "--lenient", &path]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        stdout(&out).trim(),
        "PreprovisioningImage/default/worker-0: warning: spec.foo: unknown field \"spec.foo\""
    );
}

#[test]
fn validate_judges_a_manifest_without_namespace_in_default() {
    let path = data("no-namespace.yaml");
    let out = metal3(&["validate", &path]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        stdout(&out).trim(),
        "BareMetalHost/default/worker-0: spec.userData: userData: cross-namespace Secret \
         references are not allowed (the Secret is in \"metal3\"; put it in the host's \
         namespace \"default\")"
    );
}

#[test]
fn crds_prints_every_kind() {
    let out = metal3(&["crds"]);
    assert!(out.status.success());
    let text = stdout(&out);
    // Every metal3.io kind, the Cluster API provider's and the IP address manager's.
    let kinds = metal3_api::crds::all().len()
        + metal3_capm3_api::crds::all().len()
        + metal3_ipam_api::crds::all().len();
    assert!(kinds >= 25, "at least 13 + 9 + 3 kinds, got {kinds}");
    assert_eq!(
        text.matches("kind: CustomResourceDefinition").count(),
        kinds
    );
    for name in [
        "baremetalhosts.metal3.io",
        "hardwaredata.metal3.io",
        "dataimages.metal3.io",
        "hostclaims.metal3.io",
        "hostdeploypolicies.metal3.io",
        "metal3machines.infrastructure.cluster.x-k8s.io",
        "ippools.ipam.metal3.io",
    ] {
        assert!(text.contains(&format!("name: {name}")), "{name}");
    }
}

#[test]
fn agent_image_builds_an_iso_with_the_per_host_slot_and_says_what_is_missing() {
    let dir = tempfile::tempdir().expect("dir");
    let kernel = dir.path().join("kernel");
    std::fs::create_dir_all(kernel.join("modules/lib/modules/6.1")).expect("dirs");
    std::fs::write(kernel.join("modules/lib/modules/6.1/m.ko"), b"module").expect("ko");
    std::fs::write(kernel.join("modules.load"), "/lib/modules/6.1/m.ko\n").expect("list");
    std::fs::write(kernel.join("vmlinuz"), b"not really a kernel").expect("kernel");
    let agent = dir.path().join("metal3-agent");
    std::fs::write(&agent, b"not really the agent").expect("agent");
    let iso = dir.path().join("agent.iso");
    let path = |p: &std::path::Path| p.display().to_string();
    let args = [
        "agent-image",
        "--kernel-dir",
        &path(&kernel),
        "--agent",
        &path(&agent),
        "--out",
        &path(&iso),
    ];
    let out = metal3(&args);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("per-host slot at byte"), "{out:?}");
    let image = std::fs::read(&iso).expect("the ISO");
    assert!(image.len() > 1 << 20);

    let missing = dir.path().join("absent");
    let out = metal3(&[
        "agent-image",
        "--kernel-dir",
        &path(&kernel),
        "--agent",
        &path(&missing),
        "--out",
        &path(&iso),
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("absent"), "{stderr}");
}

/// The default of `flag` in `metal3 <command> --help`: the `[default: …]` of its paragraph.
fn default_of(command: &str, flag: &str) -> String {
    let help = stdout(&metal3(&[command, "--help"]));
    let start = help
        .find(&format!("--{flag} <"))
        .unwrap_or_else(|| panic!("{command} has no --{flag}:\n{help}"));
    let paragraph = &help[start..];
    let end = paragraph[2..]
        .find("\n  -")
        .map_or(paragraph.len(), |i| i + 2);
    let paragraph = &paragraph[..end];
    let value = paragraph
        .split("[default: ")
        .nth(1)
        .and_then(|rest| rest.split(']').next())
        .unwrap_or_else(|| panic!("--{flag} of {command} has no default:\n{paragraph}"));
    value.rsplit(':').next().unwrap_or(value).to_string()
}

#[test]
fn the_controllers_and_cluster_api_run_side_by_side_with_their_default_ports() {
    // Cluster API's manager: probes 9440, metrics 8443, webhooks 9443.
    let mut ports = vec![
        ("cluster-api health".to_string(), "9440".to_string()),
        ("cluster-api metrics".to_string(), "8443".to_string()),
        ("cluster-api webhooks".to_string(), "9443".to_string()),
    ];
    for (command, flags) in [
        (
            "operator",
            &["health-addr", "metrics-addr", "webhook-port"][..],
        ),
        ("capm3", &["health-addr", "webhook-port"][..]),
        ("ipam", &["health-addr", "metrics-addr", "webhook-port"][..]),
    ] {
        for flag in flags {
            ports.push((format!("{command} --{flag}"), default_of(command, flag)));
        }
    }
    for (i, (who, port)) in ports.iter().enumerate() {
        for (other, theirs) in &ports[i + 1..] {
            assert_ne!(
                port, theirs,
                "{who} and {other} both default to port {port}"
            );
        }
    }
    // The defaults the README and the flags' help name.
    assert_eq!(default_of("capm3", "health-addr"), "9444");
    assert_eq!(default_of("operator", "health-addr"), "9441");
}

#[test]
fn validate_accepts_the_hostclaim_examples_and_names_broken_fields() {
    let example = |name: &str| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples")
            .join(name)
            .display()
            .to_string()
    };
    let out = metal3(&[
        "validate",
        &example("hostclaim.yaml"),
        &example("hostdeploypolicy.yaml"),
    ]);
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty(), "{}", stdout(&out));

    let out = metal3(&["validate", &data("hostclaims-broken.yaml")]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    for expected in [
        "HostClaim/team-a/bad-selector: spec.hostSelector.matchLabels[tier!]: name part of \"tier!\"",
        "HostClaim/team-a/bad-selector: spec.hostSelector.matchExpressions[0].operator: invalid operator \"In\"",
        "HostClaim/team-a/bad-selector: spec.hostSelector.matchExpressions[1].values: operator \"exists\" on label key \"gpu\" takes no values, got 1",
        "HostClaim/team-a/bad-selector: spec.image.checksum: checksum is required for normal images",
        "HostClaim/team-a/bad-type: spec.poweredOn: invalid type: string \"yes\", expected a boolean",
        "HostDeployPolicy/metal3/bad-type: spec.hostClaimNamespaces.names: invalid type: string",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
}

#[test]
fn validate_refuses_an_alias_bomb_and_names_the_limit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut text = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let refs = vec![format!("*a{}", i - 1); 10].join(", ");
        text.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
    }
    let path = dir.path().join("laughs.yaml");
    std::fs::write(&path, text).expect("write");
    let out = metal3(&["validate", &path.display().to_string()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("laughs.yaml: refused: the YAML expands past the reader's limits"),
        "{err}"
    );
}
