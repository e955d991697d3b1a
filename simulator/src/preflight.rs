//! Preflight: before a run or a conformance pass against a server nobody
//! here wrote, check that the run can mean something.
//!
//! Each interface is reached once (TLS checked where the URL is
//! `https://`, plain HTTP where it is `http://`, so a wrong scheme is named
//! rather than turning every request into a `connection-error`); the
//! application credentials are tried with a harmless `deviceUserQuery`; and
//! a sample of the lab's devices and users is looked up on the target with
//! `deviceUserQuery` and `userDevicesQuery`, so a lab file that describes
//! another directory is caught before ten thousand phones fail on it.
//!
//! Findings are `ok`, `differs` (worth a look, the run goes on) or `fatal`
//! (the run would be meaningless; the command exits 2).

use crate::em_client::{EmClient, Reply};
use crate::phone::Endpoints;
use crate::phone::http::{self, ClientTls, Fetched};
use emlab_protocol::em_api::{
    AppInfo, DeviceUser, DeviceUserQuery, Message, Query, QueryKind, Response, ResponseBody,
    UserDevicesEntry, UserDevicesQuery,
};
use serde::Serialize;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TIMEOUT: Duration = Duration::from_secs(5);

/// How much a finding matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Ok,
    Differs,
    Fatal,
}

/// One line of the preflight table.
#[derive(Clone, Debug, Serialize)]
pub struct Finding {
    /// `EM API`, `TLS`, `credentials`, `devices`, ...
    pub check: String,
    /// The URL or address it was made against.
    pub at: String,
    pub severity: Severity,
    pub detail: String,
}

/// Everything preflight found, for the console and the reports.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Preflight {
    pub findings: Vec<Finding>,
    pub seconds: f64,
    /// `--insecure`: certificates were not checked.
    pub tls_insecure: bool,
}

impl Preflight {
    pub fn fatal(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Fatal)
    }

    fn add(&mut self, check: &str, at: &str, severity: Severity, detail: impl Into<String>) {
        self.findings.push(Finding {
            check: check.into(),
            at: at.into(),
            severity,
            detail: detail.into(),
        });
    }

    /// The table printed before the run.
    pub fn table(&self) -> String {
        let mut out = format!("preflight ({:.1} ms)\n", self.seconds * 1e3);
        for f in &self.findings {
            let mark = match f.severity {
                Severity::Ok => "ok     ",
                Severity::Differs => "DIFFERS",
                Severity::Fatal => "FATAL  ",
            };
            out.push_str(&format!(
                "  {mark} {:<14} {:<36} {}\n",
                f.check, f.at, f.detail
            ));
        }
        if self.tls_insecure {
            out.push_str("  WARNING --insecure: TLS certificates are not checked\n");
        }
        out
    }

    /// The table as an HTML section, for `report.html` and `conform.html`.
    pub fn html(&self) -> String {
        let esc = crate::report::html::esc;
        let mut h = String::from(
            "<h2>Preflight</h2><table><tr><th>check</th><th>at</th><th>result</th><th>detail</th></tr>",
        );
        for f in &self.findings {
            let (cls, word) = match f.severity {
                Severity::Ok => ("pass", "ok"),
                Severity::Differs => ("note", "differs"),
                Severity::Fatal => ("fail", "fatal"),
            };
            h.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td class=\"{cls}\">{word}</td><td>{}</td></tr>",
                esc(&f.check),
                esc(&f.at),
                esc(&f.detail)
            ));
        }
        h.push_str(&format!(
            "</table><p class=\"note\">Preflight took {:.1} ms.</p>",
            self.seconds * 1e3
        ));
        h
    }

    /// The first fatal finding as one line, for the exit-2 message.
    pub fn first_fatal(&self) -> Option<String> {
        self.findings
            .iter()
            .find(|f| f.severity == Severity::Fatal)
            .map(|f| format!("preflight: {} {}: {}", f.check, f.at, f.detail))
    }
}

