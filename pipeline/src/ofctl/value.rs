//! Reading and writing field values: integers, MACs, IP addresses, flag sets, with masks.

use super::{port, PortMap};
use crate::field::{bit_ones, Field, Format};
use crate::flow::{ct_state, nw_frag, tcp_flags};
use std::net::{Ipv4Addr, Ipv6Addr};

/// Hexadecimal the way C's `%#x` writes it: `0x1f`, but plain `0` for zero (OVS prints
/// `load:0->NXM_NX_REG0[0..15]`).
pub(crate) struct Hx(pub u128);

impl std::fmt::Display for Hx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 == 0 {
            f.write_str("0")
        } else {
            write!(f, "{:#x}", self.0)
        }
    }
}

/// Parses a decimal or `0x` hexadecimal integer of up to 128 bits.
pub(crate) fn parse_int(s: &str) -> Option<u128> {
    let s = s.trim();
    if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        if hex.is_empty() || hex.len() > 32 {
            return None;
        }
        u128::from_str_radix(hex, 16).ok()
    } else {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse::<u128>().ok()
    }
}

/// Parses an integer that must fit in `bits` bits.
pub(crate) fn parse_uint(s: &str, bits: u32, what: &str) -> Result<u128, String> {
    let v = parse_int(s).ok_or_else(|| format!("{what}: '{s}' is not a number"))?;
    if v > bit_ones(bits) {
        return Err(format!("{what}: {s} does not fit in {bits} bits"));
    }
    Ok(v)
}

/// Parses `aa:bb:cc:dd:ee:ff` into a 48-bit integer.
pub fn parse_mac(s: &str) -> Option<u64> {
    let mut v = 0u64;
    let mut n = 0;
    for part in s.split(':') {
        if part.is_empty() || part.len() > 2 {
            return None;
        }
        v = (v << 8) | u64::from(u8::from_str_radix(part, 16).ok()?);
        n += 1;
    }
    (n == 6).then_some(v)
}

/// Formats a 48-bit integer as `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(v: u64) -> String {
    let b = v.to_be_bytes();
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        b[2], b[3], b[4], b[5], b[6], b[7]
    )
}

fn parse_ipv4(s: &str) -> Option<u32> {
    s.parse::<Ipv4Addr>().ok().map(u32::from)
}

fn prefix_mask32(len: u32) -> u32 {
    if len == 0 {
        0
    } else {
        u32::MAX << (32 - len)
    }
}

fn prefix_mask128(len: u32) -> u128 {
    if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    }
}

/// CIDR length of a mask if it is a prefix mask.
pub(crate) fn prefix_len32(mask: u32) -> Option<u32> {
    let n = mask.leading_ones();
    (mask.checked_shl(n).unwrap_or(0) == 0).then_some(n)
}

pub(crate) fn prefix_len128(mask: u128) -> Option<u32> {
    let n = mask.leading_ones();
    (mask.checked_shl(n).unwrap_or(0) == 0).then_some(n)
}

/// Splits `value/mask`.
fn split_mask(s: &str) -> (&str, Option<&str>) {
    match s.split_once('/') {
        Some((v, m)) => (v, Some(m)),
        None => (s, None),
    }
}

/// Parses a flag set: `+new-est+trk`, `new|trk`, or an integer with optional mask.
fn parse_flags<T: Copy + Into<u128>>(
    s: &str,
    names: &[(&str, T)],
    all: u128,
    what: &str,
) -> Result<(u128, u128), String> {
    if s.starts_with('+') || s.starts_with('-') {
        let (mut v, mut m) = (0u128, 0u128);
        let mut rest = s;
        while !rest.is_empty() {
            let sign = rest.as_bytes()[0];
            if sign != b'+' && sign != b'-' {
                return Err(format!("{what}: expected '+' or '-' in '{s}'"));
            }
            rest = &rest[1..];
            let end = rest.find(['+', '-']).unwrap_or(rest.len());
            let name = &rest[..end];
            rest = &rest[end..];
            let bit = names
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, b)| (*b).into())
                .ok_or_else(|| format!("{what}: unknown flag '{name}'"))?;
            if m & bit != 0 {
                return Err(format!("{what}: flag '{name}' given twice"));
            }
            m |= bit;
            if sign == b'+' {
                v |= bit;
            }
        }
        return Ok((v, m));
    }
    if s.chars().next().is_some_and(|c| c.is_ascii_alphabetic()) {
        // `new|trk`: the named flags set, every other flag clear.
        let mut v = 0u128;
        for name in s.split('|') {
            let bit = names
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, b)| (*b).into())
                .ok_or_else(|| format!("{what}: unknown flag '{name}'"))?;
            v |= bit;
        }
        return Ok((v, all));
    }
    let (vs, ms) = split_mask(s);
    let v = parse_int(vs).ok_or_else(|| format!("{what}: '{vs}' is not a number or flags"))?;
    let m = match ms {
        Some(ms) => parse_int(ms).ok_or_else(|| format!("{what}: bad mask '{ms}'"))?,
        None => all,
    };
    if v & !all != 0 || m & !all != 0 {
        return Err(format!("{what}: {s} sets bits outside {all:#x}"));
    }
    Ok((v & m, m))
}

