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
//!
//! Each adds to `effects` what the io layer must deliver (restarts,
//! call-log pushes, counts), also when it then refuses: a timer that fired
//! on the way still restarts its phone.

use crate::core::addresses::Source;
use crate::core::call_logs::Moment;
use crate::core::directory::DeviceIdx;
use crate::core::effects::{Counter, Effect, Effects};
use crate::core::em::Em;
use crate::core::faults::Fault;
use crate::core::sessions::{ActiveLogin, LoginRules};
use emlab_protocol::lab::MultipleLoginBehavior;
use emlab_protocol::{ErrorCode, ServerProfile};

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
async fn database_work(state: &Em) -> Result<(), ErrorCode> {
    let ms = state.directory.operation_time_ms;
    if ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
    match state.directory.database_capacity {
        Some(capacity) if state.admission.in_progress() > capacity => Err(ErrorCode::DatabaseError),
        _ => Ok(()),
    }
}

pub async fn login(
    state: &Em,
    order: LoginOrder<'_>,
    effects: &mut Effects,
) -> Result<(), ErrorCode> {
    let busy = if state.faults.has(Fault::Answer25For26) {
        ErrorCode::UserLoggedInElsewhere
    } else {
        ErrorCode::Busy
    };
    let _permit = state.admission.try_enter().ok_or(busy)?;
    database_work(state).await?;
    state.publisher_reachable()?;
    let dir = &state.directory;
    let device = dir
        .device_idx(order.device_name)
        .ok_or(ErrorCode::DeviceNotFound)?;
    if !dir.device(device).em_enabled && !state.faults.has(Fault::IgnoreEmDisabled) {
        return Err(ErrorCode::DeviceLogonDisabled);
    }
    refuse_protected(state, device)?;
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
    let profile = dir.resolve_profile(user, order.profile)?;
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
        transient_after_ms: state.clock_skew_logout_ms(),
    };
    let (mut sessions, fired) = state.apply_due_timers();
    effects.extend(fired);
    let now = state.clock.now_ms();
    let active = ActiveLogin {
        user,
        profile,
        since_ms: now,
        expires_ms: minutes.map(|m| now.saturating_add(m as u64 * 60_000)),
        // TIME-5: max-idle-time is a CME setting; CallManager has none.
        idle_minutes: dir
            .profile(profile)
            .max_idle_minutes
            .filter(|_| dir.profile == ServerProfile::Cme),
    };
    let change = sessions.login(device, active, &rules)?;
    drop(sessions);
    // Logins the server ended to make room, then this device's own change.
    effects.extend(state.logins_ended(&change.logged_out, true));
    if let Some(previous) = change.replaced.filter(|p| p.user != user) {
        // The previous user is logged out (LOG-7), but the phone restarts
        // once, into the new profile, so this is counted, not restarted.
        state.features().logged_out(previous.user);
        effects.count(Counter::Logout);
        effects.count(Counter::AutomaticLogout);
    }
    // The same user logging in again where they already are is one
    // session, not two: em_logins_total counts sessions begun.
    let again = change.replaced.is_some_and(|p| p.user == user);
    effects.push(Effect::ProfileChanged {
        device,
        before: change.replaced,
        after: Some(active),
    });
    effects.extend(state.clear_call_logs(device, Moment::ManualLogin));
    if !again {
        effects.count(Counter::Login);
    }
    Ok(())
}

/// PROF-11: Extension Mobility is disabled on protected (Secure Tone)
/// phones; emlab refuses with 22, the code of a phone with EM disabled.
fn refuse_protected(state: &Em, device: DeviceIdx) -> Result<(), ErrorCode> {
    if state.directory.device(device).protected && !state.faults.has(Fault::IgnoreProtected) {
        return Err(ErrorCode::DeviceLogonDisabled);
    }
    Ok(())
}

/// Logs `device_name` out if `may_act_for(user_id)` allows it for the user
/// who is logged in there (error 10 otherwise).
pub async fn logout(
    state: &Em,
    device_name: &str,
    source: Option<Source>,
    may_act_for: impl FnOnce(&str) -> bool,
    effects: &mut Effects,
) -> Result<(), ErrorCode> {
    let _permit = state.admission.try_enter().ok_or(ErrorCode::Busy)?;
    database_work(state).await?;
    let dir = &state.directory;
    let device: DeviceIdx = dir
        .device_idx(device_name)
        .ok_or(ErrorCode::DeviceNotFound)?;
    state.check_source(&state.parameters(), Some(device), source)?;
    refuse_protected(state, device)?;
    let em_enabled = dir.device(device).em_enabled;
    let (mut sessions, fired) = state.apply_due_timers();
    effects.extend(fired);
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
    effects.count(Counter::Logout);
    state.features().logged_out(current.user);
    effects.push(Effect::ProfileChanged {
        device,
        before: Some(current),
        after: None,
    });
    effects.extend(state.clear_call_logs(device, Moment::ManualLogout));
    Ok(())
}

