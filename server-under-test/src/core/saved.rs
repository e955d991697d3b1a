//! What the durable store saves (`emlab serve --state FILE`), as rows keyed
//! by the lab's names, and how the rules' state gives them up and takes
//! them back. The SQLite side is [`crate::io::store`].

use crate::core::credentials::Credential;
use crate::core::directory::{DeviceIdx, UserIdx};
use crate::core::em::{Em, lock};
use crate::core::features::{Dnd, UserFeatures};
use crate::core::sessions::{ActiveLogin, DeviceRecord};
use emlab_protocol::lab::ServiceParameters;
use std::sync::Arc;
use std::sync::atomic::Ordering;

/// One device's session record, by name (see `sessions::DeviceRecord`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DeviceRow {
    pub device: String,
    /// The login, if someone is logged in.
    pub login: Option<LoginRow>,
    pub idle_deadline_ms: Option<u64>,
    pub logout_on_hook: bool,
    pub last_user: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LoginRow {
    pub user: String,
    pub profile: String,
    pub since_ms: u64,
    pub expires_ms: Option<u64>,
    pub idle_minutes: Option<u32>,
}

/// A user's saved DND (as JSON) and active Call Backs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserFeaturesRow {
    pub user: String,
    pub dnd: Option<String>,
    pub call_backs: Vec<String>,
}

/// A user's secret (PIN, or CME password), its must-change flag and the
/// credential cached at the last login (AUTH-5).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CredentialRow {
    pub user: String,
    pub secret: String,
    pub must_change: bool,
    pub cached: Option<(String, u64)>,
}

/// The lab clock when a batch was taken, and the wall clock beside it, so
/// a restart can add the time the server was down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClockRow {
    pub lab_ms: u64,
    pub wall_ms: u64,
}

/// Rows: changes on their way to the file, or everything read back from it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rows {
    pub devices: Vec<DeviceRow>,
    pub user_features: Vec<UserFeaturesRow>,
    /// A device's own DND (JSON), set while nobody was logged in.
    pub device_dnd: Vec<(String, String)>,
    pub credentials: Vec<CredentialRow>,
    /// The live service parameters (JSON), when they changed.
    pub parameters: Option<String>,
    pub clock: Option<ClockRow>,
    pub time_of_day_checked_ms: Option<u64>,
}

impl Rows {
    /// Whether nothing changed that must be written (the time-of-day mark
    /// rides along with other changes; it alone is not worth a commit).
    pub fn is_empty(&self) -> bool {
        self.devices.is_empty()
            && self.user_features.is_empty()
            && self.device_dnd.is_empty()
            && self.credentials.is_empty()
            && self.parameters.is_none()
            && self.clock.is_none()
    }
}

/// The wall clock, in milliseconds since 1970.
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The lab clock to resume at: where it was, plus the wall-clock time the
/// server was down (a real CUCM's clock kept running meanwhile).
pub fn resume_clock_at(saved: ClockRow) -> u64 {
    saved
        .lab_ms
        .saturating_add(unix_ms().saturating_sub(saved.wall_ms))
}

/// What a restart found in the state file.
#[derive(Debug, Default)]
pub struct Restored {
    pub logins: usize,
    /// Saved rows the lab no longer has a name for; kept in the file.
    pub unknown: Vec<String>,
}

