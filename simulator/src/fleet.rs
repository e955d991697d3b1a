//! Which phones take part in a run, who logs in on each, and what each
//! should see: read from the lab file the target was started with.
//!
//! Phones are the first N devices of the lab's `[fleet]`. Their users are
//! the generated ones, or the rows of a users file in SIPp's injection
//! format (a first line `SEQUENTIAL`, `RANDOM` or `USER`, then one
//! `user_id;pin[;device]` row per phone; `#` starts a comment):
//!
//! ```text
//! SEQUENTIAL
//! alice;12345;SEP000000001000
//! bob;23456
//! ```
//!
//! A row without a device takes the next fleet phone. What a phone should
//! run logged out and logged in ([`ExpectedView`]) follows the rules of
//! PROTOCOL.md §4 (PROF-3/4/7): the user's locale, else the profile's, else
//! the device's; a same-model profile's modules, else the model's default
//! profile's; the logout profile from the model's default or the device.

use crate::phone::{ExpectedView, PhoneSpec, phone_ip};
use crate::shard::Shard;
use emlab_protocol::ConfigError;
use emlab_protocol::buttons::{self, ButtonEntries, ButtonKind};
use emlab_protocol::lab::{DEFAULT_LOCALE, Lab, LabFile, Line, LineType, SpeedDial};
use emlab_protocol::phone_model::{self, PhoneModel};
use std::path::Path;

/// One row of a users file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRow {
    pub user_id: String,
    pub pin: String,
    pub device: Option<String>,
}

/// Reads a SIPp-style injection file; errors name the file and line.
pub fn read_users(path: &Path) -> Result<Vec<UserRow>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::new(path, format!("cannot read the users file: {e}")))?;
    parse_users(path, &text)
}

pub fn parse_users(path: &Path, text: &str) -> Result<Vec<UserRow>, ConfigError> {
    let mut rows = Vec::new();
    let mut first = true;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with("//") {
            continue;
        }
        if first {
            first = false;
            if matches!(line, "SEQUENTIAL" | "RANDOM" | "USER") {
                continue;
            }
        }
        let fields: Vec<&str> = line.split(';').map(str::trim).collect();
        let bad = |why: &str| ConfigError::new(path, format!("line {}: {why}: `{line}`", n + 1));
        if fields.len() < 2 || fields.len() > 3 {
            return Err(bad("expected `user_id;pin` or `user_id;pin;device`"));
        }
        if fields[0].is_empty() {
            return Err(bad("empty user id"));
        }
        let device = fields
            .get(2)
            .filter(|d| !d.is_empty())
            .map(|d| d.to_string());
        if let Some(d) = &device
            && !emlab_protocol::lab::is_device_name(d)
        {
            return Err(bad(
                "the device must be SEP followed by 12 upper-case hex digits",
            ));
        }
        rows.push(UserRow {
            user_id: fields[0].to_string(),
            pin: fields[1].to_string(),
            device,
        });
    }
    if rows.is_empty() {
        return Err(ConfigError::new(path, "the users file has no rows"));
    }
    Ok(rows)
}

/// A device as the lab file has it (explicit or generated).
struct DeviceFacts {
    name: String,
    model: &'static PhoneModel,
    modules: Vec<String>,
    locale: Option<String>,
    logout_profile: Option<String>,
}

/// A user as the lab file has it, with their default profile.
struct UserFacts {
    locale: Option<String>,
    profile: Option<ProfileFacts>,
}

struct ProfileFacts {
    name: String,
    model: String,
    locale: Option<String>,
    modules: Vec<String>,
    lines: Vec<Line>,
    speed_dials: Vec<SpeedDial>,
}

/// A generated profile: one normal line, the user's extension.
fn one_line(number: &str) -> Vec<Line> {
    vec![Line::new(number, LineType::Normal)]
}

