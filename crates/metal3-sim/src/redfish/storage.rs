//! A system's storage: SimpleStorage, the RAID controller with its drives, and volumes created
//! or deleted now or at the next reset (`@Redfish.OperationApplyTime: OnReset`).

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use std::sync::Arc;

use super::Fleet;
use super::system::{expand, expanded};
use super::{Ctx, accepted, collection, error, lock, no_content, not_found, ok, timestamp};
use crate::fleet::Host;
use crate::storage::{Pending, RAID_TYPES, drive_id};
use crate::tasks::Until;

type Id = Path<String>;
use axum::extract::RawQuery as Query;

async fn simple_storage(ctx: Ctx, headers: HeaderMap, Path(id): Id) -> Response {
    ctx.with_host(&headers, &id, "GET SimpleStorage", |h, _| {
        let base = format!("/redfish/v1/Systems/{}/SimpleStorage", h.id);
        ok(collection(
            &base,
            "#SimpleStorageCollection.SimpleStorageCollection",
            "Simple Storage Collection",
            vec![format!("{base}/1")],
        ))
    })
}

async fn simple_storage_member(
    ctx: Ctx,
    headers: HeaderMap,
    Path((id, member)): Path<(String, String)>,
) -> Response {
    ctx.with_host(&headers, &id, "GET SimpleStorage", |h, _| {
        if member != "1" {
            return not_found(&format!("SimpleStorage {member}"));
        }
        let devices: Vec<Value> = (0..h.storage.drives)
            .map(|d| {
                let info = h.drive_info.get(d);
                json!({
                    "Name": drive_id(d),
                    "Model": info.map_or("Simulated SSD", |i| i.model.as_str()),
                    "CapacityBytes": info.map_or(h.storage.drive_bytes, |i| i.bytes),
                    "Status": {"State": "Enabled", "Health": "OK"},
                })
            })
            .collect();
        ok(json!({
            "@odata.id": format!("/redfish/v1/Systems/{}/SimpleStorage/1", h.id),
            "@odata.type": "#SimpleStorage.v1_2_0.SimpleStorage",
            "Id": "1",
            "Name": "Simple Storage Controller",
            "Devices": devices,
            "Status": {"State": "Enabled", "Health": "OK"},
        }))
    })
}

fn storage_base(h: &Host) -> String {
    format!("/redfish/v1/Systems/{}/Storage/1", h.id)
}

fn drive_body(h: &Host, did: &str) -> Option<Value> {
    let index = (0..h.storage.drives).find(|&d| drive_id(d) == did)?;
    let (model, serial, bytes, rotational) = match h.drive_info.get(index) {
        Some(d) => (d.model.clone(), d.serial.clone(), d.bytes, d.rotational),
        None => (
            "Simulated SSD".to_string(),
            format!("{}-{did}", &h.id[h.id.len() - 8..]),
            h.storage.drive_bytes,
            false,
        ),
    };
    Some(json!({
        "@odata.id": format!("{}/Drives/{did}", storage_base(h)),
        "@odata.type": "#Drive.v1_9_0.Drive",
        "Id": did,
        "Name": did,
        "Model": model,
        "SerialNumber": serial,
        "CapacityBytes": bytes,
        "MediaType": if rotational { "HDD" } else { "SSD" },
        "Protocol": "SATA",
        "RotationSpeedRPM": if rotational { 7200 } else { 0 },
        "Status": {"State": "Enabled", "Health": "OK"},
    }))
}

