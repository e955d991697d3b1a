//! Who is logged in where: the one piece of mutable EM state.
//!
//! Every check-and-change happens under a single lock, so the multiple-login
//! rule (MULTI-1..5) holds under any interleaving of concurrent logins: two
//! logins of one user can never both see "not logged in elsewhere".
//! Emulated database time is spent *before* taking the lock.

use crate::core::directory::{DeviceIdx, ProfileIdx, UserIdx};
use emlab_protocol::ErrorCode;
use emlab_protocol::ServerProfile;
use emlab_protocol::lab::MultipleLoginBehavior;
use std::collections::{BTreeSet, HashMap, HashSet};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActiveLogin {
    pub user: UserIdx,
    pub profile: ProfileIdx,
    pub since_ms: u64,
    /// Server-clock time of the automatic logout, if any.
    pub expires_ms: Option<u64>,
    /// The profile's max-idle-time in minutes (TIME-5), if any.
    pub idle_minutes: Option<u32>,
}

/// What a successful login did besides logging in.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LoginEffect {
    /// The login this device had before, if any: the same user reloading,
    /// or the previous user, logged out by the next (LOG-7).
    pub replaced: Option<ActiveLogin>,
    /// Logins on the user's other devices ended by auto-logout (MULTI-3).
    pub logged_out: Vec<(DeviceIdx, ActiveLogin)>,
}

pub struct Sessions {
    by_device: Vec<Option<ActiveLogin>>,
    /// Devices each user is logged in on; almost always zero or one.
    by_user: Vec<Vec<DeviceIdx>>,
    expiries: BTreeSet<(u64, DeviceIdx)>,
    /// The last user who logged in on each device (Remember Last User, AUTH-7).
    last_user: Vec<Option<UserIdx>>,
    /// Idle deadlines (TIME-5), and each device's current one.
    idle: BTreeSet<(u64, DeviceIdx)>,
    idle_deadline: Vec<Option<u64>>,
    /// Devices to log out when they go on-hook (a time-of-day logout met a call, TIME-4).
    logout_on_hook: HashSet<DeviceIdx>,
    /// Clock-skew logouts (TRBL-1), only while that cause is played: a map
    /// rather than a column, because it is empty in every other run.
    transient: BTreeSet<(u64, DeviceIdx)>,
    transient_deadline: HashMap<DeviceIdx, u64>,
    /// When time-of-day logouts were last checked.
    pub time_of_day_checked_ms: u64,
    /// Devices whose record changed since the durable store last took
    /// them; `None` when nothing is stored. Marked under the same lock as
    /// the change, so the store always takes a consistent cut: a user moved
    /// from one device to another is never saved on both.
    changed: Option<BTreeSet<DeviceIdx>>,
}

/// Everything the session table holds about one device: what the durable
/// store saves and restores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceRecord {
    pub login: Option<ActiveLogin>,
    /// The idle deadline in force (TIME-5).
    pub idle_deadline_ms: Option<u64>,
    /// A time-of-day logout waits for the phone to go on-hook (TIME-4).
    pub logout_on_hook: bool,
    /// The last user who logged in here (AUTH-7).
    pub last_user: Option<UserIdx>,
}

/// The rules a login is checked against.
pub struct LoginRules {
    pub behavior: MultipleLoginBehavior,
    pub profile: ServerProfile,
    /// While publisher and subscriber clocks disagree, the login ends this
    /// long after it began (TRBL-1).
    pub transient_after_ms: Option<u64>,
}

impl Sessions {
    pub fn new(devices: usize, users: usize) -> Self {
        Sessions {
            by_device: vec![None; devices],
            by_user: vec![Vec::new(); users],
            expiries: BTreeSet::new(),
            last_user: vec![None; devices],
            idle: BTreeSet::new(),
            idle_deadline: vec![None; devices],
            logout_on_hook: HashSet::new(),
            transient: BTreeSet::new(),
            transient_deadline: HashMap::new(),
            time_of_day_checked_ms: 0,
            changed: None,
        }
    }

