//! Roles: which of the target's own entries the cases use.
//!
//! A case never names a user or a device. It asks for a role (`phone`,
//! `user_with_locale`, ...) and the lab's `[conformance]` table says which
//! entry plays it, so the catalogue runs against any directory:
//!
//! ```toml
//! [conformance]
//! phone = "SEP000000000001"
//! user = "mona"
//! ```
//!
//! A case whose role the lab does not name is skipped, naming the role and
//! what it must be; a role that names an entry the lab lacks, or an entry of
//! the wrong kind, stops `emlab conform` before any case runs (exit 2).
//! Expected values come from the entries themselves (a user's locale, a
//! device's logout profile), so a role needs only the shape its contract
//! states, not `conformance/lab.toml`'s exact values.

use emlab_protocol::lab::Lab;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Device,
    User,
    Application,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Device => "device",
            Kind::User => "user",
            Kind::Application => "application",
        }
    }
}

/// A role: its name (the `[conformance]` key), what it names, and what the
/// entry must be for the cases that use it to mean anything.
#[derive(Clone, Copy, Debug)]
pub struct Role {
    pub name: &'static str,
    pub kind: Kind,
    pub contract: &'static str,
}

macro_rules! roles {
    ($($konst:ident = $name:literal, $kind:ident, $contract:literal;)*) => {
        $(pub const $konst: &str = $name;)*
        /// Every role, in the order `--list` prints them.
        pub const ROLES: &[Role] = &[$(Role { name: $name, kind: Kind::$kind, contract: $contract }),*];
    };
}

roles! {
    PHONE = "phone", Device,
        "an SCCP 7900-series phone with EM enabled and no logout profile (it runs ADP<MAC> logged out); with a 7914 for BTN-5";
    SECOND_PHONE = "second_phone", Device,
        "another SCCP phone with EM enabled, no add-on module, and a logout profile of its own";
    OTHER_MODEL_PHONE = "other_model_phone", Device,
        "a one-line phone of another model than the users' profiles, taking no add-on modules (a 7905)";
    EM_DISABLED_PHONE = "em_disabled_phone", Device,
        "a phone with Extension Mobility disabled";
    PROTECTED_PHONE = "protected_phone", Device,
        "a phone marked protected (Secure Tone, `protected = true`), EM otherwise enabled";
    INTERCOM_USER = "intercom_user", User,
        "a user whose profile for `phone`'s model has an intercom line whose `default_device` is `second_phone`";
    PASSWORD_USER = "password_user", User,
        "cme: a user with a `password` credential (`user NAME password PW`) and a `pin` that only lifts call blocking";
    SIP_PHONE = "sip_phone", Device,
        "an 8800-series (SIP) phone with EM enabled";
    CUSTOM_TEMPLATE_7940 = "custom_template_7940", Device,
        "ucm4: a 7940 whose phone button template is a custom one";
    ONE_LINE_7940 = "one_line_7940", Device,
        "ucm4: a 7940 on the `7940 1-Line` template";
    REGISTERING_PHONE = "registering_phone", Device,
        "an SCCP phone with EM enabled that the harness registers itself (no real phone holds it)";
    PUSH_PHONE = "push_phone", Device,
        "a second such phone, for call-log pushes and off-hook";
    RESTART_PHONE = "restart_phone", Device,
        "a third such phone, with no add-on module and the default locale, for restart-versus-reset";
    IPV6_PHONE = "ipv6_phone", Device,
        "a phone with EM enabled that `ipv6_user` has a profile for, logged in over IPv6 (IP-4)";
    USER = "user", User,
        "a user with one profile for `phone`'s model (a first line; under cme a max idle time)";
    USER_WITH_LOCALE = "user_with_locale", User,
        "a user with a locale of their own, a primary extension and a self-service ID, no idle timer and no login-time limit of their own; one profile with more lines than `second_phone` has buttons, plus a speed dial";
    USER_WITH_TWO_PROFILES = "user_with_two_profiles", User,
        "a user with two profiles, the first for `phone`'s model: a monitored line listed first, speed dials out of tag order, a SIP-unfriendly line type and an Intercom feature";
    USER_WITHOUT_PROFILE = "user_without_profile", User,
        "a user with no device profile at all";
    SECOND_USER = "second_user", User,
        "another user with a profile for `phone`'s model, no own login-time limit";
    KEYPAD_PIN_USER = "keypad_pin_user", User,
        "a user whose PIN has keypad characters that are not digits (e.g. `ab#12`) and a maximum login time of their own";
    REGISTERING_USER = "registering_user", User,
        "a user with a profile for `registering_phone`'s model";
    PUSH_USER = "push_user", User,
        "a user with a profile for `push_phone`'s model";
    RESTART_USER = "restart_user", User,
        "a user whose profile matches `restart_phone` exactly (model, modules, locale)";
    IPV6_USER = "ipv6_user", User,
        "a user with a profile for `ipv6_phone`'s model";
    APP_WITHOUT_PROXY_RIGHTS = "app_without_proxy_rights", Application,
        "an application without Authentication Proxy Rights whose ID is also a user's";
}

