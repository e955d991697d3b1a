//! The fleet against servers that misbehave: each fault becomes a counted,
//! labelled outcome in the run's results, never a panic or a hang.

use emlab_protocol::em_api::AppInfo;
use emlab_simulator::em_client::EmClient;
use emlab_simulator::recorder::{Mismatch, Step};
use emlab_simulator::scenario::{Expected, Load};
use emlab_simulator::storm::{ApiPhone, Fleet, LoginStorm, Progress, StormResult};
use std::sync::Arc;
use std::time::Duration;
use wiremock::matchers::{body_string_contains, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const LOGIN: &str = "%3Clogin%3E";
const QUERY: &str = "%3CdeviceUserQuery%3E";
const LOGOUT: &str = "%3Clogout%3E";

fn xml(body: &str) -> ResponseTemplate {
    ResponseTemplate::new(200)
        .insert_header("content-type", "text/xml")
        .set_body_string(body)
}

async fn mock(server: &MockServer, op: &str, response: ResponseTemplate) {
    Mock::given(method("POST"))
        .and(path("/emservice/EMServiceServlet"))
        .and(body_string_contains(op))
        .respond_with(response)
        .mount(server)
        .await;
}

/// Fleet phones 0..n on the EM API path.
fn api_phones(n: u32) -> Vec<Arc<ApiPhone>> {
    (0..n)
        .map(|i| {
            Arc::new(ApiPhone::new(
                format!("SEP{:012X}", 0x0E00_0000_0000u64 + i as u64),
                format!("user{i:05}"),
            ))
        })
        .collect()
}

fn api_client(url: &str, timeout: Duration) -> EmClient {
    EmClient::new(url, AppInfo::new("emlab", "emlab"), timeout).unwrap()
}

/// A storm of `phones` EM API phones against `url` that expects every step
/// to succeed; tests change the fields they need (`control`, `recorder`).
fn api_storm(url: &str, phones: u32, timeout: Duration, load: Load) -> LoginStorm {
    LoginStorm {
        fleet: Fleet::Api {
            phones: api_phones(phones),
            client: api_client(url, timeout),
        },
        recorder: Arc::new(std::sync::Mutex::new(emlab_simulator::storm::recorder_for(
            &load,
        ))),
        metrics_url: None,
        tls: Default::default(),
        control: None,
        load,
        expect_login: Expected::Success,
        expect_logout: Expected::Success,
        lab_control: None,
        shard: Default::default(),
        start_at: None,
    }
}

/// A server that answers every step correctly for the phones `storm` uses.
async fn mock_correct_query(server: &MockServer) {
    // One phone, so the query's answer names its device and user.
    mock(server, QUERY, xml(r#"<response><deviceUserResults><device name="SEP0E0000000000"><userID>user00000</userID></device></deviceUserResults></response>"#)).await;
}

async fn storm(
    url: &str,
    phones: u32,
    cycles: u64,
    rate_per_s: f64,
    timeout: Duration,
) -> StormResult {
    let mut load = Load::open_cycles(1, rate_per_s, cycles);
    load.request_timeout = timeout;
    let storm = api_storm(url, phones, timeout, load);
    let (_stop, stop) = tokio::sync::watch::channel(false);
    storm.run(Arc::new(Progress::default()), stop).await
}

fn mismatch(step: Step, expected: &str, actual: &str) -> Mismatch {
    Mismatch {
        step,
        expected: expected.into(),
        actual: actual.into(),
    }
}

#[tokio::test]
async fn wrong_error_code_is_counted_per_expected_and_actual_code() {
    let server = MockServer::start().await;
    mock(&server, LOGIN, xml(r#"<response><failure><error code="25">User logged in elsewhere</error></failure></response>"#)).await;
    // A phone whose login failed must not log out.
    Mock::given(body_string_contains(LOGOUT))
        .respond_with(xml("<response><success/></response>"))
        .expect(0)
        .mount(&server)
        .await;
    let r = storm(&server.uri(), 4, 12, 200.0, Duration::from_secs(5)).await;
    assert_eq!(r.recorder.step(Step::Login).outcomes.get("25"), Some(&12));
    assert_eq!(
        r.recorder
            .mismatches
            .get(&mismatch(Step::Login, "success", "25")),
        Some(&12)
    );
    assert_eq!(r.recorder.step(Step::Logout).count(), 0);
}

#[tokio::test]
async fn slow_server_shows_in_latency_and_too_slow_is_a_timeout() {
    let server = MockServer::start().await;
    mock(
        &server,
        LOGIN,
        xml("<response><success/></response>").set_delay(Duration::from_millis(300)),
    )
    .await;
    mock_correct_query(&server).await;
    mock(&server, LOGOUT, xml("<response><success/></response>")).await;
    let r = storm(&server.uri(), 1, 2, 50.0, Duration::from_secs(5)).await;
    let login = r.recorder.step(Step::Login);
    assert_eq!(login.outcomes.get("success"), Some(&2));
    assert!(
        login.latency.min() >= 300_000,
        "latency {}µs",
        login.latency.min()
    );
    assert_eq!(r.recorder.mismatch_count(), 0);

    let r = storm(&server.uri(), 1, 2, 50.0, Duration::from_millis(100)).await;
    assert_eq!(
        r.recorder
            .mismatches
            .get(&mismatch(Step::Login, "success", "timeout")),
        Some(&2)
    );
}

#[tokio::test]
async fn malformed_xml_and_http_errors_are_outcomes() {
    let server = MockServer::start().await;
    mock(&server, LOGIN, xml("<response><succ")).await;
    let r = storm(&server.uri(), 2, 4, 100.0, Duration::from_secs(5)).await;
    assert_eq!(
        r.recorder
            .mismatches
            .get(&mismatch(Step::Login, "success", "malformed-xml")),
        Some(&4)
    );

    let server = MockServer::start().await;
    mock(&server, LOGIN, ResponseTemplate::new(503)).await;
    let r = storm(&server.uri(), 2, 4, 100.0, Duration::from_secs(5)).await;
    assert_eq!(
        r.recorder
            .mismatches
            .get(&mismatch(Step::Login, "success", "http-503")),
        Some(&4)
    );
}

#[tokio::test]
async fn dropped_connections_are_connection_errors() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        // Accept, read a little, hang up without answering.
        while let Ok((mut s, _)) = listener.accept().await {
            use tokio::io::AsyncReadExt;
            let mut buf = [0u8; 64];
            let _ = s.read(&mut buf).await;
        }
    });
    let r = storm(&url, 2, 4, 100.0, Duration::from_secs(5)).await;
    assert_eq!(
        r.recorder
            .mismatches
            .get(&mismatch(Step::Login, "success", "connection-error")),
        Some(&4)
    );

    // Nobody listening at all.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let r = storm(
        &format!("http://{closed}"),
        1,
        2,
        100.0,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(
        r.recorder
            .mismatches
            .get(&mismatch(Step::Login, "success", "connection-error")),
        Some(&2)
    );
}

#[tokio::test]
async fn query_naming_another_user_is_a_mismatch() {
    let server = MockServer::start().await;
    mock(&server, LOGIN, xml("<response><success/></response>")).await;
    mock(&server, QUERY, xml(r#"<response><deviceUserResults><device name="SEP0E0000000000"><userID>mallory</userID></device></deviceUserResults></response>"#)).await;
    mock(&server, LOGOUT, xml("<response><success/></response>")).await;
    let r = storm(&server.uri(), 1, 3, 100.0, Duration::from_secs(5)).await;
    assert_eq!(
        r.recorder
            .mismatches
            .get(&mismatch(Step::Query, "success", "user:mallory")),
        Some(&3)
    );
    // The phone still logs out what it logged in.
    assert_eq!(
        r.recorder.step(Step::Logout).outcomes.get("success"),
        Some(&3)
    );
}

/// One phone, arrivals every 50 ms, a server that takes 100 ms a step: each
/// cycle (300 ms) falls further behind the schedule. The latency must show
/// that backlog, while the service time stays near 100 ms.
#[tokio::test]
async fn queueing_behind_the_schedule_is_not_hidden() {
    let server = MockServer::start().await;
    let slow = |body: &str| xml(body).set_delay(Duration::from_millis(100));
    mock(&server, LOGIN, slow("<response><success/></response>")).await;
    mock(&server, QUERY, slow(r#"<response><deviceUserResults><device name="SEP0E0000000000"><userID>user00000</userID></device></deviceUserResults></response>"#)).await;
    mock(&server, LOGOUT, slow("<response><success/></response>")).await;
    let r = storm(&server.uri(), 1, 6, 20.0, Duration::from_secs(5)).await;
    let login = r.recorder.step(Step::Login);
    assert!(
        r.recorder.late_starts >= 4,
        "late starts {}",
        r.recorder.late_starts
    );
    // The 6th cycle was due at 250 ms and could start only after 5 × 300 ms.
    assert!(
        login.latency.max() >= 1_200_000,
        "max latency {}µs",
        login.latency.max()
    );
    assert!(
        login.service.max() < 1_000_000,
        "max service time {}µs",
        login.service.max()
    );
}

#[tokio::test]
async fn a_trailing_pause_holds_the_run_until_its_end() {
    let server = MockServer::start().await;
    mock(&server, LOGIN, xml("<response><success/></response>")).await;
    mock(&server, LOGOUT, xml("<response><success/></response>")).await;
    let mut load = Load::open(1, 20.0, Duration::from_millis(100));
    load.query = false;
    load.phases.push(emlab_simulator::scenario::Phase {
        name: "pause".into(),
        duration: Duration::from_millis(600),
        rate_per_s: 0.0,
        to_per_s: None,
        phones: 1,
        troubleshooting: None,
    });
    let storm = api_storm(&server.uri(), 1, Duration::from_secs(2), load);
    let (_stop, stop) = tokio::sync::watch::channel(false);
    let r = storm.run(Arc::new(Progress::default()), stop).await;
    assert_eq!(
        r.recorder.step(Step::Login).count(),
        2,
        "arrivals at 0 and 50 ms"
    );
    assert!(
        r.elapsed >= Duration::from_millis(700),
        "the pause is part of the run: {:?}",
        r.elapsed
    );
    assert!(!r.interrupted);
}

/// The live progress line counts logins on the EM API path too (it reads
/// the run's shared recorder while the storm runs).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_progress_line_counts_em_api_logins_while_the_run_goes() {
    let server = MockServer::start().await;
    mock(&server, LOGIN, xml("<response><success/></response>")).await;
    mock(&server, LOGOUT, xml("<response><success/></response>")).await;
    let load = Load::open_cycles(2, 100.0, 40);
    let storm = api_storm(&server.uri(), 2, Duration::from_secs(5), load);
    let recorder = storm.recorder.clone();
    let progress = Arc::new(Progress::default());
    let (_stop, stop) = tokio::sync::watch::channel(false);
    let run = tokio::spawn(storm.run(progress.clone(), stop));
    let mut seen = String::new();
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(10)).await;
        seen = emlab_simulator::progress::line(Duration::from_secs(1), &progress, &recorder, None);
        if !seen.contains("| login 0 ") {
            break;
        }
    }
    let result = run.await.unwrap();
    assert!(!seen.contains("| login 0 "), "{seen}");
    assert_eq!(result.recorder.step(Step::Login).count(), 40);
}

/// Live controls (the dashboard's): a pause stops arrivals and holds the
/// run; a new rate takes over from the schedule; each is a phase of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_pause_and_rate_change_take_effect_as_phases() {
    use emlab_simulator::live::control::LiveControl;
    let server = MockServer::start().await;
    mock(&server, LOGIN, xml("<response><success/></response>")).await;
    mock(&server, LOGOUT, xml("<response><success/></response>")).await;
    // 1 s at 50/s on 4 phones.
    let load = Load::open_cycles(4, 50.0, 1_000_000);
    let mut load = load;
    load.phases[0].duration = Duration::from_secs(1);
    load.max_cycles = None;
    let control = Arc::new(LiveControl::default());
    let mut storm = api_storm(&server.uri(), 4, Duration::from_secs(5), load);
    storm.control = Some(control.clone());
    let progress = Arc::new(Progress::default());
    let (_stop, stop) = tokio::sync::watch::channel(false);
    let started = std::time::Instant::now();
    let run = tokio::spawn(storm.run(progress.clone(), stop));
    tokio::time::sleep(Duration::from_millis(300)).await;
    control.pause();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let at_pause = progress.started.load(std::sync::atomic::Ordering::Relaxed);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let after_pause = progress.started.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(at_pause, after_pause, "no arrivals while paused");
    control.set_rate(200.0).unwrap();
    control.resume();
    let result = run.await.unwrap();
    // The pause held the run: 1 s of schedule plus about 0.5 s paused.
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
    let names: Vec<&str> = result
        .recorder
        .phases
        .iter()
        .map(|p| p.name.as_str())
        .collect();
    assert_eq!(names.first(), Some(&"boot"));
    assert_eq!(names.get(2), Some(&"live 1: paused"), "{names:?}");
    let fast = result
        .recorder
        .phases
        .iter()
        .find(|p| p.name.ends_with(": 200/s"))
        .unwrap_or_else(|| panic!("{names:?}"));
    // About 0.7 s left at 200/s.
    let counts: Vec<(String, u64)> = result
        .recorder
        .phases
        .iter()
        .map(|p| (p.name.clone(), p.count(Step::Login)))
        .collect();
    assert!(
        fast.count(Step::Login) > 60,
        "{counts:?} elapsed {:?}",
        started.elapsed()
    );
    assert!(control.set_rate(-1.0).is_err());
}

/// `pipeline = true`: each phone writes its login, query and logout at
/// once, and each answer is still checked against its own step, in order.
#[tokio::test]
async fn a_pipelined_cycle_checks_each_answer_against_its_own_step() {
    let server = MockServer::start().await;
    mock(&server, LOGIN, xml("<response><success/></response>")).await;
    mock_correct_query(&server).await;
    mock(&server, LOGOUT, xml(r#"<response><failure><error code="26">Device not logged in</error></failure></response>"#)).await;
    let mut load = Load::open_cycles(1, 100.0, 30);
    load.model = emlab_simulator::scenario::Model::Closed;
    load.pipeline = true;
    let storm = api_storm(&server.uri(), 1, Duration::from_secs(5), load);
    let (_stop, stop) = tokio::sync::watch::channel(false);
    let r = storm.run(Arc::new(Progress::default()), stop).await;
    assert_eq!(
        r.recorder.step(Step::Login).outcomes.get("success"),
        Some(&30)
    );
    assert_eq!(
        r.recorder.step(Step::Query).outcomes.get("success"),
        Some(&30)
    );
    assert_eq!(r.recorder.step(Step::Logout).outcomes.get("26"), Some(&30));
    assert_eq!(
        r.recorder.mismatches.len(),
        1,
        "{:?}",
        r.recorder.mismatches
    );
    // Every step of every cycle reached the server.
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 90);
}
