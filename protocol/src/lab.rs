//! The lab directory file (PROTOCOL.md §6): the users, devices, profiles,
//! applications and service parameters a reference server starts with, and
//! the `[fleet]` block that generates thousands of them deterministically.
//!
//! The server and the simulator both read this file: the server to know its
//! directory, the simulator to know which phones and users exist. Generation
//! therefore lives here, in one place, so both sides agree on every name.

use crate::config_error::{ConfigError, parse_toml, read_toml};
use crate::error_code::ServerProfile;
use crate::phone_model::{self, PhoneModel};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::path::Path;

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LabFile {
    #[serde(default)]
    pub server: ServerSection,
    #[serde(default)]
    pub service_parameters: ServiceParameters,
    #[serde(default)]
    pub application: Vec<Application>,
    #[serde(default)]
    pub user: Vec<User>,
    #[serde(default)]
    pub profile: Vec<Profile>,
    #[serde(default)]
    pub default_profile: Vec<DefaultProfile>,
    #[serde(default)]
    pub device: Vec<Device>,
    pub fleet: Option<Fleet>,
    /// Which entries play the roles conformance cases need (role name →
    /// device, user or application); `emlab conform --list` names the roles.
    #[serde(default)]
    pub conformance: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    #[serde(default)]
    pub profile: ServerProfile,
    /// Emulated database time per login/logout, so that Maximum Concurrent
    /// Requests (LIM-1) can be seen on a fast machine.
    #[serde(default)]
    pub operation_time_ms: u64,
    /// The port of each phone's own web server, where pushes go (`/CGI/Execute`).
    #[serde(default = "default_phone_web_port")]
    pub phone_web_port: u16,
    /// `cme` only: `em keep-history`, keep call history at logout (LOGS-2).
    #[serde(default)]
    pub keep_history: bool,
    /// `cme` only: the phones the router gives an authentication URL
    /// (`url authentication` under `telephony-service` for SCCP phones,
    /// under `voice register global` for SIP phones). A phone without one
    /// cannot authorize a push, so its call history is never cleared
    /// (LOGS-2). Default: both.
    #[serde(default = "both_protocols")]
    pub url_authentication: Vec<String>,
    /// `cme` only: up to three times of day (`HH:MM`, 00:00–24:00) at which
    /// every EM user is logged out (TIME-4).
    #[serde(default)]
    pub logout_times: Vec<String>,
    /// Emulated database overload (LIM-2): with more login/logout operations
    /// in progress than this, the operation fails with error 6.
    pub database_capacity: Option<u32>,
    /// The time of day (`HH:MM`, UTC) when the server clock starts; default:
    /// the real time. Tests set it so that time-of-day timers are exact.
    pub clock_start: Option<String>,
}

fn default_phone_web_port() -> u16 {
    80
}

fn both_protocols() -> Vec<String> {
    vec!["sccp".into(), "sip".into()]
}

impl ServerSection {
    /// Whether phones of `protocol` get an authentication URL: always under
    /// CallManager, under `cme` as `url_authentication` says.
    pub fn gives_authentication_url(&self, protocol: crate::phone_model::ControlProtocol) -> bool {
        use crate::phone_model::ControlProtocol;
        let name = match protocol {
            ControlProtocol::Sccp => "sccp",
            ControlProtocol::Sip => "sip",
        };
        self.profile != ServerProfile::Cme || self.url_authentication.iter().any(|p| p == name)
    }
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            profile: ServerProfile::default(),
            operation_time_ms: 0,
            phone_web_port: default_phone_web_port(),
            keep_history: false,
            url_authentication: both_protocols(),
            logout_times: Vec::new(),
            clock_start: None,
            database_capacity: None,
        }
    }
}

/// Cisco's service parameters, in snake_case, with the seeds' defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceParameters {
    pub enforce_max_login_time: bool,
    /// `HHH:MM`, 0:00 to 168:00.
    pub max_login_time: String,
    pub max_concurrent_requests: u32,
    pub multiple_login_behavior: MultipleLoginBehavior,
    pub alphanumeric_user_id: bool,
    pub remember_last_user: bool,
    pub clear_call_logs: bool,
    pub validate_ip_address: bool,
    pub trusted_ips: String,
    pub allow_proxy: bool,
    pub cache_size: u32,
}

impl Default for ServiceParameters {
    fn default() -> Self {
        ServiceParameters {
            enforce_max_login_time: false,
            max_login_time: "8:00".into(),
            max_concurrent_requests: 5,
            multiple_login_behavior: MultipleLoginBehavior::NotAllowed,
            alphanumeric_user_id: true,
            remember_last_user: false,
            clear_call_logs: false,
            validate_ip_address: false,
            trusted_ips: String::new(),
            allow_proxy: false,
            cache_size: 10000,
        }
    }
}

