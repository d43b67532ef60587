//! Geneve (RFC 8926) tunnel push and pop on frames: the datapath side of a tunnel port.
//!
//! Push writes outer Ethernet + IPv4 + UDP + Geneve (with options) into the frame's
//! headroom — the payload is never copied. Pop validates every length and checksum before
//! trusting it, strips the outer headers and returns the tunnel metadata the pipeline
//! matches on (`tun_id`, `tun_src`, `tun_dst`, `tun_flags`, `tun_metadata0..7`).

use crate::dpaction::TunnelMeta;
use crate::flow::{eth_type, ip_proto};
use crate::packet::Frame;
use crate::wire::{self, ethernet, geneve, ipv4, udp};
use crate::wire::{EthernetFrame, GeneveOption, GenevePacket, Ipv4Packet, UdpPacket};
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

/// UDP source port for a flow: a hash of the inner flow folded into 49152..65535 (the
/// ephemeral range), so ECMP in the underlay spreads flows but keeps each flow on one path.
pub fn source_port(inner_hash: u32) -> u16 {
    let h = inner_hash ^ (inner_hash >> 16);
    49152 + (h % 16384) as u16
}

/// The IPv4 total length a template is built with (replaced per packet).
const TEMPLATE_IP_LEN: u16 = (ipv4::HEADER_LEN + udp::HEADER_LEN) as u16;

/// Largest outer header: the base headers and eight options of 4 + 8 bytes.
pub const MAX_HEADER: usize = BASE_OVERHEAD + 8 * (geneve::OPTION_HEADER_LEN + 8);

/// The outer headers of one tunnel destination (Ethernet, IPv4, UDP, Geneve and options),
/// built once when a flow's tunnel output is translated and cached in its megaflow's
/// `tnl_push` action, as OVS's native tunnelling does: per packet only the IPv4 total
/// length and checksum (updated incrementally), the UDP length and source port, and the
/// optional UDP checksum are written.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct HeaderTemplate {
    bytes: [u8; MAX_HEADER],
    len: u8,
    csum: bool,
}

impl fmt::Debug for HeaderTemplate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HeaderTemplate({} bytes)", self.len)
    }
}

impl HeaderTemplate {
    /// The headers for `meta` (its destination, VNI, options) with `p`'s addresses.
    pub fn new(meta: &TunnelMeta, tlv: &TlvMap, p: &PushParams) -> Self {
        let opt_len = tlv.options_len(meta.md_present);
        let len = BASE_OVERHEAD + opt_len;
        let src = if meta.src != 0 { meta.src } else { p.local_ip };
        let mut bytes = [0u8; MAX_HEADER];
        bytes[..BASE_OVERHEAD].copy_from_slice(&base_headers(
            meta,
            tlv,
            p,
            src,
            TEMPLATE_IP_LEN,
            opt_len,
            0,
        ));
        write_options(&mut bytes[BASE_OVERHEAD..len], meta, tlv);
        HeaderTemplate {
            bytes,
            len: len as u8,
            csum: p.csum,
        }
    }

    /// Length of the outer headers.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Never true (there is always an outer header); for symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The header bytes (lengths, IPv4 checksum base and UDP source port as built).
    pub fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len()]
    }

    /// Whether the outer UDP checksum is computed.
    pub fn csum(&self) -> bool {
        self.csum
    }

    /// Encapsulates the frame in place: the outer headers go into the headroom (the
    /// payload is never copied). `inner_hash` picks the UDP source port.
    #[inline]
    pub fn push<F: Frame + ?Sized>(
        &self,
        f: &mut F,
        inner_hash: u32,
        mtu: usize,
    ) -> Result<usize, PushError> {
        let outer = self.len();
        let inner_len = f.len();
        if inner_len + outer - ethernet::HEADER_LEN > mtu {
            return Err(PushError::TooBig);
        }
        if !f.prepend(outer) {
            return Err(PushError::NoHeadroom);
        }
        let ip_len = (outer - ethernet::HEADER_LEN + inner_len) as u16;
        let d = f.data_mut();
        d[..outer].copy_from_slice(&self.bytes[..outer]);
        let (_, rest) = d.split_at_mut(ethernet::HEADER_LEN);
        let (ip, dgram) = rest.split_at_mut(ipv4::HEADER_LEN);
        let mut ip = Ipv4Packet::new_unchecked(ip);
        // The template's checksum covers its placeholder total length.
        let c = wire::checksum::update16(ip.checksum(), TEMPLATE_IP_LEN, ip_len);
        ip.set_total_len(ip_len);
        ip.set_checksum(c);
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        let mut udp = UdpPacket::new_unchecked(dgram);
        udp.set_src_port(source_port(inner_hash));
        udp.set_len(ip_len - ipv4::HEADER_LEN as u16);
        if self.csum {
            // Over the whole datagram: the UDP header, Geneve and the inner frame.
            udp.fill_checksum_v4(src, dst);
        }
        Ok(outer)
    }
}

