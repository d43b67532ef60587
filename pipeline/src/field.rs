//! The field registry: every OpenFlow/NXM field brisk knows, where it lives in a [`Flow`],
//! how wide it is, what it requires, and how `ovs-ofctl` spells and prints it.
//!
//! Several fields share one location, as in OVS (`arp_spa` is `nw_src`, `icmp_type` is
//! `tp_src`): the name a rule used decides the prerequisite check, the location decides the
//! match.

use crate::flow::{eth_type, ip_proto, w, Flow};

/// A field as rules and actions name it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Field {
    /// OpenFlow input port.
    InPort,
    /// Recirculation id (datapath pass after `ct`).
    RecircId,
    /// Ethernet source.
    EthSrc,
    /// Ethernet destination.
    EthDst,
    /// Ethertype (after VLAN tags).
    EthType,
    /// 802.1Q TCI with the CFI ("present") bit.
    VlanTci,
    /// VLAN id (12 bits of the TCI; matching it also requires a tag).
    DlVlan,
    /// VLAN priority (3 bits of the TCI).
    DlVlanPcp,
    /// IPv4 source.
    NwSrc,
    /// IPv4 destination.
    NwDst,
    /// IP protocol.
    NwProto,
    /// IP ToS byte, DSCP bits only (`nw_tos`).
    NwTos,
    /// DSCP value (0..63).
    IpDscp,
    /// ECN bits.
    NwEcn,
    /// IP TTL / hop limit.
    NwTtl,
    /// Fragment bits (`nw_frag`).
    NwFrag,
    /// Transport source port, any of TCP/UDP/SCTP (`tp_src`).
    TpSrc,
    /// Transport destination port, any of TCP/UDP/SCTP (`tp_dst`).
    TpDst,
    /// TCP source port.
    TcpSrc,
    /// TCP destination port.
    TcpDst,
    /// UDP source port.
    UdpSrc,
    /// UDP destination port.
    UdpDst,
    /// SCTP source port.
    SctpSrc,
    /// SCTP destination port.
    SctpDst,
    /// TCP flags (12 bits).
    TcpFlags,
    /// ICMPv4 type.
    IcmpType,
    /// ICMPv4 code.
    IcmpCode,
    /// ICMPv6 type.
    Icmpv6Type,
    /// ICMPv6 code.
    Icmpv6Code,
    /// ARP opcode.
    ArpOp,
    /// ARP sender protocol address.
    ArpSpa,
    /// ARP target protocol address.
    ArpTpa,
    /// ARP sender hardware address.
    ArpSha,
    /// ARP target hardware address.
    ArpTha,
    /// IPv6 source.
    Ipv6Src,
    /// IPv6 destination.
    Ipv6Dst,
    /// IPv6 flow label.
    Ipv6Label,
    /// Neighbour discovery target.
    NdTarget,
    /// ND source link-layer address.
    NdSll,
    /// ND target link-layer address.
    NdTll,
    /// Connection state bits.
    CtState,
    /// Conntrack zone.
    CtZone,
    /// Connection mark.
    CtMark,
    /// Connection label (128 bits).
    CtLabel,
    /// Packet mark (skb mark).
    PktMark,
    /// Tunnel key (VNI).
    TunId,
    /// Tunnel outer IPv4 source.
    TunSrc,
    /// Tunnel outer IPv4 destination.
    TunDst,
    /// Tunnel flags.
    TunFlags,
    /// Tunnel outer TOS (read only).
    TunTos,
    /// Tunnel outer TTL (read only).
    TunTtl,
    /// Geneve option slot N (0..8), mapped by the TLV map.
    TunMetadata(u8),
    /// 32-bit register N (0..16).
    Reg(u8),
    /// 64-bit register N (0..8): `reg(2N)` high, `reg(2N+1)` low.
    Xreg(u8),
    /// 128-bit register N (0..4): `reg(4N)` highest.
    Xxreg(u8),
    /// 64-bit pipeline metadata.
    Metadata,
    /// Matched conjunction id.
    ConjId,
}

/// Where a field's bits sit in a [`Flow`].
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Loc {
    /// First word. For fields wider than 64 bits, this word holds the high 64 bits and the
    /// next word the low 64 bits.
    pub word: u8,
    /// Bit offset of the field's bit 0 inside the word (0 for fields wider than 64 bits).
    pub shift: u8,
    /// Width in bits (1..=128).
    pub bits: u8,
}

/// What must hold for a rule to match (or set) a field, as OVS's `mf_are_prereqs_ok` checks.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Prereq {
    /// Always available.
    None,
    /// `vlan_tci` must have the present bit matched set.
    Vlan,
    /// `dl_type` is ARP or RARP.
    Arp,
    /// `dl_type` is IPv4.
    Ipv4,
    /// `dl_type` is IPv6.
    Ipv6,
    /// `dl_type` is IPv4 or IPv6.
    IpAny,
    /// IP with `nw_proto` = TCP.
    Tcp,
    /// IP with `nw_proto` = UDP.
    Udp,
    /// IP with `nw_proto` = SCTP.
    Sctp,
    /// IP with `nw_proto` = TCP, UDP or SCTP.
    L4Ports,
    /// IPv4 with `nw_proto` = ICMP.
    Icmpv4,
    /// IPv6 with `nw_proto` = ICMPv6.
    Icmpv6,
    /// ICMP or ICMPv6 (`icmp_type` is printed for both, as OVS does).
    IcmpAny,
    /// ICMPv6 neighbour solicitation or advertisement.
    Nd,
    /// ND solicitation (`icmp_type=135`).
    NdSolicit,
    /// ND advertisement (`icmp_type=136`).
    NdAdvert,
}

