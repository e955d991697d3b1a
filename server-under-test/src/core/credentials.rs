//! Users' secrets: the PIN (or, under `cme`, the `user NAME password PW`
//! password, AUTH-8), whether it must change (error 27), and the
//! credential cached at the last login (AUTH-5).

use crate::core::directory::{Directory, UserIdx};
use emlab_protocol::ServerProfile;
use std::collections::BTreeSet;

/// Keypad characters: digits, letters, `*` and `#` (AUTH-3, AUTH-4).
pub fn keypad(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '*' || c == '#')
}

/// Whether `pin` has the form a login secret must have (AUTH-4, AUTH-8),
/// and if not, why, in words a phone screen can show: keypad characters
/// under `ucm`; 5 or more digits under `ucm4`; under `cme` letters and
/// digits for a user with a `password` credential, else 4 to 8 digits.
pub fn pin_form(profile: ServerProfile, has_password: bool, pin: &str) -> Result<(), &'static str> {
    let digits = pin.chars().all(|c| c.is_ascii_digit());
    match profile {
        _ if pin.is_empty() => Err("empty"),
        _ if !keypad(pin) => Err("only digits, letters, * and #"),
        ServerProfile::Ucm => Ok(()),
        ServerProfile::Ucm4 if !digits => Err("digits only"),
        ServerProfile::Ucm4 if pin.len() < 5 => Err("fewer than 5 digits"),
        ServerProfile::Ucm4 => Ok(()),
        ServerProfile::Cme if has_password => {
            if pin.chars().all(|c| c.is_ascii_alphanumeric()) {
                Ok(())
            } else {
                Err("only letters and digits")
            }
        }
        ServerProfile::Cme if digits && (4..=8).contains(&pin.len()) => Ok(()),
        ServerProfile::Cme => Err("4 to 8 digits"),
    }
}

/// How long a logged-in user's credentials stay cached (AUTH-5).
pub const CREDENTIAL_CACHE_MS: u64 = 2 * 60 * 1000;

/// A user's secret, the one cached at the last login, and whether it must change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential {
    pub secret: String,
    pub cached: Option<(String, u64)>,
    pub must_change: bool,
}

/// Every user's credential, and which changed since the store took them.
pub struct Credentials {
    by_user: Vec<Credential>,
    changed: Option<BTreeSet<UserIdx>>,
}

impl Credentials {
    pub fn new(directory: &Directory) -> Self {
        let by_user = (0..directory.user_count() as UserIdx)
            .map(|u| {
                let user = directory.user(u);
                // Under cme a user with a `user NAME password PW`
                // credential logs in with the password (AUTH-8); the
                // profile's PIN only lifts call blocking.
                let secret = match (directory.profile, &user.password) {
                    (emlab_protocol::ServerProfile::Cme, Some(password)) => password.clone(),
                    _ => user.pin.clone(),
                };
                Credential {
                    secret,
                    cached: None,
                    must_change: user.pin_must_change,
                }
            })
            .collect();
        Credentials {
            by_user,
            changed: None,
        }
    }

    fn get_mut(&mut self, user: UserIdx) -> &mut Credential {
        if let Some(c) = self.changed.as_mut() {
            c.insert(user);
        }
        &mut self.by_user[user as usize]
    }

    pub fn get(&self, user: UserIdx) -> &Credential {
        &self.by_user[user as usize]
    }

    /// Whether `pin` is the user's, or the one cached at a login less than
    /// two minutes before `now_ms` (AUTH-5).
    pub fn matches(&self, user: UserIdx, pin: &str, now_ms: u64) -> bool {
        let c = self.get(user);
        c.secret == pin
            || c.cached
                .as_ref()
                .is_some_and(|(old, until)| old == pin && now_ms < *until)
    }

    /// Caches the credentials a user just logged in with. AUTH-5, as emlab
    /// reads seed A: the two minutes start at the login that used the PIN
    /// in force; a later login that only the cache let in (the old PIN)
    /// does not start them again, so an old PIN never outlives its change
    /// by more than two minutes.
    pub fn cache(&mut self, user: UserIdx, pin: &str, now_ms: u64) {
        if self.get(user).secret != pin {
            return;
        }
        let until = now_ms.saturating_add(CREDENTIAL_CACHE_MS);
        self.get_mut(user).cached = Some((pin.to_string(), until));
    }

