//! What a deployment asks of the agent: the image checked and described as the agent's
//! `Deploy` (source, format, checksum, root device hints), the config drive built as upstream
//! builds it (the host's identity in the meta data, overridden by the host's metaData; user
//! data as given; network data), or the custom deploy step; and the command's id. Pure.

use metal3_agent_api::{
    Action, ChecksumType, ConfigDrive, Deploy, ImageFormat, ImageSource, RootDeviceHints,
};
use metal3_api::v1alpha1::{self as api};
use metal3_provisioner::{HostData, ProvisionData};
use serde_json::{Map, Value, json};

use crate::agent::command_id;

/// A YAML or JSON document of the host's Secrets.
fn document(text: &str, what: &str) -> Result<Value, String> {
    serde_saphyr::from_str::<Value>(text)
        .map_err(|e| format!("{what} is not valid YAML or JSON: {e}"))
}

/// The image as the agent fetches and checks it.
fn source(image: &api::Image) -> Result<ImageSource, String> {
    let url = image.url.trim();
    if url.is_empty() {
        return Err("image.url is empty; set the URL of the image to write".into());
    }
    if image.is_oci() || !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(format!(
            "the agent downloads images over http:// or https://, not {url}; \
             use --provisioner ironic for oci:// and file:// images"
        ));
    }
    let format = match image.disk_format {
        None => ImageFormat::Auto,
        Some(api::ImageFormat::Raw) => ImageFormat::Raw,
        Some(api::ImageFormat::Qcow2) => ImageFormat::Qcow2,
        Some(other) => {
            return Err(format!(
                "the agent writes raw and qcow2 images (optionally compressed raw), not {}",
                other.as_str()
            ));
        }
    };
    if image.checksum.trim().is_empty() {
        return Err(format!(
            "image {url} has no checksum; set image.checksum (a value, or the URL of a \
             checksums file) and image.checksumType"
        ));
    }
    let checksum_type = match image.checksum_type {
        None | Some(api::ChecksumType::Auto) => ChecksumType::Auto,
        Some(api::ChecksumType::Md5) => ChecksumType::Md5,
        Some(api::ChecksumType::Sha256) => ChecksumType::Sha256,
        Some(api::ChecksumType::Sha512) => ChecksumType::Sha512,
    };
    Ok(ImageSource {
        url: url.to_string(),
        format,
        checksum: image.checksum.trim().to_string(),
        checksum_type,
    })
}

/// The hints as the agent reads them (the same field names); none when no hint is given.
fn hints(hints: Option<&api::RootDeviceHints>) -> Option<RootDeviceHints> {
    let value = serde_json::to_value(hints?).ok()?;
    let hints: RootDeviceHints = serde_json::from_value(value).ok()?;
    (hints != RootDeviceHints::default()).then_some(hints)
}

/// The config drive: the host's identity (`uuid`, `name`, `hostname` and the names upstream
/// adds) in the meta data, overridden by the host's metaData; user data as given; the
/// network data.
pub(crate) fn config_drive(host: &HostData, data: &ProvisionData) -> Result<ConfigDrive, String> {
    let config = &data.host_config;
    let mut meta = Map::new();
    for (k, v) in [
        ("uuid", &host.uid),
        ("metal3-namespace", &host.namespace),
        ("metal3-name", &host.name),
        ("local-hostname", &host.name),
        ("local_hostname", &host.name),
        ("hostname", &host.name),
        ("name", &host.name),
    ] {
        meta.insert(k.into(), json!(v));
    }
    if let Some(text) = config.meta_data.as_deref().filter(|t| !t.trim().is_empty()) {
        match document(text, "metaData")? {
            Value::Object(extra) => meta.extend(extra),
            _ => return Err("metaData must be a mapping of keys to values".into()),
        }
    }
    let network_data = match config.network_data.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(document(text, "networkData")?),
    };
    Ok(ConfigDrive {
        meta_data: Value::Object(meta),
        user_data: config.user_data.clone(),
        network_data,
    })
}

/// The command the agent runs for `data` in agent boot `boot_id`: a custom deploy step, or
/// the image written with its config drive. Its id depends on the boot and on what it writes,
/// so a restarted operator recognises it and a changed request is another command.
pub(crate) fn command(
    host: &HostData,
    data: &ProvisionData,
    boot_id: &str,
) -> Result<metal3_agent_api::Command, String> {
    if let Some(custom) = &data.custom_deploy {
        return Ok(metal3_agent_api::Command {
            id: command_id("step", boot_id, &[&custom.method]),
            action: Action::RunStep {
                name: custom.method.clone(),
            },
        });
    }
    let deploy = Deploy {
        image: source(&data.image)?,
        root_device_hints: hints(data.root_device_hints.as_ref()),
        config_drive: Some(config_drive(host, data)?),
    };
    // The id digests what is written, but not the user data (a digest of secrets in a status
    // would tell whether a guess is right).
    let hints = serde_json::to_string(&deploy.root_device_hints).unwrap_or_default();
    let image = serde_json::to_string(&deploy.image).unwrap_or_default();
    Ok(metal3_agent_api::Command {
        id: command_id("deploy", boot_id, &[&host.uid, &image, &hints]),
        action: Action::Deploy(Box::new(deploy)),
    })
}

