//! What the agent does because it is PID 1 of the ramdisk: mount the kernel's file systems,
//! keep the console on standard output and error, load the kernel modules the image
//! carries, name the host, and reap children (the [`reaper`]). Run as a normal process the
//! agent does none of this.

pub mod reaper;

use std::ffi::CString;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::kmod::{ModuleInitFlags, finit_module};
use nix::mount::{MsFlags, mount};

use crate::console;

/// Whether this process is PID 1 (the kernel started it as `/init`).
pub fn is_pid1() -> bool {
    std::process::id() == 1
}

/// The file systems PID 1 mounts: source, target, type, flags.
const MOUNTS: [(&str, &str, &str, MsFlags); 5] = [
    (
        "proc",
        "/proc",
        "proc",
        MsFlags::MS_NOSUID
            .union(MsFlags::MS_NODEV)
            .union(MsFlags::MS_NOEXEC),
    ),
    (
        "sysfs",
        "/sys",
        "sysfs",
        MsFlags::MS_NOSUID
            .union(MsFlags::MS_NODEV)
            .union(MsFlags::MS_NOEXEC),
    ),
    ("devtmpfs", "/dev", "devtmpfs", MsFlags::MS_NOSUID),
    (
        "tmpfs",
        "/tmp",
        "tmpfs",
        MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
    ),
    (
        "tmpfs",
        "/run",
        "tmpfs",
        MsFlags::MS_NOSUID.union(MsFlags::MS_NODEV),
    ),
];

/// Mounts proc, sysfs, devtmpfs and tmpfs on `/tmp` and `/run`; says on the console what
/// failed (one already mounted is fine).
pub fn mount_filesystems() {
    for (source, target, fstype, flags) in MOUNTS {
        if let Err(e) = std::fs::create_dir_all(target) {
            console::error(format!("cannot create {target}: {e}"));
            continue;
        }
        match mount(Some(source), target, Some(fstype), flags, None::<&str>) {
            Ok(()) | Err(Errno::EBUSY) => {}
            Err(e) => console::error(format!("cannot mount {fstype} on {target}: {e}")),
        }
    }
}

/// Points standard input, output and error at `/dev/console`, so that what the agent prints
/// reaches the console the kernel was told about (`console=ttyS0`) even when the kernel
/// started `/init` without one.
pub fn attach_console() {
    let Ok(console) = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/console")
    else {
        return;
    };
    let _ = nix::unistd::dup2_stdin(&console);
    let _ = nix::unistd::dup2_stdout(&console);
    let _ = nix::unistd::dup2_stderr(&console);
}

/// Sets the kernel's host name (the inventory reports it).
pub fn set_hostname(name: &str) {
    if let Err(e) = nix::unistd::sethostname(name) {
        console::error(format!("cannot set the host name to {name}: {e}"));
    }
}

/// The modules `modules.load` lists, in order: one path per line, relative to `root` (a
/// leading `/` is allowed); blank lines and `#` comments are skipped.
pub fn module_list(root: &Path, text: &str) -> Vec<PathBuf> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| root.join(l.trim_start_matches('/')))
        .collect()
}

/// What loading the image's modules did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ModulesLoaded {
    pub loaded: usize,
    /// Already in the kernel (built in or loaded before).
    pub present: usize,
    /// `path: reason` for each module that failed.
    pub failed: Vec<String>,
}

/// Loads the modules `<root>/modules.load` lists, in order, with `finit_module(2)`. A missing
/// list loads nothing (a kernel with everything built in).
pub fn load_modules(root: &Path) -> ModulesLoaded {
    let mut report = ModulesLoaded::default();
    let Ok(text) = std::fs::read_to_string(root.join("modules.load")) else {
        return report;
    };
    let no_params = CString::default();
    for path in module_list(root, &text) {
        let result = std::fs::File::open(&path)
            .map_err(|e| e.to_string())
            .and_then(|file| {
                finit_module(&file, &no_params, ModuleInitFlags::empty()).map_err(|e| {
                    if e == Errno::EEXIST {
                        "EEXIST".into()
                    } else {
                        e.to_string()
                    }
                })
            });
        match result {
            Ok(()) => report.loaded += 1,
            Err(e) if e == "EEXIST" => report.present += 1,
            Err(e) => report.failed.push(format!("{}: {e}", path.display())),
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_module_list_keeps_its_order_and_roots_each_path() {
        let text = "/lib/modules/6.1/kernel/drivers/virtio/virtio.ko\n\n# a comment\n  lib/modules/6.1/kernel/fs/isofs/isofs.ko  \n";
        assert_eq!(
            module_list(Path::new("/"), text),
            vec![
                PathBuf::from("/lib/modules/6.1/kernel/drivers/virtio/virtio.ko"),
                PathBuf::from("/lib/modules/6.1/kernel/fs/isofs/isofs.ko"),
            ]
        );
        assert_eq!(
            module_list(Path::new("/tmp/root"), "/a.ko"),
            vec![PathBuf::from("/tmp/root/a.ko")]
        );
    }

    #[test]
    fn a_module_that_cannot_be_opened_is_reported_and_the_rest_still_load() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(
            dir.path().join("modules.load"),
            "/missing-a.ko\n/missing-b.ko\n",
        )
        .expect("write");
        let report = load_modules(dir.path());
        assert_eq!(report.loaded, 0);
        assert_eq!(report.failed.len(), 2, "{report:?}");
        assert!(report.failed[0].contains("missing-a.ko"), "{report:?}");
        let none = tempfile::tempdir().expect("dir");
        assert_eq!(load_modules(none.path()), ModulesLoaded::default());
    }
}