impl ServiceParameters {
    /// Checks the values Cisco's administration pages would refuse under
    /// `profile`; the error names the parameter. Lab files and live changes
    /// share it.
    pub fn check(&self, profile: ServerProfile) -> Result<(), (&'static str, String)> {
        let minutes = parse_login_time(&self.max_login_time).map_err(|e| ("max_login_time", e))?;
        // TIME-1: CallManager 4.x's range starts at 0:01.
        if profile == ServerProfile::Ucm4 && minutes == 0 {
            return Err((
                "max_login_time",
                format!(
                    "`{}` is below ucm4's minimum 0:01 (TIME-1)",
                    self.max_login_time
                ),
            ));
        }
        if self.max_concurrent_requests == 0 {
            return Err(("max_concurrent_requests", "must be at least 1".into()));
        }
        if !(1000..=20000).contains(&self.cache_size) {
            return Err((
                "cache_size",
                format!("{} is outside 1000 to 20000 (LIM-5)", self.cache_size),
            ));
        }
        if self.trusted_ips.len() > 1024 {
            return Err((
                "trusted_ips",
                "is longer than 1024 characters (IP-2)".into(),
            ));
        }
        Ok(())
    }

    /// The maximum login time in minutes, if it is enforced and not 0:00.
    pub fn max_login_minutes(&self) -> Option<u32> {
        let minutes = parse_login_time(&self.max_login_time).ok()?;
        (self.enforce_max_login_time && minutes > 0).then_some(minutes)
    }
}

/// Parses `HHH:MM` (0:00 to 168:00) into minutes.
pub fn parse_login_time(s: &str) -> Result<u32, String> {
    let bad = || format!("`{s}` is not a login time HHH:MM between 0:00 and 168:00");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.len() > 3 || m.len() != 2 || !h.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    // TIME-1: the hour part may be empty (`:30` is 30 minutes).
    let h: u32 = if h.is_empty() {
        0
    } else {
        h.parse().map_err(|_| bad())?
    };
    let m: u32 = m.parse().map_err(|_| bad())?;
    let total = h * 60 + m;
    if m >= 60 || total > 168 * 60 {
        Err(bad())
    } else {
        Ok(total)
    }
}

/// Parses a time of day `HH:MM` (00:00 to 24:00) into minutes after midnight.
pub fn parse_time_of_day(s: &str) -> Result<u32, String> {
    let bad = || format!("`{s}` is not a time of day HH:MM between 00:00 and 24:00");
    let (h, m) = s.split_once(':').ok_or_else(bad)?;
    if h.is_empty() || h.len() > 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if m >= 60 || h * 60 + m > 24 * 60 {
        Err(bad())
    } else {
        Ok(h * 60 + m)
    }
}

/// Multiple Login Behavior (MULTI-1..3).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MultipleLoginBehavior {
    /// A second login fails with 25 (the default).
    #[default]
    NotAllowed,
    /// The user may be logged in on several devices.
    Allowed,
    /// A second login logs the user out of the first device.
    AutoLogout,
}

/// An application user of the EM API.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Application {
    pub id: String,
    pub certificate: String,
    /// Authentication Proxy Rights: may log in or out on behalf of other users.
    #[serde(default)]
    pub proxy_rights: bool,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub id: String,
    /// The login PIN; under `cme` the profile's call-blocking PIN (AUTH-4).
    #[serde(default)]
    pub pin: String,
    /// `cme`: the `user NAME password PASSWORD` credential a user logs in
    /// with (AUTH-8).
    pub password: Option<String>,
    pub locale: Option<String>,
    pub primary_extension: Option<String>,
    /// Self-service user ID for `loginType=SP` (emlab choice: defaults to
    /// the primary extension, as Unified CM fills it in).
    pub self_service_id: Option<String>,
    /// The PIN must be changed before the next login: the phone shows 27.
    #[serde(default)]
    pub pin_must_change: bool,
    /// The user's own maximum login time, `HHH:MM` (self-care; TIME-3):
    /// when set it replaces the service parameter for this user.
    pub max_login_time: Option<String>,
    /// User device profiles; the first is the default.
    #[serde(default)]
    pub profiles: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub name: String,
    pub model: String,
    pub locale: Option<String>,
    #[serde(default)]
    pub modules: Vec<String>,
    #[serde(default)]
    pub lines: Vec<Line>,
    #[serde(default)]
    pub speed_dials: Vec<SpeedDial>,
    /// Feature buttons (`Hold`, `Park`, `DnD`, ...).
    #[serde(default)]
    pub features: Vec<String>,
    /// Phone services, by name.
    #[serde(default)]
    pub services: Vec<String>,
    /// `cme` `max-idle-time`, minutes (1–9999): an idle phone is logged out (TIME-5).
    pub max_idle_time: Option<u32>,
    /// Phone button template (PROF-1); across models the default's applies (PROF-3).
    pub phone_template: Option<String>,
    /// Softkey template (PROF-1); across models the default's applies (PROF-3).
    pub softkey_template: Option<String>,
    /// Music on hold for the user's calls (PROF-1); device-independent, so
    /// it follows the user to any model (PROF-3).
    pub hold_audio_source: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub number: String,
    #[serde(rename = "type", default)]
    pub line_type: LineType,
    /// An intercom line: presented only on its default device (PROF-10).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub intercom: bool,
    /// The intercom line's default device; none: wherever the user logs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_device: Option<String>,
}

