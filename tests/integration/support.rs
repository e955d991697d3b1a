//! Shared helpers: a lab to start the reference server with, an EM API
//! client, and request builders.

use bytes::Bytes;
use emlab_protocol::em_api::{
    AppInfo, DeviceUser, DeviceUserQuery, Login, Logout, Message, Operation, Query, QueryKind,
    Request, Response, ResponseBody, UserDevicesEntry, UserDevicesQuery,
};
use emlab_protocol::lab::Lab;
use emlab_server::{RunningServer, ServerOptions};
use emlab_simulator::em_client::{EmClient, Reply};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::path::Path;
use std::time::Duration;

/// A lab with every kind of entry the tests need. `params` is extra TOML
/// for `[service_parameters]`, `server` for `[server]`.
pub fn lab_text(server: &str, params: &str) -> String {
    // High enough that only the LIM-1 test sees error 26.
    let limit = if params.contains("max_concurrent_requests") {
        ""
    } else {
        "max_concurrent_requests = 1000"
    };
    format!(
        r#"
[server]
{server}

[service_parameters]
{limit}
{params}

[[application]]
id = "emlab"
certificate = "secret"
proxy_rights = true

[[application]]
id = "kiosk"
certificate = "kiosk-cert"
proxy_rights = false

[[user]]
id = "alice"
pin = "12345"
primary_extension = "3000"
profiles = ["alice-7960", "alice-7940"]

[[user]]
id = "bob"
pin = "23456"
locale = "German_Germany"
primary_extension = "2002"
self_service_id = "777"
profiles = ["bob-7960"]

[[user]]
id = "kiosk"
pin = "11111"
profiles = ["kiosk-7960"]

[[user]]
id = "carol"
pin = "34567"
primary_extension = "3000"

[[user]]
id = "mona"
pin = "66666"
locale = "English_United_States"
profiles = ["mona-7960"]

[[user]]
id = "nina"
pin = "77777"
pin_must_change = true
profiles = ["em-7960"]

[[user]]
id = "4242"
pin = "42424"
profiles = ["em-7960"]

[[user]]
id = "dave"
pin = "ab#12"
max_login_time = "0:10"
profiles = ["em-7960"]

[[user]]
id = "jürgen"
pin = "55555"
profiles = ["em-7960"]

[[user]]
id = "em@cisco.com"
pin = "45678"
profiles = ["em-7960"]

[[profile]]
name = "alice-7960"
model = "7960"
locale = "French_France"
modules = ["7914"]
lines = [
  {{ number = "3001", type = "monitor-ring" }},
  {{ number = "3000", type = "normal" }},
  {{ number = "3002", type = "silent-ring" }},
  {{ number = "3003,3004", type = "overlay" }},
]
speed_dials = [{{ tag = 2, number = "9002", label = "Two" }}, {{ tag = 1, number = "9001", label = "One" }}]
features = ["Hold", "Intercom"]

[[profile]]
name = "alice-7940"
model = "7940"

[[profile]]
name = "bob-7960"
model = "7960"
locale = "French_France"
lines = [
  {{ number = "4001" }}, {{ number = "4002" }}, {{ number = "4003" }}, {{ number = "4004" }},
  {{ number = "4005" }}, {{ number = "4006" }}, {{ number = "4007" }}, {{ number = "4008" }},
]
speed_dials = [{{ tag = 1, number = "9999", label = "Boss" }}]
services = ["Directory"]

[[profile]]
name = "mona-7960"
model = "7960"
modules = ["7914"]
max_idle_time = 10
lines = [{{ number = "6000" }}]

[[user]]
id = "ivan"
pin = "88888"
profiles = ["ivan-7960"]

[[profile]]
name = "ivan-7960"
model = "7960"
lines = [
  {{ number = "7000" }},
  {{ number = "7001", intercom = true, default_device = "SEP000000000002" }},
]

[[profile]]
name = "lobby-7960"
model = "7960"
lines = [{{ number = "5000" }}]

[[profile]]
name = "kiosk-7960"
model = "7960"

[[profile]]
name = "em-7960"
model = "7960"

[[default_profile]]
model = "7905"
services = ["Weather"]

[[default_profile]]
model = "8851"
services = ["Weather"]

[[device]]
name = "SEP000000000001"
model = "7960"
modules = ["7914"]
locale = "Italian_Italy"

[[device]]
name = "SEP000000000002"
model = "7960"
locale = "English_United_Kingdom"
logout_profile = "lobby-7960"

[[device]]
name = "SEP000000000003"
model = "7905"

[[device]]
name = "SEP000000000004"
model = "7960"
em_enabled = false

[[device]]
name = "SEP000000000005"
model = "8851"

[[device]]
name = "SEP000000000007"
model = "7940"
template = "Custom 7940"

[[device]]
name = "SEP000000000008"
model = "7940"
template = "7940 1-Line"

[[device]]
name = "SEP000000000009"
model = "7940"

[[device]]
name = "SEP00000000000A"
model = "7960"
protected = true

[fleet]
count = 300
models = {{ "7960" = 100 }}
"#
    )
}

