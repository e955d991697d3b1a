//! The EM API wire format (PROTOCOL.md §1): `POST /emservice/EMServiceServlet`.
//!
//! An application (a phone service, a portal, the fleet simulator) posts a
//! form with one field, `xml`, holding either a `<request>` (login, logout,
//! logoutAll) or a `<query>` (deviceUserQuery, userDevicesQuery,
//! deviceProfileQuery). The server always answers HTTP 200 with a
//! `<response>`; success and failure live in the body:
//!
//! ```text
//! xml=<request><appInfo><appID>emlab</appID><appCertificate>emlab</appCertificate></appInfo>
//!       <login><deviceName>SEP0E0000000000</deviceName><userID>user00000</userID></login></request>
//! <response><success/></response>
//! <response><failure><error code="25">User logged in elsewhere</error></failure></response>
//! ```
//!
//! These types are the only place the XML is built or read: the reference
//! server and the simulator share them. User IDs are UTF-8 percent-encoded
//! on the wire (`em%40cisco.com`); the types hold them decoded and the
//! `user_id_encoding` adapter converts at the edge.

use crate::error_code::{ErrorCode, ServerProfile};
use serde::{Deserialize, Serialize};

/// The servlet path of the EM API.
pub const EM_API_PATH: &str = "/emservice/EMServiceServlet";

/// Bodies above this size are refused with code 1 (emlab choice: 64 KiB).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

// ---------------------------------------------------------------------------
// Requests

/// The caller's credentials, carried in every request and query.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppInfo {
    #[serde(rename = "appID", default)]
    pub app_id: String,
    #[serde(
        rename = "appCertificate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub app_certificate: Option<String>,
    #[serde(
        rename = "appEncryptedCertificate",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub app_encrypted_certificate: Option<String>,
}

impl AppInfo {
    pub fn new(app_id: impl Into<String>, certificate: impl Into<String>) -> Self {
        AppInfo {
            app_id: app_id.into(),
            app_certificate: Some(certificate.into()),
            app_encrypted_certificate: None,
        }
    }

    /// The certificate, whichever of the two elements carried it.
    pub fn certificate(&self) -> Option<&str> {
        self.app_certificate
            .as_deref()
            .or(self.app_encrypted_certificate.as_deref())
    }
}

/// `<request>`: an operation that changes who is logged in where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "request")]
pub struct Request {
    #[serde(rename = "appInfo")]
    pub app_info: AppInfo,
    #[serde(rename = "$value")]
    pub operation: Operation,
}

/// The one operation a `<request>` carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Operation {
    #[serde(rename = "login")]
    Login(Login),
    #[serde(rename = "logout")]
    Logout(Logout),
    #[serde(rename = "logoutAll")]
    LogoutAll(LogoutAll),
}

/// `<login>`: put `user_id`'s profile on `device_name`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Login {
    #[serde(rename = "deviceName")]
    pub device_name: String,
    #[serde(rename = "userID", with = "user_id_encoding")]
    pub user_id: String,
    /// Omitted: the user's default profile, else the model's default profile.
    #[serde(
        rename = "deviceProfile",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub device_profile: Option<String>,
    /// Logged out automatically after this many minutes.
    #[serde(
        rename = "exclusiveDuration",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub exclusive_duration: Option<ExclusiveDuration>,
    #[serde(
        rename = "remoteIPAddr",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub remote_ip_addr: Option<String>,
    #[serde(
        rename = "isViaHeaderSet",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub is_via_header_set: Option<String>,
}

/// `<exclusiveDuration>`: `<time>minutes</time>` or `<indefinite/>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExclusiveDuration {
    #[serde(rename = "$value")]
    pub kind: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Duration {
    /// Minutes until the automatic logout.
    #[serde(rename = "time")]
    Minutes(u32),
    #[serde(rename = "indefinite")]
    Indefinite,
}

/// `<logout>`: put the device back on its logout profile.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Logout {
    #[serde(rename = "deviceName")]
    pub device_name: String,
    #[serde(
        rename = "remoteIPAddr",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub remote_ip_addr: Option<String>,
    #[serde(
        rename = "isViaHeaderSet",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub is_via_header_set: Option<String>,
}

/// `<logoutAll>`: log every device out (needs proxy rights).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutAll {
    #[serde(
        rename = "remoteIPAddr",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub remote_ip_addr: Option<String>,
    #[serde(
        rename = "isViaHeaderSet",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub is_via_header_set: Option<String>,
}

