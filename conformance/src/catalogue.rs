//! The catalogue: every case, keyed by the requirement IDs of
//! `REQUIREMENTS.md` it covers, and the IDs no case covers yet, each with
//! the reason. `emlab conform --list` prints it.

use crate::case;
use crate::case::Case;
use crate::cases::{self, auth, btn, ip, lim, log, logs, met, multi, prof, rst, time, trbl, url};
use emlab_protocol::ServerProfile;

/// Every requirement ID, in the catalogue's order ([`crate::requirements`]).
pub fn requirement_ids() -> impl Iterator<Item = &'static str> {
    crate::requirements::REQUIREMENTS.iter().map(|r| r.id)
}

const ALL: &[ServerProfile] = cases::ALL;
const UCM: &[ServerProfile] = cases::UCM;
const UCM4: &[ServerProfile] = cases::UCM4;
const UCM_BOTH: &[ServerProfile] = cases::UCM_BOTH;
const UCM_CME: &[ServerProfile] = cases::UCM_CME;
const CME: &[ServerProfile] = cases::CME;

pub fn cases() -> Vec<Case> {
    let mut all = vec![
        case!(
            "LOG-1/phone-login-restarts",
            ["LOG-1", "PROF-8"],
            ALL,
            [PhoneService, ControlChannel, ConfigFiles],
            "A login at the phone shows Login Successful, restarts the phone and puts the user in its config",
            log::phone_login_replaces_config_and_restarts
        ),
        case!(
            "LOG-2/logout-restores-logout-profile",
            ["LOG-2"],
            ALL,
            [ControlChannel, ConfigFiles],
            "Logout restarts the phone with its logout profile",
            log::logout_restores_the_logout_profile
        ),
        case!(
            "LOG-3/logged-in-phone-offers-logout",
            ["LOG-3"],
            ALL,
            [PhoneService],
            "A logged-in phone shows `Logged in as U` with a Yes that logs out",
            log::a_logged_in_phone_offers_logout
        ),
        case!(
            "LOG-4/several-profiles-menu",
            ["LOG-4"],
            ALL,
            [PhoneService],
            "A user with two profiles gets a two-item menu",
            log::several_profiles_give_a_menu
        ),
        case!(
            "LOG-5/login-types-dn-sp",
            ["LOG-5"],
            UCM,
            [PhoneService],
            "loginType=DN (primary extension) and SP (self-service ID) log in",
            log::login_types_dn_and_sp
        ),
        case!(
            "LOG-6/off-hook-defers-restart",
            ["LOG-6"],
            ALL,
            [ControlChannel],
            "A phone off-hook at login restarts only once on-hook",
            log::off_hook_defers_the_restart
        ),
        case!(
            "LOG-7/administrator-logout",
            ["LOG-7"],
            ALL,
            [LabControl],
            "An administrator logs a device out",
            log::an_administrator_may_log_any_device_out
        ),
        case!(
            "AUTH-1/wrong-pin-201",
            ["AUTH-1", "URL-4"],
            UCM_CME,
            [PhoneService],
            "A wrong PIN shows [201]",
            auth::wrong_pin_gets_201
        ),
        case!(
            "AUTH-1/unknown-user-101",
            ["AUTH-1"],
            UCM4,
            [PhoneService],
            "A user not in the directory shows [101] (ucm4)",
            auth::unknown_user_gets_101
        ),
        case!(
            "AUTH-2/blank-pin-202",
            ["AUTH-2"],
            UCM_CME,
            [PhoneService],
            "A blank PIN shows [202]",
            auth::blank_pin_gets_202
        ),
        case!(
            "AUTH-3/numeric-only-user-ids",
            ["AUTH-3"],
            UCM,
            [PhoneService, LabControl],
            "Alphanumeric User ID = False refuses alphanumeric IDs",
            auth::numeric_only_user_ids
        ),
        case!(
            "AUTH-6/app-credentials-and-proxy-rights",
            ["AUTH-6"],
            UCM_BOTH,
            [EmApi],
            "Wrong application credentials get 3; an application without proxy rights gets 10 for others",
            auth::applications_need_credentials_and_proxy_rights
        ),
        case!(
            "PROF-4/adp-when-logged-out",
            ["PROF-4", "PROF-8"],
            ALL,
            [ConfigFiles],
            "A phone with nobody logged in runs ADP<MAC>",
            prof::adp_when_nobody_is_logged_in
        ),
        case!(
            "PROF-5/no-profile-205",
            ["PROF-5"],
            UCM,
            [PhoneService],
            "A user without a device profile shows [205]",
            prof::no_profile_gets_205
        ),
        case!(
            "PROF-6/disabled-device-22",
            ["PROF-6"],
            UCM_BOTH,
            [EmApi],
            "A device with EM disabled answers 22",
            prof::disabled_device_gets_22
        ),
        case!(
            "PROF-9/edit-applies-at-next-login",
            ["PROF-9"],
            ALL,
            [ConfigFiles, LabControl],
            "A profile edit leaves the session logged in as it was; the next login loads it",
            prof::a_profile_edit_applies_at_the_next_login
        ),
        case!(
            "PROF-10/intercom-on-default-device",
            ["PROF-10"],
            ALL,
            [ConfigFiles],
            "An intercom line shows on its default device and nowhere else",
            prof::intercom_line_only_on_its_default_device
        ),
        case!(
            "PROF-11/protected-phone-22",
            ["PROF-11"],
            ALL,
            [EmApi],
            "A protected (Secure Tone) phone refuses login and logout with 22",
            prof::protected_phone_gets_22
        ),
        case!(
            "PROF-7/user-locale-wins",
            ["PROF-7", "PROF-1", "PROF-8"],
            ALL,
            [ConfigFiles],
            "At login the user's locale wins over profile and device; the config names profile and user",
            prof::the_users_locale_wins_and_the_config_follows
        ),
        case!(
            "PROF-7/logout-locale",
            ["PROF-7"],
            ALL,
            [ConfigFiles],
            "After logout the model's default profile's locale applies, else the logout profile's, else the device's",
            prof::the_logout_locale_follows_the_default_profile
        ),
        case!(
            "PROF-3/cross-model-login",
            ["PROF-3", "PROF-2"],
            ALL,
            [ConfigFiles],
            "A 7960 profile on a 7905 keeps its line and music on hold, drops its module, and takes the 7905 default's templates",
            prof::cross_model_login_keeps_lines_drops_modules
        ),
        case!(
            "MULTI-1/second-device-25",
            ["MULTI-1"],
            UCM_BOTH,
            [EmApi],
            "Multiple Logins Not Allowed: a second device gets 25",
            multi::second_device_gets_25
        ),
        case!(
            "MULTI-2/allowed-both-devices",
            ["MULTI-2"],
            UCM_BOTH,
            [LabControl],
            "Multiple Logins Allowed: both devices",
            multi::allowed_lets_the_user_on_both
        ),
        case!(
            "MULTI-3/auto-logout-first-device",
            ["MULTI-3"],
            ALL,
            [LabControl],
            "Auto Logout (always, under cme): the second login logs the first device out; it restarts into its logout profile",
            multi::auto_logout_frees_the_first_device
        ),
        case!(
            "MULTI-5/concurrent-logins-one-device",
            ["MULTI-5"],
            UCM_BOTH,
            [EmApi],
            "40 simultaneous logins of one user: exactly one succeeds",
            multi::concurrent_logins_leave_one_device
        ),
        case!(
            "MET-1/phones-and-operation-latency",
            ["MET-1"],
            ALL,
            [EmApi],
            "/metrics counts registered phones by protocol and times EM operations (cme: the CCME MIB's EM phones)",
            met::metrics_count_phones_and_time_operations
        ),
        case!(
            "LIM-1/over-limit-26-throttled",
            ["LIM-1"],
            ALL,
            [LabControl],
            "Beyond Maximum Concurrent Requests: 26 at once, counted as throttled",
            lim::over_the_limit_gets_26_and_counts_throttled
        ),
        case!(
            "LIM-4/stopped-service-503",
            ["LIM-4"],
            ALL,
            [PhoneService, LabControl],
            "With the EM service stopped the phone gets HTTP 503",
            lim::a_stopped_service_answers_503
        ),
        case!(
            "LIM-5/cache-size-range",
            ["LIM-5"],
            UCM_BOTH,
            [LabControl],
            "Extension Mobility Cache Size outside 1000..20000 is refused",
            lim::cache_size_stays_in_range
        ),
        case!(
            "TIME-1/max-login-time-logs-out",
            ["TIME-1"],
            UCM_BOTH,
            [LabControl],
            "An enforced maximum login time logs the device out and restarts it; unenforced, nothing happens; the range per profile",
            time::enforced_max_login_time_logs_out
        ),
        case!(
            "TIME-3/users-own-limit",
            ["TIME-3"],
            UCM_BOTH,
            [LabControl],
            "A user's own maximum login time applies even when not enforced",
            time::the_users_own_limit_wins
        ),
        case!(
            "RST-1/restart-only",
            ["RST-1"],
            ALL,
            [ControlChannel],
            "Same locale and modules: a restart, no reset",
            rst::same_locale_and_modules_restart_only
        ),
        case!(
            "RST-2/locale-restart-reset",
            ["RST-2", "RST-4"],
            UCM_BOTH,
            [ControlChannel, ConfigFiles],
            "Another locale: restart then reset; the new config has the locale",
            rst::another_locale_restarts_then_resets
        ),
        case!(
            "RST-3/modules-restart-reset",
            ["RST-3", "RST-4"],
            UCM_BOTH,
            [ControlChannel, ConfigFiles],
            "Other add-on modules: restart then reset; the new config has them",
            rst::another_module_set_restarts_then_resets
        ),
        case!(
            "LOGS-1/cleared-at-manual-login",
            ["LOGS-1"],
            UCM_BOTH,
            [ControlChannel, LabControl],
            "Clear Call Logs = True pushes Init:CallHistory at a manual login and logout, never at an automatic logout",
            logs::clear_call_logs_at_manual_login
        ),
        case!(
            "IP-1/untrusted-source-blocked",
            ["IP-1"],
            UCM_BOTH,
            [PhoneService, LabControl],
            "Validate IP Address: the Trusted List, the registered address and the device cache let a login through, each for its own device; any other address gets 28",
            ip::untrusted_sources_are_blocked
        ),
        case!(
            "IP-2/trusted-list-1024",
            ["IP-2"],
            UCM_BOTH,
            [LabControl],
            "A Trusted List of IPs over 1024 characters is refused",
            ip::trusted_list_is_at_most_1024_characters
        ),
        case!(
            "BTN-2/entries-beyond-buttons-dropped",
            ["BTN-2"],
            ALL,
            [ConfigFiles],
            "An 8-line profile on a 7960 gives six lines and no speed dial",
            btn::entries_beyond_the_phone_are_dropped
        ),
        case!(
            "BTN-5/7905-loses-module-buttons",
            ["BTN-5"],
            ALL,
            [ConfigFiles],
            "A 7905 gets one line and none of the profile's module buttons",
            btn::a_7905_loses_module_buttons
        ),
        case!(
            "URL-2/missing-device-207",
            ["URL-2", "URL-4"],
            UCM_CME,
            [PhoneService],
            "No `device` parameter shows [207]",
            url::missing_device_gets_207
        ),
        case!(
            "URL-2/missing-device-100",
            ["URL-2"],
            UCM4,
            [PhoneService],
            "No `device` parameter shows [100] (ucm4)",
            url::missing_device_gets_100
        ),
        case!(
            "URL-3/em-api-down-208",
            ["URL-3"],
            UCM_BOTH,
            [PhoneService, LabControl],
            "The EM API unreachable from the service shows [208]",
            url::em_api_down_gets_208
        ),
        case!(
            "URL-4/errors-number-and-text",
            ["URL-4"],
            ALL,
            [EmApi, PhoneService],
            "Unparsable EM API input gets code 1; phone errors read `[N]-text`",
            url::errors_carry_number_and_text
        ),
    ];
    all.extend(timers_cme_and_more());
    // Keep each group together, in the requirements' order.
    let group_rank =
        |c: &Case| requirement_ids().position(|id| id.split('-').next() == Some(c.group()));
    all.sort_by_key(|c| group_rank(c));
    all
}