/// Parses a port: number, reserved name, `"quoted name"` or bare name through `ports`.
pub(crate) fn parse_port(s: &str, ports: &PortMap) -> Result<u32, String> {
    if let Some(v) = parse_int(s) {
        if v >= u128::from(port::MAX) && v <= 0xffff && port::reserved_name(v as u32).is_none() {
            return Err(format!("port {s} is outside the valid range 0..65279"));
        }
        if v > 0xffff {
            return Err(format!("port {s} is outside the valid range 0..65279"));
        }
        return Ok(v as u32);
    }
    if let Some(p) = port::from_reserved_name(s) {
        return Ok(p);
    }
    let name = if let Some(inner) = s.strip_prefix('"') {
        inner
            .strip_suffix('"')
            .ok_or_else(|| format!("unterminated quoted port name {s}"))?
            .replace("\\\"", "\"")
            .replace("\\\\", "\\")
    } else {
        s.to_string()
    };
    ports.number(&name).ok_or_else(|| ports.unknown(&name))
}

/// Formats a port number the way `ovs-ofctl` does: reserved names, mapped names (quoted when
/// not a plain identifier), or the number.
pub(crate) fn format_port(p: u32, ports: &PortMap) -> String {
    if let Some(n) = port::reserved_name(p) {
        return n.to_string();
    }
    if let Some(name) = ports.name(p) {
        return quote_name(name);
    }
    p.to_string()
}

/// Quotes a port name unless it is a letter followed by letters and digits.
pub(crate) fn quote_name(name: &str) -> String {
    let plain = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric());
    if plain {
        name.to_string()
    } else {
        let mut s = String::with_capacity(name.len() + 2);
        s.push('"');
        for c in name.chars() {
            match c {
                '"' => s.push_str("\\\""),
                '\\' => s.push_str("\\\\"),
                c => s.push(c),
            }
        }
        s.push('"');
        s
    }
}

