//! Firmware readings: the BIOS settings, the attribute registry they follow (as a schema,
//! kept per registry) and the component versions, answered from memory until something may
//! have changed them; [`crate::schema`] does the pure mapping.

use std::collections::BTreeMap;
use std::time::Instant;

use internment::ArcIntern;
use metal3_api::v1alpha1::FirmwareComponentStatus;
use metal3_provisioner::{FirmwareSettings, HostData};
use metal3_redfish::Connection;
use metal3_redfish::types::{AttributeRegistry, Bios, Collection, Manager, RegistryFile};

use crate::RedfishProvisioner;
use crate::cache::Schema;
use crate::errors::{Fault, Step};
use crate::schema;

impl RedfishProvisioner {
    /// The BIOS settings and, with `include_schema`, the schema of their attribute registry.
    pub(crate) async fn do_firmware_settings(
        &self,
        host: &HostData,
        include_schema: bool,
    ) -> Step<FirmwareSettings> {
        let (conn, path) = self.connect(host).await?;
        let fresh = |t: &Instant| t.elapsed() < self.config.firmware_refresh;
        let (settings, registry) = match self.cache.known(host).bios {
            Some((at, settings, registry)) if fresh(&at) => (BTreeMap::clone(&settings), registry),
            _ => {
                let system = self.system(host, &conn, &path).await?;
                let link = system
                    .bios
                    .ok_or_else(|| Fault::Failed("the system has no Bios resource".into()))?;
                let bios: Bios = conn.get(&link.id).await?;
                let settings: BTreeMap<String, String> = bios
                    .attributes
                    .iter()
                    .map(|(k, v)| (k.clone(), schema::text(v)))
                    .collect();
                let registry = bios.attribute_registry.clone();
                let now = Instant::now();
                let shared = ArcIntern::new(settings.clone());
                self.cache
                    .remember(host, |k| k.bios = Some((now, shared, registry.clone())));
                (settings, registry)
            }
        };
        let schema = match (&registry, include_schema) {
            (Some(r), true) => Some((*self.registry_schema(&conn, r).await?).clone()),
            _ => None,
        };
        Ok(FirmwareSettings { settings, schema })
    }

    /// The versions of the BIOS and of the BMC.
    pub(crate) async fn do_firmware_components(
        &self,
        host: &HostData,
    ) -> Step<Vec<FirmwareComponentStatus>> {
        if let Some((at, components)) = self.cache.known(host).components
            && at.elapsed() < self.config.firmware_refresh
        {
            return Ok(components);
        }
        let (conn, path) = self.connect(host).await?;
        let system = self.system(host, &conn, &path).await?;
        let mut out = Vec::new();
        if let Some(v) = &system.bios_version {
            out.push(component("bios", v));
        }
        if let Some(m) = system.links.managed_by.first() {
            let manager: Manager = conn.get(&m.id).await?;
            if let Some(v) = &manager.firmware_version {
                out.push(component("bmc", v));
            }
        }
        let now = Instant::now();
        self.cache
            .remember(host, |k| k.components = Some((now, out.clone())));
        Ok(out)
    }

    /// The schema of the attribute registry `registry`, read from the BMC once.
    pub(crate) async fn registry_schema(&self, conn: &Connection, registry: &str) -> Step<Schema> {
        if let Some(s) = self.cache.schema(registry) {
            return Ok(s);
        }
        let files: Collection = conn.get("/redfish/v1/Registries").await?;
        let mut found = None;
        for m in &files.members {
            let tail = m.id.trim_end_matches('/').rsplit('/').next().unwrap_or("");
            if tail != registry && !registry.starts_with(tail) {
                continue;
            }
            let file: RegistryFile = conn.get(&m.id).await?;
            let uri = file
                .location
                .iter()
                .find(|l| {
                    l.language
                        .as_deref()
                        .is_none_or(|lang| lang.starts_with("en"))
                })
                .and_then(|l| l.uri.clone());
            if let Some(uri) = uri {
                found = Some(conn.get::<AttributeRegistry>(&uri).await?);
                break;
            }
        }
        let registry_doc = found.ok_or_else(|| {
            Fault::Failed(format!(
                "the BMC does not serve the attribute registry {registry}"
            ))
        })?;
        let schema = Schema::new(schema::schema(&registry_doc));
        self.cache.keep_schema(registry, schema.clone());
        Ok(schema)
    }
}

/// A firmware component as read now.
fn component(name: &str, version: &str) -> FirmwareComponentStatus {
    FirmwareComponentStatus {
        component: name.into(),
        initial_version: version.into(),
        current_version: Some(version.into()),
        ..FirmwareComponentStatus::default()
    }
}
