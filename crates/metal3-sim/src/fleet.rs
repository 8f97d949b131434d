//! The simulated servers: pure state and the rules that change it, without any I/O. The clock
//! is passed in, so power-on self test (POST) time is tested without waiting.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::bios::Bios;
use crate::firmware::Firmware;
use crate::storage::Storage;

/// Power state as Redfish names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Power {
    On,
    Off,
}

impl Power {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::On => "On",
            Self::Off => "Off",
        }
    }
}

/// `ComputerSystem.Reset` types the simulator accepts.
pub const RESET_TYPES: &[&str] = &[
    "On",
    "ForceOff",
    "GracefulShutdown",
    "ForceRestart",
    "GracefulRestart",
    "PowerCycle",
    "PushPowerButton",
    "Nmi",
];

/// Boot override targets the simulator accepts.
pub const BOOT_TARGETS: &[&str] = &["None", "Pxe", "Hdd", "Cd", "Usb", "BiosSetup", "UefiHttp"];

/// The one-time or continuous boot override.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Boot {
    pub target: String,
    pub enabled: String,
    pub mode: String,
    /// What a `UefiHttp` boot fetches.
    pub http_boot_uri: Option<String>,
}

impl Default for Boot {
    fn default() -> Self {
        Self {
            target: "None".into(),
            enabled: "Disabled".into(),
            mode: "UEFI".into(),
            http_boot_uri: None,
        }
    }
}

/// A virtual media device (CD or USB).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Media {
    pub image: Option<String>,
    pub inserted: bool,
    pub write_protected: bool,
}

/// The device a boot starts from, as the boot override and the inserted media decide it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BootDevice {
    /// The virtual CD (a medium is inserted).
    Cd,
    /// The virtual USB stick (a medium is inserted).
    Usb,
    /// The first disk.
    Disk,
    /// A PXE boot from the first NIC.
    Network,
    /// A UEFI HTTP boot of this URI.
    HttpBoot(String),
    /// Firmware setup.
    Setup,
}

/// One drive as its server reports it, when it differs from the generated default (the disks
/// of a VM-backed server).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DriveInfo {
    pub serial: String,
    pub bytes: u64,
    pub model: String,
    /// `true` for a spinning disk.
    pub rotational: bool,
}

/// What the server runs after it booted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Running {
    /// Nothing (off).
    Nothing,
    /// The image in the virtual CD.
    VirtualMedia(String),
    /// Whatever is on the disk.
    Disk,
    /// A network boot (PXE, or UEFI HTTP without a URI).
    Network,
    /// An image fetched by UEFI HTTP boot.
    HttpBoot(String),
    /// Firmware setup.
    Setup,
    /// Still in its power-on self test.
    Booting,
}

/// One simulated server and its BMC.
#[derive(Clone, Debug)]
pub struct Host {
    pub index: usize,
    pub id: String,
    pub name: String,
    pub username: String,
    pub password: String,
    pub power: Power,
    pub boot: Boot,
    pub bios: Bios,
    pub cd: Media,
    pub usb: Media,
    pub macs: Vec<String>,
    pub cpus: u32,
    /// Memory modules, in MiB each.
    pub dimms_mib: Vec<u32>,
    pub storage: Storage,
    /// The drives' identities when they are not the generated ones (VM-backed servers).
    pub drive_info: Vec<DriveInfo>,
    /// Whether a real VM (qemu) is behind this BMC: power and media then act on it.
    pub vm: bool,
    pub firmware: Firmware,
    pub running: Running,
    /// Secure Boot as set for the next boot, and as in force since the last one.
    pub secure_boot: bool,
    pub secure_boot_current: bool,
    /// Boots so far (tasks waiting for a reboot compare against it).
    pub boots: u64,
    /// Times the server was switched on from off (restarts are boots, not power-ons).
    pub power_ons: u64,
    /// Boots from a virtual medium (CD or USB): what a provisioning image run counts.
    pub media_boots: u64,
    /// Media inserted into the virtual CD or USB device.
    pub media_inserts: u64,
    /// When POST ends, and what runs after it.
    post: Option<(Instant, Running)>,
    /// Requests answered, by "METHOD route".
    pub calls: BTreeMap<String, u64>,
}

