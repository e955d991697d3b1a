//! The server's directory: applications, users, devices and device profiles,
//! built once from the lab file (explicit entries plus the `[fleet]`).
//!
//! Entries are kept in vectors and addressed by index, with one hash map per
//! kind from name to index, so a login touches a few cache lines and the
//! session table can be a plain vector indexed by device.

use emlab_protocol::ErrorCode;
use emlab_protocol::ServerProfile;
use emlab_protocol::lab::{Lab, MultipleLoginBehavior, ServiceParameters};
use emlab_protocol::phone_model::{self, PhoneModel};
use std::collections::HashMap;

pub type UserIdx = u32;
pub type DeviceIdx = u32;
pub type ProfileIdx = u32;

pub struct Application {
    pub certificate: String,
    pub proxy_rights: bool,
}

pub struct User {
    pub id: String,
    pub pin: String,
    pub primary_extension: Option<String>,
    pub self_service_id: Option<String>,
    /// User device profiles; the first is the default.
    pub profiles: Vec<ProfileIdx>,
}

pub struct Device {
    pub name: String,
    pub model: &'static PhoneModel,
    pub em_enabled: bool,
}

pub struct DeviceProfile {
    pub name: String,
    pub model: &'static PhoneModel,
}

pub struct Directory {
    pub profile: ServerProfile,
    pub operation_time_ms: u64,
    pub service_parameters: ServiceParameters,
    applications: HashMap<String, Application>,
    users: Vec<User>,
    user_index: HashMap<String, UserIdx>,
    /// Users by primary extension (`loginType=DN`); several is error 216.
    extension_index: HashMap<String, Vec<UserIdx>>,
    /// Users by self-service user ID (`loginType=SP`).
    self_service_index: HashMap<String, Vec<UserIdx>>,
    devices: Vec<Device>,
    device_index: HashMap<String, DeviceIdx>,
    profiles: Vec<DeviceProfile>,
    profile_index: HashMap<String, ProfileIdx>,
    /// The device profile default of each model (PROF-2).
    default_profiles: HashMap<&'static str, ProfileIdx>,
}

impl Directory {
    pub fn from_lab(lab: &Lab) -> Directory {
        let f = &lab.file;
        let fleet_size = lab.fleet_size() as usize;
        let mut d = Directory {
            profile: f.server.profile,
            operation_time_ms: f.server.operation_time_ms,
            service_parameters: f.service_parameters.clone(),
            applications: f
                .application
                .iter()
                .map(|a| {
                    let app = Application {
                        certificate: a.certificate.clone(),
                        proxy_rights: a.proxy_rights,
                    };
                    (a.id.clone(), app)
                })
                .collect(),
            users: Vec::with_capacity(f.user.len() + fleet_size),
            user_index: HashMap::with_capacity(f.user.len() + fleet_size),
            extension_index: HashMap::with_capacity(f.user.len() + fleet_size),
            self_service_index: HashMap::new(),
            devices: Vec::with_capacity(f.device.len() + fleet_size),
            device_index: HashMap::with_capacity(f.device.len() + fleet_size),
            profiles: Vec::with_capacity(f.profile.len() + fleet_size),
            profile_index: HashMap::with_capacity(f.profile.len() + fleet_size),
            default_profiles: HashMap::new(),
        };
        // Validation has checked every model name, so `find` succeeds here.
        let model = |name: &str| phone_model::find(name).unwrap_or(&phone_model::CATALOGUE[0]);
        for p in &f.profile {
            d.add_profile(p.name.clone(), model(&p.model));
        }
        for dp in &f.default_profile {
            let m = model(&dp.model);
            let idx = d.add_profile(format!("DefaultProfile-{}", m.name), m);
            d.default_profiles.insert(m.name, idx);
        }
        for u in &f.user {
            let profiles = u
                .profiles
                .iter()
                .filter_map(|p| d.profile_index.get(p).copied())
                .collect();
            d.add_user(User {
                id: u.id.clone(),
                pin: u.pin.clone(),
                primary_extension: u.primary_extension.clone(),
                self_service_id: u
                    .self_service_id
                    .clone()
                    .or_else(|| u.primary_extension.clone()),
                profiles,
            });
        }
        for dev in &f.device {
            d.add_device(dev.name.clone(), model(&dev.model), dev.em_enabled);
        }
        for m in lab.fleet_members() {
            let p = d.add_profile(m.profile_name, m.model);
            d.add_user(User {
                id: m.user_id,
                pin: m.pin,
                primary_extension: Some(m.primary_extension.clone()),
                self_service_id: Some(m.primary_extension),
                profiles: vec![p],
            });
            d.add_device(m.device_name, m.model, true);
        }
        d
    }

