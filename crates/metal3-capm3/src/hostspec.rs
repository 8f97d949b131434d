//! What a Metal3Machine does to its BareMetalHost, as pure edits of a host value, and the merge
//! patch that turns the read host into the edited one (only the fields CAPM3 owns, with the
//! resourceVersion read, so a concurrent change makes the write fail instead of being lost).

use std::collections::BTreeMap;

use metal3_api::consts::{PAUSED_ANNOTATION, STATUS_ANNOTATION};
use metal3_api::v1alpha1::{
    AutomatedCleaningMode, BareMetalHost, ChecksumType, CustomDeploy, Image, ObjectReference,
    ProvisioningState, SecretReference,
};
use metal3_capm3_api::common::{CleaningMode, MachineAddress, MachineAddressType};
use metal3_capm3_api::consts::{
    BLOCK_MOVE_ANNOTATION, CLUSTER_NAME_LABEL, NODE_REUSE_LABEL, PAUSED_BY_CAPM3,
};
use metal3_capm3_api::v1beta2::{self, Metal3Machine};
use serde_json::{Map, Value, json};

use crate::hosts::consumer_is;
use crate::patch::merge_diff;

fn labels(host: &mut BareMetalHost) -> &mut BTreeMap<String, String> {
    host.metadata.labels.get_or_insert_with(BTreeMap::new)
}

fn annotations(host: &mut BareMetalHost) -> &mut BTreeMap<String, String> {
    host.metadata.annotations.get_or_insert_with(BTreeMap::new)
}

/// Claims `host` for `m3m` of Cluster `cluster`: consumer reference, cluster label, and the
/// node-reuse reservation (if any) dropped. No owner reference is put on the host.
pub fn claim(host: &mut BareMetalHost, m3m: &Metal3Machine, cluster: &str) {
    labels(host).insert(CLUSTER_NAME_LABEL.into(), cluster.into());
    labels(host).remove(NODE_REUSE_LABEL);
    host.spec.consumer_ref = Some(ObjectReference {
        api_version: Some(v1beta2::API_VERSION.into()),
        kind: Some("Metal3Machine".into()),
        name: m3m.metadata.name.clone(),
        namespace: m3m.metadata.namespace.clone(),
        ..Default::default()
    });
}

/// A Secret reference of the machine, in the host's namespace when none is given; a foreign
/// namespace is refused.
fn local_secret(
    reference: &SecretReference,
    namespace: &str,
    what: &str,
) -> Result<SecretReference, String> {
    match reference.namespace.as_deref() {
        None | Some("") => Ok(SecretReference {
            name: reference.name.clone(),
            namespace: Some(namespace.to_string()),
        }),
        Some(ns) if ns == namespace => Ok(reference.clone()),
        Some(ns) => Err(format!(
            "{what} Secret is in namespace {ns:?}; it must be in the machine's namespace {namespace:?}"
        )),
    }
}

