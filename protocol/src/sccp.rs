//! SCCP ("Skinny"), the subset emlab needs for registering 7960/7940/7905
//! phones and restarting or resetting them (PROTOCOL.md §5; layouts and
//! sources in `../shared/notes/control-channel.md`).
//!
//! Every PDU is a 12-byte header and a body, integers little-endian, IPv4
//! addresses in network order:
//!
//! ```text
//! offset 0  u32 length    message id + body (bytes on the wire = length + 8)
//! offset 4  u32 version   0 = basic
//! offset 8  u32 message id
//! offset 12 body
//! ```
//!
//! The phone registers (Register 0x0001), the server acknowledges
//! (RegisterAck 0x0081, then CapabilitiesReq 0x009B) or refuses
//! (RegisterReject 0x009D); KeepAlive 0x0000 / KeepAliveAck 0x0100 keep the
//! session; the server tells the phone to restart or reset with
//! Reset 0x009F, whose u32 is **2 = restart, 1 = reset**, 3 = apply config.

use std::net::Ipv4Addr;

pub const HEADER_LEN: usize = 12;
/// The largest `length` accepted (chan-sccp's limit: 2416-byte PDU).
pub const MAX_LENGTH: u32 = 2408;

pub const KEEP_ALIVE: u32 = 0x0000;
pub const REGISTER: u32 = 0x0001;
pub const OFF_HOOK: u32 = 0x0006;
pub const ON_HOOK: u32 = 0x0007;
pub const CAPABILITIES_RES: u32 = 0x0010;
pub const UNREGISTER: u32 = 0x0027;
pub const REGISTER_ACK: u32 = 0x0081;
pub const CAPABILITIES_REQ: u32 = 0x009B;
pub const REGISTER_REJECT: u32 = 0x009D;
pub const RESET: u32 = 0x009F;
pub const KEEP_ALIVE_ACK: u32 = 0x0100;
pub const UNREGISTER_ACK: u32 = 0x0118;

/// What a Reset asks of the phone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResetType {
    /// Hard reboot: re-register, then re-read the configuration (1).
    Reset,
    /// Soft reboot: re-read the configuration (2).
    Restart,
    /// Apply the configuration without rebooting (3).
    ApplyConfig,
}

impl ResetType {
    pub fn code(self) -> u32 {
        match self {
            ResetType::Reset => 1,
            ResetType::Restart => 2,
            ResetType::ApplyConfig => 3,
        }
    }

    pub fn from_code(code: u32) -> Option<ResetType> {
        match code {
            1 => Some(ResetType::Reset),
            2 => Some(ResetType::Restart),
            3 => Some(ResetType::ApplyConfig),
            _ => None,
        }
    }
}

/// RegisterMessage: the fields up to `maxStreams` (the minimum 36-byte body).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Register {
    /// `SEP` + 12 hex digits (char[16], NUL-padded).
    pub device_name: String,
    pub user_id: u32,
    pub instance: u32,
    pub ip: Ipv4Addr,
    pub device_type: u32,
    pub max_streams: u32,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    KeepAlive,
    Register(Register),
    OffHook,
    OnHook,
    /// Optional u32 reason.
    Unregister,
    RegisterAck {
        keep_alive_s: u32,
        date_template: String,
        secondary_keep_alive_s: u32,
        max_protocol_version: u8,
    },
    CapabilitiesReq,
    /// The phone's codecs, in answer to CapabilitiesReq: a u32 count, then
    /// per codec u32 payload capability, u32 max frames per packet and 8
    /// bytes of codec-specific parameters (zero for the G.711/G.729 family).
    CapabilitiesRes(Vec<MediaCapability>),
    RegisterReject {
        text: String,
    },
    Reset(ResetType),
    KeepAliveAck,
    UnregisterAck {
        status: u32,
    },
    /// Any other message, kept as it came.
    Other {
        id: u32,
        body: Vec<u8>,
    },
}

/// One codec a phone offers (Skinny `MediaCapabilityStructure`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MediaCapability {
    /// Skinny's payload type: 2 G.711 A-law, 4 G.711 µ-law, 11 G.729, 12 G.729 Annex A.
    pub payload: u32,
    pub max_frames_per_packet: u32,
}

/// What a 7960 offers: G.711 µ-law and A-law (up to 40 frames a packet)
/// and G.729 Annex A (up to 6).
pub const PHONE_CODECS: [MediaCapability; 3] = [
    MediaCapability {
        payload: 4,
        max_frames_per_packet: 40,
    },
    MediaCapability {
        payload: 2,
        max_frames_per_packet: 40,
    },
    MediaCapability {
        payload: 12,
        max_frames_per_packet: 6,
    },
];

/// A frame that cannot be SCCP: the connection must be closed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// `length` below 4 or above [`MAX_LENGTH`].
    BadLength(u32),
    /// A known message whose body is too short for its fields.
    ShortBody { id: u32, len: usize },
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::BadLength(l) => write!(f, "SCCP length {l} outside 4..={MAX_LENGTH}"),
            FrameError::ShortBody { id, len } => write!(
                f,
                "SCCP message 0x{id:04X} with a {len}-byte body is too short"
            ),
        }
    }
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

