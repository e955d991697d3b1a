//! The SIP listener (UDP) for 8800-series phones (PROTOCOL.md §5).
//!
//! A REGISTER from a known SIP device is answered 200 OK and remembered
//! with its Call-ID and Contact; from then on the device's restart and
//! reset commands leave as `NOTIFY` / `Event: service-control` with
//! `RegisterCallId={<that Call-ID>}`. `Expires: 0` unregisters. Datagrams
//! that are not SIP are dropped; responses to our NOTIFYs need no action.
//! The NOTIFYs themselves leave from [`crate::control`].

use crate::io::control::{Reach, SipBinding};
use crate::io::server::Server;
use emlab_protocol::phone_model::ControlProtocol;
use emlab_protocol::sip::{self, SipMessage};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::UdpSocket;

pub async fn serve(socket: UdpSocket, state: Arc<Server>) {
    let socket = Arc::new(socket);
    let Ok(local) = socket.local_addr() else {
        return;
    };
    state
        .control
        .set_sip_socket(socket.clone(), local.to_string());
    let mut buf = vec![0u8; 65_535];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let Some(msg) = SipMessage::parse(&buf[..n]) else {
            continue;
        };
        let tag = format!("emlab{}", state.control.connection_id());
        if let (Some(_), Some(why)) = (msg.method(), msg.framing_problem()) {
            if msg.method() != Some("ACK") {
                tracing::debug!(%peer, reason = why, "SIP request refused (400)");
                let refusal = sip::response(
                    &msg,
                    400,
                    "Bad Request",
                    &tag,
                    &[sip::warning("emlab", why)],
                );
                let _ = socket.send_to(refusal.to_wire().as_bytes(), peer).await;
            }
            continue;
        }
        let reply = match msg.method() {
            Some("REGISTER") => register(&state, peer, &msg, &tag),
            Some("OPTIONS") => sip::response(&msg, 200, "OK", &tag, &[]),
            Some("ACK") | None => continue,
            Some(_) => sip::response(&msg, 501, "Not Implemented", &tag, &[]),
        };
        let _ = socket.send_to(reply.to_wire().as_bytes(), peer).await;
    }
}

fn register(state: &Server, peer: SocketAddr, msg: &SipMessage, tag: &str) -> SipMessage {
    // Every refusal says why in a Warning header, so a SIP trace (or SIPp's
    // log) shows the cause without reading the server's.
    let bad = |status, reason, why: &str| {
        tracing::debug!(%peer, status, reason = why, "SIP REGISTER refused");
        sip::response(msg, status, reason, tag, &[sip::warning("emlab", why)])
    };
    let (Some(_), Some(_), Some(_), Some(call_id), Some(contact)) = (
        msg.header("via"),
        msg.header("from"),
        msg.header("cseq"),
        msg.header("call-id"),
        msg.header("contact"),
    ) else {
        return bad(
            400,
            "Bad Request",
            "REGISTER needs Via, From, CSeq, Call-ID and Contact",
        );
    };
    let Some(name) = sip::contact_device_name(contact) else {
        return bad(
            400,
            "Bad Request",
            "no device name in the Contact's +u.sip!devicename.ccm.cisco.com",
        );
    };
    let Some(device) = state.em.directory.device_idx(name) else {
        return bad(
            404,
            "Not Found",
            &format!("device {name} is not in the directory"),
        );
    };
    let model = state.em.directory.device(device).model;
    if model.protocol != ControlProtocol::Sip {
        return bad(
            403,
            "Forbidden",
            &format!(
                "device {name} is a {} configured for SCCP, not SIP",
                model.name
            ),
        );
    }
    let expires = if contact.trim() == "*" {
        0
    } else {
        match sip::register_expires(msg) {
            Ok(e) => e,
            Err(why) => return bad(400, "Bad Request", why),
        }
    };
    if expires == 0 {
        state.control.remove(device);
        return sip::response(msg, 200, "OK", tag, &[("Expires", "0".into())]);
    }
    let Some(contact_uri) = sip::angle_uri(contact) else {
        return bad(400, "Bad Request", "the Contact has no <sip:...> URI");
    };
    let binding = SipBinding {
        peer,
        contact_uri: contact_uri.into(),
        register_call_id: call_id.into(),
    };
    state
        .control
        .register(device, state.control.connection_id(), Reach::Sip(binding));
    state.em.device_registered(device, peer.ip());
    sip::response(
        msg,
        200,
        "OK",
        tag,
        &[
            ("Contact", format!("<{contact_uri}>;expires={expires}")),
            ("Expires", expires.to_string()),
            (
                "Supported",
                "X-cisco-srtp-fallback,X-cisco-sis-8.0.0".into(),
            ),
            ("Server", "emlab".into()),
        ],
    )
}
