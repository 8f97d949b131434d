//! Memory: what the kernel manages (`/proc/meminfo`) and what is installed (the sizes of the
//! DMI type 17 "memory device" entries in `/sys/firmware/dmi/entries/17-*/raw`, as IPA takes
//! them from `dmidecode`).

use std::path::Path;

use metal3_agent_api::inventory::Memory;

const MIB: u64 = 1 << 20;

/// `MemTotal` of `/proc/meminfo`, in bytes.
pub fn total_bytes(meminfo: &str) -> u64 {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kib| kib * 1024)
}

/// The size in MiB of one DMI type 17 entry (`raw`: the structure as the firmware wrote
/// it); none for an empty slot or an unknown size.
pub fn device_mib(raw: &[u8]) -> Option<u64> {
    if raw.first() != Some(&17) || raw.len() < 0x0E {
        return None;
    }
    let size = u16::from_le_bytes([raw[0x0C], raw[0x0D]]);
    match size {
        0 | 0xFFFF => None,
        // The size is in the Extended Size field, in MiB.
        0x7FFF => {
            let ext = raw.get(0x1C..0x20)?;
            let mib = u32::from_le_bytes([ext[0], ext[1], ext[2], ext[3]]) & 0x7FFF_FFFF;
            (mib > 0).then_some(u64::from(mib))
        }
        // Bit 15 set: KiB.
        s if s & 0x8000 != 0 => Some(u64::from(s & 0x7FFF) / 1024),
        s => Some(u64::from(s)),
    }
}

/// The installed memory in MiB from the DMI entries under `<sys>/firmware/dmi/entries`;
/// none when there are none.
pub fn installed_mib(sys: &Path) -> Option<u64> {
    let entries = std::fs::read_dir(sys.join("firmware/dmi/entries")).ok()?;
    let total: u64 = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("17-"))
        .filter_map(|e| std::fs::read(e.path().join("raw")).ok())
        .filter_map(|raw| device_mib(&raw))
        .sum();
    (total > 0).then_some(total)
}

/// Memory as the inventory reports it: DMI's installed size, else the kernel's total
/// rounded up to a MiB.
pub fn read(meminfo: &str, sys: &Path) -> Memory {
    let total = total_bytes(meminfo);
    Memory {
        total,
        physical_mb: installed_mib(sys).unwrap_or(total.div_ceil(MIB)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A type 17 structure of `len` bytes with `size` in its Size field.
    pub(crate) fn entry(size: u16, extended: u32) -> Vec<u8> {
        let mut raw = vec![0u8; 0x28];
        raw[0] = 17;
        raw[1] = 0x28;
        raw[0x0C..0x0E].copy_from_slice(&size.to_le_bytes());
        raw[0x1C..0x20].copy_from_slice(&extended.to_le_bytes());
        raw
    }

    #[test]
    fn dmi_sizes_in_every_encoding() {
        assert_eq!(device_mib(&entry(1024, 0)), Some(1024));
        assert_eq!(device_mib(&entry(0x8000 | 512, 0)), Some(0), "512 KiB");
        assert_eq!(device_mib(&entry(0x8000 | 4096, 0)), Some(4));
        assert_eq!(device_mib(&entry(0x7FFF, 65536)), Some(65536), "extended");
        assert_eq!(device_mib(&entry(0, 0)), None, "empty slot");
        assert_eq!(device_mib(&entry(0xFFFF, 0)), None, "unknown");
        let mut other = entry(1024, 0);
        other[0] = 16;
        assert_eq!(device_mib(&other), None, "not a memory device");
        assert_eq!(device_mib(&[17, 4]), None, "truncated");
    }

    #[test]
    fn installed_memory_is_the_sum_of_the_devices_else_the_kernels_total() {
        let meminfo = "MemTotal:        1003448 kB\nMemFree:          900000 kB\n";
        assert_eq!(total_bytes(meminfo), 1_003_448 * 1024);
        let sys = tempfile::tempdir().expect("sys");
        assert_eq!(read(meminfo, sys.path()).physical_mb, 980, "rounded up");
        for (i, size) in [(0, 512u16), (1, 512), (2, 0)] {
            let dir = sys.path().join(format!("firmware/dmi/entries/17-{i}"));
            std::fs::create_dir_all(&dir).expect("dir");
            std::fs::write(dir.join("raw"), entry(size, 0)).expect("raw");
        }
        let bios = sys.path().join("firmware/dmi/entries/0-0");
        std::fs::create_dir_all(&bios).expect("dir");
        std::fs::write(bios.join("raw"), [0u8; 24]).expect("raw");
        assert_eq!(
            read(meminfo, sys.path()),
            Memory {
                total: 1_003_448 * 1024,
                physical_mb: 1024
            }
        );
    }
}
