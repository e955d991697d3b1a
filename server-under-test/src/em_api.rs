//! The EM API servlet (PROTOCOL.md §1): authenticates the application,
//! admits login/logout under Maximum Concurrent Requests, and applies the
//! operation. Every outcome is a `<response>`; nothing here panics on input.
//!
//! Order of checks for a login, and why:
//! 1. parse (1) and application credentials (2, 3), proxy rights (10):
//!    cheap, and a caller that may not act must not consume a slot;
//! 2. admission (26): fails at once, before any database work;
//! 3. emulated database time, then device (11, 22), user (23), profile (12);
//! 4. under the session lock: the multiple-login rule (25, 18) and the change.

use crate::directory::DeviceIdx;
use crate::sessions::{ActiveLogin, LoginRules};
use crate::state::ServerState;
use emlab_protocol::ErrorCode;
use emlab_protocol::em_api::{
    AppInfo, DeviceProfileEntry, DeviceProfileItem, DeviceProfileResults, DeviceProfileUser,
    DeviceUser, DeviceUserResult, DeviceUserResults, Duration, Login, Logout, Message, Operation,
    Query, QueryKind, Response, ResponseBody, UserDevicesEntry, UserDevicesResult,
    UserDevicesResults,
};
use std::sync::atomic::Ordering;

/// The application a request authenticated as.
struct Caller<'a> {
    id: &'a str,
    proxy_rights: bool,
}

/// Answers one posted form body.
pub async fn handle(state: &ServerState, form_body: &[u8]) -> Response {
    let result = match decode(form_body) {
        Ok(Message::Request(r)) => handle_request(state, &r.app_info, r.operation).await,
        Ok(Message::Query(q)) => handle_query(state, &q),
        Err(code) => Err(code),
    };
    answer(state, result)
}

/// Answers a body that could not be read whole (over 64 KiB, or cut off).
pub fn unreadable_body(state: &ServerState) -> Response {
    answer(state, Err(ErrorCode::ParseError))
}

/// Counts the request and, for a failure, its code; builds the response.
fn answer(state: &ServerState, result: Result<Response, ErrorCode>) -> Response {
    state.metrics.requests.fetch_add(1, Ordering::Relaxed);
    match result {
        Ok(response) => response,
        Err(code) => {
            state.metrics.count_error(code.code());
            Response::failure(code, state.directory.profile)
        }
    }
}

/// The `xml` field of an `application/x-www-form-urlencoded` body, parsed.
fn decode(form_body: &[u8]) -> Result<Message, ErrorCode> {
    let xml = form_urlencoded::parse(form_body)
        .find(|(k, _)| k == "xml")
        .map(|(_, v)| v)
        .ok_or(ErrorCode::ParseError)?;
    Message::from_xml(&xml)
}

fn authenticate<'a>(state: &'a ServerState, app: &'a AppInfo) -> Result<Caller<'a>, ErrorCode> {
    let certificate = app.certificate().unwrap_or("");
    if app.app_id.trim().is_empty() || certificate.is_empty() {
        return Err(ErrorCode::AppNotAuthorized);
    }
    match state.directory.application(&app.app_id) {
        Some(a) if a.certificate == certificate => Ok(Caller {
            id: &app.app_id,
            proxy_rights: a.proxy_rights,
        }),
        _ => Err(ErrorCode::InvalidAppUser),
    }
}

async fn handle_request(
    state: &ServerState,
    app: &AppInfo,
    op: Operation,
) -> Result<Response, ErrorCode> {
    let caller = authenticate(state, app)?;
    match op {
        Operation::Login(login) => self::login(state, &caller, &login).await,
        Operation::Logout(logout) => self::logout(state, &caller, &logout).await,
        Operation::LogoutAll(_) => logout_all(state, &caller).await,
    }
}

/// The emulated database time of one login/logout (LIM-1 demos).
async fn database_work(state: &ServerState) {
    let ms = state.directory.operation_time_ms;
    if ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}

async fn login(
    state: &ServerState,
    caller: &Caller<'_>,
    login: &Login,
) -> Result<Response, ErrorCode> {
    if !caller.proxy_rights && login.user_id != caller.id {
        return Err(ErrorCode::NoProxyRights);
    }
    let _permit = state.admission.try_enter().ok_or(ErrorCode::Busy)?;
    database_work(state).await;
    let dir = &state.directory;
    let device = dir
        .device_idx(&login.device_name)
        .ok_or(ErrorCode::DeviceNotFound)?;
    if !dir.device(device).em_enabled {
        return Err(ErrorCode::DeviceLogonDisabled);
    }
    let user = dir
        .user_idx(&login.user_id)
        .ok_or(ErrorCode::UserNotFound)?;
    let profile = dir.resolve_profile(user, device, login.device_profile.as_deref())?;
    let exclusive_minutes = match login.exclusive_duration.as_ref().map(|d| &d.kind) {
        Some(Duration::Minutes(0)) => return Err(ErrorCode::LogoutRequestError),
        Some(Duration::Minutes(m)) => Some(*m),
        Some(Duration::Indefinite) | None => None,
    };
    // The earlier of the exclusive duration and the enforced maximum login time.
    let minutes = match (
        exclusive_minutes,
        dir.service_parameters.max_login_minutes(),
    ) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let rules = LoginRules {
        behavior: dir.multiple_login_behavior(),
        profile: dir.profile,
    };
    let mut sessions = state.sessions();
    let now = state.clock.now_ms();
    let active = ActiveLogin {
        user,
        profile,
        since_ms: now,
        expires_ms: minutes.map(|m| now + m as u64 * 60_000),
    };
    let effect = sessions.login(device, active, &rules)?;
    drop(sessions);
    state.count_automatic_logouts(&effect.logged_out);
    state.metrics.logins.fetch_add(1, Ordering::Relaxed);
    Ok(Response::success())
}

