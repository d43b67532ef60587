//! The internet checksum (RFC 1071) and its incremental update (RFC 1624): the one
//! implementation every header of brisk uses.
//!
//! A sum is a `u32` of 16-bit big-endian words added with end-around carry deferred:
//! [`sum16`] adds bytes to one, the pseudo-header functions start one, [`finish`] folds and
//! complements it into the value a header stores.

/// Folds a 32-bit one's-complement sum to 16 bits (not complemented).
#[inline]
pub fn fold(mut s: u32) -> u16 {
    while s >> 16 != 0 {
        s = (s & 0xffff) + (s >> 16);
    }
    s as u16
}

/// One's-complement sum of the 16-bit big-endian words of `data` (an odd last byte is the
/// high byte of a word), added to `init`. Eight bytes a step, in the machine's byte order:
/// a one's-complement sum is the same in either order up to a swap of its two bytes
/// (RFC 1071 §2(B)), made once at the end.
#[inline]
pub fn sum16(data: &[u8], init: u32) -> u32 {
    let mut s = 0u64;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let w = u64::from_ne_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        s += (w & 0xffff_ffff) + (w >> 32);
    }
    let mut rest = chunks.remainder();
    if rest.len() >= 4 {
        s += u64::from(u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]));
        rest = &rest[4..];
    }
    if rest.len() >= 2 {
        s += u64::from(u16::from_ne_bytes([rest[0], rest[1]]));
        rest = &rest[2..];
    }
    if let [last] = rest {
        // The high byte of a big-endian word: where the machine's order puts the first.
        s += u64::from(u16::from_ne_bytes([*last, 0]));
    }
    let native = {
        let mut v = s;
        while v >> 16 != 0 {
            v = (v & 0xffff) + (v >> 16);
        }
        v as u16
    };
    let mut t = u64::from(init) + u64::from(u16::from_be(native));
    while t >> 32 != 0 {
        t = (t & 0xffff_ffff) + (t >> 32);
    }
    t as u32
}

/// The checksum to store for a partial sum from [`sum16`].
#[inline]
pub fn finish(sum: u32) -> u16 {
    !fold(sum)
}

/// Internet checksum of `data`, as stored in headers; 0 when `data` holds a correct one.
#[inline]
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum16(data, 0))
}

/// Updates a stored checksum for a 16-bit word changing from `old` to `new` (RFC 1624).
#[inline]
pub fn update16(csum: u16, old: u16, new: u16) -> u16 {
    !fold(u32::from(!csum) + u32::from(!old) + u32::from(new))
}

/// Updates a stored checksum for a 32-bit value changing from `old` to `new`.
#[inline]
pub fn update32(csum: u16, old: u32, new: u32) -> u16 {
    let c = update16(csum, (old >> 16) as u16, (new >> 16) as u16);
    update16(c, old as u16, new as u16)
}

/// Sum of the IPv4 pseudo-header of an L4 segment of `len` bytes (`len` as a 16-bit field).
#[inline]
pub fn pseudo_header_v4(src: u32, dst: u32, proto: u8, len: usize) -> u32 {
    (src >> 16)
        + (src & 0xffff)
        + (dst >> 16)
        + (dst & 0xffff)
        + u32::from(proto)
        + (len as u16) as u32
}

/// Sum of the IPv6 pseudo-header of an L4 segment of `len` bytes (RFC 8200 §8.1: the
/// length as a 32-bit field).
#[inline]
pub fn pseudo_header_v6(src: u128, dst: u128, proto: u8, len: usize) -> u32 {
    let words = |a: u128| {
        (0..8)
            .map(move |i| ((a >> (16 * i)) & 0xffff) as u32)
            .sum::<u32>()
    };
    let len = len as u32;
    words(src) + words(dst) + (len >> 16) + (len & 0xffff) + u32::from(proto)
}

/// [`sum16`] of `data` with the 16-bit field at `at` (an even offset: a checksum field)
/// taken as zero, whatever it holds. Filling a checksum this way need not store a zero
/// first: reading words across that fresh store and its neighbours would stall the CPU
/// (a store-to-load forwarding failure).
#[inline]
pub fn sum16_skipping(data: &[u8], at: usize, init: u32) -> u32 {
    debug_assert_eq!(at & 1, 0, "a checksum field is 16-bit aligned");
    sum16(&data[at + 2..], sum16(&data[..at], init))
}