pub fn find(name: &str) -> Option<&'static Role> {
    ROLES.iter().find(|r| r.name == name)
}

/// Whether `lab` has an entry of `kind` named `value` (generated fleet
/// entries included).
pub fn exists(lab: &Lab, kind: Kind, value: &str) -> bool {
    match kind {
        Kind::Device => {
            lab.file.device.iter().any(|d| d.name == value)
                || lab.fleet_members().any(|m| m.device_name == value)
        }
        Kind::User => {
            lab.file.user.iter().any(|u| u.id == value)
                || lab.fleet_members().any(|m| m.user_id == value)
        }
        Kind::Application => lab.file.application.iter().any(|a| a.id == value),
    }
}

/// A `[conformance]` entry that cannot be used: `(key, value, why)`.
pub type RoleProblem = (String, String, String);

/// Every `[conformance]` key is a role, and names an entry of its kind.
pub fn check(lab: &Lab) -> Result<(), RoleProblem> {
    for (key, value) in &lab.file.conformance {
        let Some(role) = find(key) else {
            return Err((
                key.clone(),
                value.clone(),
                format!("`{key}` is not a role (emlab conform --list prints them)"),
            ));
        };
        if !exists(lab, role.kind, value) {
            return Err((
                key.clone(),
                value.clone(),
                format!(
                    "role `{key}` names {} `{value}`, which this lab does not have",
                    role.kind.as_str()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_are_unique_and_the_conformance_lab_names_every_role() {
        let mut names: Vec<&str> = ROLES.iter().map(|r| r.name).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), ROLES.len());
        let lab =
            Lab::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("lab.toml")).unwrap();
        check(&lab).unwrap();
        // A password credential is CME's, and the conformance lab is not a
        // cme lab: the shipped CME import names that role.
        let cme = Lab::load(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/lab-cme.toml"),
        )
        .unwrap();
        check(&cme).unwrap();
        for r in ROLES {
            let named_by = if r.name == PASSWORD_USER { &cme } else { &lab };
            assert!(named_by.file.conformance.contains_key(r.name), "{}", r.name);
        }
    }

    #[test]
    fn unknown_roles_and_missing_entries_are_refused() {
        let base = "[[user]]\nid = \"mona\"\npin = \"1\"\n";
        let parse = |extra: &str| {
            Lab::parse(std::path::Path::new("t.toml"), &format!("{base}{extra}")).unwrap()
        };
        let e = check(&parse("[conformance]\nfone = \"mona\"\n")).unwrap_err();
        assert!(e.2.contains("not a role"), "{e:?}");
        let e = check(&parse("[conformance]\nphone = \"mona\"\n")).unwrap_err();
        assert!(e.2.contains("device `mona`"), "{e:?}");
        assert!(check(&parse("[conformance]\nuser = \"mona\"\n")).is_ok());
    }
}
