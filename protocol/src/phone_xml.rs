//! Cisco IP Phone XML objects (PROTOCOL.md §3): what a phone's browser
//! shows. The phone-facing EM service answers with these, and a virtual
//! phone reads them.
//!
//! ```text
//! <CiscoIPPhoneInput><Title>Extension Mobility</Title><Prompt>Enter User ID and PIN</Prompt>
//!   <URL>http://cucm:8080/emapp/EMAppServlet?device=SEP0E0000000000&amp;loginType=UID</URL>
//!   <InputItem><DisplayName>User ID</DisplayName><QueryStringParam>userid</QueryStringParam>
//!     <DefaultValue></DefaultValue><InputFlags>A</InputFlags></InputItem> ...
//! ```
//!
//! Phones enforce hard limits (a 33-character title is cut, a sixth input
//! item is dropped); the constructors here truncate to them, and
//! [`PhoneObject::limit_violations`] tells a client what a server broke.

use serde::{Deserialize, Serialize};

/// The phone-facing EM service (PROTOCOL.md §2); phones reach it as
/// `http://<host>:8080/emapp/EMAppServlet?device=#DEVICENAME#` (URL-1).
pub const EM_SERVICE_PATH: &str = "/emapp/EMAppServlet";
/// The Change Credential phone service (CRED-1, PROTOCOL.md §8).
pub const CHANGE_CREDENTIAL_PATH: &str = "/changecredential/ChangeCredentialServlet";

pub const MAX_TITLE: usize = 32;
pub const MAX_PROMPT: usize = 32;
pub const MAX_TEXT: usize = 4000;
pub const MAX_URL: usize = 256;
pub const MAX_INPUT_ITEMS: usize = 5;
pub const MAX_SOFT_KEYS: usize = 8;
pub const MAX_MENU_ITEMS: usize = 100;

/// `<CiscoIPPhoneText>`: a screen of text, optionally with soft keys.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "CiscoIPPhoneText")]
pub struct PhoneText {
    #[serde(rename = "Title", default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(rename = "Prompt", default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(rename = "Text", default)]
    pub text: String,
    #[serde(rename = "SoftKeyItem", default, skip_serializing_if = "Vec::is_empty")]
    pub soft_keys: Vec<SoftKeyItem>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SoftKeyItem {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "URL")]
    pub url: String,
    #[serde(rename = "Position")]
    pub position: u8,
}

/// `<CiscoIPPhoneInput>`: a form; the phone appends `?param=value&...` to `URL`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "CiscoIPPhoneInput")]
pub struct PhoneInput {
    #[serde(rename = "Title", default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(rename = "Prompt", default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(rename = "URL")]
    pub url: String,
    #[serde(rename = "InputItem", default)]
    pub items: Vec<InputItem>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputItem {
    #[serde(rename = "DisplayName")]
    pub display_name: String,
    #[serde(rename = "QueryStringParam")]
    pub query_string_param: String,
    #[serde(rename = "DefaultValue", default)]
    pub default_value: String,
    /// `A` alphanumeric, `N` numeric, `P` password (masked); combinable (`NP`).
    #[serde(rename = "InputFlags")]
    pub input_flags: String,
}

/// `<CiscoIPPhoneMenu>`: a list to choose from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "CiscoIPPhoneMenu")]
pub struct PhoneMenu {
    #[serde(rename = "Title", default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(rename = "Prompt", default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    #[serde(rename = "MenuItem", default)]
    pub items: Vec<MenuItem>,
    #[serde(rename = "SoftKeyItem", default, skip_serializing_if = "Vec::is_empty")]
    pub soft_keys: Vec<SoftKeyItem>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MenuItem {
    #[serde(rename = "Name")]
    pub name: String,
    #[serde(rename = "URL")]
    pub url: String,
}

/// Any object the EM service may answer with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PhoneObject {
    Text(PhoneText),
    Input(PhoneInput),
    Menu(PhoneMenu),
}

/// What the phone shows, as a verdict names it: `CiscoIPPhoneText "Login
/// Successful"`.
impl std::fmt::Display for PhoneObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PhoneObject::Text(t) => {
                write!(f, "CiscoIPPhoneText \"{}\"", t.text)?;
                if !t.soft_keys.is_empty() {
                    let keys: Vec<&str> = t.soft_keys.iter().map(|k| k.name.as_str()).collect();
                    write!(f, " with soft keys {}", keys.join(", "))?;
                }
                Ok(())
            }
            PhoneObject::Input(i) => write!(
                f,
                "CiscoIPPhoneInput \"{}\"",
                i.prompt.as_deref().unwrap_or_default()
            ),
            PhoneObject::Menu(m) => write!(
                f,
                "CiscoIPPhoneMenu \"{}\" with {} items",
                m.title.as_deref().unwrap_or_default(),
                m.items.len()
            ),
        }
    }
}