    /// Starts recording which devices change, for the durable store.
    pub fn track_changes(&mut self) {
        self.changed.get_or_insert_with(BTreeSet::new);
    }

    /// The devices changed since the last call, with their records now.
    pub fn take_changes(&mut self) -> Vec<(DeviceIdx, DeviceRecord)> {
        let Some(changed) = self.changed.as_mut() else {
            return Vec::new();
        };
        let devices = std::mem::take(changed);
        devices.into_iter().map(|d| (d, self.record(d))).collect()
    }

    fn mark(&mut self, device: DeviceIdx) {
        if let Some(changed) = self.changed.as_mut() {
            changed.insert(device);
        }
    }

    /// What the table holds about `device`.
    pub fn record(&self, device: DeviceIdx) -> DeviceRecord {
        DeviceRecord {
            login: self.by_device[device as usize],
            idle_deadline_ms: self.idle_deadline[device as usize],
            logout_on_hook: self.logout_on_hook.contains(&device),
            last_user: self.last_user[device as usize],
        }
    }

    /// Puts back a saved record, as it was: no rule is applied, because
    /// the record was saved from a table where every rule held.
    pub fn restore(&mut self, device: DeviceIdx, record: DeviceRecord) {
        self.logout(device);
        self.last_user[device as usize] = record.last_user;
        if let Some(login) = record.login {
            self.by_device[device as usize] = Some(login);
            self.by_user[login.user as usize].push(device);
            if let Some(at) = login.expires_ms {
                self.expiries.insert((at, device));
            }
            if let Some(at) = record.idle_deadline_ms {
                self.set_idle_deadline(device, at);
            }
            if record.logout_on_hook {
                self.logout_on_hook.insert(device);
            }
        }
    }

    /// A time-of-day logout met a call: log `device` out when it hangs up (TIME-4).
    pub fn log_out_on_hook(&mut self, device: DeviceIdx) {
        self.logout_on_hook.insert(device);
        self.mark(device);
    }

    /// Whether `device` waited to be logged out on-hook; it no longer does.
    pub fn take_logout_on_hook(&mut self, device: DeviceIdx) -> bool {
        let waited = self.logout_on_hook.remove(&device);
        if waited {
            self.mark(device);
        }
        waited
    }

    pub fn on_device(&self, device: DeviceIdx) -> Option<ActiveLogin> {
        self.by_device[device as usize]
    }

    pub fn devices_of(&self, user: UserIdx) -> &[DeviceIdx] {
        &self.by_user[user as usize]
    }

    pub fn last_user_on(&self, device: DeviceIdx) -> Option<UserIdx> {
        self.last_user[device as usize]
    }

    /// Logs `user` in on `device`, applying the multiple-login rule.
    pub fn login(
        &mut self,
        device: DeviceIdx,
        login: ActiveLogin,
        rules: &LoginRules,
    ) -> Result<LoginEffect, ErrorCode> {
        let mut effect = LoginEffect::default();
        let elsewhere: Vec<DeviceIdx> = self.by_user[login.user as usize]
            .iter()
            .copied()
            .filter(|&d| d != device)
            .collect();
        // Check everything before changing anything.
        if !elsewhere.is_empty() && rules.behavior == MultipleLoginBehavior::NotAllowed {
            return Err(ErrorCode::UserLoggedInElsewhere);
        }
        if let Some(current) = self.by_device[device as usize] {
            if current.user != login.user && rules.profile == ServerProfile::Ucm4 {
                return Err(ErrorCode::AnotherUserLoggedIn);
            }
            // The next user logs the previous one out (LOG-7); the same user
            // logging in again simply reloads.
            self.logout(device);
            effect.replaced = Some(current);
        }
        if rules.behavior == MultipleLoginBehavior::AutoLogout {
            for d in elsewhere {
                if let Some(l) = self.logout(d) {
                    effect.logged_out.push((d, l));
                }
            }
        }
        self.mark(device);
        self.by_device[device as usize] = Some(login);
        self.last_user[device as usize] = Some(login.user);
        if let Some(idle) = login.idle_minutes {
            self.set_idle_deadline(device, login.since_ms + idle as u64 * 60_000);
        }
        self.by_user[login.user as usize].push(device);
        if let Some(at) = login.expires_ms {
            self.expiries.insert((at, device));
        }
        if let Some(after) = rules.transient_after_ms {
            self.set_transient_deadline(device, login.since_ms.saturating_add(after));
        }
        Ok(effect)
    }

