//! CME labs from a running-config (PROTOCOL.md §8): seed E's examples
//! import into the shipped `scenarios/lab-cme.toml`, a run on it shows the
//! layouts the seed states, users log in with their password (AUTH-8), and
//! a malformed configuration is one line naming its line.

use crate::support::{emlab, exits, phone_get, scratch};
use emlab_protocol::lab::Lab;
use std::path::{Path, PathBuf};

fn shipped(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name)
}

/// The lab without its header (which names the source path).
fn body(text: &str) -> String {
    text.lines()
        .skip_while(|l| l.starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn seed_e_imports_to_the_shipped_cme_lab_and_lists_what_it_ignored() {
    let dir = scratch("cme-import");
    let out = dir.join("lab.toml");
    let source = shipped("cme-seed.running-config");
    let o = emlab(&[
        "lab",
        "import",
        "--cme",
        source.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let stdout = exits(&o, 0);
    // The pasted session's banner and `ip http server` are not EM's.
    assert!(
        stdout.contains("cme-seed.running-config:7: ignored: Enter configuration"),
        "{stdout}"
    );
    assert!(
        stdout.contains("cme-seed.running-config:8: ignored: ip http server"),
        "{stdout}"
    );
    // The layouts seed E states.
    assert!(
        stdout.contains("SEP000DEDAB3566  7960  logout-profile-1   6 lines, 0 speed dials"),
        "{stdout}"
    );
    assert!(
        stdout.contains("SEP0012DA8AC43D  7970  logout-profile-1   6 lines, 2 speed dials\n"),
        "{stdout}"
    );
    let written = std::fs::read_to_string(&out).unwrap();
    let committed = std::fs::read_to_string(shipped("lab-cme.toml")).unwrap();
    assert_eq!(
        body(&written),
        body(&committed),
        "scenarios/lab-cme.toml is what the import writes today"
    );
    let lab = Lab::load(&out).unwrap();
    assert_eq!(lab.file.server.profile, emlab_protocol::ServerProfile::Cme);
}

#[test]
fn malformed_ios_commands_are_one_line_naming_the_line() {
    let dir = scratch("cme-bad");
    let file = dir.join("bad.cfg");
    std::fs::write(
        &file,
        "telephony-service\n em keep-history\n!\nvoice user-profile 1\n user me password pass123\n number 2001 type loud-ring\n",
    )
    .unwrap();
    let o = emlab(&["lab", "import", "--cme", file.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    assert!(
        err.contains("bad.cfg:6:") && err.contains("loud-ring"),
        "{err}"
    );
}

#[test]
fn a_run_on_the_imported_lab_verifies_every_layout() {
    let dir = scratch("cme-run");
    let out = dir.join("out");
    let scenario = shipped("cme-seed.toml");
    let o = emlab(&[
        "run",
        scenario.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    exits(&o, 0);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    // Every configuration each phone loaded (boot, login, logout) passed
    // its button check: 3 phones × 3 loads.
    assert_eq!(report["steps"]["in_service"]["outcomes"]["success"], 9);
    assert_eq!(report["steps"]["login"]["outcomes"]["success"], 3);
}

/// AUTH-8: under cme a user logs in with the password of `user NAME
/// password PW`; the profile's PIN only lifts call blocking.
#[tokio::test]
async fn auth_8_cme_users_log_in_with_their_password_not_their_pin() {
    let lab = Lab::load(&shipped("lab-cme.toml")).unwrap();
    let server = emlab_server::start(&lab, emlab_server::ServerOptions::default())
        .await
        .unwrap();
    let base = server.base_url();
    let device = "SEP0012DA8AC43D";
    let (_, _, with_pin) = phone_get(
        &base,
        &format!("/emapp/EMAppServlet?device={device}&userid=me&seq=12345"),
        &[],
    )
    .await;
    assert!(with_pin.contains("[201]"), "{with_pin}");
    let (_, _, with_password) = phone_get(
        &base,
        &format!("/emapp/EMAppServlet?device={device}&userid=me&seq=pass123"),
        &[],
    )
    .await;
    assert!(
        with_password.contains("Login Successful"),
        "{with_password}"
    );
    server.shutdown().await.unwrap();
}