/// `<query>`: read-only questions about who is where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "query")]
pub struct Query {
    #[serde(rename = "appInfo")]
    pub app_info: AppInfo,
    #[serde(rename = "$value")]
    pub kind: QueryKind,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum QueryKind {
    /// Who is logged in on each device?
    #[serde(rename = "deviceUserQuery")]
    DeviceUser(DeviceUserQuery),
    /// Which devices is each user logged in on?
    #[serde(rename = "userDevicesQuery")]
    UserDevices(UserDevicesQuery),
    /// Which device profiles does each user have?
    #[serde(rename = "deviceProfileQuery", alias = "userDeviceProfileQuery")]
    DeviceProfile(DeviceProfileQuery),
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceUserQuery {
    #[serde(rename = "deviceName", default)]
    pub device_names: Vec<String>,
    #[serde(rename = "loginType", default, skip_serializing_if = "Option::is_none")]
    pub login_type: Option<String>,
    #[serde(
        rename = "remoteIPAddr",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub remote_ip_addr: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDevicesQuery {
    #[serde(rename = "userID", default, with = "user_id_encoding::list")]
    pub user_ids: Vec<String>,
    #[serde(
        rename = "remoteIPAddr",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub remote_ip_addr: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceProfileQuery {
    #[serde(rename = "userID", default, with = "user_id_encoding::list")]
    pub user_ids: Vec<String>,
    #[serde(
        rename = "remoteIPAddr",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub remote_ip_addr: Option<String>,
}

/// What the servlet received: a request or a query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    Request(Request),
    Query(Query),
}

impl Message {
    pub fn app_info(&self) -> &AppInfo {
        match self {
            Message::Request(r) => &r.app_info,
            Message::Query(q) => &q.app_info,
        }
    }

    /// Parses the XML of the `xml` form field. The error is the code the
    /// server answers with: 8 for a query of unknown type, else 1.
    pub fn from_xml(xml: &str) -> Result<Message, ErrorCode> {
        // The common case in one pass; the outline scan only explains failures.
        let body = xml.trim_start();
        let body = match body.strip_prefix("<?xml") {
            Some(rest) => rest.split_once("?>").map_or("", |(_, b)| b.trim_start()),
            None => body,
        };
        if body.starts_with("<request")
            && let Ok(r) = quick_xml::de::from_str(xml)
        {
            return Ok(Message::Request(r));
        }
        if body.starts_with("<query")
            && let Ok(q) = quick_xml::de::from_str(xml)
        {
            return Ok(Message::Query(q));
        }
        let (root, first_op) = element_outline(xml).ok_or(ErrorCode::ParseError)?;
        match root.as_str() {
            // Well formed but not a request: a DTD violation.
            "request" => quick_xml::de::from_str(xml)
                .map(Message::Request)
                .map_err(|_| ErrorCode::ParseError),
            "query" => quick_xml::de::from_str(xml)
                .map(Message::Query)
                .map_err(|_| match first_op.as_deref() {
                    Some("deviceUserQuery" | "userDevicesQuery" | "deviceProfileQuery")
                    | Some("userDeviceProfileQuery")
                    | None => ErrorCode::ParseError,
                    Some(_) => ErrorCode::QueryTypeUndetermined,
                }),
            _ => Err(ErrorCode::ParseError),
        }
    }

    pub fn to_xml(&self) -> String {
        match self {
            Message::Request(r) => to_xml(r),
            Message::Query(q) => to_xml(q),
        }
    }
}

impl Request {
    pub fn new(app_info: AppInfo, operation: Operation) -> Self {
        Request {
            app_info,
            operation,
        }
    }
}

impl Query {
    pub fn new(app_info: AppInfo, kind: QueryKind) -> Self {
        Query { app_info, kind }
    }
}

/// The root element's name and the name of its first child that is not
/// `appInfo`, from a quick pull-scan. `None` when the XML is not well formed
/// up to that point.
fn element_outline(xml: &str) -> Option<(String, Option<String>)> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut depth = 0usize;
    let mut root = None;
    loop {
        let (name, is_start) = match reader.read_event().ok()? {
            Event::Start(e) => (e.name().as_ref().to_string(), true),
            Event::Empty(e) => (e.name().as_ref().to_string(), false),
            Event::End(_) => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return root.map(|r| (r, None));
                }
                continue;
            }
            Event::Eof => return root.map(|r| (r, None)),
            _ => continue,
        };
        if root.is_none() {
            root = Some(name);
            if !is_start {
                return root.map(|r| (r, None));
            }
            depth = 1;
        } else if depth == 1 && name != "appInfo" {
            return root.map(|r| (r, Some(name)));
        } else if is_start {
            depth += 1;
        }
    }
}