impl Em {
    /// Puts back what a state file saved, then records every change in it
    /// from now on. Timers resume on the saved lab clock, which also moves
    /// on by the time the server was down; pending automatic logouts move
    /// to a day later, as after any restart of the EM service (TIME-6).
    pub fn restore(&mut self, saved: Rows, file: &str) -> Result<Restored, String> {
        let mut restored = Restored::default();
        if let Some(json) = &saved.parameters {
            let parameters: ServiceParameters = serde_json::from_str(json).map_err(|e| {
                format!("state file {file}: its service parameters do not read ({e})")
            })?;
            self.admission.set_limit(parameters.max_concurrent_requests);
            *self.parameters.get_mut().unwrap_or_else(|p| p.into_inner()) = Arc::new(parameters);
        }
        if let Some(clock) = saved.clock {
            self.clock.resume_at(resume_clock_at(clock));
        }
        let dir = &self.directory;
        let mut unknown_rows = Vec::new();
        let mut unknown = |what: &str, name: &str| unknown_rows.push(format!("{what} {name}"));
        let sessions = self.sessions.get_mut().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = saved.time_of_day_checked_ms {
            sessions.time_of_day_checked_ms = t;
        }
        for row in saved.devices {
            let Some(device) = dir.device_idx(&row.device) else {
                unknown("device", &row.device);
                continue;
            };
            let last_user = row.last_user.as_deref().and_then(|u| dir.user_idx(u));
            let login = match row.login {
                None => None,
                Some(l) => match (dir.user_idx(&l.user), dir.profile_idx(&l.profile)) {
                    (Some(user), Some(profile)) => Some(ActiveLogin {
                        user,
                        profile,
                        since_ms: l.since_ms,
                        expires_ms: l.expires_ms,
                        idle_minutes: l.idle_minutes,
                    }),
                    _ => {
                        unknown(
                            "login",
                            &format!("{} on {} with {}", l.user, row.device, l.profile),
                        );
                        None
                    }
                },
            };
            restored.logins += usize::from(login.is_some());
            sessions.restore(
                device,
                DeviceRecord {
                    login,
                    idle_deadline_ms: row.idle_deadline_ms,
                    logout_on_hook: row.logout_on_hook,
                    last_user,
                },
            );
        }
        sessions.postpone_timers(self.clock.now_ms().saturating_add(24 * 3600 * 1000));
        sessions.track_changes();
        let features = self.features.get_mut().unwrap_or_else(|p| p.into_inner());
        let dnd = |json: &str| {
            serde_json::from_str::<Dnd>(json)
                .map_err(|e| format!("state file {file}: a saved DND does not read ({e})"))
        };
        for row in saved.user_features {
            let Some(user) = dir.user_idx(&row.user) else {
                unknown("user", &row.user);
                continue;
            };
            let saved = UserFeatures {
                dnd: row.dnd.as_deref().map(dnd).transpose()?,
                call_backs: row.call_backs,
            };
            features.restore_user(user, saved);
        }
        for (name, json) in saved.device_dnd {
            let Some(device) = dir.device_idx(&name) else {
                unknown("device", &name);
                continue;
            };
            features.restore_device(device, dnd(&json)?);
        }
        features.track_changes();
        let credentials = self
            .credentials
            .get_mut()
            .unwrap_or_else(|p| p.into_inner());
        for row in saved.credentials {
            let Some(user) = dir.user_idx(&row.user) else {
                unknown("user", &row.user);
                continue;
            };
            credentials.restore(
                user,
                Credential {
                    secret: row.secret,
                    cached: row.cached,
                    must_change: row.must_change,
                },
            );
        }
        credentials.track_changes();
        restored.unknown = unknown_rows;
        // Where the lab clock starts, saved with the first commit.
        self.clock_changed.store(true, Ordering::Relaxed);
        Ok(restored)
    }

    /// Every change not yet taken, as rows by name.
    pub fn take_changes(&self) -> Rows {
        let dir = &self.directory;
        let user_name = |u: UserIdx| dir.user(u).id.clone();
        let device_name = |d: DeviceIdx| dir.device(d).name.clone();
        let mut rows = Rows::default();
        {
            let mut s = lock(&self.sessions);
            rows.devices = s
                .take_changes()
                .into_iter()
                .map(|(d, r)| DeviceRow {
                    device: device_name(d),
                    login: r.login.map(|l| LoginRow {
                        user: user_name(l.user),
                        profile: dir.profile(l.profile).name.clone(),
                        since_ms: l.since_ms,
                        expires_ms: l.expires_ms,
                        idle_minutes: l.idle_minutes,
                    }),
                    idle_deadline_ms: r.idle_deadline_ms,
                    logout_on_hook: r.logout_on_hook,
                    last_user: r.last_user.map(user_name),
                })
                .collect();
            // Only a lab with logout times of day reads it (TIME-4).
            if !dir.logout_times.is_empty() {
                rows.time_of_day_checked_ms = Some(s.time_of_day_checked_ms);
            }
        }
        let json = |dnd: Dnd| serde_json::to_string(&dnd).unwrap_or_default();
        let (users, devices) = lock(&self.features).take_changes();
        rows.user_features = users
            .into_iter()
            .map(|(u, f)| UserFeaturesRow {
                user: user_name(u),
                dnd: f.dnd.map(json),
                call_backs: f.call_backs,
            })
            .collect();
        rows.device_dnd = devices
            .into_iter()
            .filter_map(|(d, dnd)| Some((device_name(d), json(dnd?))))
            .collect();
        rows.credentials = lock(&self.credentials)
            .take_changes()
            .into_iter()
            .map(|(u, c)| CredentialRow {
                user: user_name(u),
                secret: c.secret,
                must_change: c.must_change,
                cached: c.cached,
            })
            .collect();
        if self.parameters_changed.swap(false, Ordering::Relaxed) {
            rows.parameters = serde_json::to_string(&*self.parameters()).ok();
        }
        // The lab clock runs with the wall clock between advances, so it is
        // saved when it starts and when it is advanced, not at every change.
        if self.clock_changed.swap(false, Ordering::Relaxed) {
            rows.clock = Some(ClockRow {
                lab_ms: self.clock.now_ms(),
                wall_ms: unix_ms(),
            });
        }
        rows
    }
}