/// The first line's number and the (lines, speed dials) that `p` puts on
/// `model` with `modules` attached, by the button rules of the lab's
/// server profile (BTN-1..5) on device `d` (PROF-10: intercom lines only
/// on their default device). Features and services come after both, so
/// they never change these counts.
fn expected_buttons(
    file: &LabFile,
    d: &DeviceFacts,
    modules: usize,
    p: &ProfileFacts,
) -> (Option<String>, Option<(usize, usize)>) {
    let model = d.model;
    let entries = ButtonEntries {
        device: Some(&d.name),
        lines: &p.lines,
        speed_dials: &p.speed_dials,
        features: &[],
        services: &[],
    };
    let buttons = buttons::layout(model, modules, file.server.profile, &entries);
    let count = |k: ButtonKind| buttons.iter().filter(|b| b.kind == k).count();
    let first = buttons
        .iter()
        .find(|b| b.kind == ButtonKind::Line)
        .map(|b| b.number.clone());
    (
        first,
        Some((count(ButtonKind::Line), count(ButtonKind::SpeedDial))),
    )
}

/// A generated device as the lab file makes it.
fn fleet_device(m: &emlab_protocol::lab::FleetMember) -> DeviceFacts {
    DeviceFacts {
        name: m.device_name.clone(),
        model: m.model,
        modules: m.modules.iter().map(|s| s.to_string()).collect(),
        locale: Some(m.locale.clone()),
        logout_profile: None,
    }
}

fn profile_facts(file: &LabFile, name: &str) -> Option<ProfileFacts> {
    file.profile
        .iter()
        .find(|p| p.name == name)
        .map(|p| ProfileFacts {
            name: p.name.clone(),
            model: p.model.clone(),
            locale: p.locale.clone(),
            modules: p.modules.clone(),
            lines: p.lines.clone(),
            speed_dials: p.speed_dials.clone(),
        })
}

fn user_facts(lab: &Lab, id: &str) -> Option<UserFacts> {
    let file = &lab.file;
    if let Some(u) = file.user.iter().find(|u| u.id == id) {
        return Some(UserFacts {
            locale: u.locale.clone(),
            profile: u.profiles.first().and_then(|p| profile_facts(file, p)),
        });
    }
    let m = lab.fleet_members().find(|m| m.user_id == id)?;
    Some(UserFacts {
        locale: Some(m.profile_locale.clone()),
        profile: Some(ProfileFacts {
            name: m.profile_name,
            model: m.model.name.to_string(),
            locale: Some(m.profile_locale),
            modules: m.profile_modules.iter().map(|s| s.to_string()).collect(),
            lines: one_line(&m.primary_extension),
            speed_dials: Vec::new(),
        }),
    })
}

fn device_facts(lab: &Lab, name: &str) -> Option<DeviceFacts> {
    if let Some(d) = lab.file.device.iter().find(|d| d.name == name) {
        return Some(DeviceFacts {
            name: d.name.clone(),
            model: phone_model::find(&d.model)?,
            modules: d.modules.clone(),
            locale: d.locale.clone(),
            logout_profile: (d.logout_profile != "auto").then(|| d.logout_profile.clone()),
        });
    }
    None
}

/// What a device runs with nobody logged in.
fn logged_out_view(file: &LabFile, d: &DeviceFacts) -> ExpectedView {
    let default = file
        .default_profile
        .iter()
        .find(|p| p.model == d.model.name);
    let default_locale = default.and_then(|p| p.locale.clone());
    let accepted = |mods: &[String]| {
        mods.iter()
            .filter(|m| d.model.accepts_module(m))
            .take(d.model.max_add_ons as usize)
            .count()
    };
    match d
        .logout_profile
        .as_deref()
        .and_then(|p| profile_facts(file, p))
    {
        Some(p) => {
            let modules = if p.model == d.model.name {
                accepted(&p.modules)
            } else {
                default.map_or(0, |dp| accepted(&dp.modules))
            };
            let (first_line, buttons) = expected_buttons(file, d, modules, &p);
            ExpectedView {
                locale: default_locale
                    .or(p.locale.clone())
                    .or(d.locale.clone())
                    .unwrap_or_else(|| DEFAULT_LOCALE.into()),
                modules,
                profile: p.name,
                user_id: String::new(),
                first_line,
                buttons,
            }
        }
        None => ExpectedView {
            profile: format!("ADP{}", &d.name[3..]),
            user_id: String::new(),
            locale: default_locale
                .or(d.locale.clone())
                .unwrap_or_else(|| DEFAULT_LOCALE.into()),
            modules: d
                .modules
                .iter()
                .filter(|m| d.model.accepts_module(m))
                .count(),
            first_line: None,
            buttons: None,
        },
    }
}

