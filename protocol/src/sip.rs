//! SIP, the subset emlab needs for the 8800 series (PROTOCOL.md §5; facts
//! and sources in `../shared/notes/control-channel.md` §5–6):
//!
//! - the phone registers: `REGISTER` with a Contact carrying
//!   `+u.sip!devicename.ccm.cisco.com="SEP..."`; the server answers `200 OK`
//!   (RFC 3261 §10.3: Via, From, Call-ID and CSeq echoed, a To tag, the
//!   Contact with its expiry) and keeps the REGISTER's Call-ID;
//! - to restart or reset it, the server sends an out-of-dialog `NOTIFY`
//!   with `Event: service-control`, `Content-Type: text/plain` and a body
//!   of `action=restart` (or `reset`, `apply-config`) and
//!   `RegisterCallId={<that Call-ID>}`; the phone answers 200, or 400 when
//!   the RegisterCallId is missing or not its own.

use std::fmt::Write;

/// A parsed SIP request or response. Header names keep their case; lookups
/// ignore it and understand the compact forms (`i` for Call-ID, ...).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SipMessage {
    /// `REGISTER sip:cucm SIP/2.0` or `SIP/2.0 200 OK`.
    pub start_line: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// Compact header forms (RFC 3261 §7.3.3, and `o` for Event).
fn full_name(name: &str) -> &str {
    match name {
        "i" | "I" => "call-id",
        "v" | "V" => "via",
        "f" | "F" => "from",
        "t" | "T" => "to",
        "m" | "M" => "contact",
        "l" | "L" => "content-length",
        "c" | "C" => "content-type",
        "k" | "K" => "supported",
        "o" | "O" => "event",
        other => other,
    }
}

impl SipMessage {
    /// Parses one datagram; `None` for anything that is not SIP.
    pub fn parse(datagram: &[u8]) -> Option<SipMessage> {
        let text = std::str::from_utf8(datagram).ok()?;
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
        let mut lines = head.split("\r\n");
        let start_line = lines.next()?.trim().to_string();
        let is_request = start_line.ends_with("SIP/2.0") && start_line.split(' ').count() == 3;
        if !is_request && !start_line.starts_with("SIP/2.0 ") {
            return None;
        }
        let mut headers = Vec::new();
        for line in lines {
            let (name, value) = line.split_once(':')?;
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        Some(SipMessage {
            start_line,
            headers,
            body: body.to_string(),
        })
    }

    /// The method of a request (`REGISTER`), `None` for a response.
    pub fn method(&self) -> Option<&str> {
        (!self.start_line.starts_with("SIP/2.0"))
            .then(|| self.start_line.split(' ').next().unwrap_or(""))
    }

    /// The status of a response.
    pub fn status(&self) -> Option<u16> {
        self.start_line
            .strip_prefix("SIP/2.0 ")?
            .split(' ')
            .next()?
            .parse()
            .ok()
    }

    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers_named(name).next()
    }

    /// Every value of a header, in order (Via may repeat).
    pub fn headers_named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> + use<'a> {
        let wanted = full_name(name).to_ascii_lowercase();
        self.headers
            .iter()
            .filter(move |(n, _)| full_name(n).eq_ignore_ascii_case(&wanted))
            .map(|(_, v)| v.as_str())
    }

    pub fn to_wire(&self) -> String {
        let mut out = format!("{}\r\n", self.start_line);
        for (n, v) in &self.headers {
            let _ = write!(out, "{n}: {v}\r\n");
        }
        let _ = write!(out, "\r\n{}", self.body);
        out
    }
}

/// The Cisco device name in a Contact: `+u.sip!devicename.ccm.cisco.com="SEP..."`.
pub fn contact_device_name(contact: &str) -> Option<&str> {
    let rest = contact.split("+u.sip!devicename.ccm.cisco.com=\"").nth(1)?;
    rest.split('"').next()
}

/// The URI inside `<...>` of a Contact, From or To value.
pub fn angle_uri(value: &str) -> Option<&str> {
    let start = value.find('<')? + 1;
    let len = value[start..].find('>')?;
    Some(&value[start..start + len])
}

/// The `expires` a REGISTER asks for: the Contact's parameter, else the
/// Expires header, else 3600.
pub fn register_expires(register: &SipMessage) -> Result<u32, &'static str> {
    let from_contact = register.header("contact").and_then(|c| {
        c.split(';')
            .find_map(|p| p.trim().strip_prefix("expires=").map(str::trim))
    });
    match from_contact.or_else(|| register.header("expires")) {
        Some(v) => v.parse().map_err(|_| "Expires is not a number of seconds"),
        None => Ok(3600),
    }
}