    fn set_transient_deadline(&mut self, device: DeviceIdx, at: u64) {
        if let Some(old) = self.transient_deadline.insert(device, at) {
            self.transient.remove(&(old, device));
        }
        self.transient.insert((at, device));
    }

    /// The clocks drifted apart at `now_ms` (TRBL-1): every login already
    /// in place ends `after_ms` later; new ones get their own deadline.
    pub fn start_transient_logouts(&mut self, now_ms: u64, after_ms: u64) {
        let logged_in: Vec<DeviceIdx> = (0..self.by_device.len() as DeviceIdx)
            .filter(|&d| self.by_device[d as usize].is_some())
            .filter(|d| !self.transient_deadline.contains_key(d))
            .collect();
        for d in logged_in {
            self.set_transient_deadline(d, now_ms.saturating_add(after_ms));
        }
    }

    /// The clocks agree again: no login ends for that reason any more.
    pub fn stop_transient_logouts(&mut self) {
        self.transient.clear();
        self.transient_deadline.clear();
    }

    fn set_idle_deadline(&mut self, device: DeviceIdx, at: u64) {
        self.mark(device);
        if let Some(old) = self.idle_deadline[device as usize].replace(at) {
            self.idle.remove(&(old, device));
        }
        self.idle.insert((at, device));
    }

    /// The phone went off-hook: its idle timer starts again (TIME-5).
    pub fn touch(&mut self, device: DeviceIdx, now_ms: u64) {
        if let Some(idle) = self.by_device[device as usize].and_then(|l| l.idle_minutes) {
            self.set_idle_deadline(device, now_ms.saturating_add(idle as u64 * 60_000));
        }
    }

    /// A phone that is off-hook is not idle (TIME-5): an idle deadline
    /// that came while it was in a call moves to a full idle time from now.
    pub fn keep_awake(&mut self, device: DeviceIdx, now_ms: u64) {
        if self.idle_deadline[device as usize].is_some_and(|at| at <= now_ms) {
            self.touch(device, now_ms);
        }
    }

    /// Logs out every device but those in `spared`; returns the logins it ended.
    pub fn logout_all_except(
        &mut self,
        spared: &HashSet<DeviceIdx>,
    ) -> Vec<(DeviceIdx, ActiveLogin)> {
        (0..self.by_device.len() as DeviceIdx)
            .filter(|d| !spared.contains(d))
            .filter_map(|d| self.logout(d).map(|l| (d, l)))
            .collect()
    }

    /// Logs the device out; returns who was logged in.
    pub fn logout(&mut self, device: DeviceIdx) -> Option<ActiveLogin> {
        let mut changed = self.logout_on_hook.remove(&device);
        if let Some(at) = self.idle_deadline[device as usize].take() {
            self.idle.remove(&(at, device));
            changed = true;
        }
        let login = self.by_device[device as usize].take();
        if changed || login.is_some() {
            self.mark(device);
        }
        let login = login?;
        if !self.transient.is_empty()
            && let Some(at) = self.transient_deadline.remove(&device)
        {
            self.transient.remove(&(at, device));
        }
        self.by_user[login.user as usize].retain(|&d| d != device);
        if let Some(at) = login.expires_ms {
            self.expiries.remove(&(at, device));
        }
        Some(login)
    }

