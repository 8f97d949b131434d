//! OpenStack's sushy-tools Redfish emulator on loopback, from the Ironic virtualenv: a second,
//! independent Redfish BMC implementation to drive Ironic's `redfish` hardware type against.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::ironic::venv_bin;
use crate::process::{Reap, free_port, kill_group, log_tail, watchdog};

/// How long the emulator may take to answer.
const READY_TIMEOUT: Duration = Duration::from_secs(120);

/// One server of [`SushyEmulator`]'s fake driver.
#[derive(Clone, Debug)]
pub struct FakeSystem {
    /// Its system UUID (the Redfish `Systems/<uuid>` id).
    pub uuid: String,
    /// Its name.
    pub name: String,
    /// MAC address of its one NIC.
    pub mac: String,
}

/// OpenStack's sushy-tools Redfish emulator (`sushy-emulator`, from the same virtualenv as
/// Ironic) with its fake systems driver: a second, independent Redfish BMC implementation.
/// Power changes take effect one to eleven seconds after they are asked for; virtual media
/// inserts download the image.
pub struct SushyEmulator {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl SushyEmulator {
    /// Starts the emulator on a free loopback port, serving `systems` (powered off), and waits
    /// until it answers.
    pub async fn start(systems: &[FakeSystem]) -> Result<Self> {
        let bin = venv_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("metal3-sushy-emulator-")
            .tempdir()
            .context("cannot create a directory for sushy-emulator")?;
        let port = free_port()?;
        let listed: Vec<String> = systems
            .iter()
            .map(|s| {
                format!(
                    "{{'uuid': {uuid:?}, 'name': {name:?}, 'power_state': 'Off', 'nics': [{{'mac': {mac:?}}}]}}",
                    uuid = s.uuid,
                    name = s.name,
                    mac = s.mac
                )
            })
            .collect();
        let state = dir.path().join("state");
        std::fs::create_dir_all(&state)?;
        let config = format!(
            "SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'\n\
             SUSHY_EMULATOR_LISTEN_PORT = {port}\n\
             SUSHY_EMULATOR_FAKE_DRIVER = True\n\
             SUSHY_EMULATOR_FAKE_SYSTEMS = [{systems}]\n\
             SUSHY_EMULATOR_STATE_DIR = {state:?}\n\
             SUSHY_EMULATOR_VMEDIA_VERIFY_SSL = False\n",
            systems = listed.join(", "),
            state = state.display().to_string(),
        );
        let config_file = dir.path().join("emulator.conf");
        std::fs::write(&config_file, config)?;
        let log = std::fs::File::create(dir.path().join("emulator.log"))?;
        let child = {
            use std::os::unix::process::CommandExt;
            Command::new(bin.join("sushy-emulator"))
                .arg("--config")
                .arg(&config_file)
                .current_dir(dir.path())
                .env("TMPDIR", dir.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .process_group(0)
                .spawn()
                .context("cannot start sushy-emulator")?
        };
        watchdog(&child, Reap::Group)?;
        let mut emulator = Self {
            dir,
            port,
            child: Some(child),
        };
        let deadline = Instant::now() + READY_TIMEOUT;
        let client = reqwest::Client::new();
        loop {
            if let Some(child) = emulator.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                bail!(
                    "sushy-emulator exited ({status}) while starting:\n{}",
                    log_tail(&emulator.log())
                );
            }
            if let Ok(r) = client
                .get(format!("{}/redfish/v1/Systems", emulator.url()))
                .send()
                .await
                && r.status().is_success()
            {
                return Ok(emulator);
            }
            if Instant::now() > deadline {
                bail!(
                    "sushy-emulator did not answer within {READY_TIMEOUT:?}:\n{}",
                    log_tail(&emulator.log())
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The emulator's log file.
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("emulator.log")
    }
}

impl Drop for SushyEmulator {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            kill_group(&child);
            let _ = child.wait();
        }
    }
}
