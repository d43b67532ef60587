//! Geneve (RFC 8926) tunnel push and pop on frames: the datapath side of a tunnel port.
//!
//! Push writes outer Ethernet + IPv4 + UDP + Geneve (with options) into the frame's
//! headroom — the payload is never copied. Pop validates every length and checksum before
//! trusting it, strips the outer headers and returns the tunnel metadata the pipeline
//! matches on (`tun_id`, `tun_src`, `tun_dst`, `tun_flags`, `tun_metadata0..7`).

use crate::dpaction::TunnelMeta;
use crate::packet::{checksum, finish, sum16, Frame};
use std::fmt;

/// Geneve's IANA UDP port.
pub const GENEVE_PORT: u16 = 6081;
/// Outer headers without options: Ethernet 14 + IPv4 20 + UDP 8 + Geneve 8.
pub const BASE_OVERHEAD: usize = 50;
/// Ethertype carried by Geneve for Ethernet frames (Transparent Ethernet Bridging).
pub const PROTO_TEB: u16 = 0x6558;

/// One entry of the TLV map: which Geneve option a `tun_metadataN` slot holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TlvEntry {
    /// Option class.
    pub class: u16,
    /// Option type (the high bit marks a critical option).
    pub ty: u8,
    /// Data length in bytes (a multiple of 4, at most 8 in brisk).
    pub len: u8,
}

/// The TLV map of a bridge (`ovs-ofctl add-tlv-map`): slot → option.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TlvMap {
    /// Slots 0..8.
    pub slots: [Option<TlvEntry>; 8],
}

/// Why a TLV map entry was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TlvError {
    /// Syntax error.
    #[error("tlv map: {0}")]
    Syntax(String),
    /// Length not supported.
    #[error("tlv map: option length {0} must be a multiple of 4 between 4 and 8")]
    BadLength(u32),
    /// Slot out of range.
    #[error("tlv map: tun_metadata{0} does not exist (0..7)")]
    BadSlot(u32),
    /// Slot or option already mapped.
    #[error("tlv map: {0} is already mapped")]
    Duplicate(String),
}

impl TlvMap {
    /// Parses and adds entries in `add-tlv-map` syntax:
    /// `{class=0x104,type=0x80,len=4}->tun_metadata0[,{...}->tun_metadataN]`.
    pub fn add(&mut self, spec: &str) -> Result<(), TlvError> {
        let mut rest = spec.trim();
        while !rest.is_empty() {
            let open = rest
                .strip_prefix('{')
                .ok_or_else(|| TlvError::Syntax(format!("expected '{{' at '{rest}'")))?;
            let close = open
                .find('}')
                .ok_or_else(|| TlvError::Syntax("missing '}'".into()))?;
            let body = &open[..close];
            let after = open[close + 1..].trim_start();
            let after = after
                .strip_prefix("->")
                .ok_or_else(|| TlvError::Syntax("expected '->tun_metadataN'".into()))?;
            let end = after.find(',').unwrap_or(after.len());
            let target = after[..end].trim();
            rest = after[end..].trim_start_matches(',').trim();
            let (mut class, mut ty, mut len) = (None, None, None);
            for kv in body.split(',') {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| TlvError::Syntax(format!("expected key=value in '{kv}'")))?;
                let v = crate::ofctl::value_int(v.trim())
                    .ok_or_else(|| TlvError::Syntax(format!("bad number '{v}'")))?;
                let over =
                    |max: u32| TlvError::Syntax(format!("{} {v:#x} is over {max:#x}", k.trim()));
                match k.trim() {
                    "class" => class = Some(u16::try_from(v).map_err(|_| over(0xffff))?),
                    "type" => ty = Some(u8::try_from(v).map_err(|_| over(0xff))?),
                    "len" => len = Some(u32::try_from(v).map_err(|_| over(8))?),
                    other => return Err(TlvError::Syntax(format!("bad key '{other}'"))),
                }
            }
            let (Some(class), Some(ty), Some(len)) = (class, ty, len) else {
                return Err(TlvError::Syntax("need class, type and len".into()));
            };
            if len == 0 || len % 4 != 0 || len > 8 {
                return Err(TlvError::BadLength(len));
            }
            let slot: u32 = target
                .strip_prefix("tun_metadata")
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| TlvError::Syntax(format!("bad target '{target}'")))?;
            if slot >= 8 {
                return Err(TlvError::BadSlot(slot));
            }
            if self.slots[slot as usize].is_some() {
                return Err(TlvError::Duplicate(target.to_string()));
            }
            if self
                .slots
                .iter()
                .flatten()
                .any(|e| e.class == class && e.ty == ty)
            {
                return Err(TlvError::Duplicate(format!("option {class:#x}/{ty:#x}")));
            }
            self.slots[slot as usize] = Some(TlvEntry {
                class,
                ty,
                len: len as u8,
            });
        }
        Ok(())
    }

    /// The slot holding option (class, type).
    pub fn slot_of(&self, class: u16, ty: u8) -> Option<(usize, TlvEntry)> {
        self.slots
            .iter()
            .enumerate()
            .find_map(|(i, e)| e.filter(|e| e.class == class && e.ty == ty).map(|e| (i, e)))
    }

    /// Bytes of options a packet with `present` slots carries.
    pub fn options_len(&self, present: u8) -> usize {
        (0..8)
            .filter(|i| present & (1 << i) != 0)
            .filter_map(|i| self.slots[i])
            .map(|e| 4 + usize::from(e.len))
            .sum()
    }
}

