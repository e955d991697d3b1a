//! SIP over UDP for every 8800-series phone of the fleet, through one socket.
//!
//! Each phone must reach the server from its own 127/8 address, and a
//! socket per phone would cost 100,000 file descriptors (the hard limit
//! here is 20,000). So one socket bound to the wildcard address sends each
//! phone's datagrams with `IP_PKTINFO` naming that phone's address as the
//! source; the server's answers and NOTIFYs come back to that address,
//! which the wildcard socket receives. Datagrams from outside loopback are
//! dropped: the fleet only ever talks to loopback.
//!
//! Dispatch: a REGISTER's answer carries the phone's From tag, a NOTIFY's
//! Request-URI its Contact user; both are the phone's `p<index>` name. A
//! service-control NOTIFY is answered as a Cisco phone does: 200 when its
//! `RegisterCallId` is the phone's current REGISTER Call-ID, else 400 and
//! nothing happens (the phone still reports it, as a fault of the server).

use super::PhoneEvent;
use emlab_protocol::sccp::ResetType;
use emlab_protocol::sip::{self, RegisterRequest, SipMessage};
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};

struct Binding {
    ip: Ipv4Addr,
    call_id: String,
    events: mpsc::UnboundedSender<PhoneEvent>,
    /// The answer to the REGISTER in flight, if any.
    pending: Option<oneshot::Sender<u16>>,
}

pub struct SipTransport {
    socket: UdpSocket,
    port: u16,
    server: SocketAddr,
    phones: Mutex<HashMap<String, Binding>>,
}

