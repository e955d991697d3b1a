//! The catalogue's cases, one file per requirement group of
//! `REQUIREMENTS.md`. Each case starts from a clean slate (it logs its
//! devices out first), finds its users and devices through the lab's
//! `[conformance]` roles ([`crate::roles`]), and leaves the devices logged out.

pub mod auth;
pub mod btn;
pub mod ip;
pub mod lim;
pub mod log;
pub mod logs;
pub mod met;
pub mod multi;
pub mod prof;
pub mod rst;
pub mod time;
pub mod trbl;
pub mod url;

use emlab_protocol::ServerProfile;

pub const ALL: &[ServerProfile] = &[ServerProfile::Ucm, ServerProfile::Ucm4, ServerProfile::Cme];
pub const UCM: &[ServerProfile] = &[ServerProfile::Ucm];
pub const UCM4: &[ServerProfile] = &[ServerProfile::Ucm4];
pub const CME: &[ServerProfile] = &[ServerProfile::Cme];
pub const UCM_BOTH: &[ServerProfile] = &[ServerProfile::Ucm, ServerProfile::Ucm4];
pub const UCM_CME: &[ServerProfile] = &[ServerProfile::Ucm, ServerProfile::Cme];

/// A phone address per case, so address checks and caches never mix cases.
pub fn phone_ip(n: u8) -> std::net::Ipv4Addr {
    std::net::Ipv4Addr::new(127, 31, 0, n)
}
