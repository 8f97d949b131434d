//! The BMC side of one VM-backed server: a task that owns its qemu process and performs, one
//! at a time, what Redfish asked (power, reset, media, disks), and that follows qemu's events
//! so the server's power state is what the VM really does — a guest that powers itself off is
//! Off, a guest that reboots boots what the boot override says.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use super::process::{self, Process};
use super::qemu::{self, Accel, Files, Firmware, Install, VmSpec};
use super::qmp::{Event, QmpError};
use super::{Command, Device, View, media};
use crate::fleet::{BootDevice, Power};
use crate::redfish::Fleet;

/// What the task works with.
pub(super) struct Machine {
    pub index: usize,
    pub fleet: Weak<Fleet>,
    pub spec: VmSpec,
    pub files: Files,
    pub install: Install,
    pub accel: Accel,
    pub mac: String,
    pub graceful_timeout: Duration,
    pub view: Arc<Mutex<View>>,
    pub process: Option<Process>,
    /// Media inserted, by device: the cached image.
    pub inserted: BTreeMap<Device, PathBuf>,
    /// A graceful restart waits for the guest to power off until then.
    pub restart_deadline: Option<Instant>,
    /// The boot indexes last set, so a guest reboot that needs others is redirected.
    pub boot_order: Vec<(String, i64)>,
    /// When the last boot began: resets the firmware itself makes early in its start
    /// (SeaBIOS resets once when it finds the machine already initialised) are not reboots.
    pub boot_started: Option<Instant>,
}

