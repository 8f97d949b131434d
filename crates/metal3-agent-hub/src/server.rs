//! The hub's HTTPS endpoint: `POST /v1/agent/report` (an agent calling home) and
//! `GET`/`HEAD /agent/<namespace>/<name>/<nonce>.iso` (a BMC fetching a host's boot image),
//! served over TLS with the hub's serving certificate.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use metal3_agent_api::bootimage;
use metal3_agent_api::{REPORT_PATH, Report};

use crate::Hub;
use crate::image::Wanted;

/// The hub's routes.
pub(crate) fn router(hub: Hub) -> Router {
    Router::new()
        .route(REPORT_PATH, post(report))
        .route("/agent/{namespace}/{name}/{file}", get(image))
        .with_state(hub)
}

/// Serves the routes over TLS on `listener` until `shutdown` completes.
pub(crate) async fn serve(
    hub: Hub,
    listener: std::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let keys = &hub.inner.keys;
    let config = axum_server::tls_rustls::RustlsConfig::from_pem(
        keys.serving.cert.clone().into_bytes(),
        keys.serving.key.clone().into_bytes(),
    )
    .await?;
    listener.set_nonblocking(true)?;
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        stopper.shutdown();
    });
    axum_server::from_tcp_rustls(listener, config)
        .handle(handle)
        .serve(router(hub).into_make_service())
        .await
}

fn refuse(status: StatusCode, reason: impl Into<String>) -> Response {
    (status, reason.into()).into_response()
}

/// An agent's report: checked, recorded, answered with the next command.
async fn report(State(hub): State<Hub>, headers: HeaderMap, body: Bytes) -> Response {
    let report: Report = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("not a report: {e}")),
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let host = report.host.to_string();
    let answer = hub.report(bearer, report, Instant::now());
    match answer {
        Ok(reply) => axum::Json(reply).into_response(),
        Err(rejection) => {
            if rejection.status == 401 {
                tracing::warn!(%host, reason = %rejection.reason, "refused an agent's report");
            } else {
                // Routine after an operator restart, until the backend looks at the host.
                tracing::info!(%host, reason = %rejection.reason, "refused an agent's report");
            }
            let status = StatusCode::from_u16(rejection.status).unwrap_or(StatusCode::FORBIDDEN);
            refuse(status, rejection.reason)
        }
    }
}

/// A host's boot image: the generic one with the host's archive in the slot, whole or a range.
async fn image(
    State(hub): State<Hub>,
    method: Method,
    Path((namespace, name, file)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> Response {
    let not_found = || refuse(StatusCode::NOT_FOUND, "no such boot image (an old URL?)\n");
    let Some(nonce) = file.strip_suffix(".iso") else {
        return not_found();
    };
    let Some(config) = hub.agent_config(&namespace, &name, nonce) else {
        return not_found();
    };
    let archive = match bootimage::host_archive(&config) {
        Ok(a) => Arc::new(a),
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    };
    let image = &hub.inner.image;
    let len = image.len();
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let (status, span) = match crate::image::wanted(range, len) {
        Wanted::Whole => (StatusCode::OK, 0..len),
        Wanted::Part(r) => (StatusCode::PARTIAL_CONTENT, r),
        Wanted::Unsatisfiable => {
            let mut r = refuse(StatusCode::RANGE_NOT_SATISFIABLE, "");
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{len}")) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
            return r;
        }
    };
    let mut headers = HeaderMap::new();
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-iso9660-image"),
    );
    headers.insert(
        header::CONTENT_LENGTH,
        HeaderValue::from(span.end - span.start),
    );
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) = HeaderValue::from_str(&format!(
            "bytes {}-{}/{len}",
            span.start,
            span.end.saturating_sub(1)
        ))
    {
        headers.insert(header::CONTENT_RANGE, v);
    }
    let body = if method == Method::HEAD {
        Body::empty()
    } else {
        Body::from_stream(image.stream(span, archive))
    };
    (status, headers, body).into_response()
}