    /// Logs out every device; returns the logins it ended.
    pub fn logout_all(&mut self) -> Vec<(DeviceIdx, ActiveLogin)> {
        (0..self.by_device.len() as DeviceIdx)
            .filter_map(|d| self.logout(d).map(|l| (d, l)))
            .collect()
    }

    /// Moves every pending automatic logout to `at` (after an EM service
    /// restart, TIME-6).
    pub fn postpone_timers(&mut self, at: u64) {
        let devices: Vec<DeviceIdx> = std::mem::take(&mut self.expiries)
            .into_iter()
            .map(|(_, d)| d)
            .collect();
        for d in devices {
            if let Some(login) = self.by_device[d as usize].as_mut() {
                login.expires_ms = Some(at);
                self.expiries.insert((at, d));
                self.mark(d);
            }
        }
    }

    /// Logs out every login whose timer is due at `now_ms`; returns the logins it ended.
    pub fn expire_due(&mut self, now_ms: u64) -> Vec<(DeviceIdx, ActiveLogin)> {
        let mut due = self.logout_due(now_ms, |s| &mut s.idle);
        due.extend(self.logout_due(now_ms, |s| &mut s.expiries));
        due
    }

    /// Logs out every login whose clock-skew deadline is due (TRBL-1).
    pub fn transient_due(&mut self, now_ms: u64) -> Vec<(DeviceIdx, ActiveLogin)> {
        self.logout_due(now_ms, |s| &mut s.transient)
    }