/// Which interfaces the run will use; the others are checked but a
/// failure there only `differs`.
#[derive(Clone, Copy, Debug, Default)]
pub struct Uses {
    pub phone_service: bool,
    pub config_files: bool,
    pub sccp: bool,
    pub sip: bool,
    pub tftp: bool,
}

/// What preflight checks against.
pub struct PreflightInput<'a> {
    pub endpoints: &'a Endpoints,
    /// The TFTP address, when the target has one.
    pub tftp: Option<SocketAddr>,
    pub lab_control: Option<&'a str>,
    pub app: &'a AppInfo,
    /// Device names the lab says exist on the target (a sample is checked).
    pub devices: Vec<String>,
    /// User IDs the lab says exist on the target (a sample is checked).
    pub users: Vec<String>,
    /// `(role, entry)` for the devices and the users the lab's
    /// `[conformance]` names; every one is checked.
    pub role_devices: Vec<(String, String)>,
    pub role_users: Vec<(String, String)>,
    pub uses: Uses,
}

/// At most this many devices and users are looked up, spread over the lab.
pub const SAMPLE: usize = 25;

/// Every `n`-th entry so that at most [`SAMPLE`] remain, first and last included.
pub fn sample(all: &[String]) -> Vec<String> {
    if all.len() <= SAMPLE {
        return all.to_vec();
    }
    let step = (all.len() - 1) as f64 / (SAMPLE - 1) as f64;
    (0..SAMPLE)
        .map(|i| all[((i as f64) * step).round() as usize].clone())
        .collect()
}

pub async fn run(input: &PreflightInput<'_>) -> Preflight {
    let started = Instant::now();
    let tls = &input.endpoints.tls;
    let mut p = Preflight {
        tls_insecure: tls.insecure(),
        ..Preflight::default()
    };
    let em = input.endpoints.em_base.as_str();
    let em_ok = reach(&mut p, "EM API", em, tls, true).await;
    if input.uses.config_files || input.uses.tftp {
        reach(
            &mut p,
            "config files",
            &input.endpoints.config_base,
            tls,
            input.uses.config_files,
        )
        .await;
    }
    if let Some(lab) = input.lab_control {
        reach(&mut p, "lab control", lab, tls, false).await;
    }
    if input.uses.sccp {
        tcp(&mut p, "SCCP", input.endpoints.sccp, true).await;
    }
    if input.uses.sip {
        sip(&mut p, input.endpoints.sip).await;
    }
    if let (true, Some(addr)) = (input.uses.tftp, input.tftp) {
        tftp(&mut p, addr, input.devices.first().map(String::as_str)).await;
    }
    if em_ok {
        directory(&mut p, input).await;
        roles(&mut p, input).await;
        if input.uses.phone_service {
            phone_service(&mut p, input).await;
        }
    }
    p.seconds = started.elapsed().as_secs_f64();
    p
}

fn fatal_if(needed: bool) -> Severity {
    if needed {
        Severity::Fatal
    } else {
        Severity::Differs
    }
}

/// Host, port and scheme of a base URL.
fn parse_base(url: &str) -> Result<(bool, String, u16), String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("not a URL: {e}"))?;
    let secure = match uri.scheme_str() {
        Some("http") => false,
        Some("https") => true,
        _ => return Err("expected http:// or https://".into()),
    };
    let host = uri.host().ok_or("no host")?.to_string();
    let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
    Ok((secure, host, port))
}

async fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    tokio::net::lookup_host((bare, port))
        .await
        .map_err(|e| format!("cannot resolve {bare}: {e}"))?
        .next()
        .ok_or_else(|| format!("{bare} has no address"))
}

/// Connects to an HTTP(S) base: TLS for https, a plain request for http.
async fn reach(p: &mut Preflight, check: &str, url: &str, tls: &ClientTls, needed: bool) -> bool {
    let (secure, host, port) = match parse_base(url) {
        Ok(x) => x,
        Err(e) => {
            p.add(check, url, Severity::Fatal, e);
            return false;
        }
    };
    let addr = match resolve(&host, port).await {
        Ok(a) => a,
        Err(e) => {
            p.add(check, url, fatal_if(needed), e);
            return false;
        }
    };
    let result = if secure {
        emlab_tls::probe(&host, addr, tls, TIMEOUT)
            .await
            .map(|_| "TLS handshake ok".to_string())
    } else {
        plain_http(addr).await
    };
    match result {
        Ok(detail) => {
            p.add(check, url, Severity::Ok, detail);
            true
        }
        Err(e) => {
            p.add(check, url, fatal_if(needed), e);
            false
        }
    }
}