/// What a device runs with `user_id` logged in.
fn logged_in_view(
    file: &LabFile,
    d: &DeviceFacts,
    user_id: &str,
    u: &UserFacts,
) -> Option<ExpectedView> {
    let p = u.profile.as_ref()?;
    let default = file
        .default_profile
        .iter()
        .find(|dp| dp.model == d.model.name);
    let accepted = |mods: &[String]| {
        mods.iter()
            .filter(|m| d.model.accepts_module(m))
            .take(d.model.max_add_ons as usize)
            .count()
    };
    let modules = if p.model == d.model.name {
        accepted(&p.modules)
    } else {
        default.map_or(0, |dp| accepted(&dp.modules))
    };
    let (first_line, buttons) = expected_buttons(file, d, modules, p);
    Some(ExpectedView {
        profile: p.name.clone(),
        user_id: user_id.to_string(),
        locale: u
            .locale
            .clone()
            .or(p.locale.clone())
            .or(d.locale.clone())
            .unwrap_or_else(|| DEFAULT_LOCALE.into()),
        modules,
        first_line,
        buttons,
    })
}

/// The phones of a run: the first `count` fleet devices, with their own
/// users or the rows of `users`. Errors name what the lab lacks.
pub fn build(lab: &Lab, count: u32, users: Option<&[UserRow]>) -> Result<Vec<PhoneSpec>, String> {
    build_shard(lab, count, users, Shard::WHOLE)
}