/// Sets what the host is to be provisioned with, from the machine's spec and status: image or
/// custom deploy, user data, metadata and network data. This happens once: a host that already
/// has an image or custom deploy is never re-imaged, and nothing is set before the machine's
/// user data is known. The cleaning mode is copied and the host powered on every time.
pub fn set_spec(host: &mut BareMetalHost, m3m: &Metal3Machine) -> Result<(), String> {
    let status = m3m.status.clone().unwrap_or_default();
    let namespace = m3m.metadata.namespace.clone().unwrap_or_default();
    if host.spec.image.is_none()
        && host.spec.custom_deploy.is_none()
        && let Some(user_data) = &status.user_data
    {
        let image = &m3m.spec.image;
        let method = &m3m.spec.custom_deploy.method;
        if image.url.is_empty() && method.is_empty() {
            return Err(
                "spec: neither image.url nor customDeploy.method is set, so the host cannot be \
                 provisioned; set one of them"
                    .into(),
            );
        }
        if !image.url.is_empty() {
            host.spec.image = Some(Image {
                url: image.url.clone(),
                checksum: image.checksum.clone().unwrap_or_default(),
                checksum_type: image
                    .checksum_type
                    .and_then(|t| ChecksumType::from_wire(t.as_str())),
                disk_format: image.disk_format,
                oci_auth_secret_name: None,
            });
        }
        if !method.is_empty() {
            host.spec.custom_deploy = Some(CustomDeploy {
                method: method.clone(),
            });
        }
        host.spec.user_data = Some(local_secret(user_data, &namespace, "the user data")?);
        if let Some(meta) = &status.meta_data {
            host.spec.meta_data = Some(local_secret(meta, &namespace, "the metadata")?);
        }
        if let Some(network) = &status.network_data {
            host.spec.network_data = Some(local_secret(network, &namespace, "the network data")?);
        }
    }
    if let Some(mode) = m3m.spec.automated_cleaning_mode {
        host.spec.automated_cleaning_mode = match mode {
            CleaningMode::Metadata => AutomatedCleaningMode::Metadata,
            CleaningMode::Disabled => AutomatedCleaningMode::Disabled,
        };
    }
    host.spec.online = true;
    Ok(())
}

/// First step of releasing the host of a deleted machine: take away what provisioned it (image,
/// custom deploy, and the data Secrets the machine gave), and set the power: on when the host
/// may not be powered off, or with fast track unless cleaning is disabled; off otherwise.
/// Deprovisioning follows in the BareMetalHost operator.
pub fn unprovision(host: &mut BareMetalHost, m3m: &Metal3Machine, fast_track: bool) {
    let status = m3m.status.clone().unwrap_or_default();
    host.spec.image = None;
    host.spec.custom_deploy = None;
    if status.user_data.is_some() {
        host.spec.user_data = None;
    }
    if status.meta_data.is_some() {
        host.spec.meta_data = None;
    }
    if status.network_data.is_some() {
        host.spec.network_data = None;
    }
    host.spec.online = host.spec.disable_power_off
        || (fast_track && host.spec.automated_cleaning_mode != AutomatedCleaningMode::Disabled);
}

/// Whether a host being released is still busy (provisioned or deprovisioning), so the machine
/// must wait before letting go of it.
pub fn still_busy(host: &BareMetalHost) -> bool {
    match host.provisioning_state() {
        ProvisioningState::Registering
        | ProvisioningState::MatchProfile
        | ProvisioningState::Inspecting
        | ProvisioningState::Ready
        | ProvisioningState::Available
        | ProvisioningState::None
        | ProvisioningState::Unmanaged => false,
        // Provisioned by someone else: wait until it is powered off.
        ProvisioningState::ExternallyProvisioned => {
            host.status.as_ref().is_some_and(|s| s.powered_on)
        }
        _ => true,
    }
}

/// A reservation for node reuse: the label value (`md-<name>` or `cp-<name>`) and the Cluster
/// the host stays reserved by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reservation {
    /// Value of the node-reuse label.
    pub label: String,
    /// Namespace of the Cluster.
    pub cluster_namespace: String,
    /// Name of the Cluster.
    pub cluster_name: String,
}