/// How a field's value is written in flows.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    /// Decimal integer.
    Decimal,
    /// `0x`-prefixed hexadecimal.
    Hex,
    /// `aa:bb:cc:dd:ee:ff`.
    Mac,
    /// Dotted quad.
    Ipv4,
    /// IPv6 text form.
    Ipv6,
    /// OpenFlow port number or name.
    Port,
    /// `+new-est` flags.
    CtState,
    /// `+syn-ack` flags.
    TcpFlags,
    /// `first`/`later`/`no`/...
    Frag,
    /// `oam` flags.
    TunFlags,
    /// Ethertype as `0x%04x`.
    EthType,
}

/// Everything the parser, printer and executor need to know about a field.
#[derive(Clone, Copy, Debug)]
pub struct FieldDesc {
    /// Canonical `ovs-ofctl` name.
    pub name: &'static str,
    /// NXM/OXM name used in subfield notation (`NXM_NX_REG0[0..15]`), if any.
    pub nxm: Option<&'static str>,
    /// Location in the flow.
    pub loc: Loc,
    /// Bits of the field that exist (e.g. `0xfc` for `nw_tos`); all ones for most fields.
    pub valid: u128,
    /// Prerequisite.
    pub prereq: Prereq,
    /// Value syntax.
    pub format: Format,
    /// Whether arbitrary bitwise masks are allowed in a match.
    pub maskable: bool,
    /// Whether actions may write it.
    pub writable: bool,
}

const fn loc(word: usize, shift: u8, bits: u8) -> Loc {
    Loc {
        word: word as u8,
        shift,
        bits,
    }
}

const fn ones(bits: u8) -> u128 {
    if bits >= 128 {
        u128::MAX
    } else {
        (1u128 << bits) - 1
    }
}

const fn d(
    name: &'static str,
    nxm: Option<&'static str>,
    loc: Loc,
    prereq: Prereq,
    format: Format,
    maskable: bool,
    writable: bool,
) -> FieldDesc {
    FieldDesc {
        name,
        nxm,
        loc,
        valid: ones(loc.bits),
        prereq,
        format,
        maskable,
        writable,
    }
}

const REG_NXM: [&str; 16] = [
    "NXM_NX_REG0",
    "NXM_NX_REG1",
    "NXM_NX_REG2",
    "NXM_NX_REG3",
    "NXM_NX_REG4",
    "NXM_NX_REG5",
    "NXM_NX_REG6",
    "NXM_NX_REG7",
    "NXM_NX_REG8",
    "NXM_NX_REG9",
    "NXM_NX_REG10",
    "NXM_NX_REG11",
    "NXM_NX_REG12",
    "NXM_NX_REG13",
    "NXM_NX_REG14",
    "NXM_NX_REG15",
];
const REG_NAMES: [&str; 16] = [
    "reg0", "reg1", "reg2", "reg3", "reg4", "reg5", "reg6", "reg7", "reg8", "reg9", "reg10",
    "reg11", "reg12", "reg13", "reg14", "reg15",
];
const XREG_NAMES: [&str; 8] = [
    "xreg0", "xreg1", "xreg2", "xreg3", "xreg4", "xreg5", "xreg6", "xreg7",
];
const XREG_OXM: [&str; 8] = [
    "OXM_OF_PKT_REG0",
    "OXM_OF_PKT_REG1",
    "OXM_OF_PKT_REG2",
    "OXM_OF_PKT_REG3",
    "OXM_OF_PKT_REG4",
    "OXM_OF_PKT_REG5",
    "OXM_OF_PKT_REG6",
    "OXM_OF_PKT_REG7",
];
const XXREG_NAMES: [&str; 4] = ["xxreg0", "xxreg1", "xxreg2", "xxreg3"];
const XXREG_NXM: [&str; 4] = [
    "NXM_NX_XXREG0",
    "NXM_NX_XXREG1",
    "NXM_NX_XXREG2",
    "NXM_NX_XXREG3",
];
const TUN_MD_NAMES: [&str; 8] = [
    "tun_metadata0",
    "tun_metadata1",
    "tun_metadata2",
    "tun_metadata3",
    "tun_metadata4",
    "tun_metadata5",
    "tun_metadata6",
    "tun_metadata7",
];
const TUN_MD_NXM: [&str; 8] = [
    "NXM_NX_TUN_METADATA0",
    "NXM_NX_TUN_METADATA1",
    "NXM_NX_TUN_METADATA2",
    "NXM_NX_TUN_METADATA3",
    "NXM_NX_TUN_METADATA4",
    "NXM_NX_TUN_METADATA5",
    "NXM_NX_TUN_METADATA6",
    "NXM_NX_TUN_METADATA7",
];

/// Number of tunnel metadata slots (`tun_metadata0..7`).
pub const TUN_METADATA_SLOTS: usize = 8;
/// Bytes of option data one slot can hold.
pub const TUN_METADATA_MAX_LEN: usize = 8;

