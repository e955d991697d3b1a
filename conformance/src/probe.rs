//! What a case talks to the target with. Every helper writes the request
//! and the response into the case's transcript, so a failed verdict shows
//! exactly what was sent and what came back.

use crate::case::{Stop, fail, skip};
use emlab_protocol::ServerProfile;
use emlab_protocol::config_file::DeviceConfig;
use emlab_protocol::em_api::{
    AppInfo, DeviceUser, DeviceUserQuery, Login, Logout, Message, Operation, Query, QueryKind,
    Request, Response, ResponseBody,
};
use emlab_protocol::lab::Lab;
use emlab_protocol::phone_model;
use emlab_protocol::phone_xml::{self, PhoneObject};
use emlab_protocol::sccp::{Register, ResetType};
use emlab_simulator::em_client::{EmClient, Reply};
use emlab_simulator::phone::PhoneEvent;
use emlab_simulator::phone::http::{self, Fetched, HeaderName, HeaderValue};
use emlab_simulator::phone::sccp_link::{self, SccpCommand, SccpLink};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::mpsc;

/// Where the target's interfaces are, and what it was started with.
#[derive(Clone, Debug)]
pub struct Target {
    pub em_base: String,
    pub config_base: String,
    pub sccp: SocketAddr,
    pub sip: SocketAddr,
    /// `http://host:port` of `/lab/`, when the target has lab control.
    pub lab_control: Option<String>,
    /// An IPv6 base URL of the phone service (`http://[::1]:port`), for
    /// IP-4: the target's own when it is IPv6, else one the harness knows.
    pub ipv6_base: Option<String>,
    pub lab: Lab,
    pub profile: ServerProfile,
    /// What `https://` bases are trusted with (`--ca`, `--insecure`).
    pub tls: http::ClientTls,
}

/// The target plus one case's transcript.
pub struct Probe {
    pub target: Target,
    pub app: AppInfo,
    client: EmClient,
    transcript: Mutex<Vec<String>>,
}

/// A registered SCCP phone and the commands it received.
pub struct SccpPhone {
    pub link: SccpLink,
    events: tokio::sync::Mutex<mpsc::UnboundedReceiver<PhoneEvent>>,
}

impl SccpPhone {
    /// The Reset types received until the line is quiet for `quiet`.
    pub async fn commands(&self, quiet: Duration) -> Vec<ResetType> {
        let mut events = self.events.lock().await;
        let mut seen = Vec::new();
        while let Ok(Some(e)) = tokio::time::timeout(quiet, events.recv()).await {
            if let PhoneEvent::Control(kind) = e {
                seen.push(kind);
            }
        }
        seen
    }
}

/// `restart`, `restart+reset`, ... as reports show a sequence.
pub fn sequence(kinds: &[ResetType]) -> String {
    let names: Vec<&str> = kinds
        .iter()
        .map(|k| match k {
            ResetType::Restart => "restart",
            ResetType::Reset => "reset",
            ResetType::ApplyConfig => "apply-config",
        })
        .collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join("+")
    }
}

const TIMEOUT: Duration = Duration::from_secs(10);

impl Probe {
    pub fn new(target: Target, app: AppInfo) -> Result<Probe, String> {
        let client = EmClient::with_tls(&target.em_base, app.clone(), TIMEOUT, &target.tls)?;
        Ok(Probe {
            target,
            app,
            client,
            transcript: Mutex::new(Vec::new()),
        })
    }

