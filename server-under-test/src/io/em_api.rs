//! The EM API servlet (PROTOCOL.md §1): parses the request (1, 8),
//! authenticates the application (2, 3) and checks its proxy rights (10)
//! before anything else, since a caller that may not act must not consume
//! a Maximum Concurrent Requests slot; then hands the operation to
//! [`crate::operations`]. Every outcome is a `<response>`; nothing here
//! panics on input.

use crate::core::addresses::Source;
use crate::core::operations::LoginOrder;
use crate::io::server::Server;
use emlab_protocol::ErrorCode;
use emlab_protocol::em_api::{
    AppInfo, DeviceProfileEntry, DeviceProfileItem, DeviceProfileResults, DeviceProfileUser,
    DeviceUser, DeviceUserResult, DeviceUserResults, Duration, Login, Logout, Message, Operation,
    Query, QueryKind, Response, ResponseBody, UserDevicesEntry, UserDevicesResult,
    UserDevicesResults,
};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::Ordering;

/// The application a request authenticated as.
struct Caller<'a> {
    id: &'a str,
    proxy_rights: bool,
}

/// Answers one posted form body.
/// `peer` is the caller's address (IP-1 uses it when no `remoteIPAddr` is given).
pub async fn handle(state: &Server, form_body: &[u8], peer: IpAddr) -> Response {
    let result = match decode(form_body) {
        Ok(Message::Request(r)) => handle_request(state, &r.app_info, r.operation, peer).await,
        Ok(Message::Query(q)) => handle_query(state, &q),
        Err(code) => Err(code),
    };
    // Answer only what the state file holds (`--state`): a login that is
    // acknowledged outlives a kill -9, and so does a logout a timer made
    // before this query saw it.
    let result = match state.persist().await {
        Ok(()) => result,
        Err(code) => Err(code),
    };
    answer(state, result)
}

/// Answers a body that could not be read whole (over 64 KiB, or cut off).
pub fn unreadable_body(state: &Server) -> Response {
    answer(state, Err(ErrorCode::ParseError))
}

/// Counts the request and, for a failure, its code; builds the response.
fn answer(state: &Server, result: Result<Response, ErrorCode>) -> Response {
    state.metrics.requests.fetch_add(1, Ordering::Relaxed);
    match result {
        Ok(response) => response,
        Err(code) => {
            // The code and its text only: a request's body may hold a
            // certificate, and none is ever logged.
            tracing::debug!(
                code = code.code(),
                reason = code.text(state.em.directory.profile),
                "EM API request refused"
            );
            state.metrics.count_error(code.code());
            Response::failure(code, state.em.directory.profile)
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

fn authenticate<'a>(state: &'a Server, app: &'a AppInfo) -> Result<Caller<'a>, ErrorCode> {
    let certificate = app.certificate().unwrap_or("");
    if app.app_id.trim().is_empty() || certificate.is_empty() {
        return Err(ErrorCode::AppNotAuthorized);
    }
    match state.em.directory.application(&app.app_id) {
        Some(a) if a.certificate == certificate => Ok(Caller {
            id: &app.app_id,
            proxy_rights: a.proxy_rights,
        }),
        _ => Err(ErrorCode::InvalidAppUser),
    }
}

async fn handle_request(
    state: &Server,
    app: &AppInfo,
    op: Operation,
    peer: IpAddr,
) -> Result<Response, ErrorCode> {
    let caller = authenticate(state, app)?;
    match op {
        Operation::Login(login) => self::login(state, &caller, &login, peer).await,
        Operation::Logout(logout) => self::logout(state, &caller, &logout, peer).await,
        Operation::LogoutAll(all) => {
            logout_all(
                state,
                &caller,
                source(peer, &all.remote_ip_addr, &all.is_via_header_set),
            )
            .await
        }
    }
}

/// The phone's address as the application passes it on (`remoteIPAddr`,
/// `isViaHeaderSet`), else the caller's own. An address that does not parse
/// can never be validated (IP-1).
fn source(peer: IpAddr, remote_ip: &Option<String>, via: &Option<String>) -> Source {
    let ip = match remote_ip {
        Some(r) => r
            .trim()
            .trim_matches(['[', ']'])
            .parse()
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        None => peer,
    };
    Source::new(
        ip,
        via.as_deref()
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
    )
}

async fn login(
    state: &Server,
    caller: &Caller<'_>,
    login: &Login,
    peer: IpAddr,
) -> Result<Response, ErrorCode> {
    if !caller.proxy_rights && login.user_id != caller.id {
        return Err(ErrorCode::NoProxyRights);
    }
    let exclusive_minutes = match login.exclusive_duration.as_ref().map(|d| &d.kind) {
        Some(Duration::Minutes(0)) => return Err(ErrorCode::LogoutRequestError),
        Some(Duration::Minutes(m)) => Some(*m),
        Some(Duration::Indefinite) | None => None,
    };
    let order = LoginOrder {
        device_name: &login.device_name,
        user_id: &login.user_id,
        profile: login.device_profile.as_deref(),
        exclusive_minutes,
        source: Some(source(
            peer,
            &login.remote_ip_addr,
            &login.is_via_header_set,
        )),
    };
    state.login(order).await?;
    Ok(Response::success())
}

async fn logout(
    state: &Server,
    caller: &Caller<'_>,
    logout: &Logout,
    peer: IpAddr,
) -> Result<Response, ErrorCode> {
    let from = source(peer, &logout.remote_ip_addr, &logout.is_via_header_set);
    state
        .logout(&logout.device_name, Some(from), |user_id| {
            caller.proxy_rights || user_id == caller.id
        })
        .await?;
    Ok(Response::success())
}

async fn logout_all(
    state: &Server,
    caller: &Caller<'_>,
    from: Source,
) -> Result<Response, ErrorCode> {
    if !caller.proxy_rights {
        return Err(ErrorCode::NoProxyRights);
    }
    state.logout_all(Some(from)).await?;
    Ok(Response::success())
}

fn handle_query(state: &Server, query: &Query) -> Result<Response, ErrorCode> {
    authenticate(state, &query.app_info)?;
    let dir = &state.em.directory;
    let sessions = state.apply_due_timers();
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