    fn add_profile(&mut self, name: String, model: &'static PhoneModel) -> ProfileIdx {
        let idx = self.profiles.len() as ProfileIdx;
        self.profile_index.insert(name.clone(), idx);
        self.profiles.push(DeviceProfile { name, model });
        idx
    }

    fn add_user(&mut self, user: User) {
        let idx = self.users.len() as UserIdx;
        self.user_index.insert(user.id.clone(), idx);
        if let Some(e) = &user.primary_extension {
            self.extension_index.entry(e.clone()).or_default().push(idx);
        }
        // The fleet's self-service IDs equal its extensions; index only the others.
        if let Some(sp) = user
            .self_service_id
            .as_ref()
            .filter(|sp| Some(*sp) != user.primary_extension.as_ref())
        {
            self.self_service_index
                .entry(sp.clone())
                .or_default()
                .push(idx);
        }
        self.users.push(user);
    }

    fn add_device(&mut self, name: String, model: &'static PhoneModel, em_enabled: bool) {
        self.device_index
            .insert(name.clone(), self.devices.len() as DeviceIdx);
        self.devices.push(Device {
            name,
            model,
            em_enabled,
        });
    }

    pub fn application(&self, id: &str) -> Option<&Application> {
        self.applications.get(id)
    }

    pub fn user_idx(&self, id: &str) -> Option<UserIdx> {
        self.user_index.get(id).copied()
    }

    /// Users whose primary extension is `extension`.
    pub fn users_by_extension(&self, extension: &str) -> &[UserIdx] {
        self.extension_index
            .get(extension)
            .map_or(&[], Vec::as_slice)
    }

    /// Users whose self-service user ID is `id`.
    pub fn users_by_self_service_id(&self, id: &str) -> Vec<UserIdx> {
        let mut found: Vec<UserIdx> = self.self_service_index.get(id).cloned().unwrap_or_default();
        found.extend(
            self.users_by_extension(id)
                .iter()
                .filter(|&&u| self.user(u).self_service_id.as_deref() == Some(id)),
        );
        found
    }

    pub fn user(&self, idx: UserIdx) -> &User {
        &self.users[idx as usize]
    }

    pub fn device_idx(&self, name: &str) -> Option<DeviceIdx> {
        self.device_index.get(name).copied()
    }

    pub fn device(&self, idx: DeviceIdx) -> &Device {
        &self.devices[idx as usize]
    }

    pub fn device_count(&self) -> usize {
        self.devices.len()
    }

    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    pub fn profile(&self, idx: ProfileIdx) -> &DeviceProfile {
        &self.profiles[idx as usize]
    }

    pub fn multiple_login_behavior(&self) -> MultipleLoginBehavior {
        // CME knows only auto-logout (MULTI-3).
        match self.profile {
            ServerProfile::Cme => MultipleLoginBehavior::AutoLogout,
            _ => self.service_parameters.multiple_login_behavior,
        }
    }

    /// The profile a login of `user` on `device` loads: the named one (which
    /// must be the user's), else the user's default, else the device profile
    /// default of the device's model (PROF-2); none is error 12.
    pub fn resolve_profile(
        &self,
        user: UserIdx,
        device: DeviceIdx,
        requested: Option<&str>,
    ) -> Result<ProfileIdx, ErrorCode> {
        let u = self.user(user);
        match requested {
            Some(name) => self
                .profile_index
                .get(name)
                .copied()
                .filter(|p| u.profiles.contains(p))
                .ok_or(ErrorCode::ProfileNotFound),
            None => u
                .profiles
                .first()
                .copied()
                .or_else(|| {
                    self.default_profiles
                        .get(self.device(device).model.name)
                        .copied()
                })
                .ok_or(ErrorCode::ProfileNotFound),
        }
    }
}