/// Bytes of each simulated drive.
pub const DRIVE_BYTES: u64 = 480_103_981_056;

impl Host {
    /// A powered-off server with a small plausible inventory, derived from its index.
    pub fn new(index: usize, username: &str, password: &str) -> Self {
        let mac = |nic: usize| {
            format!(
                "52:54:00:{:02x}:{:02x}:{:02x}",
                (index >> 16) & 0xff,
                (index >> 8) & 0xff,
                ((index & 0xff) + nic * 0x80) & 0xff
            )
        };
        Self {
            index,
            id: format!(
                "{:08x}-0000-4000-8000-{index:012x}",
                0x5e5e_0000u32 + index as u32
            ),
            name: format!("sim-{index}"),
            username: username.into(),
            password: password.into(),
            power: Power::Off,
            boot: Boot::default(),
            bios: Bios::default(),
            cd: Media {
                write_protected: true,
                ..Media::default()
            },
            usb: Media::default(),
            macs: vec![mac(0), mac(1)],
            cpus: 2,
            dimms_mib: vec![16 * 1024; 4],
            storage: Storage::new(4, DRIVE_BYTES),
            drive_info: Vec::new(),
            vm: false,
            firmware: Firmware::default(),
            running: Running::Nothing,
            secure_boot: false,
            secure_boot_current: false,
            boots: 0,
            power_ons: 0,
            media_boots: 0,
            media_inserts: 0,
            post: None,
            calls: BTreeMap::new(),
        }
    }

    /// Total memory in MiB.
    pub fn memory_mib(&self) -> u64 {
        self.dimms_mib.iter().map(|&m| u64::from(m)).sum()
    }

    /// The device the next boot starts from: the override's target when it can boot (a
    /// medium is inserted, UEFI HTTP boot in UEFI mode), else the disk.
    pub fn next_boot(&self) -> BootDevice {
        match self.boot.target.as_str() {
            "Cd" if self.cd.inserted && self.cd.image.is_some() => BootDevice::Cd,
            "Usb" if self.usb.inserted && self.usb.image.is_some() => BootDevice::Usb,
            "UefiHttp" => match &self.boot.http_boot_uri {
                Some(uri) if self.boot.mode == "UEFI" => BootDevice::HttpBoot(uri.clone()),
                _ => BootDevice::Network,
            },
            "Pxe" => BootDevice::Network,
            "BiosSetup" => BootDevice::Setup,
            _ => BootDevice::Disk,
        }
    }

    /// The server comes up: staged BIOS settings, volumes and firmware take effect, then after
    /// `post` it runs what the boot override says (a one-time override is used up now).
    fn boot(&mut self, now: Instant, post: Duration) {
        self.bios.apply();
        self.storage.apply();
        self.firmware.apply();
        self.secure_boot_current = self.secure_boot;
        self.boots += 1;
        self.power = Power::On;
        let image = |m: &Media| m.image.clone().unwrap_or_default();
        let device = self.next_boot();
        if matches!(device, BootDevice::Cd | BootDevice::Usb) {
            self.media_boots += 1;
        }
        let next = match device {
            BootDevice::Cd => Running::VirtualMedia(image(&self.cd)),
            BootDevice::Usb => Running::VirtualMedia(image(&self.usb)),
            BootDevice::HttpBoot(uri) => Running::HttpBoot(uri),
            BootDevice::Network => Running::Network,
            BootDevice::Setup => Running::Setup,
            BootDevice::Disk => Running::Disk,
        };
        if self.boot.enabled == "Once" {
            self.boot.enabled = "Disabled".into();
            self.boot.target = "None".into();
        }
        if post.is_zero() {
            self.running = next;
            self.post = None;
        } else {
            self.running = Running::Booting;
            self.post = Some((now + post, next));
        }
    }

    /// Brings the state up to `now`: a finished POST hands over to what was booted.
    pub fn settle(&mut self, now: Instant) {
        if let Some((until, _)) = &self.post
            && now >= *until
            && let Some((_, next)) = self.post.take()
        {
            self.running = next;
        }
    }

