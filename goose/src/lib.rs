//! Extension Mobility as goose transactions.
//!
//! A goose user adds EM to their own load test with [`em_scenario`]: a
//! goose [`Scenario`] whose users each take one row of a users file (a
//! device and the user who logs in on it) and then loop over three
//! transactions, as a phone's cycle does (PROTOCOL.md §1):
//!
//! 1. `login`: `<request><login>` for the row's user on its device;
//! 2. `query`: `<query><deviceUserQuery>`, which must name that user on
//!    that device (optional);
//! 3. `logout`: `<request><logout>`, only after a successful login, as a
//!    phone whose login failed does not log out.
//!
//! Each transaction parses its answer as the fleet does
//! ([`emlab_simulator::em_client::answer`]) and compares its outcome
//! (`success`, an EM error code such as `25`, `timeout`, ...) with what is
//! expected. A mismatch fails the transaction in goose's metrics with the
//! expected and actual outcome, e.g. `login: expected success, got 25`.
//! Given a [`Recorder`], every request is also recorded in emlab's HDR
//! histograms, timed to the last byte of the answer (goose's own request
//! times stop at the first byte).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use goose::prelude::*;
//! use emlab_protocol::em_api::AppInfo;
//! let em = emlab_goose::em_scenario(
//!     "https://cucm.example.com:8443",
//!     std::path::Path::new("users.csv"), // SEQUENTIAL, then user;pin;device rows
//!     AppInfo::new("emlab", "secret"),
//! )?;
//! GooseAttack::initialize()?.register_scenario(em).execute().await?;
//! # Ok(())
//! # }
//! ```
//!
//! `emlab goose SCENARIO` (`cli/src/goose.rs`) builds the same scenario from
//! an emlab scenario and its lab.

mod transactions;

pub use transactions::{EmTransactions, EmUser};

use emlab_protocol::em_api::AppInfo;
use goose::prelude::*;
use std::path::Path;

/// The goose scenario for EM login, query and logout against `base_url`
/// (a CUCM's `https://host:8443`, or any server that speaks the EM API),
/// one goose user per row of `users_file`.
///
/// The users file is SIPp's injection format as emlab reads it
/// (`scenarios/README.md`, "Users files"): a first line `SEQUENTIAL`, then
/// `user_id;pin;device` rows. Every row needs its device here, since there
/// is no lab to take one from. Goose user k takes row k; start at most as
/// many goose users as rows, since two users on one device fail each
/// other's logins, as they would on a real cluster.
pub fn em_scenario(base_url: &str, users_file: &Path, app: AppInfo) -> Result<Scenario, String> {
    let rows = emlab_simulator::fleet::read_users(users_file).map_err(|e| e.to_string())?;
    let users = rows
        .into_iter()
        .enumerate()
        .map(|(n, r)| match r.device {
            Some(device_name) => Ok(EmUser {
                device_name,
                user_id: r.user_id,
            }),
            None => Err(format!(
                "{}: row {} (`{}`) has no device: write `user_id;pin;device`",
                users_file.display(),
                n + 1,
                r.user_id
            )),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if users.is_empty() {
        return Err(format!("{}: no users", users_file.display()));
    }
    Ok(EmTransactions::new(app, users)
        .scenario()
        .set_host(base_url))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A users file row without a device is refused, naming the row: there
    /// is no lab to take a device from.
    #[test]
    fn a_users_file_row_without_a_device_is_refused() {
        let dir = std::env::temp_dir().join(format!("emlab-goose-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("users.csv");
        std::fs::write(&file, "SEQUENTIAL\nalice;1;SEP000000001000\nbob;2\n").unwrap();
        let err = em_scenario("http://127.0.0.1:1", &file, AppInfo::new("a", "b"))
            .err()
            .unwrap();
        assert!(err.contains("row 2 (`bob`) has no device"), "{err}");
        std::fs::write(&file, "SEQUENTIAL\nalice;1;SEP000000001000\n").unwrap();
        assert!(em_scenario("http://127.0.0.1:1", &file, AppInfo::new("a", "b")).is_ok());
    }
}
