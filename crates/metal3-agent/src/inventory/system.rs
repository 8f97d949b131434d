//! The system as DMI names it (`/sys/class/dmi/id`), the boot mode (`/sys/firmware/efi`)
//! and the host name (`/proc/sys/kernel/hostname`).

use std::path::Path;

use metal3_agent_api::inventory::{Firmware, SystemVendor};

use crate::sysfs::read_trimmed;

/// The system's vendor, product, serial and firmware from DMI.
pub fn vendor(sys: &Path) -> SystemVendor {
    let id = sys.join("class/dmi/id");
    let read = |f: &str| read_trimmed(&id.join(f)).unwrap_or_default();
    SystemVendor {
        product_name: read("product_name"),
        serial_number: read("product_serial"),
        manufacturer: read("sys_vendor"),
        firmware: Firmware {
            vendor: read("bios_vendor"),
            version: read("bios_version"),
            build_date: read("bios_date"),
        },
    }
}

/// `uefi` when the firmware is UEFI, else `bios`.
pub fn boot_mode(sys: &Path) -> &'static str {
    if sys.join("firmware/efi").is_dir() {
        "uefi"
    } else {
        "bios"
    }
}

/// The kernel's host name.
pub fn hostname(proc: &Path) -> String {
    read_trimmed(&proc.join("sys/kernel/hostname")).unwrap_or_default()
}
