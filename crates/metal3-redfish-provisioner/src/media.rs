//! Virtual media: finding the manager's CD and USB devices, inserting and ejecting images,
//! and the data image kept on the virtual USB stick.

use metal3_provisioner::{DataImageStatus, HostData, Outcome};
use metal3_redfish::Connection;
use metal3_redfish::types::{Collection, ComputerSystem, Manager, VirtualMedia};
use serde_json::json;

use crate::RedfishProvisioner;
use crate::errors::{Fault, Step};

impl RedfishProvisioner {
    /// The virtual media device of the host's manager: the USB stick when `usb`, else the CD.
    pub(crate) async fn media_path(
        &self,
        host: &HostData,
        conn: &Connection,
        system: &ComputerSystem,
        usb: bool,
    ) -> Step<String> {
        let known = self.cache.known(host);
        if let Some(path) = if usb { known.usb } else { known.cd } {
            return Ok(path);
        }
        let manager_path = match known.manager {
            Some(m) => m,
            None => system
                .links
                .managed_by
                .first()
                .map(|l| l.id.clone())
                .ok_or_else(|| {
                    Fault::Failed("the system names no manager (Links.ManagedBy)".into())
                })?,
        };
        let manager: Manager = conn.get(&manager_path).await?;
        let collection = manager.virtual_media.ok_or_else(|| {
            Fault::Failed("the BMC has no virtual media; this backend boots through it".into())
        })?;
        let devices: Collection = conn.get(&collection.id).await?;
        let (mut cd, mut stick) = (None, None);
        for member in &devices.members {
            let media: VirtualMedia = conn.get(&member.id).await?;
            let types = media.media_types.join(",").to_ascii_uppercase();
            if cd.is_none() && (types.contains("CD") || types.contains("DVD")) {
                cd = Some(member.id.clone());
            } else if stick.is_none() && types.contains("USB") {
                stick = Some(member.id.clone());
            }
        }
        self.cache.remember(host, |k| {
            k.manager = Some(manager_path.clone());
            k.cd = cd.clone();
            k.usb = stick.clone();
        });
        let wanted = if usb { stick } else { cd };
        wanted.ok_or_else(|| {
            Fault::Failed(format!(
                "the BMC has no virtual {} device",
                if usb { "USB" } else { "CD" }
            ))
        })
    }

    /// Inserts `url` into the device at `media`, whose state was just read as `current`.
    pub(crate) async fn insert(
        &self,
        conn: &Connection,
        media: &str,
        current: &VirtualMedia,
        url: &str,
    ) -> Step<()> {
        if current.inserted == Some(true) && current.image.as_deref() == Some(url) {
            return Ok(());
        }
        if current.inserted == Some(true) {
            conn.post(
                &format!("{media}/Actions/VirtualMedia.EjectMedia"),
                &json!({}),
            )
            .await?;
        }
        conn.post(
            &format!("{media}/Actions/VirtualMedia.InsertMedia"),
            &json!({"Image": url, "Inserted": true, "WriteProtected": true}),
        )
        .await?;
        Ok(())
    }

    /// Ejects whatever the device at `media` holds.
    pub(crate) async fn eject(&self, conn: &Connection, media: &str) -> Step<()> {
        let current: VirtualMedia = conn.get(media).await?;
        if current.inserted == Some(true) || current.image.is_some() {
            conn.post(
                &format!("{media}/Actions/VirtualMedia.EjectMedia"),
                &json!({}),
            )
            .await?;
        }
        Ok(())
    }

    /// A connection and the virtual USB device, for data images.
    async fn usb(&self, host: &HostData) -> Step<(Connection, String)> {
        let (conn, path) = self.connect(host).await?;
        let system = self.system(host, &conn, &path).await?;
        let usb = self.media_path(host, &conn, &system, true).await?;
        Ok((conn, usb))
    }

    /// The data image on the virtual USB stick, if one is inserted.
    pub(crate) async fn do_data_image_status(&self, host: &HostData) -> Step<DataImageStatus> {
        let (conn, usb) = self.usb(host).await?;
        let media: VirtualMedia = conn.get(&usb).await?;
        Ok(DataImageStatus {
            attached_url: media.image.filter(|_| media.inserted == Some(true)),
        })
    }

    /// Inserts the data image at `url` into the virtual USB stick.
    pub(crate) async fn do_attach_data_image(&self, host: &HostData, url: &str) -> Step<Outcome> {
        let (conn, usb) = self.usb(host).await?;
        let current: VirtualMedia = conn.get(&usb).await?;
        self.insert(&conn, &usb, &current, url).await?;
        Ok(Outcome::Done)
    }

    /// Ejects the data image from the virtual USB stick.
    pub(crate) async fn do_detach_data_image(&self, host: &HostData) -> Step<Outcome> {
        let (conn, usb) = self.usb(host).await?;
        self.eject(&conn, &usb).await?;
        Ok(Outcome::Done)
    }
}
