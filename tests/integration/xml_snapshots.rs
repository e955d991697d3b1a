//! The exact XML of every EM API message shape, as the shared models write
//! it. A change here changes the wire: review it with `cargo insta review`.

use emlab_protocol::em_api::*;
use emlab_protocol::{ErrorCode, ServerProfile};
use insta::assert_snapshot;

fn app() -> AppInfo {
    AppInfo::new("emlab", "secret")
}

#[test]
fn requests() {
    let login = Request::new(
        app(),
        Operation::Login(Login {
            device_name: "SEP003094C25B15".into(),
            user_id: "em@cisco.com".into(),
            device_profile: Some("em-7960".into()),
            exclusive_duration: Some(ExclusiveDuration {
                kind: Duration::Minutes(60),
            }),
            remote_ip_addr: Some("10.1.2.3".into()),
            is_via_header_set: Some("false".into()),
        }),
    );
    assert_snapshot!("login", Message::Request(login).to_xml());
    let minimal = Request::new(
        app(),
        Operation::Login(Login {
            device_name: "SEP003094C25B15".into(),
            user_id: "john".into(),
            exclusive_duration: Some(ExclusiveDuration {
                kind: Duration::Indefinite,
            }),
            ..Login::default()
        }),
    );
    assert_snapshot!("login_indefinite", Message::Request(minimal).to_xml());
    let logout = Request::new(
        app(),
        Operation::Logout(Logout {
            device_name: "SEP003094C25B15".into(),
            ..Default::default()
        }),
    );
    assert_snapshot!("logout", Message::Request(logout).to_xml());
    let all = Request::new(app(), Operation::LogoutAll(LogoutAll::default()));
    assert_snapshot!("logout_all", Message::Request(all).to_xml());
}

#[test]
fn queries() {
    let q = |kind| Message::Query(Query::new(app(), kind)).to_xml();
    assert_snapshot!(
        "device_user_query",
        q(QueryKind::DeviceUser(DeviceUserQuery {
            device_names: vec!["SEP003094C25B15".into(), "SEP003094C25B16".into()],
            ..Default::default()
        }))
    );
    assert_snapshot!(
        "user_devices_query",
        q(QueryKind::UserDevices(UserDevicesQuery {
            user_ids: vec!["john".into(), "em@cisco.com".into()],
            ..Default::default()
        }))
    );
    assert_snapshot!(
        "device_profile_query",
        q(QueryKind::DeviceProfile(DeviceProfileQuery {
            user_ids: vec!["john".into()],
            ..Default::default()
        }))
    );
}

#[test]
fn responses() {
    assert_snapshot!("success", Response::success().to_xml());
    assert_snapshot!(
        "failure_25",
        Response::failure(ErrorCode::UserLoggedInElsewhere, ServerProfile::Ucm).to_xml()
    );
    assert_snapshot!(
        "failure_1_ucm4",
        Response::failure(ErrorCode::ParseError, ServerProfile::Ucm4).to_xml()
    );
    let device_users = Response {
        body: ResponseBody::DeviceUserResults(DeviceUserResults {
            devices: vec![
                DeviceUserResult {
                    name: "SEP003094C25B15".into(),
                    user: DeviceUser::User("em@cisco.com".into()),
                },
                DeviceUserResult {
                    name: "SEP003094C25B16".into(),
                    user: DeviceUser::Nobody,
                },
                DeviceUserResult {
                    name: "SEP003094C25B17".into(),
                    user: DeviceUser::DoesNotExist,
                },
            ],
        }),
    };
    assert_snapshot!("device_user_results", device_users.to_xml());
    let user_devices = Response {
        body: ResponseBody::UserDevicesResults(UserDevicesResults {
            users: vec![
                UserDevicesResult {
                    id: "john".into(),
                    entries: vec![
                        UserDevicesEntry::Device("SEP003094C25B15".into()),
                        UserDevicesEntry::Device("SEP003094C25B16".into()),
                    ],
                },
                UserDevicesResult {
                    id: "mary".into(),
                    entries: vec![UserDevicesEntry::Nobody],
                },
                UserDevicesResult {
                    id: "ghost".into(),
                    entries: vec![UserDevicesEntry::DoesNotExist],
                },
            ],
        }),
    };
    assert_snapshot!("user_devices_results", user_devices.to_xml());
    let profiles = Response {
        body: ResponseBody::DeviceProfileResults(DeviceProfileResults {
            users: vec![DeviceProfileUser {
                id: "john".into(),
                entries: vec![
                    DeviceProfileEntry::Profile(DeviceProfileItem {
                        name: "john-7960".into(),
                        is_default: "t".into(),
                    }),
                    DeviceProfileEntry::Profile(DeviceProfileItem {
                        name: "john-7940".into(),
                        is_default: "f".into(),
                    }),
                ],
            }],
        }),
    };
    assert_snapshot!("device_profile_results", profiles.to_xml());
    // Every snapshot parses back to the same model.
    for r in [device_users, user_devices, profiles] {
        assert_eq!(Response::from_xml(&r.to_xml()).as_ref(), Ok(&r));
    }
}

#[test]
fn phone_objects() {
    use emlab_protocol::phone_xml::*;
    let url = "http://127.0.0.1:8080/emapp/EMAppServlet?device=SEP003094C25B15&loginType=UID";
    let prompt = PhoneInput::new(
        "Extension Mobility",
        "Enter User ID and PIN",
        url,
        vec![
            InputItem {
                display_name: "User ID".into(),
                query_string_param: "userid".into(),
                default_value: "john".into(),
                input_flags: "A".into(),
            },
            InputItem {
                display_name: "PIN".into(),
                query_string_param: "seq".into(),
                default_value: String::new(),
                input_flags: "NP".into(),
            },
        ],
    );
    assert_snapshot!("phone_prompt", PhoneObject::Input(prompt).to_xml());
    let logged_in = PhoneText::new("Extension Mobility", None, "Logged in as john")
        .with_soft_key(
            "Yes",
            "http://127.0.0.1:8080/emapp/EMAppServlet?device=SEP003094C25B15&doLogout=true",
            1,
        )
        .with_soft_key("Cancel", "SoftKey:Exit", 2);
    assert_snapshot!("phone_logged_in", PhoneObject::Text(logged_in).to_xml());
    let menu = PhoneMenu::new(
        "Select Profile",
        vec![MenuItem {
            name: "john-7960".into(),
            url: format!("{url}&profile=john-7960"),
        }],
    );
    assert_snapshot!("phone_menu", PhoneObject::Menu(menu).to_xml());
    let error = PhoneText::new(
        "Extension Mobility",
        Some("Login Unsuccessful"),
        &error_text(201, "Authentication Error"),
    );
    assert_snapshot!("phone_error", PhoneObject::Text(error).to_xml());
}
