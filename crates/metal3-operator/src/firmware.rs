//! HostFirmwareSettings, FirmwareSchema and HostFirmwareComponents of a host, kept up to date
//! by the host's own reconcile: settings are read from the provisioner when the host is at rest
//! and the last reading is old (or right after settings were applied), so no separate poller
//! talks to the BMC.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::events::{Event as KubeEvent, EventType as KubeEventType};
use kube::{Resource, ResourceExt};
use metal3_api::v1alpha1::{
    BareMetalHost, ConditionStatus, FirmwareSchema, FirmwareSchemaSpec, HostFirmwareComponents,
    HostFirmwareComponentsSpec, HostFirmwareSettings, HostFirmwareSettingsSpec,
    HostFirmwareSettingsStatus, ProvisioningState, SchemaReference, SettingSchema,
    UpdatePolicyMode,
};
use metal3_hoststate::conditions::Want;
use metal3_hoststate::{FirmwareInputs, conditions, firmware};
use metal3_provisioner::HostData;
use serde_json::json;

use crate::context::{Context, Error};
use metal3_kube::meta::{create_unless_exists, owner_reference};

/// How often settings are read back from a host at rest.
#[derive(Clone, Debug)]
pub struct FirmwarePoll {
    /// When nothing is pending (5 min).
    pub idle: Duration,
    /// While requested settings wait to be applied (1 min).
    pub pending: Duration,
}

impl Default for FirmwarePoll {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(300),
            pending: Duration::from_secs(60),
        }
    }
}

fn is_true(hfs: &HostFirmwareSettings, t: &str) -> bool {
    hfs.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.r#type == t && c.status == ConditionStatus::True)
    })
}

/// Whether the host is registered and at rest, so its settings can be read.
fn readable(host: &BareMetalHost) -> bool {
    let registered = host
        .status
        .as_ref()
        .is_some_and(|s| !s.provisioning.id.is_empty());
    registered
        && matches!(
            host.provisioning_state(),
            ProvisioningState::Preparing
                | ProvisioningState::Available
                | ProvisioningState::Provisioned
                | ProvisioningState::ExternallyProvisioned
        )
}

/// Brings the host's firmware objects up to date when due (or `force`d) and returns what the
/// state machine needs from them.
pub(crate) async fn sync(
    ctx: &Context,
    host: &BareMetalHost,
    ns: &str,
    host_data: &HostData,
    can_ask: bool,
    force: bool,
) -> Result<FirmwareInputs, Error> {
    let name = host_data.name.as_str();
    let mut hfs = ctx
        .caches
        .settings
        .get(ns, name)
        .map(std::sync::Arc::unwrap_or_clone);
    let now = Timestamp::now();
    let due = reading_due(ctx, hfs.as_ref(), ns, name, now);
    if can_ask && readable(host) && (due || force) {
        hfs = Some(read_back(ctx, host, ns, host_data, hfs, force, now).await?);
    }
    Ok(inputs_from(ctx, ns, name, hfs))
}

/// Whether the settings are due to be read again: there are none yet, their conditions were
/// not computed for the current spec, or the last reading (written or only remembered) is
/// older than the poll interval (shorter while a change waits to be applied).
fn reading_due(
    ctx: &Context,
    hfs: Option<&HostFirmwareSettings>,
    ns: &str,
    name: &str,
    now: Timestamp,
) -> bool {
    let Some(h) = hfs else {
        return true;
    };
    let poll = if is_true(h, firmware::CHANGE_DETECTED) {
        ctx.firmware_poll.pending
    } else {
        ctx.firmware_poll.idle
    };
    let written = h
        .status
        .as_ref()
        .and_then(|s| s.last_updated.as_ref())
        .map(|t| t.0);
    let last = written.max(ctx.firmware_read(ns, name));
    // A spec the conditions were not computed for is judged at once.
    let judged = h.status.as_ref().is_some_and(|s| {
        !s.conditions.is_empty()
            && s.conditions
                .iter()
                .all(|c| c.observed_generation == h.metadata.generation)
    });
    !judged
        || last.is_none_or(|t| {
            t.checked_add(SignedDuration::try_from(poll).unwrap_or(SignedDuration::ZERO))
                .is_ok_and(|next| next <= now)
        })
}

