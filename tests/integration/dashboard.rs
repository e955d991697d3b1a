//! The live dashboard: its control API (pause, resume, a new rate, bad
//! values), its Server-Sent Events, and `emlab demo` in a real browser
//! (headless Chromium over the DevTools protocol, `scripts/cdp.py`).

use crate::support::{get_ok, peer_installed, scratch};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An `emlab` process, killed when dropped.
struct Emlab(Child);

impl Drop for Emlab {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn spawn(args: &[&str]) -> Emlab {
    Emlab(
        Command::new(env!("CARGO_BIN_EXE_emlab"))
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("emlab starts"),
    )
}

/// `(status, body)` of one request to the dashboard, over plain HTTP.
async fn call(port: u16, method: &str, path: &str, body: &str) -> (u16, serde_json::Value) {
    let url = format!("http://127.0.0.1:{port}{path}");
    let method = emlab_simulator::phone::http::Method::from_bytes(method.as_bytes()).unwrap();
    let json_type = [(
        emlab_simulator::phone::http::HeaderName::from_static("content-type"),
        emlab_simulator::phone::http::HeaderValue::from_static("application/json"),
    )];
    match emlab_simulator::phone::http::request(
        "127.0.0.1".parse().unwrap(),
        method,
        &url,
        &json_type,
        bytes::Bytes::from(body.to_string()),
        Duration::from_secs(5),
        &Default::default(),
    )
    .await
    {
        emlab_simulator::phone::http::Fetched::Ok { status, body } => (
            status,
            serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        ),
        other => (0, serde_json::json!({ "transport": other.failure_label() })),
    }
}

/// `emlab demo` on a free port for `duration`, once its page answers.
async fn demo(scratch_name: &str, duration: &str) -> (Emlab, u16, std::path::PathBuf) {
    let dir = scratch(scratch_name);
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let out = dir.join("out");
    let demo = spawn(&[
        "demo",
        "--dashboard",
        &addr,
        "--duration",
        duration,
        "--out",
        out.to_str().unwrap(),
    ]);
    wait_for_dashboard(port).await;
    (demo, port, dir)
}

/// `emlab run` of a scenario on `scenarios/storm-lab.toml` with `load` as
/// its `[load]` table, its dashboard on a free port, once the page answers;
/// returns the run, the port and the run's output folder.
async fn run_with_dashboard(scratch_name: &str, load: &str) -> (Emlab, u16, std::path::PathBuf) {
    let dir = scratch(scratch_name);
    let scenario = dir.join("scenario.toml");
    std::fs::write(
        &scenario,
        format!(
            "[scenario]\nname = {scratch_name:?}\nlab = {:?}\n\n[load]\n{load}",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("scenarios/storm-lab.toml")
                .display()
                .to_string()
        ),
    )
    .unwrap();
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let out = dir.join("out");
    let run = spawn(&[
        "run",
        scenario.to_str().unwrap(),
        "--dashboard",
        &addr,
        "--out",
        out.to_str().unwrap(),
    ]);
    wait_for_dashboard(port).await;
    (run, port, out)
}

/// `scripts/cdp.py` on `page` with `args`: the JSON it prints.
async fn cdp(page: String, args: &[&str]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/cdp.py");
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let o = tokio::task::spawn_blocking(move || {
        Command::new("python3")
            .arg(script)
            .arg(&page)
            .args(&args)
            .output()
            .expect("python3 runs scripts/cdp.py")
    })
    .await
    .unwrap();
    assert!(
        o.status.success(),
        "cdp.py: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_slice(&o.stdout).unwrap()
}

async fn wait_for_dashboard(port: u16) {
    for _ in 0..200 {
        if call(port, "GET", "/api/state", "").await.0 == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the dashboard on {port} never answered");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_api_pauses_resumes_rerates_and_refuses_bad_values() {
    let (_run, port, out) = run_with_dashboard(
        "dashboard-api",
        "phones = 20\nrate = \"50/s\"\nduration = \"3s\"\n",
    )
    .await;
    // Bad values: a clear 400 with the reason.
    for (body, words) in [
        ("not json", "expected JSON"),
        (r#"{"action": "jump"}"#, "unknown action `jump`"),
        (r#"{"rate": "fast"}"#, "rate: `fast` is not a rate"),
        (r#"{"rate": -5}"#, "rate: a rate is more than 0"),
        (r#"{"action": "pause", "rate": "5/s"}"#, "expected one of"),
    ] {
        let (status, answer) = call(port, "POST", "/api/control", body).await;
        assert_eq!(status, 400, "{body}: {answer}");
        assert!(
            answer["error"].as_str().unwrap_or("").contains(words),
            "{body}: {answer}"
        );
    }
    let (status, answer) = call(port, "POST", "/api/control", r#"{"action": "pause"}"#).await;
    assert_eq!(
        (status, answer["control"]["paused"].clone()),
        (200, serde_json::json!(true))
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, paused) = call(port, "GET", "/api/state", "").await;
    let (status, _) = call(port, "POST", "/api/control", r#"{"rate": "20/s"}"#).await;
    assert_eq!(status, 200);
    let (status, answer) = call(port, "POST", "/api/control", r#"{"action": "resume"}"#).await;
    assert_eq!(
        (status, answer["control"]["paused"].clone()),
        (200, serde_json::json!(false))
    );
    assert_eq!(answer["control"]["rate_per_s"], 20.0);
    assert!(
        paused["phases"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "live 1: paused"),
        "{}",
        paused["phases"]
    );
    // Unknown phones are 404 with the reason.
    let (status, answer) = call(port, "GET", "/api/phones/SEP0000DEADBEEF", "").await;
    assert_eq!(status, 404, "{answer}");
    // The run ends on its own; the report files each live change as a phase.
    for _ in 0..200 {
        if out.join("report.json").exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    let names: Vec<&str> = report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert!(names.iter().any(|n| n.ends_with(": 20/s")), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_stream_json_updates() {
    let (_demo, port, _) = demo("dashboard-sse", "20s").await;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /events HTTP/1.1\r\nHost: dashboard\r\nAccept: text/event-stream\r\n\r\n")
        .await
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    // Two updates, a second apart.
    while String::from_utf8_lossy(&got).matches("data: {").count() < 2 {
        let n = tokio::time::timeout_at(deadline, stream.read(&mut buf))
            .await
            .expect("updates arrive")
            .unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains("content-type: text/event-stream"), "{text}");
    let first = text
        .split("data: ")
        .nth(1)
        .unwrap()
        .split("\n\n")
        .next()
        .unwrap();
    let update: serde_json::Value = serde_json::from_str(first).unwrap();
    assert_eq!(update["scenario"], "demo");
    assert_eq!(update["phones"], 15, "12 fleet phones and the front desk");
}

/// `emlab demo` in headless Chromium: the tiles show the screens the
/// phones got, the charts have points, and a rate set on the page takes
/// effect in the run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_page_in_a_real_browser() {
    if !peer_installed("chromium", "chromium") {
        return;
    }
    let (_demo, port, _) = demo("dashboard-browser", "40s").await;
    // The front desk's second case (a second device, 25) plays at about 6 s.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let tiles = "document.querySelectorAll('.phone').length";
    let lines = "[...document.querySelectorAll('polyline.series')].filter(p => p.getAttribute('points').split(' ').length > 1).length";
    let set_rate = "document.getElementById('rate').value = '3/s'; document.getElementById('setrate').click(); true";
    let phases = "fetch('/api/state').then(r => r.json()).then(u => u.phases)";
    let updates = "window.emlabStats.updates";
    let got = cdp(
        format!("http://127.0.0.1:{port}/"),
        &[
            "--wait",
            "4",
            "--eval",
            tiles,
            "--eval",
            lines,
            "--eval",
            set_rate,
            "--eval",
            "new Promise(r => setTimeout(r, 2500))",
            "--eval",
            phases,
            "--eval",
            updates,
        ],
    )
    .await;
    let dom = got["dom"].as_str().unwrap();
    assert_eq!(got[tiles], 15, "tiles");
    // Screens the phones really got: the fleet's and the front desk's.
    assert!(
        dom.contains("Login Successful") || dom.contains("Logout Successful"),
        "{dom}"
    );
    assert!(
        dom.contains("[25]-User Logged in Elsewhere"),
        "the second-device case: {dom}"
    );
    assert!(
        got[lines].as_u64().unwrap() >= 3,
        "charts with points: {}",
        got[lines]
    );
    let phases = got[phases].to_string();
    assert!(
        phases.contains(": 3/s"),
        "the page's rate change is a phase of the run: {phases}"
    );
    assert!(got[updates].as_u64().unwrap() >= 3);
}

/// `report.html` has the dashboard's time charts, built from the interval
/// histograms; in a laptop-sized browser window it never scrolls sideways,
/// and every legend sits above its plot. The dashboard saves the same
/// report while the run goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_report_has_time_charts_and_fits_a_laptop_screen() {
    let (_demo, port, dir) = demo("report-charts", "20s").await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    let url = format!("http://127.0.0.1:{port}/report.html");
    let saved = String::from_utf8_lossy(&get_ok(&url).await).into_owned();
    for part in [
        "<h2>Over time</h2>",
        "Cycles per second",
        "login latency per second",
        "class=\"legend\"",
    ] {
        assert!(saved.contains(part), "{part}");
    }
    assert!(!saved.contains("<script"), "self-contained, no scripts");
    let file = dir.join("saved-report.html");
    std::fs::write(&file, &saved).unwrap();
    if !peer_installed("chromium", "chromium") {
        return;
    }
    let width = "document.documentElement.scrollWidth";
    let legends_above = "[...document.querySelectorAll('.legend')].every(l => l.nextElementSibling && l.nextElementSibling.tagName.toLowerCase() === 'svg')";
    let got = cdp(
        format!("file://{}", file.display()),
        &[
            "--wait",
            "1",
            "--width",
            "1366",
            "--height",
            "800",
            "--eval",
            width,
            "--eval",
            legends_above,
        ],
    )
    .await;
    assert!(got[width].as_u64().unwrap() <= 1366, "{got}");
    assert_eq!(got[legends_above], true);
}

/// The closed model has no arrival schedule: pausing or re-rating it is 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_model_cannot_be_paused_or_rerated() {
    let (_run, port, _out) = run_with_dashboard(
        "dashboard-closed",
        "model = \"closed\"\nphones = 4\nduration = \"3s\"\n",
    )
    .await;
    let (status, answer) = call(port, "POST", "/api/control", r#"{"action": "pause"}"#).await;
    assert_eq!(status, 409, "{answer}");
    assert!(
        answer["error"].as_str().unwrap().contains("closed model"),
        "{answer}"
    );
}