fn timers_cme_and_more() -> Vec<Case> {
    vec![
        case!(
            "AUTH-8/cme-password-login",
            ["AUTH-8"],
            CME,
            [PhoneService],
            "cme: a user logs in with the `user NAME password PW` credential; the profile's pin does not log in",
            auth::cme_users_log_in_with_their_password
        ),
        case!(
            "CRED-1/change-pin-at-the-phone",
            ["CRED-1"],
            UCM_BOTH,
            [PhoneService, LabControl],
            "Change Credential refuses a wrong current PIN (201) and a confirmation that differs (213), then changes the PIN",
            auth::change_credential_at_the_phone
        ),
        case!(
            "CRED-2/must-change-then-login",
            ["CRED-2"],
            UCM_BOTH,
            [PhoneService, LabControl],
            "A must-change PIN gets 27 until the user changes it through Change Credential",
            auth::must_change_pin_logs_in_after_a_change
        ),
        case!(
            "AUTH-5/old-pin-cached-two-minutes",
            ["AUTH-5"],
            UCM,
            [PhoneService, LabControl],
            "After a PIN change the old PIN works for 2 minutes from the login that used it (a cached login does not renew them), then only the new one",
            auth::the_old_pin_works_for_two_minutes
        ),
        case!(
            "AUTH-7/remember-last-user",
            ["AUTH-7"],
            UCM_BOTH,
            [PhoneService, LabControl],
            "Remember Last User pre-fills the prompt with the last user ID",
            auth::remember_last_user_prefills_the_prompt
        ),
        case!(
            "MULTI-4/another-user-18",
            ["MULTI-4"],
            UCM4,
            [EmApi],
            "A login on a device another user is logged in on gets 18 (ucm4)",
            multi::another_user_on_the_device_gets_18
        ),
        case!(
            "TIME-2/max-login-time-turns-enforce-on",
            ["TIME-2"],
            UCM_BOTH,
            [LabControl],
            "Setting a valid maximum login time turns Enforce on",
            time::a_valid_max_login_time_turns_enforce_on
        ),
        case!(
            "TIME-5/idle-phone-logged-out",
            ["TIME-5"],
            CME,
            [LabControl],
            "cme max-idle-time logs an idle phone out",
            time::an_idle_phone_is_logged_out
        ),
        case!(
            "LOGS-2/cme-clears-at-logout",
            ["LOGS-2"],
            CME,
            [ControlChannel],
            "cme clears the call history at logout, unless the lab keeps history (`em keep-history`) or gives the phone no authentication URL (no `url authentication`)",
            logs::cme_clears_call_history_at_logout
        ),
        case!(
            "IP-3/proxy-refused",
            ["IP-3"],
            UCM_BOTH,
            [PhoneService, LabControl],
            "Allow Proxy = False refuses a trusted phone's login through a proxy with exactly 30; Validate IP Address = False ignores proxies",
            ip::requests_through_a_proxy_are_refused
        ),
        case!(
            "BTN-1/cme-line-order",
            ["BTN-1"],
            CME,
            [PhoneService, ConfigFiles],
            "cme orders lines normal, silent-ring, beep-ring, feature-ring, monitor-ring, overlay",
            btn::cme_orders_lines_by_type
        ),
        case!(
            "BTN-4/sip-normal-lines-listed-features",
            ["BTN-4"],
            CME,
            [ConfigFiles],
            "A SIP phone gets only normal lines and Cisco's short feature list",
            btn::sip_phones_keep_normal_lines_and_listed_features
        ),
        case!(
            "BTN-7/speed-dials-by-tag",
            ["BTN-7"],
            CME,
            [PhoneService, ConfigFiles],
            "Speed dials follow their tags, not the order listed",
            btn::speed_dials_follow_their_tags
        ),
        case!(
            "LOG-8/call-backs-end-at-logout",
            ["LOG-8"],
            UCM_BOTH,
            [LabControl],
            "Call Backs the user activated are cancelled at logout",
            log::call_backs_end_at_logout
        ),
        case!(
            "LOG-10/dnd-follows-the-user",
            ["LOG-10"],
            UCM,
            [LabControl, ConfigFiles],
            "DND set while logged in is saved with the user, not the device, and restored at the next login",
            log::dnd_follows_the_user
        ),
        case!(
            "AUTH-4/pin-rules",
            ["AUTH-4"],
            ALL,
            [PhoneService],
            "PIN rules: any keypad characters (ucm), 5+ digits (ucm4), 4 to 8 digits (cme)",
            auth::pin_rules_per_profile
        ),
        case!(
            "TIME-6/stopped-service-keeps-logins",
            ["TIME-6"],
            UCM_BOTH,
            [LabControl],
            "Across an EM service restart logins outlive their expiry, and end within a day",
            time::a_stopped_service_keeps_logins_past_expiry_until_a_day
        ),
        case!(
            "BTN-6/7940-line-template",
            ["BTN-6"],
            UCM4,
            [EmApi],
            "ucm4 logs a 7940 in only on a `7940 1-Line`/`2-Line` template",
            btn::a_7940_needs_its_line_template
        ),
        case!(
            "TIME-4/logout-times",
            ["TIME-4"],
            CME,
            [LabControl],
            "cme logout times log every EM user out",
            time::logout_times_log_everyone_out
        ),
        case!(
            "IP-4/ipv6-phone-logs-in",
            ["IP-4", "URL-1"],
            ALL,
            [PhoneService],
            "An IPv6 phone gets a bracketed service URL and logs in (skipped on an IPv4 target)",
            ip::ipv6_phones_log_in
        ),
        case!(
            "BTN-3/first-line-not-monitored",
            ["BTN-3"],
            CME,
            [PhoneService, ConfigFiles],
            "cme: a profile listing a monitored line first never puts it on button 1 (the rule is CME's)",
            btn::the_first_line_is_never_monitored
        ),
        case!(
            "URL-1/service-url-case-sensitive",
            ["URL-1"],
            ALL,
            [PhoneService],
            "`Device=` is not `device=`: no login",
            url::the_service_url_is_case_sensitive
        ),
        case!(
            "TRBL-1/clock-skew-five-minute-logouts",
            ["TRBL-1"],
            UCM_BOTH,
            [ControlChannel, LabControl],
            "Publisher and subscriber clocks apart: each login ends 5 minutes after it began and the phone restarts",
            trbl::clock_skew_logs_users_out_every_five_minutes
        ),
        case!(
            "TRBL-2/switch-version-loses-logins",
            ["TRBL-2"],
            UCM,
            [ControlChannel, LabControl],
            "A publisher switch version logs every EM user out; logins fail with 6 until the publisher is active",
            trbl::switch_version_loses_every_login_until_the_publisher_is_back
        ),
        case!(
            "TRBL-3/dns-callmanager-resets",
            ["TRBL-3"],
            UCM_BOTH,
            [ControlChannel, LabControl],
            "A CallManager found by DNS: login and logout reset the phone instead of restarting it",
            trbl::dns_callmanager_resets_instead_of_restarting
        ),
        case!(
            "TRBL-4/no-logout-profile-registering",
            ["TRBL-4"],
            UCM_BOTH,
            [ConfigFiles, LabControl],
            "No logout profile: after a logout the device has no configuration file, so its phone stays Registering",
            trbl::no_logout_profile_leaves_the_phone_registering
        ),
    ]
}

