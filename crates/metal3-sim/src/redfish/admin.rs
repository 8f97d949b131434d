//! The simulator's own endpoints (`/metal3-sim/…`, on the many-server listener only) and the
//! layer that applies the realism knobs to every request for a server.
//!
//! - `GET /metal3-sim/calls`: requests answered, per server and per kind, plus service-level
//!   requests of the many-server service;
//! - `GET|PUT /metal3-sim/faults`: the fleet-wide knobs;
//! - `GET|PUT|DELETE /metal3-sim/faults/<server>`: one server's knobs (name or id);
//! - `GET /metal3-sim/hosts/<server>`: what the server is doing (and, for a VM-backed one,
//!   qemu's state, its disks' files and the console file);
//! - `GET /metal3-sim/hosts/<server>/console[?follow]`: a VM's serial console, whole or
//!   followed as it grows;
//! - `POST /metal3-sim/hosts/<server>/disks/reset`: a VM's disks replaced by empty ones;
//! - `PUT /metal3-sim/hosts/<server>/disks/<n>`: an image file (`{"path": …, "format":
//!   "raw"|"qcow2"}`) written onto a VM's disk `n`, as if the server had been imaged;
//! - `PUT /metal3-sim/hosts/<server>/credentials`: the credentials its BMC accepts;
//! - `GET /metal3-sim/sessions`: sessions open on every service.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post, put};
use serde_json::{Value, json};

use super::{Ctx, Fleet, Scope, error, lock, not_found, ok, system::running_text};
use crate::faults::{Faults, Verdict};

/// Releases a BMC's concurrency slot when the request ends (or is dropped), waking one
/// queued request.
struct Slot<'a>(&'a AtomicUsize, &'a tokio::sync::Notify);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
        self.1.notify_one();
    }
}

/// Takes one of a BMC's `limit` slots (0 = unlimited): at once, or `None` when it is busy and
/// `queue` is off; with `queue`, waits for a slot.
async fn take_slot<'a>(
    counter: &'a AtomicUsize,
    freed: &'a tokio::sync::Notify,
    limit: usize,
    queue: bool,
) -> Option<Slot<'a>> {
    loop {
        let notified = freed.notified();
        let before = counter.fetch_add(1, Ordering::AcqRel);
        let slot = Slot(counter, freed);
        if limit == 0 || before < limit {
            return Some(slot);
        }
        // Over the limit: give the slot back without waking anyone (it was never ours).
        std::mem::forget(slot);
        counter.fetch_sub(1, Ordering::AcqRel);
        if !queue {
            return None;
        }
        notified.await;
    }
}

/// The server a request is about: the one of a one-server BMC, else from the path.
fn target(ctx: &Ctx, path: &str) -> Option<usize> {
    if let Scope::One(i) = ctx.service.scope {
        return Some(i);
    }
    let rest = path.strip_prefix("/redfish/v1/")?;
    let mut parts = rest.split('/');
    let kind = parts.next()?;
    let id = parts.next()?;
    match kind {
        "Systems" | "Managers" | "Chassis" => ctx.index(id),
        "UpdateService" if id == "FirmwareInventory" => {
            let item = parts.next()?;
            ctx.index(item.rsplit_once('.')?.0)
        }
        _ => None,
    }
}

/// A response whose body fails at once: the client sees the connection dropped.
fn dropped() -> Response {
    let failing = futures::stream::once(async {
        Err::<axum::body::Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "injected connection reset",
        ))
    });
    let mut r = Response::new(Body::from_stream(failing));
    *r.status_mut() = StatusCode::OK;
    r
}

/// Applies the knobs of the server a request is about.
pub(super) async fn fault_layer(
    State(fleet): State<Arc<Fleet>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(service) = request.extensions().get::<Arc<super::Service>>().cloned() else {
        return next.run(request).await;
    };
    let ctx = Ctx { fleet, service };
    let Some(index) = target(&ctx, request.uri().path()) else {
        return next.run(request).await;
    };
    let fleet = &ctx.fleet;
    let faults = fleet.faults_for(index);
    let slot = take_slot(
        &fleet.in_flight[index],
        &fleet.slot_freed[index],
        faults.concurrency_limit,
        faults.queue_when_busy,
    )
    .await;
    let Some(_slot) = slot else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the BMC is busy with other requests; retry later",
        );
    };
    let (latency, verdict) = fleet.dice.judge(&faults);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    match verdict {
        Verdict::Serve => next.run(request).await,
        Verdict::Fail => error(StatusCode::INTERNAL_SERVER_ERROR, "injected BMC failure"),
        Verdict::Reset => dropped(),
        Verdict::Hang => std::future::pending().await,
    }
}