/// Encapsulates the frame in place (a template built for this one packet: tools and
/// tests; the datapath builds the template once per megaflow).
pub fn push<F: Frame + ?Sized>(
    f: &mut F,
    meta: &TunnelMeta,
    tlv: &TlvMap,
    p: &PushParams,
    inner_hash: u32,
    mtu: usize,
) -> Result<usize, PushError> {
    HeaderTemplate::new(meta, tlv, p).push(f, inner_hash, mtu)
}

/// The outer Ethernet, IPv4, UDP (checksum zero) and Geneve headers of a push, without the
/// options: built in a local array (in registers, once inlined: the IPv4 checksum does not
/// read back what was just stored) and copied into the frame at once.
#[inline(always)]
fn base_headers(
    meta: &TunnelMeta,
    tlv: &TlvMap,
    p: &PushParams,
    src: u32,
    ip_len: u16,
    opt_len: usize,
    inner_hash: u32,
) -> [u8; BASE_OVERHEAD] {
    let mut h = [0u8; BASE_OVERHEAD];
    let (eth, rest) = h.split_at_mut(ethernet::HEADER_LEN);
    let (ip, rest) = rest.split_at_mut(ipv4::HEADER_LEN);
    let (udp, gnv) = rest.split_at_mut(udp::HEADER_LEN);
    let mut eth = EthernetFrame::new_unchecked(eth);
    eth.set_dst_addr(p.dst_mac);
    eth.set_src_addr(p.src_mac);
    eth.set_ethertype(eth_type::IPV4);
    let mut ip = Ipv4Packet::new_unchecked(ip);
    ip.set_version(4);
    ip.set_header_len(ipv4::HEADER_LEN);
    ip.set_tos(meta.tos);
    ip.set_total_len(ip_len);
    ip.set_ident(p.ip_id);
    ip.set_flags_frag(ipv4::DF);
    ip.set_ttl(if meta.ttl != 0 { meta.ttl } else { p.ttl });
    ip.set_protocol(ip_proto::UDP);
    ip.set_src_addr(src);
    ip.set_dst_addr(meta.dst);
    ip.fill_checksum();
    let mut udp = UdpPacket::new_unchecked(udp);
    udp.set_src_port(source_port(inner_hash));
    udp.set_dst_port(p.dst_port);
    udp.set_len(ip_len - ipv4::HEADER_LEN as u16);
    udp.set_checksum(0);
    let mut g = GenevePacket::new_unchecked(gnv);
    let critical = (0..8)
        .any(|i| meta.md_present & (1 << i) != 0 && tlv.slots[i].is_some_and(|e| e.ty & 0x80 != 0));
    g.set_version(0);
    g.set_options_len(opt_len);
    g.set_flags(meta.flags & 1 != 0, critical);
    g.set_protocol_type(PROTO_TEB);
    g.set_vni(meta.tun_id as u32);
    h
}

/// Writes the options of the slots `meta` carries, in slot order, into `opts` (exactly
/// their length).
#[inline]
fn write_options(mut opts: &mut [u8], meta: &TunnelMeta, tlv: &TlvMap) {
    for i in 0..8 {
        if meta.md_present & (1 << i) == 0 {
            continue;
        }
        let Some(e) = tlv.slots[i] else { continue };
        let l = usize::from(e.len);
        let (this, rest) = opts.split_at_mut(geneve::OPTION_HEADER_LEN + l);
        let mut o = GeneveOption::new_unchecked(this);
        o.set_class(e.class);
        o.set_option_type(e.ty);
        o.set_data_len(l);
        o.data_mut()
            .copy_from_slice(&meta.md[i].to_be_bytes()[8 - l..]);
        opts = rest;
    }
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
    // Ethernet, the IPv4 header's fixed part and a UDP header's worth after it: the fields
    // read are in the frame, whatever their values.
    if d.len() < ethernet::HEADER_LEN + ipv4::HEADER_LEN + udp::HEADER_LEN {
        return false;
    }
    let eth = EthernetFrame::new_unchecked(d);
    let ip = Ipv4Packet::new_unchecked(eth.payload());
    eth.ethertype() == eth_type::IPV4
        && ip.version() == 4
        && ip.protocol() == ip_proto::UDP
        && ip.dst_addr() == local_ip
        && ip.as_bytes().len() >= ip.header_len() + udp::HEADER_LEN
        && UdpPacket::new_unchecked(&ip.as_bytes()[ip.header_len()..]).dst_port() == port
}

