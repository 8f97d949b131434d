//! Data images: the node's virtual CD, read, inserted and ejected through Ironic's vmedia API.

use metal3_provisioner::{DataImageStatus, HostData, Outcome, ProvResult, ProvisionerError};

use crate::IronicProvisioner;
use crate::errors::{act, transient};
use crate::node;

/// Ironic's virtual media device type for data images (`boot_devices.CDROM`).
const VMEDIA_CD: &str = "cdrom";

/// The image in the node's virtual CD, if any.
pub(crate) async fn data_image_status(
    p: &IronicProvisioner,
    host: &HostData,
) -> ProvResult<DataImageStatus> {
    let node = p.node(host).await?;
    let media = p.client.vmedia(&node.uuid).await.map_err(transient)?;
    Ok(DataImageStatus {
        attached_url: node::inserted_cd(&media),
    })
}

/// Inserts `url` as the node's virtual CD, once the node is not locked.
pub(crate) async fn attach_data_image(
    p: &IronicProvisioner,
    host: &HostData,
    url: &str,
) -> ProvResult<Outcome> {
    let node = p.node(host).await?;
    if node.reservation.is_some() {
        return Err(ProvisionerError::NodeIsBusy);
    }
    act!(p.client.attach_vmedia(&node.uuid, VMEDIA_CD, url).await);
    Ok(Outcome::Done)
}

/// Ejects the node's virtual CD, once the node is not locked.
pub(crate) async fn detach_data_image(
    p: &IronicProvisioner,
    host: &HostData,
) -> ProvResult<Outcome> {
    let node = p.node(host).await?;
    if node.reservation.is_some() {
        return Err(ProvisionerError::NodeIsBusy);
    }
    act!(p.client.detach_vmedia(&node.uuid, VMEDIA_CD).await);
    Ok(Outcome::Done)
}
