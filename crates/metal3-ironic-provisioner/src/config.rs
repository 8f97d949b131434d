//! Configuration of the Ironic backend: upstream's environment variables (deploy image URLs,
//! provisioning limit), the hardware choice and the waits between calls. Pure.

use std::time::Duration;

use crate::node::Hardware;

/// Settings of the Ironic provisioner (upstream's environment variables).
#[derive(Clone, Debug)]
pub struct Config {
    /// `DEPLOY_KERNEL_URL`: the agent's kernel, for drivers that PXE or iPXE boot it.
    pub deploy_kernel_url: Option<String>,
    /// `DEPLOY_RAMDISK_URL`: the agent's initramfs.
    pub deploy_ramdisk_url: Option<String>,
    /// `DEPLOY_ISO_URL`: the agent as an ISO, for virtual-media drivers.
    pub deploy_iso_url: Option<String>,
    /// `PROVISIONING_LIMIT`: hosts inspecting, cleaning or deploying at once through network
    /// boot (virtual-media drivers are not limited), 20 by default.
    pub provisioning_limit: usize,
    /// Which driver and interfaces nodes get.
    pub hardware: Hardware,
    /// How long a successful readiness check holds.
    pub ready_ttl: Duration,
    /// Wait after quick transitions (manage, provide, power, abort, locked node).
    pub short_wait: Duration,
    /// Wait after long ones (inspect, clean, deploy, service).
    pub long_wait: Duration,
    /// Seconds a soft power off may take before Ironic gives up.
    pub soft_power_off_timeout: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            deploy_kernel_url: None,
            deploy_ramdisk_url: None,
            deploy_iso_url: None,
            provisioning_limit: 20,
            hardware: Hardware::FromAddress,
            ready_ttl: Duration::from_secs(5),
            short_wait: Duration::from_secs(3),
            long_wait: Duration::from_secs(10),
            soft_power_off_timeout: 180,
        }
    }
}

impl Config {
    /// Reads the deploy image variables; `DEPLOY_KERNEL_URL` and `DEPLOY_RAMDISK_URL` go
    /// together.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let var = |n: &str| {
            env(n)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        let mut c = Self {
            deploy_kernel_url: var("DEPLOY_KERNEL_URL"),
            deploy_ramdisk_url: var("DEPLOY_RAMDISK_URL"),
            deploy_iso_url: var("DEPLOY_ISO_URL"),
            ..Self::default()
        };
        if c.deploy_kernel_url.is_some() != c.deploy_ramdisk_url.is_some() {
            return Err("DEPLOY_KERNEL_URL and DEPLOY_RAMDISK_URL must be set together (the agent's kernel and initramfs)".into());
        }
        if let Some(limit) = var("PROVISIONING_LIMIT") {
            c.provisioning_limit = limit.parse().map_err(|_| {
                format!("PROVISIONING_LIMIT={limit:?} is not a number of hosts, e.g. 20")
            })?;
        }
        Ok(c)
    }

    /// The preprovisioning image formats the operator should build: none when deploy images
    /// are configured, ISO and initrd otherwise.
    pub(crate) fn preprovisioning_image_formats(&self) -> Option<Vec<String>> {
        let configured = self.deploy_iso_url.is_some() || self.deploy_kernel_url.is_some();
        (!configured).then(|| vec!["iso".to_string(), "initrd".to_string()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_from_the_environment() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let c = Config::from_env(env(&[
            ("DEPLOY_KERNEL_URL", "http://i/ipa.kernel"),
            ("DEPLOY_RAMDISK_URL", "http://i/ipa.initramfs"),
            ("PROVISIONING_LIMIT", "5"),
        ]))
        .expect("config");
        assert_eq!(c.provisioning_limit, 5);
        assert_eq!(c.deploy_kernel_url.as_deref(), Some("http://i/ipa.kernel"));
        let e = Config::from_env(env(&[("DEPLOY_KERNEL_URL", "http://i/k")])).expect_err("half");
        assert!(e.contains("DEPLOY_RAMDISK_URL"), "{e}");
        let e = Config::from_env(env(&[("PROVISIONING_LIMIT", "many")])).expect_err("nan");
        assert!(e.contains("PROVISIONING_LIMIT"), "{e}");
    }

    #[test]
    fn preprovisioning_images_only_without_deploy_images() {
        assert_eq!(
            Config::default().preprovisioning_image_formats(),
            Some(vec!["iso".to_string(), "initrd".to_string()])
        );
        let iso = Config {
            deploy_iso_url: Some("http://i/ipa.iso".into()),
            ..Config::default()
        };
        assert_eq!(iso.preprovisioning_image_formats(), None);
        let kernel = Config {
            deploy_kernel_url: Some("http://i/ipa.kernel".into()),
            deploy_ramdisk_url: Some("http://i/ipa.initramfs".into()),
            ..Config::default()
        };
        assert_eq!(kernel.preprovisioning_image_formats(), None);
    }
}