/// Reads the settings (with their schema when needed) from the provisioner, records them in
/// the HostFirmwareSettings (created if missing) when something changed, then the firmware
/// components; returns the settings object as it now stands.
async fn read_back(
    ctx: &Context,
    host: &BareMetalHost,
    ns: &str,
    host_data: &HostData,
    hfs: Option<HostFirmwareSettings>,
    force: bool,
    now: Timestamp,
) -> Result<HostFirmwareSettings, Error> {
    let name = host_data.name.as_str();
    // Also when the schema named in the status is gone (its last owners were deleted).
    let include_schema = force
        || hfs
            .as_ref()
            .and_then(|h| h.status.as_ref())
            .and_then(|s| s.schema.as_ref())
            .is_none_or(|r| ctx.caches.schemas.get(ns, &r.name).is_none());
    let reading = ctx
        .provisioner
        .firmware_settings(host_data, include_schema)
        .await?;
    let current = match hfs {
        Some(existing) => existing,
        None => create_settings(ctx, host, ns, name).await?,
    };
    let (schema_ref, schema_spec) = reading_schema(ctx, host, ns, &current, reading.schema).await?;
    let judged = judge(
        &current,
        &reading.settings,
        schema_ref,
        schema_spec.as_ref(),
        now,
    );
    let latest = if judged.unchanged {
        // Nothing to write: only the time of the reading is kept, in memory.
        current
    } else {
        write_reading(ctx, ns, name, judged, now).await?
    };
    ctx.firmware_was_read(ns, name, now);
    sync_components(ctx, host, ns, host_data, force).await?;
    Ok(latest)
}

/// A new, empty HostFirmwareSettings owned by the host (or the one created meanwhile).
async fn create_settings(
    ctx: &Context,
    host: &BareMetalHost,
    ns: &str,
    name: &str,
) -> Result<HostFirmwareSettings, Error> {
    let settings_api: Api<HostFirmwareSettings> = Api::namespaced(ctx.client.clone(), ns);
    let mut created = HostFirmwareSettings::new(
        name,
        HostFirmwareSettingsSpec {
            settings: BTreeMap::new(),
        },
    );
    created.metadata.owner_references = owner_reference(host, true).map(|o| vec![o]);
    let made = match settings_api.create(&PostParams::default(), &created).await {
        Ok(o) => o,
        Err(kube::Error::Api(s)) if s.code == 409 => settings_api.get(name).await?,
        Err(e) => return Err(e.into()),
    };
    ctx.caches.settings.wrote(ns, name, Some(made.clone()));
    Ok(made)
}

/// The schema of a reading: the one it brought (kept in the shared FirmwareSchema named by its
/// content), else the one the status already names.
async fn reading_schema(
    ctx: &Context,
    host: &BareMetalHost,
    ns: &str,
    current: &HostFirmwareSettings,
    schema: Option<BTreeMap<String, SettingSchema>>,
) -> Result<(Option<SchemaReference>, Option<FirmwareSchemaSpec>), Error> {
    let schema_ref = current.status.as_ref().and_then(|s| s.schema.clone());
    match schema.filter(|s| !s.is_empty()) {
        Some(schema) => {
            let schemas: Api<FirmwareSchema> = Api::namespaced(ctx.client.clone(), ns);
            // Named by its content: an existing schema of that name holds the same.
            let schema_name = firmware::schema_name(&schema);
            let spec = ensure_schema(ctx, &schemas, host, current, &schema_name, schema).await?;
            let schema_ref = SchemaReference {
                name: schema_name,
                namespace: ns.to_string(),
            };
            Ok((Some(schema_ref), Some(spec)))
        }
        None => {
            let spec = match &schema_ref {
                Some(r) => ctx.caches.schemas.get(ns, &r.name).map(|s| s.spec.clone()),
                None => None,
            };
            Ok((schema_ref, spec))
        }
    }
}

/// What one reading makes of the HostFirmwareSettings status.
struct Judged {
    /// The status after the reading, without `lastUpdated`.
    status: HostFirmwareSettingsStatus,
    /// The conditions the reading wants (`[ChangeDetected, Valid]`).
    wants: [Want; 2],
    /// Whether the stored settings were valid before this reading.
    was_valid: bool,
    /// Whether the status is the stored one (apart from `lastUpdated`).
    unchanged: bool,
}

