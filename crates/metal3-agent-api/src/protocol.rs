//! The conversation: the agent `POST`s a [`Report`] to [`REPORT_PATH`] (bearer token in the
//! `Authorization` header) and the hub answers with a [`Reply`]: the next [`Command`], if any,
//! and when to call again. The agent keeps reporting the status of the last command it was
//! given until it gets another, so a hub that restarted learns how that command ended.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::HostRef;

/// Where the agent reports, under the hub's base URL.
pub const REPORT_PATH: &str = "/v1/agent/report";

/// What the agent tells the hub on every call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// The host the agent says it runs on (the token must be this host's).
    pub host: HostRef,
    /// Random per agent start: a new boot id means the host rebooted into a new agent.
    pub boot_id: String,
    /// The agent's version, for the host's story.
    pub agent_version: String,
    /// MAC addresses of every NIC the agent sees (the host's boot MAC must be among them).
    pub macs: Vec<String>,
    /// The hardware inventory (see [`crate::inventory`]): on the first report of a boot and
    /// with the result of an `Inspect`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<crate::inventory::InspectionData>,
    /// The command the agent runs or last ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<CommandStatus>,
}

/// How far a command got.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommandStatus {
    /// The command's id, as the hub gave it.
    pub id: String,
    pub state: CommandState,
    /// What the command is doing now, e.g. `downloading`, `writing config drive`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub step: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
    /// Why it failed (for the host's `errorMessage`: never a credential).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// What a finished command produced (a [`DeployResult`] for `Deploy`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<Value>,
}

/// Where a command stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CommandState {
    #[default]
    Running,
    Done,
    Failed,
}

/// Bytes moved so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    pub bytes_done: u64,
    /// Unknown while the size is not known (a compressed stream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_total: Option<u64>,
    /// The rate over the last few seconds.
    pub bytes_per_second: u64,
}

/// The hub's answer to a report.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reply {
    /// The next command; none: keep doing what you do (or wait).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    /// When to report again, in milliseconds.
    pub poll_after_ms: u64,
}

/// One command for the agent. Its id is the hub's way to recognise its result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Command {
    pub id: String,
    #[serde(flatten)]
    pub action: Action,
}

/// What the agent is asked to do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Action {
    /// Read the hardware and report the inventory.
    Inspect,
    /// Clean every disk.
    Clean { mode: CleanMode },
    /// Write an image (and a config drive) to the root disk.
    Deploy(Box<Deploy>),
    /// Run a custom deploy step shipped in the agent image.
    RunStep { name: String },
    /// Reboot the host (into whatever the BMC's boot order says).
    Reboot,
    /// Power the host off.
    PowerOff,
    /// Stay up and keep reporting (fast track).
    Standby,
}

/// How disks are cleaned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum CleanMode {
    /// Partition tables and file system signatures at both ends of every disk and partition.
    Metadata,
}

/// Where an image comes from and how to check it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageSource {
    /// `http(s)` URL, as the host reaches it.
    pub url: String,
    pub format: ImageFormat,
    /// The expected checksum, or an `http(s)` URL of a checksums file (`sha256sum` format)
    /// naming the image's file.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub checksum: String,
    pub checksum_type: ChecksumType,
}

/// Formats the agent writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ImageFormat {
    /// Raw, or raw compressed with gzip, xz or zstd (told by the content).
    Raw,
    Qcow2,
    /// Told by the content.
    #[default]
    Auto,
}

/// Checksum algorithms.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ChecksumType {
    Md5,
    Sha256,
    Sha512,
    /// Told by the checksum's length.
    #[default]
    Auto,
}

/// Criteria for the root disk, with upstream's semantics: every given hint must match; none
/// given: the smallest disk of at least 4 GiB. Field names are the BareMetalHost's.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RootDeviceHints {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub device_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub hctl: String,
    /// A substring of the model.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub model: String,
    /// A substring of the vendor.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub vendor: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub serial_number: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub min_size_gigabytes: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wwn: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wwn_with_extension: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub wwn_vendor_extension: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rotational: Option<bool>,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

