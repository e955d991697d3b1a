//! Login and logout themselves, shared by both ways in: the EM API (an
//! application acting for a user) and the phone-facing EM service (the user
//! at the phone). Both count against Maximum Concurrent Requests, because
//! Cisco's EM service is one service behind both.
//!
//! Order of checks, and why:
//! 1. admission (26): fails at once, before any database work;
//! 2. emulated database time, then device (11, 22), user (23), profile (12);
//! 3. under the session lock: the multiple-login rule (25, 18) and the change,
//!    so no interleaving of concurrent logins can break MULTI-5.

use crate::addresses::Source;
use crate::call_logs::Moment;
use crate::directory::DeviceIdx;
use crate::faults::Fault;
use crate::sessions::{ActiveLogin, LoginRules};
use crate::state::ServerState;
use emlab_protocol::lab::MultipleLoginBehavior;
use emlab_protocol::{ErrorCode, ServerProfile};
use std::sync::atomic::Ordering;

/// What to log in where.
pub struct LoginOrder<'a> {
    pub device_name: &'a str,
    pub user_id: &'a str,
    /// A named profile; `None` for the user's default, else the model's.
    pub profile: Option<&'a str>,
    /// exclusiveDuration in minutes, if any.
    pub exclusive_minutes: Option<u32>,
    /// Where the request came from, for Validate IP Address (IP-1..4).
    pub source: Option<Source>,
}

/// The emulated database time of one login/logout (LIM-1 demos); an
/// emulated database past its capacity fails with 6 (LIM-2).
async fn database_work(state: &ServerState) -> Result<(), ErrorCode> {
    let ms = state.directory.operation_time_ms;
    if ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    match state.directory.database_capacity {
        Some(capacity) if state.admission.in_progress() > capacity => Err(ErrorCode::DatabaseError),
        _ => Ok(()),
    }
}

pub async fn login(state: &ServerState, order: LoginOrder<'_>) -> Result<(), ErrorCode> {
    let busy = if state.faults.has(Fault::Answer25For26) {
        ErrorCode::UserLoggedInElsewhere
    } else {
        ErrorCode::Busy
    };
    let _permit = state.admission.try_enter().ok_or(busy)?;
    database_work(state).await?;
    let dir = &state.directory;
    let device = dir
        .device_idx(order.device_name)
        .ok_or(ErrorCode::DeviceNotFound)?;
    if !dir.device(device).em_enabled && !state.faults.has(Fault::IgnoreEmDisabled) {
        return Err(ErrorCode::DeviceLogonDisabled);
    }
    let parameters = state.parameters();
    state.check_source(&parameters, Some(device), order.source)?;
    // BTN-6: CallManager 4.x logs a 7940 in only on its 1- or 2-line template.
    let d = dir.device(device);
    if dir.profile == ServerProfile::Ucm4
        && d.model.name == "7940"
        && !matches!(d.template.as_str(), "7940 1-Line" | "7940 2-Line")
    {
        return Err(ErrorCode::ProfileNotFound);
    }
    let user = dir.user_idx(order.user_id).ok_or(ErrorCode::UserNotFound)?;
    let profile = dir.resolve_profile(user, device, order.profile)?;
    // The user's own maximum login time replaces the service parameter
    // (TIME-3; 0:00 is no limit); the earlier of it and exclusiveDuration wins.
    let max_login = match dir.user(user).max_login_minutes {
        Some(m) => (m > 0).then_some(m),
        None => parameters.max_login_minutes(),
    };
    let max_login = max_login.filter(|_| !state.faults.has(Fault::IgnoreMaxLoginTime));
    let minutes = match (order.exclusive_minutes, max_login) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let rules = LoginRules {
        behavior: if state.faults.has(Fault::AllowSecondDevice) {
            MultipleLoginBehavior::Allowed
        } else {
            dir.multiple_login_behavior(parameters.multiple_login_behavior)
        },
        profile: dir.profile,
    };
    let mut sessions = state.apply_due_timers();
    let now = state.clock.now_ms();
    let active = ActiveLogin {
        user,
        profile,
        since_ms: now,
        expires_ms: minutes.map(|m| now.saturating_add(m as u64 * 60_000)),
        idle_minutes: dir.profile(profile).max_idle_minutes,
    };
    let effect = sessions.login(device, active, &rules)?;
    drop(sessions);
    // Logins the server ended to make room, then this device's own change.
    state.logins_ended(&effect.logged_out, true);
    if let Some(previous) = effect.replaced.filter(|p| p.user != user) {
        // The previous user is logged out (LOG-7), but the phone restarts
        // once, into the new profile, so this is counted, not restarted.
        state.features().logged_out(previous.user);
        state.metrics.logouts.fetch_add(1, Ordering::Relaxed);
        state
            .metrics
            .automatic_logouts
            .fetch_add(1, Ordering::Relaxed);
    }
    // The same user logging in again where they already are is one
    // session, not two: em_logins_total counts sessions begun.
    let again = effect.replaced.is_some_and(|p| p.user == user);
    state.profile_changed(device, effect.replaced, Some(active));
    state.clear_call_logs(device, Moment::ManualLogin);
    if !again {
        state.metrics.logins.fetch_add(1, Ordering::Relaxed);
    }
    Ok(())
}

/// Logs `device_name` out if `may_act_for(user_id)` allows it for the user
/// who is logged in there (error 10 otherwise).
pub async fn logout(
    state: &ServerState,
    device_name: &str,
    source: Option<Source>,
    may_act_for: impl FnOnce(&str) -> bool,
) -> Result<(), ErrorCode> {
    let _permit = state.admission.try_enter().ok_or(ErrorCode::Busy)?;
    database_work(state).await?;
    let dir = &state.directory;
    let device: DeviceIdx = dir
        .device_idx(device_name)
        .ok_or(ErrorCode::DeviceNotFound)?;
    state.check_source(&state.parameters(), Some(device), source)?;
    let em_enabled = dir.device(device).em_enabled;
    let mut sessions = state.apply_due_timers();
    let Some(current) = sessions.on_device(device) else {
        return Err(if em_enabled {
            ErrorCode::NoUserLoggedIn
        } else {
            ErrorCode::DeviceLogonDisabled
        });
    };
    if !may_act_for(&dir.user(current.user).id) {
        return Err(ErrorCode::NoProxyRights);
    }
    if !em_enabled {
        return Err(ErrorCode::DeviceLogonDisabledAfterLogin);
    }
    sessions.logout(device);
    drop(sessions);
    state.metrics.logouts.fetch_add(1, Ordering::Relaxed);
    state.features().logged_out(current.user);
    state.profile_changed(device, Some(current), None);
    state.clear_call_logs(device, Moment::ManualLogout);
    Ok(())
}

/// Logs every device out; returns how many were logged in.
pub async fn logout_all(state: &ServerState, source: Option<Source>) -> Result<usize, ErrorCode> {
    state.check_source(&state.parameters(), None, source)?;
    let _permit = state.admission.try_enter().ok_or(ErrorCode::Busy)?;
    database_work(state).await?;
    let ended = state.apply_due_timers().logout_all();
    state.logins_ended(&ended, false);
    Ok(ended.len())
}
