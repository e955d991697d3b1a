//! Test-only fault switches: ways to make the reference server wrong on
//! purpose, one or more per requirement group, so that `emlab conform` can
//! prove it notices (`tests/integration/conform.rs`). Off unless a test or
//! `emlab serve --fault NAME` turns them on; each names the requirement it
//! breaks.

use std::collections::HashSet;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Fault {
    /// LOG-3: the phone's `Yes` says "Logout Successful" but logs nobody out.
    LogoutDoesNothing,
    /// AUTH-1: any PIN is accepted.
    AcceptAnyPin,
    /// PROF-6: a device with Extension Mobility disabled accepts logins.
    IgnoreEmDisabled,
    /// MULTI-1: a second device is allowed when multiple logins are not.
    AllowSecondDevice,
    /// LIM-1: answers 25 where 26 (Busy) is due.
    Answer25For26,
    /// TIME-1/3: maximum login times are never applied.
    IgnoreMaxLoginTime,
    /// RST-1: resets where a restart is due.
    ResetInsteadOfRestart,
    /// LOGS-1: never clears call logs.
    KeepCallLogs,
    /// IP-1: every source address is trusted.
    TrustEveryAddress,
    /// BTN-2: entries beyond the phone's buttons are kept.
    KeepExtraButtons,
    /// URL-2: a missing `device` parameter shows 201 instead of 207.
    MissingDevice201,
    /// PROF-11: a protected (Secure Tone) phone accepts logins and logouts.
    IgnoreProtected,
    /// CRED-1: Change Credential takes any current PIN.
    ChangeCredentialIgnoresCurrentPin,
    /// CRED-2: a PIN changed at the phone stays flagged must-change.
    MustChangeSurvivesAChange,
    /// PROF-10: intercom lines show on every device.
    IntercomEverywhere,
    /// MET-1: `/metrics` has no latency histogram of EM operations.
    NoOperationHistogram,
    /// PROF-9: a profile edit changes the sessions already logged in.
    ProfileEditsApplyAtOnce,
    /// PROF-7: at logout the model's default profile's locale is skipped.
    LogoutLocaleSkipsTheDefault,
    /// AUTH-8: under cme the profile's pin logs in, not the password.
    CmeLogsInWithPin,
    /// PROF-3: across models the profile's own templates stay.
    TemplatesIgnoreTheModel,
    /// TRBL-1: playing `clock-skew` logs nobody out.
    IgnoreClockSkew,
    /// TRBL-2: playing `switch-version` keeps every login and admits new ones.
    IgnoreSwitchVersion,
    /// TRBL-3: playing `dns-callmanager` still restarts phones.
    IgnoreDnsCallManager,
    /// TRBL-4: playing `no-logout-profile` still serves the logout profile.
    IgnoreNoLogoutProfile,
}

