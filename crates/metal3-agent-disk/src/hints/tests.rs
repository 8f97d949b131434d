use super::*;

fn disks() -> Vec<BlockDevice> {
    vec![
        BlockDevice {
            name: "/dev/sda".into(),
            size: 500 * GIB,
            model: "Samsung SSD 860".into(),
            vendor: "ATA".into(),
            serial: "S3Z9NB0K".into(),
            wwn: "0x5002538e40a1b2c3".into(),
            wwn_with_extension: "0x5002538e40a1b2c3".into(),
            rotational: false,
            hctl: "0:0:0:0".into(),
            by_path: "/dev/disk/by-path/pci-0000:00:1f.2-ata-1.0".into(),
            ..BlockDevice::default()
        },
        BlockDevice {
            name: "/dev/sdb".into(),
            size: 2000 * GIB,
            model: "ST2000DM008".into(),
            vendor: "SEAGATE ".into(),
            serial: "ZFL1ABCD".into(),
            wwn: "0x600508b1001c2ba5".into(),
            wwn_with_extension: "0x600508b1001c2ba5d1b2c3d4e5f60718".into(),
            wwn_vendor_extension: "0xd1b2c3d4e5f60718".into(),
            rotational: true,
            hctl: "1:0:0:0".into(),
            by_path: "/dev/disk/by-path/pci-0000:00:05.0-scsi-0:0:1:0".into(),
            ..BlockDevice::default()
        },
        BlockDevice {
            name: "/dev/vda".into(),
            size: 8 * GIB,
            vendor: "0x1af4".into(),
            serial: "vda-serial".into(),
            rotational: true,
            by_path: "/dev/disk/by-path/pci-0000:00:04.0".into(),
            ..BlockDevice::default()
        },
        BlockDevice {
            name: "/dev/vdb".into(),
            size: 3 * GIB,
            vendor: "0x1af4".into(),
            rotational: true,
            by_path: "/dev/disk/by-path/pci-0000:00:06.0".into(),
            ..BlockDevice::default()
        },
    ]
}

fn hints(f: impl FnOnce(&mut RootDeviceHints)) -> RootDeviceHints {
    let mut h = RootDeviceHints::default();
    f(&mut h);
    h
}