    pub fn take_transcript(&self) -> Vec<String> {
        std::mem::take(&mut *self.transcript.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn note(&self, line: impl Into<String>) {
        self.transcript
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(line.into());
    }

    // ---- the lab the target was started with ----

    /// Skips unless the lab has user `id`.
    pub fn need_user(&self, id: &str) -> Result<(), Stop> {
        if self.target.lab.file.user.iter().any(|u| u.id == id)
            || self.target.lab.fleet_members().any(|m| m.user_id == id)
        {
            Ok(())
        } else {
            Err(skip(format!(
                "the lab has no user `{id}` (see conformance/lab.toml)"
            )))
        }
    }

    /// Skips unless the lab has device `name`.
    pub fn need_device(&self, name: &str) -> Result<(), Stop> {
        if self.target.lab.file.device.iter().any(|d| d.name == name) {
            Ok(())
        } else {
            Err(skip(format!(
                "the lab has no device `{name}` (see conformance/lab.toml)"
            )))
        }
    }

    pub fn pin_of(&self, user: &str) -> String {
        self.target
            .lab
            .file
            .user
            .iter()
            .find(|u| u.id == user)
            .map(|u| u.pin.clone())
            .or_else(|| {
                self.target
                    .lab
                    .fleet_members()
                    .find(|m| m.user_id == user)
                    .map(|m| m.pin)
            })
            .unwrap_or_default()
    }

    /// Skips unless the target has lab control.
    pub fn need_lab_control(&self) -> Result<&str, Stop> {
        self.target
            .lab_control
            .as_deref()
            .ok_or_else(|| skip("the target has no lab control (--lab-control URL)"))
    }

    // ---- EM API ----

    pub async fn send(&self, message: &Message) -> Reply {
        self.send_as(&self.client, message).await
    }

    pub async fn send_as(&self, client: &EmClient, message: &Message) -> Reply {
        self.note(format!("EM API → {}", message.to_xml()));
        let reply = client.send(message).await;
        self.note(format!("EM API ← {}", describe(&reply)));
        reply
    }

    /// Posts a raw form body (unparsable input); the outcome label.
    pub async fn send_raw(&self, form: &str) -> String {
        self.note(format!("EM API → {form}"));
        let reply = self.client.post_raw(form.to_string()).await;
        self.note(format!("EM API ← {}", describe(&reply)));
        reply.label()
    }

    pub fn client_as(&self, app: AppInfo) -> Result<EmClient, Stop> {
        EmClient::with_tls(&self.target.em_base, app, TIMEOUT, &self.target.tls)
            .map_err(|e| fail("a client", e))
    }

    pub fn login_message(&self, device: &str, user: &str) -> Message {
        Message::Request(Request::new(
            self.app.clone(),
            Operation::Login(Login {
                device_name: device.into(),
                user_id: user.into(),
                ..Login::default()
            }),
        ))
    }

    /// EM API login; the outcome label (`success`, `25`, ...).
    pub async fn login(&self, device: &str, user: &str) -> String {
        self.send(&self.login_message(device, user)).await.label()
    }

    pub async fn logout(&self, device: &str) -> String {
        let m = Message::Request(Request::new(
            self.app.clone(),
            Operation::Logout(Logout {
                device_name: device.into(),
                ..Logout::default()
            }),
        ));
        self.send(&m).await.label()
    }

    /// Logs the devices out, whatever they answer: a case's clean slate.
    pub async fn clear(&self, devices: &[&str]) {
        for d in devices {
            let _ = self.logout(d).await;
        }
    }

    /// Who the target says is on `device` (`none` for nobody).
    pub async fn user_on(&self, device: &str) -> Result<String, Stop> {
        let q = Message::Query(Query::new(
            self.app.clone(),
            QueryKind::DeviceUser(DeviceUserQuery {
                device_names: vec![device.into()],
                ..Default::default()
            }),
        ));
        match self.send(&q).await {
            Reply::Answer(Response {
                body: ResponseBody::DeviceUserResults(r),
                ..
            }) => match r.devices.iter().find(|d| d.name == device).map(|d| &d.user) {
                Some(DeviceUser::User(u)) => Ok(u.clone()),
                Some(DeviceUser::Nobody) => Ok("none".into()),
                Some(DeviceUser::DoesNotExist) => Ok("doesNotExist".into()),
                None => Err(fail("the device in deviceUserResults", "it is missing")),
            },
            other => Err(fail("deviceUserResults", describe(&other))),
        }
    }

    // ---- the phone-facing service ----

    /// `GET /emapp/EMAppServlet?<query>` from `from` (a phone's 127/8 address).
    pub async fn phone_get(&self, from: Ipv4Addr, query: &str) -> Fetched {
        let url = format!(
            "{}{}?{query}",
            self.target.em_base.trim_end_matches('/'),
            phone_xml::EM_SERVICE_PATH
        );
        self.get(from, &url).await
    }

    pub async fn get(&self, from: Ipv4Addr, url: &str) -> Fetched {
        self.get_with(from, url, &[]).await
    }

    /// `GET` with extra headers (a `Via`, as through a proxy).
    pub async fn get_with(
        &self,
        from: Ipv4Addr,
        url: &str,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Fetched {
        self.get_from(IpAddr::V4(from), url, headers).await
    }

    /// `GET` from any local address, IPv6 included.
    pub async fn get_from(
        &self,
        from: IpAddr,
        url: &str,
        headers: &[(HeaderName, HeaderValue)],
    ) -> Fetched {
        self.note(format!("GET {url} (from {from}) {headers:?}"));
        let f = http::get(from, url, headers, TIMEOUT, &self.target.tls).await;
        match &f {
            Fetched::Ok { status, body } => {
                self.note(format!("← HTTP {status} {}", String::from_utf8_lossy(body)))
            }
            other => self.note(format!("← {}", other.failure_label())),
        }
        f
    }

    /// The phone service's answer as `[N]` code, `success` (the expected
    /// screen) or what it was.
    pub async fn phone_screen(&self, from: Ipv4Addr, query: &str) -> Result<PhoneObject, Stop> {
        match self.phone_get(from, query).await {
            Fetched::Ok { status: 200, body } => {
                PhoneObject::from_xml(&String::from_utf8_lossy(&body))
                    .map_err(|e| fail("a Cisco IP Phone XML object", format!("unparsable: {e}")))
            }
            other => Err(fail("HTTP 200", other.failure_label())),
        }
    }

    /// The `[N]` code on an error screen, if any.
    pub fn code_of(object: &PhoneObject) -> Option<u16> {
        match object {
            PhoneObject::Text(t) => phone_xml::error_number(&t.text),
            _ => None,
        }
    }

    // ---- configuration files ----

    pub async fn config(&self, device: &str) -> Result<DeviceConfig, Stop> {
        let url = format!(
            "{}/{device}.cnf.xml",
            self.target.config_base.trim_end_matches('/')
        );
        match self.get(Ipv4Addr::LOCALHOST, &url).await {
            Fetched::Ok { status: 200, body } => {
                DeviceConfig::from_xml(&String::from_utf8_lossy(&body))
                    .map_err(|e| fail("a configuration file", format!("unparsable: {e}")))
            }
            other => Err(fail(
                "HTTP 200 with the configuration file",
                other.failure_label(),
            )),
        }
    }

    // ---- control channel ----

    /// Registers `device` over SCCP from `from`.
    pub async fn sccp_phone(&self, device: &str, from: Ipv4Addr) -> Result<SccpPhone, Stop> {
        let model = self
            .target
            .lab
            .file
            .device
            .iter()
            .find(|d| d.name == device)
            .and_then(|d| phone_model::find(&d.model))
            .or_else(|| {
                self.target
                    .lab
                    .fleet_members()
                    .find(|m| m.device_name == device)
                    .map(|m| m.model)
            })
            .ok_or_else(|| skip(format!("the lab has no device `{device}`")))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let register = Register {
            device_name: device.into(),
            user_id: 0,
            instance: 1,
            ip: from,
            device_type: model.skinny_device_type.unwrap_or(0),
            max_streams: 0,
        };
        self.note(format!("SCCP → Register {device} from {from}"));
        let link = sccp_link::register(from, self.target.sccp, register, tx, TIMEOUT)
            .await
            .map_err(|e| fail("RegisterAck", e))?;
        self.note("SCCP ← RegisterAck");
        Ok(SccpPhone {
            link,
            events: tokio::sync::Mutex::new(rx),
        })
    }

    pub fn off_hook(&self, phone: &SccpPhone, off: bool) {
        self.note(format!("SCCP → {}", if off { "OffHook" } else { "OnHook" }));
        phone.link.send(if off {
            SccpCommand::OffHook
        } else {
            SccpCommand::OnHook
        });
    }

    // ---- lab control ----

    /// `POST /lab/<path>` with JSON; the status.
    pub async fn lab_post(&self, path: &str, json: &str) -> Result<u16, Stop> {
        let base = self.need_lab_control()?.to_string();
        let url = format!("{}/lab/{path}", base.trim_end_matches('/'));
        self.note(format!("POST {url} {json}"));
        let json_type = [(
            HeaderName::from_static("content-type"),
            HeaderValue::from_static("application/json"),
        )];
        let f = http::request(
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            http::Method::POST,
            &url,
            &json_type,
            json.to_string().into(),
            TIMEOUT,
            &self.target.tls,
        )
        .await;
        match f {
            Fetched::Ok { status, .. } => {
                self.note(format!("← HTTP {status}"));
                Ok(status)
            }
            other => {
                self.note(format!("← {}", other.failure_label()));
                Err(fail("lab control to answer", other.failure_label()))
            }
        }
    }

    /// `GET /lab/<path>`: the JSON body.
    pub async fn lab_get(&self, path: &str) -> Result<serde_json::Value, Stop> {
        let base = self.need_lab_control()?.to_string();
        let url = format!("{}/lab/{path}", base.trim_end_matches('/'));
        match self.get(Ipv4Addr::LOCALHOST, &url).await {
            Fetched::Ok { status: 200, body } => serde_json::from_slice(&body)
                .map_err(|e| fail("JSON from lab control", e.to_string())),
            other => Err(fail("HTTP 200 from lab control", other.failure_label())),
        }
    }

    /// Sets service parameters through lab control.
    pub async fn set_params(&self, json: &str) -> Result<(), Stop> {
        let status = self.lab_post("service-parameters", json).await?;
        if status == 200 {
            Ok(())
        } else {
            Err(fail("200 from /lab/service-parameters", status.to_string()))
        }
    }

    pub async fn advance_clock(&self, seconds: u64) -> Result<(), Stop> {
        let status = self
            .lab_post("clock/advance", &format!("{{\"seconds\":{seconds}}}"))
            .await?;
        if status == 200 {
            Ok(())
        } else {
            Err(fail("200 from /lab/clock/advance", status.to_string()))
        }
    }

    pub async fn metrics(&self) -> Result<String, Stop> {
        let url = format!("{}/metrics", self.target.em_base.trim_end_matches('/'));
        match self.get(Ipv4Addr::LOCALHOST, &url).await {
            Fetched::Ok { status: 200, body } => Ok(String::from_utf8_lossy(&body).into_owned()),
            other => Err(skip(format!("no /metrics: {}", other.failure_label()))),
        }
    }
}

/// A reply as the transcript shows it.
pub fn describe(reply: &Reply) -> String {
    match reply {
        Reply::Answer(r) => r.to_xml(),
        other => other.label(),
    }
}