impl Line {
    /// A line that is not an intercom line.
    pub fn new(number: impl Into<String>, line_type: LineType) -> Line {
        Line {
            number: number.into(),
            line_type,
            intercom: false,
            default_device: None,
        }
    }
}

/// Directory-number types, in CME's button order (BTN-1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LineType {
    #[default]
    Normal,
    SilentRing,
    BeepRing,
    FeatureRing,
    MonitorRing,
    Overlay,
    CwOverlay,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SpeedDial {
    pub tag: u32,
    pub number: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub label: String,
}

/// The device profile default of one model (PROF-2).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DefaultProfile {
    pub model: String,
    pub locale: Option<String>,
    #[serde(default)]
    pub modules: Vec<String>,
    /// Services for users whose own profile has none (PROF-3).
    #[serde(default)]
    pub services: Vec<String>,
    /// The templates a cross-model login takes (PROF-3).
    pub phone_template: Option<String>,
    pub softkey_template: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Device {
    /// `SEP` + 12 upper-case hex digits.
    pub name: String,
    pub model: String,
    #[serde(default)]
    pub modules: Vec<String>,
    pub locale: Option<String>,
    #[serde(default = "yes")]
    pub em_enabled: bool,
    /// A protected phone (Secure Tone): Extension Mobility is refused on
    /// it (PROF-11).
    #[serde(default)]
    pub protected: bool,
    /// `"auto"` for the autogenerated `ADP<MAC>` profile, or a profile name.
    #[serde(default = "auto")]
    pub logout_profile: String,
    /// Phone button template; `ucm4` logs a 7940 in only with "7940 1-Line"
    /// or "7940 2-Line" (BTN-6). Default: `Standard <model>`.
    pub template: Option<String>,
}

fn yes() -> bool {
    true
}

fn auto() -> String {
    "auto".into()
}

/// Generated users, devices and profiles.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fleet {
    pub count: u32,
    /// Percent of devices per model; must add up to 100.
    #[serde(default = "default_models")]
    pub models: BTreeMap<String, u32>,
    /// The devices' locale (their logout profile's), and the users' and
    /// profiles' unless `profile_locales` says otherwise.
    #[serde(default = "default_locale")]
    pub locale: String,
    /// Percent of users (and their profiles) per locale; must add up to 100.
    #[serde(default)]
    pub profile_locales: BTreeMap<String, u32>,
    /// Percent of devices per add-on module count (`"0"`, `"1"`, ...), for
    /// devices whose model takes modules (capped at the model's maximum).
    #[serde(default)]
    pub modules: BTreeMap<String, u32>,
    /// The same for the users' profiles.
    #[serde(default)]
    pub profile_modules: BTreeMap<String, u32>,
}

fn default_models() -> BTreeMap<String, u32> {
    BTreeMap::from([("7960".to_string(), 100)])
}

/// The locale of generated users, profiles and devices.
pub const DEFAULT_LOCALE: &str = "English_United_States";

fn default_locale() -> String {
    DEFAULT_LOCALE.into()
}

/// The largest fleet a lab file may generate.
pub const MAX_FLEET: u32 = 1_000_000;

/// One generated user with the device and profile made for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetMember {
    pub index: u32,
    pub user_id: String,
    pub pin: String,
    pub primary_extension: String,
    pub device_name: String,
    pub model: &'static PhoneModel,
    pub profile_name: String,
    /// The device's locale (its autogenerated logout profile's).
    pub locale: String,
    /// The user's and the profile's locale.
    pub profile_locale: String,
    /// Add-on modules on the device (lab-file module names).
    pub modules: Vec<&'static str>,
    /// Add-on modules on the user's profile.
    pub profile_modules: Vec<&'static str>,
}

/// A percentage mix spread over 100 slots by smooth weighted round-robin
/// (keys in order, ties to the first): every key gets exactly its
/// percentage of each 100 consecutive slots, evenly spread.
fn mix_table<T: Copy>(weights: &[(T, i64)], fallback: T) -> [T; 100] {
    let mut current = vec![0i64; weights.len()];
    let mut table = [fallback; 100];
    for slot in table.iter_mut() {
        for (c, (_, w)) in current.iter_mut().zip(weights) {
            *c += w;
        }
        let Some(best) = (0..weights.len()).max_by_key(|&k| (current[k], std::cmp::Reverse(k)))
        else {
            break;
        };
        current[best] -= 100;
        *slot = weights[best].0;
    }
    table
}

