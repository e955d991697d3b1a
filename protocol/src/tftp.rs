//! TFTP packets (RFC 1350) with option negotiation (RFC 2347) for the
//! options phones use: `blksize` (RFC 2348), `tsize` and `timeout`
//! (RFC 2349).
//!
//! A 7900-series phone boots by asking the TFTP server (UDP 69) for
//! `SEP<MAC>.cnf.xml` (seed D). The exchange:
//!
//! ```text
//! phone → server:69   RRQ  "SEP...cnf.xml" "octet" blksize 1428 tsize 0
//! server(new port) →  OACK blksize 1428 tsize 3120     (only if options were asked)
//! phone →             ACK 0
//! server →            DATA 1 (1428 bytes) ... DATA 3 (264 bytes: shorter, so the last)
//! phone →             ACK 1 ... ACK 3
//! ```
//!
//! Every packet starts with a 2-byte opcode; strings are NUL-terminated.

/// The largest packet either side sends or accepts: a 65464-byte block plus its header.
pub const MAX_PACKET: usize = 65468;
/// RFC 1350's block size, when no `blksize` option is agreed.
pub const DEFAULT_BLOCK_SIZE: usize = 512;
/// RFC 2348's range for `blksize`.
pub const BLOCK_SIZE_RANGE: std::ops::RangeInclusive<usize> = 8..=65464;
/// RFC 2349's range for `timeout`, in seconds.
pub const TIMEOUT_RANGE: std::ops::RangeInclusive<u64> = 1..=255;

/// TFTP's error codes (RFC 1350 §5, RFC 2347's 8).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    NotDefined = 0,
    FileNotFound = 1,
    AccessViolation = 2,
    DiskFull = 3,
    IllegalOperation = 4,
    UnknownTransferId = 5,
    FileExists = 6,
    NoSuchUser = 7,
    OptionRefused = 8,
}

impl ErrorCode {
    pub fn from_u16(code: u16) -> Option<ErrorCode> {
        use ErrorCode::*;
        Some(match code {
            0 => NotDefined,
            1 => FileNotFound,
            2 => AccessViolation,
            3 => DiskFull,
            4 => IllegalOperation,
            5 => UnknownTransferId,
            6 => FileExists,
            7 => NoSuchUser,
            8 => OptionRefused,
            _ => return None,
        })
    }

    /// The RFC's wording, used as the ERROR packet's message.
    pub fn text(self) -> &'static str {
        use ErrorCode::*;
        match self {
            NotDefined => "Not defined",
            FileNotFound => "File not found",
            AccessViolation => "Access violation",
            DiskFull => "Disk full or allocation exceeded",
            IllegalOperation => "Illegal TFTP operation",
            UnknownTransferId => "Unknown transfer ID",
            FileExists => "File already exists",
            NoSuchUser => "No such user",
            OptionRefused => "Option negotiation refused",
        }
    }
}

/// One TFTP packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Packet {
    /// Opcode 1: read `filename` in `mode` (`octet` or `netascii`), with options.
    ReadRequest {
        filename: String,
        mode: String,
        options: Vec<(String, String)>,
    },
    /// Opcode 2: write (emlab's server refuses it with Access violation).
    WriteRequest {
        filename: String,
        mode: String,
        options: Vec<(String, String)>,
    },
    /// Opcode 3: block `block` of the file; shorter than the block size ends it.
    Data { block: u16, data: Vec<u8> },
    /// Opcode 4.
    Ack { block: u16 },
    /// Opcode 5.
    Error { code: u16, message: String },
    /// Opcode 6 (RFC 2347): the options the server accepted.
    OptionAck { options: Vec<(String, String)> },
}

/// Why a datagram is not a TFTP packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Shorter than its opcode says it must be.
    Truncated,
    UnknownOpcode(u16),
    /// A string without its NUL, not UTF-8, or an option without a value.
    Malformed(&'static str),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Truncated => f.write_str("truncated packet"),
            DecodeError::UnknownOpcode(op) => write!(f, "unknown opcode {op}"),
            DecodeError::Malformed(why) => write!(f, "malformed packet: {why}"),
        }
    }
}

