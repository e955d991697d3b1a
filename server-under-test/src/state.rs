//! Everything a request handler needs, shared behind one `Arc`: the
//! directory (fixed at start), and the state that changes: sessions,
//! service parameters, PINs, whether the EM service runs.

use crate::addresses::{AddressBook, Source, resolve_trusted};
use crate::admission::Admission;
use crate::call_logs::{CallLogs, Moment};
use crate::clock::ServerClock;
use crate::control::{self, ControlChannel};
use crate::directory::{DeviceIdx, Directory, UserIdx};
use crate::faults::Fault;
use crate::features::Features;
use crate::metrics::Metrics;
use crate::sessions::ActiveLogin;
use crate::sessions::Sessions;
use crate::store::{ClockRow, CredentialRow, DeviceRow, LoginRow, Rows, Store, UserFeaturesRow};
use emlab_protocol::ErrorCode;
use emlab_protocol::lab::{Lab, ServiceParameters};
use emlab_protocol::sccp::ResetType;
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// How long a logged-in user's credentials stay cached (AUTH-5).
pub const CREDENTIAL_CACHE_MS: u64 = 2 * 60 * 1000;

/// A user's PIN, the one cached at the last login, and whether it must change.
#[derive(Clone)]
struct Credential {
    pin: String,
    cached: Option<(String, u64)>,
    must_change: bool,
}

/// Every user's credential, and which changed since the store took them.
struct Credentials {
    by_user: Vec<Credential>,
    changed: Option<std::collections::BTreeSet<UserIdx>>,
}

impl Credentials {
    fn get_mut(&mut self, user: UserIdx) -> &mut Credential {
        if let Some(c) = self.changed.as_mut() {
            c.insert(user);
        }
        &mut self.by_user[user as usize]
    }
}

pub struct ServerState {
    pub directory: Directory,
    /// Test-only fault switches (none in normal use).
    pub faults: crate::faults::Faults,
    sessions: Mutex<Sessions>,
    parameters: RwLock<Arc<ServiceParameters>>,
    /// The Trusted List of IPs, resolved when the parameters are set (IP-2).
    trusted: RwLock<Arc<HashSet<IpAddr>>>,
    addresses: Mutex<AddressBook>,
    credentials: Mutex<Credentials>,
    /// False while lab control has the EM service stopped (LIM-4, TIME-6).
    em_running: AtomicBool,
    /// False while lab control has only the EM API (EMService) stopped, so
    /// the phone service cannot reach it (URL-3).
    em_api_running: AtomicBool,
    pub admission: Admission,
    pub metrics: Metrics,
    pub clock: ServerClock,
    pub control: ControlChannel,
    pub call_logs: Arc<CallLogs>,
    pub features: Mutex<Features>,
    /// The durable store (`--state`); `None`: everything lives in memory.
    store: Option<Store>,
    /// Changes the store has not taken yet, beside those the tables track.
    parameters_changed: AtomicBool,
    clock_changed: AtomicBool,
}

/// What a restart found in the state file.
#[derive(Debug, Default)]
pub struct Restored {
    pub logins: usize,
    /// Saved rows the lab no longer has a name for; kept in the file.
    pub unknown: Vec<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock would be a bug elsewhere; the data is
    // consistent between calls, so keep serving.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ServerState {
    pub fn new(lab: &Lab) -> Self {
        let directory = Directory::from_lab(lab);
        let sessions = Sessions::new(directory.device_count(), directory.user_count());
        let parameters = lab.file.service_parameters.clone();
        let admission = Admission::new(parameters.max_concurrent_requests);
        let credentials = (0..directory.user_count() as UserIdx)
            .map(|u| {
                let user = directory.user(u);
                // Under cme a user with a `user NAME password PW`
                // credential logs in with the password (AUTH-8); the
                // profile's PIN only lifts call blocking.
                let secret = match (directory.profile, &user.password) {
                    (emlab_protocol::ServerProfile::Cme, Some(password)) => password.clone(),
                    _ => user.pin.clone(),
                };
                Credential {
                    pin: secret,
                    cached: None,
                    must_change: user.pin_must_change,
                }
            })
            .collect();
        ServerState {
            directory,
            faults: crate::faults::Faults::default(),
            sessions: Mutex::new(sessions),
            // Host names resolve asynchronously: see `resolve_trusted_list`.
            trusted: RwLock::new(Arc::new(HashSet::new())),
            parameters: RwLock::new(Arc::new(parameters)),
            addresses: Mutex::new(AddressBook::default()),
            credentials: Mutex::new(Credentials {
                by_user: credentials,
                changed: None,
            }),
            em_running: AtomicBool::new(true),
            em_api_running: AtomicBool::new(true),
            admission,
            metrics: Metrics::default(),
            clock: ServerClock::new(),
            control: ControlChannel::default(),
            call_logs: CallLogs::new(lab),
            features: Mutex::new(Features::default()),
            store: None,
            parameters_changed: AtomicBool::new(false),
            clock_changed: AtomicBool::new(false),
        }
    }

