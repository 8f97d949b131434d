//! Small readers of `/sys` and `/proc` files under a root that tests replace with a tree of
//! their own.

use std::path::Path;

/// The file's content without surrounding white space; none when it cannot be read or is
/// empty.
pub fn read_trimmed(path: &Path) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// The names of the physical NICs in `<sys>/class/net` (those with a `device`), sorted.
pub fn physical_nics(sys: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(sys.join("class/net")) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().join("device").exists())
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// The MAC of NIC `name`, lower case.
pub fn nic_mac(sys: &Path, name: &str) -> Option<String> {
    read_trimmed(&sys.join("class/net").join(name).join("address")).map(|m| m.to_ascii_lowercase())
}

/// Whether NIC `name` has a link (reading `carrier` fails while it is down).
pub fn nic_carrier(sys: &Path, name: &str) -> bool {
    read_trimmed(&sys.join("class/net").join(name).join("carrier")).as_deref() == Some("1")
}
