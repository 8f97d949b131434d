//! Choosing a preprovisioning image (the ramdisk a host boots so the provisioner can reach it)
//! from the images an operator is configured with, as upstream's default image provider does.

use std::collections::BTreeMap;

use metal3_api::v1alpha1::{ImageFormatKind, PreprovisioningImageSpec};

/// Deploy images by architecture (`None` = the default for any architecture).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImageSources {
    pub iso: BTreeMap<Option<String>, String>,
    pub kernel: BTreeMap<Option<String>, String>,
    pub ramdisk: BTreeMap<Option<String>, String>,
}

/// The image chosen for one PreprovisioningImage.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chosen {
    pub format: ImageFormatKind,
    pub image_url: String,
    pub kernel_url: Option<String>,
    pub architecture: String,
}

impl ImageSources {
    /// Reads `DEPLOY_ISO_URL`, `DEPLOY_KERNEL_URL`, `DEPLOY_RAMDISK_URL`, their per-architecture
    /// forms `<VAR>_<ARCH>` (e.g. `DEPLOY_ISO_URL_AARCH64`) and
    /// `DEPLOY_{ISO,KERNEL,RAMDISK}_BY_ARCH=arch:url,arch:url`.
    pub fn from_env(vars: &BTreeMap<String, String>) -> Result<Self, String> {
        let mut sources = Self::default();
        for (kind, map) in [
            ("ISO", &mut sources.iso),
            ("KERNEL", &mut sources.kernel),
            ("RAMDISK", &mut sources.ramdisk),
        ] {
            let base = format!("DEPLOY_{kind}_URL");
            let by_arch = format!("DEPLOY_{kind}_BY_ARCH");
            for (key, value) in vars {
                if value.is_empty() {
                    continue;
                }
                if *key == base {
                    map.insert(None, value.clone());
                } else if let Some(arch) = key.strip_prefix(&format!("{base}_")) {
                    map.insert(Some(arch.to_ascii_lowercase()), value.clone());
                } else if *key == by_arch {
                    for pair in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                        let parsed = pair.split_once(':').filter(|(arch, url)| {
                            !arch.is_empty()
                                && arch.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                                && url.contains("://")
                        });
                        let Some((arch, url)) = parsed else {
                            return Err(format!(
                                "{by_arch}: {pair:?} is not arch:url (e.g. x86_64:http://host/ipa.iso)"
                            ));
                        };
                        map.insert(
                            Some(arch.trim().to_ascii_lowercase()),
                            url.trim().to_string(),
                        );
                    }
                }
            }
        }
        Ok(sources)
    }

    /// Whether any image is configured.
    pub fn is_empty(&self) -> bool {
        self.iso.is_empty() && self.kernel.is_empty() && self.ramdisk.is_empty()
    }

    fn pick(map: &BTreeMap<Option<String>, String>, arch: &str) -> Option<String> {
        map.get(&Some(arch.to_ascii_lowercase()))
            .or_else(|| map.get(&None))
            .cloned()
    }

    /// The image for `spec`: an ISO if accepted and configured, else kernel + initramfs.
    pub fn choose(
        &self,
        spec: &PreprovisioningImageSpec,
        host_arch: &str,
    ) -> Result<Chosen, String> {
        let architecture = spec
            .architecture
            .clone()
            .filter(|a| !a.is_empty())
            .unwrap_or_else(|| host_arch.to_string());
        let accepts = |f| spec.accept_formats.is_empty() || spec.accept_formats.contains(&f);
        if accepts(ImageFormatKind::Iso)
            && let Some(url) = Self::pick(&self.iso, &architecture)
        {
            return Ok(Chosen {
                format: ImageFormatKind::Iso,
                image_url: url,
                kernel_url: None,
                architecture,
            });
        }
        if accepts(ImageFormatKind::Initrd)
            && let (Some(ramdisk), Some(kernel)) = (
                Self::pick(&self.ramdisk, &architecture),
                Self::pick(&self.kernel, &architecture),
            )
        {
            return Ok(Chosen {
                format: ImageFormatKind::Initrd,
                image_url: ramdisk,
                kernel_url: Some(kernel),
                architecture,
            });
        }
        let wanted: Vec<&str> = spec
            .accept_formats
            .iter()
            .map(|f| match f {
                ImageFormatKind::Iso => "iso",
                ImageFormatKind::Initrd => "initrd",
            })
            .collect();
        Err(format!(
            "no preprovisioning image for architecture {architecture:?} in an accepted format ({}); \
             set DEPLOY_ISO_URL, or DEPLOY_KERNEL_URL and DEPLOY_RAMDISK_URL (or their _<ARCH> forms)",
            if wanted.is_empty() {
                "any".to_string()
            } else {
                wanted.join(", ")
            }
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn spec(formats: &[ImageFormatKind], arch: Option<&str>) -> PreprovisioningImageSpec {
        PreprovisioningImageSpec {
            accept_formats: formats.to_vec(),
            architecture: arch.map(str::to_string),
            network_data_name: None,
        }
    }

    #[test]
    fn iso_preferred_then_initrd_per_architecture() {
        let s = ImageSources::from_env(&vars(&[
            ("DEPLOY_ISO_URL", "http://i/ipa.iso"),
            ("DEPLOY_KERNEL_URL", "http://i/ipa.kernel"),
            ("DEPLOY_RAMDISK_URL", "http://i/ipa.initramfs"),
            ("DEPLOY_ISO_URL_AARCH64", "http://i/ipa-arm.iso"),
            (
                "DEPLOY_RAMDISK_BY_ARCH",
                "ppc64le:http://i/p.initramfs, aarch64:http://i/a.initramfs",
            ),
        ]))
        .expect("parses");
        use ImageFormatKind::{Initrd, Iso};
        let c = s
            .choose(&spec(&[Iso, Initrd], None), "x86_64")
            .expect("x86");
        assert_eq!((c.format, c.image_url.as_str()), (Iso, "http://i/ipa.iso"));
        let c = s
            .choose(&spec(&[Iso], Some("aarch64")), "x86_64")
            .expect("arm");
        assert_eq!(c.image_url, "http://i/ipa-arm.iso");
        assert_eq!(c.architecture, "aarch64");
        let c = s
            .choose(&spec(&[Initrd], Some("ppc64le")), "x86_64")
            .expect("ppc");
        assert_eq!(c.format, Initrd);
        assert_eq!(c.image_url, "http://i/p.initramfs");
        assert_eq!(c.kernel_url.as_deref(), Some("http://i/ipa.kernel"));
    }

    #[test]
    fn nothing_suitable_says_what_to_configure() {
        let s = ImageSources::from_env(&vars(&[("DEPLOY_ISO_URL", "http://i/ipa.iso")]))
            .expect("parses");
        let err = s
            .choose(&spec(&[ImageFormatKind::Initrd], None), "x86_64")
            .expect_err("no initrd");
        assert!(
            err.contains("initrd") && err.contains("DEPLOY_KERNEL_URL"),
            "{err}"
        );
        assert!(ImageSources::default().is_empty());
    }

    #[test]
    fn malformed_by_arch_is_named() {
        let err = ImageSources::from_env(&vars(&[("DEPLOY_ISO_BY_ARCH", "x86_64=http://i/a.iso")]))
            .expect_err("malformed");
        assert!(
            err.contains("DEPLOY_ISO_BY_ARCH") && err.contains("arch:url"),
            "{err}"
        );
    }
}
