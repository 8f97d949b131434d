//! API microversions: which one to ask for, given what the server offers.

use std::fmt;

/// An Ironic API microversion `1.<minor>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version(pub u32);

/// The oldest microversion we work with (node inventory, firmware interface, vmedia for data
/// images, `service` steps).
pub const MINIMUM: Version = Version(89);
/// `disable_power_off` on nodes.
pub const DISABLE_POWER_OFF: Version = Version(95);
/// `GET .../vmedia`.
pub const VMEDIA_GET: Version = Version(93);
/// Node `health`.
pub const HEALTH: Version = Version(109);
/// Aborting a deployment in `wait call-back`.
pub const DEPLOY_ABORT: Version = Version(110);

/// Versions that change what we can do, newest first.
const WANTED: [Version; 5] = [DEPLOY_ABORT, HEALTH, DISABLE_POWER_OFF, VMEDIA_GET, MINIMUM];

impl Version {
    /// Parses `"1.<minor>"`.
    pub fn parse(s: &str) -> Option<Self> {
        let (major, minor) = s.trim().split_once('.')?;
        if major != "1" {
            return None;
        }
        minor.parse().ok().map(Version)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1.{}", self.0)
    }
}

/// The microversion to ask for from a server that offers up to `max`, or `None` when it is
/// older than [`MINIMUM`].
pub fn choose(max: Version) -> Option<Version> {
    WANTED.into_iter().find(|v| *v <= max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_microversions() {
        assert_eq!(Version::parse("1.89"), Some(Version(89)));
        assert_eq!(Version::parse(" 1.110 "), Some(Version(110)));
        assert_eq!(Version::parse("2.1"), None);
        assert_eq!(Version::parse("1"), None);
        assert_eq!(Version::parse("1.x"), None);
        assert_eq!(Version(96).to_string(), "1.96");
    }

    #[test]
    fn asks_for_the_newest_version_that_changes_something() {
        assert_eq!(choose(Version(88)), None);
        assert_eq!(choose(Version(89)), Some(MINIMUM));
        assert_eq!(choose(Version(92)), Some(MINIMUM));
        assert_eq!(choose(Version(93)), Some(VMEDIA_GET));
        assert_eq!(choose(Version(100)), Some(DISABLE_POWER_OFF));
        assert_eq!(choose(Version(109)), Some(HEALTH));
        assert_eq!(choose(Version(150)), Some(DEPLOY_ABORT));
    }
}