    /// Logs out the logins whose deadline in `timers` is due at `now_ms`.
    /// A logout removes the device from every timer set; a deadline left
    /// for a device nobody is logged in on any more is dropped.
    fn logout_due(
        &mut self,
        now_ms: u64,
        timers: fn(&mut Sessions) -> &mut BTreeSet<(u64, DeviceIdx)>,
    ) -> Vec<(DeviceIdx, ActiveLogin)> {
        let mut due = Vec::new();
        while let Some(&(at, device)) = timers(self).first() {
            if at > now_ms {
                break;
            }
            match self.logout(device) {
                Some(l) => due.push((device, l)),
                None => {
                    timers(self).pop_first();
                }
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(user: UserIdx, expires_ms: Option<u64>) -> ActiveLogin {
        ActiveLogin {
            user,
            profile: 0,
            since_ms: 0,
            expires_ms,
            idle_minutes: None,
        }
    }

    fn rules(behavior: MultipleLoginBehavior) -> LoginRules {
        LoginRules {
            behavior,
            profile: ServerProfile::Ucm,
            transient_after_ms: None,
        }
    }

    /// TRBL-1: with the clocks apart, logins in place end 5 minutes after
    /// the drift and new ones 5 minutes after they began; with the clocks
    /// together again, nothing ends.
    #[test]
    fn clock_skew_ends_every_login_five_minutes_after_it_began() {
        let mut s = Sessions::new(3, 3);
        let r = rules(MultipleLoginBehavior::NotAllowed);
        s.login(0, login(0, None), &r).unwrap();
        s.start_transient_logouts(1_000, 300_000);
        let skewed = LoginRules {
            transient_after_ms: Some(300_000),
            ..rules(MultipleLoginBehavior::NotAllowed)
        };
        let mut later = login(1, None);
        later.since_ms = 60_000;
        s.login(1, later, &skewed).unwrap();
        assert!(s.transient_due(300_999).is_empty());
        assert_eq!(s.transient_due(301_000), vec![(0, login(0, None))]);
        assert!(s.transient_due(359_999).is_empty());
        assert_eq!(s.transient_due(360_000), vec![(1, later)]);
        s.login(2, login(2, None), &skewed).unwrap();
        s.stop_transient_logouts();
        assert!(s.transient_due(u64::MAX).is_empty());
        assert!(s.on_device(2).is_some());
    }

    #[test]
    fn not_allowed_refuses_a_second_device_but_not_the_same_one() {
        let mut s = Sessions::new(3, 2);
        let r = rules(MultipleLoginBehavior::NotAllowed);
        s.login(0, login(0, None), &r).unwrap();
        assert_eq!(
            s.login(1, login(0, None), &r),
            Err(ErrorCode::UserLoggedInElsewhere)
        );
        assert!(s.login(0, login(0, None), &r).is_ok());
        assert_eq!(s.devices_of(0), &[0]);
    }

    #[test]
    fn auto_logout_moves_the_user() {
        let mut s = Sessions::new(3, 2);
        let r = rules(MultipleLoginBehavior::AutoLogout);
        s.login(0, login(0, None), &r).unwrap();
        let effect = s.login(1, login(0, None), &r).unwrap();
        assert_eq!(effect.logged_out, vec![(0, login(0, None))]);
        assert_eq!(s.on_device(0), None);
        assert_eq!(s.devices_of(0), &[1]);
    }

    #[test]
    fn expiry_logs_out_in_time_order() {
        let mut s = Sessions::new(3, 3);
        let r = rules(MultipleLoginBehavior::Allowed);
        s.login(0, login(0, Some(500)), &r).unwrap();
        s.login(1, login(1, Some(100)), &r).unwrap();
        s.login(2, login(2, None), &r).unwrap();
        assert_eq!(s.expire_due(99), vec![]);
        let due: Vec<DeviceIdx> = s.expire_due(1000).into_iter().map(|(d, _)| d).collect();
        assert_eq!(due, vec![1, 0]);
        assert!(s.on_device(2).is_some());
    }

    #[test]
    fn allowed_keeps_the_user_on_both_devices() {
        let mut s = Sessions::new(3, 2);
        let r = rules(MultipleLoginBehavior::Allowed);
        s.login(0, login(0, None), &r).unwrap();
        let effect = s.login(1, login(0, None), &r).unwrap();
        assert_eq!(effect, LoginEffect::default());
        assert_eq!(s.devices_of(0), &[0, 1]);
    }

    /// LOG-7: the next user logs the previous one out, except under ucm4,
    /// which refuses with the error of its era and changes nothing.
    #[test]
    fn another_user_replaces_the_first_except_under_ucm4() {
        let mut s = Sessions::new(2, 2);
        let r = rules(MultipleLoginBehavior::NotAllowed);
        s.login(0, login(0, Some(100)), &r).unwrap();
        let ucm4 = LoginRules {
            profile: ServerProfile::Ucm4,
            ..rules(MultipleLoginBehavior::NotAllowed)
        };
        assert_eq!(
            s.login(0, login(1, None), &ucm4),
            Err(ErrorCode::AnotherUserLoggedIn)
        );
        assert_eq!(s.on_device(0), Some(login(0, Some(100))));
        let effect = s.login(0, login(1, None), &r).unwrap();
        assert_eq!(effect.replaced, Some(login(0, Some(100))));
        assert_eq!(s.devices_of(0), &[] as &[DeviceIdx]);
        // The replaced login's timer went with it.
        assert_eq!(s.expire_due(1_000), vec![]);
        assert_eq!(s.on_device(0).map(|l| l.user), Some(1));
    }

    /// A refused login changes nothing: checks come before changes.
    #[test]
    fn a_refused_login_leaves_every_session_as_it_was() {
        let mut s = Sessions::new(3, 2);
        let r = rules(MultipleLoginBehavior::NotAllowed);
        s.login(0, login(0, None), &r).unwrap();
        s.login(1, login(1, None), &r).unwrap();
        assert!(s.login(1, login(0, None), &r).is_err());
        assert_eq!(s.on_device(1).map(|l| l.user), Some(1));
        assert_eq!(s.devices_of(0), &[0]);
        assert_eq!(s.last_user_on(1), Some(1));
    }

    /// TIME-5: an idle login ends `idle_minutes` after login, and going
    /// off-hook starts the count again.
    #[test]
    fn idle_timer_restarts_on_touch_and_logs_out_when_due() {
        let mut s = Sessions::new(1, 1);
        let r = rules(MultipleLoginBehavior::Allowed);
        let idle = ActiveLogin {
            idle_minutes: Some(1),
            ..login(0, None)
        };
        s.login(0, idle, &r).unwrap();
        s.touch(0, 30_000);
        assert_eq!(s.expire_due(60_000), vec![], "touched at 30 s: due at 90 s");
        assert_eq!(s.expire_due(90_000), vec![(0, idle)]);
        assert_eq!(s.on_device(0), None);
        assert_eq!(
            s.last_user_on(0),
            Some(0),
            "remembered after logout (AUTH-7)"
        );
    }

    /// TIME-6: after an EM service restart every pending automatic logout
    /// moves to the new time, and only pending ones.
    #[test]
    fn postponed_timers_fire_at_the_new_time() {
        let mut s = Sessions::new(3, 3);
        let r = rules(MultipleLoginBehavior::Allowed);
        s.login(0, login(0, Some(100)), &r).unwrap();
        s.login(1, login(1, Some(200)), &r).unwrap();
        s.login(2, login(2, None), &r).unwrap();
        s.postpone_timers(5_000);
        assert_eq!(s.expire_due(4_999), vec![]);
        let due: Vec<DeviceIdx> = s.expire_due(5_000).into_iter().map(|(d, _)| d).collect();
        assert_eq!(due, vec![0, 1]);
        assert!(s.on_device(2).is_some());
    }

    /// The durable store takes a consistent cut: a user that auto-logout
    /// moved is taken off the old device and onto the new one together,
    /// and restoring what was taken rebuilds the same table, timers too.
    #[test]
    fn changes_are_taken_together_and_restore_to_the_same_table() {
        let mut s = Sessions::new(3, 2);
        s.track_changes();
        let r = rules(MultipleLoginBehavior::AutoLogout);
        s.login(0, login(0, Some(500)), &r).unwrap();
        assert_eq!(s.take_changes().len(), 1);
        s.login(1, login(0, Some(700)), &r).unwrap();
        let changes = s.take_changes();
        let devices: Vec<DeviceIdx> = changes.iter().map(|(d, _)| *d).collect();
        assert_eq!(devices, vec![0, 1]);
        assert_eq!(changes[0].1.login, None);
        assert_eq!(changes[0].1.last_user, Some(0), "AUTH-7 survives");
        assert!(s.take_changes().is_empty(), "each change is taken once");
        let mut restored = Sessions::new(3, 2);
        for (d, record) in changes {
            restored.restore(d, record);
        }
        assert_eq!(restored.devices_of(0), &[1]);
        assert_eq!(restored.expire_due(699), vec![]);
        assert_eq!(restored.expire_due(700), vec![(1, login(0, Some(700)))]);
    }

    /// Without a store nothing is recorded.
    #[test]
    fn untracked_sessions_record_no_changes() {
        let mut s = Sessions::new(1, 1);
        s.login(0, login(0, None), &rules(MultipleLoginBehavior::Allowed))
            .unwrap();
        assert!(s.take_changes().is_empty());
    }

    /// TIME-4: a time-of-day logout spares the phones in a call.
    #[test]
    fn logout_all_except_spares_the_given_devices() {
        let mut s = Sessions::new(3, 3);
        let r = rules(MultipleLoginBehavior::Allowed);
        for d in 0..3 {
            s.login(d, login(d, None), &r).unwrap();
        }
        let ended: Vec<DeviceIdx> = s
            .logout_all_except(&HashSet::from([1]))
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        assert_eq!(ended, vec![0, 2]);
        assert!(s.on_device(1).is_some());
    }
}
