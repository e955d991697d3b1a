//! A phone's TFTP read of its configuration file (PROTOCOL.md §8), from
//! the phone's own address, as a 7900-series phone does at boot and after
//! every restart: RRQ with `blksize` and `tsize`, then ACK each block.

use emlab_protocol::tftp::{self, ErrorCode, Packet};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;
use tokio::net::UdpSocket;

/// The block size the phone asks for: a full Ethernet frame's worth.
const ASKED_BLOCK_SIZE: usize = 1428;
/// How long to wait for the next packet before asking again.
const RESEND_AFTER: Duration = Duration::from_millis(500);

/// Why the file did not arrive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TftpFailure {
    /// The server answered with an ERROR packet.
    Refused { code: u16, message: String },
    /// Nothing, or nothing sensible, within the deadline.
    Timeout,
    /// A socket could not be opened or used.
    Transport(String),
    /// The server broke the protocol (a wrong block, an undecodable packet).
    Protocol(String),
}

impl TftpFailure {
    /// The outcome label reports use; a missing file reads like HTTP's.
    pub fn label(&self) -> String {
        match self {
            TftpFailure::Refused { code, .. } if *code == ErrorCode::FileNotFound as u16 => {
                crate::diagnosis::NO_CONFIG.into()
            }
            TftpFailure::Refused { code, .. } => format!("tftp-error-{code}"),
            TftpFailure::Timeout => "timeout".into(),
            TftpFailure::Transport(_) => "connection-error".into(),
            TftpFailure::Protocol(_) => "tftp-protocol".into(),
        }
    }
}

impl std::fmt::Display for TftpFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TftpFailure::Refused { code, message } => write!(f, "TFTP error {code}: {message}"),
            TftpFailure::Timeout => f.write_str("no TFTP answer in time"),
            TftpFailure::Transport(e) => write!(f, "TFTP socket: {e}"),
            TftpFailure::Protocol(e) => write!(f, "TFTP protocol: {e}"),
        }
    }
}

/// Reads `file` from `server` within `timeout`, from `local` (the phone's
/// address; unspecified: let the kernel choose).
pub async fn fetch(
    local: IpAddr,
    server: SocketAddr,
    file: &str,
    timeout: Duration,
) -> Result<Vec<u8>, TftpFailure> {
    match tokio::time::timeout(timeout, read(local, server, file)).await {
        Ok(r) => r,
        Err(_) => Err(TftpFailure::Timeout),
    }
}

async fn read(local: IpAddr, server: SocketAddr, file: &str) -> Result<Vec<u8>, TftpFailure> {
    let local = if local.is_ipv4() == server.is_ipv4()
        && local.is_loopback() == server.ip().is_loopback()
    {
        local
    } else if server.is_ipv4() {
        IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED)
    } else {
        IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED)
    };
    let socket = UdpSocket::bind(SocketAddr::new(local, 0))
        .await
        .map_err(|e| TftpFailure::Transport(e.to_string()))?;
    let request = Packet::ReadRequest {
        filename: file.into(),
        mode: "octet".into(),
        options: vec![
            ("blksize".into(), ASKED_BLOCK_SIZE.to_string()),
            ("tsize".into(), "0".into()),
        ],
    }
    .encode();
    let mut buf = vec![0u8; tftp::MAX_PACKET];
    // The server answers from a new port (its transfer ID); until it has,
    // the last thing sent is the request to the listening port.
    let mut transfer: Option<SocketAddr> = None;
    let mut last_sent = request.clone();
    socket
        .send_to(&request, server)
        .await
        .map_err(|e| TftpFailure::Transport(e.to_string()))?;
    let mut block_size = tftp::DEFAULT_BLOCK_SIZE;
    let mut expected: u16 = 1;
    let mut file_bytes = Vec::new();
    loop {
        let (n, from) = match tokio::time::timeout(RESEND_AFTER, socket.recv_from(&mut buf)).await {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => return Err(TftpFailure::Transport(e.to_string())),
            Err(_) => {
                let to = transfer.unwrap_or(server);
                let _ = socket.send_to(&last_sent, to).await;
                continue;
            }
        };
        match transfer {
            None if from.ip() == server.ip() => transfer = Some(from),
            Some(t) if t == from => {}
            // RFC 1350: a packet from another transfer ID gets error 5 and
            // does not disturb this transfer.
            _ => {
                let _ = socket
                    .send_to(&Packet::error(ErrorCode::UnknownTransferId).encode(), from)
                    .await;
                continue;
            }
        }
        let to = from;
        match Packet::decode(&buf[..n]) {
            Ok(Packet::OptionAck { options }) if expected == 1 && file_bytes.is_empty() => {
                for (name, value) in &options {
                    if name == "blksize" {
                        block_size = value
                            .parse()
                            .ok()
                            .filter(|b| {
                                *b <= ASKED_BLOCK_SIZE && tftp::BLOCK_SIZE_RANGE.contains(b)
                            })
                            .ok_or_else(|| {
                                TftpFailure::Protocol(format!("OACK blksize `{value}`"))
                            })?;
                    }
                }
                last_sent = Packet::Ack { block: 0 }.encode();
                let _ = socket.send_to(&last_sent, to).await;
            }
            Ok(Packet::Data { block, data }) if block == expected => {
                if data.len() > block_size {
                    return Err(TftpFailure::Protocol(format!(
                        "block {block} has {} bytes, over the agreed {block_size}",
                        data.len()
                    )));
                }
                file_bytes.extend_from_slice(&data);
                last_sent = Packet::Ack { block }.encode();
                let _ = socket.send_to(&last_sent, to).await;
                if data.len() < block_size {
                    return Ok(file_bytes);
                }
                expected = expected.wrapping_add(1);
            }
            // A block sent again because our ACK was lost: ACK it again.
            Ok(Packet::Data { block, .. }) if block == expected.wrapping_sub(1) => {
                let _ = socket.send_to(&Packet::Ack { block }.encode(), to).await;
            }
            Ok(Packet::Error { code, message }) => {
                return Err(TftpFailure::Refused { code, message });
            }
            Ok(other) => {
                return Err(TftpFailure::Protocol(format!("unexpected {other:?}")));
            }
            Err(e) => return Err(TftpFailure::Protocol(e.to_string())),
        }
    }
}
