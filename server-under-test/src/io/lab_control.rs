//! Lab control (PROTOCOL.md §6): JSON over HTTP under `/lab/`, served only
//! with `--lab-control`. It does what a CUCM administrator would do in the
//! administration pages, so tests can reach every behaviour that depends on
//! it, and moves the server clock so no test waits for a timer.
//!
//! | request | effect |
//! |---|---|
//! | `POST /lab/clock/advance {"seconds": N}` | the server clock jumps; due timers fire |
//! | `GET /lab/service-parameters` | the parameters in force |
//! | `POST /lab/service-parameters {"max_concurrent_requests": 2, ...}` | changes the named ones (checked like the lab file; TIME-2) |
//! | `POST /lab/users/{id}/pin {"pin": "54321", "must_change": false}` | changes a PIN (AUTH-5), flagged must-change or not (CRED-2) |
//! | `POST /lab/devices/{name}/logout` | an administrator logs the device out (LOG-7) |
//! | `POST /lab/em-service {"running": false}` | stops or starts the EM service (LIM-4, TIME-6) |
//! | `POST /lab/em-api {"running": false}` | stops only the EM API, as if the phone service could not reach it (URL-3) |
//! | `POST /lab/devices/{name}/dnd {"status": true, "alert": "beep-only"}` | DND pressed on the phone (LOG-10) |
//! | `POST /lab/devices/{name}/call-back {"number": "2002"}` | the logged-in user activates Call Back (LOG-8) |
//! | `GET /lab/users/{id}` | the user's active Call Backs and saved DND |
//! | `POST /lab/troubleshooting {"cause": "clock-skew", "on": true}` | plays a cause from the seeds' troubleshooting tables (TRBL-1..4: `clock-skew`, `switch-version`, `dns-callmanager`, `no-logout-profile`); `GET` lists those playing |
//! | `POST /lab/profiles/{name} {"lines": [...], "speed_dials": [...], "features": [...], "services": [...], "locale": ".."}` | changes a device profile (checked like the lab file); the next login loads it, a session already logged in keeps its version (PROF-9) |

// An error here is a whole HTTP reply, built once per refused lab request;
// its size does not matter off the request path of the EM service.
#![allow(clippy::result_large_err)]

use crate::core::directory::{DeviceIdx, UserIdx};
use crate::core::troubleshooting::Cause;
use crate::io::server::Server;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use emlab_protocol::lab::ServiceParameters;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use std::sync::Arc;

pub fn routes() -> Router<Arc<Server>> {
    Router::new()
        .route("/lab/clock/advance", post(advance_clock))
        .route(
            "/lab/service-parameters",
            get(get_parameters).post(set_parameters),
        )
        .route("/lab/users/{id}/pin", post(set_pin))
        .route("/lab/devices/{name}/logout", post(admin_logout))
        .route("/lab/em-service", post(em_service))
        .route("/lab/em-api", post(em_api))
        .route("/lab/devices/{name}/dnd", post(set_dnd))
        .route("/lab/devices/{name}/call-back", post(call_back))
        .route("/lab/users/{id}", get(user_state))
        .route("/lab/profiles/{name}", post(edit_profile))
        .route(
            "/lab/troubleshooting",
            get(troubleshooting).post(play_troubleshooting),
        )
}

fn reply(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn ok(body: Value) -> Reply {
    Ok(reply(StatusCode::OK, body))
}

fn bad_request(message: impl Into<String>) -> Response {
    let message = message.into();
    tracing::debug!(reason = %message, "lab control request refused");
    reply(StatusCode::BAD_REQUEST, json!({ "error": message }))
}

/// Handlers answer `Err` with the error reply, so `?` ends them early.
type Reply = Result<Response, Response>;

fn device_of(state: &Server, name: &str) -> Result<DeviceIdx, Response> {
    state.em.directory.device_idx(name).ok_or_else(|| {
        reply(
            StatusCode::NOT_FOUND,
            json!({ "error": format!("no device `{name}`") }),
        )
    })
}

fn user_of(state: &Server, id: &str) -> Result<UserIdx, Response> {
    state.em.directory.user_idx(id).ok_or_else(|| {
        reply(
            StatusCode::NOT_FOUND,
            json!({ "error": format!("no user `{id}`") }),
        )
    })
}

/// Waits until the change is in the state file (`--state`), so an
/// answered change outlives a kill -9.
async fn saved(state: &Server) -> Result<(), Response> {
    state.persist().await.map_err(|_| {
        reply(
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "error": "changed in memory, but the state file could not be written (see the server log); it is retried" }),
        )
    })
}

