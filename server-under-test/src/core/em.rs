//! The EM rules' state: the directory (fixed at start), and what changes:
//! sessions, service parameters, credentials, addresses, features, whether
//! the EM service runs. One `Em` is shared behind the server's `Arc`.
//!
//! No method here touches a socket. Operations that change something
//! return the [`Effects`] the io layer must deliver (a restart, a push, a
//! count); getters change nothing.

use crate::core::addresses::{AddressBook, Source};
use crate::core::admission::Admission;
use crate::core::call_logs::{self, Moment};
use crate::core::clock::ServerClock;
use crate::core::credentials::Credentials;
use crate::core::directory::{DeviceIdx, Directory, UserIdx};
use crate::core::effects::{Counter, Effect, Effects};
use crate::core::faults::{Fault, Faults};
use crate::core::features::Features;
use crate::core::profile_view::{profile_view, restart_plan};
use crate::core::sessions::{ActiveLogin, Sessions};
use crate::core::troubleshooting::{CLOCK_SKEW_LOGOUT_MS, Cause, Troubleshooting};
use emlab_protocol::lab::{Lab, ServiceParameters};
use emlab_protocol::sccp::ResetType;
use emlab_protocol::{ErrorCode, ServerProfile};
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

pub struct Em {
    pub directory: Directory,
    /// Test-only fault switches (none in normal use).
    pub faults: Faults,
    pub(super) sessions: Mutex<Sessions>,
    pub(super) parameters: RwLock<Arc<ServiceParameters>>,
    /// The Trusted List of IPs, resolved when the parameters are set (IP-2).
    trusted: RwLock<Arc<HashSet<IpAddr>>>,
    addresses: Mutex<AddressBook>,
    pub(super) credentials: Mutex<Credentials>,
    /// False while lab control has the EM service stopped (LIM-4, TIME-6).
    em_running: AtomicBool,
    /// False while lab control has only the EM API (EMService) stopped, so
    /// the phone service cannot reach it (URL-3).
    em_api_running: AtomicBool,
    pub admission: Admission,
    pub clock: ServerClock,
    /// The troubleshooting causes lab control is playing (TRBL-1..4).
    pub troubleshooting: Troubleshooting,
    pub(super) features: Mutex<Features>,
    /// Phones off-hook now: a time-of-day logout waits for them (TIME-4).
    in_call: Mutex<HashSet<DeviceIdx>>,
    /// The router keeps call history at logout (`cme`, LOGS-2).
    keep_history: bool,
    /// Changes the durable store has not taken yet, beside those the
    /// tables track themselves.
    pub(super) parameters_changed: AtomicBool,
    pub(super) clock_changed: AtomicBool,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock would be a bug elsewhere; the data is
    // consistent between calls, so keep serving.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Em {
    pub fn new(lab: &Lab, faults: Faults) -> Self {
        let directory = Directory::from_lab(lab);
        let sessions = Sessions::new(directory.device_count(), directory.user_count());
        let parameters = lab.file.service_parameters.clone();
        let admission = Admission::new(parameters.max_concurrent_requests);
        let credentials = Credentials::new(&directory);
        Em {
            directory,
            faults,
            sessions: Mutex::new(sessions),
            // Host names resolve in the io layer: see `set_trusted`.
            trusted: RwLock::new(Arc::new(HashSet::new())),
            parameters: RwLock::new(Arc::new(parameters)),
            addresses: Mutex::new(AddressBook::default()),
            credentials: Mutex::new(credentials),
            em_running: AtomicBool::new(true),
            em_api_running: AtomicBool::new(true),
            admission,
            clock: ServerClock::new(),
            troubleshooting: Troubleshooting::default(),
            features: Mutex::new(Features::default()),
            in_call: Mutex::new(HashSet::new()),
            keep_history: lab.file.server.keep_history,
            parameters_changed: AtomicBool::new(false),
            clock_changed: AtomicBool::new(false),
        }
    }

