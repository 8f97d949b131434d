//! Managers (the BMC itself, with its virtual media) and Chassis.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Value, json};

use std::sync::Arc;

use super::Fleet;
use super::{Ctx, collection, error, no_content, not_found, ok};
use crate::fleet::Host;

async fn managers(ctx: Ctx, headers: HeaderMap) -> Response {
    if let Err(r) = ctx.authorise(&headers, "GET Managers") {
        return r;
    }
    ok(collection(
        "/redfish/v1/Managers",
        "#ManagerCollection.ManagerCollection",
        "Manager Collection",
        ctx.members("/redfish/v1/Managers"),
    ))
}

async fn manager(ctx: Ctx, headers: HeaderMap, Path(id): Path<String>) -> Response {
    ctx.with_host(&headers, &id, "GET Manager", |h, _| {
        let base = format!("/redfish/v1/Managers/{}", h.id);
        ok(json!({
            "@odata.id": base,
            "@odata.type": "#Manager.v1_5_0.Manager",
            "Id": h.id,
            "Name": format!("BMC of {}", h.name),
            "ManagerType": "BMC",
            "FirmwareVersion": h.firmware.bmc,
            "Status": {"State": "Enabled", "Health": "OK"},
            "VirtualMedia": {"@odata.id": format!("{base}/VirtualMedia")},
            "Links": {"ManagerForServers": [{"@odata.id": format!("/redfish/v1/Systems/{}", h.id)}]},
        }))
    })
}

async fn virtual_media(ctx: Ctx, headers: HeaderMap, Path(id): Path<String>) -> Response {
    ctx.with_host(&headers, &id, "GET VirtualMedia", |h, _| {
        let base = format!("/redfish/v1/Managers/{}/VirtualMedia", h.id);
        ok(collection(
            &base,
            "#VirtualMediaCollection.VirtualMediaCollection",
            "Virtual Media Services",
            vec![format!("{base}/Cd"), format!("{base}/Usb")],
        ))
    })
}

fn media_body(h: &mut Host, dev: &str) -> Option<Value> {
    let id = h.id.clone();
    let media = h.media(dev)?.clone();
    let base = format!("/redfish/v1/Managers/{id}/VirtualMedia/{dev}");
    let types = if dev == "Cd" {
        json!(["CD", "DVD"])
    } else {
        json!(["USBStick"])
    };
    Some(json!({
        "@odata.id": base,
        "@odata.type": "#VirtualMedia.v1_3_0.VirtualMedia",
        "Id": dev,
        "Name": format!("Virtual {dev}"),
        "MediaTypes": types,
        "Image": media.image,
        "ImageName": media.image.as_deref().and_then(|i| i.rsplit('/').next()),
        "Inserted": media.inserted,
        "WriteProtected": media.write_protected,
        "ConnectedVia": if media.inserted { "URI" } else { "NotConnected" },
        "Actions": {
            "#VirtualMedia.InsertMedia": {"target": format!("{base}/Actions/VirtualMedia.InsertMedia")},
            "#VirtualMedia.EjectMedia": {"target": format!("{base}/Actions/VirtualMedia.EjectMedia")},
        },
    }))
}

async fn media(ctx: Ctx, headers: HeaderMap, Path((id, dev)): Path<(String, String)>) -> Response {
    ctx.with_host(&headers, &id, "GET VirtualMedia", |h, _| {
        media_body(h, &dev)
            .map(ok)
            .unwrap_or_else(|| not_found(&format!("VirtualMedia {dev}")))
    })
}

