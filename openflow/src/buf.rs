//! Big-endian reading and writing of wire structures, with every read bounds-checked.

use crate::{errors as e, OfError};

/// A cursor over received bytes. Every read checks the length; running short is the
/// error the caller names (`BAD_LEN` of its message, action or match).
#[derive(Clone, Copy)]
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// The error to return when the bytes run out.
    short: (u16, u16),
}

impl<'a> Reader<'a> {
    /// Reads `buf`; running short is `short` (an OpenFlow error type and code).
    pub fn new(buf: &'a [u8], short: (u16, u16)) -> Self {
        Reader { buf, pos: 0, short }
    }

    fn need(&self, n: usize, what: &str) -> Result<(), OfError> {
        if self.buf.len() - self.pos < n {
            return Err(OfError::new(
                self.short,
                format!(
                    "{what}: needs {n} bytes at offset {}, {} left",
                    self.pos,
                    self.buf.len() - self.pos
                ),
            ));
        }
        Ok(())
    }

    /// Bytes not yet read.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Offset of the next read.
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// One byte.
    pub fn u8(&mut self, what: &str) -> Result<u8, OfError> {
        Ok(self.bytes(1, what)?[0])
    }

    /// A big-endian u16.
    pub fn u16(&mut self, what: &str) -> Result<u16, OfError> {
        let b = self.bytes(2, what)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    /// A big-endian u32.
    pub fn u32(&mut self, what: &str) -> Result<u32, OfError> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A big-endian u64.
    pub fn u64(&mut self, what: &str) -> Result<u64, OfError> {
        let b = self.bytes(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_be_bytes(a))
    }

    /// `n` bytes.
    pub fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8], OfError> {
        self.need(n, what)?;
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// Skips `n` bytes (padding).
    pub fn skip(&mut self, n: usize, what: &str) -> Result<(), OfError> {
        self.bytes(n, what).map(|_| ())
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        let s = &self.buf[self.pos..];
        self.pos = self.buf.len();
        s
    }
}

/// Reads a big-endian unsigned integer of 1..=16 bytes.
pub fn be_uint(b: &[u8]) -> u128 {
    b.iter().fold(0u128, |acc, &x| (acc << 8) | u128::from(x))
}

/// Appends the low `n` bytes of `v`, big-endian.
pub fn put_be(out: &mut Vec<u8>, v: u128, n: usize) {
    for i in (0..n).rev() {
        out.push((v >> (8 * i)) as u8);
    }
}

/// Appends a u16.
pub fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends a u32.
pub fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends a u64.
pub fn put64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_be_bytes());
}

/// Appends zero bytes until the length since `start` is a multiple of 8.
pub fn pad8(out: &mut Vec<u8>, start: usize) {
    while !(out.len() - start).is_multiple_of(8) {
        out.push(0);
    }
}

/// Writes the u16 length field at `at` as the bytes since `start`.
pub fn patch_len(out: &mut [u8], at: usize, start: usize) {
    let n = (out.len() - start) as u16;
    out[at..at + 2].copy_from_slice(&n.to_be_bytes());
}

/// Zero bytes `n` long.
pub fn zeros(out: &mut Vec<u8>, n: usize) {
    out.resize(out.len() + n, 0);
}

/// The OpenFlow error for a short structure of a kind.
pub fn short_of(kind: u16) -> (u16, u16) {
    match kind {
        e::BAD_ACTION => (e::BAD_ACTION, e::BAD_ACTION_LEN),
        e::BAD_MATCH => (e::BAD_MATCH, e::BAD_MATCH_LEN),
        e::BAD_INSTRUCTION => (e::BAD_INSTRUCTION, e::BAD_INSTRUCTION_LEN),
        _ => (e::BAD_REQUEST, e::BAD_REQUEST_LEN),
    }
}

/// Splits a list of 8-byte-aligned type-length-value items (actions, instructions): each
/// item's type and body (after its 4-byte type and length). A length under 8, not a
/// multiple of 8 or past the end is `short`.
pub fn tlvs<'a>(
    bytes: &'a [u8],
    short: (u16, u16),
    what: &str,
) -> Result<Vec<(u16, &'a [u8])>, OfError> {
    split(bytes, short, what, false)
}

/// Splits a list of OpenFlow properties (`ofp_prop_header`: type, length without padding,
/// the value, padding to 8): each property's type and value. A length under 4 or past the
/// end (padding included) is `short`.
pub fn props<'a>(
    bytes: &'a [u8],
    short: (u16, u16),
    what: &str,
) -> Result<Vec<(u16, &'a [u8])>, OfError> {
    split(bytes, short, what, true)
}

/// Items whose length counts their padding (`padded_after` false: a multiple of 8, at
/// least 8) or not (true: at least 4, padding to 8 follows).
fn split<'a>(
    bytes: &'a [u8],
    short: (u16, u16),
    what: &str,
    padded_after: bool,
) -> Result<Vec<(u16, &'a [u8])>, OfError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let mut r = Reader::new(&bytes[at..], short);
        let ty = r.u16(what)?;
        let len = usize::from(r.u16(what)?);
        let step = len.div_ceil(8) * 8;
        let bad = if padded_after {
            len < 4
        } else {
            len < 8 || len != step
        };
        if bad || at + step > bytes.len() {
            return Err(OfError::new(
                short,
                format!("{what} type {ty} at offset {at}: length {len}"),
            ));
        }
        out.push((ty, &bytes[at + 4..at + len]));
        at += step;
    }
    Ok(out)
}