async fn logout(
    state: &ServerState,
    caller: &Caller<'_>,
    logout: &Logout,
) -> Result<Response, ErrorCode> {
    let _permit = state.admission.try_enter().ok_or(ErrorCode::Busy)?;
    database_work(state).await;
    let dir = &state.directory;
    let device: DeviceIdx = dir
        .device_idx(&logout.device_name)
        .ok_or(ErrorCode::DeviceNotFound)?;
    let em_enabled = dir.device(device).em_enabled;
    let mut sessions = state.sessions();
    let Some(current) = sessions.on_device(device) else {
        return Err(if em_enabled {
            ErrorCode::NoUserLoggedIn
        } else {
            ErrorCode::DeviceLogonDisabled
        });
    };
    if !caller.proxy_rights && dir.user(current.user).id != caller.id {
        return Err(ErrorCode::NoProxyRights);
    }
    if !em_enabled {
        return Err(ErrorCode::DeviceLogonDisabledAfterLogin);
    }
    sessions.logout(device);
    drop(sessions);
    state.metrics.logouts.fetch_add(1, Ordering::Relaxed);
    Ok(Response::success())
}

async fn logout_all(state: &ServerState, caller: &Caller<'_>) -> Result<Response, ErrorCode> {
    if !caller.proxy_rights {
        return Err(ErrorCode::NoProxyRights);
    }
    let _permit = state.admission.try_enter().ok_or(ErrorCode::Busy)?;
    database_work(state).await;
    let n = state.sessions().logout_all();
    state.metrics.logouts.fetch_add(n as u64, Ordering::Relaxed);
    Ok(Response::success())
}

fn handle_query(state: &ServerState, query: &Query) -> Result<Response, ErrorCode> {
    authenticate(state, &query.app_info)?;
    let dir = &state.directory;
    let sessions = state.sessions();
    let body = match &query.kind {
        QueryKind::DeviceUser(q) => ResponseBody::DeviceUserResults(DeviceUserResults {
            devices: q
                .device_names
                .iter()
                .map(|name| DeviceUserResult {
                    name: name.clone(),
                    user: match dir.device_idx(name) {
                        None => DeviceUser::DoesNotExist,
                        Some(d) => match sessions.on_device(d) {
                            Some(l) => DeviceUser::User(dir.user(l.user).id.clone()),
                            None => DeviceUser::Nobody,
                        },
                    },
                })
                .collect(),
        }),
        QueryKind::UserDevices(q) => ResponseBody::UserDevicesResults(UserDevicesResults {
            users: q
                .user_ids
                .iter()
                .map(|id| UserDevicesResult {
                    id: id.clone(),
                    entries: match dir.user_idx(id) {
                        None => vec![UserDevicesEntry::DoesNotExist],
                        Some(u) => match sessions.devices_of(u) {
                            [] => vec![UserDevicesEntry::Nobody],
                            devices => devices
                                .iter()
                                .map(|&d| UserDevicesEntry::Device(dir.device(d).name.clone()))
                                .collect(),
                        },
                    },
                })
                .collect(),
        }),
        QueryKind::DeviceProfile(q) => ResponseBody::DeviceProfileResults(DeviceProfileResults {
            users: q
                .user_ids
                .iter()
                .map(|id| DeviceProfileUser {
                    id: id.clone(),
                    entries: match dir.user_idx(id) {
                        None => vec![DeviceProfileEntry::DoesNotExist],
                        Some(u) => match dir.user(u).profiles.as_slice() {
                            [] => vec![DeviceProfileEntry::Nobody],
                            profiles => profiles
                                .iter()
                                .enumerate()
                                .map(|(i, &p)| {
                                    DeviceProfileEntry::Profile(DeviceProfileItem {
                                        name: dir.profile(p).name.clone(),
                                        is_default: if i == 0 { "t" } else { "f" }.into(),
                                    })
                                })
                                .collect(),
                        },
                    },
                })
                .collect(),
        }),
    };
    Ok(Response { body })
}
