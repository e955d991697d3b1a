//! Validate IP Address, the Trusted List, Allow Proxy and IPv6 (IP-1..4).
//! Each virtual phone talks from its own loopback address, as on a LAN.

use crate::control_channel::{SccpPhone, TYPE_7960, registered};
use crate::support::*;
use emlab_protocol::em_api::{Login, Message, Operation, Request};
use emlab_protocol::phone_xml::{EM_SERVICE_PATH, PhoneObject, error_number};
use std::net::IpAddr;

const FLEET0: &str = "SEP0E0000000000";
const FLEET1: &str = "SEP0E0000000001";
const FLEET2: &str = "SEP0E0000000002";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A phone-service login of fleet member `i` on its device, sent from `from`;
/// 0 on success, else the `[N]` shown.
async fn phone_login(t: &TestServer, from: &str, i: u32, headers: &[(&str, &str)]) -> u16 {
    let device = format!("SEP{:012X}", 0x0E00_0000_0000u64 + i as u64);
    let q = format!("{EM_SERVICE_PATH}?device={device}&userid=user{i:05}&seq=1{i:05}");
    let (status, _, body) = phone_get_from(Some(ip(from)), &t.url(), &q, headers).await;
    assert_eq!(status, 200, "{body}");
    match PhoneObject::from_xml(&body).unwrap() {
        PhoneObject::Text(t) if t.text == "Login Successful" => 0,
        PhoneObject::Text(t) => error_number(&t.text).unwrap_or_else(|| panic!("{}", t.text)),
        other => panic!("unexpected {other:?}"),
    }
}

/// An EM API login passing on `remote_ip` / `via` for the phone.
async fn api_login(
    t: &TestServer,
    device: &str,
    user: &str,
    remote_ip: Option<&str>,
    via: Option<&str>,
) -> Option<u16> {
    let msg = Message::Request(Request::new(
        app(),
        Operation::Login(Login {
            device_name: device.into(),
            user_id: user.into(),
            remote_ip_addr: remote_ip.map(str::to_string),
            is_via_header_set: via.map(str::to_string),
            ..Login::default()
        }),
    ));
    answer(t.client.send(&msg).await).error_code()
}

#[tokio::test]
async fn ip_1_only_registered_cached_or_trusted_sources_may_log_in() {
    let t = TestServer::start("", "validate_ip_address = true").await;
    // Nothing is known of 127.0.0.7 yet.
    assert_eq!(phone_login(&t, "127.0.0.7", 0, &[]).await, 28);
    let (_phone, replies) = SccpPhone::connect_from(ip("127.0.0.7"), t.server.sccp_addr)
        .await
        .register_as(FLEET0, TYPE_7960)
        .await;
    assert!(registered(&replies));
    // The device's own registered address.
    assert_eq!(phone_login(&t, "127.0.0.7", 0, &[]).await, 0);
    // The device cache vouches for an address only for the device that
    // registered from it (seed A: "the cache for the device that will log
    // in or log out"): another device from the same address is refused.
    assert_eq!(phone_login(&t, "127.0.0.7", 1, &[]).await, 28);
    // Unknown address.
    assert_eq!(phone_login(&t, "127.0.0.9", 2, &[]).await, 28);
    // The EM API validates the address the application passes on, else its own.
    assert_eq!(
        api_login(&t, FLEET2, "user00002", Some("10.1.2.3"), None).await,
        Some(28)
    );
    assert_eq!(
        api_login(&t, FLEET2, "user00002", Some("not an address"), None).await,
        Some(28)
    );
    assert_eq!(
        api_login(&t, FLEET2, "user00002", None, None).await,
        Some(28),
        "127.0.0.1 is not trusted"
    );
    // FLEET0's address passes for FLEET0 only, through the EM API too.
    assert_eq!(
        api_login(&t, FLEET2, "user00002", Some("127.0.0.7"), None).await,
        Some(28)
    );
    // (user00000 is on FLEET0 already: logging in again there is allowed.)
    assert_eq!(
        api_login(&t, FLEET0, "user00000", Some("127.0.0.7"), None).await,
        None
    );
    let (code, text) = {
        let r = t.login(FLEET1, "user00005").await;
        let f = failure(&r);
        (f.0, f.1.to_string())
    };
    assert_eq!((code, text.as_str()), (28, "Untrusted IP Error"));
}