impl SipTransport {
    /// Binds the fleet's SIP socket and starts its receive loop.
    pub async fn start(server: SocketAddr) -> std::io::Result<Arc<SipTransport>> {
        let wildcard: SocketAddr = if server.is_ipv4() {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let socket = UdpSocket::bind(wildcard).await?;
        enlarge_receive_buffer(&socket);
        let port = socket.local_addr()?.port();
        let transport = Arc::new(SipTransport {
            socket,
            port,
            server,
            phones: Mutex::new(HashMap::new()),
        });
        tokio::spawn(receive_loop(Arc::downgrade(&transport)));
        Ok(transport)
    }

    fn phones(&self) -> std::sync::MutexGuard<'_, HashMap<String, Binding>> {
        self.phones.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// REGISTERs the phone `name` (`p<index>`) from `ip`, retransmitting as
    /// RFC 3261 §17.1.2.2 does (500 ms, doubling up to 4 s) until `timeout`. Returns the
    /// final status, or a label for no answer.
    #[allow(clippy::too_many_arguments)]
    pub async fn register(
        &self,
        name: &str,
        ip: Ipv4Addr,
        device_name: &str,
        model: &str,
        extension: &str,
        call_id: &str,
        expires: u32,
        events: mpsc::UnboundedSender<PhoneEvent>,
        timeout: Duration,
    ) -> Result<u16, String> {
        let (tx, mut rx) = oneshot::channel();
        self.phones().insert(
            name.to_string(),
            Binding {
                ip,
                call_id: call_id.to_string(),
                events,
                pending: Some(tx),
            },
        );
        let local = SocketAddr::new(IpAddr::V4(ip), self.port).to_string();
        let server = self.server.to_string();
        let deadline = tokio::time::Instant::now() + timeout;
        let mut wait = Duration::from_millis(500);
        for cseq in 1.. {
            let request = sip::register_request(&RegisterRequest {
                server: &server,
                local: &local,
                device_name,
                extension,
                call_id,
                cseq,
                contact_user: name,
                expires,
                model,
            });
            if self
                .send_from(ip, request.to_wire().as_bytes())
                .await
                .is_err()
            {
                return Err("connection-error".into());
            }
            let until = (tokio::time::Instant::now() + wait).min(deadline);
            match tokio::time::timeout_at(until, &mut rx).await {
                Ok(Ok(status)) => return Ok(status),
                Ok(Err(_)) => return Err("connection-error".into()),
                Err(_) if tokio::time::Instant::now() >= deadline => break,
                // Timer E: doubling from T1, but never beyond T2 (4 s).
                Err(_) => wait = (wait * 2).min(Duration::from_secs(4)),
            }
            // A retransmission needs a fresh answer slot.
            let (tx, new_rx) = oneshot::channel();
            rx = new_rx;
            if let Some(b) = self.phones().get_mut(name) {
                b.pending = Some(tx);
            }
        }
        Err("timeout".into())
    }

    /// Forgets a phone (shut down or about to re-register with a new Call-ID).
    pub fn forget(&self, name: &str) {
        self.phones().remove(name);
    }

    async fn send_from(&self, ip: Ipv4Addr, datagram: &[u8]) -> std::io::Result<usize> {
        send_from(&self.socket, ip, self.server, datagram).await
    }
}

/// A burst of 100,000 REGISTER answers must not overflow the default buffer.
fn enlarge_receive_buffer(socket: &UdpSocket) {
    #[cfg(target_os = "linux")]
    {
        use nix::sys::socket::{setsockopt, sockopt};
        let _ = setsockopt(socket, sockopt::RcvBuf, &(8 << 20));
    }
    #[cfg(not(target_os = "linux"))]
    let _ = socket;
}

#[cfg(target_os = "linux")]
async fn send_from(
    socket: &UdpSocket,
    ip: Ipv4Addr,
    to: SocketAddr,
    datagram: &[u8],
) -> std::io::Result<usize> {
    use nix::sys::socket::{ControlMessage, MsgFlags, SockaddrIn, sendmsg};
    use std::os::fd::AsRawFd;
    let SocketAddr::V4(to4) = to else {
        return socket.send_to(datagram, to).await;
    };
    let info = libc::in_pktinfo {
        ipi_ifindex: 0,
        ipi_spec_dst: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        ipi_addr: libc::in_addr { s_addr: 0 },
    };
    let dest = SockaddrIn::from(to4);
    socket
        .async_io(tokio::io::Interest::WRITABLE, || {
            sendmsg(
                socket.as_raw_fd(),
                &[std::io::IoSlice::new(datagram)],
                &[ControlMessage::Ipv4PacketInfo(&info)],
                MsgFlags::empty(),
                Some(&dest),
            )
            .map_err(std::io::Error::from)
        })
        .await
}

#[cfg(not(target_os = "linux"))]
async fn send_from(
    socket: &UdpSocket,
    _ip: Ipv4Addr,
    to: SocketAddr,
    datagram: &[u8],
) -> std::io::Result<usize> {
    socket.send_to(datagram, to).await
}

/// `p12` from `sip:p12@127.16.0.13:40000;transport=udp` or `<sip:p12@...>;tag=..`.
fn user_part(uri: &str) -> Option<&str> {
    let start = uri.find("sip:")? + 4;
    let rest = &uri[start..];
    rest.split('@')
        .next()
        .filter(|u| !u.is_empty() && rest.contains('@'))
}

/// The `tag=` of a From header.
fn from_tag(from: &str) -> Option<&str> {
    from.split(';').find_map(|p| p.trim().strip_prefix("tag="))
}

async fn receive_loop(transport: std::sync::Weak<SipTransport>) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let Some(t) = transport.upgrade() else { return };
        let received =
            tokio::time::timeout(Duration::from_secs(1), t.socket.recv_from(&mut buf)).await;
        let (n, peer) = match received {
            Ok(Ok(r)) => r,
            Ok(Err(_)) | Err(_) => continue,
        };
        if !peer.ip().is_loopback() {
            continue;
        }
        let Some(msg) = SipMessage::parse(&buf[..n]) else {
            continue;
        };
        if msg.status().is_some() {
            let status = msg.status().unwrap_or(0);
            let name = msg.header("from").and_then(from_tag);
            if let Some(b) = name.and_then(|n| t.phones().get_mut(n).map(|b| b.pending.take()))
                && let Some(tx) = b
            {
                let _ = tx.send(status);
            }
            continue;
        }
        if msg.method() != Some("NOTIFY") {
            continue;
        }
        let request_uri = msg.start_line.split(' ').nth(1).unwrap_or("");
        let Some(name) = user_part(request_uri).map(str::to_string) else {
            continue;
        };
        let (event, ip, events) = {
            let phones = t.phones();
            let Some(b) = phones.get(&name) else { continue };
            let event = match msg.header("event").map(str::trim) {
                Some("service-control") => {
                    let (action, call_id) = sip::parse_service_control(&msg.body);
                    if call_id.as_deref() != Some(b.call_id.as_str()) {
                        PhoneEvent::BadNotify("wrong-register-call-id".into())
                    } else {
                        match action.as_deref() {
                            Some("restart") => PhoneEvent::Control(ResetType::Restart),
                            Some("reset") => PhoneEvent::Control(ResetType::Reset),
                            Some("apply-config") => PhoneEvent::Control(ResetType::ApplyConfig),
                            other => PhoneEvent::BadNotify(format!(
                                "unknown-action-{}",
                                other.unwrap_or("none")
                            )),
                        }
                    }
                }
                Some("check-sync") => PhoneEvent::Control(ResetType::ApplyConfig),
                _ => PhoneEvent::BadNotify("unknown-event".into()),
            };
            (event, b.ip, b.events.clone())
        };
        let status = if matches!(event, PhoneEvent::BadNotify(_)) {
            (400, "Bad Request")
        } else {
            (200, "OK")
        };
        let answer = sip::response(&msg, status.0, status.1, &name, &[]);
        let _ = send_from(&t.socket, ip, peer, answer.to_wire().as_bytes()).await;
        let _ = events.send(event);
    }
}

/// Where a phone receives SIP: its own address at the fleet socket's port.
pub fn phone_sip_addr(ip: Ipv4Addr, transport: &SipTransport) -> SocketAddrV4 {
    SocketAddrV4::new(ip, transport.port)
}