/// Logs every device out; returns how many were logged in.
pub async fn logout_all(
    state: &Em,
    source: Option<Source>,
    effects: &mut Effects,
) -> Result<usize, ErrorCode> {
    state.check_source(&state.parameters(), None, source)?;
    let _permit = state.admission.try_enter().ok_or(ErrorCode::Busy)?;
    database_work(state).await?;
    let (mut sessions, fired) = state.apply_due_timers();
    effects.extend(fired);
    let ended = sessions.logout_all();
    drop(sessions);
    effects.extend(state.logins_ended(&ended, false));
    Ok(ended.len())
}

/// The rules with their effects, without a socket: what a login or a
/// logout asks the io layer to do.
#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::effects::Effect::{Count, ProfileChanged};
    use crate::core::faults::Faults;
    use emlab_protocol::lab::Lab;
    use emlab_protocol::sccp::ResetType;

    const LAB: &str = r#"
[server]
profile = "ucm"

[service_parameters]
max_concurrent_requests = 100
multiple_login_behavior = "MULTIPLE"

[[application]]
id = "emlab"
certificate = "secret"
proxy_rights = true

[[user]]
id = "alice"
pin = "12345"
profiles = ["alice-7960"]

[[user]]
id = "bob"
pin = "23456"
locale = "German_Germany"
profiles = ["bob-7960"]

[[profile]]
name = "alice-7960"
model = "7960"

[[profile]]
name = "bob-7960"
model = "7960"

[[device]]
name = "SEP000000000001"
model = "7960"