#[tokio::test]
async fn ip_2_trusted_list_of_ips_takes_addresses_and_host_names() {
    let t = TestServer::start(
        "",
        "validate_ip_address = true\ntrusted_ips = \"127.0.0.3;localhost\"",
    )
    .await;
    assert_eq!(phone_login(&t, "127.0.0.3", 0, &[]).await, 0);
    assert_eq!(
        phone_login(&t, "127.0.0.1", 1, &[]).await,
        0,
        "localhost resolves to 127.0.0.1"
    );
    assert_eq!(phone_login(&t, "127.0.0.4", 2, &[]).await, 28);
    // The list changes live; ranges and patterns match nothing.
    let (status, _) = t
        .lab(
            "/lab/service-parameters",
            r#"{"trusted_ips": "127.0.0.0/8;127.0.0.*;127.0.0.4"}"#,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(phone_login(&t, "127.0.0.4", 2, &[]).await, 0);
    assert_eq!(phone_login(&t, "127.0.0.3", 3, &[]).await, 28);
}

#[tokio::test]
async fn ip_3_requests_through_a_proxy_need_allow_proxy() {
    let via = [("Via", "1.1 proxy.example")];
    let t = TestServer::start(
        "",
        "validate_ip_address = true\ntrusted_ips = \"127.0.0.3\"",
    )
    .await;
    assert_eq!(phone_login(&t, "127.0.0.3", 0, &via).await, 30);
    assert_eq!(
        api_login(&t, FLEET1, "user00001", Some("127.0.0.3"), Some("true")).await,
        Some(30)
    );
    let (_, text) = {
        let (_, _, body) = phone_get_from(
            Some(ip("127.0.0.3")),
            &t.url(),
            &format!("{EM_SERVICE_PATH}?device={FLEET0}&userid=user00000&seq=100000"),
            &via,
        )
        .await;
        ((), body)
    };
    assert!(text.contains("[30]-Proxy not allowed"), "{text}");
    let t = TestServer::start(
        "",
        "validate_ip_address = true\ntrusted_ips = \"127.0.0.3\"\nallow_proxy = true",
    )
    .await;
    assert_eq!(phone_login(&t, "127.0.0.3", 0, &via).await, 0);
    // Allow Proxy matters only with Validate IP Address.
    let t = TestServer::start("", "").await;
    assert_eq!(phone_login(&t, "127.0.0.3", 0, &via).await, 0);
}

#[tokio::test]
async fn ip_4_ipv6_phones_and_bracketed_service_urls() {
    let lab = lab("", "validate_ip_address = true\ntrusted_ips = \"::1\"");
    let v6 = std::net::SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0));
    let options = emlab_server::ServerOptions {
        listen: v6,
        ..emlab_server::ServerOptions::default()
    };
    let server = emlab_server::start(&lab, options).await.unwrap();
    let base = server.base_url();
    assert!(base.starts_with("http://[::1]:"), "{base}");
    // URL-1: the prompt points back at the bracketed IPv6 host.
    let (_, _, body) = phone_get(&base, &format!("{EM_SERVICE_PATH}?device={FLEET0}"), &[]).await;
    let PhoneObject::Input(prompt) = PhoneObject::from_xml(&body).unwrap() else {
        panic!("{body}")
    };
    assert!(prompt.url.starts_with("http://[::1]:"), "{}", prompt.url);
    let (_, _, body) = phone_get(
        &base,
        &format!("{EM_SERVICE_PATH}?device={FLEET0}&userid=user00000&seq=100000"),
        &[],
    )
    .await;
    assert!(body.contains("Login Successful"), "{body}");
}
