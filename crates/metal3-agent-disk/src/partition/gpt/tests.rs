use std::process::Command;

use super::*;
use crate::testutil::{MIB, sfdisk_disk, sfdisk_dump};

#[test]
fn adds_a_partition_at_the_end_of_a_grown_disk() {
    // An image of 48 MiB with one partition, written to a 200 MiB disk.
    let tmp = sfdisk_disk(48 * MIB, "label: gpt\nstart=2048, size=40960, type=U\n");
    let file = tmp.as_file();
    let disk = 200 * MIB;
    file.set_len(disk).expect("grow");
    let mut gpt = Gpt::read(file, disk).expect("read").expect("gpt");
    assert!(gpt.valid);
    assert_eq!(gpt.sector, 512);
    assert_eq!(gpt.backup_lba(), 48 * MIB / 512 - 1);
    assert_eq!(
        gpt.partitions(),
        vec![Extent {
            start: MIB,
            len: 20 * MIB
        }]
    );
    assert_eq!(
        gpt.backup_extent(),
        Some(Extent {
            start: 48 * MIB - 512,
            len: 512
        })
    );

    let linux = guid_bytes("0FC63DAF-8483-4772-8E79-3D69D8477DE4").expect("guid");
    assert_eq!(&linux[..4], &[0xaf, 0x3d, 0xc6, 0x0f]);
    let part = gpt
        .add_at_end(file, disk, linux, "config-2", 64 * MIB)
        .expect("add");
    // 33 sectors of backup at the end; the partition starts on a MiB boundary.
    assert_eq!(part.start, 136 * MIB);
    assert_eq!(part.start + part.len, disk - 33 * 512);
    assert!(part.len <= 64 * MIB);

    let again = Gpt::read(file, disk).expect("read").expect("gpt");
    assert!(again.valid, "checksums");
    assert_eq!(again.backup_lba(), disk / 512 - 1);
    assert_eq!(again.partitions().len(), 2);
    // The backup header at the disk's end is right too, and the old one is gone.
    let mut backup = vec![0u8; 512];
    file.read_exact_at(&mut backup, disk - 512).expect("backup");
    assert_eq!(&backup[..8], SIGNATURE);
    assert_eq!(le64(&backup, 24), disk / 512 - 1);
    assert_eq!(le64(&backup, 32), 1);
    let mut old = vec![0u8; 512];
    file.read_exact_at(&mut old, 48 * MIB - 512).expect("old");
    assert!(old.iter().all(|b| *b == 0));

    // What Linux's tools make of it.
    let dump = sfdisk_dump(tmp.path());
    assert!(
        dump.contains(&format!("last-lba: {}", disk / 512 - 34)),
        "{dump}"
    );
    assert!(
        dump.contains(
            "start=      278528, size=      131039, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4"
        ),
        "{dump}"
    );
    assert!(dump.contains("name=\"config-2\""), "{dump}");
    let verify = Command::new("sfdisk")
        .arg("--verify")
        .arg(tmp.path())
        .output()
        .expect("verify");
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}

#[test]
fn refuses_when_the_image_fills_the_disk() {
    let tmp = sfdisk_disk(48 * MIB, "label: gpt\nstart=2048, type=U\n");
    let file = tmp.as_file();
    let mut gpt = Gpt::read(file, 48 * MIB).expect("read").expect("gpt");
    let linux = guid_bytes("0FC63DAF-8483-4772-8E79-3D69D8477DE4").expect("guid");
    let err = gpt
        .add_at_end(file, 48 * MIB, linux, "config-2", 64 * MIB)
        .expect_err("full");
    assert!(matches!(err, AddError::NoRoom { .. }), "{err}");
}

#[test]
fn finds_no_gpt_on_mbr_or_blank_disks() {
    let tmp = sfdisk_disk(8 * MIB, "label: dos\nstart=2048, type=83\n");
    assert_eq!(Gpt::read(tmp.as_file(), 8 * MIB).expect("read"), None);
    let blank = tempfile::NamedTempFile::new().expect("tmp");
    blank.as_file().set_len(MIB).expect("len");
    assert_eq!(Gpt::read(blank.as_file(), MIB).expect("read"), None);
    assert_eq!(guid_bytes("nope"), None);
}
