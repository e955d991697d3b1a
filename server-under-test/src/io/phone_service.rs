//! The phone-facing EM service (PROTOCOL.md §2): what a phone's Services
//! button opens. `GET /emapp/EMAppServlet?device=SEP...` walks the user
//! through the login screens with Cisco IP Phone XML objects (§3):
//!
//! 1. nobody logged in → `CiscoIPPhoneInput` asking for user ID and PIN
//!    (LOG-1; pre-filled with the last user when Remember Last User is on,
//!    AUTH-7);
//! 2. `userid` + `seq` (the PIN) → authenticate (AUTH-1..4, LOG-5); several
//!    profiles → a `CiscoIPPhoneMenu` to pick one (LOG-4); then log in;
//! 3. somebody logged in → "Logged in as U" with a Yes soft key that
//!    adds `doLogout=true` (LOG-3);
//! 4. every failure → `CiscoIPPhoneText` with `[N]-text` (URL-4).
//!
//! The answer is encoded in the charset the phone prefers (`Accept-Charset`;
//! 7940/7960/7905 prefer ISO-8859-1).

use crate::core::addresses::Source;
use crate::core::credentials::{keypad, pin_form};
use crate::core::faults::Fault;
use crate::core::operations::LoginOrder;
use crate::io::server::Server;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use emlab_protocol::phone_xml::{
    EM_SERVICE_PATH, InputItem, MenuItem, PhoneInput, PhoneMenu, PhoneObject, PhoneText, error_text,
};
use emlab_protocol::{ErrorCode, ServerProfile};
use std::net::SocketAddr;
use std::sync::Arc;

const TITLE: &str = "Extension Mobility";
const LOGIN_UNSUCCESSFUL: &str = "Login Unsuccessful";
const LOGOUT_UNSUCCESSFUL: &str = "Logout Unsuccessful";

/// How the user identifies at the prompt (LOG-5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LoginType {
    /// User ID + PIN (the default).
    Uid,
    /// Primary extension + PIN.
    Dn,
    /// Self-service user ID + PIN.
    Sp,
}

impl LoginType {
    fn as_str(self) -> &'static str {
        match self {
            LoginType::Uid => "UID",
            LoginType::Dn => "DN",
            LoginType::Sp => "SP",
        }
    }
}

/// The query parameters of one request.
#[derive(Default)]
struct PhoneRequest {
    device: Option<String>,
    login_type: Option<String>,
    userid: Option<String>,
    seq: Option<String>,
    do_logout: bool,
    profile: Option<String>,
}

/// Parses the query string; `Err` when it is not valid percent-encoded UTF-8.
fn parse_query(raw: &str) -> Result<PhoneRequest, ()> {
    let bytes = raw.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'%'
            && !(i + 2 < bytes.len()
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit())
        {
            return Err(());
        }
    }
    let mut req = PhoneRequest::default();
    for (k, v) in form_urlencoded::parse(bytes) {
        if v.contains('\u{FFFD}') {
            return Err(());
        }
        // Parameter names are case-sensitive (URL-1); unknown ones (EMCC) are ignored.
        let slot = match k.as_ref() {
            "device" => &mut req.device,
            "loginType" => &mut req.login_type,
            "userid" => &mut req.userid,
            "seq" => &mut req.seq,
            "profile" => &mut req.profile,
            "doLogout" => {
                req.do_logout = v == "true";
                continue;
            }
            _ => continue,
        };
        *slot = Some(v.into_owned());
    }
    Ok(req)
}

pub async fn em_service(
    State(state): State<Arc<Server>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    over_tls: Option<axum::Extension<crate::io::listener::OverTls>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if !state.em.em_running() {
        return crate::io::service_unavailable();
    }
    let base = service_url(&headers, over_tls.is_some(), EM_SERVICE_PATH);
    // The phone's own address; a Via header means it came through a proxy (IP-1, IP-3).
    let source = Source::new(peer.ip(), headers.contains_key("via"));
    let raw = query.as_deref().unwrap_or("");
    let mut screen = screen(&state, &base, raw, source).await;
    // What the phone is told is in the state file first (`--state`).
    if let Err(code) = state.persist().await {
        let logout = parse_query(raw).is_ok_and(|r| r.do_logout);
        let title = if logout {
            LOGOUT_UNSUCCESSFUL
        } else {
            LOGIN_UNSUCCESSFUL
        };
        screen = failure(state.em.directory.profile, title, code);
    }
    answer_phone(&headers, &screen)
}

