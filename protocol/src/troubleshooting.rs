//! The troubleshooting causes lab control plays (PROTOCOL.md §8,
//! `POST /lab/troubleshooting {"cause": NAME, "on": true}`), named here so
//! the server that plays them and the fleet that rehearses them agree.

/// One cause from the seeds' troubleshooting tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// TRBL-1: publisher and subscriber clocks out of sync.
    ClockSkew,
    /// TRBL-2: the publisher is inactive during a switch version.
    SwitchVersion,
    /// TRBL-3: phones resolve the CallManager by DNS.
    DnsCallManager,
    /// TRBL-4: no logout profile is assigned to the device.
    NoLogoutProfile,
}

impl Cause {
    pub const ALL: [Cause; 4] = [
        Cause::ClockSkew,
        Cause::SwitchVersion,
        Cause::DnsCallManager,
        Cause::NoLogoutProfile,
    ];

    /// The requirement that describes the cause's symptom.
    pub fn requirement(self) -> &'static str {
        match self {
            Cause::ClockSkew => "TRBL-1",
            Cause::SwitchVersion => "TRBL-2",
            Cause::DnsCallManager => "TRBL-3",
            Cause::NoLogoutProfile => "TRBL-4",
        }
    }

    /// The name lab control uses (PROTOCOL.md §8).
    pub fn name(self) -> &'static str {
        match self {
            Cause::ClockSkew => "clock-skew",
            Cause::SwitchVersion => "switch-version",
            Cause::DnsCallManager => "dns-callmanager",
            Cause::NoLogoutProfile => "no-logout-profile",
        }
    }

    pub fn from_name(name: &str) -> Option<Cause> {
        Cause::ALL.into_iter().find(|c| c.name() == name)
    }
}
