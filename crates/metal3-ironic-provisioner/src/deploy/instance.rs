//! What a deployment asks of Ironic: the kind of deployment and its deploy interface, the
//! image check, the node's `instance_info` and the config drive. Pure.

use metal3_api::v1alpha1::{ChecksumType, Image, RootDeviceHints};
use serde_json::{Map, Value, json};

use crate::node::{parse_document, root_device};

/// How the node deploys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeployKind {
    /// Write a disk image with the agent (Ironic's default deploy interface).
    Image,
    /// Boot a live ISO (`ramdisk` deploy interface).
    LiveIso,
    /// Run a custom deploy step (`custom-agent` deploy interface).
    Custom,
}

impl DeployKind {
    /// The deploy interface to set; `None` leaves Ironic's default.
    pub fn interface(self) -> Option<&'static str> {
        match self {
            Self::Image => None,
            Self::LiveIso => Some("ramdisk"),
            Self::Custom => Some("custom-agent"),
        }
    }
}

/// Checks the image before deployment; the message follows "Validation failed: ".
pub fn validate_image(image: &Image) -> Result<(), String> {
    if image.url.trim().is_empty() {
        return Err("image.url is empty; set the URL of the image to write".into());
    }
    if image.is_live_iso() || image.url.starts_with("oci://") {
        return Ok(());
    }
    if image.checksum.trim().is_empty() {
        return Err(format!(
            "image {} has no checksum; set image.checksum (and image.checksumType) or use an oci:// image",
            image.url
        ));
    }
    Ok(())
}

/// The `instance_info` wanted for a deployment, and the keys to drop from an earlier one.
pub fn instance_info(
    image: Option<&Image>,
    kind: DeployKind,
    secure_boot: bool,
    hints: Option<&RootDeviceHints>,
) -> (Map<String, Value>, Vec<&'static str>) {
    let mut info = Map::new();
    let mut drop = Vec::new();
    if secure_boot {
        info.insert("capabilities".into(), json!({"secure_boot": "true"}));
    }
    if let Some(h) = hints.map(root_device).filter(|h| !h.is_empty()) {
        info.insert("root_device".into(), Value::Object(h));
    }
    let image_keys = [
        "image_source",
        "image_disk_format",
        "image_checksum",
        "image_os_hash_algo",
        "image_os_hash_value",
    ];
    match (kind, image) {
        (DeployKind::LiveIso, Some(image)) => {
            info.insert("boot_iso".into(), json!(image.url));
            drop.extend(image_keys);
        }
        (DeployKind::Image, Some(image)) => {
            info.insert("image_source".into(), json!(image.url));
            if let Some(f) = image.disk_format {
                info.insert("image_disk_format".into(), json!(f.as_str()));
            }
            match image.checksum_type {
                None | Some(ChecksumType::Auto) => {
                    if !image.checksum.is_empty() {
                        info.insert("image_checksum".into(), json!(image.checksum));
                    }
                    drop.extend(["image_os_hash_algo", "image_os_hash_value"]);
                }
                Some(t) => {
                    info.insert("image_os_hash_algo".into(), json!(t.as_str()));
                    info.insert("image_os_hash_value".into(), json!(image.checksum));
                    drop.push("image_checksum");
                }
            }
            drop.push("boot_iso");
        }
        _ => {
            drop.extend(image_keys);
            drop.push("boot_iso");
        }
    }
    (info, drop)
}

/// The config drive: user data as given, meta data with the host's identity (overridden by
/// the host's metaData), network data. Each document is YAML or JSON text.
pub fn config_drive(
    uid: &str,
    namespace: &str,
    name: &str,
    user_data: Option<&str>,
    meta_data: Option<&str>,
    network_data: Option<&str>,
) -> Result<Value, String> {
    let mut meta = Map::new();
    for (k, v) in [
        ("uuid", uid),
        ("metal3-namespace", namespace),
        ("metal3-name", name),
        ("local-hostname", name),
        ("local_hostname", name),
        ("name", name),
    ] {
        meta.insert(k.into(), json!(v));
    }
    if let Some(text) = meta_data.filter(|t| !t.trim().is_empty()) {
        match parse_document(text, "metaData")? {
            Value::Object(extra) => meta.extend(extra),
            _ => return Err("metaData must be a mapping of keys to values".into()),
        }
    }
    let mut drive = Map::new();
    drive.insert("meta_data".into(), Value::Object(meta));
    if let Some(u) = user_data {
        drive.insert("user_data".into(), json!(u));
    }
    if let Some(text) = network_data.filter(|t| !t.trim().is_empty()) {
        drive.insert("network_data".into(), parse_document(text, "networkData")?);
    }
    Ok(Value::Object(drive))
}

