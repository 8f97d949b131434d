//! The metadata of a machine: a flat map of strings from the template's items.

use std::collections::BTreeMap;

use metal3_capm3_api::v1beta2::MetaData;

use super::{Objects, PoolAddress, RenderError, err, from_pool};

/// Renders the metadata: every item of the template, later kinds overriding earlier ones on
/// the same key (host interfaces, IP addresses, prefixes, gateways, indexes, namespaces, object
/// names, labels, annotations, strings), then `providerid`.
pub fn metadata(
    template: &MetaData,
    objects: &Objects<'_>,
    pools: &BTreeMap<String, PoolAddress>,
) -> Result<BTreeMap<String, String>, RenderError> {
    let mut out = BTreeMap::new();
    for entry in &template.from_host_interfaces {
        let value = if entry.from_boot_mac == Some(true) {
            let mac = &objects.host.spec.boot_mac_address;
            if mac.is_empty() {
                return err(format!(
                    "metadata key {:?}: BareMetalHost {} has no spec.bootMACAddress",
                    entry.key,
                    objects.host.metadata.name.as_deref().unwrap_or_default()
                ));
            }
            mac.clone()
        } else {
            objects.host_mac(&entry.interface)?
        };
        out.insert(entry.key.clone(), value);
    }
    for entry in &template.ip_addresses_from_pool {
        out.insert(
            entry.key.clone(),
            from_pool(pools, &entry.name)?.address.clone(),
        );
    }
    for entry in &template.prefixes_from_pool {
        out.insert(
            entry.key.clone(),
            from_pool(pools, &entry.name)?.prefix.to_string(),
        );
    }
    for entry in &template.gateways_from_pool {
        out.insert(
            entry.key.clone(),
            from_pool(pools, &entry.name)?.gateway.clone(),
        );
    }
    for entry in &template.indexes {
        let step = entry.step.filter(|s| *s != 0).unwrap_or(1);
        let value =
            i64::from(entry.offset.unwrap_or(0)) + i64::from(objects.index) * i64::from(step);
        out.insert(
            entry.key.clone(),
            format!("{}{value}{}", entry.prefix, entry.suffix),
        );
    }
    for entry in &template.namespaces {
        out.insert(entry.key.clone(), objects.namespace.to_string());
    }
    for entry in &template.object_names {
        let name = objects.meta(entry.object).name.clone().unwrap_or_default();
        out.insert(entry.key.clone(), name);
    }
    for entry in &template.from_labels {
        out.insert(entry.key.clone(), objects.label(entry.object, &entry.label));
    }
    for entry in &template.from_annotations {
        out.insert(
            entry.key.clone(),
            objects.annotation(entry.object, &entry.annotation),
        );
    }
    for entry in &template.strings {
        out.insert(entry.key.clone(), entry.value.clone());
    }
    out.insert("providerid".into(), objects.provider_id().metadata_value());
    Ok(out)
}