impl Field {
    /// The field's description.
    pub const fn desc(self) -> FieldDesc {
        use Format as F;
        use Prereq as P;
        match self {
            Field::InPort => d(
                "in_port",
                Some("NXM_OF_IN_PORT"),
                loc(w::PORT, 0, 32),
                P::None,
                F::Port,
                false,
                true,
            ),
            Field::RecircId => d(
                "recirc_id",
                Some("NXM_NX_RECIRC_ID"),
                loc(w::PORT, 32, 32),
                P::None,
                F::Decimal,
                false,
                false,
            ),
            Field::EthSrc => d(
                "eth_src",
                Some("NXM_OF_ETH_SRC"),
                loc(w::ETH_SRC, 0, 48),
                P::None,
                F::Mac,
                true,
                true,
            ),
            Field::EthDst => d(
                "eth_dst",
                Some("NXM_OF_ETH_DST"),
                loc(w::ETH_DST, 0, 48),
                P::None,
                F::Mac,
                true,
                true,
            ),
            Field::EthType => d(
                "eth_type",
                Some("NXM_OF_ETH_TYPE"),
                loc(w::ETH_DST, 48, 16),
                P::None,
                F::EthType,
                false,
                false,
            ),
            Field::VlanTci => d(
                "vlan_tci",
                Some("NXM_OF_VLAN_TCI"),
                loc(w::ETH_SRC, 48, 16),
                P::None,
                F::Hex,
                true,
                true,
            ),
            Field::DlVlan => FieldDesc {
                valid: 0x0fff,
                ..d(
                    "dl_vlan",
                    None,
                    loc(w::ETH_SRC, 48, 12),
                    P::None,
                    F::Decimal,
                    false,
                    true,
                )
            },
            Field::DlVlanPcp => d(
                "dl_vlan_pcp",
                None,
                loc(w::ETH_SRC, 61, 3),
                P::None,
                F::Decimal,
                false,
                true,
            ),
            Field::NwSrc => d(
                "ip_src",
                Some("NXM_OF_IP_SRC"),
                loc(w::NW_ADDR, 0, 32),
                P::Ipv4,
                F::Ipv4,
                true,
                true,
            ),
            Field::NwDst => d(
                "ip_dst",
                Some("NXM_OF_IP_DST"),
                loc(w::NW_ADDR, 32, 32),
                P::Ipv4,
                F::Ipv4,
                true,
                true,
            ),
            Field::NwProto => d(
                "nw_proto",
                Some("NXM_OF_IP_PROTO"),
                loc(w::NW_L4, 0, 8),
                P::IpAny,
                F::Decimal,
                false,
                false,
            ),
            Field::NwTos => FieldDesc {
                valid: 0xfc,
                ..d(
                    "nw_tos",
                    Some("NXM_OF_IP_TOS"),
                    loc(w::NW_L4, 8, 8),
                    P::IpAny,
                    F::Decimal,
                    false,
                    true,
                )
            },
            Field::IpDscp => d(
                "ip_dscp",
                Some("OXM_OF_IP_DSCP"),
                loc(w::NW_L4, 10, 6),
                P::IpAny,
                F::Decimal,
                false,
                true,
            ),
            Field::NwEcn => d(
                "nw_ecn",
                Some("NXM_NX_IP_ECN"),
                loc(w::NW_L4, 8, 2),
                P::IpAny,
                F::Decimal,
                false,
                true,
            ),
            Field::NwTtl => d(
                "nw_ttl",
                Some("NXM_NX_IP_TTL"),
                loc(w::NW_L4, 16, 8),
                P::IpAny,
                F::Decimal,
                false,
                true,
            ),
            Field::NwFrag => FieldDesc {
                valid: 0x3,
                ..d(
                    "nw_frag",
                    Some("NXM_NX_IP_FRAG"),
                    loc(w::NW_L4, 24, 8),
                    P::IpAny,
                    F::Frag,
                    true,
                    false,
                )
            },
            Field::TpSrc => d(
                "tp_src",
                None,
                loc(w::NW_L4, 32, 16),
                P::L4Ports,
                F::Decimal,
                true,
                true,
            ),
            Field::TpDst => d(
                "tp_dst",
                None,
                loc(w::NW_L4, 48, 16),
                P::L4Ports,
                F::Decimal,
                true,
                true,
            ),
            Field::TcpSrc => d(
                "tcp_src",
                Some("NXM_OF_TCP_SRC"),
                loc(w::NW_L4, 32, 16),
                P::Tcp,
                F::Decimal,
                true,
                true,
            ),
            Field::TcpDst => d(
                "tcp_dst",
                Some("NXM_OF_TCP_DST"),
                loc(w::NW_L4, 48, 16),
                P::Tcp,
                F::Decimal,
                true,
                true,
            ),
            Field::UdpSrc => d(
                "udp_src",
                Some("NXM_OF_UDP_SRC"),
                loc(w::NW_L4, 32, 16),
                P::Udp,
                F::Decimal,
                true,
                true,
            ),
            Field::UdpDst => d(
                "udp_dst",
                Some("NXM_OF_UDP_DST"),
                loc(w::NW_L4, 48, 16),
                P::Udp,
                F::Decimal,
                true,
                true,
            ),
            Field::SctpSrc => d(
                "sctp_src",
                Some("OXM_OF_SCTP_SRC"),
                loc(w::NW_L4, 32, 16),
                P::Sctp,
                F::Decimal,
                true,
                true,
            ),
            Field::SctpDst => d(
                "sctp_dst",
                Some("OXM_OF_SCTP_DST"),
                loc(w::NW_L4, 48, 16),
                P::Sctp,
                F::Decimal,
                true,
                true,
            ),
            Field::TcpFlags => FieldDesc {
                valid: 0x0fff,
                ..d(
                    "tcp_flags",
                    Some("NXM_NX_TCP_FLAGS"),
                    loc(w::CT, 16, 16),
                    P::Tcp,
                    F::TcpFlags,
                    true,
                    false,
                )
            },
            Field::IcmpType => d(
                "icmp_type",
                Some("NXM_OF_ICMP_TYPE"),
                loc(w::NW_L4, 32, 8),
                P::IcmpAny,
                F::Decimal,
                false,
                true,
            ),
            Field::IcmpCode => d(
                "icmp_code",
                Some("NXM_OF_ICMP_CODE"),
                loc(w::NW_L4, 48, 8),
                P::IcmpAny,
                F::Decimal,
                false,
                true,
            ),
            Field::Icmpv6Type => d(
                "icmpv6_type",
                Some("NXM_NX_ICMPV6_TYPE"),
                loc(w::NW_L4, 32, 8),
                P::Icmpv6,
                F::Decimal,
                false,
                true,
            ),
            Field::Icmpv6Code => d(
                "icmpv6_code",
                Some("NXM_NX_ICMPV6_CODE"),
                loc(w::NW_L4, 48, 8),
                P::Icmpv6,
                F::Decimal,
                false,
                true,
            ),
            Field::ArpOp => d(
                "arp_op",
                Some("NXM_OF_ARP_OP"),
                loc(w::NW_L4, 0, 8),
                P::Arp,
                F::Decimal,
                false,
                true,
            ),
            Field::ArpSpa => d(
                "arp_spa",
                Some("NXM_OF_ARP_SPA"),
                loc(w::NW_ADDR, 0, 32),
                P::Arp,
                F::Ipv4,
                true,
                true,
            ),
            Field::ArpTpa => d(
                "arp_tpa",
                Some("NXM_OF_ARP_TPA"),
                loc(w::NW_ADDR, 32, 32),
                P::Arp,
                F::Ipv4,
                true,
                true,
            ),
            Field::ArpSha => d(
                "arp_sha",
                Some("NXM_NX_ARP_SHA"),
                loc(w::ARP_SHA, 0, 48),
                P::Arp,
                F::Mac,
                true,
                true,
            ),
            Field::ArpTha => d(
                "arp_tha",
                Some("NXM_NX_ARP_THA"),
                loc(w::ARP_THA, 0, 48),
                P::Arp,
                F::Mac,
                true,
                true,
            ),
            Field::Ipv6Src => d(
                "ipv6_src",
                Some("NXM_NX_IPV6_SRC"),
                loc(w::IPV6_SRC, 0, 128),
                P::Ipv6,
                F::Ipv6,
                true,
                true,
            ),
            Field::Ipv6Dst => d(
                "ipv6_dst",
                Some("NXM_NX_IPV6_DST"),
                loc(w::IPV6_DST, 0, 128),
                P::Ipv6,
                F::Ipv6,
                true,
                true,
            ),
            Field::Ipv6Label => d(
                "ipv6_label",
                Some("NXM_NX_IPV6_LABEL"),
                loc(w::IPV6_LABEL, 0, 20),
                P::Ipv6,
                F::Hex,
                true,
                true,
            ),
            Field::NdTarget => d(
                "nd_target",
                Some("NXM_NX_ND_TARGET"),
                loc(w::ND_TARGET, 0, 128),
                P::Nd,
                F::Ipv6,
                true,
                true,
            ),
            Field::NdSll => d(
                "nd_sll",
                Some("NXM_NX_ND_SLL"),
                loc(w::ARP_SHA, 0, 48),
                P::NdSolicit,
                F::Mac,
                true,
                true,
            ),
            Field::NdTll => d(
                "nd_tll",
                Some("NXM_NX_ND_TLL"),
                loc(w::ARP_THA, 0, 48),
                P::NdAdvert,
                F::Mac,
                true,
                true,
            ),
            Field::CtState => d(
                "ct_state",
                Some("NXM_NX_CT_STATE"),
                loc(w::CT, 0, 8),
                P::None,
                F::CtState,
                true,
                false,
            ),
            Field::CtZone => d(
                "ct_zone",
                Some("NXM_NX_CT_ZONE"),
                loc(w::CT, 32, 16),
                P::None,
                F::Decimal,
                false,
                false,
            ),
            Field::CtMark => d(
                "ct_mark",
                Some("NXM_NX_CT_MARK"),
                loc(w::CT_MARK, 0, 32),
                P::None,
                F::Hex,
                true,
                true,
            ),
            Field::CtLabel => d(
                "ct_label",
                Some("NXM_NX_CT_LABEL"),
                loc(w::CT_LABEL, 0, 128),
                P::None,
                F::Hex,
                true,
                true,
            ),
            Field::PktMark => d(
                "pkt_mark",
                Some("NXM_NX_PKT_MARK"),
                loc(w::CT_MARK, 32, 32),
                P::None,
                F::Hex,
                true,
                true,
            ),
            Field::TunId => d(
                "tun_id",
                Some("NXM_NX_TUN_ID"),
                loc(w::TUN_ID, 0, 64),
                P::None,
                F::Hex,
                true,
                true,
            ),
            Field::TunSrc => d(
                "tun_src",
                Some("NXM_NX_TUN_IPV4_SRC"),
                loc(w::TUN_ADDR, 0, 32),
                P::None,
                F::Ipv4,
                true,
                true,
            ),
            Field::TunDst => d(
                "tun_dst",
                Some("NXM_NX_TUN_IPV4_DST"),
                loc(w::TUN_ADDR, 32, 32),
                P::None,
                F::Ipv4,
                true,
                true,
            ),
            Field::TunFlags => FieldDesc {
                valid: 0x1,
                ..d(
                    "tun_flags",
                    Some("NXM_NX_TUN_FLAGS"),
                    loc(w::TUN_FLAGS, 0, 16),
                    P::None,
                    F::TunFlags,
                    true,
                    true,
                )
            },
            Field::TunTos => d(
                "tun_tos",
                None,
                loc(w::TUN_FLAGS, 16, 8),
                P::None,
                F::Decimal,
                false,
                false,
            ),
            Field::TunTtl => d(
                "tun_ttl",
                None,
                loc(w::TUN_FLAGS, 24, 8),
                P::None,
                F::Decimal,
                false,
                false,
            ),
            Field::TunMetadata(n) => d(
                TUN_MD_NAMES[n as usize & 7],
                Some(TUN_MD_NXM[n as usize & 7]),
                loc(w::TUN_MD + (n as usize & 7), 0, 64),
                P::None,
                F::Hex,
                true,
                true,
            ),
            Field::Reg(n) => {
                let n = n as usize & 15;
                let shift = if n.is_multiple_of(2) { 32 } else { 0 };
                d(
                    REG_NAMES[n],
                    Some(REG_NXM[n]),
                    loc(w::REGS + n / 2, shift, 32),
                    P::None,
                    F::Hex,
                    true,
                    true,
                )
            }
            Field::Xreg(n) => d(
                XREG_NAMES[n as usize & 7],
                Some(XREG_OXM[n as usize & 7]),
                loc(w::REGS + (n as usize & 7), 0, 64),
                P::None,
                F::Hex,
                true,
                true,
            ),
            Field::Xxreg(n) => d(
                XXREG_NAMES[n as usize & 3],
                Some(XXREG_NXM[n as usize & 3]),
                loc(w::REGS + 2 * (n as usize & 3), 0, 128),
                P::None,
                F::Hex,
                true,
                true,
            ),
            Field::Metadata => d(
                "metadata",
                Some("OXM_OF_METADATA"),
                loc(w::METADATA, 0, 64),
                P::None,
                F::Hex,
                true,
                true,
            ),
            Field::ConjId => d(
                "conj_id",
                Some("NXM_NX_CONJ_ID"),
                loc(w::CONJ, 0, 32),
                P::None,
                F::Decimal,
                false,
                false,
            ),
        }
    }

