//! A simulator with one VM-backed server and the Redfish calls the agent's VM tests and
//! benchmark make of it: insert an ISO and boot it once, reset, watch power and the console.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metal3_sim::Fleet;
use metal3_sim::vm::{VmOptions, VmSpec};
use serde_json::{Value, json};

/// How long a TCG guest may take (a loaded 2-core machine).
pub const BOOT: Duration = Duration::from_secs(240);

/// Writes to `out` the agent ISO `generic` as the hub serves it to a host: `config` in the
/// image's slot.
pub fn patch_iso(generic: &Path, config: &metal3_agent_api::AgentConfig, out: &Path) {
    use metal3_agent_api::bootimage;
    let mut image = std::fs::read(generic).expect("read ISO");
    let at = bootimage::find_placeholder(&image).expect("the slot") as usize;
    let slot = bootimage::host_archive(config).expect("fits");
    image[at..at + slot.len()].copy_from_slice(&slot);
    std::fs::write(out, &image).expect("write patched ISO");
}

/// A simulator with one VM-backed server, served over Redfish on loopback.
pub struct Lab {
    pub fleet: Arc<Fleet>,
    pub url: String,
    _state: tempfile::TempDir,
}

impl Lab {
    pub async fn start(spec: VmSpec) -> Self {
        let state = tempfile::tempdir().expect("state dir");
        let fleet = Fleet::new(1, "admin", "pw");
        fleet
            .attach_vms(&VmOptions::new(state.path()), vec![(0, spec)])
            .expect("attach");
        let addr = metal3_sim::start(fleet.clone(), "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("serve");
        Self {
            fleet,
            url: format!("http://{addr}"),
            _state: state,
        }
    }

    pub fn id(&self) -> String {
        self.fleet.host(0).expect("host").id
    }

    pub async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = reqwest::Client::new()
            .request(method.clone(), format!("{}{path}", self.url))
            .basic_auth("admin", Some("pw"));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }

    pub async fn reset(&self, reset_type: &str) {
        let path = format!(
            "/redfish/v1/Systems/{}/Actions/ComputerSystem.Reset",
            self.id()
        );
        self.call(
            reqwest::Method::POST,
            &path,
            Some(json!({"ResetType": reset_type})),
        )
        .await;
    }

    /// Inserts `iso` into the virtual CD and boots it once.
    pub async fn boot_iso(&self, iso: &Path) {
        let manager = format!("/redfish/v1/Managers/{}/VirtualMedia/Cd/Actions", self.id());
        self.call(
            reqwest::Method::POST,
            &format!("{manager}/VirtualMedia.EjectMedia"),
            Some(json!({})),
        )
        .await;
        self.call(
            reqwest::Method::POST,
            &format!("{manager}/VirtualMedia.InsertMedia"),
            Some(json!({"Image": format!("file://{}", iso.display()), "Inserted": true})),
        )
        .await;
        self.call(
            reqwest::Method::PATCH,
            &format!("/redfish/v1/Systems/{}", self.id()),
            Some(json!({"Boot": {"BootSourceOverrideTarget": "Cd",
                "BootSourceOverrideEnabled": "Once", "BootSourceOverrideMode": "Legacy"}})),
        )
        .await;
    }

    pub fn console(&self) -> String {
        let path = self.fleet.vm(0).expect("vm").files.console();
        std::fs::read_to_string(path).unwrap_or_default()
    }

    pub async fn wait_console(&self, marker: &str) -> String {
        let deadline = Instant::now() + BOOT;
        loop {
            let console = self.console();
            if console.contains(marker) {
                return console;
            }
            assert!(
                Instant::now() < deadline,
                "no {marker:?} on the console within {BOOT:?}:\n{console}"
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    pub async fn wait_power(&self, want: &str) {
        let deadline = Instant::now() + BOOT;
        loop {
            let system = self
                .call(
                    reqwest::Method::GET,
                    &format!("/redfish/v1/Systems/{}", self.id()),
                    None,
                )
                .await;
            if system["PowerState"] == want {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PowerState stayed {} instead of {want}:\n{}",
                system["PowerState"],
                self.console()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}
