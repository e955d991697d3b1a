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

use crate::core::directory::{DeviceIdx, UserIdx};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

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
    /// Users and devices changed since the durable store last took them;
    /// `None` when nothing is stored.
    changed: Option<Changed>,
}

#[derive(Default)]
struct Changed {
    users: BTreeSet<UserIdx>,
    devices: BTreeSet<DeviceIdx>,
}

/// What the features hold about one user: saved DND and active Call Backs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserFeatures {
    pub dnd: Option<Dnd>,
    pub call_backs: Vec<String>,
}

impl Features {
    /// Starts recording which users and devices change, for the durable store.
    pub fn track_changes(&mut self) {
        self.changed.get_or_insert_with(Changed::default);
    }

    /// The users and devices changed since the last call, with their
    /// features now (a device's own DND).
    #[allow(clippy::type_complexity)]
    pub fn take_changes(
        &mut self,
    ) -> (Vec<(UserIdx, UserFeatures)>, Vec<(DeviceIdx, Option<Dnd>)>) {
        let Some(changed) = self.changed.take() else {
            return (Vec::new(), Vec::new());
        };
        self.changed = Some(Changed::default());
        let users = changed
            .users
            .into_iter()
            .map(|u| (u, self.of_user(u)))
            .collect();
        let devices = changed
            .devices
            .into_iter()
            .map(|d| (d, self.device_dnd.get(&d).copied()))
            .collect();
        (users, devices)
    }

    pub fn of_user(&self, user: UserIdx) -> UserFeatures {
        UserFeatures {
            dnd: self.user_dnd(user),
            call_backs: self.call_backs(user).to_vec(),
        }
    }

    /// Puts back what was saved for a user.
    pub fn restore_user(&mut self, user: UserIdx, saved: UserFeatures) {
        if let Some(dnd) = saved.dnd {
            self.user_dnd.insert(user, dnd);
        }
        if !saved.call_backs.is_empty() {
            self.call_backs.insert(user, saved.call_backs);
        }
    }

    /// Puts back a device's own saved DND.
    pub fn restore_device(&mut self, device: DeviceIdx, dnd: Dnd) {
        self.device_dnd.insert(device, dnd);
    }

    fn user_changed(&mut self, user: UserIdx) {
        if let Some(c) = self.changed.as_mut() {
            c.users.insert(user);
        }
    }

    pub fn activate_call_back(&mut self, user: UserIdx, number: String) {
        self.call_backs.entry(user).or_default().push(number);
        self.user_changed(user);
    }

    pub fn call_backs(&self, user: UserIdx) -> &[String] {
        self.call_backs.get(&user).map_or(&[], Vec::as_slice)
    }

    /// LOG-8: the user was logged out.
    pub fn logged_out(&mut self, user: UserIdx) {
        if self.call_backs.remove(&user).is_some() {
            self.user_changed(user);
        }
    }

    /// DND set on a phone: the user's while one is logged in, else the device's own.
    pub fn set_dnd(&mut self, device: DeviceIdx, user: Option<UserIdx>, dnd: Dnd) {
        match user {
            Some(u) => {
                self.user_dnd.insert(u, dnd);
                self.user_changed(u);
            }
            None => {
                self.device_dnd.insert(device, dnd);
                if let Some(c) = self.changed.as_mut() {
                    c.devices.insert(device);
                }
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
