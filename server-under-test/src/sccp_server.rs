//! The SCCP listener (PROTOCOL.md §5): phones of the 7900 series register
//! here over TCP and receive Reset when their profile changes.
//!
//! One task per connection reads frames and, at the same time, forwards the
//! commands [`crate::control`] queues for the device it registered as. A
//! frame that cannot be SCCP (bad length, truncated body) closes the
//! connection and changes nothing; unknown messages are ignored, as
//! CallManager ignores what it does not need.

use crate::control::Reach;
use crate::state::ServerState;
use emlab_protocol::phone_model::ControlProtocol;
use emlab_protocol::sccp::{Message, Register};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// KeepAlive interval announced in RegisterAck (seconds).
const KEEP_ALIVE_S: u32 = 30;

pub async fn serve(listener: TcpListener, state: Arc<ServerState>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(connection(stream, state.clone()));
    }
}

/// Why a Register is refused, as the RegisterReject text says it.
fn check_register(state: &ServerState, r: &Register) -> Result<u32, &'static str> {
    let dir = &state.directory;
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

async fn connection(mut stream: TcpStream, state: Arc<ServerState>) {
    let connection = state.control.connection_id();
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
                                state.device_registered(device, peer.ip());
                                registered = Some(device);
                                replies.push(Message::RegisterAck {
                                    keep_alive_s: KEEP_ALIVE_S,
                                    date_template: "M/D/Y".into(),
                                    secondary_keep_alive_s: KEEP_ALIVE_S,
                                    max_protocol_version: 11,
                                });
                                replies.push(Message::CapabilitiesReq);
                            }
                            Err(text) => replies.push(Message::RegisterReject { text: text.into() }),
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
        }
    }
    if let Some(device) = registered {
        state.control.unregister(device, connection);
        state.hook_changed(device, false);
    }
}
