//! The SIP listener (UDP) for 8800-series phones (PROTOCOL.md §5).
//!
//! A REGISTER from a known SIP device is answered 200 OK and remembered
//! with its Call-ID and Contact; from then on the device's restart and
//! reset commands leave as `NOTIFY` / `Event: service-control` with
//! `RegisterCallId={<that Call-ID>}`. `Expires: 0` unregisters. Datagrams
//! that are not SIP are dropped; responses to our NOTIFYs need no action.
//! NOTIFYs are not retransmitted: the control channel runs on loopback.

use crate::state::ServerState;
use emlab_protocol::phone_model::ControlProtocol;
use emlab_protocol::sccp::ResetType;
use emlab_protocol::sip::{self, NotifyAddress, ServiceAction, SipMessage};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

pub async fn serve(socket: UdpSocket, state: Arc<ServerState>) {
    let socket = Arc::new(socket);
    let Ok(local) = socket.local_addr() else {
        return;
    };
    let mut buf = vec![0u8; 65_535];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let Some(msg) = SipMessage::parse(&buf[..n]) else {
            continue;
        };
        let tag = format!("emlab{}", state.control.connection_id());
        let reply = match msg.method() {
            Some("REGISTER") => register(&state, &socket, local, peer, &msg, &tag),
            Some("OPTIONS") => sip::response(&msg, 200, "OK", &tag, &[]),
            Some("ACK") | None => continue,
            Some(_) => sip::response(&msg, 501, "Not Implemented", &tag, &[]),
        };
        let _ = socket.send_to(reply.to_wire().as_bytes(), peer).await;
    }
}

fn register(
    state: &ServerState,
    socket: &Arc<UdpSocket>,
    local: SocketAddr,
    peer: SocketAddr,
    msg: &SipMessage,
    tag: &str,
) -> SipMessage {
    let bad = |status, reason| sip::response(msg, status, reason, tag, &[]);
    let (Some(_), Some(_), Some(_), Some(call_id), Some(contact)) = (
        msg.header("via"),
        msg.header("from"),
        msg.header("cseq"),
        msg.header("call-id"),
        msg.header("contact"),
    ) else {
        return bad(400, "Bad Request");
    };
    let Some(name) = sip::contact_device_name(contact) else {
        return bad(400, "Bad Request");
    };
    let Some(device) = state.directory.device_idx(name) else {
        return bad(404, "Not Found");
    };
    if state.directory.device(device).model.protocol != ControlProtocol::Sip {
        return bad(403, "Forbidden");
    }
    let expires = if contact.trim() == "*" {
        0
    } else {
        sip::register_expires(msg)
    };
    if expires == 0 {
        state.control.remove(device);
        return sip::response(msg, 200, "OK", tag, &[("Expires", "0".into())]);
    }
    let Some(contact_uri) = sip::angle_uri(contact) else {
        return bad(400, "Bad Request");
    };
    let connection = state.control.connection_id();
    let (tx, commands) = mpsc::unbounded_channel();
    state.control.register(device, connection, tx);
    state.device_registered(device, peer.ip());
    let notifier = Notifier {
        socket: socket.clone(),
        phone: peer,
        request_uri: contact_uri.to_string(),
        server: local.to_string(),
        register_call_id: call_id.to_string(),
        connection,
    };
    tokio::spawn(notifier.run(commands));
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

/// Sends one registered phone its commands as service-control NOTIFYs;
/// ends when the registration is replaced or removed.
struct Notifier {
    socket: Arc<UdpSocket>,
    phone: SocketAddr,
    request_uri: String,
    server: String,
    register_call_id: String,
    connection: u64,
}

impl Notifier {
    async fn run(self, mut commands: mpsc::UnboundedReceiver<ResetType>) {
        let mut sent = 0u32;
        while let Some(command) = commands.recv().await {
            sent += 1;
            let action = match command {
                ResetType::Restart => ServiceAction::Restart,
                ResetType::Reset => ServiceAction::Reset,
                ResetType::ApplyConfig => ServiceAction::ApplyConfig,
            };
            let id = format!("{}x{sent}", self.connection);
            let address = NotifyAddress {
                request_uri: &self.request_uri,
                server: &self.server,
                call_id: &format!("emlab-{id}@{}", self.server),
                branch: &id,
                tag: &id,
            };
            let notify = sip::service_control_notify(&address, action, &self.register_call_id);
            let _ = self
                .socket
                .send_to(notify.to_wire().as_bytes(), self.phone)
                .await;
        }
    }
}
