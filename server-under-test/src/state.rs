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
struct Credential {
    pin: String,
    cached: Option<(String, u64)>,
    must_change: bool,
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
    credentials: Mutex<Vec<Credential>>,
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
            credentials: Mutex::new(credentials),
            em_running: AtomicBool::new(true),
            em_api_running: AtomicBool::new(true),
            admission,
            metrics: Metrics::default(),
            clock: ServerClock::new(),
            control: ControlChannel::default(),
            call_logs: CallLogs::new(lab),
            features: Mutex::new(Features::default()),
        }
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
                s.logout_on_hook.insert(d);
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
        } else if s.logout_on_hook.remove(&device) {
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
        let c = &creds[user as usize];
        c.pin == pin
            || c.cached
                .as_ref()
                .is_some_and(|(old, until)| old == pin && now < *until)
    }

    /// Caches the credentials a user just logged in with.
    pub fn cache_credentials(&self, user: UserIdx, pin: &str) {
        let until = self.clock.now_ms().saturating_add(CREDENTIAL_CACHE_MS);
        lock(&self.credentials)[user as usize].cached = Some((pin.to_string(), until));
    }

    /// A new PIN; it no longer has to change.
    pub fn set_pin(&self, user: UserIdx, pin: String) {
        let mut creds = lock(&self.credentials);
        creds[user as usize].pin = pin;
        creds[user as usize].must_change = false;
    }

    /// Whether the user's PIN is flagged must-change (error 27).
    pub fn pin_must_change(&self, user: UserIdx) -> bool {
        lock(&self.credentials)[user as usize].must_change
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