/// Parses the value (and optional mask) of a field in a match or `set_field`.
/// Returns `(value, mask)` in field coordinates (bit 0 = field bit 0).
pub(crate) fn parse_field_value(
    field: Field,
    name: &str,
    s: &str,
    ports: &PortMap,
) -> Result<(u128, u128), String> {
    let d = field.desc();
    let full = d.valid;
    if s.is_empty() {
        return Err(format!("{name}: missing value"));
    }
    let (v, m) = match d.format {
        Format::Port => (u128::from(parse_port(s, ports)?), full),
        Format::Mac => {
            let (vs, ms) = split_mask(s);
            let v = parse_mac(vs).ok_or_else(|| format!("{name}: '{vs}' is not a MAC address"))?;
            let m = match ms {
                Some(ms) => parse_mac(ms).ok_or_else(|| format!("{name}: bad mask '{ms}'"))?,
                None => 0xffff_ffff_ffff,
            };
            (u128::from(v), u128::from(m))
        }
        Format::Ipv4 => {
            let (vs, ms) = split_mask(s);
            let v =
                parse_ipv4(vs).ok_or_else(|| format!("{name}: '{vs}' is not an IPv4 address"))?;
            let m = match ms {
                None => u32::MAX,
                Some(ms) if ms.contains('.') => {
                    parse_ipv4(ms).ok_or_else(|| format!("{name}: bad netmask '{ms}'"))?
                }
                Some(ms) => {
                    let len: u32 = ms
                        .parse()
                        .ok()
                        .filter(|&l| l <= 32)
                        .ok_or_else(|| format!("{name}: bad prefix length '/{ms}'"))?;
                    prefix_mask32(len)
                }
            };
            (u128::from(v), u128::from(m))
        }
        Format::Ipv6 => {
            let (vs, ms) = split_mask(s);
            let v = vs
                .parse::<Ipv6Addr>()
                .map(u128::from)
                .map_err(|_| format!("{name}: '{vs}' is not an IPv6 address"))?;
            let m = match ms {
                None => u128::MAX,
                Some(ms) if ms.contains(':') => ms
                    .parse::<Ipv6Addr>()
                    .map(u128::from)
                    .map_err(|_| format!("{name}: bad netmask '{ms}'"))?,
                Some(ms) => {
                    let len: u32 = ms
                        .parse()
                        .ok()
                        .filter(|&l| l <= 128)
                        .ok_or_else(|| format!("{name}: bad prefix length '/{ms}'"))?;
                    prefix_mask128(len)
                }
            };
            (v, m)
        }
        Format::CtState => parse_flags(s, &ct_state::NAMES, 0xff, name)?,
        Format::TcpFlags => parse_flags(s, &tcp_flags::NAMES, 0xfff, name)?,
        Format::TunFlags => parse_flags(s, &[("oam", 1u8)], 0x1, name)?,
        Format::Frag => {
            let (v, m) = match s {
                "no" => (0, nw_frag::ANY),
                "yes" => (nw_frag::ANY, nw_frag::ANY),
                "first" => (nw_frag::ANY, nw_frag::MASK),
                "later" => (nw_frag::MASK, nw_frag::MASK),
                "not_later" => (0, nw_frag::LATER),
                _ => {
                    return Err(format!(
                        "{name}: '{s}' is not one of no, yes, first, later, not_later"
                    ))
                }
            };
            (u128::from(v), u128::from(m))
        }
        Format::Decimal | Format::Hex | Format::EthType => {
            let (vs, ms) = split_mask(s);
            let bits = u32::from(d.loc.bits);
            let v = parse_uint(vs, bits, name)?;
            let m = match ms {
                None => full,
                Some(ms) => {
                    if !d.maskable {
                        return Err(format!("{name}: this field cannot be masked"));
                    }
                    parse_uint(ms, bits, name)?
                }
            };
            (v, m)
        }
    };
    if m & !full != 0 && d.format != Format::Decimal && d.format != Format::Hex {
        return Err(format!(
            "{name}: mask {m:#x} sets bits the field does not have"
        ));
    }
    if m != full && m != 0 && !d.maskable && d.format != Format::Port {
        return Err(format!("{name}: this field cannot be masked"));
    }
    Ok((v & m & full, m & full))
}

/// Formats a value with its mask in the field's syntax, for `set_field` (OVS's `mf_format`).
pub(crate) fn format_field_value(field: Field, v: u128, m: u128, ports: &PortMap) -> String {
    let d = field.desc();
    let full = m == d.valid || m == bit_ones(u32::from(d.loc.bits));
    match d.format {
        Format::Port => format_port(v as u32, ports),
        Format::Mac => {
            if full {
                format_mac(v as u64)
            } else {
                format!("{}/{}", format_mac(v as u64), format_mac(m as u64))
            }
        }
        Format::Ipv4 => format_ipv4_masked(v as u32, m as u32),
        Format::Ipv6 => format_ipv6_masked(v, m),
        Format::Decimal => {
            if full {
                v.to_string()
            } else {
                format!("{}/{}", Hx(v), Hx(m))
            }
        }
        Format::EthType => format!("0x{v:04x}"),
        Format::Hex | Format::CtState | Format::TcpFlags | Format::Frag | Format::TunFlags => {
            if full {
                Hx(v).to_string()
            } else {
                format!("{}/{}", Hx(v), Hx(m))
            }
        }
    }
}

/// `10.0.0.0/8`, `10.0.0.1`, or `10.0.0.1/255.0.255.0`.
pub(crate) fn format_ipv4_masked(v: u32, m: u32) -> String {
    let a = Ipv4Addr::from(v);
    if m == u32::MAX {
        a.to_string()
    } else if let Some(len) = prefix_len32(m) {
        format!("{a}/{len}")
    } else {
        format!("{a}/{}", Ipv4Addr::from(m))
    }
}

/// IPv6 address with prefix or mask.
pub(crate) fn format_ipv6_masked(v: u128, m: u128) -> String {
    let a = Ipv6Addr::from(v);
    if m == u128::MAX {
        a.to_string()
    } else if let Some(len) = prefix_len128(m) {
        format!("{a}/{len}")
    } else {
        format!("{a}/{}", Ipv6Addr::from(m))
    }
}