/// Requirement IDs no case covers, with the reason.
pub const NOT_COVERED: &[(&str, &str)] = &[
    (
        "LOG-9",
        "cannot be checked from outside: ring type, contrast and volume live on the phone and appear in no interface the server speaks",
    ),
    (
        "LIM-2",
        "cannot be checked from outside a real database: error 6 under load depends on the server's own storage (emlab emulates it with database_capacity)",
    ),
    (
        "LIM-3",
        "a one-hour load, not a conformance case: run scenarios/2000-per-hour.toml against the target",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn every_requirement_is_covered_or_listed_with_a_reason() {
        let covered: BTreeSet<&str> = cases()
            .iter()
            .flat_map(|c| c.covers.iter().copied())
            .collect();
        let ids: Vec<&str> = requirement_ids().collect();
        for id in &ids {
            let listed = NOT_COVERED.iter().any(|(n, _)| n == id);
            assert!(
                covered.contains(id) || listed,
                "{id} has no case and no reason"
            );
            assert!(
                !(covered.contains(id) && listed),
                "{id} is covered and also listed as not covered"
            );
        }
        for c in cases() {
            for id in c.covers {
                assert!(ids.contains(id), "{}: unknown requirement {id}", c.id);
            }
            assert!(
                c.id.starts_with(c.covers[0]),
                "{} is named after its first requirement",
                c.id
            );
        }
        let ids: BTreeSet<&str> = cases().iter().map(|c| c.id).collect();
        assert_eq!(ids.len(), cases().len(), "case IDs are unique");
    }

    /// The list above is the spec's, when the spec is at hand.
    #[test]
    fn the_id_list_matches_requirements_md() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../shared/spec/REQUIREMENTS.md");
        let Ok(text) = std::fs::read_to_string(path) else {
            return;
        };
        let ids: Vec<&str> = text
            .lines()
            .filter_map(|l| l.strip_prefix("| "))
            .filter_map(|l| l.split(' ').next())
            .filter(|id| {
                id.contains('-') && id.chars().next().is_some_and(|c| c.is_ascii_uppercase())
            })
            .collect();
        let ours: Vec<&str> = requirement_ids().collect();
        assert_eq!(ids, ours);
    }

    /// `docs/requirements.md` is what the table and the catalogue say.
    #[test]
    fn requirements_doc_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/requirements.md");
        let rendered = crate::requirements::markdown();
        if std::env::var_os("EMLAB_WRITE_DOCS").is_some() {
            std::fs::write(&path, &rendered).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == rendered,
            "docs/requirements.md is stale: run EMLAB_WRITE_DOCS=1 cargo test requirements_doc"
        );
    }
}
