//! Phone features whose state Extension Mobility carries (LOG-8, LOG-10).
//!
//! - Call Back: a user may have Call Back services active; every one is
//!   cancelled when the user is logged out, whatever logged them out.
//! - Do Not Disturb: set while logged in, it is saved with the user's
//!   profile and comes back at the next login, on any phone; it never
//!   changes the device's own DND, which is what the phone shows with
//!   nobody logged in.
//!
//! Nothing in the EM protocols sets these, so lab control does, as the
//! phone's own keys would (`/lab/devices/{name}/dnd`, `/call-back`).

use crate::directory::{DeviceIdx, UserIdx};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// DND and its incoming-call alert.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dnd {
    pub status: bool,
    pub alert: DndAlert,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DndAlert {
    RingerOff,
    BeepOnly,
    FlashOnly,
}

impl DndAlert {
    pub fn as_str(self) -> &'static str {
        match self {
            DndAlert::RingerOff => "ringer-off",
            DndAlert::BeepOnly => "beep-only",
            DndAlert::FlashOnly => "flash-only",
        }
    }
}

#[derive(Default)]
pub struct Features {
    call_backs: HashMap<UserIdx, Vec<String>>,
    user_dnd: HashMap<UserIdx, Dnd>,
    device_dnd: HashMap<DeviceIdx, Dnd>,
}

impl Features {
    pub fn activate_call_back(&mut self, user: UserIdx, number: String) {
        self.call_backs.entry(user).or_default().push(number);
    }

    pub fn call_backs(&self, user: UserIdx) -> &[String] {
        self.call_backs.get(&user).map_or(&[], Vec::as_slice)
    }

    /// LOG-8: the user was logged out.
    pub fn logged_out(&mut self, user: UserIdx) {
        self.call_backs.remove(&user);
    }

    /// DND set on a phone: the user's while one is logged in, else the device's own.
    pub fn set_dnd(&mut self, device: DeviceIdx, user: Option<UserIdx>, dnd: Dnd) {
        match user {
            Some(u) => {
                self.user_dnd.insert(u, dnd);
            }
            None => {
                self.device_dnd.insert(device, dnd);
            }
        }
    }

    /// The DND in force on `device` with `user` logged in (or nobody).
    pub fn dnd(&self, device: DeviceIdx, user: Option<UserIdx>) -> Option<Dnd> {
        match user {
            Some(u) => self.user_dnd.get(&u).copied(),
            None => self.device_dnd.get(&device).copied(),
        }
    }

    pub fn user_dnd(&self, user: UserIdx) -> Option<Dnd> {
        self.user_dnd.get(&user).copied()
    }
}