    /// Puts back what a state file saved, then records every change in it
    /// from now on. Timers resume on the saved lab clock, which also moves
    /// on by the time the server was down; pending automatic logouts move
    /// to a day later, as after any restart of the EM service (TIME-6).
    pub fn attach_store(&mut self, store: Store, saved: Rows) -> Result<Restored, String> {
        let file = store.path().display().to_string();
        let mut restored = Restored::default();
        if let Some(json) = &saved.parameters {
            let parameters: ServiceParameters = serde_json::from_str(json).map_err(|e| {
                format!("state file {file}: its service parameters do not read ({e})")
            })?;
            self.admission.set_limit(parameters.max_concurrent_requests);
            *self.parameters.get_mut().unwrap_or_else(|p| p.into_inner()) = Arc::new(parameters);
        }
        if let Some(clock) = saved.clock {
            self.clock.resume_at(crate::store::resume_clock_at(clock));
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
                crate::sessions::DeviceRecord {
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
            serde_json::from_str::<crate::features::Dnd>(json)
                .map_err(|e| format!("state file {file}: a saved DND does not read ({e})"))
        };
        for row in saved.user_features {
            let Some(user) = dir.user_idx(&row.user) else {
                unknown("user", &row.user);
                continue;
            };
            let saved = crate::features::UserFeatures {
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
            credentials.by_user[user as usize] = Credential {
                pin: row.secret,
                cached: row.cached,
                must_change: row.must_change,
            };
        }
        credentials.changed = Some(Default::default());
        restored.unknown = unknown_rows;
        self.store = Some(store);
        // Where the lab clock starts, saved with the first commit.
        self.clock_changed.store(true, Ordering::Relaxed);
        Ok(restored)
    }

    /// The state file, when there is one.
    pub fn state_file(&self) -> Option<&std::path::Path> {
        self.store.as_ref().map(Store::path)
    }

    /// Makes every change so far durable before the caller answers: the
    /// changes are taken (one consistent cut of the session table) and
    /// committed; a caller whose changes a commit in progress already took
    /// waits for that commit. Many callers share one commit (see `store`). Without a store
    /// it returns at once. A failed commit is error 6: what the request
    /// did is in memory, and saved with the next commit that succeeds.
    pub async fn persist(&self) -> Result<(), ErrorCode> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        store
            .commit(|| self.take_changes())
            .await
            .map_err(|_| ErrorCode::DatabaseError)
    }

    /// Folds the state file's write-ahead log into it (see `Store::checkpoint`).
    pub async fn checkpoint(&self) {
        if let Some(store) = &self.store {
            store.checkpoint().await;
        }
    }

    /// Every change not yet taken, as rows by name.
    fn take_changes(&self) -> Rows {
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
        let json = |dnd: crate::features::Dnd| serde_json::to_string(&dnd).unwrap_or_default();
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
        {
            let mut creds = lock(&self.credentials);
            let changed = creds
                .changed
                .as_mut()
                .map(std::mem::take)
                .unwrap_or_default();
            rows.credentials = changed
                .into_iter()
                .map(|u| {
                    let c = &creds.by_user[u as usize];
                    CredentialRow {
                        user: user_name(u),
                        secret: c.pin.clone(),
                        must_change: c.must_change,
                        cached: c.cached.clone(),
                    }
                })
                .collect();
        }
        if self.parameters_changed.swap(false, Ordering::Relaxed) {
            rows.parameters = serde_json::to_string(&*self.parameters()).ok();
        }
        // The lab clock runs with the wall clock between advances, so it is
        // saved when it starts and when it is advanced, not at every change.
        if self.clock_changed.swap(false, Ordering::Relaxed) {
            rows.clock = Some(ClockRow {
                lab_ms: self.clock.now_ms(),
                wall_ms: crate::store::unix_ms(),
            });
        }
        rows
    }

    /// Moves the lab clock forward (lab control); due timers fire at the
    /// next access.
    pub fn advance_clock(&self, ms: u64) {
        self.clock.advance(ms);
        self.clock_changed.store(true, Ordering::Relaxed);
    }

    /// Applies every timer due by the lab clock (maximum login time, idle
    /// and time-of-day logouts: each ended login restarts its phone and
    /// clears what it should), then hands over the session table, locked, so
    /// no caller sees a login that should already have ended. An operation,
    /// not a getter: it is named for what it does. A stopped EM service runs
    /// no timers (TIME-6).
    pub fn apply_due_timers(&self) -> MutexGuard<'_, Sessions> {
        let mut s = lock(&self.sessions);
        if self.em_running() {
            let now = self.clock.now_ms();
            let mut ended = s.expire_due(now);
            ended.extend(self.time_of_day_logouts(&mut s, now));
            self.logins_ended(&ended, true);
        }
        s
    }