/// Judges a reading of `settings` against the desired settings of `current` (pure).
fn judge(
    current: &HostFirmwareSettings,
    settings: &BTreeMap<String, String>,
    schema_ref: Option<SchemaReference>,
    schema_spec: Option<&FirmwareSchemaSpec>,
    now: Timestamp,
) -> Judged {
    let visible = firmware::visible_settings(settings);
    let wants = firmware::conditions(&current.spec.settings, &visible, schema_spec);
    let was_valid = !current.status.as_ref().is_some_and(|s| {
        s.conditions
            .iter()
            .any(|c| c.r#type == firmware::VALID && c.status == ConditionStatus::False)
    });
    let mut status = current.status.clone().unwrap_or_default();
    conditions::merge(
        &mut status.conditions,
        &wants,
        current.metadata.generation,
        &Time(now),
    );
    status.settings = visible;
    status.schema = schema_ref;
    status.last_updated = None;
    let unchanged = current.status.as_ref().is_some_and(|old| {
        let mut old = old.clone();
        old.last_updated = None;
        old == status
    });
    Judged {
        status,
        wants,
        was_valid,
        unchanged,
    }
}

/// Writes a changed reading to the HostFirmwareSettings status, with a ValidationFailed
/// Warning when the settings have just become invalid; returns the written object.
async fn write_reading(
    ctx: &Context,
    ns: &str,
    name: &str,
    judged: Judged,
    now: Timestamp,
) -> Result<HostFirmwareSettings, Error> {
    let settings_api: Api<HostFirmwareSettings> = Api::namespaced(ctx.client.clone(), ns);
    let Judged {
        mut status,
        wants,
        was_valid,
        ..
    } = judged;
    status.last_updated = Some(Time(now));
    let patched = settings_api
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(&json!({"status": status})),
        )
        .await?;
    ctx.caches.settings.wrote(ns, name, Some(patched.clone()));
    if was_valid && wants[1].status == ConditionStatus::False {
        let event = KubeEvent {
            type_: KubeEventType::Warning,
            reason: "ValidationFailed".into(),
            note: Some(wants[1].message.clone()),
            action: "Validate".into(),
            secondary: None,
        };
        let _ = ctx.recorder.publish(&event, &patched.object_ref(&())).await;
    }
    Ok(patched)
}

/// What the state machine needs from the firmware objects as they now stand.
fn inputs_from(
    ctx: &Context,
    ns: &str,
    name: &str,
    hfs: Option<HostFirmwareSettings>,
) -> FirmwareInputs {
    let caches = &ctx.caches;
    // What a HostUpdatePolicy allows on reboot, and component updates still to apply.
    let policy = caches.policies.get(ns, name).map(|p| p.spec.clone());
    let on_reboot = |mode: Option<UpdatePolicyMode>| mode == Some(UpdatePolicyMode::OnReboot);
    let pending_updates = match caches.components.get(ns, name) {
        Some(hfc) => {
            let applied = hfc
                .status
                .as_ref()
                .map(|s| s.updates.as_slice())
                .unwrap_or_default();
            hfc.spec
                .updates
                .iter()
                .filter(|u| !applied.contains(u))
                .cloned()
                .collect()
        }
        None => Vec::new(),
    };
    let mut inputs = FirmwareInputs {
        pending_updates,
        settings_on_reboot: on_reboot(policy.as_ref().and_then(|p| p.firmware_settings)),
        updates_on_reboot: on_reboot(policy.as_ref().and_then(|p| p.firmware_updates)),
        ..FirmwareInputs::default()
    };
    let Some(hfs) = hfs else {
        return inputs;
    };
    inputs.current = hfs.status.clone().unwrap_or_default().settings;
    let desired = &hfs.spec.settings;
    if desired.is_empty() {
        return inputs;
    }
    let schema = match hfs.status.as_ref().and_then(|s| s.schema.as_ref()) {
        Some(r) => caches.schemas.get(ns, &r.name).map(|s| s.spec.clone()),
        None => None,
    };
    if firmware::validate(desired, schema.as_ref()).is_empty() {
        inputs.pending = firmware::changes(desired, &inputs.current);
    }
    inputs
}