pub const D1: &str = "SEP000000000001";
pub const D2: &str = "SEP000000000002";
pub const D7905: &str = "SEP000000000003";
pub const D_DISABLED: &str = "SEP000000000004";
pub const D8851: &str = "SEP000000000005";
/// A protected (Secure Tone) 7960 (PROF-11).
pub const D_PROTECTED: &str = "SEP00000000000A";

pub fn lab(server: &str, params: &str) -> Lab {
    Lab::parse(Path::new("test-lab.toml"), &lab_text(server, params)).expect("test lab is valid")
}

/// A running reference server with lab control, and a client for it as
/// the `emlab` application.
pub struct TestServer {
    pub server: RunningServer,
    pub client: EmClient,
}

impl TestServer {
    pub async fn start(server: &str, params: &str) -> TestServer {
        let lab = lab(server, params);
        let server = emlab_server::start(
            &lab,
            ServerOptions {
                lab_control: true,
                ..ServerOptions::default()
            },
        )
        .await
        .expect("server starts on loopback");
        let client = client(&server.base_url(), app());
        TestServer { server, client }
    }

    pub fn url(&self) -> String {
        self.server.base_url()
    }

    pub fn as_app(&self, app: AppInfo) -> EmClient {
        client(&self.url(), app)
    }

    pub async fn login(&self, device: &str, user: &str) -> Response {
        answer(
            self.client
                .send(&login(&self.client.app, device, user))
                .await,
        )
    }

    pub async fn logout(&self, device: &str) -> Response {
        answer(self.client.send(&logout(&self.client.app, device)).await)
    }

    /// Who the server says is logged in on `device`.
    pub async fn user_on(&self, device: &str) -> DeviceUser {
        let q = Message::Query(Query::new(
            self.client.app.clone(),
            QueryKind::DeviceUser(DeviceUserQuery {
                device_names: vec![device.into()],
                ..Default::default()
            }),
        ));
        match answer(self.client.send(&q).await).body {
            ResponseBody::DeviceUserResults(r) => r.devices[0].user.clone(),
            other => panic!("expected deviceUserResults, got {other:?}"),
        }
    }

    /// The devices the server says `user` is logged in on.
    pub async fn devices_of(&self, user: &str) -> Vec<UserDevicesEntry> {
        let q = Message::Query(Query::new(
            self.client.app.clone(),
            QueryKind::UserDevices(UserDevicesQuery {
                user_ids: vec![user.into()],
                ..Default::default()
            }),
        ));
        match answer(self.client.send(&q).await).body {
            ResponseBody::UserDevicesResults(r) => r.users[0].entries.clone(),
            other => panic!("expected userDevicesResults, got {other:?}"),
        }
    }