    fn halt(&mut self) {
        self.power = Power::Off;
        self.running = Running::Nothing;
        self.post = None;
    }

    /// Applies a `ComputerSystem.Reset` at `now`, with `post` as the power-on self test time.
    /// Returns the new power state when it changed (or the server restarted).
    pub fn reset(
        &mut self,
        reset_type: &str,
        now: Instant,
        post: Duration,
    ) -> Result<Option<Power>, String> {
        self.settle(now);
        let before = self.power;
        let outcome = self.apply_reset(reset_type, now, post);
        if before == Power::Off && self.power == Power::On {
            self.power_ons += 1;
        }
        outcome
    }

    fn apply_reset(
        &mut self,
        reset_type: &str,
        now: Instant,
        post: Duration,
    ) -> Result<Option<Power>, String> {
        let before = self.power;
        match reset_type {
            "On" => {
                if self.power == Power::Off {
                    self.boot(now, post);
                }
            }
            "ForceOff" | "GracefulShutdown" => self.halt(),
            "ForceRestart" | "GracefulRestart" | "PowerCycle" => {
                self.halt();
                self.boot(now, post);
                return Ok(Some(Power::On));
            }
            "PushPowerButton" => match self.power {
                Power::On => self.halt(),
                Power::Off => self.boot(now, post),
            },
            "Nmi" => {}
            other => {
                return Err(format!(
                    "ResetType {other:?} is not one of {}",
                    RESET_TYPES.join(", ")
                ));
            }
        }
        Ok((self.power != before).then_some(self.power))
    }

    /// Applies a PATCH of `Boot`.
    pub fn patch_boot(&mut self, patch: &Value) -> Result<(), String> {
        let field = |name: &str| patch.get(name).and_then(Value::as_str).map(str::to_string);
        if let Some(target) = field("BootSourceOverrideTarget") {
            if !BOOT_TARGETS.contains(&target.as_str()) {
                return Err(format!(
                    "BootSourceOverrideTarget {target:?} is not supported"
                ));
            }
            self.boot.target = target;
        }
        if let Some(enabled) = field("BootSourceOverrideEnabled") {
            if !["Disabled", "Once", "Continuous"].contains(&enabled.as_str()) {
                return Err(format!(
                    "BootSourceOverrideEnabled {enabled:?} is not supported"
                ));
            }
            self.boot.enabled = enabled;
        }
        if let Some(uri) = field("HttpBootUri") {
            self.boot.http_boot_uri = (!uri.is_empty()).then_some(uri);
        }
        if let Some(mode) = field("BootSourceOverrideMode") {
            if !["UEFI", "Legacy"].contains(&mode.as_str()) {
                return Err(format!("BootSourceOverrideMode {mode:?} is not supported"));
            }
            self.boot.mode = mode;
        }
        Ok(())
    }