/// The RAID controller; with `expand`, its drives are written out in full.
fn storage_body(h: &Host, expand: bool) -> Value {
    let base = storage_base(h);
    let drives: Vec<Value> = (0..h.storage.drives)
        .map(|d| {
            let id = drive_id(d);
            match (expand, drive_body(h, &id)) {
                (true, Some(body)) => body,
                _ => json!({"@odata.id": format!("{base}/Drives/{id}")}),
            }
        })
        .collect();
    json!({
        "@odata.id": base,
        "@odata.type": "#Storage.v1_8_0.Storage",
        "Id": "1",
        "Name": "RAID Controller",
        "Status": {"State": "Enabled", "Health": "OK"},
        "StorageControllers": [{
            "@odata.id": format!("{base}#/StorageControllers/0"),
            "MemberId": "0",
            "Name": "Simulated RAID Controller",
            "SpeedGbps": 12,
            "SupportedRAIDTypes": RAID_TYPES,
            "SupportedControllerProtocols": ["PCIe"],
            "SupportedDeviceProtocols": ["SATA"],
            "Status": {"State": "Enabled", "Health": "OK"},
        }],
        "Drives": drives,
        "Drives@odata.count": h.storage.drives,
        "Volumes": {"@odata.id": format!("{base}/Volumes")},
    })
}

async fn storages(ctx: Ctx, headers: HeaderMap, Path(id): Id, Query(q): Query) -> Response {
    let levels = expand(&ctx, &q);
    ctx.with_host(&headers, &id, "GET Storage", |h, _| {
        let base = format!("/redfish/v1/Systems/{}/Storage", h.id);
        let kind = "#StorageCollection.StorageCollection";
        match levels {
            0 => ok(collection(
                &base,
                kind,
                "Storage Collection",
                vec![storage_base(h)],
            )),
            levels => ok(expanded(
                &base,
                kind,
                "Storage Collection",
                vec![storage_body(h, levels > 1)],
            )),
        }
    })
}

async fn storage(
    ctx: Ctx,
    headers: HeaderMap,
    Path((id, sid)): Path<(String, String)>,
    Query(q): Query,
) -> Response {
    let levels = expand(&ctx, &q);
    ctx.with_host(&headers, &id, "GET Storage", |h, _| {
        if sid != "1" {
            return not_found(&format!("Storage {sid}"));
        }
        ok(storage_body(h, levels > 0))
    })
}

async fn drive(
    ctx: Ctx,
    headers: HeaderMap,
    Path((id, _sid, did)): Path<(String, String, String)>,
) -> Response {
    ctx.with_host(&headers, &id, "GET Drive", |h, _| {
        drive_body(h, &did)
            .map(ok)
            .unwrap_or_else(|| not_found(&format!("Drive {did}")))
    })
}

async fn volumes(
    ctx: Ctx,
    headers: HeaderMap,
    Path((id, _sid)): Path<(String, String)>,
) -> Response {
    ctx.with_host(&headers, &id, "GET Volumes", |h, _| {
        let base = format!("{}/Volumes", storage_base(h));
        let members = h
            .storage
            .volumes
            .iter()
            .map(|v| format!("{base}/{}", v.id))
            .collect();
        let mut body = collection(
            &base,
            "#VolumeCollection.VolumeCollection",
            "Volumes",
            members,
        );
        if let Some(map) = body.as_object_mut() {
            map.insert(
                "@Redfish.OperationApplyTimeSupport".into(),
                json!({
                    "@odata.type": "#Settings.v1_3_0.OperationApplyTimeSupport",
                    "SupportedValues": ["Immediate", "OnReset"],
                }),
            );
        }
        ok(body)
    })
}

async fn volume(
    ctx: Ctx,
    headers: HeaderMap,
    Path((id, _sid, vid)): Path<(String, String, String)>,
) -> Response {
    ctx.with_host(&headers, &id, "GET Volume", |h, _| {
        let base = storage_base(h);
        let Some(v) = h.storage.volumes.iter().find(|v| v.id.to_string() == vid) else {
            return not_found(&format!("Volume {vid}"));
        };
        let drives: Vec<Value> = v
            .drives
            .iter()
            .map(|d| json!({"@odata.id": format!("{base}/Drives/{}", drive_id(*d))}))
            .collect();
        ok(json!({
            "@odata.id": format!("{base}/Volumes/{}", v.id),
            "@odata.type": "#Volume.v1_5_0.Volume",
            "Id": v.id.to_string(),
            "Name": v.name,
            "RAIDType": v.raid.as_str(),
            "VolumeType": v.raid.volume_type(),
            "CapacityBytes": v.capacity_bytes,
            "Encrypted": false,
            "Links": {"Drives": drives},
            "Status": {"State": "Enabled", "Health": "OK"},
        }))
    })
}