    /// TIME-4 (`cme`): when the clock passes a logout time of day, every EM
    /// user is logged out; a phone in a call (off-hook) is logged out when it
    /// hangs up.
    fn time_of_day_logouts(&self, s: &mut Sessions, now: u64) -> Vec<(DeviceIdx, ActiveLogin)> {
        let dir = &self.directory;
        let last = std::mem::replace(&mut s.time_of_day_checked_ms, now);
        if dir.logout_times.is_empty() || now <= last {
            return Vec::new();
        }
        const DAY: u64 = 86_400_000;
        // How many times the wall clock has shown `minute` by server time `ms`.
        let passes = |ms: u64, minute: u32| {
            (dir.clock_start_ms + ms + DAY - (minute as u64 * 60_000) % DAY) / DAY
        };
        if !dir
            .logout_times
            .iter()
            .any(|&m| passes(now, m) > passes(last, m))
        {
            return Vec::new();
        }
        let in_call = self.control.off_hook_devices();
        for &d in &in_call {
            if s.on_device(d).is_some() {
                s.log_out_on_hook(d);
            }
        }
        s.logout_all_except(&in_call)
    }

    /// The phone went off-hook or on-hook (SCCP OffHook/OnHook): held
    /// restarts go out on-hook (LOG-6), off-hook restarts the idle timer
    /// (TIME-5), and a time-of-day logout that met a call happens now (TIME-4).
    pub fn hook_changed(&self, device: DeviceIdx, off_hook: bool) {
        self.control.set_off_hook(device, off_hook);
        let mut s = self.apply_due_timers();
        if off_hook {
            s.touch(device, self.clock.now_ms());
        } else if s.take_logout_on_hook(device) {
            let ended: Vec<_> = s.logout(device).map(|l| (device, l)).into_iter().collect();
            drop(s);
            self.logins_ended(&ended, true);
        }
    }

    /// Counts logouts the server made or an administrator made, and
    /// restarts the phones concerned.
    pub fn logins_ended(&self, ended: &[(DeviceIdx, ActiveLogin)], automatic: bool) {
        if ended.is_empty() {
            return;
        }
        let n = ended.len() as u64;
        self.metrics.logouts.fetch_add(n, Ordering::Relaxed);
        if automatic {
            self.metrics
                .automatic_logouts
                .fetch_add(n, Ordering::Relaxed);
        }
        for &(device, login) in ended {
            lock(&self.features).logged_out(login.user);
            self.profile_changed(device, Some(login), None);
            self.clear_call_logs(device, Moment::OtherLogout);
        }
    }

