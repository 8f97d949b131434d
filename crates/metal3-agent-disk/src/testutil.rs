//! Helpers for the unit tests: disks as temp files, partitioned by Linux's own tools.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

pub const MIB: u64 = 1 << 20;

/// A file of `size` bytes partitioned by sfdisk with `script`.
pub fn sfdisk_disk(size: u64, script: &str) -> tempfile::NamedTempFile {
    let tmp = tempfile::NamedTempFile::new().expect("tmp");
    tmp.as_file().set_len(size).expect("len");
    let mut child = Command::new("sfdisk")
        .arg("--quiet")
        .arg(tmp.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("sfdisk (Debian package fdisk, see hack/vm/install.sh) must be installed");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(script.as_bytes())
        .expect("script");
    assert!(child.wait().expect("sfdisk").success());
    tmp
}

/// `sfdisk -d` of a disk.
pub fn sfdisk_dump(path: &Path) -> String {
    let out = Command::new("sfdisk")
        .arg("-d")
        .arg(path)
        .output()
        .expect("sfdisk -d");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// What blkid (low-level probing) finds at `offset` of `path`: `KEY=value` lines.
pub fn blkid_at(path: &Path, offset: u64) -> String {
    let out = Command::new("blkid")
        .args(["-p", "-o", "export", "-O", &offset.to_string()])
        .arg(path)
        .output()
        .expect("blkid");
    String::from_utf8_lossy(&out.stdout).into_owned()
}
