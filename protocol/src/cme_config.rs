//! A Cisco Unified CME running-config, read into a `profile = "cme"` lab
//! (PROTOCOL.md §8; `emlab lab import --cme FILE`).
//!
//! The commands EM needs, in their IOS modes:
//!
//! ```text
//! telephony-service             em logout 19:00 24:00      (TIME-4, up to three)
//!                               em keep-history            (LOGS-2)
//!                               url authentication URL ... (LOGS-2: SCCP phones can clear call history)
//!                               authentication credential NAME PW  (an application)
//! voice register global         url authentication URL     (LOGS-2: the same for SIP phones)
//! voice logout-profile 1        number 3001 type silent-ring
//! voice user-profile 1          number 3005,3006 type overlay
//!                               speed-dial 1 2000 [label "Front desk"] [blf]
//!                               user me password pass123   (AUTH-8; user-profile: the login)
//!                               pin 12345                  (call blocking only)
//!                               max-idle-time 30           (TIME-5, user-profile)
//! ephone 1                      mac-address 000D.EDAB.3566
//! voice register pool 1         id mac 0123.4567.89AB
//!                               type 7960
//!                               logout-profile 1
//! ```
//!
//! Pasted CLI sessions work too: `Router(config-ephone)#` prompts, `enable`,
//! `configure terminal`, `exit` and `end` are understood. Every other
//! command is listed as ignored with its line number; a known command with
//! a bad value is an error naming its line.
//!
//! Choices where IOS and emlab's lab differ:
//! - CME profiles have no phone model; a lab profile needs one, so each
//!   gets the type of the first phone that names it (user profiles: of the
//!   first phone in the file). It only matters for emlab's cross-model rules.
//! - `cw-overly`, as seed E's examples spell it, is read as `cw-overlay`.
//! - A MAC in dotted groups shorter than four digits (`12.34.56`, as in seed
//!   E's SIP example) is read with each group left-padded to four.
//! - `blf` on a speed dial is accepted; busy-lamp monitoring is not simulated.

use crate::lab::{Line, LineType, SpeedDial};
use crate::phone_model;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// What the import found: the lab, what it ignored and what it noted.
#[derive(Debug)]
pub struct Imported {
    pub lab: CmeLab,
    /// `(line number, line)` of every command emlab does not use.
    pub ignored: Vec<(usize, String)>,
    /// Remarks about choices made (a line number when there is one).
    pub notes: Vec<(Option<usize>, String)>,
}

/// The lab file an import writes (the subset of PROTOCOL.md §6 a CME
/// configuration fills).
#[derive(Debug, Default, Serialize)]
pub struct CmeLab {
    pub server: CmeServer,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub application: Vec<CmeApplication>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub user: Vec<CmeUser>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profile: Vec<CmeProfile>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub device: Vec<CmeDevice>,
    /// The roles of `emlab conform` the imported entries can play.
    #[serde(skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub conformance: std::collections::BTreeMap<&'static str, String>,
}

#[derive(Debug, Serialize)]
pub struct CmeServer {
    pub profile: &'static str,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub keep_history: bool,
    /// Always written: a router without `url authentication` gives its
    /// phones no authentication URL, which a lab's default would hide.
    pub url_authentication: Vec<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub logout_times: Vec<String>,
}

