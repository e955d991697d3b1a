//! The Extension Mobility error-code table (PROTOCOL.md §1 and §2).
//!
//! One enum serves both interfaces: the EM API answers with codes 0–30 inside
//! `<error code="N">text</error>`, and the phone-facing service shows
//! `[N]-text` for its own 2xx codes and for every API code it passes through.
//! The *number* is the contract; the text depends on the server profile,
//! because CallManager 4.1 (`ucm4`) words codes 0–11 differently from
//! recent Unified CM (`ucm`). `cme` uses the `ucm` wording.

use serde::{Deserialize, Serialize};

/// Which product a server behaves like; it selects texts and rules.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerProfile {
    /// Recent Cisco Unified CM (the default).
    #[default]
    Ucm,
    /// CallManager 4.x: older texts, error 18 for a device already in use.
    Ucm4,
    /// Cisco Unified CME: auto-logout is the only multiple-login behaviour.
    Cme,
}

impl ServerProfile {
    pub fn as_str(self) -> &'static str {
        match self {
            ServerProfile::Ucm => "ucm",
            ServerProfile::Ucm4 => "ucm4",
            ServerProfile::Cme => "cme",
        }
    }

    /// `ucm`, `ucm4` or `cme`.
    pub fn from_name(name: &str) -> Option<ServerProfile> {
        [ServerProfile::Ucm, ServerProfile::Ucm4, ServerProfile::Cme]
            .into_iter()
            .find(|p| p.as_str() == name)
    }
}

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $name:ident = $code:literal, $text:literal $(, ucm4: $ucm4:literal)? ;)*) => {
        /// Every code of PROTOCOL.md §1 (EM API) and §2 (phone-facing service).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum ErrorCode {
            $( $(#[$doc])* $name, )*
        }

        impl ErrorCode {
            /// All codes, in table order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name,)*];

            /// The number on the wire.
            pub fn code(self) -> u16 {
                match self { $(ErrorCode::$name => $code,)* }
            }

            /// The code for a number, if the table has it (13–17, 20, 21, 24 are reserved).
            pub fn from_code(code: u16) -> Option<ErrorCode> {
                match code { $($code => Some(ErrorCode::$name),)* _ => None }
            }

            /// The text a server of `profile` sends with this code.
            pub fn text(self, profile: ServerProfile) -> &'static str {
                match (self, profile) {
                    $($( (ErrorCode::$name, ServerProfile::Ucm4) => $ucm4, )?)*
                    $( (ErrorCode::$name, _) => $text, )*
                }
            }
        }
    };
}

error_codes! {
    /// Anything not covered below; never a panic.
    UnknownError = 0, "Unknown Error";
    /// Not a form, no `xml` field, malformed XML, DTD violation, body over 64 KiB.
    ParseError = 1, "Error on Parsing", ucm4: "XML Validation Error";
    /// Blank application credentials.
    AppNotAuthorized = 2, "Cannot authorize App user", ucm4: "Authentication Error";
    /// Unknown appID or wrong certificate.
    InvalidAppUser = 3, "Invalid App User", ucm4: "Invalid Authentication";
    /// A policy refusal not covered by another code. Under `ucm4`, 4 is
    /// the phone's own "XML Error [4] Parse Error" for a service answer it
    /// cannot parse: the server never sends it, the virtual phone reports it.
    PolicyValidation = 4, "Policy Validation error", ucm4: "Parse Error";
    /// Logout on a device whose EM was disabled after the login.
    DeviceLogonDisabledAfterLogin = 5, "Device logon disabled", ucm4: "Request Denied";
    /// Backend failure or overload (LIM-2).
    DatabaseError = 6, "Database Error";
    /// The auto-logout timer could not be set or removed.
    LogoutRequestError = 7, "Logout Request Error", ucm4: "AutoLogout Setup Error";
    /// Unknown query element.
    QueryTypeUndetermined = 8, "Query type undetermined";
    /// User directory failure.
    DirectoryUserInfo = 9, "Dir. User Info Error", ucm4: "DirUser Creation Error";
    /// The application acts for another user without Authentication Proxy Rights (AUTH-6).
    NoProxyRights = 10, "User lacks app proxy rights", ucm4: "Proxy Authentication Not Allowed";
    /// Unknown deviceName.
    DeviceNotFound = 11, "Device does not exist";
    /// The named profile is missing, or the user has none for this device (PROF-5).
    ProfileNotFound = 12, "Dev. Profile not found";
    /// `ucm4`: the device is in use by another user (MULTI-4).
    AnotherUserLoggedIn = 18, "Another user logged in";
    /// Logout on a device nobody is logged in to.
    NoUserLoggedIn = 19, "No user logged in";
    /// EM is not enabled on the device (PROF-6).
    DeviceLogonDisabled = 22, "Device logon disabled";
    /// Unknown userID.
    UserNotFound = 23, "User not found";
    /// Multiple Logins Not Allowed and the user is on another device (MULTI-1).
    UserLoggedInElsewhere = 25, "User logged in elsewhere";
    /// More than Maximum Concurrent Requests login/logout in flight (LIM-1).
    Busy = 26, "Busy, please try again";
    /// The PIN is flagged must-change.
    ChangePassword = 27, "Change Password";
    /// Validate IP Address refused the source address (IP-1).
    UntrustedIp = 28, "Untrusted IP Error";
    /// Server fault injection only.
    RisDown = 29, "RIS down-contact admin";
    /// Allow Proxy is False and the request came through a proxy (IP-3).
    ProxyNotAllowed = 30, "Proxy not allowed";
    /// `ucm4`: no `device` parameter on the phone-facing service.
    Ucm4DeviceNameEmpty = 100, "Login Unsuccessful";
    /// `ucm4`: user not in the directory (AUTH-1).
    Ucm4UserNotFound = 101, "Login Unsuccessful";
    /// Wrong user ID or PIN (AUTH-1).
    AuthenticationError = 201, "Authentication error";
    /// Blank user ID or PIN (AUTH-2).
    BlankUserIdOrPin = 202, "Blank userid or pin";
    /// No device profile for the user (PROF-5).
    UserProfileAbsent = 205, "User Profile Absent";
    /// No `device` parameter (URL-2).
    DeviceNameEmpty = 207, "Device Name Empty";
    /// Change Credential refused the new PIN (CRED-1; emlab's choice of
    /// code, PROTOCOL.md §8); the screen adds why.
    InvalidNewPin = 213, "Invalid new PIN";
    /// The EM API is unreachable from the service (URL-3).
    EmServiceConnectionError = 208, "EMService Conn. error";
    /// Unknown `loginType`.
    LoginTypeInvalid = 215, "LoginType invalid";
    /// `loginType=DN` matched several users.
    DnHasMultipleUsers = 216, "DN has multiple users";
}