impl Fault {
    pub const ALL: [Fault; 24] = [
        Fault::LogoutDoesNothing,
        Fault::AcceptAnyPin,
        Fault::IgnoreEmDisabled,
        Fault::AllowSecondDevice,
        Fault::Answer25For26,
        Fault::IgnoreMaxLoginTime,
        Fault::ResetInsteadOfRestart,
        Fault::KeepCallLogs,
        Fault::TrustEveryAddress,
        Fault::KeepExtraButtons,
        Fault::MissingDevice201,
        Fault::IgnoreProtected,
        Fault::ChangeCredentialIgnoresCurrentPin,
        Fault::MustChangeSurvivesAChange,
        Fault::IntercomEverywhere,
        Fault::NoOperationHistogram,
        Fault::ProfileEditsApplyAtOnce,
        Fault::LogoutLocaleSkipsTheDefault,
        Fault::CmeLogsInWithPin,
        Fault::TemplatesIgnoreTheModel,
        Fault::IgnoreClockSkew,
        Fault::IgnoreSwitchVersion,
        Fault::IgnoreDnsCallManager,
        Fault::IgnoreNoLogoutProfile,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Fault::LogoutDoesNothing => "logout-does-nothing",
            Fault::AcceptAnyPin => "accept-any-pin",
            Fault::IgnoreEmDisabled => "ignore-em-disabled",
            Fault::AllowSecondDevice => "allow-second-device",
            Fault::Answer25For26 => "answer-25-for-26",
            Fault::IgnoreMaxLoginTime => "ignore-max-login-time",
            Fault::ResetInsteadOfRestart => "reset-instead-of-restart",
            Fault::KeepCallLogs => "keep-call-logs",
            Fault::TrustEveryAddress => "trust-every-address",
            Fault::KeepExtraButtons => "keep-extra-buttons",
            Fault::MissingDevice201 => "missing-device-201",
            Fault::IgnoreProtected => "ignore-protected",
            Fault::ChangeCredentialIgnoresCurrentPin => "change-credential-ignores-current-pin",
            Fault::MustChangeSurvivesAChange => "must-change-survives-a-change",
            Fault::IntercomEverywhere => "intercom-everywhere",
            Fault::NoOperationHistogram => "no-operation-histogram",
            Fault::ProfileEditsApplyAtOnce => "profile-edits-apply-at-once",
            Fault::LogoutLocaleSkipsTheDefault => "logout-locale-skips-the-default",
            Fault::CmeLogsInWithPin => "cme-logs-in-with-pin",
            Fault::TemplatesIgnoreTheModel => "templates-ignore-the-model",
            Fault::IgnoreClockSkew => "ignore-clock-skew",
            Fault::IgnoreSwitchVersion => "ignore-switch-version",
            Fault::IgnoreDnsCallManager => "ignore-dns-callmanager",
            Fault::IgnoreNoLogoutProfile => "ignore-no-logout-profile",
        }
    }

    /// The requirement the fault breaks.
    pub fn breaks(self) -> &'static str {
        match self {
            Fault::LogoutDoesNothing => "LOG-3",
            Fault::AcceptAnyPin => "AUTH-1",
            Fault::IgnoreEmDisabled => "PROF-6",
            Fault::AllowSecondDevice => "MULTI-1",
            Fault::Answer25For26 => "LIM-1",
            Fault::IgnoreMaxLoginTime => "TIME-1",
            Fault::ResetInsteadOfRestart => "RST-1",
            Fault::KeepCallLogs => "LOGS-1",
            Fault::TrustEveryAddress => "IP-1",
            Fault::KeepExtraButtons => "BTN-2",
            Fault::MissingDevice201 => "URL-2",
            Fault::IgnoreProtected => "PROF-11",
            Fault::ChangeCredentialIgnoresCurrentPin => "CRED-1",
            Fault::MustChangeSurvivesAChange => "CRED-2",
            Fault::IntercomEverywhere => "PROF-10",
            Fault::NoOperationHistogram => "MET-1",
            Fault::ProfileEditsApplyAtOnce => "PROF-9",
            Fault::LogoutLocaleSkipsTheDefault => "PROF-7",
            Fault::CmeLogsInWithPin => "AUTH-8",
            Fault::TemplatesIgnoreTheModel => "PROF-3",
            Fault::IgnoreClockSkew => "TRBL-1",
            Fault::IgnoreSwitchVersion => "TRBL-2",
            Fault::IgnoreDnsCallManager => "TRBL-3",
            Fault::IgnoreNoLogoutProfile => "TRBL-4",
        }
    }

    pub fn from_name(name: &str) -> Option<Fault> {
        Fault::ALL.into_iter().find(|f| f.name() == name)
    }
}

/// The faults switched on (none in normal use).
#[derive(Clone, Debug, Default)]
pub struct Faults(HashSet<Fault>);

impl Faults {
    pub fn new(faults: impl IntoIterator<Item = Fault>) -> Self {
        Faults(faults.into_iter().collect())
    }

    pub fn has(&self, f: Fault) -> bool {
        !self.0.is_empty() && self.0.contains(&f)
    }

    /// The faults switched on, in catalogue order.
    pub fn on(&self) -> impl Iterator<Item = Fault> + '_ {
        Fault::ALL.into_iter().filter(|f| self.0.contains(f))
    }
}