    /// Canonical name.
    pub fn name(self) -> &'static str {
        self.desc().name
    }

    /// Width in bits.
    pub fn bits(self) -> u32 {
        u32::from(self.desc().loc.bits)
    }

    /// Looks a field up by any name `ovs-ofctl` accepts for it: canonical names, the
    /// `dl_*`/`nw_*` synonyms and NXM/OXM names.
    pub fn from_name(name: &str) -> Option<Field> {
        let f = match name {
            "in_port" | "NXM_OF_IN_PORT" | "in_port_oxm" | "OXM_OF_IN_PORT" => Field::InPort,
            "recirc_id" | "NXM_NX_RECIRC_ID" => Field::RecircId,
            "eth_src" | "dl_src" | "NXM_OF_ETH_SRC" | "OXM_OF_ETH_SRC" => Field::EthSrc,
            "eth_dst" | "dl_dst" | "NXM_OF_ETH_DST" | "OXM_OF_ETH_DST" => Field::EthDst,
            "eth_type" | "dl_type" | "NXM_OF_ETH_TYPE" | "OXM_OF_ETH_TYPE" => Field::EthType,
            "vlan_tci" | "NXM_OF_VLAN_TCI" => Field::VlanTci,
            "dl_vlan" | "vlan_vid" | "OXM_OF_VLAN_VID" => Field::DlVlan,
            "dl_vlan_pcp" | "vlan_pcp" | "OXM_OF_VLAN_PCP" => Field::DlVlanPcp,
            "ip_src" | "nw_src" | "NXM_OF_IP_SRC" | "OXM_OF_IPV4_SRC" => Field::NwSrc,
            "ip_dst" | "nw_dst" | "NXM_OF_IP_DST" | "OXM_OF_IPV4_DST" => Field::NwDst,
            "nw_proto" | "ip_proto" | "NXM_OF_IP_PROTO" | "OXM_OF_IP_PROTO" => Field::NwProto,
            "nw_tos" | "NXM_OF_IP_TOS" => Field::NwTos,
            "ip_dscp" | "OXM_OF_IP_DSCP" => Field::IpDscp,
            "nw_ecn" | "ip_ecn" | "NXM_NX_IP_ECN" | "OXM_OF_IP_ECN" => Field::NwEcn,
            "nw_ttl" | "NXM_NX_IP_TTL" => Field::NwTtl,
            "nw_frag" | "ip_frag" | "NXM_NX_IP_FRAG" => Field::NwFrag,
            "tp_src" => Field::TpSrc,
            "tp_dst" => Field::TpDst,
            "tcp_src" | "NXM_OF_TCP_SRC" | "OXM_OF_TCP_SRC" => Field::TcpSrc,
            "tcp_dst" | "NXM_OF_TCP_DST" | "OXM_OF_TCP_DST" => Field::TcpDst,
            "udp_src" | "NXM_OF_UDP_SRC" | "OXM_OF_UDP_SRC" => Field::UdpSrc,
            "udp_dst" | "NXM_OF_UDP_DST" | "OXM_OF_UDP_DST" => Field::UdpDst,
            "sctp_src" | "OXM_OF_SCTP_SRC" => Field::SctpSrc,
            "sctp_dst" | "OXM_OF_SCTP_DST" => Field::SctpDst,
            "tcp_flags" | "NXM_NX_TCP_FLAGS" | "ONFOXM_ET_TCP_FLAGS" => Field::TcpFlags,
            "icmp_type" | "icmpv4_type" | "NXM_OF_ICMP_TYPE" | "OXM_OF_ICMPV4_TYPE" => {
                Field::IcmpType
            }
            "icmp_code" | "icmpv4_code" | "NXM_OF_ICMP_CODE" | "OXM_OF_ICMPV4_CODE" => {
                Field::IcmpCode
            }
            "icmpv6_type" | "NXM_NX_ICMPV6_TYPE" | "OXM_OF_ICMPV6_TYPE" => Field::Icmpv6Type,
            "icmpv6_code" | "NXM_NX_ICMPV6_CODE" | "OXM_OF_ICMPV6_CODE" => Field::Icmpv6Code,
            "arp_op" | "NXM_OF_ARP_OP" | "OXM_OF_ARP_OP" => Field::ArpOp,
            "arp_spa" | "NXM_OF_ARP_SPA" | "OXM_OF_ARP_SPA" => Field::ArpSpa,
            "arp_tpa" | "NXM_OF_ARP_TPA" | "OXM_OF_ARP_TPA" => Field::ArpTpa,
            "arp_sha" | "NXM_NX_ARP_SHA" | "OXM_OF_ARP_SHA" => Field::ArpSha,
            "arp_tha" | "NXM_NX_ARP_THA" | "OXM_OF_ARP_THA" => Field::ArpTha,
            "ipv6_src" | "NXM_NX_IPV6_SRC" | "OXM_OF_IPV6_SRC" => Field::Ipv6Src,
            "ipv6_dst" | "NXM_NX_IPV6_DST" | "OXM_OF_IPV6_DST" => Field::Ipv6Dst,
            "ipv6_label" | "NXM_NX_IPV6_LABEL" | "OXM_OF_IPV6_FLABEL" => Field::Ipv6Label,
            "nd_target" | "NXM_NX_ND_TARGET" | "OXM_OF_IPV6_ND_TARGET" => Field::NdTarget,
            "nd_sll" | "NXM_NX_ND_SLL" | "OXM_OF_IPV6_ND_SLL" => Field::NdSll,
            "nd_tll" | "NXM_NX_ND_TLL" | "OXM_OF_IPV6_ND_TLL" => Field::NdTll,
            "ct_state" | "NXM_NX_CT_STATE" => Field::CtState,
            "ct_zone" | "NXM_NX_CT_ZONE" => Field::CtZone,
            "ct_mark" | "NXM_NX_CT_MARK" => Field::CtMark,
            "ct_label" | "NXM_NX_CT_LABEL" => Field::CtLabel,
            "pkt_mark" | "NXM_NX_PKT_MARK" => Field::PktMark,
            "tun_id" | "tunnel_id" | "NXM_NX_TUN_ID" | "OXM_OF_TUNNEL_ID" => Field::TunId,
            "tun_src" | "NXM_NX_TUN_IPV4_SRC" => Field::TunSrc,
            "tun_dst" | "NXM_NX_TUN_IPV4_DST" => Field::TunDst,
            "tun_flags" | "NXM_NX_TUN_FLAGS" => Field::TunFlags,
            "tun_tos" => Field::TunTos,
            "tun_ttl" => Field::TunTtl,
            "metadata" | "OXM_OF_METADATA" => Field::Metadata,
            "conj_id" | "NXM_NX_CONJ_ID" => Field::ConjId,
            _ => return Self::numbered(name),
        };
        Some(f)
    }

    fn numbered(name: &str) -> Option<Field> {
        type Make = fn(u8) -> Field;
        let table: [(&str, u8, Make); 8] = [
            ("NXM_NX_TUN_METADATA", 8, Field::TunMetadata),
            ("tun_metadata", 8, Field::TunMetadata),
            ("NXM_NX_REG", 16, Field::Reg),
            ("reg", 16, Field::Reg),
            ("OXM_OF_PKT_REG", 8, Field::Xreg),
            ("xreg", 8, Field::Xreg),
            ("xxreg", 4, Field::Xxreg),
            ("NXM_NX_XXREG", 4, Field::Xxreg),
        ];
        for (prefix, limit, make) in table.iter() {
            if let Some(num) = name.strip_prefix(prefix) {
                if num.is_empty() || (num.len() > 1 && num.starts_with('0')) {
                    continue;
                }
                if let Ok(n) = num.parse::<u8>() {
                    if n < *limit {
                        return Some(make(n));
                    }
                }
            }
        }
        None
    }

    /// The name to use in subfield notation: the NXM/OXM name where one exists, as
    /// `ovs-ofctl` prints `move:`/`load:`/`output:` subfields.
    pub fn subfield_name(self) -> &'static str {
        let d = self.desc();
        d.nxm.unwrap_or(d.name)
    }

    /// Reads the field from a flow (or a mask).
    #[inline]
    pub fn get(self, flow: &Flow) -> u128 {
        read_loc(flow, self.desc().loc)
    }

    /// Writes the field into a flow (or a mask), leaving other fields untouched.
    #[inline]
    pub fn set(self, flow: &mut Flow, value: u128) {
        write_loc(flow, self.desc().loc, value)
    }

    /// The mask a full match on this field sets in a [`Flow`]-shaped mask.
    pub fn full_mask(self) -> u128 {
        self.desc().valid
    }
}

