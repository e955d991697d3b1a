//! The phone-facing EM service (PROTOCOL.md §2) as a phone uses it: each
//! test follows the URLs the server hands out, screen by screen.

use crate::support::*;
use emlab_protocol::em_api::DeviceUser;
use emlab_protocol::phone_xml::{EM_SERVICE_PATH, PhoneObject, error_number};

/// What a 7960 sends with every request (PROTOCOL.md §3).
const PHONE_7960: &[(&str, &str)] = &[
    ("x-CiscoIPPhoneModelName", "CP-7960G"),
    ("Accept", "x-CiscoIPPhone/*, text/*"),
    ("Accept-Charset", "iso-8859-1, utf-8;q=0.8"),
    ("Accept-Language", "en-US"),
];

/// One screen: GET `url` (absolute, as the server wrote it, or a query for the servlet).
async fn screen(t: &TestServer, url: &str) -> PhoneObject {
    let path = match url.split_once("/emapp/") {
        Some((_, rest)) => format!("/emapp/{rest}"),
        None => format!("{EM_SERVICE_PATH}?{url}"),
    };
    let (status, _, body) = phone_get(&t.url(), &path, PHONE_7960).await;
    assert_eq!(status, 200, "{body}");
    let object = PhoneObject::from_xml(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
    assert_eq!(object.limit_violations(), Vec::<String>::new(), "{body}");
    object
}

fn text_of(o: &PhoneObject) -> (&str, Option<&str>) {
    match o {
        PhoneObject::Text(t) => (t.text.as_str(), t.prompt.as_deref()),
        other => panic!("expected CiscoIPPhoneText, got {other:?}"),
    }
}

/// The error shown, as `[N]-text`, with its prompt.
fn error_of(o: &PhoneObject) -> (u16, String, String) {
    let (text, prompt) = text_of(o);
    (
        error_number(text).unwrap_or_else(|| panic!("no [N] in {text}")),
        text.to_string(),
        prompt.unwrap_or("").to_string(),
    )
}

/// Types `userid` and `pin` into the login prompt of `device` and submits it.
async fn log_in(
    t: &TestServer,
    device: &str,
    login_type: Option<&str>,
    userid: &str,
    pin: &str,
) -> PhoneObject {
    let q = match login_type {
        Some(lt) => format!("device={device}&loginType={lt}"),
        None => format!("device={device}"),
    };
    let PhoneObject::Input(prompt) = screen(t, &q).await else {
        panic!("expected the login prompt")
    };
    let url = format!(
        "{}&userid={}&seq={}",
        prompt.url,
        userid,
        pin.replace('#', "%23")
    );
    screen(t, &url).await
}

#[tokio::test]
async fn log_1_prompt_then_login_puts_the_user_on_the_phone() {
    let t = TestServer::start("", "").await;
    let PhoneObject::Input(prompt) = screen(&t, &format!("device={D1}")).await else {
        panic!("expected a prompt")
    };
    assert_eq!(prompt.title.as_deref(), Some("Extension Mobility"));
    assert_eq!(prompt.prompt.as_deref(), Some("Enter User ID and PIN"));
    assert!(
        prompt
            .url
            .ends_with(&format!("/emapp/EMAppServlet?device={D1}&loginType=UID")),
        "{}",
        prompt.url
    );
    let fields: Vec<(&str, &str)> = prompt
        .items
        .iter()
        .map(|i| (i.query_string_param.as_str(), i.input_flags.as_str()))
        .collect();
    assert_eq!(fields, vec![("userid", "A"), ("seq", "NP")]);

    let done = log_in(&t, D1, None, "bob", "23456").await;
    assert_eq!(text_of(&done).0, "Login Successful");
    assert_eq!(t.user_on(D1).await, DeviceUser::User("bob".into()));
}

#[tokio::test]
async fn log_3_logged_in_phone_offers_logout_with_yes() {
    let t = TestServer::start("", "").await;
    assert!(t.login(D1, "bob").await.error_code().is_none());
    let PhoneObject::Text(state) = screen(&t, &format!("device={D1}")).await else {
        panic!("expected text")
    };
    assert_eq!(state.text, "Logged in as bob");
    let yes = state
        .soft_keys
        .iter()
        .find(|k| k.name == "Yes")
        .expect("a Yes soft key");
    assert_eq!(yes.position, 1);
    assert!(yes.url.contains("doLogout=true"), "{}", yes.url);
    assert!(state.soft_keys.iter().any(|k| k.name == "Cancel"));
    assert_eq!(text_of(&screen(&t, &yes.url).await).0, "Logout Successful");
    assert_eq!(t.user_on(D1).await, DeviceUser::Nobody);
    // Logging out an idle phone is an error with its number.
    let (code, text, prompt) = error_of(&screen(&t, &yes.url).await);
    assert_eq!(
        (code, text.as_str(), prompt.as_str()),
        (19, "[19]-No user logged in", "Logout Unsuccessful")
    );
}

#[tokio::test]
async fn log_4_several_profiles_get_a_menu_one_goes_straight_in() {
    let t = TestServer::start("", "").await;
    let PhoneObject::Menu(menu) = log_in(&t, D1, None, "alice", "12345").await else {
        panic!("expected a menu")
    };
    assert_eq!(menu.title.as_deref(), Some("Select Profile"));
    let names: Vec<&str> = menu.items.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, vec!["alice-7960", "alice-7940"]);
    assert_eq!(
        t.user_on(D1).await,
        DeviceUser::Nobody,
        "nobody is logged in before the choice"
    );
    assert!(menu.items[1].url.contains("profile=alice-7940"));
    assert_eq!(
        text_of(&screen(&t, &menu.items[1].url).await).0,
        "Login Successful"
    );
    assert_eq!(t.user_on(D1).await, DeviceUser::User("alice".into()));
    // bob has one profile: no menu.
    assert_eq!(
        text_of(&log_in(&t, D2, None, "bob", "23456").await).0,
        "Login Successful"
    );
}