    /// `POST /lab/clock/advance`.
    pub async fn advance_clock(&self, seconds: u64) {
        let (status, _) = http(
            &self.url(),
            "POST",
            "/lab/clock/advance",
            format!(r#"{{"seconds":{seconds}}}"#),
        )
        .await;
        assert_eq!(status, 200);
    }

    pub async fn metrics(&self) -> String {
        http(&self.url(), "GET", "/metrics", String::new()).await.1
    }
}

pub fn app() -> AppInfo {
    AppInfo::new("emlab", "secret")
}

pub fn client(url: &str, app: AppInfo) -> EmClient {
    EmClient::new(url, app, Duration::from_secs(10)).expect("valid URL")
}

pub fn login(app: &AppInfo, device: &str, user: &str) -> Message {
    Message::Request(Request::new(
        app.clone(),
        Operation::Login(Login {
            device_name: device.into(),
            user_id: user.into(),
            ..Login::default()
        }),
    ))
}

pub fn logout(app: &AppInfo, device: &str) -> Message {
    Message::Request(Request::new(
        app.clone(),
        Operation::Logout(Logout {
            device_name: device.into(),
            ..Default::default()
        }),
    ))
}

/// The parsed `<response>`; anything else fails the test.
pub fn answer(reply: Reply) -> Response {
    match reply {
        Reply::Answer(r) => r,
        other => panic!("expected a <response>, got {other:?}"),
    }
}

/// The `(code, text)` of a failure response.
pub fn failure(r: &Response) -> (u16, &str) {
    match &r.body {
        ResponseBody::Failure(f) => (f.error.code, f.error.text.as_str()),
        other => panic!("expected a failure, got {other:?}"),
    }
}

/// A plain HTTP exchange: (status, body).
pub async fn http(base: &str, method: &str, path: &str, body: String) -> (u16, String) {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let req = hyper::Request::builder()
        .method(method)
        .uri(format!("{base}{path}"))
        .body(Full::new(Bytes::from(body)))
        .expect("valid request");
    let resp = client.request(req).await.expect("server answers");
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// The body of a GET of `url` that must answer 200 (the fleet's own client).
pub async fn get_ok(url: &str) -> Vec<u8> {
    match emlab_simulator::phone::http::get(
        "127.0.0.1".parse().unwrap(),
        url,
        &[],
        Duration::from_secs(5),
        &Default::default(),
    )
    .await
    {
        emlab_simulator::phone::http::Fetched::Ok { status: 200, body } => body.to_vec(),
        other => panic!("GET {url}: {other:?}"),
    }
}

/// A scratch folder for one test.
pub fn scratch(name: &str) -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// What a phone's browser gets: (status, content type, body decoded by its charset).
pub async fn phone_get(
    base: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    phone_get_from(None, base, path_and_query, headers).await
}

/// As [`phone_get`], from a chosen local address (each phone its own, 127.0.0.0/8).
pub async fn phone_get_from(
    local: Option<std::net::IpAddr>,
    base: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
) -> (u16, String, String) {
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_local_address(local);
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let mut req = hyper::Request::builder()
        .method("GET")
        .uri(format!("{base}{path_and_query}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Full::new(Bytes::new())).expect("valid request"))
        .await
        .expect("server answers");
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let body = if content_type.contains("iso-8859-1") {
        bytes.iter().map(|&b| b as char).collect()
    } else {
        String::from_utf8(bytes.to_vec()).expect("UTF-8 body")
    };
    (status, content_type, body)
}

impl TestServer {
    /// The device's configuration file, as a phone downloads it.
    pub async fn config(&self, device: &str) -> emlab_protocol::config_file::DeviceConfig {
        let (status, body) = http(
            &self.server.config_url(),
            "GET",
            &format!("/{device}.cnf.xml"),
            String::new(),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        emlab_protocol::config_file::DeviceConfig::from_xml(&body)
            .unwrap_or_else(|e| panic!("{e}: {body}"))
    }
}

impl TestServer {
    /// `POST /lab/...` with a JSON body: (status, parsed JSON).
    pub async fn lab(&self, path: &str, json: &str) -> (u16, serde_json::Value) {
        let (status, body) = http(&self.url(), "POST", path, json.to_string()).await;
        (
            status,
            serde_json::from_str(&body).unwrap_or(serde_json::Value::Null),
        )
    }
}

/// Whether the independent peer `program` is installed. Under CI it must
/// be (`.ci/run` installs it); elsewhere a test without it says so and stops.
pub fn peer_installed(program: &str, package: &str) -> bool {
    // Looked up on PATH rather than run: not every peer has a --version
    // (tftp-hpa's would take it for a host name and wait for commands).
    let found = std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|d| d.join(program).is_file()));
    if !found {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI must install {package} (see .ci/run)"
        );
        eprintln!("skipped: {program} is not installed (apt-get install {package})");
    }
    found
}

/// `emlab serve` (the built binary) on loopback ports chosen by the
/// kernel, without TFTP; `extra` adds flags.
pub fn serve_command(lab: &Path, extra: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_emlab"));
    c.args(["serve", "--lab", lab.to_str().unwrap()])
        .args(["--listen", "127.0.0.1:0", "--config-listen", "127.0.0.1:0"])
        .args([
            "--sccp-listen",
            "127.0.0.1:0",
            "--sip-listen",
            "127.0.0.1:0",
        ])
        .arg("--no-tftp")
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    c
}

/// A running `emlab serve` child process and the EM API address its banner
/// gave. Dropping it kills it with SIGKILL (`Child::kill`), even when an
/// assertion failed first.
pub struct ServeProcess {
    pub child: std::process::Child,
    pub base: String,
    pub banner: String,
}

impl ServeProcess {
    pub fn start(lab: &Path, extra: &[&str]) -> ServeProcess {
        use std::io::{BufRead, Read};
        let mut child = serve_command(lab, extra).spawn().unwrap();
        let mut banner = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut banner)
            .unwrap();
        if banner.is_empty() {
            let mut err = String::new();
            let _ = child.stderr.take().unwrap().read_to_string(&mut err);
            panic!("emlab serve did not start: {err}");
        }
        let base = banner
            .split(" on ")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .unwrap_or_else(|| panic!("no address in {banner:?}"))
            .to_string();
        ServeProcess {
            child,
            base,
            banner,
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `emlab ARGS`, sends it SIGINT (Ctrl-C) after `after`, and returns
/// its output once it exits, with how long it took to exit after the signal;
/// killed, and the test failed, if it is still running 30 s later.
pub async fn emlab_interrupted(
    args: &[&str],
    after: std::time::Duration,
) -> (std::process::Output, std::time::Duration) {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_emlab"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(after).await;
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let signalled = std::time::Instant::now();
    let waited = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        tokio::task::spawn_blocking(move || child.wait_with_output()),
    )
    .await;
    let Ok(output) = waited else {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid])
            .status();
        panic!("emlab {args:?} still running 30 s after Ctrl-C");
    };
    (output.unwrap().unwrap(), signalled.elapsed())
}

/// `emlab ARGS`, run to the end.
pub fn emlab(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_emlab"))
        .args(args)
        .output()
        .expect("emlab runs")
}

/// Standard output of a run that must have exited with `code` (else the
/// test fails showing both streams).
pub fn exits(o: &std::process::Output, code: i32) -> String {
    let stdout = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(
        o.status.code(),
        Some(code),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    stdout
}
