//! The catalogue's cases, one file per requirement group of
//! `REQUIREMENTS.md`. Each case starts from a clean slate (it logs its
//! devices out first), uses the users and devices of `conformance/lab.toml`
//! by name, and leaves the devices logged out.

pub mod auth;
pub mod btn;
pub mod ip;
pub mod lim;
pub mod log;
pub mod logs;
pub mod multi;
pub mod prof;
pub mod rst;
pub mod time;
pub mod url;

use emlab_protocol::ServerProfile;

pub const ALL: &[ServerProfile] = &[ServerProfile::Ucm, ServerProfile::Ucm4, ServerProfile::Cme];
pub const UCM: &[ServerProfile] = &[ServerProfile::Ucm];
pub const UCM4: &[ServerProfile] = &[ServerProfile::Ucm4];
pub const CME: &[ServerProfile] = &[ServerProfile::Cme];
pub const UCM_BOTH: &[ServerProfile] = &[ServerProfile::Ucm, ServerProfile::Ucm4];
pub const UCM_CME: &[ServerProfile] = &[ServerProfile::Ucm, ServerProfile::Cme];

/// The devices and users of `conformance/lab.toml` the cases use.
pub mod lab {
    /// 7960 with a 7914, Italian, logout profile ADP.
    pub const D1: &str = "SEP000000000001";
    /// 7960, English (UK), logout profile `lobby-7960`.
    pub const D2: &str = "SEP000000000002";
    /// 7905.
    pub const D7905: &str = "SEP000000000003";
    /// 7960 with Extension Mobility disabled.
    pub const D_DISABLED: &str = "SEP000000000004";
    /// 8851 (SIP).
    pub const D8851: &str = "SEP000000000005";
    /// Generated 7960s (English, no modules) and their users `user0000N`.
    pub const FLEET0: &str = "SEP0E0000000000";
    pub const FLEET1: &str = "SEP0E0000000001";
    pub const FLEET2: &str = "SEP0E0000000002";
}

/// A phone address per case, so address checks and caches never mix cases.
pub fn phone_ip(n: u8) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(127, 31, 0, n)
}
