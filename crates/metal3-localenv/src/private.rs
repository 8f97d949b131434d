//! Files that hold keys or credentials (private keys, kubeconfigs, manifests with BMC
//! passwords): written readable by their owner only (0600), in directories only their owner
//! can enter (0700). An existing file or directory gets those modes too.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Writes `content` to `path`, mode 0600.
pub fn write(path: &Path, content: impl AsRef<[u8]>) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    // `mode` applies only when the file is created; a file from an older run is fixed here.
    file.set_permissions(Permissions::from_mode(0o600))?;
    file.write_all(content.as_ref())
}

/// Creates `dir` and its missing parents; `dir` itself gets mode 0700.
pub fn create_dir(dir: &Path) -> std::io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    std::fs::set_permissions(dir, Permissions::from_mode(0o700))
}

/// Copies `from` to `to`, which gets mode 0600.
pub fn copy(from: &Path, to: &Path) -> std::io::Result<()> {
    write(to, std::fs::read(from)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path)
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    }

    #[test]
    fn keys_and_their_directories_are_private_also_when_they_existed() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("state");
        std::fs::create_dir(&dir).expect("mkdir");
        std::fs::set_permissions(&dir, Permissions::from_mode(0o755)).expect("chmod");
        create_dir(&dir).expect("private dir");
        assert_eq!(mode(&dir), 0o700);
        let key = dir.join("admin.key");
        std::fs::write(&key, "old").expect("write");
        std::fs::set_permissions(&key, Permissions::from_mode(0o644)).expect("chmod");
        write(&key, "new").expect("private write");
        assert_eq!(mode(&key), 0o600);
        assert_eq!(std::fs::read_to_string(&key).expect("read"), "new");
        let copied = dir.join("kubeconfig");
        copy(&key, &copied).expect("copy");
        assert_eq!(mode(&copied), 0o600);
    }
}