    /// A new PIN; it no longer has to change.
    pub fn set(&mut self, user: UserIdx, pin: String) {
        let c = self.get_mut(user);
        c.secret = pin;
        c.must_change = false;
    }

    /// Flags the PIN must-change (error 27 at login until it changes).
    pub fn flag_must_change(&mut self, user: UserIdx, must_change: bool) {
        self.get_mut(user).must_change = must_change;
    }

    /// Puts back a saved credential.
    pub fn restore(&mut self, user: UserIdx, saved: Credential) {
        self.by_user[user as usize] = saved;
    }

    /// Starts recording which users change, for the durable store.
    pub fn track_changes(&mut self) {
        self.changed.get_or_insert_with(BTreeSet::new);
    }

    /// The users changed since the last call, with their credentials now.
    pub fn take_changes(&mut self) -> Vec<(UserIdx, Credential)> {
        let changed = self
            .changed
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default();
        changed
            .into_iter()
            .map(|u| (u, self.by_user[u as usize].clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one_user(pin: &str) -> Credentials {
        Credentials {
            by_user: vec![Credential {
                secret: pin.into(),
                cached: None,
                must_change: true,
            }],
            changed: None,
        }
    }

    /// AUTH-5: a login with the old PIN, let in by the cache, does not
    /// start the two minutes again.
    #[test]
    fn auth_5_a_login_with_the_cached_pin_does_not_renew_the_cache() {
        let mut c = one_user("1111");
        c.cache(0, "1111", 0);
        c.set(0, "2222".into());
        assert!(c.matches(0, "1111", 60_000));
        c.cache(0, "1111", 60_000);
        assert!(
            !c.matches(0, "1111", CREDENTIAL_CACHE_MS),
            "still ends two minutes after the first login"
        );
    }

    /// AUTH-5: after a PIN change the old PIN still works for two minutes
    /// from the login that used it, and not after.
    #[test]
    fn the_cached_pin_works_for_two_minutes_after_the_login() {
        let mut c = one_user("1111");
        c.cache(0, "1111", 1_000);
        c.set(0, "2222".into());
        assert!(!c.get(0).must_change, "a new PIN no longer has to change");
        assert!(c.matches(0, "2222", 1_000));
        assert!(c.matches(0, "1111", 1_000 + CREDENTIAL_CACHE_MS - 1));
        assert!(!c.matches(0, "1111", 1_000 + CREDENTIAL_CACHE_MS));
        assert!(!c.matches(0, "3333", 1_000));
    }

    /// AUTH-4/AUTH-8: the form of a PIN per server profile.
    #[test]
    fn auth_4_pin_forms_per_profile() {
        use ServerProfile::*;
        assert_eq!(pin_form(Ucm, false, "ab#12"), Ok(()));
        assert_eq!(
            pin_form(Ucm, false, "ab 12"),
            Err("only digits, letters, * and #")
        );
        assert_eq!(pin_form(Ucm4, false, "1234"), Err("fewer than 5 digits"));
        assert_eq!(pin_form(Ucm4, false, "1234a"), Err("digits only"));
        assert_eq!(pin_form(Ucm4, false, "12345"), Ok(()));
        assert_eq!(pin_form(Cme, false, "123"), Err("4 to 8 digits"));
        assert_eq!(pin_form(Cme, true, "pass123"), Ok(()));
        assert_eq!(
            pin_form(Cme, true, "pass#1"),
            Err("only letters and digits")
        );
        assert_eq!(pin_form(Ucm, false, ""), Err("empty"));
    }

    #[test]
    fn changes_are_recorded_only_when_tracked() {
        let mut c = one_user("1111");
        c.set(0, "2222".into());
        assert!(c.take_changes().is_empty());
        c.track_changes();
        c.set(0, "3333".into());
        let changes = c.take_changes();
        assert_eq!(changes.len(), 1);
        assert_eq!(changes[0].1.secret, "3333");
        assert!(c.take_changes().is_empty());
    }
}