/// Reads a fixed field with its location resolved at compile time: hot paths use this
/// instead of [`Field::get`], whose registry lookup the optimiser does not always fold.
macro_rules! fget {
    ($f:ident, $flow:expr) => {
        $crate::field::read_loc($flow, const { $crate::field::Field::$f.desc().loc })
    };
}
pub(crate) use fget;

/// Writes a fixed field with its location resolved at compile time (see [`fget!`]).
macro_rules! fset {
    ($f:ident, $flow:expr, $v:expr) => {
        $crate::field::write_loc($flow, const { $crate::field::Field::$f.desc().loc }, $v)
    };
}
pub(crate) use fset;

/// Reads `loc` from `flow`.
#[inline]
pub fn read_loc(flow: &Flow, loc: Loc) -> u128 {
    let wi = loc.word as usize;
    if loc.bits > 64 {
        (u128::from(flow.w[wi]) << 64) | u128::from(flow.w[wi + 1])
    } else {
        let v = flow.w[wi] >> loc.shift;
        let m = if loc.bits == 64 {
            u64::MAX
        } else {
            (1u64 << loc.bits) - 1
        };
        u128::from(v & m)
    }
}

/// Writes `value` (truncated to the field width) into `loc` of `flow`.
#[inline]
pub fn write_loc(flow: &mut Flow, loc: Loc, value: u128) {
    let wi = loc.word as usize;
    if loc.bits > 64 {
        flow.w[wi] = (value >> 64) as u64;
        flow.w[wi + 1] = value as u64;
    } else {
        let m = if loc.bits == 64 {
            u64::MAX
        } else {
            (1u64 << loc.bits) - 1
        };
        let v = (value as u64) & m;
        flow.w[wi] = (flow.w[wi] & !(m << loc.shift)) | (v << loc.shift);
    }
}