#[test]
fn every_given_hint_must_match() {
    let devices = disks();
    let cases: Vec<(&str, RootDeviceHints, Option<&str>)> = vec![
        (
            "name",
            hints(|h| h.device_name = "/dev/sdb".into()),
            Some("/dev/sdb"),
        ),
        (
            "name without /dev",
            hints(|h| h.device_name = "vda".into()),
            Some("/dev/vda"),
        ),
        (
            "name case",
            hints(|h| h.device_name = "/dev/SDA".into()),
            Some("/dev/sda"),
        ),
        (
            "by-path",
            hints(|h| h.device_name = "/dev/disk/by-path/pci-0000:00:04.0".into()),
            Some("/dev/vda"),
        ),
        (
            "by-path is exact",
            hints(|h| h.device_name = "/dev/disk/by-path/pci-0000:00".into()),
            None,
        ),
        (
            "hctl",
            hints(|h| h.hctl = "1:0:0:0".into()),
            Some("/dev/sdb"),
        ),
        ("hctl is exact", hints(|h| h.hctl = "1:0:0".into()), None),
        (
            "model substring",
            hints(|h| h.model = "ssd".into()),
            Some("/dev/sda"),
        ),
        (
            "model case",
            hints(|h| h.model = "st2000".into()),
            Some("/dev/sdb"),
        ),
        (
            "vendor substring trims",
            hints(|h| h.vendor = " seagate ".into()),
            Some("/dev/sdb"),
        ),
        (
            "vendor virtio",
            hints(|h| h.vendor = "0x1AF4".into()),
            Some("/dev/vda"),
        ),
        (
            "serial exact",
            hints(|h| h.serial_number = "zfl1abcd".into()),
            Some("/dev/sdb"),
        ),
        (
            "serial not substring",
            hints(|h| h.serial_number = "ZFL1".into()),
            None,
        ),
        (
            "wwn",
            hints(|h| h.wwn = "0x5002538e40a1b2c3".into()),
            Some("/dev/sda"),
        ),
        (
            "wwn with extension",
            hints(|h| h.wwn_with_extension = "0x600508b1001c2ba5d1b2c3d4e5f60718".into()),
            Some("/dev/sdb"),
        ),
        (
            "wwn vendor extension",
            hints(|h| h.wwn_vendor_extension = "0xD1B2C3D4E5F60718".into()),
            Some("/dev/sdb"),
        ),
        (
            "min size first fit",
            hints(|h| h.min_size_gigabytes = 8),
            Some("/dev/sda"),
        ),
        (
            "min size large",
            hints(|h| h.min_size_gigabytes = 1000),
            Some("/dev/sdb"),
        ),
        (
            "min size too large",
            hints(|h| h.min_size_gigabytes = 3000),
            None,
        ),
        (
            "rotational",
            hints(|h| h.rotational = Some(true)),
            Some("/dev/sdb"),
        ),
        (
            "not rotational",
            hints(|h| h.rotational = Some(false)),
            Some("/dev/sda"),
        ),
        (
            "two hints, both match",
            hints(|h| {
                h.rotational = Some(true);
                h.min_size_gigabytes = 4;
                h.vendor = "0x1af4".into();
            }),
            Some("/dev/vda"),
        ),
        (
            "two hints, one fails",
            hints(|h| {
                h.device_name = "/dev/vdb".into();
                h.min_size_gigabytes = 4;
            }),
            None,
        ),
        (
            "empty value on the disk never matches",
            hints(|h| h.model = "a".into()),
            Some("/dev/sda"),
        ),
        (
            "hctl absent on virtio",
            hints(|h| h.hctl = "".into()),
            Some("/dev/vda"),
        ),
        (
            "serial absent",
            hints(|h| h.serial_number = "nothing".into()),
            None,
        ),
        (
            "negative size means unset",
            hints(|h| h.min_size_gigabytes = -1),
            Some("/dev/vda"),
        ),
    ];
    for (what, h, want) in cases {
        let got = select_root(&devices, Some(&h))
            .ok()
            .map(|d| d.name.as_str());
        assert_eq!(got, want, "{what}");
    }
}

#[test]
fn without_hints_the_smallest_disk_of_at_least_4_gib() {
    let devices = disks();
    assert_eq!(select_root(&devices, None).expect("root").name, "/dev/vda");
    let empty = RootDeviceHints::default();
    assert_eq!(
        select_root(&devices, Some(&empty)).expect("root").name,
        "/dev/vda"
    );
    // Exactly 4 GiB qualifies; ties go to the first name.
    let mut d = disks();
    d[3].size = 4 * GIB;
    d[2].size = 4 * GIB;
    assert_eq!(select_root(&d, None).expect("root").name, "/dev/vda");
    let small = vec![
        d[3].clone(),
        BlockDevice {
            name: "/dev/vdz".into(),
            size: GIB,
            ..Default::default()
        },
    ];
    let mut small = small;
    small[0].size = 4 * GIB - 512;
    let err = select_root(&small, None).expect_err("too small");
    assert_eq!(
        err.to_string(),
        "no disk of at least 4 GiB on the host (seen: /dev/vdb 3.99 GiB, /dev/vdz 1.00 GiB): add a larger disk or give root device hints"
    );
    assert_eq!(select_root(&[], None), Err(HintError::NoDisks));
}

#[test]
fn no_match_says_what_each_disk_has() {
    let devices = disks();
    let h = hints(|h| {
        h.serial_number = "S-MISSING".into();
        h.min_size_gigabytes = 100;
    });
    let err = select_root(&devices, Some(&h)).expect_err("no match");
    let msg = err.to_string();
    assert!(msg.starts_with("no disk matches the root device hints (serialNumber = \"S-MISSING\", minSizeGigabytes >= 100): "), "{msg}");
    assert!(
        msg.contains("/dev/sda has serialNumber \"S3Z9NB0K\""),
        "{msg}"
    );
    assert!(
        msg.contains("/dev/vda has serialNumber \"vda-serial\", size 8.00 GiB"),
        "{msg}"
    );
    assert!(
        msg.contains("/dev/vdb has no serialNumber, size 3.00 GiB"),
        "{msg}"
    );
    assert!(
        msg.ends_with("Fix the BareMetalHost's rootDeviceHints"),
        "{msg}"
    );
}