    /// Applies every timer due by the lab clock (maximum login time, idle
    /// and time-of-day logouts), then hands over the session table, locked,
    /// so no caller sees a login that should already have ended, with the
    /// effects of the logins that ended (each restarts its phone). A
    /// stopped EM service runs no timers (TIME-6).
    pub fn apply_due_timers(&self) -> (MutexGuard<'_, Sessions>, Effects) {
        let mut s = lock(&self.sessions);
        let mut effects = Effects::default();
        if self.em_running() {
            let now = self.clock.now_ms();
            // Idle timers are CME's (TIME-5): elsewhere there is nothing
            // to keep awake, and no lock to take on every request.
            if self.directory.profile == ServerProfile::Cme {
                for &d in lock(&self.in_call).iter() {
                    s.keep_awake(d, now);
                }
            }
            let mut ended = s.expire_due(now);
            ended.extend(self.time_of_day_logouts(&mut s, now));
            for (device, login) in s.transient_due(now) {
                // What CallManager's event log shows for it (seed D).
                tracing::warn!(
                    device = %self.directory.device(device).name,
                    user = %self.directory.user(login.user).id,
                    "Error: DeviceTransientConnection - Transient connection attempt"
                );
                ended.push((device, login));
            }
            effects = self.logins_ended(&ended, true);
        }
        (s, effects)
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
        let in_call = lock(&self.in_call).clone();
        for &d in &in_call {
            if s.on_device(d).is_some() {
                s.log_out_on_hook(d);
            }
        }
        s.logout_all_except(&in_call)
    }

    /// The phone went off-hook or on-hook (SCCP OffHook/OnHook): either
    /// restarts the idle timer, and an off-hook phone is not idle at all
    /// (TIME-5); a time-of-day logout that met a call happens on-hook (TIME-4).
    pub fn hook_changed(&self, device: DeviceIdx, off_hook: bool) -> Effects {
        {
            let mut in_call = lock(&self.in_call);
            if off_hook {
                in_call.insert(device);
            } else {
                in_call.remove(&device);
            }
        }
        let (mut s, mut effects) = self.apply_due_timers();
        s.touch(device, self.clock.now_ms());
        if !off_hook && s.take_logout_on_hook(device) {
            let ended: Vec<_> = s.logout(device).map(|l| (device, l)).into_iter().collect();
            drop(s);
            effects.extend(self.logins_ended(&ended, true));
        }
        effects
    }

    /// Logouts the server or an administrator made: each is counted, the
    /// user's Call Backs end (LOG-8), the phone restarts, and call logs
    /// clear if the profile says so.
    pub fn logins_ended(&self, ended: &[(DeviceIdx, ActiveLogin)], automatic: bool) -> Effects {
        let mut effects = Effects::default();
        for &(device, login) in ended {
            effects.count(Counter::Logout);
            if automatic {
                effects.count(Counter::AutomaticLogout);
            }
            lock(&self.features).logged_out(login.user);
            effects.push(Effect::ProfileChanged {
                device,
                before: Some(login),
                after: None,
            });
            effects.extend(self.clear_call_logs(device, Moment::OtherLogout));
        }
        effects
    }

    /// An administrator logs `device` out (lab control); returns who was there.
    pub fn admin_logout(&self, device: DeviceIdx) -> (Option<ActiveLogin>, Effects) {
        let (mut s, mut effects) = self.apply_due_timers();
        let was = s.logout(device);
        drop(s);
        if let Some(login) = was {
            effects.extend(self.logins_ended(&[(device, login)], false));
        }
        (was, effects)
    }