/// A fixed-size, NUL-padded char array.
fn chars(text: &str, size: usize) -> Vec<u8> {
    let mut v: Vec<u8> = text.bytes().take(size - 1).collect();
    v.resize(size, 0);
    v
}

fn from_chars(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    String::from_utf8_lossy(&b[..end]).into_owned()
}

impl Message {
    pub fn id(&self) -> u32 {
        match self {
            Message::KeepAlive => KEEP_ALIVE,
            Message::Register(_) => REGISTER,
            Message::OffHook => OFF_HOOK,
            Message::OnHook => ON_HOOK,
            Message::Unregister => UNREGISTER,
            Message::RegisterAck { .. } => REGISTER_ACK,
            Message::CapabilitiesReq => CAPABILITIES_REQ,
            Message::CapabilitiesRes(_) => CAPABILITIES_RES,
            Message::RegisterReject { .. } => REGISTER_REJECT,
            Message::Reset(_) => RESET,
            Message::KeepAliveAck => KEEP_ALIVE_ACK,
            Message::UnregisterAck { .. } => UNREGISTER_ACK,
            Message::Other { id, .. } => *id,
        }
    }

    fn body(&self) -> Vec<u8> {
        match self {
            Message::KeepAlive
            | Message::OffHook
            | Message::OnHook
            | Message::Unregister
            | Message::CapabilitiesReq
            | Message::KeepAliveAck => Vec::new(),
            Message::Register(r) => {
                let mut b = chars(&r.device_name, 16);
                b.extend(r.user_id.to_le_bytes());
                b.extend(r.instance.to_le_bytes());
                b.extend(r.ip.octets());
                b.extend(r.device_type.to_le_bytes());
                b.extend(r.max_streams.to_le_bytes());
                b
            }
            Message::RegisterAck {
                keep_alive_s,
                date_template,
                secondary_keep_alive_s,
                max_protocol_version,
            } => {
                let mut b = keep_alive_s.to_le_bytes().to_vec();
                b.extend(chars(date_template, 6));
                b.extend([0, 0]);
                b.extend(secondary_keep_alive_s.to_le_bytes());
                b.extend([*max_protocol_version, 0, 0, 0]);
                b
            }
            Message::CapabilitiesRes(caps) => {
                let mut b = (caps.len() as u32).to_le_bytes().to_vec();
                for c in caps {
                    b.extend(c.payload.to_le_bytes());
                    b.extend(c.max_frames_per_packet.to_le_bytes());
                    b.extend([0u8; 8]);
                }
                b
            }
            Message::RegisterReject { text } => chars(text, 32),
            Message::Reset(t) => t.code().to_le_bytes().to_vec(),
            Message::UnregisterAck { status } => status.to_le_bytes().to_vec(),
            Message::Other { body, .. } => body.clone(),
        }
    }

    /// The PDU as it goes on the wire (header version 0, "basic").
    pub fn encode(&self) -> Vec<u8> {
        let body = self.body();
        let mut out = Vec::with_capacity(HEADER_LEN + body.len());
        out.extend((body.len() as u32 + 4).to_le_bytes());
        out.extend(0u32.to_le_bytes());
        out.extend(self.id().to_le_bytes());
        out.extend(body);
        out
    }