    /// The virtual media device `id` (`Cd` or `Usb`).
    pub fn media(&mut self, id: &str) -> Option<&mut Media> {
        match id {
            "Cd" => Some(&mut self.cd),
            "Usb" => Some(&mut self.usb),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_POST: Duration = Duration::ZERO;

    #[test]
    fn power_and_boot_overrides() {
        let now = Instant::now();
        let mut h = Host::new(7, "admin", "pw");
        assert_eq!(h.power, Power::Off);
        h.patch_boot(&serde_json::json!({"BootSourceOverrideTarget": "Cd", "BootSourceOverrideEnabled": "Once"}))
            .expect("boot patch");
        if let Some(cd) = h.media("Cd") {
            cd.image = Some("http://img/live.iso".into());
            cd.inserted = true;
        }
        assert_eq!(h.reset("On", now, NO_POST), Ok(Some(Power::On)));
        assert_eq!(
            h.running,
            Running::VirtualMedia("http://img/live.iso".into())
        );
        assert_eq!(h.boot.enabled, "Disabled", "a one-time override is used up");
        assert_eq!(h.reset("On", now, NO_POST), Ok(None), "already on");
        assert_eq!(
            h.reset("ForceRestart", now, NO_POST),
            Ok(Some(Power::On)),
            "a restart counts as a change"
        );
        assert_eq!(h.running, Running::Disk);
        assert_eq!(h.boots, 2);
        assert_eq!(h.power_ons, 1, "a restart is not a power-on");
        assert_eq!(h.media_boots, 1, "the second boot was from the disk");
        assert_eq!(
            h.reset("PushPowerButton", now, NO_POST),
            Ok(Some(Power::Off))
        );
        assert_eq!(h.running, Running::Nothing);
        assert!(
            h.reset("Explode", now, NO_POST)
                .expect_err("unknown")
                .contains("ResetType")
        );
        assert!(
            h.patch_boot(&serde_json::json!({"BootSourceOverrideTarget": "Floppy"}))
                .is_err()
        );
    }

    #[test]
    fn post_time_passes_before_the_server_runs_anything() {
        let t0 = Instant::now();
        let post = Duration::from_secs(30);
        let mut h = Host::new(1, "admin", "pw");
        h.patch_boot(&serde_json::json!({"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}))
            .expect("boot patch");
        h.reset("On", t0, post).expect("on");
        assert_eq!(h.power, Power::On);
        assert_eq!(h.running, Running::Booting);
        h.settle(t0 + Duration::from_secs(29));
        assert_eq!(h.running, Running::Booting);
        h.settle(t0 + post);
        assert_eq!(h.running, Running::Network);
        h.reset("ForceRestart", t0 + post, post).expect("restart");
        assert_eq!(h.running, Running::Booting);
        h.reset("ForceOff", t0 + post, post).expect("off");
        h.settle(t0 + post * 3);
        assert_eq!(h.running, Running::Nothing, "an interrupted POST ends");
    }

    #[test]
    fn staged_changes_apply_on_the_next_boot() {
        let now = Instant::now();
        let mut h = Host::new(1, "admin", "pw");
        let mut attrs = serde_json::Map::new();
        attrs.insert("ProcVirtualization".into(), Value::from("Disabled"));
        h.bios.stage(&attrs).expect("stage");
        h.firmware
            .update("http://fw/bios-2.0.0.bin")
            .expect("update");
        let volume = h
            .storage
            .plan(&serde_json::json!({"RAIDType": "RAID1"}))
            .expect("plan");
        h.storage
            .pending
            .push(crate::storage::Pending::Create(volume));
        assert_eq!(
            h.bios.get("ProcVirtualization"),
            Some(&Value::from("Enabled"))
        );
        h.reset("On", now, NO_POST).expect("on");
        assert_eq!(
            h.bios.get("ProcVirtualization"),
            Some(&Value::from("Disabled"))
        );
        assert_eq!(h.firmware.bios, "2.0.0");
        assert_eq!(h.storage.volumes.len(), 1);
        assert!(h.bios.pending.is_empty() && h.storage.pending.is_empty());
    }

    #[test]
    fn uefi_http_boot_and_secure_boot() {
        let now = Instant::now();
        let mut h = Host::new(2, "admin", "pw");
        h.patch_boot(&serde_json::json!({"BootSourceOverrideTarget": "UefiHttp", "BootSourceOverrideEnabled": "Once", "HttpBootUri": "http://img/live.iso"}))
            .expect("patch");
        h.secure_boot = true;
        assert!(!h.secure_boot_current, "takes effect on the next boot");
        h.reset("On", now, NO_POST).expect("on");
        assert_eq!(h.running, Running::HttpBoot("http://img/live.iso".into()));
        assert!(h.secure_boot_current);
        h.patch_boot(&serde_json::json!({"BootSourceOverrideTarget": "UefiHttp", "BootSourceOverrideEnabled": "Once", "BootSourceOverrideMode": "Legacy"}))
            .expect("patch");
        h.reset("ForceRestart", now, NO_POST).expect("restart");
        assert_eq!(
            h.running,
            Running::Network,
            "no UEFI HTTP boot in legacy mode"
        );
    }

    #[test]
    fn identities_are_distinct() {
        let a = Host::new(1, "u", "p");
        let b = Host::new(2, "u", "p");
        assert_ne!(a.id, b.id);
        assert_ne!(a.macs[0], b.macs[0]);
        assert_ne!(a.macs[0], a.macs[1]);
        assert_eq!(a.memory_mib(), 64 * 1024);
    }
}
