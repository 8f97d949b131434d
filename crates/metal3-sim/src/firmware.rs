//! A simulated server's firmware: component versions, and updates from `SimpleUpdate`.
//!
//! The component and version an image holds are read from its file name, so tests script them:
//! `…/bmc-2.1.0.bin` updates the BMC to 2.1.0, `…/nic-22.31.6.fw` the NIC, anything else the
//! BIOS (`…/bios-1.4.2.exe`, or `…/update.bin` which bumps the last number). The BMC flashes
//! itself at once; BIOS and NIC updates are staged and take effect on the next boot, as on
//! most servers.

/// Updatable components.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Component {
    Bios,
    Bmc,
    Nic,
}

pub const COMPONENTS: [Component; 3] = [Component::Bios, Component::Bmc, Component::Nic];

impl Component {
    /// The inventory id (`/UpdateService/FirmwareInventory/<id>` on a one-server BMC).
    pub fn id(self) -> &'static str {
        match self {
            Self::Bios => "BIOS",
            Self::Bmc => "BMC",
            Self::Nic => "NIC",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Bios => "System BIOS",
            Self::Bmc => "BMC Firmware",
            Self::Nic => "Network Adapter Firmware",
        }
    }

    pub fn parse(id: &str) -> Option<Self> {
        COMPONENTS
            .into_iter()
            .find(|c| c.id().eq_ignore_ascii_case(id))
    }

    /// Whether the update waits for the server to boot.
    pub fn needs_boot(self) -> bool {
        self != Self::Bmc
    }
}

/// Versions now, and updates waiting for the next boot.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Firmware {
    pub bios: String,
    pub bmc: String,
    pub nic: String,
    pub pending: Vec<(Component, String)>,
}

impl Default for Firmware {
    fn default() -> Self {
        Self {
            bios: "1.0.0".into(),
            bmc: "1.0.0".into(),
            nic: "20.0.0".into(),
            pending: Vec::new(),
        }
    }
}

impl Firmware {
    pub fn version(&self, c: Component) -> &str {
        match c {
            Component::Bios => &self.bios,
            Component::Bmc => &self.bmc,
            Component::Nic => &self.nic,
        }
    }

    fn set(&mut self, c: Component, version: String) {
        match c {
            Component::Bios => self.bios = version,
            Component::Bmc => self.bmc = version,
            Component::Nic => self.nic = version,
        }
    }

    /// Takes an image: what it updates and to which version. The BMC is flashed at once;
    /// other components are staged.
    pub fn update(&mut self, image_uri: &str) -> Result<(Component, String), String> {
        let file = image_uri
            .split_once("://")
            .map(|(_, rest)| rest.split(['?', '#']).next().unwrap_or(""))
            .and_then(|rest| rest.split_once('/'))
            .map(|(_, path)| path.rsplit('/').next().unwrap_or(""))
            .unwrap_or("");
        if file.is_empty() {
            return Err(format!(
                "ImageURI {image_uri:?} is not a URL of a firmware file"
            ));
        }
        let lower = file.to_ascii_lowercase();
        let component = if lower.starts_with("bmc") {
            Component::Bmc
        } else if lower.starts_with("nic") {
            Component::Nic
        } else {
            Component::Bios
        };
        let version = version_in(file).unwrap_or_else(|| bump(self.version(component)));
        if component.needs_boot() {
            self.pending.retain(|(c, _)| *c != component);
            self.pending.push((component, version.clone()));
        } else {
            self.set(component, version.clone());
        }
        Ok((component, version))
    }

    /// Staged updates take effect (the server is booting).
    pub fn apply(&mut self) {
        for (c, v) in std::mem::take(&mut self.pending) {
            self.set(c, v);
        }
    }
}

/// The first dotted number in a file name: `bios-1.4.2.exe` → `1.4.2`.
fn version_in(file: &str) -> Option<String> {
    let start = file.find(|c: char| c.is_ascii_digit())?;
    let rest = &file[start..];
    let end = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let version = rest[..end].trim_end_matches('.');
    version.contains('.').then(|| version.to_string())
}

/// The version with its last number one higher.
fn bump(version: &str) -> String {
    match version.rsplit_once('.') {
        Some((head, last)) => match last.parse::<u64>() {
            Ok(n) => format!("{head}.{}", n + 1),
            Err(_) => format!("{version}.1"),
        },
        None => format!("{version}.1"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_and_versions_come_from_the_file_name() {
        let mut f = Firmware::default();
        assert_eq!(
            f.update("http://fw/bmc-2.1.0.bin").expect("bmc"),
            (Component::Bmc, "2.1.0".into())
        );
        assert_eq!(f.bmc, "2.1.0", "the BMC flashes at once");
        assert_eq!(
            f.update("https://fw/images/BIOS_1.4.2.exe?sig=x")
                .expect("bios"),
            (Component::Bios, "1.4.2".into())
        );
        assert_eq!(f.bios, "1.0.0", "BIOS waits for a boot");
        assert_eq!(
            f.update("http://fw/nic-firmware.fw").expect("nic"),
            (Component::Nic, "20.0.1".into())
        );
        f.apply();
        assert_eq!((f.bios.as_str(), f.nic.as_str()), ("1.4.2", "20.0.1"));
        assert!(f.pending.is_empty());
    }

    #[test]
    fn a_later_image_replaces_a_staged_one() {
        let mut f = Firmware::default();
        f.update("http://fw/bios-1.1.0.bin").expect("first");
        f.update("http://fw/bios-1.2.0.bin").expect("second");
        assert_eq!(f.pending, vec![(Component::Bios, "1.2.0".into())]);
    }

    #[test]
    fn not_a_url_is_refused() {
        let mut f = Firmware::default();
        assert!(
            f.update("bios.bin")
                .expect_err("no scheme")
                .starts_with("ImageURI")
        );
        assert!(f.update("http://fw/").is_err());
        assert_eq!(Component::parse("bmc"), Some(Component::Bmc));
        assert_eq!(bump("7"), "7.1");
    }
}
