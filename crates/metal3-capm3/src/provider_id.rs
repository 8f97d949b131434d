//! Provider IDs: `metal3://<namespace>/<BareMetalHost>/<Metal3Machine>`, the form CAPM3 writes
//! on Metal3Machines and workload Nodes since v1.1.1.

use std::fmt;

/// Scheme prefix of every provider ID.
pub const SCHEME: &str = "metal3://";

/// A parsed provider ID.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProviderId {
    /// Namespace of the host and the machine.
    pub namespace: String,
    /// Name of the BareMetalHost.
    pub host: String,
    /// Name of the Metal3Machine.
    pub machine: String,
}

impl ProviderId {
    /// The provider ID of `machine` on `host` in `namespace`.
    pub fn new(namespace: &str, host: &str, machine: &str) -> Self {
        Self {
            namespace: namespace.to_string(),
            host: host.to_string(),
            machine: machine.to_string(),
        }
    }

    /// Parses `metal3://<namespace>/<host>/<machine>`; `None` for anything else (including the
    /// legacy `metal3://<host uid>` form, no longer supported).
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix(SCHEME)?;
        let mut parts = rest.split('/');
        let (namespace, host, machine) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || [namespace, host, machine].iter().any(|p| p.is_empty()) {
            return None;
        }
        Some(Self::new(namespace, host, machine))
    }

    /// The prefix every provider ID of this host starts with, `metal3://<namespace>/<host>/`:
    /// two Nodes with it mean one host serves two Nodes.
    pub fn host_prefix(&self) -> String {
        format!("{SCHEME}{}/{}/", self.namespace, self.host)
    }

    /// The value rendered into metadata as `providerid` (without the scheme), so a bootstrap
    /// template can write `metal3://{{ ds.meta_data.providerid }}`.
    pub fn metadata_value(&self) -> String {
        format!("{}/{}/{}", self.namespace, self.host, self.machine)
    }
}

impl fmt::Display for ProviderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{SCHEME}{}/{}/{}",
            self.namespace, self.host, self.machine
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses() {
        let id = ProviderId::new("ns", "host-0", "m3m-a");
        assert_eq!(id.to_string(), "metal3://ns/host-0/m3m-a");
        assert_eq!(
            ProviderId::parse("metal3://ns/host-0/m3m-a"),
            Some(id.clone())
        );
        assert_eq!(id.host_prefix(), "metal3://ns/host-0/");
        assert_eq!(id.metadata_value(), "ns/host-0/m3m-a");
    }

    #[test]
    fn rejects_other_forms() {
        for bad in [
            "metal3://5d0c2a9e-uid",
            "metal3://ns/host",
            "metal3://ns/host/m/extra",
            "metal3:///host/m",
            "aws://ns/host/m",
            "",
        ] {
            assert_eq!(ProviderId::parse(bad), None, "{bad}");
        }
    }
}
