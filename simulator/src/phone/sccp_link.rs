//! A 7900-series phone's SCCP connection (PROTOCOL.md §5).
//!
//! The phone opens TCP from its own address to the server's port 2000 and
//! sends Register (device name, IP, skinny device type); the server answers
//! RegisterAck then CapabilitiesReq (answered with CapabilitiesRes, the
//! phone's codecs), or RegisterReject. From then on the
//! phone sends KeepAlive at the interval RegisterAck announced, and the
//! server may send Reset: type 2 restart, type 1 reset. A closed connection
//! is a lost server: the phone reports it and re-registers when it next
//! needs the server, as a real phone does after its keep-alive fails.

use super::PhoneEvent;
use emlab_protocol::sccp::{FrameError, Message, PHONE_CODECS, Register};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::mpsc;

/// What the phone asks its connection task to send.
#[derive(Debug)]
pub enum SccpCommand {
    OffHook,
    OnHook,
}

/// A registered SCCP phone. Dropping it closes the connection.
pub struct SccpLink {
    commands: mpsc::UnboundedSender<SccpCommand>,
}

impl SccpLink {
    pub fn send(&self, command: SccpCommand) {
        let _ = self.commands.send(command);
    }
}

/// Registers `register.device_name` from `local`; the label says why not.
pub async fn register(
    local: Ipv4Addr,
    server: SocketAddr,
    register: Register,
    events: mpsc::UnboundedSender<PhoneEvent>,
    timeout: Duration,
) -> Result<SccpLink, String> {
    let handshake = async move {
        let mut stream = connect(local, server)
            .await
            .ok_or_else(|| "connection-error".to_string())?;
        stream
            .write_all(&Message::Register(register).encode())
            .await
            .map_err(|_| "connection-error".to_string())?;
        let mut buf = Vec::with_capacity(256);
        loop {
            match read_frame(&mut stream, &mut buf).await {
                Ok(Some(Message::RegisterAck { keep_alive_s, .. })) => {
                    return Ok::<_, String>((stream, buf, keep_alive_s));
                }
                Ok(Some(Message::RegisterReject { .. })) => {
                    return Err("register-reject".to_string());
                }
                Ok(Some(_)) => continue,
                Ok(None) => return Err("connection-closed".to_string()),
                Err(_) => return Err("malformed-sccp".to_string()),
            }
        }
    };
    let (stream, buf, keep_alive_s) = tokio::time::timeout(timeout, handshake)
        .await
        .map_err(|_| "timeout".to_string())??;
    let (tx, rx) = mpsc::unbounded_channel();
    // Cisco phones send KeepAlive at the announced interval; 0 would spin.
    let keep_alive = Duration::from_secs(u64::from(keep_alive_s.max(1)));
    tokio::spawn(run(stream, buf, keep_alive, rx, events));
    Ok(SccpLink { commands: tx })
}

async fn connect(local: Ipv4Addr, server: SocketAddr) -> Option<TcpStream> {
    let socket = match server {
        SocketAddr::V4(_) => {
            let s = TcpSocket::new_v4().ok()?;
            if server.ip().is_loopback() {
                s.bind(SocketAddr::new(IpAddr::V4(local), 0)).ok()?;
            }
            s
        }
        SocketAddr::V6(_) => TcpSocket::new_v6().ok()?,
    };
    let stream = socket.connect(server).await.ok()?;
    let _ = stream.set_nodelay(true);
    Some(stream)
}

/// The next whole frame; `Ok(None)` when the server closed the connection.
async fn read_frame(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
) -> Result<Option<Message>, FrameError> {
    let mut chunk = [0u8; 1024];
    loop {
        if let Some((msg, used)) = Message::decode(buf)? {
            buf.drain(..used);
            return Ok(Some(msg));
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return Ok(None),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

async fn run(
    mut stream: TcpStream,
    mut buf: Vec<u8>,
    keep_alive: Duration,
    mut commands: mpsc::UnboundedReceiver<SccpCommand>,
    events: mpsc::UnboundedSender<PhoneEvent>,
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + keep_alive, keep_alive);
    loop {
        tokio::select! {
            frame = read_frame(&mut stream, &mut buf) => match frame {
                Ok(Some(Message::Reset(kind))) => {
                    let _ = events.send(PhoneEvent::Control(kind));
                }
                // A real phone answers with its codecs; CUCM and
                // chan-sccp wait for them before they place calls.
                Ok(Some(Message::CapabilitiesReq)) => {
                    let answer = Message::CapabilitiesRes(PHONE_CODECS.to_vec());
                    if stream.write_all(&answer.encode()).await.is_err() {
                        let _ = events.send(PhoneEvent::Lost);
                        return;
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => {
                    let _ = events.send(PhoneEvent::Lost);
                    return;
                }
            },
            command = commands.recv() => {
                let msg = match command {
                    Some(SccpCommand::OffHook) => Message::OffHook,
                    Some(SccpCommand::OnHook) => Message::OnHook,
                    // The phone dropped its link: reboot or shutdown.
                    None => return,
                };
                if stream.write_all(&msg.encode()).await.is_err() {
                    let _ = events.send(PhoneEvent::Lost);
                    return;
                }
            }
            _ = tick.tick() => {
                if stream.write_all(&Message::KeepAlive.encode()).await.is_err() {
                    let _ = events.send(PhoneEvent::Lost);
                    return;
                }
            }
        }
    }
}