// ---------------------------------------------------------------------------
// Responses

/// `<response>`: the answer to every request and query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "response")]
pub struct Response {
    #[serde(rename = "$value")]
    pub body: ResponseBody,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResponseBody {
    #[serde(rename = "success")]
    Success,
    #[serde(rename = "failure")]
    Failure(Failure),
    #[serde(rename = "deviceUserResults")]
    DeviceUserResults(DeviceUserResults),
    #[serde(rename = "userDevicesResults")]
    UserDevicesResults(UserDevicesResults),
    #[serde(rename = "deviceProfileResults")]
    DeviceProfileResults(DeviceProfileResults),
}

/// `<failure><error code="N">text</error></failure>`; Cisco's DTD also names
/// the element `<errorMessage>`, which is accepted on input.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    #[serde(alias = "errorMessage")]
    pub error: ErrorElement,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorElement {
    #[serde(rename = "@code")]
    pub code: u16,
    #[serde(rename = "$text", default)]
    pub text: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceUserResults {
    #[serde(rename = "device", default)]
    pub devices: Vec<DeviceUserResult>,
}

/// `<device name="SEP..">` with `<userID>`, `<none/>` or `<doesNotExist/>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceUserResult {
    #[serde(rename = "@name")]
    pub name: String,
    #[serde(rename = "$value")]
    pub user: DeviceUser,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceUser {
    #[serde(rename = "userID", with = "user_id_encoding")]
    User(String),
    #[serde(rename = "none")]
    Nobody,
    #[serde(rename = "doesNotExist")]
    DoesNotExist,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDevicesResults {
    #[serde(rename = "user", default)]
    pub users: Vec<UserDevicesResult>,
}

/// `<user id="..">` with `<deviceName>`+, `<none/>` or `<doesNotExist/>`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserDevicesResult {
    #[serde(rename = "@id", with = "user_id_encoding")]
    pub id: String,
    #[serde(rename = "$value", default)]
    pub entries: Vec<UserDevicesEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum UserDevicesEntry {
    #[serde(rename = "deviceName")]
    Device(String),
    #[serde(rename = "none")]
    Nobody,
    #[serde(rename = "doesNotExist")]
    DoesNotExist,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceProfileResults {
    #[serde(rename = "user", default)]
    pub users: Vec<DeviceProfileUser>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceProfileUser {
    #[serde(rename = "@id", with = "user_id_encoding")]
    pub id: String,
    #[serde(rename = "$value", default)]
    pub entries: Vec<DeviceProfileEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceProfileEntry {
    #[serde(rename = "deviceProfile")]
    Profile(DeviceProfileItem),
    #[serde(rename = "none")]
    Nobody,
    #[serde(rename = "doesNotExist")]
    DoesNotExist,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceProfileItem {
    #[serde(rename = "deviceProfileName")]
    pub name: String,
    /// `t` or `f` on the wire.
    #[serde(rename = "isDefaultDeviceProfile")]
    pub is_default: String,
}

impl Response {
    pub fn success() -> Self {
        Response {
            body: ResponseBody::Success,
        }
    }

    /// A failure carrying `code` with the text a `profile` server uses.
    pub fn failure(code: ErrorCode, profile: ServerProfile) -> Self {
        Response {
            body: ResponseBody::Failure(Failure {
                error: ErrorElement {
                    code: code.code(),
                    text: code.text(profile).to_string(),
                },
            }),
        }
    }

    pub fn from_xml(xml: &str) -> Result<Response, String> {
        quick_xml::de::from_str(xml).map_err(|e| e.to_string())
    }

    pub fn to_xml(&self) -> String {
        to_xml(self)
    }

    /// The error code, if this is a failure.
    pub fn error_code(&self) -> Option<u16> {
        match &self.body {
            ResponseBody::Failure(f) => Some(f.error.code),
            _ => None,
        }
    }
}

fn to_xml<T: Serialize>(value: &T) -> String {
    // Serializing these plain structs cannot fail: every field is a string,
    // a number or a unit variant.
    crate::xml_text::well_formed(quick_xml::se::to_string(value).unwrap_or_default())
}

// ---------------------------------------------------------------------------
// Form encoding

/// The form body an application posts: `xml=<url-encoded XML>`.
pub fn form_body(xml: &str) -> String {
    let mut out = String::with_capacity(xml.len() * 3 / 2 + 4);
    out.push_str("xml=");
    for chunk in percent_encoding::utf8_percent_encode(xml, FORM_VALUE) {
        out.push_str(chunk);
    }
    out
}

/// Characters percent-encoded in a form value (application/x-www-form-urlencoded).
const FORM_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'*')
    .remove(b'-')
    .remove(b'.')
    .remove(b'_');

/// User IDs travel UTF-8 percent-encoded inside the XML (`em%40cisco.com`).
pub mod user_id_encoding {
    use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Unreserved characters (RFC 3986) stay as they are; all else is encoded.
    const USER_ID: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');

    pub fn encode(user_id: &str) -> String {
        utf8_percent_encode(user_id, USER_ID).to_string()
    }

    pub fn decode(wire: &str) -> String {
        percent_decode_str(wire).decode_utf8_lossy().into_owned()
    }

    pub fn serialize<S: Serializer>(v: &str, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&encode(v))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Ok(decode(&String::deserialize(d)?))
    }

    pub mod list {
        use serde::ser::SerializeSeq;
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(v: &[String], s: S) -> Result<S::Ok, S::Error> {
            let mut seq = s.serialize_seq(Some(v.len()))?;
            for id in v {
                seq.serialize_element(&super::encode(id))?;
            }
            seq.end()
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
            Ok(Vec::<String>::deserialize(d)?
                .iter()
                .map(|w| super::decode(w))
                .collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> AppInfo {
        AppInfo::new("emlab", "secret")
    }

    #[test]
    fn login_round_trips_with_encoded_user_id() {
        let req = Request::new(
            app(),
            Operation::Login(Login {
                device_name: "SEP003094C25B15".into(),
                user_id: "em@cisco.com".into(),
                exclusive_duration: Some(ExclusiveDuration {
                    kind: Duration::Minutes(30),
                }),
                ..Login::default()
            }),
        );
        let xml = Message::Request(req.clone()).to_xml();
        assert!(xml.contains("<userID>em%40cisco.com</userID>"), "{xml}");
        assert_eq!(Message::from_xml(&xml), Ok(Message::Request(req)));
    }

    #[test]
    fn declaration_and_user_device_profile_alias_are_accepted() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?><query><appInfo><appID>a</appID><appCertificate>b</appCertificate></appInfo><userDeviceProfileQuery><userID>bob</userID></userDeviceProfileQuery></query>"#;
        let Ok(Message::Query(q)) = Message::from_xml(xml) else {
            panic!("not parsed")
        };
        assert_eq!(
            q.kind,
            QueryKind::DeviceProfile(DeviceProfileQuery {
                user_ids: vec!["bob".into()],
                ..Default::default()
            })
        );
    }

    #[test]
    fn unknown_query_type_is_8_and_garbage_is_1() {
        let q = "<query><appInfo><appID>a</appID><appCertificate>b</appCertificate></appInfo><checkWeather/></query>";
        assert_eq!(Message::from_xml(q), Err(ErrorCode::QueryTypeUndetermined));
        assert_eq!(
            Message::from_xml("<request><appInfo>"),
            Err(ErrorCode::ParseError)
        );
        assert_eq!(
            Message::from_xml("not xml at all"),
            Err(ErrorCode::ParseError)
        );
        let no_device = "<request><appInfo><appID>a</appID></appInfo><login><userID>u</userID></login></request>";
        assert_eq!(Message::from_xml(no_device), Err(ErrorCode::ParseError));
    }

    #[test]
    fn failure_accepts_error_message_alias() {
        let r = Response::from_xml(r#"<response><failure><errorMessage code="26">Busy</errorMessage></failure></response>"#)
            .unwrap();
        assert_eq!(r.error_code(), Some(26));
    }

    #[test]
    fn form_body_is_decodable() {
        let body = form_body("<a>x y&z=1%</a>");
        let decoded: Vec<(String, String)> = form_urlencoded_decode(&body);
        assert_eq!(
            decoded,
            vec![("xml".to_string(), "<a>x y&z=1%</a>".to_string())]
        );
    }

    fn form_urlencoded_decode(s: &str) -> Vec<(String, String)> {
        s.split('&')
            .map(|kv| {
                let (k, v) = kv.split_once('=').unwrap();
                let v = v.replace('+', " ");
                (
                    k.to_string(),
                    percent_encoding::percent_decode_str(&v)
                        .decode_utf8_lossy()
                        .into_owned(),
                )
            })
            .collect()
    }
}
