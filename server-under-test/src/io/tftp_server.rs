//! The configuration files over TFTP (PROTOCOL.md §8), as CUCM's TFTP
//! service serves them to 7900-series phones on UDP 69.
//!
//! Read requests only: a write gets error 2 (Access violation), a file
//! that is not a known device's `SEP<MAC>.cnf.xml` error 1 (File not
//! found), a packet that does not decode error 4 (Illegal TFTP operation)
//! with the reason. Each read is answered from a fresh socket (its own
//! transfer ID, RFC 1350 §4) in its own task, so a slow or vanished phone
//! holds up nobody; a block is sent again when its ACK does not come, at
//! most [`RETRIES`] times.

use crate::io::config_files::{self, ConfigContext};
use emlab_protocol::tftp::{self, ErrorCode, Packet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::UdpSocket;

/// Resends of one block before the transfer is given up.
pub const RETRIES: u32 = 5;
/// How long to wait for an ACK when the client did not ask for a `timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
/// Transfers under way at once; more are refused with error 0 (busy), as a
/// TFTP server under a boot storm would rather than run out of sockets.
const MAX_TRANSFERS: usize = 2048;

pub async fn serve(socket: UdpSocket, ctx: Arc<ConfigContext>) {
    let transfers = Arc::new(tokio::sync::Semaphore::new(MAX_TRANSFERS));
    let mut buf = vec![0u8; tftp::MAX_PACKET];
    loop {
        let (n, peer) = match socket.recv_from(&mut buf).await {
            Ok(x) => x,
            // ICMP port unreachable from an earlier send, or a transient
            // error: keep serving.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(5)).await;
                continue;
            }
        };
        let answer = match Packet::decode(&buf[..n]) {
            Ok(Packet::ReadRequest {
                filename,
                mode,
                options,
            }) => {
                let Ok(permit) = transfers.clone().try_acquire_owned() else {
                    let busy = Packet::Error {
                        code: ErrorCode::NotDefined as u16,
                        message: "Server busy, try again".into(),
                    };
                    let _ = socket.send_to(&busy.encode(), peer).await;
                    continue;
                };
                let ctx = ctx.clone();
                let local = socket.local_addr().ok();
                tokio::spawn(async move {
                    read(ctx, local, peer, &filename, &mode, &options).await;
                    drop(permit);
                });
                continue;
            }
            Ok(Packet::WriteRequest { .. }) => Packet::error(ErrorCode::AccessViolation),
            // DATA, ACK, ERROR or OACK to the listening port belong to no transfer.
            Ok(_) => Packet::error(ErrorCode::IllegalOperation),
            Err(e) => Packet::Error {
                code: ErrorCode::IllegalOperation as u16,
                message: format!("{}: {e}", ErrorCode::IllegalOperation.text()),
            },
        };
        if let Packet::Error { code, message } = &answer {
            tracing::debug!(%peer, code, reason = %message, "TFTP request refused");
        }
        let _ = socket.send_to(&answer.encode(), peer).await;
    }
}

/// One read transfer, from its own socket.
async fn read(
    ctx: Arc<ConfigContext>,
    listen: Option<SocketAddr>,
    peer: SocketAddr,
    filename: &str,
    mode: &str,
    options: &[(String, String)],
) {
    // Same address family and interface as the listener, any port.
    let bind = match listen {
        Some(a) => SocketAddr::new(a.ip(), 0),
        None => return,
    };
    let Ok(socket) = UdpSocket::bind(bind).await else {
        return;
    };
    if socket.connect(peer).await.is_err() {
        return;
    }
    if mode != "octet" && mode != "netascii" {
        let _ = socket
            .send(&Packet::error(ErrorCode::IllegalOperation).encode())
            .await;
        return;
    }
    // Phones ask with or without a leading slash.
    let name = filename.trim_start_matches('/');
    let Some(file) = config_files::file_for(&ctx, name) else {
        let _ = socket
            .send(&Packet::error(ErrorCode::FileNotFound).encode())
            .await;
        return;
    };
    let agreed = tftp::negotiate(options, file.len());
    let wait = agreed
        .timeout_secs
        .map_or(DEFAULT_TIMEOUT, Duration::from_secs);
    if !agreed.acknowledged.is_empty() {
        let oack = Packet::OptionAck {
            options: agreed.acknowledged.clone(),
        };
        if !exchange(&socket, &oack.encode(), 0, wait).await {
            return;
        }
    }
    // The block after the last full one may be empty: a file whose size is
    // a multiple of the block size ends with a 0-byte DATA.
    let blocks = file.len() / agreed.block_size + 1;
    for i in 0..blocks {
        let start = i * agreed.block_size;
        let end = (start + agreed.block_size).min(file.len());
        let block = (i + 1) as u16;
        let data = Packet::Data {
            block,
            data: file[start..end].to_vec(),
        };
        if !exchange(&socket, &data.encode(), block, wait).await {
            return;
        }
    }
}

/// Sends `packet` until ACK `block` arrives; false when the client gave up,
/// sent an ERROR, or never answered.
async fn exchange(socket: &UdpSocket, packet: &[u8], block: u16, wait: Duration) -> bool {
    let mut buf = [0u8; 516];
    for _ in 0..=RETRIES {
        if socket.send(packet).await.is_err() {
            return false;
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
                Err(_) => break, // resend
                Ok(Err(_)) => return false,
                Ok(Ok(n)) => match Packet::decode(&buf[..n]) {
                    Ok(Packet::Ack { block: b }) if b == block => return true,
                    // A duplicate ACK of an earlier block: wait on (RFC 1350's
                    // "Sorcerer's Apprentice" bug comes from resending here).
                    Ok(Packet::Ack { .. }) => continue,
                    Ok(Packet::Error { .. }) => return false,
                    _ => {
                        let _ = socket
                            .send(&Packet::error(ErrorCode::IllegalOperation).encode())
                            .await;
                        return false;
                    }
                },
            }
        }
    }
    false
}