/// Checks what can be checked before the agent is up.
pub(crate) fn check(host: &HostData, data: &ProvisionData) -> Result<(), String> {
    command(host, data, "").map(drop)
}

#[cfg(test)]
mod tests {
    use metal3_api::v1alpha1::{CustomDeploy, Image};
    use metal3_provisioner::HostConfig;

    use super::*;

    fn host() -> HostData {
        HostData {
            namespace: "ns".into(),
            name: "worker-0".into(),
            uid: "uid-1".into(),
            ..HostData::default()
        }
    }

    fn data(url: &str, format: Option<api::ImageFormat>) -> ProvisionData {
        ProvisionData {
            image: Image {
                url: url.into(),
                checksum: "http://i/SHA256SUMS".into(),
                checksum_type: Some(api::ChecksumType::Sha256),
                disk_format: format,
                ..Image::default()
            },
            ..ProvisionData::default()
        }
    }

    #[test]
    fn images_become_deploys() {
        let mut d = data("http://i/os.qcow2", Some(api::ImageFormat::Qcow2));
        d.root_device_hints = Some(api::RootDeviceHints {
            serial_number: "S2".into(),
            rotational: Some(false),
            ..api::RootDeviceHints::default()
        });
        d.host_config = HostConfig {
            user_data: Some("#cloud-config\npassword: hunter2\n".into()),
            network_data: Some("links: []\nnetworks: []\n".into()),
            meta_data: Some("{\"local-hostname\": \"custom\", \"role\": \"worker\"}".into()),
        };
        let c = command(&host(), &d, "b1").expect("command");
        assert!(c.id.starts_with("deploy-b1-"), "{}", c.id);
        let Action::Deploy(deploy) = &c.action else {
            panic!("a deploy: {c:?}");
        };
        assert_eq!(deploy.image.format, ImageFormat::Qcow2);
        assert_eq!(deploy.image.checksum_type, ChecksumType::Sha256);
        assert_eq!(deploy.image.checksum, "http://i/SHA256SUMS");
        let hints = deploy.root_device_hints.as_ref().expect("hints");
        assert_eq!(
            (hints.serial_number.as_str(), hints.rotational),
            ("S2", Some(false))
        );
        let drive = deploy.config_drive.as_ref().expect("config drive");
        assert_eq!(drive.meta_data["uuid"], "uid-1");
        assert_eq!(drive.meta_data["hostname"], "worker-0");
        assert_eq!(drive.meta_data["local-hostname"], "custom", "metaData wins");
        assert_eq!(drive.meta_data["role"], "worker");
        assert_eq!(
            drive.network_data,
            Some(json!({"links": [], "networks": []}))
        );
        assert!(
            drive
                .user_data
                .as_deref()
                .is_some_and(|u| u.contains("hunter2"))
        );
        assert!(!c.id.contains("hunter2"));

        // The same request: the same id; another image or boot: another.
        assert_eq!(command(&host(), &d, "b1").expect("again").id, c.id);
        let other = data("http://i/other.qcow2", Some(api::ImageFormat::Qcow2));
        assert_ne!(command(&host(), &other, "b1").expect("other").id, c.id);
        assert_ne!(command(&host(), &d, "b2").expect("b2").id, c.id);
        let plain = command(&host(), &data("https://i/os.img", None), "b1").expect("auto");
        let Action::Deploy(plain) = plain.action else {
            panic!("a deploy");
        };
        assert_eq!(plain.image.format, ImageFormat::Auto);
        assert_eq!(plain.root_device_hints, None, "no hints: none");
    }

    #[test]
    fn what_the_agent_cannot_write_is_refused_with_a_reason() {
        let cases = [
            (data("", None), "image.url is empty"),
            (data("oci://registry/os:1", None), "oci://"),
            (data("file:///os.img", None), "http://"),
            (
                data("http://i/os.vdi", Some(api::ImageFormat::Vdi)),
                "not vdi",
            ),
        ];
        for (d, why) in cases {
            let e = check(&host(), &d).expect_err(why);
            assert!(e.contains(why), "{e}");
        }
        let mut no_sum = data("http://i/os.img", None);
        no_sum.image.checksum.clear();
        assert!(
            check(&host(), &no_sum)
                .expect_err("checksum")
                .contains("checksum")
        );
        let mut bad_meta = data("http://i/os.img", None);
        bad_meta.host_config.meta_data = Some("- a list".into());
        assert!(
            check(&host(), &bad_meta)
                .expect_err("meta")
                .contains("mapping")
        );
        let mut bad_net = data("http://i/os.img", None);
        bad_net.host_config.network_data = Some("a: [".into());
        assert!(
            check(&host(), &bad_net)
                .expect_err("net")
                .contains("networkData")
        );
    }

    #[test]
    fn a_custom_deploy_is_a_step() {
        let d = ProvisionData {
            custom_deploy: Some(CustomDeploy {
                method: "install_coreos".into(),
            }),
            ..ProvisionData::default()
        };
        let c = command(&host(), &d, "b1").expect("step");
        assert_eq!(
            c.action,
            Action::RunStep {
                name: "install_coreos".into()
            }
        );
        assert!(c.id.starts_with("step-b1-"));
    }
}