/// A bit range of a field: `NXM_NX_REG0[0..15]`, `NXM_OF_ETH_DST[]`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct Subfield {
    /// The field.
    pub field: Field,
    /// First bit.
    pub ofs: u8,
    /// Number of bits (1..=128).
    pub n_bits: u8,
}

impl Subfield {
    /// The whole field.
    pub fn whole(field: Field) -> Subfield {
        Subfield {
            field,
            ofs: 0,
            n_bits: field.desc().loc.bits,
        }
    }

    /// True when the subfield covers the whole field (for `in_port`, OVS's 16 bits too:
    /// `NXM_OF_IN_PORT[]`).
    pub fn is_whole(&self) -> bool {
        self.ofs == 0
            && (u32::from(self.n_bits) == self.field.bits()
                || (self.field == Field::InPort && self.n_bits == 16))
    }

    /// Mask of the subfield's bits within the field value.
    pub fn mask(&self) -> u128 {
        ones(self.n_bits) << self.ofs
    }

    /// Reads the subfield's bits, shifted down to bit 0.
    #[inline]
    pub fn get(&self, flow: &Flow) -> u128 {
        (self.field.get(flow) >> self.ofs) & ones(self.n_bits)
    }

    /// Writes the low `n_bits` of `value` into the subfield.
    #[inline]
    pub fn set(&self, flow: &mut Flow, value: u128) {
        let m = self.mask();
        let old = self.field.get(flow);
        self.field.set(flow, (old & !m) | ((value << self.ofs) & m));
    }
}

