//! The agent calling home as a normal process: a real HTTPS hub played by the test, a fake
//! `/proc` and `/sys`, real custom steps. Every command of the protocol, progress while one
//! runs, a refused token, and the binary itself resolving the hub's name without glibc.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::{BOOT_MAC, Call, TestHub, fake_host, reply};
use metal3_agent::client::power::PowerAction;
use metal3_agent::disks::{DiskError, Disks, ProgressFn};
use metal3_agent::init::reaper::Children;
use metal3_agent::inventory::Sources;
use metal3_agent::run::{self, Options};
use metal3_agent_api::inventory::Disk;
use metal3_agent_api::{CleanMode, CommandState, Deploy, DeployResult, Progress};
use serde_json::json;
use tokio::sync::Notify;

const CALL: Duration = Duration::from_secs(20);

/// Disks for this test: the block-device code is not part of this crate, so the seam is
/// played by one disk whose deploy reports progress and waits for the test to let it end.
struct OneDisk {
    release: Arc<Notify>,
}

#[async_trait]
impl Disks for OneDisk {
    fn list(&self) -> Result<Vec<Disk>, DiskError> {
        Ok(vec![Disk {
            name: "/dev/vda".into(),
            size: 8 << 30,
            serial: "D0".into(),
            ..Disk::default()
        }])
    }

    async fn deploy(
        &self,
        deploy: &Deploy,
        progress: ProgressFn<'_>,
    ) -> Result<DeployResult, DiskError> {
        progress(
            "writing image",
            Progress {
                bytes_done: 1 << 20,
                bytes_total: Some(4 << 20),
                bytes_per_second: 1 << 20,
            },
        );
        self.release.notified().await;
        Ok(DeployResult {
            root_device: "/dev/vda".into(),
            bytes_written: 4 << 20,
            checksum: deploy.image.checksum.clone(),
            config_drive: deploy.config_drive.is_some(),
        })
    }

    async fn clean(&self, _: CleanMode, _: ProgressFn<'_>) -> Result<(), DiskError> {
        Err(DiskError("no disk can be cleaned in this test".into()))
    }
}

fn options(dir: &Path, config: &Path) -> Options {
    let (proc, sys) = fake_host(dir);
    Options {
        config: config.to_path_buf(),
        sources: Sources { proc, sys },
        steps_dir: dir.join("steps"),
        network: None,
        lldp_window: None,
        set_hostname: false,
        config_retry: Duration::from_millis(200),
    }
}