async fn insert_media(
    ctx: Ctx,
    headers: HeaderMap,
    Path((id, dev)): Path<(String, String)>,
    body: axum::Json<Value>,
) -> Response {
    let mut on_vm: Option<(usize, crate::vm::Device, String)> = None;
    let response = ctx.with_host(&headers, &id, "POST InsertMedia", |h, _| {
        let Some(image) = body.get("Image").and_then(Value::as_str) else {
            return error(StatusCode::BAD_REQUEST, "InsertMedia needs an Image URL");
        };
        let inserted = body
            .get("Inserted")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let write_protected = body
            .get("WriteProtected")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let Some(media) = h.media(&dev) else {
            return not_found(&format!("VirtualMedia {dev}"));
        };
        if media.inserted {
            return error(
                StatusCode::CONFLICT,
                "a medium is already inserted; eject it first",
            );
        }
        media.image = Some(image.to_string());
        media.inserted = inserted;
        media.write_protected = write_protected;
        h.media_inserts += 1;
        if h.vm
            && inserted
            && let Some(device) = crate::vm::Device::from_redfish(&dev)
        {
            on_vm = Some((h.index, device, image.to_string()));
        }
        no_content()
    });
    // A VM's BMC fetches the image and inserts it, in order with what is asked next.
    if let Some((index, device, url)) = on_vm
        && let Some(vm) = ctx.fleet.vm(index)
        && let Err(e) = vm.insert(device, &url)
    {
        return error(StatusCode::INTERNAL_SERVER_ERROR, &e);
    }
    response
}

async fn eject_media(
    ctx: Ctx,
    headers: HeaderMap,
    Path((id, dev)): Path<(String, String)>,
) -> Response {
    let mut on_vm: Option<(usize, crate::vm::Device)> = None;
    let response = ctx.with_host(&headers, &id, "POST EjectMedia", |h, _| {
        let index = h.index;
        let vm = h.vm;
        let Some(media) = h.media(&dev) else {
            return not_found(&format!("VirtualMedia {dev}"));
        };
        media.image = None;
        media.inserted = false;
        if vm && let Some(device) = crate::vm::Device::from_redfish(&dev) {
            on_vm = Some((index, device));
        }
        no_content()
    });
    if let Some((index, device)) = on_vm
        && let Some(vm) = ctx.fleet.vm(index)
        && let Err(e) = vm.eject(device)
    {
        return error(StatusCode::INTERNAL_SERVER_ERROR, &e);
    }
    response
}

async fn chassis_collection(ctx: Ctx, headers: HeaderMap) -> Response {
    if let Err(r) = ctx.authorise(&headers, "GET Chassis") {
        return r;
    }
    ok(collection(
        "/redfish/v1/Chassis",
        "#ChassisCollection.ChassisCollection",
        "Chassis Collection",
        ctx.members("/redfish/v1/Chassis"),
    ))
}

async fn chassis(ctx: Ctx, headers: HeaderMap, Path(id): Path<String>) -> Response {
    ctx.with_host(&headers, &id, "GET Chassis", |h, _| {
        ok(json!({
            "@odata.id": format!("/redfish/v1/Chassis/{}", h.id),
            "@odata.type": "#Chassis.v1_10_0.Chassis",
            "Id": h.id,
            "Name": format!("Chassis of {}", h.name),
            "ChassisType": "RackMount",
            "PowerState": h.power.as_str(),
            "Status": {"State": "Enabled", "Health": "OK"},
            "Links": {"ComputerSystems": [{"@odata.id": format!("/redfish/v1/Systems/{}", h.id)}]},
        }))
    })
}

pub(super) fn routes() -> Router<Arc<Fleet>> {
    let mgr = "/redfish/v1/Managers/{id}";
    Router::new()
        .route("/redfish/v1/Managers", get(managers))
        .route(mgr, get(manager))
        .route(&format!("{mgr}/VirtualMedia"), get(virtual_media))
        .route(&format!("{mgr}/VirtualMedia/{{dev}}"), get(media))
        .route(
            &format!("{mgr}/VirtualMedia/{{dev}}/Actions/VirtualMedia.InsertMedia"),
            post(insert_media),
        )
        .route(
            &format!("{mgr}/VirtualMedia/{{dev}}/Actions/VirtualMedia.EjectMedia"),
            post(eject_media),
        )
        .route("/redfish/v1/Chassis", get(chassis_collection))
        .route("/redfish/v1/Chassis/{id}", get(chassis))
}