/// Bits of `n` ones, as a `u128` (all ones for 128).
pub fn bit_ones(n: u32) -> u128 {
    ones(n.min(128) as u8)
}

/// Evaluates a prerequisite against a (value, mask) match: true when the match constrains the
/// flow enough that the prerequisite always holds, as OVS requires before it lets a rule
/// match or set a field.
pub fn prereq_holds(p: Prereq, value: &Flow, mask: &Flow) -> bool {
    let dl =
        |t: u16| Field::EthType.get(mask) == 0xffff && Field::EthType.get(value) == u128::from(t);
    let proto =
        |p: u8| Field::NwProto.get(mask) == 0xff && Field::NwProto.get(value) == u128::from(p);
    let ip_any = || dl(eth_type::IPV4) || dl(eth_type::IPV6);
    let icmp_type =
        |t: u8| Field::IcmpType.get(mask) == 0xff && Field::IcmpType.get(value) == u128::from(t);
    match p {
        Prereq::None => true,
        Prereq::Vlan => {
            let m = Field::VlanTci.get(mask) as u16;
            let v = Field::VlanTci.get(value) as u16;
            m & crate::flow::VLAN_CFI != 0 && v & crate::flow::VLAN_CFI != 0
        }
        Prereq::Arp => dl(eth_type::ARP) || dl(eth_type::RARP),
        Prereq::Ipv4 => dl(eth_type::IPV4),
        Prereq::Ipv6 => dl(eth_type::IPV6),
        Prereq::IpAny => ip_any(),
        Prereq::Tcp => ip_any() && proto(ip_proto::TCP),
        Prereq::Udp => ip_any() && proto(ip_proto::UDP),
        Prereq::Sctp => ip_any() && proto(ip_proto::SCTP),
        Prereq::L4Ports => {
            ip_any() && (proto(ip_proto::TCP) || proto(ip_proto::UDP) || proto(ip_proto::SCTP))
        }
        Prereq::Icmpv4 => dl(eth_type::IPV4) && proto(ip_proto::ICMP),
        Prereq::Icmpv6 => dl(eth_type::IPV6) && proto(ip_proto::ICMPV6),
        Prereq::IcmpAny => {
            (dl(eth_type::IPV4) && proto(ip_proto::ICMP))
                || (dl(eth_type::IPV6) && proto(ip_proto::ICMPV6))
        }
        Prereq::Nd => {
            dl(eth_type::IPV6) && proto(ip_proto::ICMPV6) && (icmp_type(135) || icmp_type(136))
        }
        Prereq::NdSolicit => dl(eth_type::IPV6) && proto(ip_proto::ICMPV6) && icmp_type(135),
        Prereq::NdAdvert => dl(eth_type::IPV6) && proto(ip_proto::ICMPV6) && icmp_type(136),
    }
}

