//! What a VM-backed server is, written as qemu's command line, and how Redfish maps onto qemu:
//! boot devices onto boot indexes, qemu's run state onto a power state. Pure: every device and
//! option is tested without starting qemu.

use std::path::{Path, PathBuf};

use crate::fleet::{BootDevice, Power};

/// The firmware a VM boots with: Redfish's `Legacy` or `UEFI` boot mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Firmware {
    /// SeaBIOS.
    Bios,
    /// OVMF, with a variables store of the server's own.
    Uefi,
}

impl Firmware {
    /// The firmware a Redfish `BootSourceOverrideMode` asks for.
    pub fn from_boot_mode(mode: &str) -> Self {
        if mode.eq_ignore_ascii_case("Legacy") {
            Self::Bios
        } else {
            Self::Uefi
        }
    }

    /// The Redfish boot mode of this firmware.
    pub fn boot_mode(self) -> &'static str {
        match self {
            Self::Bios => "Legacy",
            Self::Uefi => "UEFI",
        }
    }
}

/// How qemu runs guest code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Accel {
    /// Software emulation: works everywhere, slower.
    #[default]
    Tcg,
    /// Hardware virtualisation, where `/dev/kvm` works.
    Kvm,
}

impl Accel {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcg => "tcg",
            Self::Kvm => "kvm",
        }
    }
}

/// The bus a disk hangs on; both give the guest the disk's serial number, SCSI also an HCTL
/// and a WWN.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiskBus {
    #[default]
    Virtio,
    Scsi,
}

/// One disk of a VM-backed server.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiskSpec {
    /// The serial number the guest and the BMC report.
    pub serial: String,
    /// Size in bytes (the qcow2 file grows as the guest writes).
    pub size_bytes: u64,
    #[serde(default)]
    pub bus: DiskBus,
    /// A WWN (`0x` and 16 hex digits) for SCSI disks; none for virtio.
    #[serde(default)]
    pub wwn: Option<String>,
    /// Reported as a spinning disk.
    #[serde(default)]
    pub rotational: bool,
}

/// How the VM's first NIC reaches the world.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", tag = "mode")]
pub enum Network {
    /// qemu's user networking: the guest is 10.0.2.15 and reaches the host's loopback
    /// services at 10.0.2.2; VMs do not see each other.
    #[default]
    User,
    /// User networking, plus a second NIC on a virtual Ethernet segment shared by every VM
    /// given the same group (UDP multicast on loopback, no root needed), so VMs see each other.
    Shared {
        /// `ADDRESS:PORT` of the multicast group, e.g. `230.0.0.1:40000`.
        group: String,
    },
}

/// A VM-backed server: what the VM is.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VmSpec {
    pub cpus: u32,
    pub memory_mib: u32,
    pub disks: Vec<DiskSpec>,
    /// The firmware until a client sets a boot mode.
    pub firmware: Firmware,
    #[serde(default)]
    pub network: Network,
}

impl VmSpec {
    /// One vCPU, 512 MiB, UEFI, and disks of the given sizes in bytes with serial numbers
    /// derived from `name`.
    pub fn small(name: &str, disk_sizes: &[u64]) -> Self {
        Self {
            cpus: 1,
            memory_mib: 512,
            disks: disk_sizes
                .iter()
                .enumerate()
                .map(|(i, &size_bytes)| DiskSpec {
                    serial: default_serial(name, i),
                    size_bytes,
                    bus: DiskBus::Virtio,
                    wwn: None,
                    rotational: false,
                })
                .collect(),
            firmware: Firmware::Uefi,
            network: Network::User,
        }
    }

