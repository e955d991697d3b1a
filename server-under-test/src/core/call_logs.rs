//! When call logs are cleared (LOGS-1, LOGS-2); the push itself is
//! [`crate::io::call_log_push`].
//!
//! `ucm`/`ucm4` with Clear Call Logs on Intra-cluster EM = True, at manual
//! logins and logouts only (an application's or the user's own); `cme` at
//! every logout, automatic ones too, unless `keep_history`.

use emlab_protocol::ServerProfile;

/// Why a login changed, for deciding whether call logs are cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Moment {
    /// A login by the user at the phone or by an application.
    ManualLogin,
    /// A logout by the user at the phone or by an application.
    ManualLogout,
    /// Any other logout: timers, auto-logout, the next user, an administrator.
    OtherLogout,
}

/// Whether `moment` clears the call logs under `profile`, with Clear Call
/// Logs `enabled` and the router's `keep_history`.
pub fn clears(profile: ServerProfile, keep_history: bool, moment: Moment, enabled: bool) -> bool {
    match profile {
        ServerProfile::Cme => moment != Moment::ManualLogin && !keep_history,
        _ => enabled && moment != Moment::OtherLogout,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// LOGS-1/2: ucm clears at manual moments when enabled; cme at every
    /// logout unless keep-history, never at a login.
    #[test]
    fn who_clears_when() {
        use Moment::*;
        let ucm = |m, on| clears(ServerProfile::Ucm, false, m, on);
        assert!(ucm(ManualLogin, true) && ucm(ManualLogout, true));
        assert!(!ucm(OtherLogout, true) && !ucm(ManualLogout, false));
        let cme = |m, keep| clears(ServerProfile::Cme, keep, m, false);
        assert!(cme(OtherLogout, false) && cme(ManualLogout, false));
        assert!(!cme(ManualLogin, false) && !cme(OtherLogout, true));
    }
}