impl SipMessage {
    /// Why the message cannot be taken as it stands (RFC 3261 §18.3,
    /// §20.8, §20.14): an empty Call-ID, a Content-Length that is not a
    /// number or claims more than the datagram holds.
    pub fn framing_problem(&self) -> Option<&'static str> {
        if self.header("call-id").is_some_and(|c| c.trim().is_empty()) {
            return Some("empty Call-ID");
        }
        if let Some(length) = self.header("content-length") {
            match length.trim().parse::<usize>() {
                Err(_) => return Some("Content-Length is not a non-negative number"),
                Ok(n) if n > self.body.len() => {
                    return Some("Content-Length is longer than the body");
                }
                Ok(_) => {}
            }
        }
        None
    }
}

/// A response to `request` (RFC 3261 §8.2.6: Via, From, Call-ID, CSeq
/// echoed; a tag added to To).
pub fn response(
    request: &SipMessage,
    status: u16,
    reason: &str,
    to_tag: &str,
    extra: &[(&str, String)],
) -> SipMessage {
    let mut headers: Vec<(String, String)> = request
        .headers_named("via")
        .map(|v| ("Via".into(), v.into()))
        .collect();
    for name in ["From", "Call-ID", "CSeq"] {
        if let Some(v) = request.header(name) {
            headers.push((name.into(), v.into()));
        }
    }
    if let Some(to) = request.header("to") {
        let to = if to.contains(";tag=") {
            to.to_string()
        } else {
            format!("{to};tag={to_tag}")
        };
        headers.push(("To".into(), to));
    }
    for (n, v) in extra {
        headers.push(((*n).into(), v.clone()));
    }
    headers.push(("Content-Length".into(), "0".into()));
    SipMessage {
        start_line: format!("SIP/2.0 {status} {reason}"),
        headers,
        body: String::new(),
    }
}

/// A `Warning` header (RFC 3261 §20.43) that says why a request was
/// refused: warn-code 399 (miscellaneous), the agent, the quoted text.
pub fn warning(agent: &str, text: &str) -> (&'static str, String) {
    let quoted = text.replace('\\', "\\\\").replace('"', "\\\"");
    ("Warning", format!("399 {agent} \"{quoted}\""))
}

/// What an 8800-series phone puts in its REGISTER.
pub struct RegisterRequest<'a> {
    /// `host:port` of the registrar.
    pub server: &'a str,
    /// `host:port` the phone listens on (Via and Contact).
    pub local: &'a str,
    pub device_name: &'a str,
    /// The phone's line (the From and To user).
    pub extension: &'a str,
    pub call_id: &'a str,
    pub cseq: u32,
    /// The Contact user part (Cisco phones put a UUID there).
    pub contact_user: &'a str,
    /// `0` unregisters.
    pub expires: u32,
    /// The catalogue name, e.g. `8851` (the User-Agent says it).
    pub model: &'a str,
}

/// The `User-Agent` of a Cisco 8800-series phone on enterprise firmware:
/// `Cisco-CP8851/14.2.1`.
pub fn user_agent(model: &str) -> String {
    format!("Cisco-CP{model}/14.2.1")
}

/// `OPTIONS`, the keep-alive ping any SIP server answers; preflight uses it
/// to see that something listens on the SIP port.
pub fn options_request(server: &str, local: &str, call_id: &str) -> SipMessage {
    let headers = vec![
        (
            "Via".to_string(),
            format!("SIP/2.0/UDP {local};branch=z9hG4bK{call_id}"),
        ),
        ("Max-Forwards".into(), "70".into()),
        ("From".into(), format!("<sip:emlab@{local}>;tag={call_id}")),
        ("To".into(), format!("<sip:{server}>")),
        ("Call-ID".into(), call_id.to_string()),
        ("CSeq".into(), "1 OPTIONS".into()),
        (
            "User-Agent".into(),
            format!("emlab/{}", env!("CARGO_PKG_VERSION")),
        ),
        ("Content-Length".into(), "0".into()),
    ];
    SipMessage {
        start_line: format!("OPTIONS sip:{server} SIP/2.0"),
        headers,
        body: String::new(),
    }
}

