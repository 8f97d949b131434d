//! Real machines behind simulated BMCs: a server of the fleet can be a qemu VM, so that what a
//! Redfish client does — power, reset, boot override, virtual media — happens to a machine that
//! really boots, writes its disks and prints on its serial console.
//!
//! - [`qemu`] (pure): the VM's command line, boot devices as boot indexes, run state as power;
//! - [`qmp`]: the QMP client; [`process`]: the qemu process, its files and its watchdog;
//! - [`machine`]: the BMC task of one VM, which performs Redfish requests on it in order and
//!   follows its events; [`media`]: images the BMC fetches; [`console`]: the serial console.
//!
//! A VM starts on its first power-on and is kept (powered off, it is qemu paused or shut
//! down), so its power state, media and console survive power cycles. Its disks (qcow2 in the
//! simulator's state directory) survive simulator restarts too. The guest reaches the host's
//! loopback services at `10.0.2.2` (qemu's user networking).

pub mod console;
mod machine;
pub mod media;
pub mod process;
pub mod qemu;
pub mod qmp;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

pub use qemu::{Accel, DiskBus, DiskSpec, Firmware, Install, Network, VmSpec};

use crate::fleet::{DriveInfo, Host};
use crate::redfish::Fleet;
use crate::storage::Storage;

/// How the simulator runs its VMs.
#[derive(Clone, Debug)]
pub struct VmOptions {
    /// Where each VM keeps its disks, UEFI variables, console log and fetched media
    /// (`<state_dir>/<server name>/`).
    pub state_dir: PathBuf,
    pub install: Install,
    pub accel: Accel,
    /// How long a graceful restart waits for the guest to power off before forcing it.
    pub graceful_timeout: Duration,
}

impl VmOptions {
    /// TCG (works everywhere, including where `/dev/kvm` exists but fails), Debian's paths.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        Self {
            state_dir: state_dir.into(),
            install: Install::default(),
            accel: Accel::Tcg,
            graceful_timeout: Duration::from_secs(60),
        }
    }
}

/// A removable device of a VM.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Device {
    Cd,
    Usb,
    /// Where a UEFI HTTP boot image goes.
    HttpBoot,
}

impl Device {
    /// The Redfish virtual media id (`Cd`, `Usb`) of a device.
    pub fn redfish_id(self) -> &'static str {
        match self {
            Self::Cd => "Cd",
            Self::Usb => "Usb",
            Self::HttpBoot => "HttpBoot",
        }
    }

    /// The Redfish virtual media device `id` names.
    pub fn from_redfish(id: &str) -> Option<Self> {
        match id {
            "Cd" => Some(Self::Cd),
            "Usb" => Some(Self::Usb),
            _ => None,
        }
    }

    fn qemu_id(self) -> &'static str {
        match self {
            Self::Cd => qemu::CD,
            Self::Usb => qemu::USB,
            Self::HttpBoot => qemu::HTTP_BOOT,
        }
    }

    fn cache_name(self) -> &'static str {
        match self {
            Self::Cd => "cd0.img",
            Self::Usb => "usb0.img",
            Self::HttpBoot => "httpboot0.img",
        }
    }
}

/// What the BMC task of a VM is asked to do.
pub(crate) enum Command {
    Reset {
        reset_type: String,
        done: oneshot::Sender<Result<(), String>>,
    },
    Insert {
        device: Device,
        url: String,
    },
    Eject {
        device: Device,
    },
    ResetDisks {
        done: oneshot::Sender<Result<(), String>>,
    },
    WriteDisk {
        disk: usize,
        image: String,
        format: String,
        done: oneshot::Sender<Result<(), String>>,
    },
    Refresh {
        done: oneshot::Sender<()>,
    },
    /// Stop qemu and end the task.
    Stop {
        done: oneshot::Sender<()>,
    },
}

/// What `GET /metal3-sim/hosts/<server>` shows of a VM.
#[derive(Clone, Debug, Default)]
pub struct View {
    /// qemu's run state, or `not started`.
    pub status: String,
    pub pid: Option<u32>,
    pub firmware: Option<Firmware>,
    pub last_error: Option<String>,
}