/// `scheme://host/path` of a phone service as the phone reached it: the
/// phone follows the URLs in its screens back, over the scheme it came in on.
pub(crate) fn service_url(headers: &HeaderMap, over_tls: bool, path: &str) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = if over_tls { "https" } else { "http" };
    format!("{scheme}://{host}{path}")
}

/// A screen in the charset the phone prefers.
pub(crate) fn answer_phone(headers: &HeaderMap, screen: &PhoneObject) -> Response {
    let latin1 = prefers_latin1(
        headers
            .get(header::ACCEPT_CHARSET)
            .and_then(|h| h.to_str().ok()),
    );
    render(screen, latin1)
}

/// A failure screen: `[N]-text` under "Login Unsuccessful" or "Logout Unsuccessful".
pub(crate) fn failure(profile: ServerProfile, prompt: &str, code: ErrorCode) -> PhoneObject {
    // Never the query: its `seq` is the user's PIN.
    tracing::debug!(
        code = code.code(),
        reason = code.phone_text(profile),
        screen = prompt,
        "phone service request refused"
    );
    PhoneObject::Text(PhoneText::new(
        TITLE,
        Some(prompt),
        &error_text(code.code(), code.phone_text(profile)),
    ))
}

fn text(body: &str) -> PhoneObject {
    PhoneObject::Text(PhoneText::new(TITLE, None, body))
}

/// `base?k=v&k=v`, percent-encoded.
pub(crate) fn url(base: &str, params: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        q.append_pair(k, v);
    }
    format!("{base}?{}", q.finish())
}

async fn screen(state: &Server, base: &str, query: &str, source: Source) -> PhoneObject {
    let profile = state.em.directory.profile;
    let fail = |prompt: &str, code: ErrorCode| failure(profile, prompt, code);
    let Ok(req) = parse_query(query) else {
        // A malformed service URL: 11 on CallManager 4.x (URL-2), a parse error otherwise.
        let code = if profile == ServerProfile::Ucm4 {
            ErrorCode::DeviceNotFound
        } else {
            ErrorCode::ParseError
        };
        return fail(LOGIN_UNSUCCESSFUL, code);
    };
    let Some(device) = req.device.as_deref().filter(|d| !d.is_empty()) else {
        let code = if state.em.faults.has(Fault::MissingDevice201) {
            ErrorCode::AuthenticationError
        } else if profile == ServerProfile::Ucm4 {
            ErrorCode::Ucm4DeviceNameEmpty
        } else {
            ErrorCode::DeviceNameEmpty
        };
        return fail(LOGIN_UNSUCCESSFUL, code);
    };
    let login_type = match req.login_type.as_deref() {
        None | Some("UID") => LoginType::Uid,
        Some("DN") => LoginType::Dn,
        Some("SP") => LoginType::Sp,
        Some(_) => return fail(LOGIN_UNSUCCESSFUL, ErrorCode::LoginTypeInvalid),
    };
    if !state.em.em_api_running() {
        // URL-3: the phone service is up but cannot reach the EM service.
        return fail(LOGIN_UNSUCCESSFUL, ErrorCode::EmServiceConnectionError);
    }
    let dir = &state.em.directory;
    let Some(device_idx) = dir.device_idx(device) else {
        return fail(LOGIN_UNSUCCESSFUL, ErrorCode::DeviceNotFound);
    };

    if req.do_logout && state.em.faults.has(Fault::LogoutDoesNothing) {
        return text("Logout Successful");
    }
    if req.do_logout {
        // The user at the phone may log out whoever is there (LOG-7).
        return match state.logout(device, Some(source), |_| true).await {
            Ok(()) => text("Logout Successful"),
            Err(code) => fail(LOGOUT_UNSUCCESSFUL, code),
        };
    }

    let (userid, pin) = match (req.userid.as_deref(), req.seq.as_deref()) {
        (None, None) => return state_check(state, base, device, device_idx, login_type),
        (u, p) => (u.unwrap_or(""), p.unwrap_or("")),
    };
    if userid.is_empty() || pin.is_empty() {
        return fail(LOGIN_UNSUCCESSFUL, ErrorCode::BlankUserIdOrPin);
    }
    let user_idx = match authenticate(state, login_type, userid, pin) {
        Ok(u) => u,
        Err(code) => return fail(LOGIN_UNSUCCESSFUL, code),
    };
    let user = dir.user(user_idx);
    if req.profile.is_none() && user.profiles.len() > 1 {
        // LOG-4: several profiles, let the user choose.
        let items = user
            .profiles
            .iter()
            .map(|&p| {
                let name = &dir.profile(p).name;
                let params = [
                    ("device", device),
                    ("loginType", login_type.as_str()),
                    ("userid", userid),
                    ("seq", pin),
                    ("profile", name),
                ];
                MenuItem {
                    name: name.clone(),
                    url: url(base, &params),
                }
            })
            .collect();
        return PhoneObject::Menu(PhoneMenu::new("Select Profile", items));
    }
    let order = LoginOrder {
        device_name: device,
        user_id: &user.id,
        profile: req.profile.as_deref(),
        exclusive_minutes: None,
        source: Some(source),
    };
    match state.login(order).await {
        Ok(()) => {
            state.em.cache_credentials(user_idx, pin);
            text("Login Successful")
        }
        // PROF-5: the phone says "User Profile Absent" (205); CallManager 4.x says 12.
        Err(ErrorCode::ProfileNotFound) if profile != ServerProfile::Ucm4 => {
            fail(LOGIN_UNSUCCESSFUL, ErrorCode::UserProfileAbsent)
        }
        Err(code) => fail(LOGIN_UNSUCCESSFUL, code),
    }
}