/// `REGISTER`, as a Cisco 8800 sends it: its device name in the Contact's
/// `+u.sip!devicename.ccm.cisco.com` and `X-cisco-service-control` in
/// `Supported`, so the registrar may restart it by NOTIFY.
pub fn register_request(r: &RegisterRequest<'_>) -> SipMessage {
    let headers = vec![
        (
            "Via".to_string(),
            format!(
                "SIP/2.0/UDP {};branch=z9hG4bK{}-{}",
                r.local, r.contact_user, r.cseq
            ),
        ),
        (
            "From".into(),
            format!("<sip:{}@{}>;tag={}", r.extension, r.server, r.contact_user),
        ),
        ("To".into(), format!("<sip:{}@{}>", r.extension, r.server)),
        ("Call-ID".into(), r.call_id.to_string()),
        ("CSeq".into(), format!("{} REGISTER", r.cseq)),
        (
            "Contact".into(),
            format!(
                "<sip:{}@{};transport=udp>;+u.sip!devicename.ccm.cisco.com=\"{}\"",
                r.contact_user, r.local, r.device_name
            ),
        ),
        (
            "Supported".into(),
            "replaces,X-cisco-service-control".into(),
        ),
        ("Max-Forwards".into(), "70".into()),
        ("User-Agent".into(), user_agent(r.model)),
        ("Expires".into(), r.expires.to_string()),
        ("Content-Length".into(), "0".into()),
    ];
    SipMessage {
        start_line: format!("REGISTER sip:{} SIP/2.0", r.server),
        headers,
        body: String::new(),
    }
}

/// What a service-control NOTIFY asks of the phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceAction {
    Restart,
    Reset,
    ApplyConfig,
}

impl ServiceAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceAction::Restart => "restart",
            ServiceAction::Reset => "reset",
            ServiceAction::ApplyConfig => "apply-config",
        }
    }
}

/// The parts of a NOTIFY that the sender chooses.
pub struct NotifyAddress<'a> {
    /// The phone's registered Contact URI (`sip:uuid@127.0.0.1:5062`).
    pub request_uri: &'a str,
    /// `host:port` the server sends from.
    pub server: &'a str,
    pub call_id: &'a str,
    pub branch: &'a str,
    pub tag: &'a str,
}

/// `NOTIFY` with `Event: service-control` (PROTOCOL.md §5).
pub fn service_control_notify(
    to: &NotifyAddress<'_>,
    action: ServiceAction,
    register_call_id: &str,
) -> SipMessage {
    let body = format!(
        "action={}\r\nRegisterCallId={{{register_call_id}}}\r\n",
        action.as_str()
    );
    let headers = vec![
        (
            "Via".to_string(),
            format!("SIP/2.0/UDP {};branch=z9hG4bK{}", to.server, to.branch),
        ),
        ("Max-Forwards".into(), "70".into()),
        ("From".into(), format!("<sip:{}>;tag={}", to.server, to.tag)),
        ("To".into(), format!("<{}>", to.request_uri)),
        ("Call-ID".into(), to.call_id.to_string()),
        ("CSeq".into(), "101 NOTIFY".into()),
        ("Event".into(), "service-control".into()),
        ("Subscription-State".into(), "active".into()),
        ("Contact".into(), format!("<sip:{}>", to.server)),
        ("Content-Type".into(), "text/plain".into()),
        ("Content-Length".into(), body.len().to_string()),
    ];
    SipMessage {
        start_line: format!("NOTIFY {} SIP/2.0", to.request_uri),
        headers,
        body,
    }
}