fn step(dir: &Path, name: &str, body: &str) {
    std::fs::create_dir_all(dir.join("steps")).expect("steps");
    let path = dir.join("steps").join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("step");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

async fn until_ended(hub: &mut TestHub, id: &str) -> Call {
    common::until_ended(hub, id, CALL).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_reports_and_runs_every_command_of_the_protocol() {
    let mut hub = TestHub::start("127.0.0.1:0", BOOT_MAC).await;
    let dir = tempfile::tempdir().expect("dir");
    let config_path = dir.path().join("config.json");
    // The configuration is not there yet: the agent waits for it.
    let release = Arc::new(Notify::new());
    let agent = tokio::spawn(run::run(
        options(dir.path(), &config_path),
        Arc::new(OneDisk {
            release: release.clone(),
        }),
        Children::Own,
    ));
    step(dir.path(), "hello", "echo \"hello from $METAL3_STEP\"");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let config = hub.config(&format!("https://{}", hub.addr), "uid-0");
    std::fs::write(&config_path, serde_json::to_vec(&config).expect("json")).expect("config");

    // The first report: who, the MACs, the inventory; no command yet.
    let first = hub.next(CALL).await;
    assert!(first.authorized, "the token and boot MAC check out");
    let report = first.report.clone();
    assert_eq!(report.host.name, "node-0");
    assert_eq!(report.boot_id.len(), 32);
    assert_eq!(report.macs, [BOOT_MAC, "52:54:00:12:34:57"]);
    assert!(report.status.is_none());
    let inventory = report.inventory.expect("inventory on the first report");
    assert_eq!(inventory.inventory.cpu.count, 2);
    assert_eq!(inventory.inventory.memory.physical_mb, 1024);
    assert_eq!(inventory.inventory.disks[0].serial, "D0");
    assert_eq!(inventory.inventory.boot.current_boot_mode, "uefi");
    assert!(inventory.plugin_data.all_interfaces["eth0"].pxe_enabled);
    first.answer(reply(Some(json!({"id": "standby-1", "action": "standby"}))));

    let call = until_ended(&mut hub, "standby-1").await;
    assert_eq!(
        call.report.boot_id, report.boot_id,
        "the same start of the agent"
    );
    assert!(call.report.inventory.is_none(), "sent once is enough");
    assert_eq!(
        call.report.status.as_ref().expect("status").state,
        CommandState::Done
    );
    call.answer(reply(Some(json!({"id": "inspect-1", "action": "inspect"}))));
    let call = until_ended(&mut hub, "inspect-1").await;
    let again = call
        .report
        .inventory
        .clone()
        .expect("the inspection's inventory");
    assert_eq!(again.inventory.system_vendor.serial_number, "SN-0001");

    // A deploy reports its progress while it runs, then its result.
    call.answer(reply(Some(json!({
        "id": "deploy-1", "action": "deploy",
        "image": {"url": "http://10.0.2.2:8080/image.qcow2", "format": "qcow2",
                  "checksum": "abc", "checksumType": "sha256"},
        "configDrive": {"metaData": {"hostname": "node-0"}, "userData": "#cloud-config\n"}
    }))));
    let running = loop {
        let call = hub.next(CALL).await;
        let status = call.report.status.clone().expect("status");
        if status.id == "deploy-1" && status.progress.is_some() {
            call.answer(reply(None));
            break status;
        }
        call.answer(reply(None));
    };
    assert_eq!(running.state, CommandState::Running);
    assert_eq!(running.step, "writing image");
    assert_eq!(
        running.progress.expect("progress").bytes_total,
        Some(4 << 20)
    );
    release.notify_one();
    let call = until_ended(&mut hub, "deploy-1").await;
    let status = call.report.status.clone().expect("status");
    assert_eq!(status.state, CommandState::Done);
    let result: DeployResult =
        serde_json::from_value(status.result.expect("result")).expect("a deploy result");
    assert_eq!(result.root_device, "/dev/vda");
    assert!(result.config_drive);

    // Cleaning fails: the failure is the host's error message.
    call.answer(reply(Some(
        json!({"id": "clean-1", "action": "clean", "mode": "metadata"}),
    )));
    let call = until_ended(&mut hub, "clean-1").await;
    let status = call.report.status.clone().expect("status");
    assert_eq!(status.state, CommandState::Failed);
    assert!(
        status.message.contains("no disk can be cleaned"),
        "{}",
        status.message
    );

    // Custom steps: one that is there, one that is not.
    call.answer(reply(Some(
        json!({"id": "step-1", "action": "runStep", "name": "hello"}),
    )));
    let call = until_ended(&mut hub, "step-1").await;
    let status = call.report.status.clone().expect("status");
    assert_eq!(status.result, Some(json!({"output": "hello from hello"})));
    call.answer(reply(Some(
        json!({"id": "step-2", "action": "runStep", "name": "absent"}),
    )));
    let call = until_ended(&mut hub, "step-2").await;
    assert!(
        call.report
            .status
            .as_ref()
            .expect("status")
            .message
            .contains("not in this agent image")
    );
    // The hub repeating the same command (say, after a restart) does not run it again.
    call.answer(reply(Some(
        json!({"id": "step-2", "action": "runStep", "name": "hello"}),
    )));
    let call = hub.next(CALL).await;
    let status = call.report.status.clone().expect("status");
    assert_eq!(
        (status.id.as_str(), status.state),
        ("step-2", CommandState::Failed)
    );

    // Power off: reported done, then the agent hands the action to its caller.
    call.answer(reply(Some(json!({"id": "off-1", "action": "powerOff"}))));
    let call = until_ended(&mut hub, "off-1").await;
    assert_eq!(
        call.report.status.as_ref().expect("status").step,
        "power off"
    );
    call.answer(reply(None));
    let action = tokio::time::timeout(CALL, agent)
        .await
        .expect("agent ends")
        .expect("join");
    assert_eq!(action, PowerAction::PowerOff);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_token_is_refused_and_the_agent_keeps_trying() {
    let mut hub = TestHub::start("127.0.0.1:0", BOOT_MAC).await;
    let dir = tempfile::tempdir().expect("dir");
    let config_path = dir.path().join("config.json");
    let mut config = hub.config(&format!("https://{}", hub.addr), "uid-0");
    // Another host's token.
    config.token = hub.config("", "uid-1").token;
    std::fs::write(&config_path, serde_json::to_vec(&config).expect("json")).expect("config");
    let agent = tokio::spawn(run::run(
        options(dir.path(), &config_path),
        Arc::new(metal3_agent::disks::NoDisks),
        Children::Own,
    ));
    let first = hub.next(CALL).await;
    assert!(!first.authorized);
    let boot_id = first.report.boot_id.clone();
    drop(first);
    let second = hub.next(CALL).await;
    assert!(!second.authorized, "called again after a pause");
    assert_eq!(
        second.report.boot_id, boot_id,
        "the same agent, not a restart"
    );
    agent.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_resolves_the_hubs_name_itself_and_stops_when_told() {
    let mut hub = TestHub::start("127.0.0.1:0", BOOT_MAC).await;
    let dir = tempfile::tempdir().expect("dir");
    let (proc, sys) = fake_host(dir.path());
    let config_path = dir.path().join("config.json");
    // `localhost`: resolved by the agent's own resolver (hosts file), not by glibc.
    let config = hub.config(&format!("https://localhost:{}", hub.addr.port()), "uid-0");
    std::fs::write(&config_path, serde_json::to_vec(&config).expect("json")).expect("config");
    // METAL3_AGENT_BIN: another build of the agent (say, the static one).
    let bin = std::env::var("METAL3_AGENT_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_metal3-agent").to_string());
    let child = tokio::process::Command::new(bin)
        .arg("--config")
        .arg(&config_path)
        .arg("--sys-root")
        .arg(&sys)
        .arg("--proc-root")
        .arg(&proc)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("agent");
    let first = hub.next(CALL).await;
    assert!(first.authorized);
    assert!(
        first
            .report
            .inventory
            .as_ref()
            .expect("inventory")
            .inventory
            .disks
            .is_empty(),
        "the fake host has no disk"
    );
    first.answer(reply(Some(json!({"id": "deploy-1", "action": "deploy",
        "image": {"url": "http://10.0.2.2/i.raw", "format": "raw", "checksumType": "auto"}}))));
    let call = until_ended(&mut hub, "deploy-1").await;
    assert_eq!(
        call.report.status.as_ref().expect("status").message,
        "deploying the image failed: no disks found on the host: check that its disk \
         controller is supported and the disks are present"
    );
    call.answer(reply(Some(json!({"id": "reboot-1", "action": "reboot"}))));
    let call = until_ended(&mut hub, "reboot-1").await;
    call.answer(reply(None));
    let out = tokio::time::timeout(CALL, child.wait_with_output())
        .await
        .expect("the agent exits")
        .expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("the hub asked to reboot; not PID 1"),
        "{stdout}"
    );
    assert!(
        !stdout.contains(config.token.expose()),
        "the token never shows"
    );
}