/// Cuts `s` to at most `max` characters (not bytes).
fn cut(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

impl PhoneText {
    pub fn new(title: &str, prompt: Option<&str>, text: &str) -> Self {
        PhoneText {
            title: Some(cut(title, MAX_TITLE)),
            prompt: prompt.map(|p| cut(p, MAX_PROMPT)),
            text: cut(text, MAX_TEXT),
            soft_keys: Vec::new(),
        }
    }

    pub fn with_soft_key(mut self, name: &str, url: &str, position: u8) -> Self {
        if self.soft_keys.len() < MAX_SOFT_KEYS {
            self.soft_keys.push(SoftKeyItem {
                name: name.into(),
                url: cut(url, MAX_URL),
                position,
            });
        }
        self
    }
}

impl PhoneInput {
    pub fn new(title: &str, prompt: &str, url: &str, items: Vec<InputItem>) -> Self {
        PhoneInput {
            title: Some(cut(title, MAX_TITLE)),
            prompt: Some(cut(prompt, MAX_PROMPT)),
            url: cut(url, MAX_URL),
            items: items.into_iter().take(MAX_INPUT_ITEMS).collect(),
        }
    }
}

impl PhoneMenu {
    pub fn new(title: &str, items: Vec<MenuItem>) -> Self {
        PhoneMenu {
            title: Some(cut(title, MAX_TITLE)),
            prompt: None,
            items: items
                .into_iter()
                .take(MAX_MENU_ITEMS)
                .map(|i| MenuItem {
                    name: i.name,
                    url: cut(&i.url, MAX_URL),
                })
                .collect(),
            soft_keys: Vec::new(),
        }
    }
}

impl PhoneObject {
    pub fn to_xml(&self) -> String {
        // Plain strings and numbers only: serialization cannot fail.
        let xml = match self {
            PhoneObject::Text(t) => quick_xml::se::to_string(t),
            PhoneObject::Input(i) => quick_xml::se::to_string(i),
            PhoneObject::Menu(m) => quick_xml::se::to_string(m),
        }
        .unwrap_or_default();
        crate::xml_text::well_formed(xml)
    }

    /// Parses any of the objects, by its root element.
    pub fn from_xml(xml: &str) -> Result<PhoneObject, String> {
        let body = xml.trim_start();
        let body = match body.strip_prefix("<?xml") {
            Some(rest) => rest
                .split_once("?>")
                .map(|(_, b)| b.trim_start())
                .unwrap_or(""),
            None => body,
        };
        let err = |e: quick_xml::DeError| e.to_string();
        if body.starts_with("<CiscoIPPhoneText") {
            quick_xml::de::from_str(body)
                .map(PhoneObject::Text)
                .map_err(err)
        } else if body.starts_with("<CiscoIPPhoneInput") {
            quick_xml::de::from_str(body)
                .map(PhoneObject::Input)
                .map_err(err)
        } else if body.starts_with("<CiscoIPPhoneMenu") {
            quick_xml::de::from_str(body)
                .map(PhoneObject::Menu)
                .map_err(err)
        } else {
            Err("not a CiscoIPPhoneText, CiscoIPPhoneInput or CiscoIPPhoneMenu".into())
        }
    }

    /// Every limit of PROTOCOL.md §3 this object breaks.
    pub fn limit_violations(&self) -> Vec<String> {
        let mut v = Vec::new();
        let mut check = |what: &str, value: Option<&str>, max: usize| {
            if let Some(s) = value {
                let n = s.chars().count();
                if n > max {
                    v.push(format!("{what} has {n} characters, more than {max}"));
                }
            }
        };
        let (title, prompt) = match self {
            PhoneObject::Text(t) => (&t.title, &t.prompt),
            PhoneObject::Input(i) => (&i.title, &i.prompt),
            PhoneObject::Menu(m) => (&m.title, &m.prompt),
        };
        check("Title", title.as_deref(), MAX_TITLE);
        check("Prompt", prompt.as_deref(), MAX_PROMPT);
        let count = |what: &str, n: usize, max: usize, v: &mut Vec<String>| {
            if n > max {
                v.push(format!("{n} {what}, more than {max}"));
            }
        };
        match self {
            PhoneObject::Text(t) => {
                check("Text", Some(&t.text), MAX_TEXT);
                for k in &t.soft_keys {
                    check("SoftKeyItem URL", Some(&k.url), MAX_URL);
                }
                count("SoftKeyItems", t.soft_keys.len(), MAX_SOFT_KEYS, &mut v);
            }
            PhoneObject::Input(i) => {
                check("URL", Some(&i.url), MAX_URL);
                count("InputItems", i.items.len(), MAX_INPUT_ITEMS, &mut v);
            }
            PhoneObject::Menu(m) => {
                for item in &m.items {
                    check("MenuItem URL", Some(&item.url), MAX_URL);
                }
                count("MenuItems", m.items.len(), MAX_MENU_ITEMS, &mut v);
                count("SoftKeyItems", m.soft_keys.len(), MAX_SOFT_KEYS, &mut v);
            }
        }
        v
    }
}

/// The code in a phone-facing error text such as `[25]-User logged in
/// elsewhere` (the number is the contract: `\[(\d+)\]`).
pub fn error_number(text: &str) -> Option<u16> {
    let start = text.find('[')? + 1;
    let len = text[start..].find(']')?;
    text[start..start + len].parse().ok()
}

/// `[N]-text`, the form every error takes on the phone (URL-4).
pub fn error_text(code: u16, text: &str) -> String {
    format!("[{code}]-{text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_round_trip_and_truncate_to_limits() {
        let t = PhoneText::new(
            &"T".repeat(40),
            Some("Login Unsuccessful"),
            "[25]-User logged in elsewhere",
        )
        .with_soft_key("Yes", "http://x/?doLogout=true", 1);
        assert_eq!(t.title.as_ref().map(|s| s.len()), Some(MAX_TITLE));
        let o = PhoneObject::Text(t);
        assert!(o.limit_violations().is_empty());
        assert_eq!(PhoneObject::from_xml(&o.to_xml()), Ok(o));

        let input = PhoneInput::new(
            "Extension Mobility",
            "Enter User ID and PIN",
            "http://x/?a=1&b=2",
            vec![InputItem::default(); 7],
        );
        assert_eq!(input.items.len(), MAX_INPUT_ITEMS);
        let xml = PhoneObject::Input(input.clone()).to_xml();
        assert!(xml.contains("?a=1&amp;b=2"), "{xml}");
        let declared = format!("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n{xml}");
        assert_eq!(
            PhoneObject::from_xml(&declared),
            Ok(PhoneObject::Input(input))
        );
    }

    #[test]
    fn violations_are_reported() {
        let mut m = PhoneMenu::new("Select Profile", vec![]);
        m.items = vec![MenuItem::default(); 101];
        m.title = Some("x".repeat(33));
        let v = PhoneObject::Menu(m).limit_violations();
        assert_eq!(v.len(), 2, "{v:?}");
    }

    #[test]
    fn error_numbers() {
        assert_eq!(error_number("[201]-Authentication error"), Some(201));
        assert_eq!(error_number("Login Unsuccessful:[101]"), Some(101));
        assert_eq!(error_number("Login Successful"), None);
        assert_eq!(
            error_text(25, "User logged in elsewhere"),
            "[25]-User logged in elsewhere"
        );
    }
}

// ---------------------------------------------------------------------------
// Pushes to the phone's own web server (`POST /CGI/Execute`, form field
// `XML`, HTTP Basic): the server sends `CiscoIPPhoneExecute`; the phone
// checks the credentials against its `authenticationURL` and answers
// `CiscoIPPhoneResponse`, or `CiscoIPPhoneError Number="4"` when refused.

/// The phone's push endpoint.
pub const EXECUTE_PATH: &str = "/CGI/Execute";

/// The execute URL that clears the call history (LOGS-1/2).
pub const CLEAR_CALL_HISTORY: &str = "Init:CallHistory";

/// `<CiscoIPPhoneExecute>`: up to three URLs for the phone to run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "CiscoIPPhoneExecute")]
pub struct PhoneExecute {
    #[serde(rename = "ExecuteItem", default)]
    pub items: Vec<ExecuteItem>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecuteItem {
    #[serde(rename = "@Priority", default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u8>,
    #[serde(rename = "@URL")]
    pub url: String,
}

/// `<CiscoIPPhoneResponse>`: what each execute item did.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "CiscoIPPhoneResponse")]
pub struct PhoneResponse {
    #[serde(rename = "ResponseItem", default)]
    pub items: Vec<ResponseItem>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResponseItem {
    #[serde(rename = "@Status")]
    pub status: i32,
    #[serde(rename = "@Data", default)]
    pub data: String,
    #[serde(rename = "@URL", default)]
    pub url: String,
}

/// `<CiscoIPPhoneError Number="N"/>`: 1 parse, 2 framing, 4 authentication.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename = "CiscoIPPhoneError")]
pub struct PhoneError {
    #[serde(rename = "@Number")]
    pub number: u8,
}

/// What a phone may answer to a push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushAnswer {
    Response(PhoneResponse),
    Error(PhoneError),
}

impl PhoneExecute {
    /// One execute item per URL (at most three, as phones take).
    pub fn new(urls: &[&str]) -> Self {
        PhoneExecute {
            items: urls
                .iter()
                .take(3)
                .map(|u| ExecuteItem {
                    priority: Some(0),
                    url: u.to_string(),
                })
                .collect(),
        }
    }

    pub fn to_xml(&self) -> String {
        crate::xml_text::well_formed(quick_xml::se::to_string(self).unwrap_or_default())
    }

    pub fn from_xml(xml: &str) -> Result<Self, String> {
        quick_xml::de::from_str(xml.trim()).map_err(|e| e.to_string())
    }
}

impl PushAnswer {
    pub fn to_xml(&self) -> String {
        match self {
            PushAnswer::Response(r) => quick_xml::se::to_string(r),
            PushAnswer::Error(e) => quick_xml::se::to_string(e),
        }
        .unwrap_or_default()
    }

    pub fn from_xml(xml: &str) -> Result<Self, String> {
        let body = xml.trim_start();
        if body.starts_with("<CiscoIPPhoneError") {
            quick_xml::de::from_str(body)
                .map(PushAnswer::Error)
                .map_err(|e| e.to_string())
        } else {
            quick_xml::de::from_str(body)
                .map(PushAnswer::Response)
                .map_err(|e| e.to_string())
        }
    }
}

#[cfg(test)]
mod push_tests {
    use super::*;

    #[test]
    fn push_objects_round_trip() {
        let x = PhoneExecute::new(&[CLEAR_CALL_HISTORY]);
        assert_eq!(
            x.to_xml(),
            r#"<CiscoIPPhoneExecute><ExecuteItem Priority="0" URL="Init:CallHistory"/></CiscoIPPhoneExecute>"#
        );
        assert_eq!(PhoneExecute::from_xml(&x.to_xml()), Ok(x));
        let ok = PushAnswer::Response(PhoneResponse {
            items: vec![ResponseItem {
                status: 0,
                data: "Success".into(),
                url: CLEAR_CALL_HISTORY.into(),
            }],
        });
        assert_eq!(PushAnswer::from_xml(&ok.to_xml()), Ok(ok));
        let refused = PushAnswer::Error(PhoneError { number: 4 });
        assert_eq!(refused.to_xml(), r#"<CiscoIPPhoneError Number="4"/>"#);
        assert_eq!(PushAnswer::from_xml(&refused.to_xml()), Ok(refused));
    }
}