/// Whether a body asks for the change at the next reset rather than now.
fn on_reset(body: Option<&Value>) -> bool {
    body.and_then(|b| b.get("@Redfish.OperationApplyTime"))
        .and_then(Value::as_str)
        == Some("OnReset")
}

/// Answers a volume change staged for the next boot: 202 with a task.
fn staged_task(ctx: &Ctx, index: usize, name: String, boots: u64) -> Response {
    let task = {
        let mut tasks = lock(&ctx.service.tasks);
        let id = tasks.add(index, name, Until::BootAfter(boots), timestamp());
        tasks.list.get(&id).cloned()
    };
    match task {
        Some(task) => accepted(&task, boots),
        None => error(StatusCode::INTERNAL_SERVER_ERROR, "task lost"),
    }
}

async fn create_volume(
    ctx: Ctx,
    headers: HeaderMap,
    Path((id, sid)): Path<(String, String)>,
    body: axum::Json<Value>,
) -> Response {
    let mut staged = None;
    let response = ctx.with_host(&headers, &id, "POST Volumes", |h, _| {
        if sid != "1" {
            return not_found(&format!("Storage {sid}"));
        }
        let volume = match h.storage.plan(&body) {
            Ok(v) => v,
            Err(e) => return error(StatusCode::BAD_REQUEST, &e),
        };
        let location = format!("{}/Volumes/{}", storage_base(h), volume.id);
        let name = format!("Create {} volume {}", volume.raid.as_str(), volume.name);
        if on_reset(Some(&body)) {
            h.storage.pending.push(Pending::Create(volume));
            staged = Some((h.index, name, h.boots));
            return no_content();
        }
        h.storage.volumes.push(volume);
        let mut r = StatusCode::CREATED.into_response();
        if let Ok(l) = HeaderValue::from_str(&location) {
            r.headers_mut().insert(header::LOCATION, l);
        }
        r
    });
    match staged {
        Some((index, name, boots)) => staged_task(&ctx, index, name, boots),
        None => response,
    }
}

async fn delete_volume(
    ctx: Ctx,
    headers: HeaderMap,
    Path((id, _sid, vid)): Path<(String, String, String)>,
    body: Option<axum::Json<Value>>,
) -> Response {
    let mut staged = None;
    let response = ctx.with_host(&headers, &id, "DELETE Volume", |h, _| {
        let Some(vol) = vid.parse::<u32>().ok().filter(|v| h.storage.has(*v)) else {
            return not_found(&format!("Volume {vid}"));
        };
        if on_reset(body.as_deref()) {
            h.storage.pending.push(Pending::Delete(vol));
            staged = Some((h.index, format!("Delete volume {vol}"), h.boots));
        } else {
            h.storage.delete(vol);
        }
        no_content()
    });
    match staged {
        Some((index, name, boots)) => staged_task(&ctx, index, name, boots),
        None => response,
    }
}

pub(super) fn routes() -> Router<Arc<Fleet>> {
    let sys = "/redfish/v1/Systems/{id}";
    let storage_path = format!("{sys}/Storage/{{sid}}");
    Router::new()
        .route(&format!("{sys}/SimpleStorage"), get(simple_storage))
        .route(
            &format!("{sys}/SimpleStorage/{{member}}"),
            get(simple_storage_member),
        )
        .route(&format!("{sys}/Storage"), get(storages))
        .route(&storage_path, get(storage))
        .route(&format!("{storage_path}/Drives/{{did}}"), get(drive))
        .route(
            &format!("{storage_path}/Volumes"),
            get(volumes).post(create_volume),
        )
        .route(
            &format!("{storage_path}/Volumes/{{vid}}"),
            get(volume).delete(delete_volume),
        )
}