impl Packet {
    pub fn decode(buf: &[u8]) -> Result<Packet, DecodeError> {
        if buf.len() < 2 {
            return Err(DecodeError::Truncated);
        }
        let opcode = u16::from_be_bytes([buf[0], buf[1]]);
        let rest = &buf[2..];
        match opcode {
            1 | 2 => {
                let mut fields = strings(rest)?;
                if fields.len() < 2 {
                    return Err(DecodeError::Truncated);
                }
                if fields.len() % 2 != 0 {
                    return Err(DecodeError::Malformed("an option without a value"));
                }
                let options = fields
                    .split_off(2)
                    .chunks(2)
                    .map(|kv| (kv[0].to_ascii_lowercase(), kv[1].clone()))
                    .collect();
                let mode = fields.pop().unwrap_or_default().to_ascii_lowercase();
                let filename = fields.pop().unwrap_or_default();
                if filename.is_empty() {
                    return Err(DecodeError::Malformed("an empty file name"));
                }
                Ok(if opcode == 1 {
                    Packet::ReadRequest {
                        filename,
                        mode,
                        options,
                    }
                } else {
                    Packet::WriteRequest {
                        filename,
                        mode,
                        options,
                    }
                })
            }
            3 => {
                if rest.len() < 2 {
                    return Err(DecodeError::Truncated);
                }
                Ok(Packet::Data {
                    block: u16::from_be_bytes([rest[0], rest[1]]),
                    data: rest[2..].to_vec(),
                })
            }
            4 => {
                if rest.len() < 2 {
                    return Err(DecodeError::Truncated);
                }
                Ok(Packet::Ack {
                    block: u16::from_be_bytes([rest[0], rest[1]]),
                })
            }
            5 => {
                if rest.len() < 2 {
                    return Err(DecodeError::Truncated);
                }
                let code = u16::from_be_bytes([rest[0], rest[1]]);
                // Some servers omit the message's NUL; take what is there.
                let text = rest[2..].split(|b| *b == 0).next().unwrap_or_default();
                Ok(Packet::Error {
                    code,
                    message: String::from_utf8_lossy(text).into_owned(),
                })
            }
            6 => {
                let fields = strings(rest)?;
                if fields.len() % 2 != 0 {
                    return Err(DecodeError::Malformed("an option without a value"));
                }
                Ok(Packet::OptionAck {
                    options: fields
                        .chunks(2)
                        .map(|kv| (kv[0].to_ascii_lowercase(), kv[1].clone()))
                        .collect(),
                })
            }
            other => Err(DecodeError::UnknownOpcode(other)),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32);
        let put_strings = |out: &mut Vec<u8>, items: &[&str]| {
            for s in items {
                out.extend_from_slice(s.as_bytes());
                out.push(0);
            }
        };
        match self {
            Packet::ReadRequest {
                filename,
                mode,
                options,
            }
            | Packet::WriteRequest {
                filename,
                mode,
                options,
            } => {
                let op: u16 = if matches!(self, Packet::ReadRequest { .. }) {
                    1
                } else {
                    2
                };
                out.extend_from_slice(&op.to_be_bytes());
                put_strings(&mut out, &[filename, mode]);
                for (k, v) in options {
                    put_strings(&mut out, &[k, v]);
                }
            }
            Packet::Data { block, data } => {
                out.extend_from_slice(&3u16.to_be_bytes());
                out.extend_from_slice(&block.to_be_bytes());
                out.extend_from_slice(data);
            }
            Packet::Ack { block } => {
                out.extend_from_slice(&4u16.to_be_bytes());
                out.extend_from_slice(&block.to_be_bytes());
            }
            Packet::Error { code, message } => {
                out.extend_from_slice(&5u16.to_be_bytes());
                out.extend_from_slice(&code.to_be_bytes());
                put_strings(&mut out, &[message]);
            }
            Packet::OptionAck { options } => {
                out.extend_from_slice(&6u16.to_be_bytes());
                for (k, v) in options {
                    put_strings(&mut out, &[k, v]);
                }
            }
        }
        out
    }

    /// An ERROR packet with the RFC's wording for `code`.
    pub fn error(code: ErrorCode) -> Packet {
        Packet::Error {
            code: code as u16,
            message: code.text().into(),
        }
    }
}