/// The phones of `shard` among the `count` of [`build`], each with its
/// fleet index: only those are built, so a shard's memory is its own
/// phones', whatever the size of the whole fleet.
pub fn build_shard(
    lab: &Lab,
    count: u32,
    users: Option<&[UserRow]>,
    shard: Shard,
) -> Result<Vec<PhoneSpec>, String> {
    let file = &lab.file;
    let mut members = lab.fleet_members();
    let mut specs = Vec::with_capacity(shard.phones_of(count) as usize);
    for i in 0..count {
        let row = users.map(|rows| &rows[i as usize % rows.len()]);
        if !shard.owns(i as u64) {
            // Another shard's phone: its fleet member is passed over.
            if row.is_none_or(|r| r.device.is_none()) && members.next().is_none() {
                return Err(format!("the lab's [fleet] has fewer than {count} devices"));
            }
            continue;
        }
        let (device, user_id, pin, user) = match row {
            None => {
                let m = members
                    .next()
                    .ok_or_else(|| format!("the lab's [fleet] has fewer than {count} devices"))?;
                let device = fleet_device(&m);
                let user = UserFacts {
                    locale: Some(m.profile_locale.clone()),
                    profile: Some(ProfileFacts {
                        name: m.profile_name.clone(),
                        model: m.model.name.to_string(),
                        locale: Some(m.profile_locale.clone()),
                        modules: m.profile_modules.iter().map(|s| s.to_string()).collect(),
                        lines: one_line(&m.primary_extension),
                        speed_dials: Vec::new(),
                    }),
                };
                (device, m.user_id, m.pin, user)
            }
            Some(r) => {
                let device = match &r.device {
                    Some(name) => device_facts(lab, name)
                        .or_else(|| {
                            lab.fleet_members()
                                .find(|m| &m.device_name == name)
                                .map(|m| fleet_device(&m))
                        })
                        .ok_or_else(|| format!("users file: device `{name}` is not in the lab"))?,
                    None => {
                        let m = members.next().ok_or_else(|| {
                            format!("the lab's [fleet] has fewer than {count} devices for the users file")
                        })?;
                        fleet_device(&m)
                    }
                };
                // An unknown user is a legitimate test (201); expect the logout view.
                let user = user_facts(lab, &r.user_id).unwrap_or(UserFacts {
                    locale: None,
                    profile: None,
                });
                (device, r.user_id.clone(), r.pin.clone(), user)
            }
        };
        let logged_out = logged_out_view(file, &device);
        let logged_in =
            logged_in_view(file, &device, &user_id, &user).unwrap_or_else(|| logged_out.clone());
        specs.push(PhoneSpec {
            index: i,
            device_name: device.name,
            model: device.model,
            ip: phone_ip(i),
            user_id,
            pin,
            logged_out,
            logged_in,
        });
    }
    Ok(specs)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four shards build exactly the phones one process builds, each once.
    #[test]
    fn shards_build_the_whole_fleet_between_them() {
        let lab = Lab::parse(
            Path::new("lab.toml"),
            "[fleet]\ncount = 10\nmodels = { \"7960\" = 50, \"8851\" = 50 }\n",
        )
        .unwrap();
        let whole: Vec<(u32, String, String)> = build(&lab, 10, None)
            .unwrap()
            .into_iter()
            .map(|s| (s.index, s.device_name, s.user_id))
            .collect();
        let mut shards: Vec<(u32, String, String)> = (1..=4)
            .flat_map(|k| {
                let shard = Shard::parse(&format!("{k}/4")).unwrap();
                build_shard(&lab, 10, None, shard).unwrap()
            })
            .map(|s| (s.index, s.device_name, s.user_id))
            .collect();
        shards.sort();
        assert_eq!(shards, whole);
        assert!(build_shard(&lab, 11, None, Shard::parse("1/4").unwrap()).is_err());
    }

    #[test]
    fn users_files_read_as_sipp_writes_them_and_bad_rows_name_their_line() {
        let p = Path::new("users.csv");
        let rows = parse_users(
            p,
            "SEQUENTIAL\n# staff\nalice;12345;SEP000000001000\nbob;23456\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].device.as_deref(), Some("SEP000000001000"));
        assert_eq!(
            (
                rows[1].user_id.as_str(),
                rows[1].pin.as_str(),
                rows[1].device.as_deref()
            ),
            ("bob", "23456", None)
        );
        let e = parse_users(p, "SEQUENTIAL\nalice;1;2;3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("users.csv") && e.contains("line 2"), "{e}");
        let e = parse_users(p, "alice;1;sep1\n").unwrap_err().to_string();
        assert!(e.contains("SEP followed by 12"), "{e}");
        assert!(parse_users(p, "SEQUENTIAL\n").is_err());
    }

    #[test]
    fn expectations_follow_the_lab_for_generated_and_injected_users() {
        let lab = Lab::parse(
            Path::new("lab.toml"),
            "[[user]]\nid = \"alice\"\npin = \"1\"\nlocale = \"French_France\"\nprofiles = [\"alice-7960\"]\n\
             [[profile]]\nname = \"alice-7960\"\nmodel = \"7960\"\nmodules = [\"7914\", \"7914\"]\nlines = [{ number = \"2001\" }]\n\
             [fleet]\ncount = 2\nmodels = { \"7960\" = 100 }\nmodules = { \"1\" = 100 }\n",
        )
        .unwrap();
        let specs = build(&lab, 2, None).unwrap();
        assert_eq!(specs[0].logged_out.profile, "ADP0E0000000000");
        assert_eq!(specs[0].logged_out.modules, 1);
        assert_eq!(specs[0].logged_in.first_line.as_deref(), Some("20000"));
        assert_eq!(specs[1].ip, phone_ip(1));
        let rows = vec![UserRow {
            user_id: "alice".into(),
            pin: "1".into(),
            device: None,
        }];
        let specs = build(&lab, 1, Some(&rows)).unwrap();
        // The user's locale wins over the profile's; the profile's modules count.
        assert_eq!(specs[0].logged_in.locale, "French_France");
        assert_eq!(specs[0].logged_in.modules, 2);
        assert_eq!(specs[0].device_name, "SEP0E0000000000");
    }
}