/// LOG-3: before prompting, tell who is logged in and offer logout.
fn state_check(
    state: &Server,
    base: &str,
    device: &str,
    device_idx: crate::core::directory::DeviceIdx,
    login_type: LoginType,
) -> PhoneObject {
    let dir = &state.em.directory;
    let sessions = state.apply_due_timers();
    if let Some(login) = sessions.on_device(device_idx) {
        let who = &dir.user(login.user).id;
        let yes = url(base, &[("device", device), ("doLogout", "true")]);
        return PhoneObject::Text(
            PhoneText::new(TITLE, None, &format!("Logged in as {who}"))
                .with_soft_key("Yes", &yes, 1)
                .with_soft_key("Cancel", "SoftKey:Exit", 2),
        );
    }
    if !dir.device(device_idx).em_enabled {
        return failure(
            dir.profile,
            LOGIN_UNSUCCESSFUL,
            ErrorCode::DeviceLogonDisabled,
        );
    }
    // AUTH-7: only the default and loginType=UID prompts remember the last user.
    let last_user = (state.em.parameters().remember_last_user && login_type == LoginType::Uid)
        .then(|| sessions.last_user_on(device_idx))
        .flatten()
        .map(|u| dir.user(u).id.clone())
        .unwrap_or_default();
    drop(sessions);
    let (prompt, name) = match login_type {
        LoginType::Uid => ("Enter User ID and PIN", "User ID"),
        LoginType::Dn => ("Enter Primary Extension and PIN", "Primary Extension"),
        LoginType::Sp => ("Enter Self-Service ID and PIN", "Self-Service ID"),
    };
    let items = vec![
        InputItem {
            display_name: name.into(),
            query_string_param: "userid".into(),
            default_value: last_user,
            input_flags: "A".into(),
        },
        InputItem {
            display_name: "PIN".into(),
            query_string_param: "seq".into(),
            default_value: String::new(),
            input_flags: "NP".into(),
        },
    ];
    let back = url(
        base,
        &[("device", device), ("loginType", login_type.as_str())],
    );
    PhoneObject::Input(PhoneInput::new(TITLE, prompt, &back, items))
}