#[cfg(test)]
mod tests {
    use super::*;
    use metal3_api::v1alpha1::ImageFormat;

    fn image(url: &str, checksum: &str, t: Option<ChecksumType>, f: Option<ImageFormat>) -> Image {
        Image {
            url: url.into(),
            checksum: checksum.into(),
            checksum_type: t,
            disk_format: f,
            ..Image::default()
        }
    }

    #[test]
    fn images_need_a_checksum_unless_live_or_oci() {
        assert!(validate_image(&image("http://i/os.qcow2", "abc", None, None)).is_ok());
        let e = validate_image(&image("http://i/os.qcow2", "", None, None)).expect_err("no sum");
        assert!(e.contains("image.checksum"), "{e}");
        assert!(
            validate_image(&image(
                "http://i/live.iso",
                "",
                None,
                Some(ImageFormat::LiveIso)
            ))
            .is_ok()
        );
        assert!(validate_image(&image("oci://quay.io/os:1", "", None, None)).is_ok());
        assert!(validate_image(&image(" ", "", None, None)).is_err());
    }

    #[test]
    fn instance_info_for_each_deploy_kind() {
        let qcow = image(
            "http://i/os.qcow2",
            "abc",
            Some(ChecksumType::Sha256),
            Some(ImageFormat::Qcow2),
        );
        let (info, drop) = instance_info(Some(&qcow), DeployKind::Image, true, None);
        assert_eq!(
            Value::Object(info),
            json!({
                "capabilities": {"secure_boot": "true"},
                "image_source": "http://i/os.qcow2",
                "image_disk_format": "qcow2",
                "image_os_hash_algo": "sha256",
                "image_os_hash_value": "abc",
            })
        );
        assert!(drop.contains(&"boot_iso") && drop.contains(&"image_checksum"));

        let legacy_sum = image("http://i/os.raw", "http://i/os.raw.md5sum", None, None);
        let (info, _) = instance_info(Some(&legacy_sum), DeployKind::Image, false, None);
        assert_eq!(info["image_checksum"], "http://i/os.raw.md5sum");
        assert!(!info.contains_key("image_os_hash_algo"));

        let iso = image("http://i/live.iso", "", None, Some(ImageFormat::LiveIso));
        let hints = RootDeviceHints {
            device_name: "/dev/vda".into(),
            ..RootDeviceHints::default()
        };
        let (info, drop) = instance_info(Some(&iso), DeployKind::LiveIso, false, Some(&hints));
        assert_eq!(
            Value::Object(info),
            json!({"boot_iso": "http://i/live.iso", "root_device": {"name": "s== /dev/vda"}})
        );
        assert!(drop.contains(&"image_source"));
    }

    #[test]
    fn config_drive_merges_meta_data_and_parses_network_data() {
        let drive = config_drive(
            "uid-1",
            "ns",
            "worker-0",
            Some("#cloud-config\n"),
            Some("local-hostname: custom\nextra: x\n"),
            Some("links:\n- id: eth0\n  type: phy\n"),
        )
        .expect("drive");
        assert_eq!(drive["user_data"], "#cloud-config\n");
        assert_eq!(drive["meta_data"]["uuid"], "uid-1");
        assert_eq!(drive["meta_data"]["metal3-namespace"], "ns");
        assert_eq!(drive["meta_data"]["local-hostname"], "custom");
        assert_eq!(drive["meta_data"]["local_hostname"], "worker-0");
        assert_eq!(drive["meta_data"]["extra"], "x");
        assert_eq!(drive["network_data"]["links"][0]["id"], "eth0");
        let e = config_drive("u", "n", "h", None, Some("- a list"), None).expect_err("list");
        assert!(e.contains("metaData"), "{e}");
        let e = config_drive("u", "n", "h", None, None, Some("a: [")).expect_err("bad yaml");
        assert!(e.contains("networkData"), "{e}");
    }
}