/// The `action` and `RegisterCallId` of a service-control body (keys are
/// case-insensitive; values other than `action` are wrapped in `{}`).
pub fn parse_service_control(body: &str) -> (Option<String>, Option<String>) {
    let mut action = None;
    let mut call_id = None;
    for line in body.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        match k.trim().to_ascii_lowercase().as_str() {
            "action" => action = Some(v.trim().to_string()),
            "registercallid" => {
                call_id = v
                    .trim()
                    .strip_prefix('{')
                    .and_then(|v| v.strip_suffix('}'))
                    .map(str::to_string)
            }
            _ => {}
        }
    }
    (action, call_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REGISTER: &str = "REGISTER sip:127.0.0.1 SIP/2.0\r\n\
        Via: SIP/2.0/UDP 127.0.0.1:5062;branch=z9hG4bK1\r\n\
        From: <sip:2001@127.0.0.1>;tag=a1\r\n\
        To: <sip:2001@127.0.0.1>\r\n\
        i: 00112233-4455@127.0.0.1\r\n\
        CSeq: 1 REGISTER\r\n\
        Contact: <sip:abc@127.0.0.1:5062;transport=udp>;+u.sip!devicename.ccm.cisco.com=\"SEP000000000005\";+u.sip!model.ccm.cisco.com=\"684\"\r\n\
        Supported: replaces,X-cisco-service-control\r\n\
        Expires: 3600\r\n\
        Content-Length: 0\r\n\r\n";

    #[test]
    fn parses_a_cisco_register_and_answers_it() {
        let r = SipMessage::parse(REGISTER.as_bytes()).unwrap();
        assert_eq!(r.method(), Some("REGISTER"));
        assert_eq!(
            r.header("Call-ID"),
            Some("00112233-4455@127.0.0.1"),
            "compact `i` understood"
        );
        let contact = r.header("contact").unwrap();
        assert_eq!(contact_device_name(contact), Some("SEP000000000005"));
        assert_eq!(
            angle_uri(contact),
            Some("sip:abc@127.0.0.1:5062;transport=udp")
        );
        assert_eq!(register_expires(&r), Ok(3600));
        let ok = response(&r, 200, "OK", "srv1", &[("Expires", "3600".into())]);
        let back = SipMessage::parse(ok.to_wire().as_bytes()).unwrap();
        assert_eq!(back.status(), Some(200));
        assert_eq!(back.header("to"), Some("<sip:2001@127.0.0.1>;tag=srv1"));
        assert_eq!(back.header("cseq"), Some("1 REGISTER"));
        assert_eq!(back.header("via"), r.header("via"));
    }

    #[test]
    fn framing_problems_are_named() {
        let msg = |extra: &str| {
            SipMessage::parse(
                format!("REGISTER sip:x SIP/2.0\r\nVia: SIP/2.0/UDP a\r\n{extra}\r\n\r\n")
                    .as_bytes(),
            )
            .unwrap()
        };
        assert_eq!(msg("Call-ID: ").framing_problem(), Some("empty Call-ID"));
        assert_eq!(
            msg("Call-ID: a\r\nContent-Length: -1").framing_problem(),
            Some("Content-Length is not a non-negative number")
        );
        assert_eq!(
            msg("Call-ID: a\r\nContent-Length: 40").framing_problem(),
            Some("Content-Length is longer than the body")
        );
        assert_eq!(
            msg("Call-ID: a\r\nContent-Length: 0").framing_problem(),
            None
        );
        assert!(register_expires(&msg("Expires: soon")).is_err());
        assert_eq!(register_expires(&msg("Expires: 60")), Ok(60));
        assert!(register_expires(&msg("Contact: <sip:a@b>;expires=-5")).is_err());
    }

    #[test]
    fn a_warning_quotes_its_text() {
        assert_eq!(
            warning("emlab", r#"device "X" unknown"#),
            ("Warning", r#"399 emlab "device \"X\" unknown""#.to_string())
        );
    }

    #[test]
    fn a_built_register_is_what_the_registrar_reads() {
        let r = register_request(&RegisterRequest {
            server: "127.0.0.1:5060",
            local: "127.16.0.9:5062",
            device_name: "SEP0E0000000008",
            extension: "20008",
            call_id: "c8@127.16.0.9",
            cseq: 2,
            contact_user: "p8",
            expires: 3600,
            model: "8851",
        });
        let back = SipMessage::parse(r.to_wire().as_bytes()).unwrap();
        assert_eq!(back.method(), Some("REGISTER"));
        assert_eq!(back.header("max-forwards"), Some("70"));
        assert_eq!(back.header("user-agent"), Some("Cisco-CP8851/14.2.1"));
        let contact = back.header("contact").unwrap();
        assert_eq!(contact_device_name(contact), Some("SEP0E0000000008"));
        assert_eq!(
            angle_uri(contact),
            Some("sip:p8@127.16.0.9:5062;transport=udp")
        );
        assert_eq!(register_expires(&back), Ok(3600));
        assert_eq!(back.header("call-id"), Some("c8@127.16.0.9"));
    }

    #[test]
    fn notify_body_round_trips() {
        let to = NotifyAddress {
            request_uri: "sip:abc@127.0.0.1:5062",
            server: "127.0.0.1:5060",
            call_id: "n1@127.0.0.1",
            branch: "b1",
            tag: "t1",
        };
        let n = service_control_notify(&to, ServiceAction::Reset, "00112233-4455@127.0.0.1");
        let back = SipMessage::parse(n.to_wire().as_bytes()).unwrap();
        assert_eq!(back.method(), Some("NOTIFY"));
        assert_eq!(back.header("event"), Some("service-control"));
        assert_eq!(
            back.header("content-length").map(str::to_string),
            Some(back.body.len().to_string())
        );
        assert_eq!(
            parse_service_control(&back.body),
            (Some("reset".into()), Some("00112233-4455@127.0.0.1".into()))
        );
    }

    #[test]
    fn garbage_is_not_sip() {
        assert_eq!(SipMessage::parse(b"\xff\xfe"), None);
        assert_eq!(SipMessage::parse(b"hello world"), None);
        assert_eq!(
            SipMessage::parse(b"REGISTER sip:x SIP/2.0\r\nno colon here\r\n\r\n"),
            None
        );
    }
}