    /// Decodes the first PDU in `buf`: `Ok(None)` until it is complete, else
    /// the message and how many bytes it took.
    pub fn decode(buf: &[u8]) -> Result<Option<(Message, usize)>, FrameError> {
        if buf.len() < 8 {
            return Ok(None);
        }
        let length = u32_at(buf, 0);
        if !(4..=MAX_LENGTH).contains(&length) {
            return Err(FrameError::BadLength(length));
        }
        let total = length as usize + 8;
        if buf.len() < total {
            return Ok(None);
        }
        let id = u32_at(buf, 8);
        let body = &buf[HEADER_LEN..total];
        let need = |n: usize| {
            if body.len() < n {
                Err(FrameError::ShortBody {
                    id,
                    len: body.len(),
                })
            } else {
                Ok(())
            }
        };
        let msg = match id {
            KEEP_ALIVE => Message::KeepAlive,
            OFF_HOOK => Message::OffHook,
            ON_HOOK => Message::OnHook,
            UNREGISTER => Message::Unregister,
            CAPABILITIES_REQ => Message::CapabilitiesReq,
            CAPABILITIES_RES => {
                need(4)?;
                let count = u32_at(body, 0) as usize;
                // Each codec is 16 bytes; a count the body cannot hold is short.
                need(4 + count.saturating_mul(16))?;
                Message::CapabilitiesRes(
                    (0..count)
                        .map(|i| MediaCapability {
                            payload: u32_at(body, 4 + i * 16),
                            max_frames_per_packet: u32_at(body, 8 + i * 16),
                        })
                        .collect(),
                )
            }
            KEEP_ALIVE_ACK => Message::KeepAliveAck,
            REGISTER => {
                need(36)?;
                Message::Register(Register {
                    device_name: from_chars(&body[..16]),
                    user_id: u32_at(body, 16),
                    instance: u32_at(body, 20),
                    ip: Ipv4Addr::new(body[24], body[25], body[26], body[27]),
                    device_type: u32_at(body, 28),
                    max_streams: u32_at(body, 32),
                })
            }
            REGISTER_ACK => {
                need(20)?;
                Message::RegisterAck {
                    keep_alive_s: u32_at(body, 0),
                    date_template: from_chars(&body[4..10]),
                    secondary_keep_alive_s: u32_at(body, 12),
                    max_protocol_version: body[16],
                }
            }
            REGISTER_REJECT => Message::RegisterReject {
                text: from_chars(body),
            },
            RESET => {
                need(4)?;
                match ResetType::from_code(u32_at(body, 0)) {
                    Some(t) => Message::Reset(t),
                    None => Message::Other {
                        id,
                        body: body.to_vec(),
                    },
                }
            }
            UNREGISTER_ACK => {
                need(4)?;
                Message::UnregisterAck {
                    status: u32_at(body, 0),
                }
            }
            _ => Message::Other {
                id,
                body: body.to_vec(),
            },
        };
        Ok(Some((msg, total)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn register() -> Message {
        Message::Register(Register {
            device_name: "SEP003094C25B15".into(),
            user_id: 0,
            instance: 1,
            ip: Ipv4Addr::new(10, 15, 15, 178),
            device_type: 7,
            max_streams: 5,
        })
    }

    #[test]
    fn register_layout_matches_the_notes() {
        let wire = register().encode();
        assert_eq!(&wire[..12], &[40, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(&wire[12..27], b"SEP003094C25B15");
        assert_eq!(
            &wire[36..40],
            &[0x0A, 0x0F, 0x0F, 0xB2],
            "IPv4 in network order"
        );
        assert_eq!(&wire[40..44], &[7, 0, 0, 0]);
        assert_eq!(Message::decode(&wire), Ok(Some((register(), 48))));
    }

    #[test]
    fn reset_two_is_restart_one_is_reset() {
        assert_eq!(
            Message::Reset(ResetType::Restart).encode(),
            [8, 0, 0, 0, 0, 0, 0, 0, 0x9F, 0, 0, 0, 2, 0, 0, 0]
        );
        assert_eq!(Message::Reset(ResetType::Reset).encode()[12], 1);
    }

    #[test]
    fn partial_oversized_short_and_unknown_frames() {
        let wire = register().encode();
        assert_eq!(Message::decode(&wire[..20]), Ok(None));
        let mut two = wire.clone();
        two.extend(Message::KeepAlive.encode());
        let (_, used) = Message::decode(&two).unwrap().unwrap();
        assert_eq!(
            Message::decode(&two[used..]),
            Ok(Some((Message::KeepAlive, 12)))
        );
        assert_eq!(
            Message::decode(&[0xFF, 0xFF, 0, 0, 0, 0, 0, 0]),
            Err(FrameError::BadLength(0xFFFF))
        );
        assert_eq!(
            Message::decode(&[3, 0, 0, 0, 0, 0, 0, 0]),
            Err(FrameError::BadLength(3))
        );
        let short = [8u8, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            Message::decode(&short),
            Err(FrameError::ShortBody { id: 1, len: 4 })
        );
        let odd = Message::Other {
            id: 0x0159,
            body: vec![1, 2, 3],
        };
        assert_eq!(Message::decode(&odd.encode()), Ok(Some((odd.clone(), 15))));
        let ack = Message::RegisterAck {
            keep_alive_s: 30,
            date_template: "M/D/Y".into(),
            secondary_keep_alive_s: 30,
            max_protocol_version: 11,
        };
        assert_eq!(ack.encode().len(), 12 + 20);
        assert_eq!(Message::decode(&ack.encode()), Ok(Some((ack, 32))));
    }

    #[test]
    fn capabilities_res_carries_a_count_then_16_bytes_a_codec() {
        let res = Message::CapabilitiesRes(PHONE_CODECS.to_vec());
        let wire = res.encode();
        assert_eq!(&wire[8..12], &[0x10, 0, 0, 0]);
        assert_eq!(&wire[12..16], &[3, 0, 0, 0]);
        assert_eq!(wire.len(), 12 + 4 + 3 * 16);
        assert_eq!(Message::decode(&wire), Ok(Some((res, wire.len()))));
        // A count the body cannot hold is a short body, not a panic.
        let lying = [
            8u8, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF,
        ];
        assert!(matches!(
            Message::decode(&lying),
            Err(FrameError::ShortBody { id: 0x10, .. })
        ));
    }
}