/// The reason for an outer IPv4 header `new_checked` refused, the fixed header being in the
/// frame: a header that is wrong in itself (version, header length, a total length too
/// short for UDP) is `BadIp` whether or not the frame holds it all; otherwise the frame is
/// shorter than the header says.
#[cold]
fn outer_ip_error(ip: &[u8]) -> DecapError {
    let ip = Ipv4Packet::new_unchecked(ip);
    let hl = ip.header_len();
    if ip.version() != 4 || hl < ipv4::HEADER_LEN || usize::from(ip.total_len()) < hl + 8 {
        DecapError::BadIp
    } else {
        DecapError::Truncated
    }
}

/// Validates and strips the outer headers of a Geneve frame (Ethernet + IPv4 + UDP +
/// Geneve), returning the tunnel metadata.
pub fn pop<F: Frame + ?Sized>(f: &mut F, tlv: &TlvMap) -> Result<TunnelMeta, DecapError> {
    let d = f.data();
    if d.len() < ethernet::HEADER_LEN + ipv4::HEADER_LEN {
        return Err(DecapError::Truncated);
    }
    let eth = EthernetFrame::new_unchecked(d);
    if eth.ethertype() != eth_type::IPV4 {
        return Err(DecapError::BadIp);
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).map_err(|_| outer_ip_error(eth.payload()))?;
    if usize::from(ip.total_len()) < ip.header_len() + udp::HEADER_LEN
        || !ip.verify_checksum()
        || ip.is_fragment()
    {
        return Err(DecapError::BadIp); // outer fragments: not reassembled
    }
    let (src, dst) = (ip.src_addr(), ip.dst_addr());
    let dgram = ip.payload();
    let udp = UdpPacket::new_checked(dgram).map_err(|_| DecapError::BadUdpLength)?;
    if usize::from(udp.len()) != dgram.len()
        || usize::from(udp.len()) < udp::HEADER_LEN + geneve::HEADER_LEN
    {
        return Err(DecapError::BadUdpLength);
    }
    if !udp.verify_checksum_v4(src, dst) {
        return Err(DecapError::BadUdpChecksum);
    }
    let g = GenevePacket::new_checked(udp.payload()).map_err(|e| match e {
        wire::Error::BadVersion { .. } => DecapError::BadVersion,
        _ => DecapError::BadOptionLength,
    })?;
    if g.protocol_type() != PROTO_TEB {
        return Err(DecapError::NotEthernet);
    }
    let mut meta = TunnelMeta {
        tun_id: u64::from(g.vni()),
        src,
        dst,
        tos: ip.tos(),
        ttl: ip.ttl(),
        flags: u16::from(g.oam()),
        md_present: 0,
        md: [0; 8],
    };
    if g.options_len() != 0 {
        read_options(&g, tlv, &mut meta)?;
    }
    if g.payload().len() < ethernet::HEADER_LEN {
        return Err(DecapError::InnerTruncated);
    }
    let inner = ethernet::HEADER_LEN + ip.header_len() + udp::HEADER_LEN + g.header_len();
    let trailer = d.len() - (ethernet::HEADER_LEN + usize::from(ip.total_len()));
    if trailer > 0 {
        f.trim(trailer);
    }
    f.adj(inner);
    Ok(meta)
}

/// Reads the options into the slots of `tlv`'s map: an unknown critical option, a mapped
/// one of another length, or options overrunning their area refuse the packet.
#[inline(always)]
fn read_options(
    g: &GenevePacket<&[u8]>,
    tlv: &TlvMap,
    meta: &mut TunnelMeta,
) -> Result<(), DecapError> {
    for opt in g.options() {
        let opt = opt.map_err(|_| DecapError::BadOptionLength)?;
        match tlv.slot_of(opt.class(), opt.option_type()) {
            Some((slot, e)) => {
                let len = opt.data_len();
                if usize::from(e.len) != len {
                    return Err(DecapError::OptionLengthMismatch);
                }
                let mut v = [0u8; 8];
                v[8 - len..].copy_from_slice(opt.data());
                meta.md[slot] = u64::from_be_bytes(v);
                meta.md_present |= 1 << slot;
            }
            None if opt.is_critical() => return Err(DecapError::UnknownCriticalOption),
            None => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