/// The config drive's content (OpenStack's `config-2` layout).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigDrive {
    /// `openstack/latest/meta_data.json`.
    pub meta_data: Value,
    /// `openstack/latest/user_data` (often secrets: `Debug` shows only whether it is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_data: Option<String>,
    /// `openstack/latest/network_data.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_data: Option<Value>,
}

impl std::fmt::Debug for ConfigDrive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfigDrive")
            .field("meta_data", &self.meta_data)
            .field("user_data", &self.user_data.as_ref().map(|_| "<set>"))
            .field("network_data", &self.network_data.as_ref().map(|_| "<set>"))
            .finish()
    }
}

/// Write an image to the root disk.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deploy {
    pub image: ImageSource,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_device_hints: Option<RootDeviceHints>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_drive: Option<ConfigDrive>,
}

/// What a finished `Deploy` reports as its result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployResult {
    /// The disk written, e.g. `/dev/vdb`.
    pub root_device: String,
    /// Bytes written to the disk (the image's virtual size for qcow2).
    pub bytes_written: u64,
    /// The verified checksum, `<type>:<hex>`; empty when none was given.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub checksum: String,
    /// Whether a config drive partition was written.
    pub config_drive: bool,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn commands_read_as_flat_json() {
        let deploy = Command {
            id: "deploy-1".into(),
            action: Action::Deploy(Box::new(Deploy {
                image: ImageSource {
                    url: "http://10.0.2.2:8080/image.qcow2".into(),
                    format: ImageFormat::Qcow2,
                    checksum: "abc".into(),
                    checksum_type: ChecksumType::Sha256,
                },
                root_device_hints: Some(RootDeviceHints {
                    serial_number: "S1".into(),
                    min_size_gigabytes: 4,
                    ..RootDeviceHints::default()
                }),
                config_drive: Some(ConfigDrive {
                    meta_data: json!({"hostname": "node-0"}),
                    user_data: Some("#cloud-config\npassword: hunter2".into()),
                    network_data: None,
                }),
            })),
        };
        let wire = serde_json::to_value(&deploy).expect("json");
        assert_eq!(wire["action"], "deploy");
        assert_eq!(wire["id"], "deploy-1");
        assert_eq!(wire["image"]["format"], "qcow2");
        assert_eq!(wire["rootDeviceHints"]["serialNumber"], "S1");
        assert_eq!(wire["rootDeviceHints"]["minSizeGigabytes"], 4);
        assert!(wire["rootDeviceHints"].get("wwn").is_none());
        let back: Command = serde_json::from_value(wire).expect("back");
        assert_eq!(back, deploy);
        assert!(!format!("{deploy:?}").contains("hunter2"));

        let clean: Command =
            serde_json::from_value(json!({"id": "c", "action": "clean", "mode": "metadata"}))
                .expect("clean");
        assert_eq!(
            clean.action,
            Action::Clean {
                mode: CleanMode::Metadata
            }
        );
        let standby: Command =
            serde_json::from_value(json!({"id": "s", "action": "standby"})).expect("standby");
        assert_eq!(standby.action, Action::Standby);
        assert!(
            serde_json::from_value::<Command>(json!({"id": "x", "action": "explode"})).is_err()
        );
    }

    #[test]
    fn reports_and_replies_round_trip() {
        let report = Report {
            host: HostRef {
                namespace: "metal3".into(),
                name: "node-0".into(),
                uid: "u".into(),
            },
            boot_id: "b".into(),
            agent_version: "0.1.0".into(),
            macs: vec!["52:54:00:00:00:01".into()],
            inventory: None,
            status: Some(CommandStatus {
                id: "deploy-1".into(),
                state: CommandState::Running,
                step: "writing".into(),
                progress: Some(Progress {
                    bytes_done: 10,
                    bytes_total: Some(100),
                    bytes_per_second: 5,
                }),
                ..CommandStatus::default()
            }),
        };
        let wire = serde_json::to_value(&report).expect("json");
        assert_eq!(wire["status"]["state"], "running");
        assert_eq!(wire["status"]["progress"]["bytesTotal"], 100);
        assert_eq!(
            serde_json::from_value::<Report>(wire).expect("back"),
            report
        );
        let reply: Reply = serde_json::from_value(json!({"pollAfterMs": 2000})).expect("reply");
        assert_eq!(reply.command, None);
        assert_eq!(reply.poll_after_ms, 2000);
    }
}
