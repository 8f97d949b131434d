use std::os::unix::fs::symlink;

use super::*;

/// A fake sysfs: files and links under a temp dir.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Self {
        Tree {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    fn file(&self, rel: &str, content: impl AsRef<[u8]>) {
        let path = self.dir.path().join("sys").join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(path, content).expect("write");
    }

    fn link(&self, rel: &str, target: &str) {
        let path = self.dir.path().join("sys").join(rel);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        symlink(target, path).expect("symlink");
    }

    /// A block device at `devpath` (under `devices/`), linked from `block/<name>`.
    fn disk(&self, devpath: &str, sectors: u64, extra: &[(&str, &str)]) {
        let name = devpath.rsplit('/').next().expect("name");
        self.file(&format!("devices/{devpath}/size"), format!("{sectors}\n"));
        for (attr, value) in extra {
            self.file(&format!("devices/{devpath}/{attr}"), value);
        }
        self.link(&format!("block/{name}"), &format!("../devices/{devpath}"));
    }

    fn roots(&self) -> Roots {
        Roots {
            sys: self.dir.path().join("sys"),
            dev: PathBuf::from("/dev"),
        }
    }
}

const GIB_SECTORS: u64 = 2 * 1024 * 1024;

#[test]
fn reads_virtio_scsi_and_nvme_disks_and_skips_the_rest() {
    let t = Tree::new();
    // virtio-blk: serial in the block directory, vendor is the PCI vendor of the virtio device.
    t.disk(
        "pci0000:00/0000:00:04.0/virtio1/block/vda",
        8 * GIB_SECTORS,
        &[
            ("serial", "vda-serial\n"),
            ("queue/rotational", "1\n"),
            ("removable", "0\n"),
            ("ro", "0\n"),
        ],
    );
    t.file("devices/pci0000:00/0000:00:04.0/virtio1/vendor", "0x1af4\n");
    t.link(
        "devices/pci0000:00/0000:00:04.0/virtio1/block/vda/device",
        "../../../virtio1",
    );

    // virtio-scsi disk with a 16-byte NAA WWN and a VPD serial.
    let scsi = "pci0000:00/0000:00:05.0/virtio2/host0/target0:0:1/0:0:1:0";
    t.disk(
        &format!("{scsi}/block/sda"),
        20 * GIB_SECTORS,
        &[("queue/rotational", "0")],
    );
    t.file(&format!("devices/{scsi}/model"), "QEMU HARDDISK   \n");
    t.file(&format!("devices/{scsi}/vendor"), "QEMU    \n");
    t.file(
        &format!("devices/{scsi}/wwid"),
        "naa.6001405ABCDEF0123456789ABCDEF012\n",
    );
    let mut vpd = vec![0u8, 0x80, 0, 8];
    vpd.extend_from_slice(b"SCSI-S1 ");
    t.file(&format!("devices/{scsi}/vpd_pg80"), vpd);
    t.file(&format!("devices/{scsi}/scsi_device/0:0:1:0/dev"), "21:0");
    t.link(
        &format!("devices/{scsi}/block/sda/device"),
        "../../../0:0:1:0",
    );

    // NVMe namespace: serial and model on the controller, wwid on the namespace.
    let nvme = "pci0000:00/0000:00:06.0/nvme/nvme0";
    t.disk(
        &format!("{nvme}/nvme0n1"),
        4 * GIB_SECTORS,
        &[("wwid", "eui.0123456789abcdef"), ("nsid", "1")],
    );
    t.file(&format!("devices/{nvme}/serial"), "NVME-S1   \n");
    t.file(&format!("devices/{nvme}/model"), "QEMU NVMe Ctrl\n");
    t.link(&format!("devices/{nvme}/nvme0n1/device"), "../../nvme0");

    // Never install targets.
    t.disk("virtual/block/loop0", GIB_SECTORS, &[]);
    t.disk("virtual/block/ram0", GIB_SECTORS, &[]);
    t.disk("virtual/block/zram0", GIB_SECTORS, &[]);
    t.disk(
        "pci0000:00/0000:00:01.1/ata1/host1/target1:0:0/1:0:0:0/block/sr0",
        GIB_SECTORS,
        &[],
    );
    t.disk(
        "pci0000:00/0000:00:09.0/virtio5/block/vdb",
        GIB_SECTORS,
        &[("removable", "1")],
    );
    t.disk(
        "pci0000:00/0000:00:0a.0/virtio6/block/vdc",
        GIB_SECTORS,
        &[("ro", "1")],
    );
    t.disk("pci0000:00/0000:00:0b.0/virtio7/block/vdd", 0, &[]);

    let devices = block_devices(&t.roots()).expect("block devices");
    let names: Vec<&str> = devices.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(names, ["/dev/nvme0n1", "/dev/sda", "/dev/vda"]);

    let nvme0 = &devices[0];
    assert_eq!(nvme0.path, PathBuf::from("/dev/nvme0n1"));
    assert_eq!(nvme0.size, 4 << 30);
    assert_eq!(nvme0.serial, "NVME-S1");
    assert_eq!(nvme0.model, "QEMU NVMe Ctrl");
    assert_eq!(nvme0.wwn, "eui.0123456789abcdef");
    assert_eq!(nvme0.hctl, "");
    assert_eq!(nvme0.by_path, "/dev/disk/by-path/pci-0000:00:06.0-nvme-1");
    assert!(!nvme0.rotational);

    let sda = &devices[1];
    assert_eq!(sda.size, 20 << 30);
    assert_eq!(sda.model, "QEMU HARDDISK");
    assert_eq!(sda.vendor, "QEMU");
    assert_eq!(sda.serial, "SCSI-S1");
    assert_eq!(sda.wwn, "0x6001405abcdef012");
    assert_eq!(sda.wwn_with_extension, "0x6001405abcdef0123456789abcdef012");
    assert_eq!(sda.wwn_vendor_extension, "0x3456789abcdef012");
    assert_eq!(sda.hctl, "0:0:1:0");
    assert_eq!(
        sda.by_path,
        "/dev/disk/by-path/pci-0000:00:05.0-scsi-0:0:1:0"
    );

    let vda = &devices[2];
    assert_eq!(vda.size, 8 << 30);
    assert_eq!(vda.serial, "vda-serial");
    assert_eq!(vda.vendor, "0x1af4");
    assert_eq!(vda.model, "");
    assert_eq!(vda.wwn, "");
    assert!(vda.rotational);
    assert_eq!(vda.hctl, "");
    assert_eq!(vda.by_path, "/dev/disk/by-path/pci-0000:00:04.0");
}