#[tokio::test]
async fn log_5_login_by_primary_extension_and_self_service_id() {
    let t = TestServer::start("", "").await;
    let PhoneObject::Input(dn) = screen(&t, &format!("device={D1}&loginType=DN")).await else {
        panic!()
    };
    assert_eq!(
        dn.prompt.as_deref(),
        Some("Enter Primary Extension and PIN")
    );
    assert_eq!(
        text_of(&log_in(&t, D1, Some("DN"), "2002", "23456").await).0,
        "Login Successful"
    );
    assert_eq!(t.user_on(D1).await, DeviceUser::User("bob".into()));
    assert!(t.logout(D1).await.error_code().is_none());
    assert_eq!(
        text_of(&log_in(&t, D1, Some("SP"), "777", "23456").await).0,
        "Login Successful"
    );
    assert!(t.logout(D1).await.error_code().is_none());
    // A fleet user by extension.
    let fleet_phone = "SEP0E0000000000";
    assert_eq!(
        text_of(&log_in(&t, fleet_phone, Some("DN"), "20000", "100000").await).0,
        "Login Successful"
    );
    // Two users share extension 3000: 216.
    let (code, text, _) = error_of(&log_in(&t, D2, Some("DN"), "3000", "12345").await);
    assert_eq!((code, text.as_str()), (216, "[216]-DN has multiple users"));
    // An unknown loginType: 215.
    let (code, text, _) = error_of(&screen(&t, &format!("device={D2}&loginType=XYZ")).await);
    assert_eq!((code, text.as_str()), (215, "[215]-LoginType invalid"));
}

#[tokio::test]
async fn auth_1_wrong_pin_or_unknown_user_gets_201_and_ucm4_101() {
    let t = TestServer::start("", "").await;
    for (user, pin) in [("bob", "99999"), ("nobody", "12345"), ("Bob", "23456")] {
        let (code, text, prompt) = error_of(&log_in(&t, D1, None, user, pin).await);
        assert_eq!(
            (code, text.as_str(), prompt.as_str()),
            (201, "[201]-Authentication Error", "Login Unsuccessful"),
            "{user}"
        );
    }
    assert_eq!(t.user_on(D1).await, DeviceUser::Nobody);
    let t4 = TestServer::start("profile = \"ucm4\"", "").await;
    assert_eq!(
        error_of(&log_in(&t4, D1, None, "nobody", "12345").await).0,
        101
    );
    assert_eq!(
        error_of(&log_in(&t4, D1, None, "bob", "99999").await).0,
        201
    );
}

#[tokio::test]
async fn auth_2_blank_user_id_or_pin_gets_202() {
    let t = TestServer::start("", "").await;
    for (user, pin) in [("", "23456"), ("bob", ""), ("", "")] {
        let (code, text, _) =
            error_of(&screen(&t, &format!("device={D1}&userid={user}&seq={pin}")).await);
        assert_eq!((code, text.as_str()), (202, "[202]-Blank User ID or PIN"));
    }
}

#[tokio::test]
async fn auth_3_user_ids_numeric_only_when_alphanumeric_is_false() {
    let t = TestServer::start("", "alphanumeric_user_id = false").await;
    assert_eq!(error_of(&log_in(&t, D1, None, "bob", "23456").await).0, 201);
    assert_eq!(
        text_of(&log_in(&t, D7905, None, "4242", "42424").await).0,
        "Login Successful"
    );
    // Alphanumeric (the default): letters are fine, but only keypad characters.
    let t = TestServer::start("", "").await;
    assert_eq!(
        text_of(&log_in(&t, D1, None, "bob", "23456").await).0,
        "Login Successful"
    );
    assert_eq!(
        error_of(&log_in(&t, D2, None, "b.o.b", "23456").await).0,
        201
    );
}