/// Guest resets this soon after a boot began are the firmware's own, not a reboot of the OS.
const POST_WINDOW: Duration = Duration::from_secs(5);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Machine {
    /// Serves commands until every handle is gone, then stops qemu.
    pub async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        loop {
            let deadline = self.restart_deadline;
            let event = async {
                match self.process.as_mut() {
                    Some(p) => p.events.recv().await,
                    None => std::future::pending().await,
                }
            };
            let timer = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at.into()).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                command = commands.recv() => match command {
                    Some(Command::Stop { done }) => {
                        if let Some(p) = self.process.take() {
                            p.stop().await;
                        }
                        self.set_power(Power::Off);
                        let _ = done.send(());
                        return;
                    }
                    Some(c) => self.command(c).await,
                    None => break,
                },
                event = event => match event {
                    Some(e) => self.event(e).await,
                    None => self.process_gone().await,
                },
                () = timer => {
                    self.restart_deadline = None;
                    let result = self.power_on("ForceRestart").await;
                    self.note(result);
                }
            }
        }
        if let Some(p) = self.process.take() {
            p.stop().await;
        }
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::Reset { reset_type, done } => {
                let result = self.reset(&reset_type).await;
                self.note(result.clone());
                let _ = done.send(result);
            }
            Command::Insert { device, url } => {
                let result = self.insert(device, &url).await;
                if result.is_err() {
                    self.with_host(|h| {
                        if let Some(m) = h.media(device.redfish_id()) {
                            m.inserted = false;
                        }
                    });
                }
                self.note(result);
            }
            Command::Eject { device } => {
                let result = self.eject(device).await;
                self.note(result);
            }
            Command::ResetDisks { done } => {
                let result = self.reset_disks().await;
                self.note(result.clone());
                let _ = done.send(result);
            }
            Command::WriteDisk {
                disk,
                image,
                format,
                done,
            } => {
                let result = self.write_disk(disk, &image, &format).await;
                self.note(result.clone());
                let _ = done.send(result);
            }
            Command::Refresh { done } => {
                self.refresh().await;
                let _ = done.send(());
            }
            Command::Stop { done } => {
                // Handled by the loop; answered here only if it ever gets this far.
                let _ = done.send(());
            }
        }
    }

    /// Records the outcome of an operation for `GET /metal3-sim/hosts/<server>`.
    fn note(&self, result: Result<(), String>) {
        if let Err(e) = result {
            lock(&self.view).last_error = Some(e);
        }
    }

    fn with_host<R>(&self, f: impl FnOnce(&mut crate::fleet::Host) -> R) -> Option<R> {
        self.fleet.upgrade()?.with_host_mut(self.index, f)
    }

    /// Sets the model's power state, telling event subscribers when it changed.
    fn set_power(&self, power: Power) {
        self.set_power_noting(power, false);
    }

    /// Like [`Self::set_power`]; a `restart` is news even when the server stays on.
    fn set_power_noting(&self, power: Power, restart: bool) {
        let changed = self.with_host(|h| {
            let changed = h.power != power || restart;
            if changed && power == Power::Off {
                // The guest is gone: what the model thinks it runs ends too.
                let _ = h.reset("ForceOff", Instant::now(), Duration::ZERO);
            }
            h.power = power;
            changed.then(|| h.id.clone())
        });
        if let (Some(Some(id)), Some(fleet)) = (changed, self.fleet.upgrade()) {
            fleet.power_changed(self.index, &id, power);
        }
    }

    async fn reset(&mut self, reset_type: &str) -> Result<(), String> {
        let on = self.observed_power().await == Power::On;
        match (reset_type, on) {
            ("On", false) | ("PushPowerButton", false) | ("PowerCycle", false) => {
                self.power_on("On").await
            }
            ("On", true) | ("Nmi", false) => Ok(()),
            ("ForceOff", _) => self.force_off().await,
            ("GracefulShutdown", true) | ("PushPowerButton", true) => self.powerdown().await,
            ("GracefulShutdown", false) => Ok(()),
            ("ForceRestart", _) => self.power_on("ForceRestart").await,
            ("GracefulRestart", true) => {
                self.powerdown().await?;
                self.restart_deadline = Some(Instant::now() + self.graceful_timeout);
                Ok(())
            }
            ("GracefulRestart", false) => self.power_on("On").await,
            ("PowerCycle", true) => {
                self.force_off().await?;
                self.power_on("On").await
            }
            ("Nmi", true) => self.qmp("inject-nmi", Value::Null).await.map(drop),
            (other, _) => Err(format!("ResetType {other:?} is not supported")),
        }
    }

    async fn qmp(&self, command: &str, arguments: Value) -> Result<Value, String> {
        let Some(p) = &self.process else {
            return Err(format!("{command}: the VM is not running"));
        };
        p.qmp
            .execute(command, arguments)
            .await
            .map_err(|e: QmpError| e.to_string())
    }

    /// The power state qemu is in (Off when no qemu runs).
    async fn observed_power(&self) -> Power {
        match &self.process {
            Some(p) => match p.qmp.status().await {
                Ok(status) => qemu::power_of(&status),
                Err(_) => Power::Off,
            },
            None => Power::Off,
        }
    }

    /// Powers the server on (or restarts it): the model decides what boots and uses up a
    /// one-time override, then qemu gets that firmware, media and boot order and runs.
    async fn power_on(&mut self, how: &str) -> Result<(), String> {
        self.restart_deadline = None;
        let plan = self.with_host(|h| {
            let device = h.next_boot();
            let mode = h.boot.mode.clone();
            let was = h.power;
            let _ = h.reset(how, Instant::now(), Duration::ZERO);
            // The power state follows what qemu does, below.
            h.power = was;
            (device, mode)
        });
        let Some((device, mode)) = plan else {
            return Err("the simulator is shutting down".into());
        };
        let firmware = Firmware::from_boot_mode(&mode);
        self.ensure_process(firmware).await?;
        if let BootDevice::HttpBoot(uri) = &device {
            self.insert(Device::HttpBoot, uri).await?;
        }
        self.apply_boot_order(&device).await?;
        // qemu hands the firmware a new boot order only at a reset, also before the first run.
        self.qmp("system_reset", Value::Null).await?;
        self.boot_started = Some(Instant::now());
        self.qmp("cont", Value::Null).await?;
        self.set_power_noting(Power::On, how != "On");
        Ok(())
    }

    /// A qemu with `firmware`: the running one, or a new one (the old one stopped) with the
    /// inserted media put back.
    async fn ensure_process(&mut self, firmware: Firmware) -> Result<(), String> {
        if self
            .process
            .as_ref()
            .is_some_and(|p| p.firmware == firmware)
        {
            return Ok(());
        }
        if let Some(old) = self.process.take() {
            old.stop().await;
        }
        let p = process::start(
            &self.spec,
            &self.files,
            &self.install,
            firmware,
            self.accel,
            &self.mac,
        )
        .await?;
        {
            let mut view = lock(&self.view);
            view.pid = p.pid();
            view.firmware = Some(firmware);
        }
        self.process = Some(p);
        self.boot_order.clear();
        let inserted: Vec<(Device, PathBuf)> =
            self.inserted.iter().map(|(d, p)| (*d, p.clone())).collect();
        for (device, path) in inserted {
            self.change_medium(device, &path).await?;
        }
        Ok(())
    }

    async fn apply_boot_order(&mut self, device: &BootDevice) -> Result<(), String> {
        let order = qemu::boot_order(device, self.spec.disks.len());
        let changed: Vec<&(String, i64)> = order
            .iter()
            .filter(|entry| !self.boot_order.contains(entry))
            .collect();
        // qemu refuses an index another device holds: clear the moving ones first.
        for (id, _) in &changed {
            self.set_boot_index(id, -1).await?;
        }
        for (id, index) in changed {
            if *index >= 0 {
                self.set_boot_index(id, *index).await?;
            }
        }
        self.boot_order = order;
        Ok(())
    }

    async fn set_boot_index(&self, id: &str, index: i64) -> Result<(), String> {
        self.qmp(
            "qom-set",
            json!({"path": format!("/machine/peripheral/{id}"), "property": "bootindex", "value": index}),
        )
        .await
        .map(drop)
    }

    async fn force_off(&mut self) -> Result<(), String> {
        self.restart_deadline = None;
        if self.process.is_some() {
            // Freeze at once (the power cut), and reset so the next power-on starts afresh.
            self.qmp("stop", Value::Null).await?;
            self.qmp("system_reset", Value::Null).await?;
        }
        self.set_power(Power::Off);
        Ok(())
    }

    /// Presses the ACPI power button; the guest decides whether to power off.
    async fn powerdown(&mut self) -> Result<(), String> {
        self.qmp("system_powerdown", Value::Null).await.map(drop)
    }

    async fn event(&mut self, event: Event) {
        let guest = event.data.get("guest").and_then(Value::as_bool) == Some(true);
        match event.name.as_str() {
            "SHUTDOWN" if guest => {
                self.set_power(Power::Off);
                if self.restart_deadline.is_some() {
                    let result = self.power_on("On").await;
                    self.note(result);
                }
            }
            "RESET" if guest => {
                let result = self.guest_reboot().await;
                self.note(result);
            }
            "STOP" | "RESUME" => self.refresh().await,
            _ => {}
        }
    }

    /// The guest rebooted itself: that is a new boot, so the model's staged changes apply and
    /// a one-time override is used up. If the boot should start elsewhere than the boot order
    /// qemu used, the VM is reset once more with the right one.
    async fn guest_reboot(&mut self) -> Result<(), String> {
        if self
            .boot_started
            .is_some_and(|at| at.elapsed() < POST_WINDOW)
        {
            return Ok(());
        }
        self.boot_started = Some(Instant::now());
        let plan = self.with_host(|h| {
            let device = h.next_boot();
            let _ = h.reset("ForceRestart", Instant::now(), Duration::ZERO);
            (device, h.boot.mode.clone())
        });
        let Some((device, mode)) = plan else {
            return Ok(());
        };
        let firmware = Firmware::from_boot_mode(&mode);
        if self
            .process
            .as_ref()
            .is_some_and(|p| p.firmware != firmware)
        {
            return self.power_on("On").await;
        }
        let wanted = qemu::boot_order(&device, self.spec.disks.len());
        if wanted != self.boot_order {
            if let BootDevice::HttpBoot(uri) = &device {
                self.insert(Device::HttpBoot, uri).await?;
            }
            self.apply_boot_order(&device).await?;
            self.qmp("system_reset", Value::Null).await?;
        }
        Ok(())
    }

    /// Reads qemu's run state into the view and the model's power state.
    async fn refresh(&mut self) {
        let status = match &self.process {
            Some(p) => p.qmp.status().await.ok(),
            None => None,
        };
        let power = status.as_deref().map_or(Power::Off, qemu::power_of);
        lock(&self.view).status = status.unwrap_or_else(|| "not started".into());
        self.set_power(power);
    }

    /// qemu ended on its own (crashed, or killed from outside): the server is off.
    async fn process_gone(&mut self) {
        if let Some(mut p) = self.process.take() {
            let status = p.child.wait().await.ok();
            lock(&self.view).last_error = Some(format!(
                "qemu ended ({}): {}",
                status.map_or("unknown status".into(), |s| s.to_string()),
                process::last_lines(&self.files.qemu_log(), 3)
            ));
        }
        {
            let mut view = lock(&self.view);
            view.status = "not started".into();
            view.pid = None;
        }
        self.boot_order.clear();
        self.set_power(Power::Off);
    }

    async fn insert(&mut self, device: Device, url: &str) -> Result<(), String> {
        let cache = self.files.media_cache();
        process::create_private_dir(&cache)?;
        let path = media::fetch(url, &cache, device.cache_name()).await?;
        if self.process.is_some() {
            self.change_medium(device, &path).await?;
        }
        self.inserted.insert(device, path);
        Ok(())
    }

    async fn change_medium(&self, device: Device, path: &std::path::Path) -> Result<(), String> {
        self.qmp(
            "blockdev-change-medium",
            json!({
                "id": device.qemu_id(),
                "filename": path.display().to_string(),
                "format": "raw",
                "read-only-mode": "read-only",
            }),
        )
        .await
        .map(drop)
    }

    async fn eject(&mut self, device: Device) -> Result<(), String> {
        if self.process.is_some() {
            self.qmp("eject", json!({"id": device.qemu_id(), "force": true}))
                .await?;
        }
        if let Some(path) = self.inserted.remove(&device) {
            let _ = tokio::fs::remove_file(path).await;
        }
        Ok(())
    }

    /// qemu holds the disks open: it is stopped before they are replaced. The server must be
    /// off.
    async fn release_disks(&mut self) -> Result<(), String> {
        if self.observed_power().await == Power::On {
            return Err("power the server off before changing its disks".into());
        }
        if let Some(p) = self.process.take() {
            p.stop().await;
        }
        self.boot_order.clear();
        let mut view = lock(&self.view);
        view.status = "not started".into();
        view.pid = None;
        Ok(())
    }

    async fn reset_disks(&mut self) -> Result<(), String> {
        self.release_disks().await?;
        for (i, disk) in self.spec.disks.iter().enumerate() {
            process::create_disk(&self.install, &self.files.disk(i), disk.size_bytes).await?;
        }
        Ok(())
    }

    async fn write_disk(&mut self, disk: usize, image: &str, format: &str) -> Result<(), String> {
        let Some(spec) = self.spec.disks.get(disk) else {
            return Err(format!("the server has no disk {disk}"));
        };
        let size = spec.size_bytes.to_string();
        if !["raw", "qcow2"].contains(&format) {
            return Err(format!("format {format:?} is not raw or qcow2"));
        }
        self.release_disks().await?;
        process::prepare_files(&self.spec, &self.files, &self.install).await?;
        let target = self.files.disk(disk).display().to_string();
        process::qemu_img(
            &self.install,
            &["convert", "-q", "-f", format, "-O", "qcow2", image, &target],
        )
        .await?;
        process::qemu_img(&self.install, &["resize", "-q", &target, &size]).await
    }
}

/// A handle's way to wait for the task's answer.
pub(super) async fn answer<T>(rx: oneshot::Receiver<T>) -> Result<T, String> {
    rx.await
        .map_err(|_| "the VM's BMC task has stopped".to_string())
}