impl fmt::Display for TlvMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, " class  type  length  match field")?;
        writeln!(f, " ------ ----  ------  --------------")?;
        for (i, e) in self.slots.iter().enumerate() {
            if let Some(e) = e {
                writeln!(
                    f,
                    " {:#06x} {:#04x}  {:>6}  tun_metadata{i}",
                    e.class, e.ty, e.len
                )?;
            }
        }
        Ok(())
    }
}

/// Outer-header parameters of a push that are not per-packet tunnel metadata.
#[derive(Clone, Copy, Debug)]
pub struct PushParams {
    /// Outer Ethernet source (the uplink's MAC).
    pub src_mac: u64,
    /// Outer Ethernet destination (the next hop's MAC).
    pub dst_mac: u64,
    /// Outer source IP when the metadata has none (the node IP).
    pub local_ip: u32,
    /// UDP destination port.
    pub dst_port: u16,
    /// Compute the outer UDP checksum.
    pub csum: bool,
    /// Outer TTL when the metadata has none.
    pub ttl: u8,
    /// IP identification to use.
    pub ip_id: u16,
}

/// Why a push failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// Not enough headroom in the frame.
    #[error("not enough headroom for the outer headers")]
    NoHeadroom,
    /// The packet would exceed the underlay MTU.
    #[error("packet too big for the underlay MTU")]
    TooBig,
}

crate::counted_reasons! {
    /// Why a packet output to the tunnel was not sent, for counters.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum EncapDrop {
        NoRoute = ("no_route", "No uplink, or no underlay route to the tunnel destination."),
        Unresolved = ("unresolved", "The next hop did not answer ARP, or its queue of waiting packets was full."),
        TooBig = ("too_big", "Inner frame plus the outer headers exceed the underlay MTU."),
        NoHeadroom = ("no_headroom", "Not enough headroom in the buffer for the outer headers."),
    }
}

impl From<PushError> for EncapDrop {
    fn from(e: PushError) -> Self {
        match e {
            PushError::NoHeadroom => EncapDrop::NoHeadroom,
            PushError::TooBig => EncapDrop::TooBig,
        }
    }
}

/// UDP source port for a flow: a hash of the inner flow folded into 49152..65535 (the
/// ephemeral range), so ECMP in the underlay spreads flows but keeps each flow on one path.
pub fn source_port(inner_hash: u32) -> u16 {
    let h = inner_hash ^ (inner_hash >> 16);
    49152 + (h % 16384) as u16
}