impl Default for CmeServer {
    fn default() -> Self {
        CmeServer {
            profile: "cme",
            keep_history: false,
            url_authentication: Vec::new(),
            logout_times: Vec::new(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct CmeApplication {
    pub id: String,
    pub certificate: String,
    pub proxy_rights: bool,
}

#[derive(Debug, Serialize)]
pub struct CmeUser {
    pub id: String,
    pub password: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pin: String,
    pub profiles: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct CmeProfile {
    pub name: String,
    pub model: String,
    pub lines: Vec<Line>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub speed_dials: Vec<SpeedDial>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_idle_time: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct CmeDevice {
    pub name: String,
    pub model: String,
    pub logout_profile: String,
}

/// What one profile puts on one model's buttons (BTN-1/2 under `cme`).
#[derive(Debug, PartialEq, Eq)]
pub struct Layout {
    pub model: String,
    pub profile: String,
    pub lines: usize,
    pub speed_dials: usize,
    /// Profile entries with no button left.
    pub dropped: usize,
}

impl CmeLab {
    /// Each phone's logout profile on it, then each user profile on every
    /// model of the configuration: what the phones will show.
    pub fn layouts(&self) -> Vec<(Option<String>, Layout)> {
        let of = |model: &str, profile: &CmeProfile| -> Option<Layout> {
            let m = phone_model::find(model)?;
            let entries = crate::buttons::ButtonEntries {
                device: None,
                lines: &profile.lines,
                speed_dials: &profile.speed_dials,
                features: &[],
                services: &[],
            };
            let buttons = crate::buttons::layout(m, 0, crate::ServerProfile::Cme, &entries);
            let count =
                |k: crate::buttons::ButtonKind| buttons.iter().filter(|b| b.kind == k).count();
            let (lines, speed_dials) = (
                count(crate::buttons::ButtonKind::Line),
                count(crate::buttons::ButtonKind::SpeedDial),
            );
            Some(Layout {
                model: model.to_string(),
                profile: profile.name.clone(),
                lines,
                speed_dials,
                dropped: (profile.lines.len() + profile.speed_dials.len())
                    .saturating_sub(lines + speed_dials),
            })
        };
        let mut out = Vec::new();
        for d in &self.device {
            if let Some(p) = self.profile.iter().find(|p| p.name == d.logout_profile)
                && let Some(l) = of(&d.model, p)
            {
                out.push((Some(d.name.clone()), l));
            }
        }
        let mut models: Vec<&str> = self.device.iter().map(|d| d.model.as_str()).collect();
        models.dedup();
        for u in &self.user {
            for p in self.profile.iter().filter(|p| u.profiles.contains(&p.name)) {
                for m in &models {
                    if let Some(l) = of(m, p) {
                        out.push((None, l));
                    }
                }
            }
        }
        out
    }

    /// The lab as TOML, with a header saying where it came from.
    pub fn to_toml(&self, source: &str) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        format!(
            "# A `cme` lab imported from {source} by `emlab lab import --cme`.\n\
             # Schema: the lab file of PROTOCOL.md §6.\n\n{body}"
        )
    }
}

/// A bad value in a known command.
#[derive(Debug, PartialEq, Eq)]
pub struct ImportError {
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// The IOS mode a line is read in.
#[derive(Clone, Debug, PartialEq)]
enum Mode {
    Global,
    Telephony,
    /// `voice register global`: settings for SIP phones.
    RegisterGlobal,
    LogoutProfile(u32),
    UserProfile(u32),
    Ephone(u32),
    Pool(u32),
    /// A mode emlab does not use (its sub-commands are ignored).
    Other,
}

/// `url authentication` gives phones of `protocol` an authentication URL.
fn authenticates(server: &mut CmeServer, protocol: &'static str) {
    if !server.url_authentication.contains(&protocol) {
        server.url_authentication.push(protocol);
        server.url_authentication.sort_unstable();
    }
}

#[derive(Default)]
struct ProfileDraft {
    /// Where `voice logout-profile` / `voice user-profile` opened it.
    line: usize,
    lines: Vec<Line>,
    speed_dials: Vec<SpeedDial>,
    max_idle_time: Option<u32>,
    credential: Option<(String, String, usize)>,
    pin: String,
}

#[derive(Default)]
struct PhoneDraft {
    mac: Option<String>,
    model: Option<String>,
    logout_profile: Option<(u32, usize)>,
    line: usize,
}

/// Splits a pasted prompt (`Router(config-ephone)#`) off a line: the mode
/// it names (`Some("config-ephone")`, `Some("")` for exec) and the command.
fn strip_prompt(line: &str) -> (Option<&str>, &str) {
    let t = line.trim_start();
    if let Some(hash) = t.find('#') {
        let head = &t[..hash];
        if !head.is_empty() && !head.contains(' ') {
            let mode = head
                .find('(')
                .and_then(|open| head[open + 1..].strip_suffix(')'))
                .unwrap_or("");
            let is_prompt = head.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && (head.contains('(') == head.ends_with(')'));
            if is_prompt {
                return (Some(mode), t[hash + 1..].trim());
            }
        }
    }
    (None, t.trim())
}

/// IOS words, with `"quoted strings"` kept whole.
fn words(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in command.chars() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => {
                if !current.is_empty() {
                    out.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

fn line_type(word: &str) -> Option<LineType> {
    Some(match word {
        "normal" => LineType::Normal,
        "silent-ring" => LineType::SilentRing,
        "beep-ring" => LineType::BeepRing,
        "feature-ring" => LineType::FeatureRing,
        "monitor-ring" => LineType::MonitorRing,
        "overlay" => LineType::Overlay,
        // Seed E writes `cw-overly` in every example.
        "cw-overlay" | "cw-overly" => LineType::CwOverlay,
        _ => return None,
    })
}

/// `000D.EDAB.3566` (or `12.34.56`: groups left-padded) as `SEP000DEDAB3566`.
fn device_name(mac: &str) -> Option<String> {
    let groups: Vec<&str> = mac.split('.').collect();
    let hex = |g: &&str| !g.is_empty() && g.len() <= 4 && g.chars().all(|c| c.is_ascii_hexdigit());
    let digits = if groups.len() == 3 && groups.iter().all(hex) {
        groups
            .iter()
            .map(|g| format!("{g:0>4}"))
            .collect::<String>()
    } else {
        let plain: String = mac.chars().filter(|c| *c != ':' && *c != '-').collect();
        if plain.len() == 12 && plain.chars().all(|c| c.is_ascii_hexdigit()) {
            plain
        } else {
            return None;
        }
    };
    Some(format!("SEP{}", digits.to_ascii_uppercase()))
}

fn number<T: std::str::FromStr>(word: Option<&String>) -> Option<T> {
    word.and_then(|w| w.parse().ok())
}

/// Reads a running-config.
pub fn import(text: &str) -> Result<Imported, ImportError> {
    let mut mode = Mode::Global;
    let mut ignored = Vec::new();
    let mut notes = Vec::new();
    let mut server = CmeServer::default();
    let mut applications = Vec::new();
    let mut logout_profiles: BTreeMap<u32, ProfileDraft> = BTreeMap::new();
    let mut user_profiles: BTreeMap<u32, ProfileDraft> = BTreeMap::new();
    let mut phones: Vec<PhoneDraft> = Vec::new();
    let mut ephone_index: HashMap<(bool, u32), usize> = HashMap::new();

    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let bad = |message: String| ImportError { line: n, message };
        let (prompt, command) = strip_prompt(raw);
        if command.is_empty() || command.starts_with('!') {
            continue;
        }
        let indented = raw.starts_with(' ') || raw.starts_with('\t');
        // A prompt says which mode the command was typed in; without one,
        // an unindented command is global, as in `show running-config`.
        let sub_command = match prompt {
            Some(p) => p.starts_with("config-"),
            None => indented,
        };
        if !sub_command {
            mode = Mode::Global;
        }
        let w = words(command);
        let w: Vec<&str> = w.iter().map(String::as_str).collect();
        let owned: Vec<String> = w.iter().map(|s| s.to_string()).collect();
        // Only quotes (`""`): no command at all.
        if w.is_empty() {
            ignored.push((n, command.to_string()));
            continue;
        }
        if matches!(w[0], "end" | "exit") {
            mode = Mode::Global;
            continue;
        }
        if matches!(prompt, Some("")) || (prompt.is_none() && !indented && mode == Mode::Global) {
            // Exec-mode housekeeping of pasted sessions.
            if matches!(w[0], "en" | "enable" | "conf" | "configure") {
                continue;
            }
        }
        match (&mode, sub_command) {
            (_, false) => {
                let tag = |k: usize| -> Result<u32, ImportError> {
                    number(owned.get(k)).filter(|t| *t > 0).ok_or_else(|| {
                        bad(format!("`{command}`: the tag must be a positive number"))
                    })
                };
                mode = match w.as_slice() {
                    ["telephony-service"] => Mode::Telephony,
                    ["voice", "register", "global"] => Mode::RegisterGlobal,
                    ["voice", "logout-profile", ..] => {
                        let t = tag(2)?;
                        logout_profiles.entry(t).or_insert_with(|| ProfileDraft {
                            line: n,
                            ..ProfileDraft::default()
                        });
                        Mode::LogoutProfile(t)
                    }
                    ["voice", "user-profile", ..] => {
                        let t = tag(2)?;
                        user_profiles.entry(t).or_insert_with(|| ProfileDraft {
                            line: n,
                            ..ProfileDraft::default()
                        });
                        Mode::UserProfile(t)
                    }
                    ["ephone", ..] => {
                        let t = tag(1)?;
                        ephone_index.entry((false, t)).or_insert_with(|| {
                            phones.push(PhoneDraft {
                                line: n,
                                ..PhoneDraft::default()
                            });
                            phones.len() - 1
                        });
                        Mode::Ephone(t)
                    }
                    ["voice", "register", "pool", ..] => {
                        let t = tag(3)?;
                        ephone_index.entry((true, t)).or_insert_with(|| {
                            phones.push(PhoneDraft {
                                line: n,
                                ..PhoneDraft::default()
                            });
                            phones.len() - 1
                        });
                        Mode::Pool(t)
                    }
                    _ => {
                        ignored.push((n, command.to_string()));
                        Mode::Other
                    }
                };
            }
            (Mode::Telephony, true) => match w.as_slice() {
                ["em", "logout", times @ ..] => {
                    if times.is_empty() || times.len() > 3 {
                        return Err(bad(format!(
                            "`{command}`: em logout takes one to three times of day (TIME-4)"
                        )));
                    }
                    for t in times {
                        crate::lab::parse_time_of_day(t)
                            .map_err(|e| bad(format!("`{command}`: {e}")))?;
                    }
                    server.logout_times = times.iter().map(|t| t.to_string()).collect();
                }
                ["em", "keep-history"] => server.keep_history = true,
                ["url", "authentication", _, ..] => authenticates(&mut server, "sccp"),
                [
                    "authentication",
                    "credential" | "credentials",
                    name,
                    password,
                ] => {
                    // IOS keeps one credential per name: entered again, the
                    // later password replaces the earlier one.
                    match applications
                        .iter_mut()
                        .find(|a: &&mut CmeApplication| a.id == *name)
                    {
                        Some(earlier) => {
                            earlier.certificate = password.to_string();
                            notes.push((Some(n), format!(
                                "authentication credential {name} given again: the later password replaces the earlier"
                            )));
                        }
                        None => applications.push(CmeApplication {
                            id: name.to_string(),
                            certificate: password.to_string(),
                            proxy_rights: true,
                        }),
                    }
                }
                _ => ignored.push((n, command.to_string())),
            },
            (Mode::LogoutProfile(t) | Mode::UserProfile(t), true) => {
                let user_profile = matches!(mode, Mode::UserProfile(_));
                let draft = if user_profile {
                    user_profiles.entry(*t).or_default()
                } else {
                    logout_profiles.entry(*t).or_default()
                };
                match w.as_slice() {
                    ["number", numbers, rest @ ..] => {
                        let line_type = match rest {
                            [] => LineType::Normal,
                            ["type", ty] => line_type(ty).ok_or_else(|| {
                                bad(format!(
                                    "`{command}`: unknown line type `{ty}` (normal, silent-ring, beep-ring, feature-ring, monitor-ring, overlay, cw-overlay)"
                                ))
                            })?,
                            _ => return Err(bad(format!("`{command}`: expected `number N[,N...] type TYPE`"))),
                        };
                        let parts: Vec<&str> = numbers.split(',').collect();
                        let overlay = matches!(line_type, LineType::Overlay | LineType::CwOverlay);
                        if parts.iter().any(|p| {
                            p.is_empty()
                                || !p
                                    .chars()
                                    .all(|c| c.is_ascii_digit() || c == '*' || c == '#' || c == '+')
                        }) || parts.len() > 25
                            || (!overlay && parts.len() > 1)
                        {
                            return Err(bad(format!(
                                "`{command}`: a directory number is digits; only overlay lines hold several, at most 25"
                            )));
                        }
                        draft.lines.push(Line::new(*numbers, line_type));
                    }
                    ["speed-dial", tag, dial, rest @ ..] => {
                        let tag: u32 = tag
                            .parse()
                            .ok()
                            .filter(|t| (1..=36).contains(t))
                            .ok_or_else(|| {
                                bad(format!("`{command}`: the speed-dial tag is 1 to 36"))
                            })?;
                        if dial.is_empty()
                            || !dial
                                .chars()
                                .all(|c| c.is_ascii_digit() || c == '*' || c == '#' || c == '+')
                        {
                            return Err(bad(format!(
                                "`{command}`: `{dial}` is not a number to dial"
                            )));
                        }
                        let mut label = String::new();
                        let mut k = 0;
                        while k < rest.len() {
                            match rest[k] {
                                "label" if k + 1 < rest.len() => {
                                    label = rest[k + 1].to_string();
                                    k += 2;
                                }
                                "blf" => k += 1,
                                other => {
                                    return Err(bad(format!("`{command}`: unexpected `{other}`")));
                                }
                            }
                        }
                        draft.speed_dials.push(SpeedDial {
                            tag,
                            number: dial.to_string(),
                            label,
                        });
                    }
                    ["user", name, "password", password] => {
                        if !password.chars().all(|c| c.is_ascii_alphanumeric()) {
                            return Err(bad(format!(
                                "`{command}`: a password is letters and digits"
                            )));
                        }
                        draft.credential = Some((name.to_string(), password.to_string(), n));
                    }
                    ["user", ..] => {
                        return Err(bad(format!(
                            "`{command}`: expected `user NAME password PASSWORD`"
                        )));
                    }
                    ["pin", pin] => {
                        if !(4..=8).contains(&pin.len()) || !pin.chars().all(|c| c.is_ascii_digit())
                        {
                            return Err(bad(format!("`{command}`: a PIN is four to eight digits")));
                        }
                        draft.pin = pin.to_string();
                    }
                    ["max-idle-time", minutes] if user_profile => {
                        let m: u32 = minutes
                            .parse()
                            .ok()
                            .filter(|m| (1..=9999).contains(m))
                            .ok_or_else(|| {
                                bad(format!("`{command}`: max-idle-time is 1 to 9999 minutes"))
                            })?;
                        draft.max_idle_time = Some(m);
                    }
                    _ => ignored.push((n, command.to_string())),
                }
            }
            (Mode::Ephone(t) | Mode::Pool(t), true) => {
                let pool = matches!(mode, Mode::Pool(_));
                let phone = &mut phones[ephone_index[&(pool, *t)]];
                match w.as_slice() {
                    ["mac-address", mac] | ["id", "mac", mac] => {
                        let name = device_name(mac).ok_or_else(|| {
                            bad(format!(
                                "`{command}`: `{mac}` is not a MAC address (HHHH.HHHH.HHHH)"
                            ))
                        })?;
                        if mac.split('.').any(|g| g.len() < 4) && mac.contains('.') {
                            notes.push((
                                Some(n),
                                format!("`{mac}` read as {name} (groups padded to four digits)"),
                            ));
                        }
                        phone.mac = Some(name);
                    }
                    ["type", ty, ..] => {
                        let model = phone_model::find(ty).ok_or_else(|| {
                            bad(format!(
                                "`{command}`: phone type `{ty}` is not in emlab's catalogue ({})",
                                phone_model::names().join(", ")
                            ))
                        })?;
                        if pool && model.protocol == phone_model::ControlProtocol::Sccp {
                            notes.push((Some(n), format!(
                                "a SIP {ty} (voice register pool): emlab's {ty} registers over SCCP"
                            )));
                        }
                        phone.model = Some(model.name.to_string());
                    }
                    ["logout-profile", tag] => {
                        let tag: u32 = tag.parse().ok().filter(|t| *t > 0).ok_or_else(|| {
                            bad(format!("`{command}`: the tag must be a positive number"))
                        })?;
                        phone.logout_profile = Some((tag, n));
                    }
                    _ => ignored.push((n, command.to_string())),
                }
            }
            (Mode::RegisterGlobal, true) => match w.as_slice() {
                ["url", "authentication", _, ..] => authenticates(&mut server, "sip"),
                _ => ignored.push((n, command.to_string())),
            },
            (Mode::Global | Mode::Other, true) => ignored.push((n, command.to_string())),
        }
    }
    assemble(
        server,
        applications,
        logout_profiles,
        user_profiles,
        phones,
        ignored,
        notes,
    )
}

fn assemble(
    server: CmeServer,
    mut application: Vec<CmeApplication>,
    logout_profiles: BTreeMap<u32, ProfileDraft>,
    user_profiles: BTreeMap<u32, ProfileDraft>,
    phones: Vec<PhoneDraft>,
    ignored: Vec<(usize, String)>,
    mut notes: Vec<(Option<usize>, String)>,
) -> Result<Imported, ImportError> {
    // AUTH-8: a credential name is unique across the router.
    let mut names: HashMap<&str, usize> = HashMap::new();
    for draft in logout_profiles.values().chain(user_profiles.values()) {
        if let Some((name, _, line)) = &draft.credential
            && let Some(first) = names.insert(name, *line)
        {
            return Err(ImportError {
                line: *line,
                message: format!(
                    "user `{name}` is already a credential at line {first} (AUTH-8: names are unique)"
                ),
            });
        }
    }
    // BTN-3: the router would put a monitored number on the first line.
    for draft in logout_profiles.values().chain(user_profiles.values()) {
        if let Some(number) = crate::buttons::monitored_first_line(&draft.lines) {
            return Err(ImportError {
                line: draft.line,
                message: format!(
                    "this profile's first line appearance would be the monitored number {number}; the first line cannot be monitored (BTN-3)"
                ),
            });
        }
    }
    let mut device = Vec::new();
    let mut first_model: BTreeMap<u32, String> = BTreeMap::new();
    for phone in &phones {
        let Some(name) = phone.mac.clone() else {
            notes.push((
                Some(phone.line),
                "a phone without a MAC address is left out".into(),
            ));
            continue;
        };
        let model = phone.model.clone().ok_or_else(|| ImportError {
            line: phone.line,
            message: format!("phone {name} has no `type`"),
        })?;
        let logout_profile = match phone.logout_profile {
            Some((tag, line)) => {
                if !logout_profiles.contains_key(&tag) {
                    return Err(ImportError {
                        line,
                        message: format!(
                            "logout-profile {tag} is not defined in this configuration"
                        ),
                    });
                }
                first_model.entry(tag).or_insert_with(|| model.clone());
                format!("logout-profile-{tag}")
            }
            None => {
                notes.push((
                    Some(phone.line),
                    format!(
                        "{name} has no logout-profile: Extension Mobility is not enabled on it"
                    ),
                ));
                continue;
            }
        };
        if device.iter().any(|d: &CmeDevice| d.name == name) {
            return Err(ImportError {
                line: phone.line,
                message: format!("{name} is configured twice"),
            });
        }
        device.push(CmeDevice {
            name,
            model,
            logout_profile,
        });
    }
    let default_model = device
        .first()
        .map_or_else(|| "7960".to_string(), |d| d.model.clone());
    let mut profile = Vec::new();
    for (tag, draft) in &logout_profiles {
        profile.push(CmeProfile {
            name: format!("logout-profile-{tag}"),
            model: first_model
                .get(tag)
                .cloned()
                .unwrap_or_else(|| default_model.clone()),
            lines: draft.lines.clone(),
            speed_dials: draft.speed_dials.clone(),
            max_idle_time: None,
        });
    }
    let mut user = Vec::new();
    for (tag, draft) in &user_profiles {
        let name = format!("user-profile-{tag}");
        profile.push(CmeProfile {
            name: name.clone(),
            model: default_model.clone(),
            lines: draft.lines.clone(),
            speed_dials: draft.speed_dials.clone(),
            max_idle_time: draft.max_idle_time,
        });
        match &draft.credential {
            Some((id, password, _)) => user.push(CmeUser {
                id: id.clone(),
                password: password.clone(),
                pin: draft.pin.clone(),
                profiles: vec![name],
            }),
            None => notes.push((None, format!(
                "voice user-profile {tag} has no `user NAME password PW`: nobody can log in with it"
            ))),
        }
    }
    if application.is_empty() {
        application.push(CmeApplication {
            id: "emlab".into(),
            certificate: "emlab".into(),
            proxy_rights: true,
        });
        notes.push((None, "no `authentication credential`: added application emlab (password emlab) for the EM API".into()));
    }
    // Roles `emlab conform` can check on the imported lab: a phone of the
    // 7900 series (SCCP) with its logout profile, and a user who logs in
    // with a password (AUTH-8).
    let mut conformance = std::collections::BTreeMap::new();
    // Imported devices carry no add-on modules.
    let sccp_phone = device.iter().find(|d| {
        crate::phone_model::find(&d.model)
            .is_some_and(|m| m.protocol == crate::phone_model::ControlProtocol::Sccp)
    });
    if let Some(d) = sccp_phone {
        conformance.insert("second_phone", d.name.clone());
    }
    if let Some(u) = user.first() {
        conformance.insert("password_user", u.id.clone());
    }
    Ok(Imported {
        lab: CmeLab {
            server,
            application,
            user,
            profile,
            device,
            conformance,
        },
        ignored,
        notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lab::Lab;
    use std::path::Path;

    /// Seed E's examples, as the seed prints them.
    const SEED_E: &str = "\
Router(config)#telephony-service
Router(config-telephony)#authentication credential admin password
Router(config-telephony)#em keep-history
Router(config-telephony)#em logout 19:00
Router(config-telephony)#end

voice logout-profile 1
  pin 9999
  user 23C2-8 password 43214
  number 3001 type silent-ring
  number 3002 type beep-ring
  number 3003 type feature-ring
  number 3004 type monitor-ring
  number 3005,3006 type overlay
  number 3007,3008 type cw-overly
  speed-dial 1 2000
  speed-dial 2 2001 blf

ephone 1
  mac-address 000D.EDAB.3566
  type 7960
  logout-profile 1

ephone 2
  mac-address 0012.DA8A.C43D
  type 7970
  logout-profile 1

ephone 3
  mac-address 1200.80FC.9B01
  type 7911
  logout-profile 1

voice user-profile 1
  pin 12345
  user me password pass123
  number 2001 type silent-ring
  number 2002 type beep-ring
  number 2003 type feature-ring
  number 2004 type monitor-ring
  number 2005,2006 type overlay
  number 2007,2008 type cw-overly
  speed-dial 1 3001
  speed-dial 2 3002 blf
";

    /// Found by the fuzzer: a credential entered twice became two
    /// applications with one id, and the written lab did not load.
    #[test]
    fn a_credential_entered_twice_keeps_the_later_password() {
        let config = SEED_E.replace(
            "Router(config-telephony)#em keep-history",
            "Router(config-telephony)#authentication credential admin secret2\nRouter(config-telephony)#em keep-history",
        );
        let imported = import(&config).unwrap();
        assert_eq!(imported.lab.application.len(), 1);
        assert_eq!(imported.lab.application[0].certificate, "secret2");
        assert!(
            imported
                .notes
                .iter()
                .any(|(line, note)| *line == Some(3) && note.contains("given again")),
            "{:?}",
            imported.notes
        );
        let toml = imported.lab.to_toml("x.running-config");
        Lab::parse(Path::new("x.toml"), &toml).unwrap();
    }

    /// Found by the fuzzer: a line of only quotes has no words, and the
    /// importer read its first word anyway.
    #[test]
    fn a_line_of_only_quotes_is_ignored_not_a_panic() {
        let imported = import(&format!("{SEED_E}\n  \"\"\n\"\"\n")).unwrap();
        assert_eq!(imported.lab.device.len(), 3);
        assert!(
            imported.ignored.iter().any(|(_, l)| l == "\"\""),
            "{:?}",
            imported.ignored
        );
    }

    #[test]
    fn seed_e_imports_into_a_valid_cme_lab() {
        let imported = import(SEED_E).unwrap();
        let lab = &imported.lab;
        assert_eq!(lab.server.logout_times, ["19:00"]);
        assert!(lab.server.keep_history);
        assert_eq!(lab.device.len(), 3);
        assert_eq!(lab.device[0].name, "SEP000DEDAB3566");
        assert_eq!(lab.device[1].model, "7970");
        assert_eq!(lab.user[0].id, "me");
        assert_eq!(lab.user[0].password, "pass123");
        assert_eq!(lab.user[0].pin, "12345");
        let logout = &lab.profile[0];
        assert_eq!(logout.lines.len(), 6);
        assert_eq!(logout.lines[5].line_type, LineType::CwOverlay);
        assert_eq!(logout.speed_dials.len(), 2);
        assert!(imported.ignored.is_empty(), "{:?}", imported.ignored);
        // The seed: a 7960 gets six lines and no speed dial, a 7970 all buttons.
        let layouts = lab.layouts();
        let on = |model: &str| {
            layouts
                .iter()
                .find(|(d, l)| d.is_some() && l.model == model)
                .map(|(_, l)| (l.lines, l.speed_dials, l.dropped))
        };
        assert_eq!(on("7960"), Some((6, 0, 2)));
        assert_eq!(on("7970"), Some((6, 2, 0)));
        assert_eq!(on("7911"), Some((1, 0, 7)));
        let toml = lab.to_toml("seed-e.cfg");
        let parsed = Lab::parse(Path::new("imported.toml"), &toml).unwrap();
        assert_eq!(parsed.file.server.profile, crate::ServerProfile::Cme);
        assert_eq!(parsed.file.user[0].password.as_deref(), Some("pass123"));
    }

    /// BTN-3: a profile of only monitored and overlay numbers would put a
    /// monitored number first; the import stops at the profile's line.
    #[test]
    fn btn_3_a_profile_that_starts_monitored_stops_the_import() {
        let text = "voice user-profile 1\n pin 12345\n number 2004 type monitor-ring\n number 2005,2006 type overlay\n";
        let e = import(text).expect_err("refused");
        assert_eq!(e.line, 1);
        assert!(e.message.contains("monitored number 2004"), "{}", e.message);
    }

    #[test]
    fn unknown_commands_are_listed_with_their_lines() {
        let text = "ip http server\ntelephony-service\n url authentication http://192.0.2.0/CCMCIP/authenticate.asp\n em keep-history\n ip source-address 10.0.0.1\n";
        let imported = import(text).unwrap();
        let lines: Vec<usize> = imported.ignored.iter().map(|(n, _)| *n).collect();
        assert_eq!(lines, [1, 5]);
    }

    /// LOGS-2: `url authentication` under `telephony-service` gives SCCP
    /// phones an authentication URL, under `voice register global` SIP
    /// phones; without it a router cannot clear call history.
    #[test]
    fn logs_2_url_authentication_per_protocol_is_imported() {
        let sccp = "telephony-service\n url authentication http://192.0.2.0/CCMCIP/authenticate.asp secretname psswrd\n";
        assert_eq!(
            import(sccp).unwrap().lab.server.url_authentication,
            ["sccp"]
        );
        let both = format!(
            "{sccp}voice register global\n url authentication http://192.0.2.0/CCMCIP/authenticate.asp\n"
        );
        assert_eq!(
            import(&both).unwrap().lab.server.url_authentication,
            ["sccp", "sip"]
        );
        let none = "telephony-service\n em keep-history\n";
        let imported = import(none).unwrap();
        assert!(imported.lab.server.url_authentication.is_empty());
        let toml = imported.lab.to_toml("test");
        assert!(toml.contains("url_authentication = []"), "{toml}");
    }

    #[test]
    fn bad_values_name_their_line() {
        let cases = [
            ("telephony-service\n em logout 25:00\n", 2, "25:00"),
            (
                "telephony-service\n em logout 1:00 2:00 3:00 4:00\n",
                2,
                "one to three",
            ),
            (
                "voice user-profile 1\n number 2001 type loud-ring\n",
                2,
                "loud-ring",
            ),
            ("voice user-profile 1\n speed-dial 40 3001\n", 2, "1 to 36"),
            ("voice user-profile 1\n max-idle-time 0\n", 2, "1 to 9999"),
            ("voice user-profile 1\n pin 12\n", 2, "four to eight"),
            ("voice user-profile 1\n user me\n", 2, "password"),
            ("ephone 1\n mac-address 00ZZ.1111.2222\n", 2, "MAC"),
            (
                "ephone 1\n mac-address 0011.2233.4455\n type 9999\n",
                3,
                "catalogue",
            ),
            ("ephone x\n", 1, "positive"),
            (
                "ephone 1\n mac-address 0011.2233.4455\n type 7960\n logout-profile 7\n",
                4,
                "not defined",
            ),
            (
                "voice logout-profile 1\n user me password a1\nvoice user-profile 1\n user me password b2\n",
                4,
                "unique",
            ),
        ];
        for (text, line, words) in cases {
            let e = import(text).unwrap_err();
            assert_eq!(e.line, line, "{text}: {e}");
            assert!(e.message.contains(words), "{text}: {e}");
        }
    }

    #[test]
    fn seed_e_sip_pool_example_with_its_short_mac() {
        let text = "Router(config)#voice logout-profile 22\nRouter(config-logout-profile)#number 4001 type normal\n\
Router(config)#voice register pool 1\nRouter(config-register-pool)#id mac 12.34.56\n\
Router(config-register-pool)#type 7960\nRouter(config-register-pool)#logout-profile 22\n\
Enabling extension mobility will replace current phone configuration with logout\n\
profile, continue?? [yes]: y\nRouter(config-register-pool)#end\n";
        let imported = import(text).unwrap();
        assert_eq!(imported.lab.device[0].name, "SEP001200340056");
        assert_eq!(imported.ignored.len(), 2, "{:?}", imported.ignored);
        assert!(imported.notes.iter().any(|(_, n)| n.contains("SCCP")));
    }
}