/// Reads a small JSON body of type `T`.
async fn json_body<T: DeserializeOwned>(body: Body) -> Result<T, Response> {
    let bytes = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map_err(|_| bad_request("body too large"))?;
    serde_json::from_slice(&bytes).map_err(|e| bad_request(format!("bad JSON: {e}")))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: u64,
}

async fn advance_clock(State(state): State<Arc<Server>>, body: Body) -> Reply {
    let Advance { seconds } = json_body(body).await?;
    state.em.advance_clock(seconds.saturating_mul(1000));
    state.run_due_timers();
    saved(&state).await?;
    ok(json!({ "now_ms": state.em.clock.now_ms() }))
}

async fn get_parameters(State(state): State<Arc<Server>>) -> Reply {
    ok(json!(*state.em.parameters()))
}

/// Changes the named parameters; the others keep their values.
async fn set_parameters(State(state): State<Arc<Server>>, body: Body) -> Reply {
    let changes: serde_json::Map<String, Value> = json_body(body).await?;
    let current = state.em.parameters();
    let mut merged = json!(*current);
    for (k, v) in &changes {
        merged[k] = v.clone();
    }
    // TIME-2: setting a maximum login time while Enforce is False turns it on.
    if changes.contains_key("max_login_time")
        && !changes.contains_key("enforce_max_login_time")
        && !current.enforce_max_login_time
    {
        merged["enforce_max_login_time"] = json!(true);
    }
    let parameters: ServiceParameters = match serde_json::from_value(merged) {
        Ok(p) => p,
        Err(e) => return Err(bad_request(e.to_string())),
    };
    if let Err((key, message)) = parameters.check(state.em.directory.profile) {
        return Err(bad_request(format!("{key}: {message}")));
    }
    state.set_parameters(parameters).await;
    saved(&state).await?;
    ok(json!(*state.em.parameters()))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPin {
    pin: String,
    /// Flags the new PIN must-change (error 27 at login until the user
    /// changes it, CRED-2); by default a PIN set here need not change.
    #[serde(default)]
    must_change: bool,
}

async fn set_pin(State(state): State<Arc<Server>>, Path(id): Path<String>, body: Body) -> Reply {
    let user = user_of(&state, &id)?;
    let NewPin { pin, must_change } = json_body(body).await?;
    if pin.is_empty() {
        return Err(bad_request("the PIN is empty"));
    }
    state.em.set_pin(user, pin);
    state.em.flag_must_change(user, must_change);
    saved(&state).await?;
    ok(json!({ "user": id }))
}

async fn admin_logout(State(state): State<Arc<Server>>, Path(name): Path<String>) -> Reply {
    let device = device_of(&state, &name)?;
    let (was, effects) = state.em.admin_logout(device);
    state.deliver(effects);
    let user = was.map(|l| state.em.directory.user(l.user).id.clone());
    saved(&state).await?;
    ok(json!({ "device": name, "logged_out": user }))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Running {
    running: bool,
}

async fn em_service(State(state): State<Arc<Server>>, body: Body) -> Reply {
    let Running { running } = json_body(body).await?;
    state.em.set_em_running(running);
    ok(json!({ "running": state.em.em_running() }))
}

async fn em_api(State(state): State<Arc<Server>>, body: Body) -> Reply {
    let Running { running } = json_body(body).await?;
    state.em.set_em_api_running(running);
    ok(json!({ "running": state.em.em_api_running() }))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Play {
    cause: String,
    on: bool,
}

async fn troubleshooting(State(state): State<Arc<Server>>) -> Reply {
    ok(json!({ "playing": state.em.troubleshooting.playing() }))
}

async fn play_troubleshooting(State(state): State<Arc<Server>>, body: Body) -> Reply {
    let Play { cause, on } = json_body(body).await?;
    let Some(c) = Cause::from_name(&cause) else {
        let known: Vec<&str> = Cause::ALL.into_iter().map(Cause::name).collect();
        return Err(bad_request(format!(
            "unknown cause `{cause}`; known: {}",
            known.join(", ")
        )));
    };
    tracing::info!(cause = %cause, on, "troubleshooting cause played");
    state.deliver(state.em.play(c, on));
    saved(&state).await?;
    ok(json!({ "playing": state.em.troubleshooting.playing() }))
}

async fn set_dnd(State(state): State<Arc<Server>>, Path(name): Path<String>, body: Body) -> Reply {
    let device = device_of(&state, &name)?;
    let dnd: crate::core::features::Dnd = json_body(body).await?;
    let user = state.apply_due_timers().on_device(device).map(|l| l.user);
    state.em.features().set_dnd(device, user, dnd);
    let owner = user.map(|u| state.em.directory.user(u).id.clone());
    saved(&state).await?;
    ok(json!({ "device": name, "saved_for_user": owner }))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CallBack {
    number: String,
}

async fn call_back(
    State(state): State<Arc<Server>>,
    Path(name): Path<String>,
    body: Body,
) -> Reply {
    let device = device_of(&state, &name)?;
    let CallBack { number } = json_body(body).await?;
    let Some(login) = state.apply_due_timers().on_device(device) else {
        return Err(reply(
            StatusCode::CONFLICT,
            json!({ "error": "nobody is logged in on this device" }),
        ));
    };
    state.em.features().activate_call_back(login.user, number);
    saved(&state).await?;
    ok(json!({ "user": state.em.directory.user(login.user).id }))
}

async fn user_state(State(state): State<Arc<Server>>, Path(id): Path<String>) -> Reply {
    let user = user_of(&state, &id)?;
    let features = state.em.features();
    ok(
        json!({ "user": id, "call_backs": features.call_backs(user), "dnd": features.user_dnd(user) }),
    )
}

/// The fields of a profile an administrator changes; those left out keep
/// their values.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileEdit {
    locale: Option<String>,
    lines: Option<Vec<emlab_protocol::lab::Line>>,
    speed_dials: Option<Vec<emlab_protocol::lab::SpeedDial>>,
    features: Option<Vec<String>>,
    services: Option<Vec<String>>,
}

/// PROF-9: the change applies at the next login of each user of the
/// profile; sessions logged in with it keep the version they loaded.
async fn edit_profile(
    State(state): State<Arc<Server>>,
    Path(name): Path<String>,
    body: Body,
) -> Reply {
    let edit: ProfileEdit = json_body(body).await?;
    let dir = &state.em.directory;
    let Some(first) = dir.profile_idx(&name) else {
        return Err(reply(
            StatusCode::NOT_FOUND,
            json!({ "error": format!("no profile `{name}`") }),
        ));
    };
    let current = dir.profile(dir.current(first));
    let lines = edit.lines.unwrap_or_else(|| current.lines.clone());
    let speed_dials = edit
        .speed_dials
        .unwrap_or_else(|| current.speed_dials.clone());
    let has_device = |d: &str| dir.device_idx(d).is_some();
    if let Err(bad) =
        emlab_protocol::lab::check_entries(dir.profile, &name, &lines, &speed_dials, has_device)
    {
        return Err(bad_request(format!("{}: {}", bad.key, bad.message)));
    }
    let edited = dir.edit_profile(&name, |p| {
        p.lines = lines;
        p.speed_dials = speed_dials;
        if let Some(locale) = edit.locale {
            p.locale = Some(locale);
        }
        if let Some(features) = edit.features {
            p.features = features;
        }
        if let Some(services) = edit.services {
            p.services = services;
        }
    });
    match edited {
        Ok(_) => ok(json!({ "profile": name, "applies": "at the next login" })),
        Err(why) => Err(reply(
            StatusCode::CONFLICT,
            json!({ "error": format!("{why:?}: at most {} profile edits a run", crate::core::directory::MAX_PROFILE_EDITS) }),
        )),
    }
}
