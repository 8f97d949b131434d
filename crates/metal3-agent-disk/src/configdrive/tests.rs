use std::io::{Cursor, Read};
use std::process::Command;

use serde_json::json;

use super::*;
use crate::testutil::{blkid_at, sfdisk_disk, sfdisk_dump};

fn drive() -> ConfigDrive {
    ConfigDrive {
        meta_data: json!({"uuid": "u-1", "hostname": "node-0", "name": "node-0"}),
        user_data: Some("#cloud-config\nruncmd: [echo hello]\n".into()),
        network_data: Some(json!({"links": [], "networks": [], "services": []})),
    }
}

/// The partition's file system checked by dosfstools, read-only.
fn fsck(path: &std::path::Path, part: Extent) {
    let data = {
        let f = std::fs::File::open(path).expect("open");
        let mut buf = vec![0u8; part.len as usize];
        f.read_exact_at(&mut buf, part.start).expect("read");
        buf
    };
    let copy = tempfile::NamedTempFile::new().expect("tmp");
    std::fs::write(copy.path(), data).expect("write");
    let out = Command::new("fsck.vfat")
        .arg("-n")
        .arg(copy.path())
        .output()
        .expect("fsck.vfat (Debian package dosfstools) must be installed");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The label and the files under `openstack/latest`, read by the fatfs crate.
fn read_back(file: &File, part: Extent) -> (String, Vec<(String, Vec<u8>)>) {
    let mut bytes = vec![0u8; part.len as usize];
    file.read_exact_at(&mut bytes, part.start).expect("read");
    let fs = fatfs::FileSystem::new(Cursor::new(bytes), fatfs::FsOptions::new()).expect("fat");
    let label = fs
        .read_volume_label_from_root_dir()
        .expect("label")
        .unwrap_or_default();
    let mut files = Vec::new();
    for entry in fs
        .root_dir()
        .open_dir("openstack/latest")
        .expect("latest")
        .iter()
    {
        let entry = entry.expect("entry");
        if entry.is_file() {
            let mut content = Vec::new();
            entry.to_file().read_to_end(&mut content).expect("content");
            files.push((entry.file_name(), content));
        }
    }
    files.sort();
    assert_eq!(
        fs.volume_label().trim_end(),
        label.trim_end(),
        "boot sector label"
    );
    (label.trim_end().to_string(), files)
}

fn check(path: &std::path::Path, file: &File, part: Extent) {
    let (label, files) = read_back(file, part);
    assert_eq!(label, "config-2");
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["meta_data.json", "network_data.json", "user_data"]);
    let meta: serde_json::Value = serde_json::from_slice(&files[0].1).expect("json");
    assert_eq!(meta["hostname"], "node-0");
    assert_eq!(files[2].1, b"#cloud-config\nruncmd: [echo hello]\n");
    let probe = blkid_at(path, part.start);
    assert!(probe.contains("LABEL=config-2"), "{probe}");
    assert!(probe.contains("TYPE=vfat"), "{probe}");
    fsck(path, part);
}

#[test]
fn mbr_disks_get_a_new_primary_partition() {
    let tmp = sfdisk_disk(
        48 * MIB,
        "label: dos\nstart=2048, size=94208, type=c, bootable\n",
    );
    let file = tmp.as_file();
    let disk = 300 * MIB;
    file.set_len(disk).expect("grow");
    let part = write(file, disk, 48 * MIB, &drive()).expect("config drive");
    assert_eq!(
        part,
        Extent {
            start: 236 * MIB,
            len: 64 * MIB
        }
    );
    check(tmp.path(), file, part);
    let dump = sfdisk_dump(tmp.path());
    assert!(
        dump.contains("start=      483328, size=      131072, type=c"),
        "{dump}"
    );
}

#[test]
fn gpt_disks_get_the_backup_moved_and_a_partition() {
    let tmp = sfdisk_disk(48 * MIB, "label: gpt\nstart=2048, size=94208, type=U\n");
    let file = tmp.as_file();
    let disk = 8 << 30;
    file.set_len(disk).expect("grow");
    let part = write(file, disk, 48 * MIB, &drive()).expect("config drive");
    assert!(part.len <= CONFIG_DRIVE_MAX && part.len > 62 * MIB);
    assert_eq!(part.start % MIB, 0);
    check(tmp.path(), file, part);
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
fn without_user_or_network_data_only_meta_data() {
    let tmp = sfdisk_disk(16 * MIB, "label: gpt\nstart=2048, size=8192, type=U\n");
    let file = tmp.as_file();
    file.set_len(128 * MIB).expect("grow");
    let bare = ConfigDrive {
        meta_data: json!({"hostname": "h"}),
        user_data: None,
        network_data: None,
    };
    let part = write(file, 128 * MIB, 16 * MIB, &bare).expect("config drive");
    let (_, files) = read_back(file, part);
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].0, "meta_data.json");
}

#[test]
fn refusals() {
    // No partition table: a bare file system image.
    let blank = tempfile::NamedTempFile::new().expect("tmp");
    blank.as_file().set_len(256 * MIB).expect("len");
    let err = write(blank.as_file(), 256 * MIB, 48 * MIB, &drive()).expect_err("no table");
    assert!(matches!(err, ConfigDriveError::NoTable), "{err}");
    // The image fills the disk.
    let tmp = sfdisk_disk(48 * MIB, "label: dos\nstart=2048, type=83\n");
    let err = write(tmp.as_file(), 48 * MIB, 48 * MIB, &drive()).expect_err("no room");
    assert!(matches!(err, ConfigDriveError::NoRoom { .. }), "{err}");
    // Four primary partitions.
    let tmp = sfdisk_disk(
        48 * MIB,
        "label: dos\nsize=8192\nsize=8192\nsize=8192\nsize=8192\n",
    );
    tmp.as_file().set_len(256 * MIB).expect("grow");
    let err = write(tmp.as_file(), 256 * MIB, 48 * MIB, &drive()).expect_err("full");
    assert!(
        err.to_string().contains("all four primary partitions"),
        "{err}"
    );
}