/// Encapsulates the frame in place: outer headers go into the headroom.
pub fn push<F: Frame + ?Sized>(
    f: &mut F,
    meta: &TunnelMeta,
    tlv: &TlvMap,
    p: &PushParams,
    inner_hash: u32,
    mtu: usize,
) -> Result<usize, PushError> {
    let opt_len = tlv.options_len(meta.md_present);
    let outer = BASE_OVERHEAD + opt_len;
    let inner_len = f.len();
    if inner_len + outer - 14 > mtu {
        return Err(PushError::TooBig);
    }
    if !f.prepend(outer) {
        return Err(PushError::NoHeadroom);
    }
    let d = f.data_mut();
    // Ethernet.
    d[0..6].copy_from_slice(&p.dst_mac.to_be_bytes()[2..]);
    d[6..12].copy_from_slice(&p.src_mac.to_be_bytes()[2..]);
    d[12..14].copy_from_slice(&0x0800u16.to_be_bytes());
    // IPv4.
    let src = if meta.src != 0 { meta.src } else { p.local_ip };
    let ttl = if meta.ttl != 0 { meta.ttl } else { p.ttl };
    let ip_len = (outer - 14 + inner_len) as u16;
    let ip = &mut d[14..34];
    ip[0] = 0x45;
    ip[1] = meta.tos;
    ip[2..4].copy_from_slice(&ip_len.to_be_bytes());
    ip[4..6].copy_from_slice(&p.ip_id.to_be_bytes());
    ip[6..8].copy_from_slice(&0x4000u16.to_be_bytes()); // DF
    ip[8] = ttl;
    ip[9] = 17;
    ip[10..12].fill(0);
    ip[12..16].copy_from_slice(&src.to_be_bytes());
    ip[16..20].copy_from_slice(&meta.dst.to_be_bytes());
    let c = checksum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    // UDP.
    let udp_len = ip_len - 20;
    d[34..36].copy_from_slice(&source_port(inner_hash).to_be_bytes());
    d[36..38].copy_from_slice(&p.dst_port.to_be_bytes());
    d[38..40].copy_from_slice(&udp_len.to_be_bytes());
    d[40..42].fill(0);
    // Geneve.
    let g = &mut d[42..50];
    let critical = (0..8)
        .any(|i| meta.md_present & (1 << i) != 0 && tlv.slots[i].is_some_and(|e| e.ty & 0x80 != 0));
    g[0] = (opt_len / 4) as u8; // version 0
    g[1] = (if meta.flags & 1 != 0 { 0x80 } else { 0 }) | (if critical { 0x40 } else { 0 });
    g[2..4].copy_from_slice(&PROTO_TEB.to_be_bytes());
    let vni = (meta.tun_id as u32 & 0x00ff_ffff) << 8;
    g[4..8].copy_from_slice(&vni.to_be_bytes());
    // Options.
    let mut o = 50;
    for i in 0..8 {
        if meta.md_present & (1 << i) == 0 {
            continue;
        }
        let Some(e) = tlv.slots[i] else { continue };
        d[o..o + 2].copy_from_slice(&e.class.to_be_bytes());
        d[o + 2] = e.ty;
        d[o + 3] = e.len / 4;
        let l = usize::from(e.len);
        let v = meta.md[i].to_be_bytes();
        d[o + 4..o + 4 + l].copy_from_slice(&v[8 - l..]);
        o += 4 + l;
    }
    if p.csum {
        let mut ps = [0u8; 12];
        ps[0..4].copy_from_slice(&src.to_be_bytes());
        ps[4..8].copy_from_slice(&meta.dst.to_be_bytes());
        ps[9] = 17;
        ps[10..12].copy_from_slice(&udp_len.to_be_bytes());
        let mut c = finish(sum16(&d[34..], sum16(&ps, 0)));
        if c == 0 {
            c = 0xffff;
        }
        d[40..42].copy_from_slice(&c.to_be_bytes());
    }
    Ok(outer)
}

crate::counted_reasons! {
    /// Why a Geneve packet was dropped at decapsulation (counted by reason).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error)]
    pub enum DecapError {
        #[error("truncated")]
        Truncated = ("truncated", "Shorter than the headers it claims."),
        #[error("bad outer IPv4 header")]
        BadIp = ("bad_ip", "Outer IPv4 header invalid (version, length, checksum, options, fragment)."),
        #[error("bad UDP length")]
        BadUdpLength = ("bad_udp_length", "UDP length inconsistent with the IP length."),
        #[error("bad UDP checksum")]
        BadUdpChecksum = ("bad_udp_checksum", "Outer UDP checksum wrong."),
        #[error("unsupported Geneve version")]
        BadVersion = ("bad_version", "Geneve version other than 0."),
        #[error("bad Geneve option length")]
        BadOptionLength = ("bad_option_length", "Option lengths overrun the option area or each other."),
        #[error("unknown critical option")]
        UnknownCriticalOption = ("unknown_critical_option", "A critical option brisk has no mapping for (RFC 8926 section 3.5.1: must drop)."),
        #[error("option length differs from the TLV map")]
        OptionLengthMismatch = ("option_length_mismatch", "A mapped option whose length differs from its TLV map entry."),
        #[error("payload is not Ethernet")]
        NotEthernet = ("not_ethernet", "Payload protocol other than Ethernet (0x6558)."),
        #[error("inner frame truncated")]
        InnerTruncated = ("inner_truncated", "Inner frame shorter than an Ethernet header."),
    }
}

/// Does this frame look like Geneve to `local_ip` on `port` (IPv4/UDP/dst port, no
/// validation)? Frames for which this is false are not tunnel traffic and go to the
/// uplink's own flows.
pub fn is_geneve_for(d: &[u8], local_ip: u32, port: u16) -> bool {
    d.len() >= 42
        && d[12..14] == [0x08, 0x00]
        && d[14] >> 4 == 4
        && d[23] == 17
        && u32::from_be_bytes([d[30], d[31], d[32], d[33]]) == local_ip
        && {
            let ihl = usize::from(d[14] & 0xf) * 4;
            d.len() >= 14 + ihl + 8
                && u16::from_be_bytes([d[14 + ihl + 2], d[14 + ihl + 3]]) == port
        }
}