type Admin = State<Arc<Fleet>>;

async fn calls(State(fleet): Admin) -> Response {
    let hosts: serde_json::Map<String, Value> = fleet
        .hosts
        .iter()
        .map(|h| {
            let h = lock(h);
            (h.id.clone(), json!(h.calls))
        })
        .collect();
    let mut service = serde_json::Map::new();
    for s in lock(&fleet.services).iter() {
        if s.scope == Scope::All {
            for (k, v) in lock(&s.calls).iter() {
                let total = service.get(k).and_then(Value::as_u64).unwrap_or(0) + v;
                service.insert(k.clone(), Value::from(total));
            }
        }
    }
    ok(json!({"hosts": hosts, "service": service}))
}

async fn get_faults(State(fleet): Admin) -> Response {
    ok(json!(fleet.faults()))
}

fn parse_faults(body: Value) -> Result<Faults, Response> {
    serde_json::from_value(body).map_err(|e| error(StatusCode::BAD_REQUEST, &e.to_string()))
}

async fn put_faults(State(fleet): Admin, body: axum::Json<Value>) -> Response {
    let faults = match parse_faults(body.0) {
        Ok(f) => f,
        Err(r) => return r,
    };
    match fleet.set_faults(faults) {
        Ok(()) => ok(json!(fleet.faults())),
        Err(e) => error(StatusCode::BAD_REQUEST, &e),
    }
}

fn server(fleet: &Fleet, name: &str) -> Result<usize, Response> {
    fleet
        .index_of(name)
        .ok_or_else(|| not_found(&format!("simulated server {name}")))
}

async fn get_host_faults(State(fleet): Admin, Path(name): Path<String>) -> Response {
    match server(&fleet, &name) {
        Ok(i) => ok(json!(fleet.faults_for(i))),
        Err(r) => r,
    }
}

async fn put_host_faults(
    State(fleet): Admin,
    Path(name): Path<String>,
    body: axum::Json<Value>,
) -> Response {
    let index = match server(&fleet, &name) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let faults = match parse_faults(body.0) {
        Ok(f) => f,
        Err(r) => return r,
    };
    match fleet.set_host_faults(index, Some(faults)) {
        Ok(()) => ok(json!(fleet.faults_for(index))),
        Err(e) => error(StatusCode::BAD_REQUEST, &e),
    }
}

async fn delete_host_faults(State(fleet): Admin, Path(name): Path<String>) -> Response {
    match server(&fleet, &name) {
        Ok(i) => {
            let _ = fleet.set_host_faults(i, None);
            ok(json!(fleet.faults_for(i)))
        }
        Err(r) => r,
    }
}

async fn get_host(State(fleet): Admin, Path(name): Path<String>) -> Response {
    let Some(index) = server(&fleet, &name).ok() else {
        return not_found(&format!("simulated server {name}"));
    };
    let vm = match fleet.vm(index) {
        Some(vm) => Some(vm.describe().await),
        None => None,
    };
    let Some(h) = fleet.host(index) else {
        return not_found(&format!("simulated server {name}"));
    };
    ok(json!({
        "vm": vm,
        "name": h.name,
        "id": h.id,
        "power": h.power.as_str(),
        "running": running_text(&h.running),
        "boots": h.boots,
        "powerOns": h.power_ons,
        "mediaBoots": h.media_boots,
        "mediaInserts": h.media_inserts,
        "secureBoot": h.secure_boot_current,
        "boot": {"target": h.boot.target, "enabled": h.boot.enabled, "mode": h.boot.mode},
        "virtualMedia": {
            "cd": {"image": h.cd.image, "inserted": h.cd.inserted},
            "usb": {"image": h.usb.image, "inserted": h.usb.inserted},
        },
        "bios": {"current": h.bios.current, "pending": h.bios.pending},
        "firmware": {"bios": h.firmware.bios, "bmc": h.firmware.bmc, "nic": h.firmware.nic,
                     "pending": h.firmware.pending.iter().map(|(c, v)| json!({"component": c.id(), "version": v})).collect::<Vec<_>>()},
        "volumes": h.storage.volumes.iter().map(|v| json!({"id": v.id, "name": v.name, "raidType": v.raid.as_str(), "capacityBytes": v.capacity_bytes})).collect::<Vec<_>>(),
        "pendingVolumeChanges": h.storage.pending.len(),
    }))
}

