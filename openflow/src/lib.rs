//! The OpenFlow wire protocol as Open vSwitch speaks it: versions 1.0, 1.3, 1.4 and 1.5, with the
//! Nicira (NXM/NXAST) extensions Antrea and `ovs-ofctl` use, decoded into and encoded from
//! brisk's own flow model (`pipeline::ofctl`), so a flow added over OpenFlow and one added
//! with `brisk ctl` are the same thing.
//!
//! Pure code: bytes in, typed messages out, and back. No sockets, no threads; the switch's
//! connections live in `switch`. Every decoder is bounds-checked and refuses bad input with
//! the OpenFlow error type and code OVS sends for it ([`OfError`]).

pub mod action;
pub mod async_config;
pub mod buf;
pub mod check;
pub mod errors;
pub mod flow_mod;
pub mod group;
pub mod message;
pub mod meter;
pub mod multipart;
pub mod of10;
pub mod oxm;
pub mod packet_in;
pub mod port;
pub mod target;

pub use message::{decode, encode, Message};

/// OpenFlow 1.0.
pub const OFP10: u8 = 0x01;
/// OpenFlow 1.3.
pub const OFP13: u8 = 0x04;
/// OpenFlow 1.4.
pub const OFP14: u8 = 0x05;
/// OpenFlow 1.5.
pub const OFP15: u8 = 0x06;
/// The versions brisk speaks, lowest first (1.0 for `ovs-ofctl` without `-O`).
pub const VERSIONS: [u8; 4] = [OFP10, OFP13, OFP14, OFP15];

/// Nicira's experimenter id (NX_VENDOR_ID).
pub const NX_VENDOR_ID: u32 = 0x0000_2320;
/// ONF's experimenter id.
pub const ONF_VENDOR_ID: u32 = 0x4f4e_4600;

/// Length of the OpenFlow header.
pub const HEADER_LEN: usize = 8;

/// `ovs-ofctl`'s name of a version (`OpenFlow15`).
pub fn version_name(v: u8) -> &'static str {
    match v {
        OFP10 => "OpenFlow10",
        0x02 => "OpenFlow11",
        0x03 => "OpenFlow12",
        OFP13 => "OpenFlow13",
        OFP14 => "OpenFlow14",
        OFP15 => "OpenFlow15",
        _ => "OpenFlow??",
    }
}

/// A refusal: the OpenFlow error type and code to send, and what was wrong (for logs and
/// counters).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} ({}): {message}", errors::name(self.ty, self.code), self.code_text())]
pub struct OfError {
    /// `ofp_error_type`.
    pub ty: u16,
    /// Code within the type.
    pub code: u16,
    /// What was wrong, and where.
    pub message: String,
}

impl OfError {
    /// A refusal with `(type, code)`.
    pub fn new(tc: (u16, u16), message: impl Into<String>) -> Self {
        OfError {
            ty: tc.0,
            code: tc.1,
            message: message.into(),
        }
    }

    fn code_text(&self) -> String {
        format!("type {}, code {}", self.ty, self.code)
    }
}

/// The fixed header of every message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfHeader {
    /// Protocol version.
    pub version: u8,
    /// Message type.
    pub ty: u8,
    /// Length including the header.
    pub length: u16,
    /// Transaction id.
    pub xid: u32,
}

impl OfHeader {
    /// Reads a header from the first 8 bytes.
    pub fn parse(b: &[u8]) -> Option<OfHeader> {
        if b.len() < HEADER_LEN {
            return None;
        }
        Some(OfHeader {
            version: b[0],
            ty: b[1],
            length: u16::from_be_bytes([b[2], b[3]]),
            xid: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        })
    }
}

/// Where the next message ends in a stream of bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// More bytes are needed.
    More,
    /// The first `n` bytes are one message.
    Message(usize),
    /// The length field is under 8: the stream cannot be framed any more, and the peer must
    /// be disconnected.
    Garbage,
}

/// Frames the next message of a byte stream.
pub fn frame(buf: &[u8]) -> Frame {
    match OfHeader::parse(buf) {
        None => Frame::More,
        Some(h) if usize::from(h.length) < HEADER_LEN => Frame::Garbage,
        Some(h) if buf.len() < usize::from(h.length) => Frame::More,
        Some(h) => Frame::Message(usize::from(h.length)),
    }
}

/// Writes a header with length 0 (patched by [`finish`]); returns where the message starts.
pub fn start(out: &mut Vec<u8>, version: u8, ty: u8, xid: u32) -> usize {
    let at = out.len();
    out.extend_from_slice(&[version, ty, 0, 0]);
    out.extend_from_slice(&xid.to_be_bytes());
    at
}

/// Patches the length of the message started at `at`.
pub fn finish(out: &mut [u8], at: usize) {
    buf::patch_len(out, at + 2, at);
}

/// An OFPT_ERROR for a refused message: its type and code and up to 64 bytes of it.
pub fn error_reply(version: u8, xid: u32, err: &OfError, offending: &[u8]) -> Vec<u8> {
    if version == OFP10 {
        return of10::error_reply(xid, err, offending);
    }
    let mut out = Vec::with_capacity(80);
    let at = start(&mut out, version, message::T_ERROR, xid);
    buf::put16(&mut out, err.ty);
    buf::put16(&mut out, err.code);
    if err.ty == 0xffff {
        // An experimenter error (Nicira's, OpenFlow 1.2+): the code is the experimenter's.
        buf::put32(&mut out, NX_VENDOR_ID);
    }
    out.extend_from_slice(&offending[..offending.len().min(64)]);
    finish(&mut out, at);
    out
}

#[cfg(test)]
mod tests;