/// Sends `HEAD / HTTP/1.1` and reads the first bytes: an HTTP status line
/// is fine; a TLS record (0x15 alert, 0x16 handshake) or a silent close
/// means the port speaks TLS.
async fn plain_http(addr: SocketAddr) -> Result<String, String> {
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        s.write_all(
            format!("HEAD / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await
        .map_err(|e| format!("cannot send: {e}"))?;
        let mut first = [0u8; 5];
        let n = s.read(&mut first).await.unwrap_or(0);
        match &first[..n] {
            [b'H', b'T', b'T', b'P', b'/', ..] => Ok("HTTP answers".to_string()),
            [0x15 | 0x16, ..] => {
                Err("the server answered in TLS (is it an https:// server?)".into())
            }
            [] => Err("closed without an HTTP answer (is it an https:// server?)".into()),
            _ => Err("the answer is not HTTP".into()),
        }
    };
    tokio::time::timeout(TIMEOUT, attempt)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {} s", TIMEOUT.as_secs())))
}

async fn tcp(p: &mut Preflight, check: &str, addr: SocketAddr, needed: bool) {
    let at = addr.to_string();
    match tokio::time::timeout(TIMEOUT, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => p.add(check, &at, Severity::Ok, "accepts connections"),
        Ok(Err(e)) => p.add(check, &at, fatal_if(needed), format!("cannot connect: {e}")),
        Err(_) => p.add(check, &at, fatal_if(needed), "no answer to the connection"),
    }
}

async fn sip(p: &mut Preflight, addr: SocketAddr) {
    let at = format!("udp/{addr}");
    let bind: SocketAddr = if addr.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let result = async {
        let socket = tokio::net::UdpSocket::bind(bind)
            .await
            .map_err(|e| e.to_string())?;
        socket.connect(addr).await.map_err(|e| e.to_string())?;
        let local = socket.local_addr().map_err(|e| e.to_string())?;
        let ping = emlab_protocol::sip::options_request(
            &addr.to_string(),
            &local.to_string(),
            &format!("preflight-{}", local.port()),
        );
        socket
            .send(ping.to_wire().as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = vec![0u8; 4096];
        match tokio::time::timeout(Duration::from_secs(2), socket.recv(&mut buf)).await {
            Ok(Ok(n)) => {
                match emlab_protocol::sip::SipMessage::parse(&buf[..n]).and_then(|m| m.status()) {
                    Some(status) => Ok(format!("OPTIONS answered {status}")),
                    None => Err("the answer to OPTIONS is not SIP".to_string()),
                }
            }
            Ok(Err(e)) => Err(format!("nothing listens: {e}")),
            Err(_) => Err("no answer to OPTIONS within 2 s".into()),
        }
    }
    .await;
    match result {
        Ok(d) => p.add("SIP", &at, Severity::Ok, d),
        Err(e) => p.add("SIP", &at, Severity::Fatal, e),
    }
}

async fn tftp(p: &mut Preflight, addr: SocketAddr, device: Option<&str>) {
    let at = format!("udp/{addr}");
    let Some(device) = device else {
        p.add("TFTP", &at, Severity::Differs, "no device to ask for");
        return;
    };
    let file = format!("{device}.cnf.xml");
    match crate::phone::tftp::fetch(IpAddr::V4(Ipv4Addr::UNSPECIFIED), addr, &file, TIMEOUT).await {
        Ok(bytes) => p.add(
            "TFTP",
            &at,
            Severity::Ok,
            format!("{file}: {} bytes", bytes.len()),
        ),
        Err(e) => p.add("TFTP", &at, Severity::Fatal, format!("{file}: {e}")),
    }
}

/// Credentials, then the sampled devices and users.
async fn directory(p: &mut Preflight, input: &PreflightInput<'_>) {
    let em = input.endpoints.em_base.as_str();
    let client = match EmClient::with_tls(em, input.app.clone(), TIMEOUT, &input.endpoints.tls) {
        Ok(c) => c,
        Err(e) => {
            p.add("EM API", em, Severity::Fatal, e);
            return;
        }
    };
    let devices = sample(&input.devices);
    let users = sample(&input.users);
    let query = Message::Query(Query::new(
        input.app.clone(),
        QueryKind::DeviceUser(DeviceUserQuery {
            device_names: devices.clone(),
            ..Default::default()
        }),
    ));
    let answer = client.send(&query).await;
    let results = match answer {
        Reply::Answer(Response {
            body: ResponseBody::DeviceUserResults(r),
            ..
        }) => {
            p.add(
                "credentials",
                &input.app.app_id,
                Severity::Ok,
                "deviceUserQuery answered",
            );
            r
        }
        // 2 and 3: the application's ID or password is wrong; nothing can work.
        Reply::Answer(r) if matches!(r.error_code(), Some(2 | 3)) => {
            let code = r.error_code().unwrap_or_default();
            p.add(
                "credentials",
                &input.app.app_id,
                Severity::Fatal,
                format!("deviceUserQuery refused with error {code}: the application ID or password is wrong"),
            );
            return;
        }
        // Busy (26) or any other refusal: worth a look, but the run may
        // be exactly about that.
        Reply::Answer(r) => {
            let code = r.error_code().unwrap_or_default();
            p.add(
                "credentials",
                &input.app.app_id,
                Severity::Differs,
                format!("deviceUserQuery answered error {code}; devices and users not looked up"),
            );
            return;
        }
        other => {
            p.add(
                "credentials",
                &input.app.app_id,
                Severity::Fatal,
                format!("deviceUserQuery: {}", other.label()),
            );
            return;
        }
    };
    if !devices.is_empty() {
        let missing: Vec<&str> = devices
            .iter()
            .filter(|d| {
                !results
                    .devices
                    .iter()
                    .any(|r| &r.name == *d && r.user != DeviceUser::DoesNotExist)
            })
            .map(String::as_str)
            .collect();
        report_missing(
            p,
            "devices",
            em,
            devices.len(),
            input.devices.len(),
            &missing,
        );
    }
    if users.is_empty() {
        return;
    }
    let query = Message::Query(Query::new(
        input.app.clone(),
        QueryKind::UserDevices(UserDevicesQuery {
            user_ids: users.clone(),
            ..Default::default()
        }),
    ));
    match client.send(&query).await {
        Reply::Answer(Response {
            body: ResponseBody::UserDevicesResults(r),
            ..
        }) => {
            let missing: Vec<&str> = users
                .iter()
                .filter(|u| {
                    !r.users.iter().any(|x| {
                        &x.id == *u && !x.entries.contains(&UserDevicesEntry::DoesNotExist)
                    })
                })
                .map(String::as_str)
                .collect();
            report_missing(p, "users", em, users.len(), input.users.len(), &missing);
        }
        other => p.add(
            "users",
            em,
            Severity::Differs,
            format!("userDevicesQuery: {}", other.label()),
        ),
    }
}

fn report_missing(
    p: &mut Preflight,
    what: &str,
    at: &str,
    asked: usize,
    in_lab: usize,
    missing: &[&str],
) {
    if missing.is_empty() {
        p.add(
            what,
            at,
            Severity::Ok,
            format!("{asked} of the lab's {in_lab} looked up, all exist"),
        );
    } else {
        let shown: Vec<&str> = missing.iter().take(5).copied().collect();
        p.add(
            what,
            at,
            Severity::Fatal,
            format!(
                "{} of {asked} looked up do not exist on the target ({}{}): is --lab the target's directory?",
                missing.len(),
                shown.join(", "),
                if missing.len() > shown.len() { ", ..." } else { "" }
            ),
        );
    }
}

/// Every entry the lab's `[conformance]` names exists on the target: a role
/// naming a missing entry would fail its cases for the wrong reason.
async fn roles(p: &mut Preflight, input: &PreflightInput<'_>) {
    if input.role_devices.is_empty() && input.role_users.is_empty() {
        return;
    }
    let em = input.endpoints.em_base.as_str();
    let Ok(client) = EmClient::with_tls(em, input.app.clone(), TIMEOUT, &input.endpoints.tls)
    else {
        return;
    };
    let mut missing = Vec::new();
    if !input.role_devices.is_empty() {
        let query = Message::Query(Query::new(
            input.app.clone(),
            QueryKind::DeviceUser(DeviceUserQuery {
                device_names: input.role_devices.iter().map(|(_, d)| d.clone()).collect(),
                ..Default::default()
            }),
        ));
        if let Reply::Answer(Response {
            body: ResponseBody::DeviceUserResults(r),
            ..
        }) = client.send(&query).await
        {
            for (role, device) in &input.role_devices {
                let there = r
                    .devices
                    .iter()
                    .any(|d| &d.name == device && d.user != DeviceUser::DoesNotExist);
                if !there {
                    missing.push(format!("{role} = {device}"));
                }
            }
        }
    }
    if !input.role_users.is_empty() {
        let query = Message::Query(Query::new(
            input.app.clone(),
            QueryKind::UserDevices(UserDevicesQuery {
                user_ids: input.role_users.iter().map(|(_, u)| u.clone()).collect(),
                ..Default::default()
            }),
        ));
        if let Reply::Answer(Response {
            body: ResponseBody::UserDevicesResults(r),
            ..
        }) = client.send(&query).await
        {
            for (role, user) in &input.role_users {
                let there = r
                    .users
                    .iter()
                    .any(|x| &x.id == user && !x.entries.contains(&UserDevicesEntry::DoesNotExist));
                if !there {
                    missing.push(format!("{role} = {user}"));
                }
            }
        }
    }
    let named = input.role_devices.len() + input.role_users.len();
    if missing.is_empty() {
        p.add(
            "roles",
            em,
            Severity::Ok,
            format!("the {named} devices and users [conformance] names exist"),
        );
    } else {
        p.add(
            "roles",
            em,
            Severity::Fatal,
            format!(
                "[conformance] names entries the target lacks: {}",
                missing.join(", ")
            ),
        );
    }
}

/// The phone service answers a phone's first request with a Cisco IP Phone object.
async fn phone_service(p: &mut Preflight, input: &PreflightInput<'_>) {
    let Some(device) = input.devices.first() else {
        return;
    };
    let url = format!(
        "{}{}?device={device}",
        input.endpoints.em_base.trim_end_matches('/'),
        emlab_protocol::phone_xml::EM_SERVICE_PATH
    );
    let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let f = http::get(local, &url, &[], TIMEOUT, &input.endpoints.tls).await;
    let at = url.as_str();
    match f {
        Fetched::Ok { status: 200, body } => {
            match emlab_protocol::phone_xml::PhoneObject::from_xml(&String::from_utf8_lossy(&body))
            {
                Ok(_) => p.add(
                    "phone service",
                    at,
                    Severity::Ok,
                    "answers a Cisco IP Phone object",
                ),
                Err(_) => p.add(
                    "phone service",
                    at,
                    Severity::Fatal,
                    "the answer is not a Cisco IP Phone object",
                ),
            }
        }
        other => p.add("phone service", at, Severity::Fatal, other.failure_label()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_spreads_over_the_lab() {
        let all: Vec<String> = (0..1000).map(|i| format!("d{i}")).collect();
        let s = sample(&all);
        assert_eq!(s.len(), SAMPLE);
        assert_eq!(s.first().map(String::as_str), Some("d0"));
        assert_eq!(s.last().map(String::as_str), Some("d999"));
        let few: Vec<String> = vec!["a".into(), "b".into()];
        assert_eq!(sample(&few), few);
    }
}