    /// What is wrong with this spec, naming the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.cpus == 0 {
            return Err("cpus must be at least 1".into());
        }
        if self.memory_mib < 128 {
            return Err(format!(
                "memoryMib {} is too small: a guest needs at least 128 MiB",
                self.memory_mib
            ));
        }
        if self.disks.is_empty() {
            return Err("disks must name at least one disk".into());
        }
        for (i, d) in self.disks.iter().enumerate() {
            if d.size_bytes < 1 << 20 {
                return Err(format!("disks[{i}].sizeBytes must be at least 1 MiB"));
            }
            let serial_ok = !d.serial.is_empty()
                && d.serial.len() <= 20
                && d.serial
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
            if !serial_ok {
                return Err(format!(
                    "disks[{i}].serial {:?} must be 1 to 20 letters, digits, '-' or '_'",
                    d.serial
                ));
            }
            if let Some(wwn) = &d.wwn {
                let hex = wwn.strip_prefix("0x").unwrap_or("");
                if hex.len() != 16 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(format!(
                        "disks[{i}].wwn {wwn:?} must be 0x followed by 16 hex digits"
                    ));
                }
                if d.bus != DiskBus::Scsi {
                    return Err(format!("disks[{i}].wwn needs bus scsi"));
                }
            }
        }
        if let Network::Shared { group } = &self.network
            && group
                .rsplit_once(':')
                .is_none_or(|(_, p)| p.parse::<u16>().is_err())
        {
            return Err(format!(
                "network.group {group:?} must be ADDRESS:PORT, e.g. 230.0.0.1:40000"
            ));
        }
        Ok(())
    }
}

/// The serial number of disk `index` of server `name` when none is given.
pub fn default_serial(name: &str, index: usize) -> String {
    let mut s: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(14)
        .collect();
    s.push_str(&format!("-D{index}"));
    s
}

/// Files of one VM, all in its own directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Files {
    pub dir: PathBuf,
}

impl Files {
    pub fn qmp(&self) -> PathBuf {
        self.dir.join("qmp.sock")
    }
    pub fn console(&self) -> PathBuf {
        self.dir.join("console.log")
    }
    pub fn disk(&self, index: usize) -> PathBuf {
        self.dir.join(format!("disk{index}.qcow2"))
    }
    /// The UEFI variables store (boot entries survive power cycles, as in NVRAM).
    pub fn uefi_vars(&self) -> PathBuf {
        self.dir.join("uefi-vars.fd")
    }
    pub fn media_cache(&self) -> PathBuf {
        self.dir.join("media")
    }
    pub fn qemu_log(&self) -> PathBuf {
        self.dir.join("qemu.log")
    }
}

/// Where the host's qemu and firmware are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Install {
    pub qemu: PathBuf,
    pub qemu_img: PathBuf,
    /// OVMF's code (read-only) and the pristine variables store copied for each VM.
    pub ovmf_code: PathBuf,
    pub ovmf_vars: PathBuf,
}

impl Default for Install {
    fn default() -> Self {
        Self {
            qemu: "qemu-system-x86_64".into(),
            qemu_img: "qemu-img".into(),
            ovmf_code: "/usr/share/OVMF/OVMF_CODE_4M.fd".into(),
            ovmf_vars: "/usr/share/OVMF/OVMF_VARS_4M.fd".into(),
        }
    }
}

/// Device ids the simulator addresses over QMP.
pub const CD: &str = "cd0";
pub const USB: &str = "usb0";
pub const HTTP_BOOT: &str = "httpboot0";
pub const NIC: &str = "nic0";

/// The device id of disk `index`.
pub fn disk_id(index: usize) -> String {
    format!("disk{index}")
}

/// The block backend (drive) id behind device `device`.
pub fn drive_of(device: &str) -> String {
    format!("{device}-drive")
}