    pub fn features(&self) -> MutexGuard<'_, Features> {
        lock(&self.features)
    }

    /// Tells a registered phone to restart, or restart then reset, after its
    /// login changed from `before` to `after` (RST-1..3).
    pub fn profile_changed(
        &self,
        device: DeviceIdx,
        before: Option<ActiveLogin>,
        after: Option<ActiveLogin>,
    ) {
        // Views are only worth computing for a phone that is listening.
        if !self.control.is_registered(device) {
            return;
        }
        let view = |login| crate::config_files::profile_view(&self.directory, device, login, 0);
        let plan = control::plan(&view(before), &view(after));
        if self.faults.has(Fault::ResetInsteadOfRestart) {
            self.control.send(device, &[ResetType::Reset]);
            return;
        }
        self.control.send(device, plan);
    }

    /// The service parameters in force.
    pub fn parameters(&self) -> Arc<ServiceParameters> {
        self.parameters
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Resolves the Trusted List of IPs of the current parameters (IP-2);
    /// done once at start, and by `set_parameters`.
    pub async fn resolve_trusted_list(&self) {
        let list = self.parameters().trusted_ips.clone();
        let trusted = resolve_trusted(&list).await;
        *self.trusted.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(trusted);
    }

    /// Replaces the service parameters (already checked). The Trusted List
    /// resolves before anything changes, so no request sees new
    /// parameters with the old list.
    pub async fn set_parameters(&self, parameters: ServiceParameters) {
        let trusted = resolve_trusted(&parameters.trusted_ips).await;
        self.admission.set_limit(parameters.max_concurrent_requests);
        *self.trusted.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(trusted);
        *self.parameters.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(parameters);
        self.parameters_changed.store(true, Ordering::Relaxed);
    }

    /// Clears the phone's call logs if `moment` calls for it (LOGS-1/2).
    pub fn clear_call_logs(&self, device: DeviceIdx, moment: Moment) {
        if self.faults.has(Fault::KeepCallLogs)
            || !self
                .call_logs
                .clears(moment, self.parameters().clear_call_logs)
        {
            return;
        }
        // A phone that never registered has no known address to push to.
        if let Some(ip) = lock(&self.addresses).address_of(device) {
            self.call_logs.push(ip);
        }
    }

    /// A phone registered on the control channel from `ip` (IP-1, LIM-5).
    pub fn device_registered(&self, device: DeviceIdx, ip: IpAddr) {
        let cache_size = self.parameters().cache_size as usize;
        lock(&self.addresses).registered(device, ip, cache_size);
    }

    /// Validate IP Address and Allow Proxy for a login or logout (IP-1, IP-3).
    pub fn check_source(
        &self,
        parameters: &ServiceParameters,
        device: Option<DeviceIdx>,
        source: Option<Source>,
    ) -> Result<(), ErrorCode> {
        if !parameters.validate_ip_address || self.faults.has(Fault::TrustEveryAddress) {
            return Ok(());
        }
        // No source known (an in-process caller): nothing to validate against.
        let Some(source) = source else { return Ok(()) };
        let trusted = self
            .trusted
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        lock(&self.addresses).check(parameters, &trusted, device, source)
    }

    /// Whether `pin` is the user's PIN, or the one cached at a login in the
    /// last two minutes (AUTH-5).
    pub fn pin_matches(&self, user: UserIdx, pin: &str) -> bool {
        let now = self.clock.now_ms();
        let creds = lock(&self.credentials);
        let c = &creds.by_user[user as usize];
        c.pin == pin
            || c.cached
                .as_ref()
                .is_some_and(|(old, until)| old == pin && now < *until)
    }

    /// Caches the credentials a user just logged in with.
    pub fn cache_credentials(&self, user: UserIdx, pin: &str) {
        let until = self.clock.now_ms().saturating_add(CREDENTIAL_CACHE_MS);
        lock(&self.credentials).get_mut(user).cached = Some((pin.to_string(), until));
    }

    /// A new PIN; it no longer has to change.
    pub fn set_pin(&self, user: UserIdx, pin: String) {
        let mut creds = lock(&self.credentials);
        let c = creds.get_mut(user);
        c.pin = pin;
        c.must_change = false;
    }

    /// Whether the user's PIN is flagged must-change (error 27).
    pub fn pin_must_change(&self, user: UserIdx) -> bool {
        lock(&self.credentials).by_user[user as usize].must_change
    }

    pub fn em_api_running(&self) -> bool {
        self.em_api_running.load(Ordering::Relaxed)
    }

    pub fn set_em_api_running(&self, running: bool) {
        self.em_api_running.store(running, Ordering::Relaxed);
    }

    pub fn em_running(&self) -> bool {
        self.em_running.load(Ordering::Relaxed)
    }

    /// Stops or starts the EM service. Starting again after a stop moves
    /// every pending automatic logout to a day later (TIME-6).
    pub fn set_em_running(&self, running: bool) {
        let was = self.em_running.swap(running, Ordering::Relaxed);
        if running && !was {
            let next_day = self.clock.now_ms().saturating_add(24 * 3600 * 1000);
            lock(&self.sessions).postpone_timers(next_day);
        }
    }
}