/// Last step of releasing: the host no longer names the machine (or, with node reuse, names the
/// Cluster and carries the reservation label), loses the cluster label, a pause CAPM3 set, and
/// the block on `clusterctl move`. That block is only for a host a machine uses (see
/// [`ensure_block_move`]); left on a free host it would stall every later move of its namespace.
pub fn let_go(host: &mut BareMetalHost, cluster: &str, reservation: Option<&Reservation>) {
    host.spec.consumer_ref = None;
    annotations(host).remove(BLOCK_MOVE_ANNOTATION);
    if let Some(r) = reservation {
        labels(host).insert(NODE_REUSE_LABEL.into(), r.label.clone());
        host.spec.consumer_ref = Some(ObjectReference {
            api_version: Some("cluster.x-k8s.io/v1beta2".into()),
            kind: Some("Cluster".into()),
            name: Some(r.cluster_name.clone()),
            namespace: Some(r.cluster_namespace.clone()),
            ..Default::default()
        });
    }
    if labels(host)
        .get(CLUSTER_NAME_LABEL)
        .is_some_and(|c| c == cluster)
    {
        labels(host).remove(CLUSTER_NAME_LABEL);
    }
    if annotations(host)
        .get(PAUSED_ANNOTATION)
        .is_some_and(|v| v == PAUSED_BY_CAPM3)
    {
        annotations(host).remove(PAUSED_ANNOTATION);
    }
}

/// Marks the host as not to be moved by `clusterctl move` while a machine uses it and it is not
/// paused, as upstream does on every pass: so the mark comes back when the Cluster is unpaused
/// (a move pauses the Cluster first, and [`pause_step`] lifts the mark once the host is paused
/// with its status saved), and goes when the host is released ([`let_go`]).
pub fn ensure_block_move(host: &mut BareMetalHost, m3m: &Metal3Machine) {
    let name = m3m.metadata.name.as_deref().unwrap_or_default();
    let namespace = m3m.metadata.namespace.as_deref().unwrap_or_default();
    if !consumer_is(host.spec.consumer_ref.as_ref(), name, namespace) {
        return;
    }
    let a = annotations(host);
    if !a.contains_key(PAUSED_ANNOTATION) && !a.contains_key(BLOCK_MOVE_ANNOTATION) {
        a.insert(BLOCK_MOVE_ANNOTATION.into(), String::new());
    }
}

/// The next step of pausing a host whose Cluster is paused (each step is written before the
/// next is computed): block moves, then pause with the status saved in the status annotation
/// (minus the hardware inventory), then allow moves again. `false` when nothing is left to do.
pub fn pause_step(host: &mut BareMetalHost) -> bool {
    let paused = annotations(host).contains_key(PAUSED_ANNOTATION);
    let blocked = annotations(host).contains_key(BLOCK_MOVE_ANNOTATION);
    match (paused, blocked) {
        (true, true) => {
            annotations(host).remove(BLOCK_MOVE_ANNOTATION);
            true
        }
        (true, false) => false,
        (false, false) => {
            annotations(host).insert(BLOCK_MOVE_ANNOTATION.into(), String::new());
            true
        }
        (false, true) => {
            let mut status = serde_json::to_value(&host.status).unwrap_or(Value::Null);
            if let Some(fields) = status.as_object_mut() {
                fields.remove("hardware");
            }
            annotations(host).insert(PAUSED_ANNOTATION.into(), PAUSED_BY_CAPM3.into());
            annotations(host).insert(STATUS_ANNOTATION.into(), status.to_string());
            true
        }
    }
}

/// Unpauses a host CAPM3 paused for Cluster `cluster`; a pause set by anyone else stays.
pub fn unpause(host: &mut BareMetalHost, cluster: &str) {
    let ours = host
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(CLUSTER_NAME_LABEL))
        .is_some_and(|c| c == cluster);
    if ours
        && annotations(host)
            .get(PAUSED_ANNOTATION)
            .is_some_and(|v| v == PAUSED_BY_CAPM3)
    {
        annotations(host).remove(PAUSED_ANNOTATION);
    }
}

/// The machine's addresses, from the host's inventory: an `InternalIP` per NIC with an address,
/// and the host name as `Hostname` and `InternalDNS`.
pub fn addresses(host: &BareMetalHost) -> Vec<MachineAddress> {
    let Some(hardware) = host.status.as_ref().and_then(|s| s.hardware.as_ref()) else {
        return Vec::new();
    };
    let mut out: Vec<MachineAddress> = hardware
        .nics
        .iter()
        .filter(|n| !n.ip.is_empty())
        .map(|n| MachineAddress {
            r#type: MachineAddressType::InternalIp,
            address: n.ip.clone(),
        })
        .collect();
    if !hardware.hostname.is_empty() {
        for kind in [
            MachineAddressType::Hostname,
            MachineAddressType::InternalDns,
        ] {
            out.push(MachineAddress {
                r#type: kind,
                address: hardware.hostname.clone(),
            });
        }
    }
    out
}