/// Makes sure the shared FirmwareSchema `schema_name` exists and, up to [`SCHEMA_OWNERS`],
/// lists this host's settings among its owners; returns the schema.
async fn ensure_schema(
    ctx: &Context,
    schemas: &Api<FirmwareSchema>,
    host: &BareMetalHost,
    hfs: &HostFirmwareSettings,
    schema_name: &str,
    schema: BTreeMap<String, SettingSchema>,
) -> Result<FirmwareSchemaSpec, Error> {
    let Some(hfs_owner) = owner_reference(hfs, false) else {
        return Err(Error::Incomplete("HostFirmwareSettings uid"));
    };
    let ns = hfs.namespace().unwrap_or_default();
    match ctx.caches.schemas.get(&ns, schema_name) {
        Some(existing) => {
            let owners = existing.owner_references();
            if owners.len() >= SCHEMA_OWNERS || owners.iter().any(|o| o.uid == hfs_owner.uid) {
                return Ok(existing.spec.clone());
            }
            let mut owners = owners.to_vec();
            owners.push(hfs_owner);
            let patch = json!({"metadata": {
                "resourceVersion": existing.resource_version(),
                "ownerReferences": owners,
            }});
            let patched = schemas
                .patch(schema_name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
            let spec = patched.spec.clone();
            ctx.caches.schemas.wrote(&ns, schema_name, Some(patched));
            Ok(spec)
        }
        None => {
            let vendor = host.status.as_ref().and_then(|s| s.hardware.as_ref());
            let mut created = FirmwareSchema::new(
                schema_name,
                FirmwareSchemaSpec {
                    hardware_vendor: vendor
                        .map(|h| h.system_vendor.manufacturer.clone())
                        .filter(|v| !v.is_empty()),
                    hardware_model: vendor
                        .map(|h| h.system_vendor.product_name.clone())
                        .filter(|v| !v.is_empty()),
                    schema,
                },
            );
            created.metadata.owner_references = Some(vec![hfs_owner]);
            match schemas.create(&PostParams::default(), &created).await {
                Ok(made) => ctx.caches.schemas.wrote(&ns, schema_name, Some(made)),
                // Another host of the same model created it first: shared from the next pass.
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(e) => return Err(e.into()),
            }
            Ok(created.spec)
        }
    }
}

/// How many HostFirmwareSettings a shared FirmwareSchema lists as owners. Every host of a model
/// shares one schema; listing all of them would make a 10,000-host fleet rewrite one object
/// 10,000 times and grow it towards etcd's size limit. The schema is deleted once its listed
/// owners are all gone; a host that still names it then finds it missing, reads the schema from
/// the BMC again and recreates it.
pub const SCHEMA_OWNERS: usize = 10;

/// Records the firmware versions the provisioner reports (HostFirmwareComponents exist only
/// for hosts whose backend reports components); `applied` records the requested updates as
/// done (right after preparing or servicing applied them).
async fn sync_components(
    ctx: &Context,
    host: &BareMetalHost,
    ns: &str,
    host_data: &HostData,
    applied: bool,
) -> Result<(), Error> {
    let components = ctx.provisioner.firmware_components(host_data).await?;
    if components.is_empty() {
        return Ok(());
    }
    let api: Api<HostFirmwareComponents> = Api::namespaced(ctx.client.clone(), ns);
    let name = host_data.name.as_str();
    let existing = ctx.caches.components.get(ns, name);
    if existing.is_none() {
        let mut created = HostFirmwareComponents::new(
            name,
            HostFirmwareComponentsSpec {
                updates: Vec::new(),
            },
        );
        created.metadata.owner_references = owner_reference(host, true).map(|o| vec![o]);
        create_unless_exists(&api, &created).await?;
    }
    if let Some(hfc) = &existing
        && let Some(old) = &hfc.status
        && old.components == components
        && (!applied || old.updates == hfc.spec.updates)
    {
        // The same versions as last time: nothing to write.
        return Ok(());
    }
    let mut status = json!({
        "components": components,
        "lastUpdated": Time(Timestamp::now()),
    });
    if applied && let Some(hfc) = &existing {
        status["updates"] = json!(hfc.spec.updates);
    }
    let patch = json!({"status": status});
    let patched = api
        .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    ctx.caches.components.wrote(ns, name, Some(patched));
    Ok(())
}
