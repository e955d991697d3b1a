//! `emlab serve --state FILE`: what the server acknowledged outlives a
//! kill -9 (issue 12). Each test runs the real binary, kills it with
//! SIGKILL and starts it again on the same file, as an operator would.
//!
//! The storm test is Jepsen's method at small scale: concurrent clients
//! log users in and out and write down every answer; the server is killed
//! in the middle; after the restart every acknowledged operation must be
//! in the server's view, an unacknowledged one may have gone either way,
//! and no user is ever on two devices (MULTI-1).

use crate::support::{
    D1, D2, D7905, ServeProcess, answer, app, client, failure, http, lab_text, phone_get,
    serve_command,
};
use emlab_protocol::em_api::{
    AppInfo, DeviceUser, DeviceUserQuery, Duration as EmDuration, ExclusiveDuration, Login, Logout,
    Message, Operation, Query, QueryKind, Request, ResponseBody,
};
use emlab_simulator::em_client::{EmClient, Reply};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// `emlab serve --state FILE --lab-control`; dropping it is a kill -9.
fn serve_state(lab: &Path, state: &Path) -> ServeProcess {
    ServeProcess::start(lab, &state_flags(state))
}

fn state_flags(state: &Path) -> [&str; 3] {
    ["--state", state.to_str().unwrap(), "--lab-control"]
}

fn write_lab(dir: &Path, text: &str) -> PathBuf {
    let lab = dir.join("lab.toml");
    std::fs::write(&lab, text).unwrap();
    lab
}