/// NUL-terminated UTF-8 strings filling `buf` exactly.
fn strings(buf: &[u8]) -> Result<Vec<String>, DecodeError> {
    if buf.is_empty() {
        return Err(DecodeError::Truncated);
    }
    if buf.last() != Some(&0) {
        return Err(DecodeError::Malformed("a string without its NUL"));
    }
    buf[..buf.len() - 1]
        .split(|b| *b == 0)
        .map(|s| {
            std::str::from_utf8(s)
                .map(str::to_string)
                .map_err(|_| DecodeError::Malformed("a string that is not UTF-8"))
        })
        .collect()
}

/// The options a server agrees to for a read of a `size`-byte file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    pub block_size: usize,
    pub timeout_secs: Option<u64>,
    /// What goes in the OACK, in the order asked; empty: no OACK, DATA 1 first.
    pub acknowledged: Vec<(String, String)>,
}

/// RFC 2347: unknown options and values out of range are left out of the
/// OACK (the client then uses the defaults); `tsize` is answered with the size.
pub fn negotiate(options: &[(String, String)], size: usize) -> Negotiated {
    let mut n = Negotiated {
        block_size: DEFAULT_BLOCK_SIZE,
        timeout_secs: None,
        acknowledged: Vec::new(),
    };
    for (name, value) in options {
        match name.as_str() {
            "blksize" => {
                if let Ok(b) = value.parse::<usize>()
                    && BLOCK_SIZE_RANGE.contains(&b)
                {
                    // The largest block that fits a local Ethernet frame is
                    // what phones ask for; never more than asked.
                    n.block_size = b;
                    n.acknowledged.push((name.clone(), b.to_string()));
                }
            }
            "timeout" => {
                if let Ok(t) = value.parse::<u64>()
                    && TIMEOUT_RANGE.contains(&t)
                {
                    n.timeout_secs = Some(t);
                    n.acknowledged.push((name.clone(), t.to_string()));
                }
            }
            "tsize" => n.acknowledged.push((name.clone(), size.to_string())),
            _ => {}
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_request_with_options_round_trips() {
        let rrq = Packet::ReadRequest {
            filename: "SEP000000000001.cnf.xml".into(),
            mode: "octet".into(),
            options: vec![
                ("blksize".into(), "1428".into()),
                ("tsize".into(), "0".into()),
            ],
        };
        let wire = rrq.encode();
        assert_eq!(&wire[..2], &[0, 1]);
        assert_eq!(Packet::decode(&wire), Ok(rrq));
    }

    #[test]
    fn every_packet_round_trips() {
        for p in [
            Packet::Data {
                block: 7,
                data: vec![1, 2, 3],
            },
            Packet::Ack { block: 65535 },
            Packet::error(ErrorCode::FileNotFound),
            Packet::OptionAck {
                options: vec![("tsize".into(), "99".into())],
            },
        ] {
            assert_eq!(Packet::decode(&p.encode()), Ok(p));
        }
    }

    #[test]
    fn broken_packets_are_named() {
        assert_eq!(Packet::decode(&[0]), Err(DecodeError::Truncated));
        assert_eq!(
            Packet::decode(&[0, 9, 0, 0]),
            Err(DecodeError::UnknownOpcode(9))
        );
        assert_eq!(Packet::decode(&[0, 4, 1]), Err(DecodeError::Truncated));
        assert!(matches!(
            Packet::decode(b"\x00\x01file\x00octet"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            Packet::decode(b"\x00\x01file\x00octet\x00blksize\x00"),
            Err(DecodeError::Malformed(_))
        ));
        assert!(matches!(
            Packet::decode(b"\x00\x01\x00octet\x00"),
            Err(DecodeError::Malformed(_))
        ));
    }

    #[test]
    fn negotiation_keeps_only_sane_options() {
        let asked = vec![
            ("blksize".to_string(), "1428".to_string()),
            ("tsize".to_string(), "0".to_string()),
            ("timeout".to_string(), "0".to_string()),
            ("windowsize".to_string(), "4".to_string()),
        ];
        let n = negotiate(&asked, 3120);
        assert_eq!(n.block_size, 1428);
        assert_eq!(n.timeout_secs, None);
        assert_eq!(
            n.acknowledged,
            vec![
                ("blksize".to_string(), "1428".to_string()),
                ("tsize".to_string(), "3120".to_string())
            ]
        );
        assert_eq!(
            negotiate(&[("blksize".into(), "70000".into())], 1).block_size,
            512
        );
    }
}
