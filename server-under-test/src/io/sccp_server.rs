//! The SCCP listener (PROTOCOL.md §5): phones of the 7900 series register
//! here over TCP and receive Reset when their profile changes.
//!
//! One task per connection reads frames and, at the same time, forwards the
//! commands [`crate::control`] queues for the device it registered as. A
//! frame that cannot be SCCP (bad length, truncated body) closes the
//! connection and changes nothing; unknown messages are ignored, as
//! CallManager ignores what it does not need.
//!
//! On a hostile network: a connection that has not registered within
//! `register_timeout` is closed, and a registered phone that lets two
//! announced KeepAlive intervals pass in silence is unregistered and its
//! connection closed, as CallManager does; when accept fails (EMFILE) the
//! loop backs off instead of spinning.

use crate::io::control::Reach;
use crate::io::server::Server;
use emlab_protocol::phone_model::ControlProtocol;
use emlab_protocol::sccp::{Message, Register};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{Duration, Instant};

/// How long the SCCP listener gives phones.
#[derive(Clone, Copy, Debug)]
pub struct SccpLimits {
    /// From connect to Register.
    pub register_timeout: Duration,
    /// The KeepAlive interval announced in RegisterAck (seconds); silence
    /// for twice as long ends the registration.
    pub keep_alive_s: u32,
}

impl Default for SccpLimits {
    fn default() -> Self {
        SccpLimits {
            register_timeout: Duration::from_secs(10),
            keep_alive_s: 30,
        }
    }
}

pub async fn serve(listener: TcpListener, state: Arc<Server>, limits: SccpLimits) {
    loop {
        let Ok((stream, _)) = listener.accept().await.inspect_err(|e| {
            tracing::warn!(error = %e, "SCCP accept failed; backing off");
        }) else {
            // Out of descriptors or a reset before accept: back off, do not spin.
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(stream, state.clone(), limits));
    }
}

/// Why a Register is refused, as the RegisterReject text says it.
fn check_register(state: &Server, r: &Register) -> Result<u32, &'static str> {
    let dir = &state.em.directory;
    let device = dir.device_idx(&r.device_name).ok_or("Device Unknown")?;
    let model = dir.device(device).model;
    if model.protocol != ControlProtocol::Sccp {
        return Err("Device is not SCCP");
    }
    if model.skinny_device_type != Some(r.device_type) {
        return Err("Device type mismatch");
    }
    Ok(device)
}

async fn connection(mut stream: TcpStream, state: Arc<Server>, limits: SccpLimits) {
    let connection = state.control.connection_id();
    let silence = Duration::from_secs(2 * u64::from(limits.keep_alive_s));
    // Register in time; afterwards, a frame at least every two intervals.
    let mut deadline = Instant::now() + limits.register_timeout;
    // The address the phone really talks from, not the one it claims in Register.
    let Ok(peer) = stream.peer_addr() else { return };
    let (tx, mut commands) = mpsc::unbounded_channel();
    let mut registered = None;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 2048];
    'session: loop {
        tokio::select! {
            read = stream.read(&mut chunk) => {
                let n = match read {
                    Ok(0) | Err(_) => break 'session,
                    Ok(n) => n,
                };
                if registered.is_some() {
                    deadline = Instant::now() + silence;
                }
                buf.extend_from_slice(&chunk[..n]);
                loop {
                    let (msg, used) = match Message::decode(&buf) {
                        Ok(Some(frame)) => frame,
                        Ok(None) => break,
                        Err(_) => break 'session,
                    };
                    buf.drain(..used);
                    let mut replies = Vec::new();
                    match msg {
                        Message::Register(r) => match check_register(&state, &r) {
                            Ok(device) => {
                                state.control.register(device, connection, Reach::Sccp(tx.clone()));
                                state.em.device_registered(device, peer.ip());
                                registered = Some(device);
                                deadline = Instant::now() + silence;
                                replies.push(Message::RegisterAck {
                                    keep_alive_s: limits.keep_alive_s,
                                    date_template: "M/D/Y".into(),
                                    secondary_keep_alive_s: limits.keep_alive_s,
                                    max_protocol_version: 11,
                                });
                                replies.push(Message::CapabilitiesReq);
                            }
                            Err(text) => {
                                tracing::debug!(device = %r.device_name, %peer, reason = text, "SCCP Register refused");
                                replies.push(Message::RegisterReject { text: text.into() });
                            }
                        },
                        Message::KeepAlive => replies.push(Message::KeepAliveAck),
                        Message::OffHook | Message::OnHook => {
                            if let Some(device) = registered {
                                state.hook_changed(device, msg == Message::OffHook);
                            }
                        }
                        Message::Unregister => {
                            if let Some(device) = registered.take() {
                                state.control.unregister(device, connection);
                            }
                            let _ = stream.write_all(&Message::UnregisterAck { status: 0 }.encode()).await;
                            break 'session;
                        }
                        _ => {}
                    }
                    for reply in replies {
                        if stream.write_all(&reply.encode()).await.is_err() {
                            break 'session;
                        }
                    }
                }
            }
            Some(reset) = commands.recv() => {
                if stream.write_all(&Message::Reset(reset).encode()).await.is_err() {
                    break 'session;
                }
            }
            // Never registered, or the KeepAlives stopped.
            _ = tokio::time::sleep_until(deadline) => {
                let reason = if registered.is_some() { "KeepAlives stopped" } else { "no Register in time" };
                tracing::debug!(%peer, reason, "SCCP connection closed");
                break 'session;
            }
        }
    }
    if let Some(device) = registered {
        state.control.unregister(device, connection);
        state.hook_changed(device, false);
    }
}