/// One VM-backed server: its spec, files and the way to its BMC task.
pub struct Vm {
    pub spec: VmSpec,
    pub files: qemu::Files,
    view: Arc<Mutex<View>>,
    commands: mpsc::UnboundedSender<Command>,
    accel: Accel,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Vm {
    fn send(&self, command: Command) -> Result<(), String> {
        self.commands
            .send(command)
            .map_err(|_| "the VM's BMC task has stopped".to_string())
    }

    /// Performs a `ComputerSystem.Reset` on the VM; returns once qemu did it (a graceful
    /// request returns once the guest was asked).
    pub async fn reset(&self, reset_type: &str) -> Result<(), String> {
        let (done, rx) = oneshot::channel();
        self.send(Command::Reset {
            reset_type: reset_type.to_string(),
            done,
        })?;
        machine::answer(rx).await?
    }

    /// Fetches `url` and inserts it into `device` (in order with the other requests: a power-on
    /// asked after this boots the medium).
    pub fn insert(&self, device: Device, url: &str) -> Result<(), String> {
        self.send(Command::Insert {
            device,
            url: url.to_string(),
        })
    }

    pub fn eject(&self, device: Device) -> Result<(), String> {
        self.send(Command::Eject { device })
    }

    /// Replaces every disk with an empty one (the server must be off).
    pub async fn reset_disks(&self) -> Result<(), String> {
        let (done, rx) = oneshot::channel();
        self.send(Command::ResetDisks { done })?;
        machine::answer(rx).await?
    }

    /// Writes the image file `image` (`raw` or `qcow2`) onto disk `disk`, which keeps its
    /// size (the server must be off).
    pub async fn write_disk(&self, disk: usize, image: &str, format: &str) -> Result<(), String> {
        let (done, rx) = oneshot::channel();
        self.send(Command::WriteDisk {
            disk,
            image: image.to_string(),
            format: format.to_string(),
            done,
        })?;
        machine::answer(rx).await?
    }

    /// Stops qemu (the server is then off for good) and ends the BMC task.
    pub async fn stop(&self) {
        let (done, rx) = oneshot::channel();
        if self.send(Command::Stop { done }).is_ok() {
            let _ = rx.await;
        }
    }

    /// The VM as `GET /metal3-sim/hosts/<server>` shows it, freshly read from qemu.
    pub async fn describe(&self) -> Value {
        let (done, rx) = oneshot::channel();
        if self.send(Command::Refresh { done }).is_ok() {
            let _ = rx.await;
        }
        let view = lock(&self.view).clone();
        json!({
            "status": view.status,
            "pid": view.pid,
            "accel": self.accel.as_str(),
            "firmware": view.firmware,
            "cpus": self.spec.cpus,
            "memoryMib": self.spec.memory_mib,
            "disks": self.spec.disks.iter().enumerate().map(|(i, d)| json!({
                "path": self.files.disk(i),
                "serial": d.serial,
                "sizeBytes": d.size_bytes,
                "bus": d.bus,
            })).collect::<Vec<_>>(),
            "console": self.files.console(),
            "lastError": view.last_error,
        })
    }
}

/// The VMs of a fleet, by server index.
#[derive(Default)]
pub struct Vms {
    by_index: BTreeMap<usize, Vm>,
}

impl Vms {
    pub fn get(&self, index: usize) -> Option<&Vm> {
        self.by_index.get(&index)
    }

    pub fn len(&self) -> usize {
        self.by_index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_index.is_empty()
    }

    /// Stops every VM (the simulator is shutting down).
    pub async fn stop_all(&self) {
        futures::future::join_all(self.by_index.values().map(Vm::stop)).await;
    }
}

/// Makes the servers `specs` names (by index) VM-backed: their inventory becomes the VM's and
/// a BMC task starts for each (qemu itself starts at the first power-on). Needs a tokio
/// runtime.
pub(crate) fn attach(
    fleet: &Arc<Fleet>,
    options: &VmOptions,
    specs: Vec<(usize, VmSpec)>,
) -> Result<Vms, String> {
    let mut vms = Vms::default();
    for (index, spec) in specs {
        spec.validate()
            .map_err(|e| format!("VM of server {index}: {e}"))?;
        let (name, mac) = fleet
            .with_host_mut(index, |h| {
                adopt_inventory(h, &spec);
                (h.name.clone(), h.macs[0].clone())
            })
            .ok_or_else(|| format!("the fleet has no server {index}"))?;
        let files = qemu::Files {
            dir: options.state_dir.join(&name),
        };
        let view = Arc::new(Mutex::new(View {
            status: "not started".into(),
            ..View::default()
        }));
        let (commands, rx) = mpsc::unbounded_channel();
        let task = machine::Machine {
            index,
            fleet: Arc::downgrade(fleet) as Weak<Fleet>,
            spec: spec.clone(),
            files: files.clone(),
            install: options.install.clone(),
            accel: options.accel,
            mac,
            graceful_timeout: options.graceful_timeout,
            view: view.clone(),
            process: None,
            inserted: BTreeMap::new(),
            restart_deadline: None,
            boot_order: Vec::new(),
            boot_started: None,
        };
        tokio::spawn(task.run(rx));
        vms.by_index.insert(
            index,
            Vm {
                spec,
                files,
                view,
                commands,
                accel: options.accel,
            },
        );
    }
    Ok(vms)
}

/// The server reports what the VM is: its CPUs, memory, disks and boot mode.
fn adopt_inventory(h: &mut Host, spec: &VmSpec) {
    h.vm = true;
    h.cpus = spec.cpus;
    h.dimms_mib = vec![spec.memory_mib];
    let smallest = spec.disks.iter().map(|d| d.size_bytes).min().unwrap_or(0);
    h.storage = Storage::new(spec.disks.len(), smallest);
    h.drive_info = spec
        .disks
        .iter()
        .map(|d| DriveInfo {
            serial: d.serial.clone(),
            bytes: d.size_bytes,
            model: match d.bus {
                DiskBus::Virtio => "QEMU virtio disk".into(),
                DiskBus::Scsi => "QEMU HARDDISK".into(),
            },
            rotational: d.rotational,
        })
        .collect();
    h.boot.mode = spec.firmware.boot_mode().to_string();
}
