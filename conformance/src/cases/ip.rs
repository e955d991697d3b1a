//! IP: where requests may come from.

use super::phone_ip;
use crate::case::{Stop, expect, expect_eq};
use crate::probe::Probe;
use crate::roles::*;
use std::sync::Arc;

pub async fn untrusted_sources_are_blocked(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    let (d1, user) = (p.role(PHONE)?, p.role(USER)?);
    let (reg, reg_user) = (p.role(REGISTERING_PHONE)?, p.role(REGISTERING_USER)?);
    // A phone login from `ip`: `success`, or the `[N]` code.
    let from = |ip: u8, device: String, user: String| {
        let p = p.clone();
        async move {
            let pin = p.pin_of(&user);
            let s = p
                .phone_screen(
                    phone_ip(ip),
                    &format!("device={device}&userid={user}&seq={pin}"),
                )
                .await;
            p.clear(&[&device]).await;
            s.map(|s| Probe::code_of(&s).map_or("success".to_string(), |c| c.to_string()))
        }
    };
    p.clear(&[&d1, &reg]).await;
    p.set_params(r#"{"validate_ip_address": true, "trusted_ips": ""}"#)
        .await?;
    // Refused: an address nobody trusts or registered from.
    let unknown = from(60, d1.clone(), user.clone()).await;
    // 1. The Trusted List.
    let trusted = format!("{}", phone_ip(62));
    p.set_params(&format!(r#"{{"trusted_ips": "{trusted}"}}"#))
        .await?;
    let listed = from(62, d1.clone(), user.clone()).await;
    p.set_params(r#"{"trusted_ips": ""}"#).await?;
    // 2. The address the device registered from, for that device only.
    let first = p.sccp_phone(&reg, phone_ip(63)).await;
    let registered = from(63, reg.clone(), reg_user.clone()).await;
    let other_device = from(63, d1.clone(), user.clone()).await;
    // 3. The device cache: the phone moved to another address; its old one
    //    is still in the cache for that device.
    let moved = p.sccp_phone(&reg, phone_ip(64)).await;
    let cached = from(63, reg.clone(), reg_user.clone()).await;
    p.set_params(r#"{"validate_ip_address": false}"#).await?;
    drop((first?, moved?));
    expect_eq(
        "(unknown address, Trusted List, registered address, that address for another device, the device cache)",
        (
            unknown?.as_str(),
            listed?.as_str(),
            registered?.as_str(),
            other_device?.as_str(),
            cached?.as_str(),
        ),
        ("28", "success", "success", "28", "success"),
    )
}

pub async fn trusted_list_is_at_most_1024_characters(p: Arc<Probe>) -> Result<(), Stop> {
    let long = vec!["127.0.0.1"; 120].join(";");
    let status = p
        .lab_post(
            "service-parameters",
            &format!(r#"{{"trusted_ips": "{long}"}}"#),
        )
        .await?;
    expect(
        status != 200,
        "a Trusted List of IPs over 1024 characters refused",
        format!("HTTP {status}"),
    )
}

pub async fn requests_through_a_proxy_are_refused(p: Arc<Probe>) -> Result<(), Stop> {
    use emlab_protocol::phone_xml::PhoneObject;
    use emlab_simulator::phone::http::{Fetched, HeaderName, HeaderValue};
    p.need_lab_control()?;
    let (d1, user) = (p.role(PHONE)?, p.role(USER)?);
    let pin = p.pin_of(&user);
    p.clear(&[&d1]).await;
    // Trust the phone's address, so only the proxy rule can refuse it.
    let ip = phone_ip(61);
    let url = format!(
        "{}/emapp/EMAppServlet?device={d1}&userid={user}&seq={pin}",
        p.target.em_base.trim_end_matches('/')
    );
    let via = [(
        HeaderName::from_static("via"),
        HeaderValue::from_static("1.1 proxy.example"),
    )];
    // A login through the proxy: `success`, the `[N]` code, or what came.
    let through_proxy = || async {
        let shown = match p.get_with(ip, &url, &via).await {
            Fetched::Ok { status: 200, body } => {
                match PhoneObject::from_xml(&String::from_utf8_lossy(&body)) {
                    Ok(o) => Probe::code_of(&o).map_or("success".to_string(), |c| c.to_string()),
                    Err(_) => "an unparsable screen".to_string(),
                }
            }
            other => other.failure_label(),
        };
        p.clear(&[&d1]).await;
        shown
    };
    p.set_params(&format!(
        r#"{{"validate_ip_address": true, "trusted_ips": "{ip}", "allow_proxy": false}}"#
    ))
    .await?;
    let refused = through_proxy().await;
    // IP-3 is part of Validate IP Address: off, a proxy changes nothing.
    p.set_params(r#"{"validate_ip_address": false, "trusted_ips": ""}"#)
        .await?;
    let unchecked = through_proxy().await;
    expect_eq(
        "(through a proxy with Allow Proxy False, the same with Validate IP Address False)",
        (refused.as_str(), unchecked.as_str()),
        ("30", "success"),
    )
}

/// An IPv6 phone logs in through a bracketed service URL. Needs a target
/// reachable over IPv6 (`--target http://[::1]:8080`).
pub async fn ipv6_phones_log_in(p: Arc<Probe>) -> Result<(), Stop> {
    use emlab_protocol::phone_xml::PhoneObject;
    use emlab_simulator::phone::http::Fetched;
    use std::net::{IpAddr, Ipv6Addr};
    let Some(base) = p.target.ipv6_base.clone() else {
        return Err(crate::case::skip(
            "the target listens on IPv4; give an IPv6 --target (http://[::1]:PORT) to check IP-4",
        ));
    };
    let (device, user) = (p.role(IPV6_PHONE)?, p.role(IPV6_USER)?);
    let device = device.as_str();
    p.clear(&[device]).await;
    let base = base.trim_end_matches('/').to_string();
    let from = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let screen = |f: Fetched| match f {
        Fetched::Ok { status: 200, body } => {
            PhoneObject::from_xml(&String::from_utf8_lossy(&body)).ok()
        }
        _ => None,
    };
    let prompt = screen(
        p.get_from(
            from,
            &format!("{base}/emapp/EMAppServlet?device={device}"),
            &[],
        )
        .await,
    );
    let url = match &prompt {
        Some(PhoneObject::Input(i)) => i.url.clone(),
        other => {
            return Err(crate::case::fail(
                "the login prompt",
                other
                    .as_ref()
                    .map_or("no screen".to_string(), |o| o.to_string()),
            ));
        }
    };
    expect(
        url.starts_with("http://["),
        "the prompt's URL with a bracketed IPv6 host (URL-1)",
        url.clone(),
    )?;
    let pin = p.pin_of(&user);
    let done = screen(
        p.get_from(from, &format!("{url}&userid={user}&seq={pin}"), &[])
            .await,
    );
    p.clear(&[device]).await;
    let ok = matches!(&done, Some(PhoneObject::Text(t)) if t.text == "Login Successful");
    expect(
        ok,
        "Login Successful over IPv6",
        done.as_ref()
            .map_or("no screen".to_string(), |o| o.to_string()),
    )
}