    pub fn features(&self) -> MutexGuard<'_, Features> {
        lock(&self.features)
    }

    /// What a registered phone must be told after its login changed from
    /// `before` to `after`: restart, or restart then reset (RST-1..3).
    pub fn restart_plan(
        &self,
        device: DeviceIdx,
        before: Option<ActiveLogin>,
        after: Option<ActiveLogin>,
    ) -> &'static [ResetType] {
        if self.faults.has(Fault::ResetInsteadOfRestart) || self.plays(Cause::DnsCallManager) {
            return &[ResetType::Reset];
        }
        let view = |login| profile_view(&self.directory, device, login, &self.faults);
        restart_plan(&view(before), &view(after))
    }

    /// The service parameters in force.
    pub fn parameters(&self) -> Arc<ServiceParameters> {
        self.parameters
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The Trusted List's addresses, resolved by the io layer (IP-2).
    pub fn set_trusted(&self, trusted: HashSet<IpAddr>) {
        *self.trusted.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(trusted);
    }

    /// Replaces the service parameters (already checked) and, together,
    /// the addresses their Trusted List resolved to, so no request sees
    /// new parameters with the old list.
    pub fn set_parameters(&self, parameters: ServiceParameters, trusted: HashSet<IpAddr>) {
        self.admission.set_limit(parameters.max_concurrent_requests);
        self.set_trusted(trusted);
        *self.parameters.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(parameters);
        self.parameters_changed.store(true, Ordering::Relaxed);
    }

    /// Clears the phone's call logs if `moment` calls for it (LOGS-1/2):
    /// a push to its address, when it ever registered.
    pub fn clear_call_logs(&self, device: DeviceIdx, moment: Moment) -> Option<Effect> {
        let clears = call_logs::clears(
            self.directory.profile,
            self.keep_history,
            moment,
            self.parameters().clear_call_logs,
        );
        if self.faults.has(Fault::KeepCallLogs) || !clears {
            return None;
        }
        let ip = lock(&self.addresses).address_of(device)?;
        Some(Effect::ClearCallLogs { device, ip })
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
        if self.faults.has(Fault::CmeLogsInWithPin) && self.directory.user(user).password.is_some()
        {
            return self.directory.user(user).pin == pin;
        }
        lock(&self.credentials).matches(user, pin, self.clock.now_ms())
    }

    /// Caches the credentials a user just logged in with.
    pub fn cache_credentials(&self, user: UserIdx, pin: &str) {
        lock(&self.credentials).cache(user, pin, self.clock.now_ms());
    }

    /// A new PIN; it no longer has to change.
    pub fn set_pin(&self, user: UserIdx, pin: String) {
        lock(&self.credentials).set(user, pin);
    }

    /// Flags (or clears) the user's PIN as must-change (lab control).
    pub fn flag_must_change(&self, user: UserIdx, must_change: bool) {
        lock(&self.credentials).flag_must_change(user, must_change);
    }

    /// Whether the user's PIN is flagged must-change (error 27).
    pub fn pin_must_change(&self, user: UserIdx) -> bool {
        lock(&self.credentials).get(user).must_change
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

    /// Whether lab control plays `cause` (and no fault ignores it).
    fn plays(&self, cause: Cause) -> bool {
        let ignored = match cause {
            Cause::ClockSkew => Fault::IgnoreClockSkew,
            Cause::SwitchVersion => Fault::IgnoreSwitchVersion,
            Cause::DnsCallManager => Fault::IgnoreDnsCallManager,
            Cause::NoLogoutProfile => Fault::IgnoreNoLogoutProfile,
        };
        self.troubleshooting.is_on(cause) && !self.faults.has(ignored)
    }

    /// Plays or stops a troubleshooting cause (lab control, TRBL-1..4);
    /// returns what it did at once. Clock skew starts the 5-minute logouts
    /// of the logins in place; a switch version loses every EM login.
    pub fn play(&self, cause: Cause, on: bool) -> Effects {
        let was = self.troubleshooting.set(cause, on);
        if was == on || (on && !self.plays(cause)) {
            return Effects::default();
        }
        match (cause, on) {
            (Cause::ClockSkew, true) => {
                let (mut s, effects) = self.apply_due_timers();
                s.start_transient_logouts(self.clock.now_ms(), CLOCK_SKEW_LOGOUT_MS);
                effects
            }
            (Cause::ClockSkew, false) => {
                let (mut s, effects) = self.apply_due_timers();
                s.stop_transient_logouts();
                effects
            }
            (Cause::SwitchVersion, true) => {
                let (mut s, mut effects) = self.apply_due_timers();
                let lost = s.logout_all();
                drop(s);
                tracing::warn!(
                    logins = lost.len(),
                    "publisher switch version: EM login data lost, every EM profile logged out"
                );
                effects.extend(self.logins_ended(&lost, true));
                effects
            }
            _ => Effects::default(),
        }
    }

    /// How long a new login lasts while the clocks disagree (TRBL-1).
    pub fn clock_skew_logout_ms(&self) -> Option<u64> {
        self.plays(Cause::ClockSkew).then_some(CLOCK_SKEW_LOGOUT_MS)
    }

    /// Logins need the publisher's database: during a switch version they
    /// fail with 6 (TRBL-2).
    pub fn publisher_reachable(&self) -> Result<(), ErrorCode> {
        if self.plays(Cause::SwitchVersion) {
            return Err(ErrorCode::DatabaseError);
        }
        Ok(())
    }

    /// Whether `device` has a configuration to load with `login` on it:
    /// without a logout profile (TRBL-4) a device nobody is logged in on
    /// has none, and its phone stays in "Registering".
    pub fn has_configuration(&self, login: Option<ActiveLogin>) -> bool {
        login.is_some() || !self.plays(Cause::NoLogoutProfile)
    }

    /// Moves the lab clock forward (lab control); due timers fire at the
    /// next access.
    pub fn advance_clock(&self, ms: u64) {
        self.clock.advance(ms);
        self.clock_changed.store(true, Ordering::Relaxed);
    }
}