/// Validates and strips the outer headers of a Geneve frame (Ethernet + IPv4 + UDP +
/// Geneve), returning the tunnel metadata.
pub fn pop<F: Frame + ?Sized>(f: &mut F, tlv: &TlvMap) -> Result<TunnelMeta, DecapError> {
    let d = f.data();
    if d.len() < 14 + 20 {
        return Err(DecapError::Truncated);
    }
    if d[12..14] != [0x08, 0x00] || d[14] >> 4 != 4 {
        return Err(DecapError::BadIp);
    }
    let ihl = usize::from(d[14] & 0xf) * 4;
    let tot = usize::from(u16::from_be_bytes([d[16], d[17]]));
    if ihl < 20 || tot < ihl + 8 {
        return Err(DecapError::BadIp);
    }
    if d.len() < 14 + tot {
        return Err(DecapError::Truncated);
    }
    let ip = &d[14..14 + ihl];
    if checksum(ip) != 0 {
        return Err(DecapError::BadIp);
    }
    if u16::from_be_bytes([ip[6], ip[7]]) & 0x3fff != 0 {
        return Err(DecapError::BadIp); // outer fragments: not reassembled
    }
    let tos = ip[1];
    let ttl = ip[8];
    let src = u32::from_be_bytes([ip[12], ip[13], ip[14], ip[15]]);
    let dst = u32::from_be_bytes([ip[16], ip[17], ip[18], ip[19]]);
    let u = 14 + ihl;
    let udp_len = usize::from(u16::from_be_bytes([d[u + 4], d[u + 5]]));
    if udp_len < 8 + 8 || udp_len != tot - ihl {
        return Err(DecapError::BadUdpLength);
    }
    let ucsum = u16::from_be_bytes([d[u + 6], d[u + 7]]);
    if ucsum != 0 {
        let mut ps = [0u8; 12];
        ps[0..4].copy_from_slice(&src.to_be_bytes());
        ps[4..8].copy_from_slice(&dst.to_be_bytes());
        ps[9] = 17;
        ps[10..12].copy_from_slice(&(udp_len as u16).to_be_bytes());
        if finish(sum16(&d[u..u + udp_len], sum16(&ps, 0))) != 0 {
            return Err(DecapError::BadUdpChecksum);
        }
    }
    let g = u + 8;
    let ver = d[g] >> 6;
    if ver != 0 {
        return Err(DecapError::BadVersion);
    }
    let opt_len = usize::from(d[g] & 0x3f) * 4;
    let oam = d[g + 1] & 0x80 != 0;
    let proto = u16::from_be_bytes([d[g + 2], d[g + 3]]);
    let vni = u32::from_be_bytes([d[g + 4], d[g + 5], d[g + 6], 0]) >> 8;
    let inner = g + 8 + opt_len;
    if inner > u + udp_len {
        return Err(DecapError::BadOptionLength);
    }
    if proto != PROTO_TEB {
        return Err(DecapError::NotEthernet);
    }
    let mut meta = TunnelMeta {
        tun_id: u64::from(vni),
        src,
        dst,
        tos,
        ttl,
        flags: u16::from(oam),
        md_present: 0,
        md: [0; 8],
    };
    let mut o = g + 8;
    while o < inner {
        if o + 4 > inner {
            return Err(DecapError::BadOptionLength);
        }
        let class = u16::from_be_bytes([d[o], d[o + 1]]);
        let ty = d[o + 2];
        let len = usize::from(d[o + 3] & 0x1f) * 4;
        if o + 4 + len > inner {
            return Err(DecapError::BadOptionLength);
        }
        match tlv.slot_of(class, ty) {
            Some((slot, e)) => {
                if usize::from(e.len) != len {
                    return Err(DecapError::OptionLengthMismatch);
                }
                let mut v = [0u8; 8];
                v[8 - len..].copy_from_slice(&d[o + 4..o + 4 + len]);
                meta.md[slot] = u64::from_be_bytes(v);
                meta.md_present |= 1 << slot;
            }
            None if ty & 0x80 != 0 => return Err(DecapError::UnknownCriticalOption),
            None => {}
        }
        o += 4 + len;
    }
    let end = u + udp_len;
    if end - inner < 14 {
        return Err(DecapError::InnerTruncated);
    }
    let trailer = f.len() - (14 + tot);
    if trailer > 0 {
        f.trim(trailer);
    }
    f.adj(inner);
    Ok(meta)
}

#[cfg(test)]
mod tests;