/// Finds the user and checks the PIN (AUTH-1..4, LOG-5).
fn authenticate(
    state: &Server,
    login_type: LoginType,
    id: &str,
    pin: &str,
) -> Result<crate::core::directory::UserIdx, ErrorCode> {
    let dir = &state.em.directory;
    let profile = dir.profile;
    let params = state.em.parameters();
    let not_found = if profile == ServerProfile::Ucm4 {
        ErrorCode::Ucm4UserNotFound
    } else {
        ErrorCode::AuthenticationError
    };
    let id_ok =
        keypad(id) && (params.alphanumeric_user_id || id.chars().all(|c| c.is_ascii_digit()));
    // Under cme the form depends on the user (AUTH-8): checked below.
    let pin_ok = profile == ServerProfile::Cme || pin_form(profile, false, pin).is_ok();
    if !id_ok || !pin_ok {
        return Err(ErrorCode::AuthenticationError);
    }
    let user = match login_type {
        LoginType::Uid => dir.user_idx(id).ok_or(not_found)?,
        LoginType::Dn | LoginType::Sp => {
            let found = match login_type {
                LoginType::Dn => dir.users_by_extension(id).to_vec(),
                _ => dir.users_by_self_service_id(id),
            };
            match found.as_slice() {
                [] => return Err(not_found),
                [one] => *one,
                _ => return Err(ErrorCode::DnHasMultipleUsers),
            }
        }
    };
    // cme without a password credential: a 4-to-8-digit PIN, as labs
    // before AUTH-8 had it; with one, the password (letters and digits).
    if profile == ServerProfile::Cme
        && pin_form(profile, dir.user(user).password.is_some(), pin).is_err()
    {
        return Err(ErrorCode::AuthenticationError);
    }
    if !state.em.pin_matches(user, pin) && !state.em.faults.has(Fault::AcceptAnyPin) {
        return Err(ErrorCode::AuthenticationError);
    }
    if state.em.pin_must_change(user) {
        return Err(ErrorCode::ChangePassword);
    }
    Ok(user)
}

/// Whether the phone's `Accept-Charset` ranks ISO-8859-1 above UTF-8
/// (7940/7960/7905 send `iso-8859-1, utf-8;q=0.8`).
fn prefers_latin1(accept_charset: Option<&str>) -> bool {
    let Some(list) = accept_charset else {
        return false;
    };
    let q_of = |name: &str| {
        list.split(',').enumerate().find_map(|(pos, part)| {
            let mut it = part.split(';');
            let charset = it.next()?.trim();
            if !charset.eq_ignore_ascii_case(name) {
                return None;
            }
            let q = it
                .find_map(|p| p.trim().strip_prefix("q=")?.parse::<f32>().ok())
                .unwrap_or(1.0);
            Some((q, pos))
        })
    };
    match (q_of("iso-8859-1"), q_of("utf-8")) {
        (Some((ql, pl)), Some((qu, pu))) => ql > qu || (ql == qu && pl < pu),
        (Some((ql, _)), None) => ql > 0.0,
        _ => false,
    }
}

fn render(object: &PhoneObject, latin1: bool) -> Response {
    let xml = object.to_xml();
    if latin1 {
        let mut body = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n".to_vec();
        body.extend(
            xml.chars()
                .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?')),
        );
        (
            [(header::CONTENT_TYPE, "text/xml; charset=iso-8859-1")],
            body,
        )
            .into_response()
    } else {
        let body = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{xml}");
        ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], body).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charset_preference() {
        assert!(prefers_latin1(Some("iso-8859-1, utf-8;q=0.8")));
        assert!(!prefers_latin1(Some("utf-8, iso-8859-1;q=0.5")));
        assert!(!prefers_latin1(Some("utf-8")));
        assert!(!prefers_latin1(None));
    }

    #[test]
    fn malformed_queries_are_refused() {
        assert!(parse_query("device=SEP0E0000000000&userid=a%2").is_err());
        assert!(parse_query("device=%ZZ").is_err());
        assert!(parse_query("device=%FF").is_err());
        let r = parse_query("device=SEP0E0000000000&Device=x&doLogout=true&EMCC=1").unwrap();
        assert_eq!(r.device.as_deref(), Some("SEP0E0000000000"));
        assert!(r.do_logout);
    }
}