/// The mixes of a fleet as 100-slot tables.
struct FleetTables {
    models: [&'static PhoneModel; 100],
    profile_locales: [usize; 100],
    modules: [u8; 100],
    profile_modules: [u8; 100],
}

/// Slot of member `i` in a table: each mix other than the models' is
/// rotated by a different amount every 100 members, so models, locales and
/// module counts combine differently block after block while every block
/// keeps each mix's exact percentages.
fn slot(i: u32, rotation: u32) -> usize {
    ((i + (i / 100) * rotation) % 100) as usize
}

impl Fleet {
    /// Member `i`, exactly as PROTOCOL.md §6 names it.
    pub fn member(&self, i: u32) -> FleetMember {
        self.member_with(&self.tables(), i)
    }

    /// All members, in index order.
    pub fn members(&self) -> impl Iterator<Item = FleetMember> + '_ {
        let tables = self.tables();
        (0..self.count).map(move |i| self.member_with(&tables, i))
    }

    fn member_with(&self, t: &FleetTables, i: u32) -> FleetMember {
        let model = t.models[(i % 100) as usize];
        let profile_locale = match self
            .profile_locales
            .keys()
            .nth(t.profile_locales[slot(i, 37)])
        {
            Some(l) if !self.profile_locales.is_empty() => l.clone(),
            _ => self.locale.clone(),
        };
        let modules_of = |n: u8| -> Vec<&'static str> {
            match model.add_on {
                Some(m) => vec![m.name; (n as usize).min(model.max_add_ons as usize)],
                None => Vec::new(),
            }
        };
        FleetMember {
            index: i,
            user_id: format!("user{i:05}"),
            pin: format!("1{i:05}"),
            primary_extension: format!("{}", 20000 + i as u64),
            device_name: format!("SEP{:012X}", 0x0E00_0000_0000u64 + i as u64),
            model,
            profile_name: format!("user{i:05}-{}", model.name),
            locale: self.locale.clone(),
            profile_locale,
            modules: modules_of(t.modules[slot(i, 53)]),
            profile_modules: modules_of(t.profile_modules[slot(i, 71)]),
        }
    }

    fn tables(&self) -> FleetTables {
        // Validation guarantees known models and totals of 100.
        let models: Vec<(&'static PhoneModel, i64)> = self
            .models
            .iter()
            .filter_map(|(name, &pct)| phone_model::find(name).map(|m| (m, pct as i64)))
            .collect();
        let locales: Vec<(usize, i64)> = self
            .profile_locales
            .values()
            .enumerate()
            .map(|(k, &pct)| (k, pct as i64))
            .collect();
        let counts = |mix: &BTreeMap<String, u32>| -> [u8; 100] {
            let weights: Vec<(u8, i64)> = mix
                .iter()
                .filter_map(|(n, &pct)| n.parse::<u8>().ok().map(|n| (n, pct as i64)))
                .collect();
            mix_table(&weights, 0)
        };
        FleetTables {
            models: mix_table(&models, &phone_model::CATALOGUE[0]),
            profile_locales: mix_table(&locales, 0),
            modules: counts(&self.modules),
            profile_modules: counts(&self.profile_modules),
        }
    }
}

/// A parsed and validated lab file.
#[derive(Clone, Debug)]
pub struct Lab {
    pub file: LabFile,
}

impl Lab {
    /// Reads, parses and validates a lab file.
    pub fn load(path: &Path) -> Result<Lab, ConfigError> {
        let (file, source): (LabFile, String) = read_toml(path)?;
        validate(&file, path, &source)?;
        Ok(Lab { file })
    }

    /// Parses lab text; `path` only names it in errors.
    pub fn parse(path: &Path, source: &str) -> Result<Lab, ConfigError> {
        let file: LabFile = parse_toml(path, source)?;
        validate(&file, path, source)?;
        Ok(Lab { file })
    }

    pub fn fleet_members(&self) -> impl Iterator<Item = FleetMember> + '_ {
        self.file.fleet.iter().flat_map(|f| f.members())
    }

    pub fn fleet_size(&self) -> u32 {
        self.file.fleet.as_ref().map_or(0, |f| f.count)
    }

    /// The first application with Authentication Proxy Rights: the one a
    /// fleet or `emlab conform` calls the EM API as.
    pub fn proxy_app(&self) -> Option<crate::em_api::AppInfo> {
        self.file
            .application
            .iter()
            .find(|a| a.proxy_rights)
            .map(|a| crate::em_api::AppInfo::new(a.id.clone(), a.certificate.clone()))
    }
}

