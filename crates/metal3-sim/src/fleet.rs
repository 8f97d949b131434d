//! The simulated servers: pure state and the rules that change it, without any I/O.

use std::collections::BTreeMap;

use serde_json::Value;

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
}

impl Default for Boot {
    fn default() -> Self {
        Self {
            target: "None".into(),
            enabled: "Disabled".into(),
            mode: "UEFI".into(),
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

/// What the server runs after it booted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Running {
    /// Nothing (off).
    Nothing,
    /// The image in the virtual CD.
    VirtualMedia(String),
    /// Whatever is on the disk.
    Disk,
    /// A network boot.
    Network,
    /// Firmware setup.
    Setup,
}

/// One simulated server and its BMC.
#[derive(Clone, Debug)]
pub struct Host {
    pub id: String,
    pub name: String,
    pub username: String,
    pub password: String,
    pub power: Power,
    pub boot: Boot,
    pub bios: BTreeMap<String, Value>,
    /// BIOS settings waiting for the next reboot (`@Redfish.Settings`).
    pub pending_bios: BTreeMap<String, Value>,
    pub cd: Media,
    pub usb: Media,
    pub macs: Vec<String>,
    pub cpus: u32,
    pub memory_gib: u32,
    pub disk_bytes: u64,
    pub running: Running,
    /// Requests answered, by "METHOD route".
    pub calls: BTreeMap<String, u64>,
}

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
        let bios = [
            ("BootMode", Value::from("Uefi")),
            ("ProcVirtualization", Value::from("Enabled")),
            ("SriovGlobalEnable", Value::from("Disabled")),
            ("AssetTag", Value::from("")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Self {
            id: format!(
                "{:08x}-0000-4000-8000-{index:012x}",
                0x5e5e_0000u32 + index as u32
            ),
            name: format!("sim-{index}"),
            username: username.into(),
            password: password.into(),
            power: Power::Off,
            boot: Boot::default(),
            bios,
            pending_bios: BTreeMap::new(),
            cd: Media {
                write_protected: true,
                ..Media::default()
            },
            usb: Media::default(),
            macs: vec![mac(0), mac(1)],
            cpus: 2,
            memory_gib: 64,
            disk_bytes: 480_103_981_056,
            running: Running::Nothing,
            calls: BTreeMap::new(),
        }
    }

    /// The server comes up: pending BIOS settings take effect, then it boots what the override
    /// says (a one-time override is used up).
    fn boot(&mut self) {
        let pending = std::mem::take(&mut self.pending_bios);
        self.bios.extend(pending);
        self.power = Power::On;
        self.running = match self.boot.target.as_str() {
            "Cd" => match (&self.cd.image, self.cd.inserted) {
                (Some(image), true) => Running::VirtualMedia(image.clone()),
                _ => Running::Disk,
            },
            "Pxe" | "UefiHttp" => Running::Network,
            "BiosSetup" => Running::Setup,
            _ => Running::Disk,
        };
        if self.boot.enabled == "Once" {
            self.boot.enabled = "Disabled".into();
            self.boot.target = "None".into();
        }
    }

    fn halt(&mut self) {
        self.power = Power::Off;
        self.running = Running::Nothing;
    }

    /// Applies a `ComputerSystem.Reset`.
    pub fn reset(&mut self, reset_type: &str) -> Result<(), String> {
        match reset_type {
            "On" => {
                if self.power == Power::Off {
                    self.boot();
                }
            }
            "ForceOff" | "GracefulShutdown" => self.halt(),
            "ForceRestart" | "GracefulRestart" => {
                self.halt();
                self.boot();
            }
            "PushPowerButton" => match self.power {
                Power::On => self.halt(),
                Power::Off => self.boot(),
            },
            "Nmi" => {}
            other => {
                return Err(format!(
                    "ResetType {other:?} is not one of {}",
                    RESET_TYPES.join(", ")
                ));
            }
        }
        Ok(())
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
        if let Some(mode) = field("BootSourceOverrideMode") {
            if !["UEFI", "Legacy"].contains(&mode.as_str()) {
                return Err(format!("BootSourceOverrideMode {mode:?} is not supported"));
            }
            self.boot.mode = mode;
        }
        Ok(())
    }

    /// Stages BIOS attributes for the next reboot; unknown names are refused.
    pub fn stage_bios(
        &mut self,
        attributes: &serde_json::Map<String, Value>,
    ) -> Result<(), String> {
        if let Some(unknown) = attributes.keys().find(|k| !self.bios.contains_key(*k)) {
            return Err(format!("unknown BIOS attribute {unknown:?}"));
        }
        for (k, v) in attributes {
            self.pending_bios.insert(k.clone(), v.clone());
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

    #[test]
    fn power_and_boot_overrides() {
        let mut h = Host::new(7, "admin", "pw");
        assert_eq!(h.power, Power::Off);
        h.patch_boot(&serde_json::json!({"BootSourceOverrideTarget": "Cd", "BootSourceOverrideEnabled": "Once"}))
            .expect("boot patch");
        if let Some(cd) = h.media("Cd") {
            cd.image = Some("http://img/live.iso".into());
            cd.inserted = true;
        }
        h.reset("On").expect("on");
        assert_eq!(
            h.running,
            Running::VirtualMedia("http://img/live.iso".into())
        );
        assert_eq!(h.boot.enabled, "Disabled", "a one-time override is used up");
        h.reset("ForceRestart").expect("restart");
        assert_eq!(h.running, Running::Disk);
        h.reset("PushPowerButton").expect("button");
        assert_eq!(h.power, Power::Off);
        assert!(
            h.reset("Explode")
                .expect_err("unknown")
                .contains("ResetType")
        );
        assert!(
            h.patch_boot(&serde_json::json!({"BootSourceOverrideTarget": "Floppy"}))
                .is_err()
        );
    }

    #[test]
    fn bios_settings_apply_on_the_next_boot() {
        let mut h = Host::new(1, "admin", "pw");
        let mut attrs = serde_json::Map::new();
        attrs.insert("ProcVirtualization".into(), Value::from("Disabled"));
        h.stage_bios(&attrs).expect("stage");
        assert_eq!(h.bios["ProcVirtualization"], "Enabled");
        h.reset("On").expect("on");
        assert_eq!(h.bios["ProcVirtualization"], "Disabled");
        assert!(h.pending_bios.is_empty());
        let mut bad = serde_json::Map::new();
        bad.insert("Turbo".into(), Value::from("On"));
        assert!(h.stage_bios(&bad).expect_err("unknown").contains("Turbo"));
    }

    #[test]
    fn identities_are_distinct() {
        let a = Host::new(1, "u", "p");
        let b = Host::new(2, "u", "p");
        assert_ne!(a.id, b.id);
        assert_ne!(a.macs[0], b.macs[0]);
        assert_ne!(a.macs[0], a.macs[1]);
    }
}