#[test]
fn wwids_split_as_udev_does() {
    let cases = [
        (
            "sda",
            "naa.5000c500a1b2c3d4",
            ("0x5000c500a1b2c3d4", "0x5000c500a1b2c3d4", ""),
        ),
        (
            "sdb",
            "naa.600508b1001c2ba5d1b2c3d4e5f60718",
            (
                "0x600508b1001c2ba5",
                "0x600508b1001c2ba5d1b2c3d4e5f60718",
                "0xd1b2c3d4e5f60718",
            ),
        ),
        (
            "sdc",
            "t10.ATA     QEMU HARDDISK                           QM00001",
            ("", "", ""),
        ),
        ("sdd", "naa.zz", ("", "", "")),
        (
            "nvme0n1",
            "nvme.1b36-31323334-51454d55-00000001",
            (
                "nvme.1b36-31323334-51454d55-00000001",
                "nvme.1b36-31323334-51454d55-00000001",
                "",
            ),
        ),
    ];
    for (kname, wwid, (wwn, with, ext)) in cases {
        let got = parse_wwid(kname, wwid);
        assert_eq!(got, (wwn.into(), with.into(), ext.into()), "{wwid}");
    }
}

#[test]
fn vpd_serials() {
    assert_eq!(
        serial_from_vpd80(&[0, 0x80, 0, 3, b'A', b'B', b'C']).as_deref(),
        Some("ABC")
    );
    assert_eq!(
        serial_from_vpd80(&[0, 0x80, 0, 9, b' ', b'X', 0]).as_deref(),
        Some("X")
    );
    assert_eq!(serial_from_vpd80(&[0, 0x83, 0, 1, b'A']), None);
    assert_eq!(serial_from_vpd80(&[0, 0x80]), None);
}
