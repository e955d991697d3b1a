//! LOGS: clearing call logs, seen by the phone's own web server.

use super::phone_ip;
use crate::case::{Stop, expect, expect_eq, skip};
use crate::probe::{Probe, SccpPhone};
use crate::roles::*;
use emlab_simulator::phone::PhoneEvent;
use emlab_simulator::phone::web_server::PhoneWebServer;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc::UnboundedReceiver;

/// `push_phone` as a phone that registers from its own address (so the server
/// knows where to push) and answers `/CGI/Execute` on the lab's
/// `phone_web_port`.
struct PushablePhone {
    device: String,
    user: String,
    /// The `authenticationURL` of its configuration: empty when the server
    /// gives it none.
    authentication_url: String,
    _web: Arc<PhoneWebServer>,
    _phone: SccpPhone,
    events: UnboundedReceiver<PhoneEvent>,
}

impl PushablePhone {
    async fn start(p: &Probe, n: u8) -> Result<PushablePhone, Stop> {
        let (device, user) = (p.role(PUSH_PHONE)?, p.role(PUSH_USER)?);
        let port = p.target.lab.file.server.phone_web_port;
        let web = PhoneWebServer::start(port, p.target.tls.clone())
            .await
            .map_err(|e| {
                skip(format!(
                    "cannot listen on the lab's phone_web_port {port}: {e}"
                ))
            })?;
        p.clear(&[&device]).await;
        let ip = phone_ip(n);
        let phone = p.sccp_phone(&device, ip).await?;
        let (tx, events) = tokio::sync::mpsc::unbounded_channel();
        // As a phone does: it asks the URL its configuration names.
        let auth = p.config(&device).await?.authentication_url;
        web.bind(ip, &device, &auth, tx).map_err(|e| {
            skip(format!(
                "cannot listen on {ip}:{port} for the phone's web server: {e}"
            ))
        })?;
        Ok(PushablePhone {
            device,
            user,
            authentication_url: auth,
            _web: web,
            _phone: phone,
            events,
        })
    }

    /// Whether `Init:CallHistory` arrives within 2 s.
    async fn cleared(&mut self) -> bool {
        while let Ok(Some(e)) =
            tokio::time::timeout(Duration::from_secs(2), self.events.recv()).await
        {
            if matches!(e, PhoneEvent::CallLogsCleared) {
                return true;
            }
        }
        false
    }
}

pub async fn clear_call_logs_at_manual_login(p: Arc<Probe>) -> Result<(), Stop> {
    p.need_lab_control()?;
    let mut phone = PushablePhone::start(&p, 50).await?;
    p.set_params(r#"{"clear_call_logs": true}"#).await?;
    let login = p.login(&phone.device, &phone.user).await;
    let at_login = phone.cleared().await;
    let logout = p.logout(&phone.device).await;
    let at_logout = phone.cleared().await;
    // An automatic logout (the maximum login time) is not a manual one.
    p.set_params(r#"{"enforce_max_login_time": true, "max_login_time": "0:10"}"#)
        .await?;
    let timed_login = p.login(&phone.device, &phone.user).await;
    phone.cleared().await;
    p.advance_clock(11 * 60).await?;
    let after = p.user_on(&phone.device).await;
    let at_automatic_logout = phone.cleared().await;
    p.set_params(
        r#"{"clear_call_logs": false, "enforce_max_login_time": false, "max_login_time": "8:00"}"#,
    )
    .await?;
    p.clear(&[&phone.device]).await;
    expect_eq(
        "(login, logout, timed login)",
        (login.as_str(), logout.as_str(), timed_login.as_str()),
        ("success", "success", "success"),
    )?;
    expect_eq("user after the maximum login time", after?.as_str(), "none")?;
    expect_eq(
        "Init:CallHistory pushed at (manual login, manual logout, automatic logout)",
        (at_login, at_logout, at_automatic_logout),
        (true, true, false),
    )
}

pub async fn cme_clears_call_history_at_logout(p: Arc<Probe>) -> Result<(), Stop> {
    let mut phone = PushablePhone::start(&p, 51).await?;
    expect_eq(
        "login",
        p.login(&phone.device, &phone.user).await.as_str(),
        "success",
    )?;
    expect_eq("logout", p.logout(&phone.device).await.as_str(), "success")?;
    // `em keep-history` keeps the call history at logout (LOGS-2), and a
    // router without `url authentication` gives the phone no URL to
    // authorize the push with, so it cannot clear it.
    let server = &p.target.lab.file.server;
    let keep = server.keep_history;
    let authenticates = p
        .lab_device(&phone.device)
        .and_then(|d| emlab_protocol::phone_model::find(&d.model))
        .is_none_or(|m| server.gives_authentication_url(m.protocol));
    let cleared = phone.cleared().await;
    expect_eq(
        "an authenticationURL in the phone's configuration (`url authentication`)",
        !phone.authentication_url.is_empty(),
        authenticates,
    )?;
    if keep {
        expect(
            !cleared,
            "no Init:CallHistory at logout: the router keeps history",
            "a push",
        )
    } else if !authenticates {
        expect(
            !cleared,
            "call history kept: without `url authentication` the phone cannot authorize the push",
            "cleared",
        )
    } else {
        expect(
            cleared,
            "Init:CallHistory pushed to the phone at logout (cme)",
            "no push within 2 s",
        )
    }
}