/// qemu's arguments for a VM that starts paused (`-S`), stays alive when the guest powers off
/// (`-no-shutdown`, so power state and media survive), and is driven over QMP.
pub fn command_line(
    spec: &VmSpec,
    files: &Files,
    install: &Install,
    firmware: Firmware,
    accel: Accel,
    mac: &str,
) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
    let path = |p: &Path| p.display().to_string();
    push(&["-machine", &format!("q35,accel={}", accel.as_str())]);
    push(&[
        "-smp",
        &spec.cpus.to_string(),
        "-m",
        &spec.memory_mib.to_string(),
    ]);
    push(&["-display", "none", "-no-user-config", "-nodefaults"]);
    push(&["-S", "-no-shutdown"]);
    push(&[
        "-qmp",
        &format!("unix:{},server=on,wait=off", path(&files.qmp())),
    ]);
    push(&[
        "-chardev",
        &format!("file,id=console,path={},append=on", path(&files.console())),
        "-serial",
        "chardev:console",
    ]);
    if firmware == Firmware::Uefi {
        push(&[
            "-drive",
            &format!(
                "if=pflash,format=raw,unit=0,readonly=on,file={}",
                path(&install.ovmf_code)
            ),
            "-drive",
            &format!(
                "if=pflash,format=raw,unit=1,file={}",
                path(&files.uefi_vars())
            ),
        ]);
    }
    push(&["-device", "virtio-scsi-pci,id=scsi0"]);
    for (i, disk) in spec.disks.iter().enumerate() {
        let id = disk_id(i);
        push(&[
            "-drive",
            &format!(
                "if=none,id={},file={},format=qcow2,cache=unsafe,discard=unmap",
                drive_of(&id),
                path(&files.disk(i))
            ),
        ]);
        let device = match disk.bus {
            DiskBus::Virtio => format!(
                "virtio-blk-pci,id={id},drive={},serial={}",
                drive_of(&id),
                disk.serial
            ),
            DiskBus::Scsi => {
                let mut d = format!(
                    "scsi-hd,id={id},bus=scsi0.0,channel=0,scsi-id={i},lun=0,drive={},serial={},rotation_rate={}",
                    drive_of(&id),
                    disk.serial,
                    if disk.rotational { 7200 } else { 1 }
                );
                if let Some(wwn) = &disk.wwn {
                    d.push_str(&format!(",wwn={wwn}"));
                }
                d
            }
        };
        push(&["-device", &device]);
    }
    // Removable media start empty: the virtual CD, a UEFI HTTP boot image (presented as a RAM
    // disk would be), and a USB stick (a removable CD on USB).
    for (id, bus) in [(CD, "scsi0.0"), (HTTP_BOOT, "scsi0.0")] {
        push(&[
            "-drive",
            &format!("if=none,id={},media=cdrom,readonly=on", drive_of(id)),
            "-device",
            &format!("scsi-cd,id={id},bus={bus},drive={}", drive_of(id)),
        ]);
    }
    push(&[
        "-device",
        "qemu-xhci,id=xhci",
        "-device",
        "usb-bot,bus=xhci.0,id=usbbot",
        "-drive",
        &format!("if=none,id={},media=cdrom,readonly=on", drive_of(USB)),
        "-device",
        &format!("scsi-cd,id={USB},bus=usbbot.0,drive={}", drive_of(USB)),
    ]);
    push(&[
        "-netdev",
        "user,id=net0",
        "-device",
        &format!("virtio-net-pci,id={NIC},netdev=net0,mac={mac}"),
    ]);
    if let Network::Shared { group } = &spec.network {
        push(&[
            "-netdev",
            &format!("socket,id=net1,mcast={group},localaddr=127.0.0.1"),
            "-device",
            &format!("virtio-net-pci,id=nic1,netdev=net1,mac={}", second_mac(mac)),
        ]);
    }
    push(&["-device", "virtio-rng-pci"]);
    a
}

/// The MAC of a VM's second NIC: the first one with its last bit pair flipped.
pub fn second_mac(mac: &str) -> String {
    match mac.rsplit_once(':') {
        Some((head, last)) => {
            let byte = u8::from_str_radix(last, 16).unwrap_or(0) ^ 0x40;
            format!("{head}:{byte:02x}")
        }
        None => mac.to_string(),
    }
}