/// Human words for a prerequisite, for error messages.
pub fn prereq_text(p: Prereq) -> &'static str {
    match p {
        Prereq::None => "nothing",
        Prereq::Vlan => "a VLAN tag (vlan_tci with 0x1000 set)",
        Prereq::Arp => "arp (dl_type=0x0806)",
        Prereq::Ipv4 => "ip (dl_type=0x0800)",
        Prereq::Ipv6 => "ipv6 (dl_type=0x86dd)",
        Prereq::IpAny => "ip or ipv6",
        Prereq::Tcp => "tcp or tcp6",
        Prereq::Udp => "udp or udp6",
        Prereq::Sctp => "sctp or sctp6",
        Prereq::L4Ports => "tcp, udp or sctp",
        Prereq::Icmpv4 => "icmp",
        Prereq::Icmpv6 => "icmp6",
        Prereq::IcmpAny => "icmp or icmp6",
        Prereq::Nd => "icmp6 with icmp_type=135 or 136",
        Prereq::NdSolicit => "icmp6 with icmp_type=135",
        Prereq::NdAdvert => "icmp6 with icmp_type=136",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_pair_into_xregs() {
        let mut f = Flow::ZERO;
        Field::Reg(0).set(&mut f, 0x1111_2222);
        Field::Reg(1).set(&mut f, 0x3333_4444);
        assert_eq!(Field::Xreg(0).get(&f), 0x1111_2222_3333_4444);
        Field::Reg(2).set(&mut f, 0x5);
        assert_eq!(
            Field::Xxreg(0).get(&f),
            (0x1111_2222_3333_4444u128 << 64) | (5u128 << 32)
        );
    }

    #[test]
    fn subfield_writes_only_its_bits() {
        let mut f = Flow::ZERO;
        Field::Reg(0).set(&mut f, 0xffff_ffff);
        let sf = Subfield {
            field: Field::Reg(0),
            ofs: 0,
            n_bits: 16,
        };
        sf.set(&mut f, 0x1);
        assert_eq!(Field::Reg(0).get(&f), 0xffff_0001);
        let bit16 = Subfield {
            field: Field::Reg(0),
            ofs: 16,
            n_bits: 1,
        };
        bit16.set(&mut f, 0);
        assert_eq!(Field::Reg(0).get(&f), 0xfffe_0001);
        assert_eq!(bit16.get(&f), 0);
        // Neighbouring register untouched.
        assert_eq!(Field::Reg(1).get(&f), 0);
    }

    #[test]
    fn aliases_share_locations() {
        assert_eq!(Field::ArpSpa.desc().loc, Field::NwSrc.desc().loc);
        assert_eq!(Field::TpDst.desc().loc, Field::TcpDst.desc().loc);
        assert_eq!(Field::from_name("NXM_NX_REG15"), Some(Field::Reg(15)));
        assert_eq!(Field::from_name("reg16"), None);
        assert_eq!(Field::from_name("reg01"), None);
        assert_eq!(
            Field::from_name("NXM_NX_TUN_METADATA0"),
            Some(Field::TunMetadata(0))
        );
        assert_eq!(Field::from_name("NXM_NX_XXREG3"), Some(Field::Xxreg(3)));
        assert_eq!(Field::from_name("bogus"), None);
    }

    #[test]
    fn every_location_fits_its_word() {
        let fields = all_fields();
        for f in fields {
            let l = f.desc().loc;
            if l.bits > 64 {
                assert_eq!(l.shift, 0, "{f:?}");
                assert!((l.word as usize) + 1 < crate::flow::FLOW_WORDS);
            } else {
                assert!(u32::from(l.shift) + u32::from(l.bits) <= 64, "{f:?}");
            }
            // Round trip through the name table.
            assert_eq!(
                Field::from_name(f.name()).map(|g| g.desc().loc),
                Some(l),
                "{f:?}"
            );
        }
    }

    /// Every field, for table-driven tests.
    pub(crate) fn all_fields() -> Vec<Field> {
        let mut v = vec![
            Field::InPort,
            Field::RecircId,
            Field::EthSrc,
            Field::EthDst,
            Field::EthType,
            Field::VlanTci,
            Field::DlVlan,
            Field::DlVlanPcp,
            Field::NwSrc,
            Field::NwDst,
            Field::NwProto,
            Field::NwTos,
            Field::IpDscp,
            Field::NwEcn,
            Field::NwTtl,
            Field::NwFrag,
            Field::TpSrc,
            Field::TpDst,
            Field::TcpSrc,
            Field::TcpDst,
            Field::UdpSrc,
            Field::UdpDst,
            Field::SctpSrc,
            Field::SctpDst,
            Field::TcpFlags,
            Field::IcmpType,
            Field::IcmpCode,
            Field::Icmpv6Type,
            Field::Icmpv6Code,
            Field::ArpOp,
            Field::ArpSpa,
            Field::ArpTpa,
            Field::ArpSha,
            Field::ArpTha,
            Field::Ipv6Src,
            Field::Ipv6Dst,
            Field::Ipv6Label,
            Field::NdTarget,
            Field::NdSll,
            Field::NdTll,
            Field::CtState,
            Field::CtZone,
            Field::CtMark,
            Field::CtLabel,
            Field::PktMark,
            Field::TunId,
            Field::TunSrc,
            Field::TunDst,
            Field::TunFlags,
            Field::TunTos,
            Field::TunTtl,
            Field::Metadata,
            Field::ConjId,
        ];
        v.extend((0..8).map(Field::TunMetadata));
        v.extend((0..16).map(Field::Reg));
        v.extend((0..8).map(Field::Xreg));
        v.extend((0..4).map(Field::Xxreg));
        v
    }
}