/// `+new-est` style for a masked flag set (OVS's `format_flags_masked`), or `new|trk` when
/// the mask is complete and `bar_when_full`.
pub(crate) fn format_flags<T: Copy + Into<u128>>(
    names: &[(&str, T)],
    v: u128,
    m: u128,
    all: u128,
    bar_when_full: bool,
) -> String {
    if bar_when_full && m == all {
        if v == 0 {
            return "0".to_string();
        }
        let parts: Vec<&str> = names
            .iter()
            .filter(|(_, b)| v & (*b).into() != 0)
            .map(|(n, _)| *n)
            .collect();
        return parts.join("|");
    }
    let mut s = String::new();
    for (n, b) in names {
        let b: u128 = (*b).into();
        if m & b != 0 {
            s.push(if v & b != 0 { '+' } else { '-' });
            s.push_str(n);
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers() {
        assert_eq!(parse_int("0x1f"), Some(31));
        assert_eq!(parse_int("65520"), Some(65520));
        assert_eq!(parse_int("0x"), None);
        assert_eq!(parse_int("-1"), None);
        assert_eq!(parse_int("12a"), None);
        assert!(parse_uint("0x10000", 16, "x").is_err());
    }

    #[test]
    fn macs() {
        assert_eq!(parse_mac("aa:bb:cc:dd:ee:ff"), Some(0xaabbccddeeff));
        assert_eq!(format_mac(0x4e9908c153be), "4e:99:08:c1:53:be");
        assert_eq!(parse_mac("aa:bb:cc:dd:ee"), None);
        assert_eq!(parse_mac("aa:bb:cc:dd:ee:fff"), None);
    }

    #[test]
    fn ipv4_forms() {
        let p = PortMap::new();
        assert_eq!(
            parse_field_value(Field::NwDst, "nw_dst", "10.96.0.0/12", &p).unwrap(),
            (0x0a60_0000, 0xfff0_0000)
        );
        assert_eq!(
            parse_field_value(Field::NwDst, "nw_dst", "10.96.0.0/255.240.0.0", &p).unwrap(),
            (0x0a60_0000, 0xfff0_0000)
        );
        assert!(parse_field_value(Field::NwDst, "nw_dst", "10.96.0.0/33", &p).is_err());
        assert!(parse_field_value(Field::NwDst, "nw_dst", "10.96.0", &p).is_err());
        assert_eq!(format_ipv4_masked(0x0a60_0000, 0xfff0_0000), "10.96.0.0/12");
        assert_eq!(
            format_ipv4_masked(0x0a00_0001, 0xff00_ff00),
            "10.0.0.1/255.0.255.0"
        );
    }

    #[test]
    fn flag_forms() {
        let p = PortMap::new();
        assert_eq!(
            parse_field_value(Field::CtState, "ct_state", "-new+trk", &p).unwrap(),
            (0x20, 0x21)
        );
        assert_eq!(
            parse_field_value(Field::CtState, "ct_state", "new|trk", &p).unwrap(),
            (0x21, 0xff)
        );
        assert_eq!(
            parse_field_value(Field::CtState, "ct_state", "0x21/0x21", &p).unwrap(),
            (0x21, 0x21)
        );
        assert!(parse_field_value(Field::CtState, "ct_state", "+bogus", &p).is_err());
        assert!(parse_field_value(Field::CtState, "ct_state", "+new+new", &p).is_err());
        assert_eq!(
            parse_field_value(Field::TcpFlags, "tcp_flags", "+syn-ack", &p).unwrap(),
            (0x002, 0x012)
        );
        assert_eq!(
            parse_field_value(Field::TcpFlags, "tcp_flags", "0x012/0x0ff", &p).unwrap(),
            (0x012, 0x0ff)
        );
        assert_eq!(
            format_flags(&ct_state::NAMES, 0x20, 0x21, 0xff, true),
            "-new+trk"
        );
        assert_eq!(
            format_flags(&ct_state::NAMES, 0x21, 0xff, 0xff, true),
            "new|trk"
        );
    }

    #[test]
    fn ports() {
        let mut p = PortMap::new();
        p.insert("antrea-gw0", 2);
        p.insert("eth0", 3);
        assert_eq!(parse_port("\"antrea-gw0\"", &p), Ok(2));
        assert_eq!(parse_port("antrea-gw0", &p), Ok(2));
        assert_eq!(parse_port("LOCAL", &p), Ok(port::LOCAL));
        assert_eq!(parse_port("in_port", &p), Ok(port::IN_PORT));
        assert!(parse_port("nope", &p).is_err());
        assert!(parse_port("65280", &p).is_err());
        assert_eq!(format_port(2, &p), "\"antrea-gw0\"");
        assert_eq!(format_port(3, &p), "eth0");
        assert_eq!(format_port(7, &p), "7");
    }
}