async fn lab_post(base: &str, path: &str, json: &str) -> serde_json::Value {
    let (status, body) = http(base, "POST", path, json.to_string()).await;
    assert_eq!(status, 200, "POST {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

async fn lab_get(base: &str, path: &str) -> serde_json::Value {
    let (status, body) = http(base, "GET", path, String::new()).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

fn login_for(app: &AppInfo, device: &str, user: &str, minutes: Option<u32>) -> Message {
    Message::Request(Request::new(
        app.clone(),
        Operation::Login(Login {
            device_name: device.into(),
            user_id: user.into(),
            exclusive_duration: minutes.map(|m| ExclusiveDuration {
                kind: EmDuration::Minutes(m),
            }),
            ..Login::default()
        }),
    ))
}

fn logout_of(app: &AppInfo, device: &str) -> Message {
    Message::Request(Request::new(
        app.clone(),
        Operation::Logout(Logout {
            device_name: device.into(),
            ..Default::default()
        }),
    ))
}

/// Who the server says is on each device, in one query.
async fn users_on(em: &EmClient, devices: &[String]) -> BTreeMap<String, Option<String>> {
    let q = Message::Query(Query::new(
        em.app.clone(),
        QueryKind::DeviceUser(DeviceUserQuery {
            device_names: devices.to_vec(),
            ..Default::default()
        }),
    ));
    match answer(em.send(&q).await).body {
        ResponseBody::DeviceUserResults(r) => r
            .devices
            .into_iter()
            .map(|d| {
                let user = match d.user {
                    DeviceUser::User(u) => Some(u),
                    _ => None,
                };
                (d.name, user)
            })
            .collect(),
        other => panic!("expected deviceUserResults, got {other:?}"),
    }
}

/// Sessions, a timer, DND, a Call Back, a PIN change, a live parameter
/// change and the lab clock, each checked after a kill -9 and a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_saved_change_outlives_kill_9() {
    let dir = crate::support::scratch("state-every-kind");
    let lab = write_lab(&dir, &lab_text("", ""));
    let state = dir.join("emlab.state");
    let em_app = app();
    let saved_now;
    {
        let s = serve_state(&lab, &state);
        assert!(s.banner.contains("0 logins restored"), "{}", s.banner);
        let em = client(&s.base, em_app.clone());
        answer(em.send(&login_for(&em_app, D1, "alice", None)).await);
        answer(em.send(&login_for(&em_app, D2, "bob", Some(1))).await);
        lab_post(
            &s.base,
            &format!("/lab/devices/{D1}/dnd"),
            r#"{"status":true,"alert":"beep-only"}"#,
        )
        .await;
        lab_post(
            &s.base,
            &format!("/lab/devices/{D1}/call-back"),
            r#"{"number":"2002"}"#,
        )
        .await;
        lab_post(&s.base, "/lab/users/bob/pin", r#"{"pin":"99999"}"#).await;
        lab_post(
            &s.base,
            "/lab/service-parameters",
            r#"{"max_concurrent_requests":77,"remember_last_user":true}"#,
        )
        .await;
        saved_now = lab_post(&s.base, "/lab/clock/advance", r#"{"seconds":30}"#).await["now_ms"]
            .as_u64()
            .unwrap();
        // Dropped: kill -9.
    }
    let s = serve_state(&lab, &state);
    assert!(s.banner.contains("2 logins restored"), "{}", s.banner);
    let em = client(&s.base, em_app.clone());
    let devices = [D1, D2, D7905].map(String::from);
    let on = users_on(&em, &devices).await;
    assert_eq!(on[D1].as_deref(), Some("alice"));
    assert_eq!(on[D2].as_deref(), Some("bob"));
    // MULTI-1 across the restart: alice is still somewhere, so not here.
    let refused = answer(em.send(&login_for(&em_app, D7905, "alice", None)).await);
    assert_eq!(failure(&refused).0, 25);
    let alice = lab_get(&s.base, "/lab/users/alice").await;
    assert_eq!(alice["dnd"]["status"], true, "{alice}");
    assert_eq!(alice["dnd"]["alert"], "beep-only", "{alice}");
    assert_eq!(alice["call_backs"], serde_json::json!(["2002"]), "{alice}");
    let parameters = lab_get(&s.base, "/lab/service-parameters").await;
    assert_eq!(parameters["max_concurrent_requests"], 77);
    assert_eq!(parameters["remember_last_user"], true);
    let now = lab_post(&s.base, "/lab/clock/advance", r#"{"seconds":0}"#).await["now_ms"]
        .as_u64()
        .unwrap();
    assert!(
        now >= saved_now,
        "the lab clock resumed at {now}, saved {saved_now}"
    );
    // TIME-6: after a restart of the EM service, bob's one-minute login is
    // not logged out at its expiry, only once a day.
    lab_post(&s.base, "/lab/clock/advance", r#"{"seconds":120}"#).await;
    assert_eq!(users_on(&em, &devices).await[D2].as_deref(), Some("bob"));
    lab_post(&s.base, "/lab/clock/advance", r#"{"seconds":86400}"#).await;
    assert_eq!(users_on(&em, &devices).await[D2], None);
    // Bob's changed PIN, at the phone.
    let (_, _, page) = phone_get(
        &s.base,
        &format!("/emapp/EMAppServlet?device={D7905}&loginType=UID&userid=bob&seq=99999"),
        &[],
    )
    .await;
    assert!(page.contains("Login Successful"), "{page}");
    drop(s);
    // What happened after the restart is saved too: bob's phone login and
    // the once-a-day logout, at a third start.
    let s = serve_state(&lab, &state);
    let on = users_on(&client(&s.base, em_app), &devices).await;
    assert_eq!(on[D7905].as_deref(), Some("bob"));
    assert_eq!(on[D2], None);
}

/// The state file is plain SQLite: the stock `sqlite3` shell, which
/// nobody here wrote, reads a login from it after a kill -9; a file whose
/// layout version it changed is then refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stock_sqlite3_shell_reads_a_login_and_a_foreign_version_is_refused() {
    if !crate::support::peer_installed("sqlite3", "sqlite3") {
        return;
    }
    let dir = crate::support::scratch("state-sqlite3");
    let lab = write_lab(&dir, &lab_text("", ""));
    let state = dir.join("emlab.state");
    {
        let s = serve_state(&lab, &state);
        let em_app = app();
        answer(
            client(&s.base, em_app.clone())
                .send(&login_for(&em_app, D1, "alice", None))
                .await,
        );
    }
    let out = Command::new("sqlite3")
        .arg(&state)
        .arg(format!(
            "SELECT user, profile FROM devices WHERE device = '{D1}'; SELECT value FROM meta WHERE key = 'format';"
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "alice|alice-7960\nemlab-state\n"
    );
    // A file another emlab wrote (another layout version) is refused, by
    // name, with exit 2, and left as it was.
    let edit = Command::new("sqlite3")
        .arg(&state)
        .arg("UPDATE meta SET value = '2' WHERE key = 'version';")
        .status()
        .unwrap();
    assert!(edit.success());
    let before = std::fs::read(&state).unwrap();
    let out = serve_command(&lab, &state_flags(&state)).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(state.to_str().unwrap()), "{err}");
    assert!(
        err.contains("written by another version of emlab (state layout 2"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&state).unwrap(),
        before,
        "the file is untouched"
    );
}

/// A file that is not a state file, or a corrupt one: one line naming the
/// file, exit 2, and the file left as it was.
#[test]
fn a_corrupt_state_file_is_refused_by_name_with_exit_2() {
    let dir = crate::support::scratch("state-corrupt");
    let lab = write_lab(&dir, &lab_text("", ""));
    let state = dir.join("emlab.state");
    let junk: Vec<u8> = (0..16_384u32).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(&state, &junk).unwrap();
    let out = serve_command(&lab, &state_flags(&state)).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains(state.to_str().unwrap()), "{err}");
    assert!(err.contains("not an emlab state file, or corrupt"), "{err}");
    assert_eq!(
        std::fs::read(&state).unwrap(),
        junk,
        "the file is untouched"
    );
}

/// One client's operation and what it was told.
#[derive(Clone, Debug)]
struct Op {
    device: String,
    /// `Some(user)`: a login; `None`: a logout.
    login: Option<String>,
    outcome: Outcome,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Outcome {
    Done,
    /// A `<failure>` with this code: acknowledged, and nothing changed.
    Refused(u16),
    /// No answer: the server died first. It may have happened or not.
    Unknown,
}

/// A storm of 8 clients, a kill -9 after a random moment, a restart: over
/// 5 rounds on one state file, 0 acknowledged operations lost, and never a
/// user on two devices.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_in_a_storm_loses_no_acknowledged_operation() {
    const CLIENTS: usize = 8;
    const DEVICES_PER_CLIENT: usize = 6;
    const ROUNDS: u64 = 5;
    let dir = crate::support::scratch("state-storm");
    let lab_file = r#"
[server]
profile = "ucm"
operation_time_ms = 0

[service_parameters]
max_concurrent_requests = 100000
multiple_login_behavior = "not-allowed"

[[application]]
id = "emlab"
certificate = "emlab"
proxy_rights = true

[fleet]
count = 48
models = { "7960" = 50, "8851" = 50 }
"#;
    let lab_path = write_lab(&dir, lab_file);
    let lab = emlab_protocol::lab::Lab::parse(&lab_path, lab_file).unwrap();
    let members: Vec<_> = lab.fleet_members().collect();
    let devices: Vec<String> = members.iter().map(|m| m.device_name.clone()).collect();
    // Fewer users than devices, shared by every client, so logins of one
    // user race on different devices and MULTI-1 decides.
    let users: Vec<String> = members.iter().take(20).map(|m| m.user_id.clone()).collect();
    let state = dir.join("emlab.state");
    let em_app = AppInfo::new("emlab", "emlab");
    // The verified view so far: who is on each device.
    let mut model: BTreeMap<String, Option<String>> =
        devices.iter().map(|d| (d.clone(), None)).collect();
    // The same storm in every run; EMLAB_KILL9_SEED=N plays another one.
    let mut seed = std::env::var("EMLAB_KILL9_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x9e37_79b9_7f4a_7c15u64);
    eprintln!("storm seed {seed}");
    let (mut total_acknowledged, mut total_lost) = (0usize, 0usize);
    for round in 1..=ROUNDS {
        let served = serve_state(&lab_path, &state);
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let mut clients = Vec::new();
        for c in 0..CLIENTS {
            let mine: Vec<String> =
                devices[c * DEVICES_PER_CLIENT..(c + 1) * DEVICES_PER_CLIENT].to_vec();
            let users = users.clone();
            let em = EmClient::new(&served.base, em_app.clone(), Duration::from_secs(5)).unwrap();
            let mut stop = stop_rx.clone();
            let mut rng = (seed ^ (round << 32) ^ c as u64) | 1;
            clients.push(tokio::spawn(async move {
                let mut log = Vec::new();
                loop {
                    if *stop.borrow_and_update() {
                        break;
                    }
                    let device = mine[next(&mut rng) as usize % mine.len()].clone();
                    let login = (!next(&mut rng).is_multiple_of(3))
                        .then(|| users[next(&mut rng) as usize % users.len()].clone());
                    let message = match &login {
                        Some(u) => login_for(&em.app, &device, u, None),
                        None => logout_of(&em.app, &device),
                    };
                    let outcome = match em.send(&message).await {
                        Reply::Answer(r) => match r.error_code() {
                            None => Outcome::Done,
                            Some(code) => Outcome::Refused(code),
                        },
                        _ => Outcome::Unknown,
                    };
                    log.push(Op {
                        device,
                        login,
                        outcome,
                    });
                    if outcome == Outcome::Unknown {
                        // The server is gone; this client's last word.
                        break;
                    }
                }
                log
            }));
        }
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(round);
        let kill_after = 150 + seed % 450;
        tokio::time::sleep(Duration::from_millis(kill_after)).await;
        drop(served); // kill -9, mid-storm
        let _ = stop_tx.send(true);
        let mut logs = Vec::new();
        for c in clients {
            logs.push(c.await.unwrap());
        }
        // What each device must show (the last acknowledged change), and
        // what else it may show (an operation that got no answer).
        let mut expected = model.clone();
        let mut may_also: BTreeMap<String, Option<String>> = BTreeMap::new();
        let (mut acknowledged, mut in_flight) = (0, 0);
        for op in logs.iter().flatten() {
            match op.outcome {
                Outcome::Done => {
                    acknowledged += 1;
                    expected.insert(op.device.clone(), op.login.clone());
                }
                Outcome::Refused(code) => {
                    acknowledged += 1;
                    // Refusals the storm can meet, each changing nothing.
                    assert!(
                        matches!(code, 25 | 19),
                        "round {round}: unexpected error {code} for {op:?}"
                    );
                }
                Outcome::Unknown => {
                    in_flight += 1;
                    may_also.insert(op.device.clone(), op.login.clone());
                }
            }
        }
        let served = serve_state(&lab_path, &state);
        let em = EmClient::new(&served.base, em_app.clone(), Duration::from_secs(5)).unwrap();
        let seen = users_on(&em, &devices).await;
        let (mut lost, mut applied) = (0, 0);
        for (device, want) in &expected {
            let got = &seen[device];
            if got != want {
                if may_also.get(device) == Some(got) {
                    applied += 1;
                } else {
                    lost += 1;
                    eprintln!("round {round}: {device} shows {got:?}, acknowledged {want:?}");
                }
            }
        }
        let mut on_two = BTreeSet::new();
        let mut placed = BTreeSet::new();
        for user in seen.values().flatten() {
            if !placed.insert(user) {
                on_two.insert(user.clone());
            }
        }
        eprintln!(
            "round {round}: killed after {kill_after} ms; {acknowledged} operations acknowledged, {lost} lost; {in_flight} unanswered, {applied} of them visibly applied"
        );
        assert_eq!(lost, 0, "round {round}: acknowledged operations lost");
        assert!(
            on_two.is_empty(),
            "round {round}: on two devices: {on_two:?}"
        );
        assert!(acknowledged > 0, "round {round}: the storm ran");
        // MULTI-1 holds across the restart: a user on a device cannot log
        // in on another one.
        if let Some((device, Some(user))) = seen.iter().find(|(_, u)| u.is_some()) {
            let other = devices.iter().find(|d| *d != device && seen[*d].is_none());
            if let Some(other) = other {
                let r = answer(em.send(&login_for(&em_app, other, user, None)).await);
                assert_eq!(failure(&r).0, 25, "round {round}: {user} moved to {other}");
            }
        }
        total_acknowledged += acknowledged;
        total_lost += lost;
        model = seen;
        drop(served);
    }
    eprintln!(
        "kill -9 over {ROUNDS} rounds: {total_acknowledged} operations acknowledged, {total_lost} lost"
    );
}

/// xorshift64: the storm is random, and the same in every run.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}