/// The checksum to store in the field at `csum_at` of an L4 segment, after a pseudo-header
/// sum; UDP stores 0xffff for 0, as 0 means "no checksum" (`zero_is_none`).
#[inline]
pub(crate) fn l4(segment: &[u8], csum_at: usize, pseudo: u32, zero_is_none: bool) -> u16 {
    match finish(sum16_skipping(segment, csum_at, pseudo)) {
        0 if zero_is_none => 0xffff,
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The word-at-a-time sum, as RFC 1071 writes it: the reference for [`sum16`].
    fn sum16_words(data: &[u8], init: u32) -> u32 {
        let mut s = u64::from(init);
        let mut chunks = data.chunks_exact(2);
        for c in &mut chunks {
            s += u64::from(u16::from_be_bytes([c[0], c[1]]));
        }
        if let [last] = chunks.remainder() {
            s += u64::from(*last) << 8;
        }
        while s >> 32 != 0 {
            s = (s & 0xffff_ffff) + (s >> 32);
        }
        s as u32
    }

    #[test]
    fn eight_bytes_a_step_sums_as_word_by_word() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..200usize {
            for _ in 0..20 {
                let data: Vec<u8> = (0..len)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        x as u8
                    })
                    .collect();
                let init = (x >> 20) as u32 & [0, 0xffff, 0x1_ffff, u32::MAX][len % 4];
                assert_eq!(
                    fold(sum16(&data, init)),
                    fold(sum16_words(&data, init)),
                    "{len} bytes, init {init:#x}"
                );
                assert_eq!(finish(sum16(&data, init)), finish(sum16_words(&data, init)));
            }
        }
        // All ones: the sum stays the nonzero form of zero.
        assert_eq!(fold(sum16(&[0xff; 64], 0)), 0xffff);
        assert_eq!(fold(sum16(&[], 0)), 0);
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(fold(sum16(&data, 0)), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
        // An odd byte is the high byte of a word.
        assert_eq!(sum16(&[0x12], 0), 0x1200);
        assert_eq!(checksum(&[]), 0xffff);
    }

    #[test]
    fn a_stored_checksum_verifies_to_zero() {
        let mut h = [
            0x45, 0, 0, 0x54, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let c = checksum(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(checksum(&h), 0);
    }

    #[test]
    fn incremental_updates_match_a_full_computation() {
        let mut h = [
            0x45, 0, 0, 0x54, 0x12, 0x34, 0x40, 0, 64, 1, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        let c = checksum(&h);
        h[12..16].copy_from_slice(&0xc0a8_0101u32.to_be_bytes());
        assert_eq!(update32(c, 0x0a00_0001, 0xc0a8_0101), checksum(&h));
        let c = checksum(&h);
        h[8] = 63;
        assert_eq!(update16(c, 0x4001, 0x3f01), checksum(&h));
    }

    #[test]
    fn pseudo_headers_sum_their_bytes() {
        let mut p4 = [0u8; 12];
        p4[0..4].copy_from_slice(&0x0a01_0203u32.to_be_bytes());
        p4[4..8].copy_from_slice(&0xfffe_fdfcu32.to_be_bytes());
        p4[9] = 17;
        p4[10..12].copy_from_slice(&1234u16.to_be_bytes());
        assert_eq!(
            fold(pseudo_header_v4(0x0a01_0203, 0xfffe_fdfc, 17, 1234)),
            fold(sum16(&p4, 0))
        );
        let (s, d) = (0xfe80_0000_0000_0000_0000_0000_0000_0001u128, u128::MAX - 7);
        let mut p6 = [0u8; 40];
        p6[..16].copy_from_slice(&s.to_be_bytes());
        p6[16..32].copy_from_slice(&d.to_be_bytes());
        p6[32..36].copy_from_slice(&70_000u32.to_be_bytes());
        p6[39] = 58;
        assert_eq!(
            fold(pseudo_header_v6(s, d, 58, 70_000)),
            fold(sum16(&p6, 0))
        );
    }

    #[test]
    fn a_skipped_field_counts_as_zero() {
        let mut h = [
            0x45u8, 0, 0, 0x54, 0x12, 0x34, 0x40, 0, 64, 1, 0xde, 0xad, 10, 0, 0, 1,
        ];
        let s = sum16_skipping(&h, 10, 7);
        h[10..12].fill(0);
        assert_eq!(s, sum16(&h, 7));
    }

    #[test]
    fn udp_never_stores_zero() {
        // A segment whose checksum computes to 0 stores 0xffff when 0 means none.
        let seg = [0xff, 0xff, 0xab, 0xcd];
        assert_eq!(finish(sum16(&seg[..2], 0)), 0);
        assert_eq!(l4(&seg, 2, 0, true), 0xffff);
        assert_eq!(l4(&seg, 2, 0, false), 0);
    }
}