fn map_diff(
    old: Option<&BTreeMap<String, String>>,
    new: Option<&BTreeMap<String, String>>,
) -> Option<Value> {
    let empty = BTreeMap::new();
    let (old, new) = (old.unwrap_or(&empty), new.unwrap_or(&empty));
    let mut out = Map::new();
    for (k, v) in new {
        if old.get(k) != Some(v) {
            out.insert(k.clone(), Value::String(v.clone()));
        }
    }
    for k in old.keys() {
        if !new.contains_key(k) {
            out.insert(k.clone(), Value::Null);
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// The merge patch from `old` to `new` over the fields CAPM3 changes on a host (labels,
/// annotations, consumerRef, image, customDeploy, userData, metaData, networkData, online,
/// automatedCleaningMode), pinned to `old`'s resourceVersion; `None` when nothing changed.
pub fn patch(old: &BareMetalHost, new: &BareMetalHost) -> Option<Value> {
    let mut metadata = Map::new();
    if let Some(l) = map_diff(old.metadata.labels.as_ref(), new.metadata.labels.as_ref()) {
        metadata.insert("labels".into(), l);
    }
    if let Some(a) = map_diff(
        old.metadata.annotations.as_ref(),
        new.metadata.annotations.as_ref(),
    ) {
        metadata.insert("annotations".into(), a);
    }
    let mut spec = Map::new();
    let (o, n) = (
        serde_json::to_value(&old.spec).unwrap_or(Value::Null),
        serde_json::to_value(&new.spec).unwrap_or(Value::Null),
    );
    for field in [
        "consumerRef",
        "image",
        "customDeploy",
        "userData",
        "metaData",
        "networkData",
        "online",
        "automatedCleaningMode",
    ] {
        if let Some(diff) = merge_diff(o.get(field), n.get(field)) {
            spec.insert(field.into(), diff);
        }
    }
    if metadata.is_empty() && spec.is_empty() {
        return None;
    }
    metadata.insert(
        "resourceVersion".into(),
        json!(old.metadata.resource_version),
    );
    let mut patch = json!({ "metadata": metadata });
    if !spec.is_empty() {
        patch["spec"] = Value::Object(spec);
    }
    Some(patch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use metal3_api::v1alpha1::{
        BareMetalHostSpec, BareMetalHostStatus, HardwareDetails, ImageFormat, Nic,
    };
    use metal3_capm3_api::v1beta2::{Metal3MachineSpec, Metal3MachineStatus};

    fn host() -> BareMetalHost {
        let mut h = BareMetalHost::new("host-0", BareMetalHostSpec::default());
        h.metadata.namespace = Some("ns".into());
        h.metadata.resource_version = Some("7".into());
        h
    }

    fn machine(spec: serde_json::Value, status: serde_json::Value) -> Metal3Machine {
        let mut m = Metal3Machine::new(
            "m3m",
            serde_json::from_value::<Metal3MachineSpec>(spec).expect("spec"),
        );
        m.metadata.namespace = Some("ns".into());
        m.status = Some(serde_json::from_value::<Metal3MachineStatus>(status).expect("status"));
        m
    }

    #[test]
    fn claiming_sets_the_consumer_and_cluster_label_and_drops_a_reservation() {
        let mut h = host();
        h.metadata.labels = Some([(NODE_REUSE_LABEL.to_string(), "md-x".to_string())].into());
        let m = machine(json!({}), json!({}));
        claim(&mut h, &m, "c1");
        let labels = h.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels.get(CLUSTER_NAME_LABEL).map(String::as_str),
            Some("c1")
        );
        assert!(!labels.contains_key(NODE_REUSE_LABEL));
        assert!(consumer_is(h.spec.consumer_ref.as_ref(), "m3m", "ns"));
        assert_eq!(
            h.metadata.owner_references, None,
            "no owner reference on the host"
        );
    }

    #[test]
    fn the_spec_is_set_once_user_data_is_known() {
        let m = machine(
            json!({"image": {"url": "http://i/os.qcow2", "checksum": "abc", "checksumType": "sha256", "diskFormat": "qcow2"},
                   "automatedCleaningMode": "disabled"}),
            json!({}),
        );
        let mut h = host();
        set_spec(&mut h, &m).expect("no user data yet is fine");
        assert_eq!(h.spec.image, None, "nothing before user data");
        assert!(h.spec.online);
        assert_eq!(
            h.spec.automated_cleaning_mode,
            AutomatedCleaningMode::Disabled
        );
        let m = machine(
            serde_json::to_value(&m.spec).expect("spec"),
            json!({"userData": {"name": "bootstrap"}, "metaData": {"name": "md"}, "networkData": {"name": "nd", "namespace": "ns"}}),
        );
        set_spec(&mut h, &m).expect("set");
        let image = h.spec.image.clone().expect("image");
        assert_eq!(image.url, "http://i/os.qcow2");
        assert_eq!(image.checksum_type, Some(ChecksumType::Sha256));
        assert_eq!(image.disk_format, Some(ImageFormat::Qcow2));
        assert_eq!(
            h.spec
                .user_data
                .as_ref()
                .and_then(|u| u.namespace.as_deref()),
            Some("ns")
        );
        assert_eq!(
            h.spec.meta_data.as_ref().and_then(|u| u.name.as_deref()),
            Some("md")
        );
        // Never re-imaged.
        let other = machine(
            json!({"image": {"url": "http://i/new.img"}}),
            serde_json::to_value(m.status.clone()).expect("status"),
        );
        set_spec(&mut h, &other).expect("set");
        assert_eq!(
            h.spec.image.map(|i| i.url).as_deref(),
            Some("http://i/os.qcow2")
        );
    }

    #[test]
    fn the_spec_needs_an_image_or_custom_deploy_and_local_secrets() {
        let none = machine(json!({}), json!({"userData": {"name": "u"}}));
        assert!(
            set_spec(&mut host(), &none)
                .expect_err("nothing to deploy")
                .contains("customDeploy.method")
        );
        let custom = machine(
            json!({"customDeploy": {"method": "install"}}),
            json!({"userData": {"name": "u"}}),
        );
        let mut h = host();
        set_spec(&mut h, &custom).expect("custom deploy");
        assert_eq!(
            h.spec.custom_deploy.map(|c| c.method).as_deref(),
            Some("install")
        );
        let foreign = machine(
            json!({"customDeploy": {"method": "m"}}),
            json!({"userData": {"name": "u", "namespace": "other"}}),
        );
        assert!(
            set_spec(&mut host(), &foreign)
                .expect_err("foreign")
                .contains("\"other\"")
        );
    }

    #[test]
    fn unprovisioning_sets_power_by_power_off_rule_fast_track_and_cleaning() {
        let m = machine(json!({}), json!({"userData": {"name": "u"}}));
        let cases = [
            (false, false, AutomatedCleaningMode::Metadata, false),
            (false, true, AutomatedCleaningMode::Metadata, true),
            (false, true, AutomatedCleaningMode::Disabled, false),
            (true, false, AutomatedCleaningMode::Disabled, true),
            (true, true, AutomatedCleaningMode::Metadata, true),
        ];
        for (disable_power_off, fast_track, cleaning, online) in cases {
            let mut h = host();
            h.spec.online = true;
            h.spec.disable_power_off = disable_power_off;
            h.spec.automated_cleaning_mode = cleaning;
            h.spec.image = Some(Image {
                url: "u".into(),
                ..Default::default()
            });
            h.spec.user_data = Some(SecretReference {
                name: Some("u".into()),
                namespace: None,
            });
            h.spec.meta_data = Some(SecretReference {
                name: Some("mine".into()),
                namespace: None,
            });
            unprovision(&mut h, &m, fast_track);
            assert_eq!(
                h.spec.online, online,
                "{disable_power_off} {fast_track} {cleaning:?}"
            );
            assert_eq!(h.spec.image, None);
            assert_eq!(h.spec.user_data, None);
            assert!(
                h.spec.meta_data.is_some(),
                "metadata the machine did not give stays"
            );
        }
    }

    #[test]
    fn a_host_is_busy_until_deprovisioned() {
        let mut h = host();
        for (state, powered_on, busy) in [
            ("provisioned", false, true),
            ("deprovisioning", false, true),
            ("provisioning", false, true),
            ("available", false, false),
            ("ready", false, false),
            ("inspecting", false, false),
            ("externally provisioned", true, true),
            ("externally provisioned", false, false),
            ("some future state", false, true),
        ] {
            let mut status = BareMetalHostStatus::default();
            status.provisioning.state = ProvisioningState::from(state);
            status.powered_on = powered_on;
            h.status = Some(status);
            assert_eq!(still_busy(&h), busy, "{state}");
        }
    }

    #[test]
    fn letting_go_clears_the_claim_or_reserves_the_host() {
        let m = machine(json!({}), json!({}));
        let mut h = host();
        claim(&mut h, &m, "c1");
        annotations(&mut h).insert(PAUSED_ANNOTATION.into(), PAUSED_BY_CAPM3.into());
        annotations(&mut h).insert(BLOCK_MOVE_ANNOTATION.into(), String::new());
        let mut plain = h.clone();
        let_go(&mut plain, "c1", None);
        assert_eq!(plain.spec.consumer_ref, None);
        assert!(
            !annotations(&mut plain).contains_key(BLOCK_MOVE_ANNOTATION),
            "a free host does not block moves"
        );
        assert!(
            !plain
                .metadata
                .labels
                .clone()
                .unwrap_or_default()
                .contains_key(CLUSTER_NAME_LABEL)
        );
        assert!(
            !plain
                .metadata
                .annotations
                .clone()
                .unwrap_or_default()
                .contains_key(PAUSED_ANNOTATION)
        );
        let reservation = Reservation {
            label: "md-workers".into(),
            cluster_namespace: "ns".into(),
            cluster_name: "c1".into(),
        };
        let_go(&mut h, "c1", Some(&reservation));
        assert!(!annotations(&mut h).contains_key(BLOCK_MOVE_ANNOTATION));
        assert_eq!(
            h.spec.consumer_ref.as_ref().and_then(|c| c.kind.as_deref()),
            Some("Cluster")
        );
        assert_eq!(
            h.metadata
                .labels
                .clone()
                .unwrap_or_default()
                .get(NODE_REUSE_LABEL)
                .map(String::as_str),
            Some("md-workers")
        );
        // A pause someone else set stays.
        let mut user = host();
        annotations(&mut user).insert(PAUSED_ANNOTATION.into(), "maintenance".into());
        let_go(&mut user, "c1", None);
        assert!(
            user.metadata
                .annotations
                .clone()
                .unwrap_or_default()
                .contains_key(PAUSED_ANNOTATION)
        );
    }

    #[test]
    fn pausing_blocks_moves_first_and_saves_the_status() {
        let mut h = host();
        let mut status = BareMetalHostStatus::default();
        status.provisioning.state = ProvisioningState::Provisioned;
        status.hardware = Some(HardwareDetails::default());
        h.status = Some(status);
        let mut seen = Vec::new();
        while pause_step(&mut h) {
            let a = h.metadata.annotations.clone().unwrap_or_default();
            seen.push((
                a.contains_key(BLOCK_MOVE_ANNOTATION),
                a.get(PAUSED_ANNOTATION).cloned(),
            ));
            assert!(seen.len() < 5, "pausing terminates");
        }
        assert_eq!(
            seen,
            [
                (true, None),
                (true, Some(PAUSED_BY_CAPM3.to_string())),
                (false, Some(PAUSED_BY_CAPM3.to_string()))
            ]
        );
        let saved = h.metadata.annotations.clone().unwrap_or_default()[STATUS_ANNOTATION].clone();
        let saved: Value = serde_json::from_str(&saved).expect("status JSON");
        assert_eq!(saved["provisioning"]["state"], "provisioned");
        assert!(saved.get("hardware").is_none());
        // Unpausing removes only our own pause, and only for our cluster.
        unpause(&mut h, "c1");
        assert!(
            h.metadata
                .annotations
                .clone()
                .unwrap_or_default()
                .contains_key(PAUSED_ANNOTATION),
            "not our cluster's host"
        );
        labels(&mut h).insert(CLUSTER_NAME_LABEL.into(), "c1".into());
        unpause(&mut h, "c1");
        assert!(
            !h.metadata
                .annotations
                .clone()
                .unwrap_or_default()
                .contains_key(PAUSED_ANNOTATION)
        );
    }

    #[test]
    fn block_move_is_ensured_on_our_unpaused_host() {
        let m = machine(json!({}), json!({}));
        let mut h = host();
        ensure_block_move(&mut h, &m);
        assert_eq!(h.metadata.annotations, None, "not our host");
        claim(&mut h, &m, "c");
        ensure_block_move(&mut h, &m);
        assert!(
            h.metadata
                .annotations
                .clone()
                .unwrap_or_default()
                .contains_key(BLOCK_MOVE_ANNOTATION)
        );
    }

    #[test]
    fn addresses_come_from_nics_and_the_host_name() {
        let mut h = host();
        h.status = Some(BareMetalHostStatus {
            hardware: Some(HardwareDetails {
                hostname: "node-0".into(),
                nics: vec![
                    Nic {
                        ip: "192.168.0.5".into(),
                        ..Default::default()
                    },
                    Nic::default(),
                ],
                ..Default::default()
            }),
            ..Default::default()
        });
        let a = addresses(&h);
        let kinds: Vec<_> = a
            .iter()
            .map(|a| (a.r#type.as_str(), a.address.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("InternalIP", "192.168.0.5"),
                ("Hostname", "node-0"),
                ("InternalDNS", "node-0")
            ]
        );
        assert!(addresses(&host()).is_empty());
    }

    #[test]
    fn the_patch_carries_only_changes_and_the_resource_version() {
        let old = host();
        assert_eq!(patch(&old, &old), None);
        let mut new = old.clone();
        new.spec.image = Some(Image {
            url: "a".into(),
            checksum: "c".into(),
            disk_format: Some(ImageFormat::Raw),
            ..Default::default()
        });
        let mut newer = new.clone();
        newer.spec.image = Some(Image {
            url: "b".into(),
            ..Default::default()
        });
        labels(&mut newer).insert("k".into(), "v".into());
        let p = patch(&new, &newer).expect("changed");
        assert_eq!(p["metadata"]["resourceVersion"], "7");
        assert_eq!(p["metadata"]["labels"], json!({"k": "v"}));
        assert_eq!(
            p["spec"]["image"],
            json!({"url": "b", "checksum": null, "format": null})
        );
        let mut cleared = newer.clone();
        cleared.spec.image = None;
        assert_eq!(
            patch(&newer, &cleared).expect("cleared")["spec"]["image"],
            Value::Null
        );
    }
}