/// Boot indexes for a boot from `device`: that device first, then the disks, the CD and the
/// network, as a server's persistent boot order would have them. Devices not listed keep
/// no boot index.
pub fn boot_order(device: &BootDevice, disks: usize) -> Vec<(String, i64)> {
    let first: Vec<String> = match device {
        BootDevice::Cd => vec![CD.into()],
        BootDevice::Usb => vec![USB.into()],
        BootDevice::HttpBoot(_) => vec![HTTP_BOOT.into()],
        BootDevice::Network => vec![NIC.into()],
        BootDevice::Disk | BootDevice::Setup => Vec::new(),
    };
    let rest = (0..disks)
        .map(disk_id)
        .chain([CD.to_string(), NIC.to_string()]);
    let mut order: Vec<String> = first;
    for id in rest {
        if !order.contains(&id) {
            order.push(id);
        }
    }
    let mut out: Vec<(String, i64)> = order
        .into_iter()
        .enumerate()
        .map(|(i, id)| (id, i as i64))
        .collect();
    // The other removable devices boot only when chosen.
    for id in [USB, HTTP_BOOT] {
        if !out.iter().any(|(d, _)| d == id) {
            out.push((id.to_string(), -1));
        }
    }
    out
}

/// The power state of a VM in qemu run state `status` (`query-status`). A VM the simulator
/// stopped, or whose guest powered off (`-no-shutdown` keeps qemu alive), is Off; a running or
/// crashed one is On.
pub fn power_of(status: &str) -> Power {
    match status {
        "running" | "guest-panicked" | "internal-error" | "io-error" | "watchdog" => Power::On,
        _ => Power::Off,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> Files {
        Files {
            dir: PathBuf::from("/state/sim-0"),
        }
    }

    fn args(spec: &VmSpec, firmware: Firmware) -> String {
        command_line(
            spec,
            &files(),
            &Install::default(),
            firmware,
            Accel::Tcg,
            "52:54:00:00:00:01",
        )
        .join(" ")
    }

    #[test]
    fn command_line_has_every_device_and_option() {
        let mut spec = VmSpec::small("sim-0", &[1 << 30, 2 << 30]);
        spec.disks[1].bus = DiskBus::Scsi;
        spec.disks[1].wwn = Some("0x5000c500a1b2c3d4".into());
        let bios = args(&spec, Firmware::Bios);
        for want in [
            "-machine q35,accel=tcg",
            "-smp 1 -m 512",
            "-S -no-shutdown",
            "-qmp unix:/state/sim-0/qmp.sock,server=on,wait=off",
            "file,id=console,path=/state/sim-0/console.log,append=on",
            "file=/state/sim-0/disk0.qcow2,format=qcow2",
            "virtio-blk-pci,id=disk0,drive=disk0-drive,serial=sim0-D0",
            "scsi-hd,id=disk1,bus=scsi0.0,channel=0,scsi-id=1,lun=0,drive=disk1-drive,serial=sim0-D1,rotation_rate=1,wwn=0x5000c500a1b2c3d4",
            "scsi-cd,id=cd0,bus=scsi0.0,drive=cd0-drive",
            "scsi-cd,id=usb0,bus=usbbot.0,drive=usb0-drive",
            "virtio-net-pci,id=nic0,netdev=net0,mac=52:54:00:00:00:01",
        ] {
            assert!(bios.contains(want), "{want} missing from {bios}");
        }
        assert!(!bios.contains("pflash"), "SeaBIOS needs no flash");
        assert!(!bios.contains("mcast"));
        let uefi = args(&spec, Firmware::Uefi);
        assert!(uefi.contains("readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd"));
        assert!(uefi.contains("unit=1,file=/state/sim-0/uefi-vars.fd"));
        spec.network = Network::Shared {
            group: "230.0.0.1:40000".into(),
        };
        let shared = args(&spec, Firmware::Uefi);
        assert!(shared.contains("socket,id=net1,mcast=230.0.0.1:40000,localaddr=127.0.0.1"));
        assert!(shared.contains("mac=52:54:00:00:00:41"));
    }

    #[test]
    fn boot_order_puts_the_chosen_device_first() {
        type Row<'a> = (&'a str, BootDevice, &'a [(&'a str, i64)]);
        let cases: &[Row] = &[
            (
                "disk",
                BootDevice::Disk,
                &[
                    ("disk0", 0),
                    ("disk1", 1),
                    ("cd0", 2),
                    ("nic0", 3),
                    ("usb0", -1),
                    ("httpboot0", -1),
                ],
            ),
            (
                "cd",
                BootDevice::Cd,
                &[
                    ("cd0", 0),
                    ("disk0", 1),
                    ("disk1", 2),
                    ("nic0", 3),
                    ("usb0", -1),
                    ("httpboot0", -1),
                ],
            ),
            (
                "usb",
                BootDevice::Usb,
                &[
                    ("usb0", 0),
                    ("disk0", 1),
                    ("disk1", 2),
                    ("cd0", 3),
                    ("nic0", 4),
                    ("httpboot0", -1),
                ],
            ),
            (
                "pxe",
                BootDevice::Network,
                &[
                    ("nic0", 0),
                    ("disk0", 1),
                    ("disk1", 2),
                    ("cd0", 3),
                    ("usb0", -1),
                    ("httpboot0", -1),
                ],
            ),
            (
                "uefi http",
                BootDevice::HttpBoot("http://x/a.iso".into()),
                &[
                    ("httpboot0", 0),
                    ("disk0", 1),
                    ("disk1", 2),
                    ("cd0", 3),
                    ("nic0", 4),
                    ("usb0", -1),
                ],
            ),
        ];
        for (name, device, want) in cases {
            let got = boot_order(device, 2);
            let want: Vec<(String, i64)> = want.iter().map(|(d, i)| (d.to_string(), *i)).collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn power_follows_the_run_state() {
        for (status, power) in [
            ("running", Power::On),
            ("guest-panicked", Power::On),
            ("paused", Power::Off),
            ("shutdown", Power::Off),
            ("prelaunch", Power::Off),
        ] {
            assert_eq!(power_of(status), power, "{status}");
        }
    }

    #[test]
    fn specs_are_checked_field_by_field() {
        let good = VmSpec::small("sim-3", &[1 << 30]);
        assert_eq!(good.validate(), Ok(()));
        type Edit = Box<dyn Fn(&mut VmSpec)>;
        let cases: Vec<(&str, Edit, &str)> = vec![
            ("no cpus", Box::new(|s| s.cpus = 0), "cpus"),
            ("tiny memory", Box::new(|s| s.memory_mib = 64), "memoryMib"),
            ("no disks", Box::new(|s| s.disks.clear()), "disks"),
            (
                "tiny disk",
                Box::new(|s| s.disks[0].size_bytes = 10),
                "disks[0].sizeBytes",
            ),
            (
                "bad serial",
                Box::new(|s| s.disks[0].serial = "a b".into()),
                "disks[0].serial",
            ),
            (
                "bad wwn",
                Box::new(|s| {
                    s.disks[0].bus = DiskBus::Scsi;
                    s.disks[0].wwn = Some("5000".into());
                }),
                "disks[0].wwn",
            ),
            (
                "wwn on virtio",
                Box::new(|s| s.disks[0].wwn = Some("0x5000c500a1b2c3d4".into())),
                "needs bus scsi",
            ),
            (
                "bad group",
                Box::new(|s| {
                    s.network = Network::Shared {
                        group: "230.0.0.1".into(),
                    }
                }),
                "network.group",
            ),
        ];
        for (name, edit, field) in cases {
            let mut spec = good.clone();
            edit(&mut spec);
            let err = spec.validate().expect_err(name);
            assert!(err.contains(field), "{name}: {err}");
        }
    }

    #[test]
    fn firmware_follows_the_boot_mode() {
        assert_eq!(Firmware::from_boot_mode("Legacy"), Firmware::Bios);
        assert_eq!(Firmware::from_boot_mode("UEFI"), Firmware::Uefi);
        assert_eq!(Firmware::Bios.boot_mode(), "Legacy");
        assert_eq!(default_serial("sim-12", 1), "sim12-D1");
        assert_eq!(second_mac("52:54:00:00:00:ff"), "52:54:00:00:00:bf");
    }
}
