//! HTTP wiring: the EM API servlet, the phone-facing EM service,
//! `/metrics`, and lab control.

use crate::io::em_api;
use crate::io::phone_service;
use crate::io::server::Server;
use crate::io::service_unavailable;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use emlab_protocol::em_api::{EM_API_PATH, MAX_BODY_BYTES};
use emlab_protocol::phone_xml::{CHANGE_CREDENTIAL_PATH, EM_SERVICE_PATH};
use std::net::SocketAddr;
use std::sync::Arc;

/// The `authenticationURL` phones ask before obeying a push to `/CGI/Execute`.
pub const AUTHENTICATE_PATH: &str = "/ccmcip/authenticate.jsp";

pub fn router(state: Arc<Server>, lab_control: bool) -> Router {
    let mut router = Router::new()
        .route(EM_API_PATH, post(em_servlet))
        .route(EM_SERVICE_PATH, get(phone_service::em_service))
        .route(
            CHANGE_CREDENTIAL_PATH,
            get(crate::io::change_credential::change_credential),
        )
        .route(AUTHENTICATE_PATH, get(authenticate))
        .route("/metrics", get(metrics));
    if lab_control {
        router = router.merge(crate::io::lab_control::routes());
    }
    router.with_state(state)
}

async fn em_servlet(
    State(state): State<Arc<Server>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    limits: Option<axum::Extension<crate::io::listener::HttpLimits>>,
    body: Body,
) -> axum::response::Response {
    if !state.em.em_running() || !state.em.em_api_running() {
        return service_unavailable();
    }
    let limits = limits.map(|l| l.0).unwrap_or_default();
    // A body that never ends (a chunked body shorter than it announces, a
    // client that stalls) is answered when the body timeout runs out.
    let read = tokio::time::timeout(
        limits.body_timeout,
        axum::body::to_bytes(body, MAX_BODY_BYTES),
    );
    let response = match read.await {
        Ok(Ok(bytes)) => em_api::handle(&state, &bytes, peer.ip()).await,
        // Over 64 KiB, the client went away mid-body, or it is too slow:
        // a parse error.
        Ok(Err(_)) | Err(_) => em_api::unreadable_body(&state),
    };
    (
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        response.to_xml(),
    )
        .into_response()
}

async fn metrics(State(state): State<Arc<Server>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.render_metrics(),
    )
}

/// `GET /ccmcip/authenticate.jsp?UserID=..&Password=..&devicename=..`: a
/// phone asks whether the credentials of a push are an application's. The
/// answer is exactly `AUTHORIZED`, `UN-AUTHORIZED` or `ERROR` (PROTOCOL.md §3).
async fn authenticate(
    State(state): State<Arc<Server>>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> &'static str {
    let mut user = None;
    let mut password = None;
    for (k, v) in form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        match k.as_ref() {
            "UserID" => user = Some(v.into_owned()),
            "Password" => password = Some(v.into_owned()),
            _ => {}
        }
    }
    match (user, password) {
        (Some(u), Some(p)) => match state.em.directory.application(&u) {
            Some(app) if app.certificate == p => "AUTHORIZED",
            _ => "UN-AUTHORIZED",
        },
        _ => "ERROR",
    }
}
