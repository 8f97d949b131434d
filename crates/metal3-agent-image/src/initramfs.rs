//! The agent's initramfs: a gzip'd `newc` cpio archive with the agent as `/init`, the kernel
//! modules and their load order (`/modules.load`), custom deploy steps, and the mount points
//! PID 1 uses. Deterministic: the same inputs give the same bytes.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use flate2::Compression;
use flate2::write::GzEncoder;
use metal3_agent_api::bootimage::Cpio;

use crate::{ImageError, Inputs, io_error};

/// Directories every image has (mount points and the agent's own).
const DIRS: [&str; 9] = [
    "dev",
    "proc",
    "sys",
    "tmp",
    "run",
    "etc",
    "usr",
    "usr/lib",
    "usr/lib/metal3-agent",
];

/// `/etc/hosts` of the ramdisk.
const HOSTS: &[u8] = b"127.0.0.1 localhost\n::1 localhost\n";

/// Where custom deploy steps go in the image.
pub const STEPS: &str = "usr/lib/metal3-agent/steps";

fn read(path: &Path) -> Result<Vec<u8>, ImageError> {
    std::fs::read(path).map_err(io_error(path))
}

/// Adds the tree under `dir` as `prefix/…` (directories before what they hold, names in
/// order), keeping each file's executable bits.
fn add_tree(cpio: &mut Cpio, dir: &Path, prefix: &str) -> Result<(), ImageError> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .map_err(io_error(dir))?
        .collect::<Result<_, _>>()
        .map_err(io_error(dir))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().to_string();
        let dest = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let meta = std::fs::metadata(&path).map_err(io_error(&path))?;
        if meta.is_dir() {
            cpio.dir(&dest, 0o755);
            add_tree(cpio, &path, &dest)?;
        } else if meta.is_file() {
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            cpio.file(&dest, mode, &read(&path)?);
        }
    }
    Ok(())
}

/// The uncompressed archive.
pub fn archive(inputs: &Inputs) -> Result<Vec<u8>, ImageError> {
    let mut cpio = Cpio::default();
    for dir in DIRS {
        cpio.dir(dir, 0o755);
    }
    cpio.file("init", 0o755, &read(&inputs.agent)?);
    // The agent resolves names itself; `localhost` is the only name it knows without DNS.
    cpio.file("etc/hosts", 0o644, HOSTS);
    let modules = inputs.kernel_dir.join("modules");
    if modules.is_dir() {
        add_tree(&mut cpio, &modules, "")?;
        let list = inputs.kernel_dir.join("modules.load");
        cpio.file("modules.load", 0o644, &read(&list)?);
    }
    cpio.dir(STEPS, 0o755);
    if let Some(steps) = &inputs.steps {
        if !steps.is_dir() {
            return Err(ImageError::Input(format!(
                "--steps {} is not a directory",
                steps.display()
            )));
        }
        add_tree(&mut cpio, steps, STEPS)?;
    }
    Ok(cpio.finish())
}

/// The gzip'd archive, as the kernel unpacks it.
pub fn build(inputs: &Inputs) -> Result<Vec<u8>, ImageError> {
    let archive = archive(inputs)?;
    let mut gz = GzEncoder::new(Vec::with_capacity(archive.len() / 2), Compression::new(6));
    let compressed = gz
        .write_all(&archive)
        .and_then(|()| gz.finish())
        .map_err(io_error(Path::new("<initramfs>")))?;
    Ok(compressed)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    /// The names in a newc archive, in order, with their modes.
    fn names(archive: &[u8]) -> Vec<(String, u32)> {
        let mut out = Vec::new();
        let mut at = 0;
        while at + 110 <= archive.len() {
            let field = |i: usize| {
                let text = std::str::from_utf8(&archive[at + 6 + i * 8..at + 14 + i * 8])
                    .expect("hex field");
                u32::from_str_radix(text, 16).expect("hex")
            };
            let (mode, size, namesize) = (field(1), field(6) as usize, field(11) as usize);
            let name =
                String::from_utf8_lossy(&archive[at + 110..at + 110 + namesize - 1]).to_string();
            if name == "TRAILER!!!" {
                break;
            }
            out.push((name, mode));
            at = (at + 110 + namesize).next_multiple_of(4);
            at = (at + size).next_multiple_of(4);
        }
        out
    }

    #[test]
    fn the_agent_is_init_and_modules_and_steps_keep_their_layout() {
        let dir = tempfile::tempdir().expect("dir");
        let kernel = dir.path().join("kernel");
        let ko = kernel.join("modules/lib/modules/6.1/kernel/drivers/virtio");
        std::fs::create_dir_all(&ko).expect("dirs");
        std::fs::write(ko.join("virtio.ko"), b"\x7fELF module").expect("ko");
        std::fs::write(
            kernel.join("modules.load"),
            "/lib/modules/6.1/kernel/drivers/virtio/virtio.ko\n",
        )
        .expect("list");
        let agent = dir.path().join("metal3-agent");
        std::fs::write(&agent, b"\x7fELF agent").expect("agent");
        let steps = dir.path().join("steps");
        std::fs::create_dir_all(&steps).expect("steps");
        std::fs::write(steps.join("hello"), b"#!/bin/sh\necho hi\n").expect("step");
        std::fs::set_permissions(steps.join("hello"), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let inputs = Inputs {
            kernel_dir: kernel,
            agent,
            steps: Some(steps),
        };
        let archive = archive(&inputs).expect("archive");
        let listed = names(&archive);
        let mode = |n: &str| {
            listed
                .iter()
                .find(|(name, _)| name == n)
                .map(|(_, m)| *m)
                .unwrap_or_else(|| panic!("{n} not in {listed:?}"))
        };
        assert_eq!(mode("init"), 0o100755);
        assert_eq!(mode("modules.load"), 0o100644);
        assert_eq!(mode("etc/hosts"), 0o100644);
        assert_eq!(mode("lib"), 0o040755);
        assert_eq!(
            mode("lib/modules/6.1/kernel/drivers/virtio/virtio.ko"),
            0o100644
        );
        assert_eq!(mode("usr/lib/metal3-agent/steps/hello"), 0o100755);
        let position = |n: &str| listed.iter().position(|(name, _)| name == n);
        assert!(
            position("lib/modules") < position("lib/modules/6.1"),
            "parents first"
        );

        let gz = build(&inputs).expect("gz");
        let mut unpacked = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut unpacked)
            .expect("gunzip");
        assert_eq!(unpacked, archive);
        assert_eq!(build(&inputs).expect("again"), gz, "deterministic");

        let no_steps = Inputs {
            steps: Some(dir.path().join("nope")),
            ..inputs
        };
        assert!(super::archive(&no_steps).is_err());
    }
}