#[tokio::test]
async fn auth_4_pin_rules_per_profile() {
    // ucm: keypad characters, so `ab#12` is a valid PIN.
    let t = TestServer::start("", "").await;
    assert_eq!(
        text_of(&log_in(&t, D7905, None, "dave", "ab#12").await).0,
        "Login Successful"
    );
    // ucm4: numeric, 5 digits or more; cme: 4 to 8 digits.
    for server in ["profile = \"ucm4\"", "profile = \"cme\""] {
        let t = TestServer::start(server, "").await;
        assert_eq!(
            error_of(&log_in(&t, D7905, None, "dave", "ab#12").await).0,
            201,
            "{server}"
        );
        assert_eq!(
            text_of(&log_in(&t, D1, None, "bob", "23456").await).0,
            "Login Successful",
            "{server}"
        );
    }
}

#[tokio::test]
async fn auth_7_remember_last_user_prefills_only_the_uid_prompt() {
    let prefill = |o: PhoneObject| match o {
        PhoneObject::Input(i) => i.items[0].default_value.clone(),
        other => panic!("expected a prompt, got {other:?}"),
    };
    let t = TestServer::start("", "remember_last_user = true").await;
    assert_eq!(
        text_of(&log_in(&t, D1, None, "bob", "23456").await).0,
        "Login Successful"
    );
    assert!(t.logout(D1).await.error_code().is_none());
    assert_eq!(prefill(screen(&t, &format!("device={D1}")).await), "bob");
    assert_eq!(
        prefill(screen(&t, &format!("device={D1}&loginType=UID")).await),
        "bob"
    );
    assert_eq!(
        prefill(screen(&t, &format!("device={D1}&loginType=DN")).await),
        ""
    );
    // Default False: nothing remembered.
    let t = TestServer::start("", "").await;
    assert_eq!(
        text_of(&log_in(&t, D1, None, "bob", "23456").await).0,
        "Login Successful"
    );
    assert!(t.logout(D1).await.error_code().is_none());
    assert_eq!(prefill(screen(&t, &format!("device={D1}")).await), "");
}

#[tokio::test]
async fn url_2_missing_device_gets_207_and_ucm4_100_or_11() {
    let t = TestServer::start("", "").await;
    for q in ["", "loginType=UID", "Device=SEP000000000001", "device="] {
        let (code, text, _) = error_of(&screen(&t, q).await);
        assert_eq!(
            (code, text.as_str()),
            (207, "[207]-Device Name Empty"),
            "{q:?}"
        );
    }
    let t4 = TestServer::start("profile = \"ucm4\"", "").await;
    assert_eq!(error_of(&screen(&t4, "loginType=UID").await).0, 100);
    assert_eq!(error_of(&screen(&t4, "device=SEP%ZZ").await).0, 11);
    // ucm: a malformed URL is a parse error, never a crash.
    assert_eq!(error_of(&screen(&t, "device=SEP%ZZ").await).0, 1);
}

#[tokio::test]
async fn prof_5_no_profile_on_the_phone_is_205_and_ucm4_12() {
    let t = TestServer::start("", "").await;
    let (code, text, _) = error_of(&log_in(&t, D1, None, "carol", "34567").await);
    assert_eq!((code, text.as_str()), (205, "[205]-User Profile Absent"));
    // The 7905 has a device profile default; carol still has no profile.
    assert_eq!(
        error_of(&log_in(&t, D7905, None, "carol", "34567").await).0,
        205
    );
    let t4 = TestServer::start("profile = \"ucm4\"", "").await;
    assert_eq!(
        error_of(&log_in(&t4, D1, None, "carol", "34567").await).0,
        12
    );
}

#[tokio::test]
async fn prof_6_phone_with_em_disabled_shows_22() {
    let t = TestServer::start("", "").await;
    let (code, text, _) = error_of(&screen(&t, &format!("device={D_DISABLED}")).await);
    assert_eq!((code, text.as_str()), (22, "[22]-Dev Logon Disabled"));
}

#[tokio::test]
async fn url_4_api_errors_pass_through_with_their_number() {
    let t = TestServer::start("", "").await;
    assert!(t.login(D2, "bob").await.error_code().is_none());
    let (code, text, prompt) = error_of(&log_in(&t, D1, None, "bob", "23456").await);
    assert_eq!(
        (code, text.as_str(), prompt.as_str()),
        (25, "[25]-User Logged in Elsewhere", "Login Unsuccessful")
    );
    let (code, text, _) = error_of(&screen(&t, "device=SEP0000000FFFFF").await);
    assert_eq!((code, text.as_str()), (11, "[11]-Device does not exist"));
}

#[tokio::test]
async fn screens_use_the_charset_the_phone_prefers() {
    let t = TestServer::start("", "").await;
    assert!(t.login(D1, "jürgen").await.error_code().is_none());
    let q = format!("{EM_SERVICE_PATH}?device={D1}");
    let (_, content_type, body) = phone_get(&t.url(), &q, PHONE_7960).await;
    assert_eq!(content_type, "text/xml; charset=iso-8859-1");
    assert!(
        body.starts_with("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>"),
        "{body}"
    );
    assert!(body.contains("Logged in as jürgen"), "{body}");
    let (_, content_type, body) = phone_get(&t.url(), &q, &[("Accept-Charset", "utf-8")]).await;
    assert_eq!(content_type, "text/xml; charset=utf-8");
    assert!(body.contains("Logged in as jürgen"), "{body}");
}