[[device]]
name = "SEP000000000002"
model = "7960"
"#;
    /// TIME-5: the idle timer is CME's; an off-hook phone is never idle,
    /// and its idle time counts again from when it hangs up.
    #[tokio::test]
    async fn time_5_idle_logout_is_cme_only_and_an_off_hook_phone_is_not_idle() {
        let with_idle = |server: &str| {
            let text = LAB
                .replace("MULTIPLE", "not-allowed")
                .replace("profile = \"ucm\"", &format!("profile = \"{server}\""))
                .replace(
                    "name = \"alice-7960\"\nmodel = \"7960\"",
                    "name = \"alice-7960\"\nmodel = \"7960\"\nmax_idle_time = 10",
                );
            let lab = Lab::parse(std::path::Path::new("unit.toml"), &text).unwrap();
            Em::new(&lab, Faults::default())
        };
        let minutes = |m: u64| m * 60_000;
        let ucm = with_idle("ucm");
        let _ = log_in(&ucm, D1, "alice").await;
        ucm.advance_clock(minutes(60));
        assert!(
            ucm.apply_due_timers().0.on_device(0).is_some(),
            "ucm has no idle timer"
        );

        let cme = with_idle("cme");
        let _ = log_in(&cme, D1, "alice").await;
        let _ = cme.hook_changed(0, true);
        cme.advance_clock(minutes(30));
        assert!(
            cme.apply_due_timers().0.on_device(0).is_some(),
            "in a call for 30 minutes"
        );
        let _ = cme.hook_changed(0, false);
        cme.advance_clock(minutes(9));
        assert!(
            cme.apply_due_timers().0.on_device(0).is_some(),
            "9 minutes since hanging up"
        );
        cme.advance_clock(minutes(1));
        let (s, fx) = cme.apply_due_timers();
        assert_eq!(s.on_device(0), None, "10 minutes idle");
        assert_eq!(fx.counted(Counter::AutomaticLogout), 1);
    }

    const D1: &str = "SEP000000000001";
    const D2: &str = "SEP000000000002";

    fn em(behavior: &str) -> Em {
        let text = LAB.replace("MULTIPLE", behavior);
        let lab = Lab::parse(std::path::Path::new("unit.toml"), &text).unwrap();
        Em::new(&lab, Faults::default())
    }

    fn order<'a>(device: &'a str, user: &'a str, minutes: Option<u32>) -> LoginOrder<'a> {
        LoginOrder {
            device_name: device,
            user_id: user,
            profile: None,
            exclusive_minutes: minutes,
            source: None,
        }
    }

    async fn log_in(em: &Em, device: &str, user: &str) -> (Result<(), ErrorCode>, Effects) {
        let mut effects = Effects::default();
        let r = login(em, order(device, user, None), &mut effects).await;
        (r, effects)
    }

    /// RST-1: a login restarts the phone and counts one session; the same
    /// user logging in again reloads, restarts again, and is not counted twice.
    #[tokio::test]
    async fn a_login_restarts_the_phone_and_a_reload_is_not_a_second_session() {
        let em = em("not-allowed");
        let (r, fx) = log_in(&em, D1, "alice").await;
        assert_eq!(r, Ok(()));
        assert!(
            matches!(
                fx.0[..],
                [
                    ProfileChanged {
                        device: 0,
                        before: None,
                        after: Some(_)
                    },
                    Count(Counter::Login)
                ]
            ),
            "{fx:?}"
        );
        let (r, fx) = log_in(&em, D1, "alice").await;
        assert_eq!(r, Ok(()));
        assert_eq!(fx.counted(Counter::Login), 0, "{fx:?}");
        assert!(matches!(
            fx.0[0],
            ProfileChanged {
                before: Some(_),
                ..
            }
        ));
    }

    /// MULTI-1: refused with 25 and no effect at all.
    #[tokio::test]
    async fn a_second_device_is_refused_with_nothing_to_deliver() {
        let em = em("not-allowed");
        let _ = log_in(&em, D1, "alice").await;
        let (r, fx) = log_in(&em, D2, "alice").await;
        assert_eq!(r, Err(ErrorCode::UserLoggedInElsewhere));
        assert!(fx.is_empty(), "{fx:?}");
    }

    /// MULTI-3: auto-logout ends the first login (counted as automatic, its
    /// phone restarts into its logout profile) before the second begins.
    #[tokio::test]
    async fn auto_logout_restarts_the_first_device_into_its_logout_profile() {
        let em = em("auto-logout");
        let _ = log_in(&em, D1, "alice").await;
        let (r, fx) = log_in(&em, D2, "alice").await;
        assert_eq!(r, Ok(()));
        assert!(
            matches!(
                fx.0[..],
                [
                    Count(Counter::Logout),
                    Count(Counter::AutomaticLogout),
                    ProfileChanged {
                        device: 0,
                        after: None,
                        ..
                    },
                    ProfileChanged {
                        device: 1,
                        before: None,
                        after: Some(_)
                    },
                    Count(Counter::Login),
                ]
            ),
            "{fx:?}"
        );
    }

    /// TIME-1: the timer's logout comes out of `apply_due_timers` as
    /// effects, and a login refused meanwhile still carries them.
    #[tokio::test]
    async fn a_due_timer_logs_out_as_effects_even_inside_a_refused_login() {
        let em = em("not-allowed");
        login(&em, order(D1, "alice", Some(1)), &mut Effects::default())
            .await
            .unwrap();
        login(&em, order(D2, "bob", None), &mut Effects::default())
            .await
            .unwrap();
        em.advance_clock(61_000);
        let mut fx = Effects::default();
        // bob is on D2: refused, but alice's timer on D1 fired on the way.
        let r = login(&em, order(D1, "bob", None), &mut fx).await;
        assert_eq!(r, Err(ErrorCode::UserLoggedInElsewhere));
        assert_eq!(fx.counted(Counter::AutomaticLogout), 1, "{fx:?}");
        assert!(
            fx.0.iter().any(|e| matches!(
                e,
                ProfileChanged { device: 0, before: Some(l), after: None } if l.user == 0
            )),
            "alice's phone restarts into its logout profile: {fx:?}"
        );
        assert_eq!(em.apply_due_timers().0.on_device(0), None);
    }

    /// RST-2: a login into another locale restarts then resets; one into the
    /// same locale only restarts.
    #[tokio::test]
    async fn a_locale_change_restarts_then_resets() {
        let em = em("not-allowed");
        let (_, fx) = log_in(&em, D1, "bob").await;
        let ProfileChanged { before, after, .. } = fx.0[0] else {
            panic!("{fx:?}")
        };
        assert_eq!(
            em.restart_plan(0, before, after),
            &[ResetType::Restart, ResetType::Reset]
        );
        let (_, fx) = log_in(&em, D2, "alice").await;
        let ProfileChanged { before, after, .. } = fx.0[0] else {
            panic!("{fx:?}")
        };
        assert_eq!(em.restart_plan(1, before, after), &[ResetType::Restart]);
    }
}
