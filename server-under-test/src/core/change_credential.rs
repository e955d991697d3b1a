//! Change Credential (CRED-1, CRED-2): a user changes their PIN at the
//! phone. The current PIN must be the user's own (not the one the
//! two-minute cache still honours at login, AUTH-5); the new one must have
//! the form a login PIN has (AUTH-4) and match its confirmation. A PIN
//! flagged must-change (error 27 at login) is cleared by the change.

use crate::core::credentials::pin_form;
use crate::core::directory::UserIdx;
use crate::core::em::{Em, lock};
use crate::core::faults::Fault;

/// Why a change was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown user or wrong current PIN (201).
    Authentication,
    /// The new PIN breaks AUTH-4, or differs from its confirmation (213,
    /// with the reason).
    InvalidNewPin(&'static str),
}

/// What the user typed on the phone.
pub struct CredentialChange<'a> {
    pub user_id: &'a str,
    pub current: &'a str,
    pub new: &'a str,
    pub confirm: &'a str,
}

impl Em {
    /// Changes the user's PIN; returns whose it was.
    pub fn change_credential(&self, change: &CredentialChange<'_>) -> Result<UserIdx, Refusal> {
        let dir = &self.directory;
        let user = dir
            .user_idx(change.user_id)
            .ok_or(Refusal::Authentication)?;
        let mut credentials = lock(&self.credentials);
        let current_ok = credentials.get(user).secret == change.current;
        if !current_ok && !self.faults.has(Fault::ChangeCredentialIgnoresCurrentPin) {
            return Err(Refusal::Authentication);
        }
        let has_password = dir.user(user).password.is_some();
        pin_form(dir.profile, has_password, change.new).map_err(Refusal::InvalidNewPin)?;
        if change.new != change.confirm {
            return Err(Refusal::InvalidNewPin("the confirmation differs"));
        }
        credentials.set(user, change.new.to_string());
        if self.faults.has(Fault::MustChangeSurvivesAChange) {
            credentials.flag_must_change(user, true);
        }
        Ok(user)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::faults::Faults;
    use emlab_protocol::lab::Lab;

    fn em() -> Em {
        let text = "[[user]]\nid = \"nina\"\npin = \"11111\"\npin_must_change = true\n";
        let lab = Lab::parse(std::path::Path::new("unit.toml"), text).unwrap();
        Em::new(&lab, Faults::default())
    }

    fn change<'a>(current: &'a str, new: &'a str, confirm: &'a str) -> CredentialChange<'a> {
        CredentialChange {
            user_id: "nina",
            current,
            new,
            confirm,
        }
    }

    /// CRED-1/CRED-2: refusals change nothing; a good change sets the PIN
    /// and clears must-change.
    #[test]
    fn cred_1_2_a_change_needs_the_current_pin_a_valid_new_one_and_its_confirmation() {
        let em = em();
        let bad = [
            (change("99999", "22222", "22222"), Refusal::Authentication),
            (
                change("11111", "22 22", "22 22"),
                Refusal::InvalidNewPin("only digits, letters, * and #"),
            ),
            (
                change("11111", "22222", "22223"),
                Refusal::InvalidNewPin("the confirmation differs"),
            ),
        ];
        for (c, why) in bad {
            assert_eq!(em.change_credential(&c), Err(why));
        }
        assert!(em.pin_must_change(0) && em.pin_matches(0, "11111"));
        assert_eq!(
            em.change_credential(&change("11111", "22222", "22222")),
            Ok(0)
        );
        assert!(!em.pin_must_change(0), "CRED-2: no longer must change");
        assert!(em.pin_matches(0, "22222") && !em.pin_matches(0, "11111"));
    }
}