impl ErrorCode {
    /// The text a phone shows after `[N]-`. Seed A's troubleshooting table
    /// words some codes as the phone shows them ("Error 202 Blank User ID or
    /// PIN"); those follow the seed under `ucm` and `cme`. Every other code,
    /// and every code under `ucm4`, shows the API table's text (PROTOCOL.md
    /// §1), which the EM API body always carries.
    pub fn phone_text(self, profile: ServerProfile) -> &'static str {
        if profile == ServerProfile::Ucm4 {
            return self.text(profile);
        }
        match self {
            ErrorCode::AuthenticationError => "Authentication Error",
            ErrorCode::BlankUserIdOrPin => "Blank User ID or PIN",
            ErrorCode::DeviceLogonDisabled => "Dev Logon Disabled",
            ErrorCode::UserLoggedInElsewhere => "User Logged in Elsewhere",
            ErrorCode::Busy => "Busy Please Try Again",
            ErrorCode::EmServiceConnectionError => "EM Service Connection Error",
            other => other.text(profile),
        }
    }

    /// True for the codes the EM API itself returns (section 1 of PROTOCOL.md).
    pub fn is_em_api(self) -> bool {
        self.code() <= 30
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.code(), self.text(ServerProfile::Ucm))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Seed A's phone wording where it gives one; the API wording in the
    /// EM API body and under ucm4; ucm4's code 4 is the phone's parse error.
    #[test]
    fn phone_texts_follow_seed_a_and_the_api_keeps_its_table() {
        use ServerProfile::*;
        assert_eq!(
            ErrorCode::BlankUserIdOrPin.phone_text(Ucm),
            "Blank User ID or PIN"
        );
        assert_eq!(
            ErrorCode::DeviceLogonDisabled.phone_text(Cme),
            "Dev Logon Disabled"
        );
        assert_eq!(ErrorCode::Busy.phone_text(Ucm), "Busy Please Try Again");
        assert_eq!(ErrorCode::Busy.text(Ucm), "Busy, please try again");
        assert_eq!(ErrorCode::Busy.phone_text(Ucm4), ErrorCode::Busy.text(Ucm4));
        assert_eq!(
            ErrorCode::UserProfileAbsent.phone_text(Ucm),
            "User Profile Absent"
        );
        assert_eq!(ErrorCode::PolicyValidation.text(Ucm4), "Parse Error");
        assert_eq!(
            ErrorCode::PolicyValidation.text(Ucm),
            "Policy Validation error"
        );
    }

    #[test]
    fn codes_round_trip_and_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for &c in ErrorCode::ALL {
            assert!(seen.insert(c.code()), "duplicate code {}", c.code());
            assert_eq!(ErrorCode::from_code(c.code()), Some(c));
        }
        for reserved in [13, 14, 15, 16, 17, 20, 21, 24] {
            assert_eq!(ErrorCode::from_code(reserved), None);
        }
    }

    #[test]
    fn ucm4_words_the_old_codes_differently() {
        assert_eq!(
            ErrorCode::ParseError.text(ServerProfile::Ucm),
            "Error on Parsing"
        );
        assert_eq!(
            ErrorCode::ParseError.text(ServerProfile::Ucm4),
            "XML Validation Error"
        );
        assert_eq!(
            ErrorCode::NoProxyRights.text(ServerProfile::Ucm4),
            "Proxy Authentication Not Allowed"
        );
        // Codes above 11 read the same in every profile.
        assert_eq!(
            ErrorCode::UserLoggedInElsewhere.text(ServerProfile::Ucm4),
            "User logged in elsewhere"
        );
        assert_eq!(
            ErrorCode::Busy.text(ServerProfile::Cme),
            "Busy, please try again"
        );
    }
}
