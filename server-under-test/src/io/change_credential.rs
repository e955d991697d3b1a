//! The Change Credential phone service (CRED-1, PROTOCOL.md §8):
//! `GET /changecredential/ChangeCredentialServlet?device=#DEVICENAME#`.
//!
//! 1. no `userid` → a `CiscoIPPhoneInput` titled `Change Credential` asking
//!    for the user ID, the current PIN, the new PIN and its confirmation;
//! 2. all four → the change ([`crate::core::change_credential`]): `PIN
//!    changed`, or `[201]` (unknown user or wrong current PIN), `[202]`
//!    (a blank user ID or current PIN), `[213]-Invalid new PIN: why`.

use crate::core::change_credential::{CredentialChange, Refusal};
use crate::io::phone_service::{answer_phone, failure, service_url, url};
use crate::io::server::Server;
use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use emlab_protocol::ErrorCode;
use emlab_protocol::phone_xml::{
    CHANGE_CREDENTIAL_PATH, InputItem, PhoneInput, PhoneObject, PhoneText, error_text,
};
use std::sync::Arc;

const TITLE: &str = "Change Credential";
const UNSUCCESSFUL: &str = "Change Unsuccessful";

/// The query parameters of one request; unknown ones are ignored.
#[derive(Default)]
struct ChangeRequest {
    device: String,
    userid: Option<String>,
    oldpin: String,
    newpin: String,
    confirmpin: String,
}

fn parse(raw: &str) -> ChangeRequest {
    let mut req = ChangeRequest::default();
    for (k, v) in form_urlencoded::parse(raw.as_bytes()) {
        let v = v.into_owned();
        match k.as_ref() {
            "device" => req.device = v,
            "userid" => req.userid = Some(v),
            "oldpin" => req.oldpin = v,
            "newpin" => req.newpin = v,
            "confirmpin" => req.confirmpin = v,
            _ => {}
        }
    }
    req
}

pub async fn change_credential(
    State(state): State<Arc<Server>>,
    over_tls: Option<axum::Extension<crate::io::listener::OverTls>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if !state.em.em_running() {
        return crate::io::service_unavailable();
    }
    let base = service_url(&headers, over_tls.is_some(), CHANGE_CREDENTIAL_PATH);
    let mut screen = screen(&state, &base, &parse(query.as_deref().unwrap_or("")));
    // A changed PIN is in the state file before the phone says so (`--state`).
    if let Err(code) = state.persist().await {
        screen = failure(state.em.directory.profile, UNSUCCESSFUL, code);
    }
    answer_phone(&headers, &screen)
}

fn screen(state: &Server, base: &str, req: &ChangeRequest) -> PhoneObject {
    let profile = state.em.directory.profile;
    let fail = |code: ErrorCode| failure(profile, UNSUCCESSFUL, code);
    if req.device.is_empty() {
        return fail(ErrorCode::DeviceNameEmpty);
    }
    if state.em.directory.device_idx(&req.device).is_none() {
        return fail(ErrorCode::DeviceNotFound);
    }
    let Some(user_id) = req.userid.as_deref() else {
        let field = |name: &str, param: &str, flags: &str| InputItem {
            display_name: name.into(),
            query_string_param: param.into(),
            default_value: String::new(),
            input_flags: flags.into(),
        };
        let items = vec![
            field("User ID", "userid", "A"),
            field("Current PIN", "oldpin", "NP"),
            field("New PIN", "newpin", "NP"),
            field("Confirm PIN", "confirmpin", "NP"),
        ];
        let back = url(base, &[("device", &req.device)]);
        return PhoneObject::Input(PhoneInput::new(TITLE, "Enter your PINs", &back, items));
    };
    if user_id.is_empty() || req.oldpin.is_empty() {
        return fail(ErrorCode::BlankUserIdOrPin);
    }
    let change = CredentialChange {
        user_id,
        current: &req.oldpin,
        new: &req.newpin,
        confirm: &req.confirmpin,
    };
    match state.em.change_credential(&change) {
        Ok(_) => PhoneObject::Text(PhoneText::new(TITLE, None, "PIN changed")),
        Err(Refusal::Authentication) => fail(ErrorCode::AuthenticationError),
        Err(Refusal::InvalidNewPin(why)) => {
            let code = ErrorCode::InvalidNewPin;
            tracing::debug!(code = code.code(), reason = why, "new PIN refused");
            let text = format!(
                "{}: {why}",
                error_text(code.code(), code.phone_text(profile))
            );
            PhoneObject::Text(PhoneText::new(TITLE, Some(UNSUCCESSFUL), &text))
        }
    }
}
