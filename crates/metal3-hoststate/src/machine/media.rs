//! Virtual media: attaching the host's DataImage, or detaching it, to match what the DataImage
//! asks for.

use metal3_provisioner::{Outcome, Provisioner, ProvisionerError};

use super::Machine;
use crate::io::{Effect, EventType};

impl<P: Provisioner + ?Sized> Machine<'_, P> {
    pub(super) async fn sync_data_image(
        &mut self,
        provisioned: bool,
    ) -> Result<(), ProvisionerError> {
        let Some(di) = self.inputs.data_image.clone() else {
            return Ok(());
        };
        if di.wanted == di.attached {
            return Ok(());
        }
        let outcome = match (&di.wanted, provisioned) {
            (Some(url), true) => self.prov.attach_data_image(&self.host_data, url).await?,
            (Some(_), false) if di.attached.is_none() => return Ok(()),
            _ => self.prov.detach_data_image(&self.host_data).await?,
        };
        let attached = if provisioned { di.wanted.clone() } else { None };
        match outcome {
            Outcome::Done => {
                let message = match &attached {
                    Some(url) => format!("attached data image {url}"),
                    None => "detached the data image".to_string(),
                };
                self.event(EventType::Normal, "DataImage", message);
                self.effects.push(Effect::DataImageAttached(attached));
            }
            Outcome::InProgress { .. } => {}
            Outcome::Failed { message } => {
                self.event(EventType::Warning, "DataImageError", message.clone());
                self.effects.push(Effect::DataImageFailed(message));
            }
        }
        Ok(())
    }
}