async fn put_credentials(
    State(fleet): Admin,
    Path(name): Path<String>,
    body: axum::Json<Value>,
) -> Response {
    let index = match server(&fleet, &name) {
        Ok(i) => i,
        Err(r) => return r,
    };
    let field = |f: &str| body.get(f).and_then(Value::as_str).map(str::to_string);
    let (Some(username), Some(password)) = (field("username"), field("password")) else {
        return error(
            StatusCode::BAD_REQUEST,
            "the body needs username and password strings",
        );
    };
    fleet.set_credentials(index, &username, &password);
    // The credentials are the caller's own; never echo them.
    ok(json!({"name": name, "updated": true}))
}

/// The VM behind a server, or the answer saying there is none.
fn vm_of<'a>(fleet: &'a Fleet, name: &str) -> Result<&'a crate::vm::Vm, Response> {
    let index = server(fleet, name)?;
    fleet.vm(index).ok_or_else(|| {
        error(
            StatusCode::CONFLICT,
            &format!("simulated server {name} is not VM-backed (it has no console or disk files)"),
        )
    })
}

async fn console(
    State(fleet): Admin,
    Path(name): Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    let vm = match vm_of(&fleet, &name) {
        Ok(vm) => vm,
        Err(r) => return r,
    };
    let path = vm.files.console();
    let follow = query.as_deref().is_some_and(|q| {
        q.split('&')
            .any(|p| p == "follow" || p.starts_with("follow="))
    });
    let body = if follow {
        Body::from_stream(crate::vm::console::follow(path))
    } else {
        Body::from(crate::vm::console::read(&path).await)
    };
    Response::builder()
        .header("content-type", "text/plain; charset=utf-8")
        .body(body)
        .unwrap_or_default()
}

async fn reset_disks(State(fleet): Admin, Path(name): Path<String>) -> Response {
    let vm = match vm_of(&fleet, &name) {
        Ok(vm) => vm,
        Err(r) => return r,
    };
    match vm.reset_disks().await {
        Ok(()) => ok(vm.describe().await),
        Err(e) => error(StatusCode::CONFLICT, &e),
    }
}

async fn write_disk(
    State(fleet): Admin,
    Path((name, disk)): Path<(String, usize)>,
    body: axum::Json<Value>,
) -> Response {
    let vm = match vm_of(&fleet, &name) {
        Ok(vm) => vm,
        Err(r) => return r,
    };
    let Some(path) = body.get("path").and_then(Value::as_str) else {
        return error(
            StatusCode::BAD_REQUEST,
            "the body needs \"path\": the image file to write (and \"format\": raw or qcow2)",
        );
    };
    let format = body.get("format").and_then(Value::as_str).unwrap_or("raw");
    match vm.write_disk(disk, path, format).await {
        Ok(()) => ok(vm.describe().await),
        Err(e) => error(StatusCode::CONFLICT, &e),
    }
}

async fn sessions(State(fleet): Admin) -> Response {
    ok(json!({"open": fleet.open_sessions()}))
}

pub(super) fn routes(fleet: Arc<Fleet>) -> Router {
    Router::new()
        .route("/metal3-sim/calls", get(calls))
        .route("/metal3-sim/faults", get(get_faults).put(put_faults))
        .route(
            "/metal3-sim/faults/{name}",
            get(get_host_faults)
                .put(put_host_faults)
                .delete(delete_host_faults),
        )
        .route("/metal3-sim/hosts/{name}", get(get_host))
        .route("/metal3-sim/hosts/{name}/credentials", put(put_credentials))
        .route("/metal3-sim/hosts/{name}/console", get(console))
        .route("/metal3-sim/hosts/{name}/disks/reset", post(reset_disks))
        .route("/metal3-sim/hosts/{name}/disks/{disk}", put(write_disk))
        .route("/metal3-sim/sessions", get(sessions))
        .with_state(fleet)
}