/// Whether `name` is `SEP` followed by 12 upper-case hex digits.
pub fn is_device_name(name: &str) -> bool {
    name.len() == 15
        && name.starts_with("SEP")
        && name[3..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

/// A profile's entries a lab file or a live edit (PROF-9) gets wrong: the
/// key, the value and why.
pub struct BadEntry {
    pub key: &'static str,
    pub value: String,
    pub message: String,
}

/// Checks a profile's lines and speed dials under `server`: speed-dial tags
/// 1 to 36 and overlay numbers (BTN-7), no monitored first line under `cme`
/// (BTN-3), intercom default devices that exist (PROF-10).
pub fn check_entries(
    server: ServerProfile,
    profile: &str,
    lines: &[Line],
    speed_dials: &[SpeedDial],
    has_device: impl Fn(&str) -> bool,
) -> Result<(), BadEntry> {
    let bad = |key, value: &str, message: String| BadEntry {
        key,
        value: value.to_string(),
        message,
    };
    for sd in speed_dials {
        if !(1..=36).contains(&sd.tag) {
            let v = sd.tag.to_string();
            return Err(bad(
                "speed_dials",
                &v,
                format!("speed-dial tag {v} is outside 1 to 36 (BTN-7)"),
            ));
        }
    }
    if server == ServerProfile::Cme
        && let Some(number) = crate::buttons::monitored_first_line(lines)
    {
        return Err(bad(
            "name",
            profile,
            format!(
                "profile `{profile}`: its first line appearance would be the monitored number {number}; under cme the first line cannot be monitored (BTN-3)"
            ),
        ));
    }
    for l in lines {
        if let Some(d) = &l.default_device {
            if !l.intercom {
                return Err(bad(
                    "default_device",
                    d,
                    format!(
                        "line {}: only an intercom line has a default device (PROF-10)",
                        l.number
                    ),
                ));
            }
            if !has_device(d) {
                return Err(bad(
                    "default_device",
                    d,
                    format!("line {}: no device {d} in this lab (PROF-10)", l.number),
                ));
            }
        }
        let numbers = l.number.split(',').count();
        let overlay = matches!(l.line_type, LineType::Overlay | LineType::CwOverlay);
        if (!overlay && numbers > 1) || numbers > 25 {
            return Err(bad(
                "lines",
                &l.number,
                format!(
                    "`{}`: only overlay lines hold several numbers, at most 25 (BTN-7)",
                    l.number
                ),
            ));
        }
    }
    Ok(())
}

fn validate(lab: &LabFile, path: &Path, src: &str) -> Result<(), ConfigError> {
    let err = |key: &str, value: &str, msg: String| ConfigError::at_key(path, src, key, value, msg);
    let sp = &lab.service_parameters;
    if let Err((key, message)) = sp.check(lab.server.profile) {
        let value = match key {
            "max_login_time" => sp.max_login_time.clone(),
            "max_concurrent_requests" => sp.max_concurrent_requests.to_string(),
            "cache_size" => sp.cache_size.to_string(),
            _ => String::new(),
        };
        return Err(err(key, &value, message));
    }
    if lab.server.logout_times.len() > 3 {
        return Err(err(
            "logout_times",
            "",
            "at most three times of day (TIME-4)".into(),
        ));
    }
    if !lab.server.logout_times.is_empty() && lab.server.profile != ServerProfile::Cme {
        return Err(err(
            "logout_times",
            "",
            "time-of-day logouts are a CME feature: set profile = \"cme\"".into(),
        ));
    }
    for t in &lab.server.logout_times {
        parse_time_of_day(t).map_err(|e| err("logout_times", t, e))?;
    }
    if let Some(p) = lab
        .server
        .url_authentication
        .iter()
        .find(|p| !matches!(p.as_str(), "sccp" | "sip"))
    {
        return Err(err(
            "url_authentication",
            p,
            format!(
                "`{p}` is no protocol: name \"sccp\" (telephony-service) or \"sip\" (voice register global)"
            ),
        ));
    }
    if let Some(t) = &lab.server.clock_start {
        parse_time_of_day(t).map_err(|e| err("clock_start", t, e))?;
    }
    if lab.server.operation_time_ms > 60_000 {
        let v = lab.server.operation_time_ms.to_string();
        return Err(err("operation_time_ms", &v, "must be at most 60000".into()));
    }

    let check_model = |model: &str| -> Result<&'static PhoneModel, ConfigError> {
        phone_model::find(model).ok_or_else(|| {
            err(
                "model",
                model,
                format!(
                    "unknown model `{model}`; known: {}",
                    phone_model::names().join(", ")
                ),
            )
        })
    };
    let check_modules = |model: &PhoneModel, modules: &[String]| -> Result<(), ConfigError> {
        for m in modules {
            if !model.accepts_module(m) {
                return Err(err(
                    "modules",
                    m,
                    format!("model {} cannot take module `{m}`", model.name),
                ));
            }
        }
        if modules.len() > model.max_add_ons as usize {
            return Err(err(
                "modules",
                "",
                format!(
                    "model {} takes at most {} modules, got {}",
                    model.name,
                    model.max_add_ons,
                    modules.len()
                ),
            ));
        }
        Ok(())
    };

    let mut apps = HashSet::new();
    for a in &lab.application {
        if a.id.is_empty() || !apps.insert(a.id.as_str()) {
            return Err(err(
                "id",
                &a.id,
                format!("application id `{}` is empty or repeated", a.id),
            ));
        }
    }
    let mut profiles = HashSet::new();
    for p in &lab.profile {
        if !profiles.insert(p.name.as_str()) {
            return Err(err(
                "name",
                &p.name,
                format!("profile `{}` is defined twice", p.name),
            ));
        }
        let model = check_model(&p.model)?;
        check_modules(model, &p.modules)?;
        if let Some(idle) = p.max_idle_time
            && !(1..=9999).contains(&idle)
        {
            return Err(err(
                "max_idle_time",
                &idle.to_string(),
                format!("{idle} is outside 1 to 9999 minutes (TIME-5)"),
            ));
        }
        let has_device = |name: &str| lab.device.iter().any(|dev| dev.name == name);
        if let Err(bad) = check_entries(
            lab.server.profile,
            &p.name,
            &p.lines,
            &p.speed_dials,
            has_device,
        ) {
            return Err(err(bad.key, &bad.value, bad.message));
        }
    }
    let mut default_models = HashSet::new();
    for d in &lab.default_profile {
        let model = check_model(&d.model)?;
        check_modules(model, &d.modules)?;
        if !default_models.insert(model.name) {
            return Err(err(
                "model",
                &d.model,
                format!("a second default profile for model {}", d.model),
            ));
        }
    }
    let mut users = HashSet::new();
    for u in &lab.user {
        if u.id.is_empty() || !users.insert(u.id.as_str()) {
            return Err(err(
                "id",
                &u.id,
                format!("user id `{}` is empty or repeated", u.id),
            ));
        }
        if let Some(password) = &u.password {
            if lab.server.profile != ServerProfile::Cme {
                return Err(err(
                    "password",
                    password,
                    "a login password is CME's credential (AUTH-8): set profile = \"cme\", or use pin".into(),
                ));
            }
            if password.is_empty() || !password.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(err(
                    "password",
                    password,
                    format!(
                        "user `{}`: a password is one or more letters and digits (AUTH-8)",
                        u.id
                    ),
                ));
            }
        }
        if let Some(t) = &u.max_login_time {
            parse_login_time(t).map_err(|e| err("max_login_time", t, e))?;
        }
        for p in &u.profiles {
            if !profiles.contains(p.as_str()) {
                return Err(err(
                    "profiles",
                    p,
                    format!("user `{}` names unknown profile `{p}`", u.id),
                ));
            }
        }
    }
    let mut devices = HashSet::new();
    for d in &lab.device {
        if !is_device_name(&d.name) {
            return Err(err(
                "name",
                &d.name,
                format!("`{}` is not SEP + 12 upper-case hex digits", d.name),
            ));
        }
        if !devices.insert(d.name.as_str()) {
            return Err(err(
                "name",
                &d.name,
                format!("device `{}` is defined twice", d.name),
            ));
        }
        let model = check_model(&d.model)?;
        check_modules(model, &d.modules)?;
        if d.logout_profile != "auto" && !profiles.contains(d.logout_profile.as_str()) {
            return Err(err(
                "logout_profile",
                &d.logout_profile,
                format!(
                    "unknown profile `{}` (use \"auto\" or a [[profile]] name)",
                    d.logout_profile
                ),
            ));
        }
    }
    if let Some(f) = &lab.fleet {
        if f.count > MAX_FLEET {
            return Err(err(
                "count",
                &f.count.to_string(),
                format!("at most {MAX_FLEET} phones"),
            ));
        }
        if f.models.is_empty() {
            return Err(err("models", "", "needs at least one model".into()));
        }
        for (name, pct) in &f.models {
            phone_model::find(name).ok_or_else(|| {
                err(
                    "models",
                    name,
                    format!(
                        "unknown model `{name}`; known: {}",
                        phone_model::names().join(", ")
                    ),
                )
            })?;
            if *pct > 100 {
                return Err(err(
                    "models",
                    name,
                    format!("{name} = {pct} is more than 100 percent"),
                ));
            }
        }
        let total: u32 = f.models.values().sum();
        if total != 100 {
            return Err(err(
                "models",
                "",
                format!("percentages add up to {total}, not 100"),
            ));
        }
        for (key, mix, numeric) in [
            ("profile_locales", &f.profile_locales, false),
            ("modules", &f.modules, true),
            ("profile_modules", &f.profile_modules, true),
        ] {
            if mix.is_empty() {
                continue;
            }
            if numeric
                && let Some(bad) = mix.keys().find(|k| k.parse::<u8>().map_or(true, |n| n > 3))
            {
                return Err(err(
                    key,
                    bad,
                    format!("`{bad}` is not a module count from 0 to 3"),
                ));
            }
            let total: u32 = mix.values().sum();
            if total != 100 {
                return Err(err(
                    key,
                    "",
                    format!("percentages add up to {total}, not 100"),
                ));
            }
        }
        // Generated names must not collide with the explicit ones.
        if let Some(m) = f.members().find(|m| {
            users.contains(m.user_id.as_str()) || devices.contains(m.device_name.as_str())
        }) {
            return Err(err(
                "count",
                &f.count.to_string(),
                format!(
                    "generated `{}` / `{}` collides with an explicit user or device",
                    m.user_id, m.device_name
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lab(src: &str) -> Result<Lab, ConfigError> {
        Lab::parse(Path::new("lab.toml"), src)
    }

    /// BTN-3: under cme a profile whose first line appearance would be a
    /// monitored number is a configuration error naming the profile, with
    /// its line; ucm takes it as it is.
    #[test]
    fn btn_3_a_cme_profile_starting_with_a_monitored_line_is_refused() {
        let text = |server: &str| {
            format!(
                "[server]\nprofile = \"{server}\"\n\n[[profile]]\nname = \"watcher\"\nmodel = \"7960\"\nlines = [{{ number = \"3001\", type = \"monitor-ring\" }}, {{ number = \"3002,3003\", type = \"overlay\" }}]\n"
            )
        };
        let e = lab(&text("cme")).unwrap_err();
        assert_eq!(e.line, Some(5), "the profile's name: {e}");
        assert!(e.message.contains("profile `watcher`"), "{e}");
        assert!(e.message.contains("monitored number 3001"), "{e}");
        assert!(lab(&text("ucm")).is_ok());
    }

    /// LOGS-2: `url_authentication` names protocols; under cme a protocol
    /// left out gets no authentication URL, CallManager always gives one.
    #[test]
    fn logs_2_url_authentication_names_the_phones_protocols() {
        use crate::phone_model::ControlProtocol::{Sccp, Sip};
        let e = lab("[server]\nprofile = \"cme\"\nurl_authentication = [\"h323\"]\n").unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        assert!(e.message.contains("`h323`"), "{e}");
        let cme = lab("[server]\nprofile = \"cme\"\nurl_authentication = [\"sip\"]\n").unwrap();
        let s = &cme.file.server;
        assert!(!s.gives_authentication_url(Sccp) && s.gives_authentication_url(Sip));
        let ucm = lab("[server]\nurl_authentication = []\n").unwrap();
        assert!(ucm.file.server.gives_authentication_url(Sccp));
        let default = lab("[server]\nprofile = \"cme\"\n").unwrap();
        assert!(default.file.server.gives_authentication_url(Sccp));
    }

    #[test]
    fn fleet_names_follow_the_spec() {
        let l = lab("[fleet]\ncount = 3\nmodels = { \"7960\" = 100 }\n").unwrap();
        let m: Vec<_> = l.fleet_members().collect();
        assert_eq!(m[2].user_id, "user00002");
        assert_eq!(m[2].pin, "100002");
        assert_eq!(m[2].primary_extension, "20002");
        assert_eq!(m[2].device_name, "SEP0E0000000002");
        assert_eq!(m[2].profile_name, "user00002-7960");
    }

    #[test]
    fn fleet_locale_and_module_mixes_are_exact_per_hundred_and_combine() {
        let l = lab(
            "[fleet]\ncount = 400\nmodels = { \"7960\" = 50, \"7940\" = 50 }\n\
             profile_locales = { \"English_United_States\" = 70, \"French_France\" = 30 }\n\
             modules = { \"0\" = 50, \"2\" = 50 }\nprofile_modules = { \"1\" = 100 }\n",
        )
        .unwrap();
        let m: Vec<_> = l.fleet_members().collect();
        for block in m.chunks(100) {
            let french = block
                .iter()
                .filter(|m| m.profile_locale == "French_France")
                .count();
            assert_eq!(french, 30);
        }
        // Only the 7960 takes a 7914; the 7940 never gets one.
        assert!(
            m.iter()
                .filter(|m| m.model.name == "7940")
                .all(|m| m.modules.is_empty())
        );
        let with_two = m.iter().filter(|m| m.modules == ["7914", "7914"]).count();
        assert!(with_two > 50 && with_two < 150, "{with_two}");
        assert!(
            m.iter()
                .filter(|m| m.model.name == "7960")
                .all(|m| m.profile_modules == ["7914"])
        );
        // Locales and modules do not repeat the same pattern in every block.
        let pattern = |b: &[FleetMember]| -> Vec<bool> {
            b.iter()
                .map(|m| m.profile_locale == "French_France")
                .collect()
        };
        assert_ne!(pattern(&m[0..100]), pattern(&m[100..200]));
        let e = lab("[fleet]\ncount = 10\nmodules = { \"5\" = 100 }\n").unwrap_err();
        assert!(e.to_string().contains("module count"), "{e}");
    }

    #[test]
    fn fleet_mix_matches_percentages_on_every_prefix() {
        let l = lab("[fleet]\ncount = 1000\nmodels = { \"7960\" = 40, \"7940\" = 30, \"7905\" = 10, \"8851\" = 20 }\n")
            .unwrap();
        let mut counts = BTreeMap::new();
        for (n, m) in l.fleet_members().enumerate() {
            *counts.entry(m.model.name).or_insert(0u32) += 1;
            for (name, pct) in &l.file.fleet.as_ref().unwrap().models {
                let want = (n as f64 + 1.0) * *pct as f64 / 100.0;
                let got = *counts.get(name.as_str()).unwrap_or(&0) as f64;
                assert!(
                    (got - want).abs() <= 1.0,
                    "prefix {n}: {name} {got} vs {want}"
                );
            }
        }
        assert_eq!(counts["7960"], 400);
        assert_eq!(counts["8851"], 200);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let e = lab("[service_parameters]\nmax_concurent_requests = 3\n").unwrap_err();
        assert_eq!(e.line, Some(2));
        assert_eq!(e.key.as_deref(), Some("max_concurent_requests"));
        assert!(
            e.to_string()
                .starts_with("lab.toml:2: key `max_concurent_requests`: unknown field"),
            "{e}"
        );
    }

    #[test]
    fn bad_values_are_refused_with_their_line() {
        let e = lab("[service_parameters]\nmultiple_login_behavior = \"sometimes\"\n").unwrap_err();
        assert_eq!(
            (e.line, e.key.as_deref()),
            (Some(2), Some("multiple_login_behavior"))
        );
        let e = lab("[[device]]\nname = \"SEP1\"\nmodel = \"7960\"\n").unwrap_err();
        assert_eq!((e.line, e.key.as_deref()), (Some(2), Some("name")));
        let e =
            lab("[[device]]\nname = \"SEP000000001000\"\nmodel = \"7905\"\nmodules = [\"7914\"]\n")
                .unwrap_err();
        assert!(e.message.contains("cannot take module"), "{e}");
        let e = lab("[fleet]\ncount = 10\nmodels = { \"7960\" = 50 }\n").unwrap_err();
        assert!(e.message.contains("add up to 50"), "{e}");
        let e = lab("[service_parameters]\nmax_login_time = \"169:00\"\n").unwrap_err();
        assert_eq!(e.line, Some(2));
    }

    #[test]
    fn btn_7_speed_dial_tags_and_overlay_numbers_are_checked() {
        let profile =
            |extra: &str| format!("[[profile]]\nname = \"p\"\nmodel = \"7960\"\n{extra}\n");
        let e = lab(&profile("speed_dials = [{ tag = 37, number = \"1\" }]")).unwrap_err();
        assert_eq!(
            (e.key.as_deref(), e.line),
            (Some("speed_dials"), Some(4)),
            "{e}"
        );
        assert!(lab(&profile("speed_dials = [{ tag = 36, number = \"1\" }]")).is_ok());
        let numbers = |n: usize| (1..=n).map(|i| i.to_string()).collect::<Vec<_>>().join(",");
        let overlay = |n: usize| {
            profile(&format!(
                "lines = [{{ number = \"{}\", type = \"overlay\" }}]",
                numbers(n)
            ))
        };
        assert!(lab(&overlay(25)).is_ok());
        assert!(
            lab(&overlay(26))
                .unwrap_err()
                .message
                .contains("at most 25")
        );
        let normal = profile("lines = [{ number = \"1,2\" }]");
        assert!(
            lab(&normal)
                .unwrap_err()
                .message
                .contains("only overlay lines")
        );
    }

    #[test]
    fn login_time_bounds() {
        assert_eq!(parse_login_time("8:00"), Ok(480));
        assert_eq!(parse_login_time("168:00"), Ok(168 * 60));
        assert_eq!(parse_login_time("0:00"), Ok(0));
        assert!(parse_login_time("168:01").is_err());
        assert!(parse_login_time("1:60").is_err());
        assert!(parse_login_time("abc").is_err());
        assert!(parse_login_time(":3").is_err());
        assert!(parse_login_time("+1:00").is_err());
    }

    /// TIME-1: the hour part may be empty; `:30` is thirty minutes.
    #[test]
    fn time_1_an_empty_hour_part_is_valid() {
        assert_eq!(parse_login_time(":30"), Ok(30));
        assert_eq!(parse_login_time(":00"), Ok(0));
    }

    /// TIME-1: 0:00 (no limit) is valid under ucm, below the range under ucm4.
    #[test]
    fn time_1_ucm4_maximum_login_time_starts_at_0_01() {
        let p = |t: &str| ServiceParameters {
            max_login_time: t.into(),
            ..Default::default()
        };
        assert!(p("0:00").check(ServerProfile::Ucm).is_ok());
        let (key, why) = p("0:00").check(ServerProfile::Ucm4).unwrap_err();
        assert_eq!(key, "max_login_time");
        assert!(why.contains("0:01"), "{why}");
        assert!(p(":01").check(ServerProfile::Ucm4).is_ok());
    }
}
