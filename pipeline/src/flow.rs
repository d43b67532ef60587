//! The flow: every field a rule can match, laid out as a fixed array of 64-bit words.
//!
//! One layout serves the whole switch. The first [`KEY_WORDS`] words are the *datapath key*
//! (what a packet brings with it: headers, input port, tunnel metadata, connection-tracking
//! state after recirculation); the rest is pipeline metadata (registers, `metadata`,
//! `conj_id`) that starts at zero for every packet and so never needs to be part of a megaflow.
//! Keeping everything in words makes masking, hashing and comparing a loop over `u64`s, which
//! is what the classifier and the caches spend their time on.
//!
//! Values are stored as host integers holding the field's network-order value, so that
//! `10.222.1.1` is `0x0ade0101` and bit `0` of a field is its least significant bit, exactly as
//! OpenFlow's `FIELD[a..b]` subfield notation counts bits.

/// Number of 64-bit words in a [`Flow`].
pub const FLOW_WORDS: usize = 40;
/// Number of leading words that form the datapath key (the rest is pipeline metadata).
pub const KEY_WORDS: usize = 29;

/// Word indexes of the layout. Sub-word positions are in [`crate::field`].
pub mod w {
    /// `in_port` (bits 0..32), `recirc_id` (bits 32..64).
    pub const PORT: usize = 0;
    /// `eth_dst` (0..48), `eth_type` (48..64).
    pub const ETH_DST: usize = 1;
    /// `eth_src` (0..48), `vlan_tci` (48..64).
    pub const ETH_SRC: usize = 2;
    /// `nw_src`/`arp_spa` (0..32), `nw_dst`/`arp_tpa` (32..64).
    pub const NW_ADDR: usize = 3;
    /// `nw_proto`/`arp_op` (0..8), `nw_tos` (8..16), `nw_ttl` (16..24), `nw_frag` (24..32),
    /// `tp_src`/`icmp_type` (32..48), `tp_dst`/`icmp_code` (48..64).
    pub const NW_L4: usize = 4;
    /// `ct_state` (0..8), `tcp_flags` (16..28), `ct_zone` (32..48).
    pub const CT: usize = 5;
    /// `ct_mark` (0..32), `pkt_mark` (32..64).
    pub const CT_MARK: usize = 6;
    /// `arp_sha`/`nd_sll` (0..48).
    pub const ARP_SHA: usize = 7;
    /// `arp_tha`/`nd_tll` (0..48).
    pub const ARP_THA: usize = 8;
    /// `ipv6_src`, high word then low word.
    pub const IPV6_SRC: usize = 9;
    /// `ipv6_dst`, high word then low word.
    pub const IPV6_DST: usize = 11;
    /// `nd_target`, high word then low word.
    pub const ND_TARGET: usize = 13;
    /// `ipv6_label` (0..20).
    pub const IPV6_LABEL: usize = 15;
    /// `ct_label`, high word then low word.
    pub const CT_LABEL: usize = 16;
    /// `tun_id`.
    pub const TUN_ID: usize = 18;
    /// `tun_src` (0..32), `tun_dst` (32..64).
    pub const TUN_ADDR: usize = 19;
    /// `tun_flags` (0..16), `tun_tos` (16..24), `tun_ttl` (24..32), option-present map (32..40).
    pub const TUN_FLAGS: usize = 20;
    /// `tun_metadata0..7`, one word each.
    pub const TUN_MD: usize = 21;
    /// `reg0..reg15`: word `REGS + k` holds `reg(2k)` in bits 32..64 and `reg(2k+1)` in bits
    /// 0..32, so that word `REGS + k` *is* `xreg(k)`.
    pub const REGS: usize = 29;
    /// `metadata`.
    pub const METADATA: usize = 37;
    /// `conj_id` (0..32).
    pub const CONJ: usize = 38;
}

/// All matchable state of one packet at one point of its walk through the pipeline.
///
/// The same type serves as a match value and as a match mask (a set bit in a mask means the
/// rule cares about that bit).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C, align(64))]
pub struct Flow {
    /// The words; see [`w`] for the layout.
    pub w: [u64; FLOW_WORDS],
}

impl Default for Flow {
    fn default() -> Self {
        Flow::ZERO
    }
}

impl Flow {
    /// A flow with every field zero (as a mask: "wildcard everything").
    pub const ZERO: Flow = Flow { w: [0; FLOW_WORDS] };

    /// A mask with every bit set.
    pub const ALL_ONES: Flow = Flow {
        w: [u64::MAX; FLOW_WORDS],
    };

    /// `self & mask`, word by word.
    #[inline]
    pub fn masked(&self, mask: &Flow) -> Flow {
        let mut out = Flow::ZERO;
        for i in 0..FLOW_WORDS {
            out.w[i] = self.w[i] & mask.w[i];
        }
        out
    }

    /// Sets every bit of `other` in `self` (used to accumulate un-wildcarded bits).
    #[inline]
    pub fn or_with(&mut self, other: &Flow) {
        for i in 0..FLOW_WORDS {
            self.w[i] |= other.w[i];
        }
    }

    /// True when `(self ^ value) & mask` is zero, i.e. `self` matches `value`/`mask`.
    #[inline]
    pub fn matches(&self, value: &Flow, mask: &Flow) -> bool {
        let mut diff = 0u64;
        for i in 0..FLOW_WORDS {
            diff |= (self.w[i] ^ value.w[i]) & mask.w[i];
        }
        diff == 0
    }

    /// True when no bit is set.
    pub fn is_zero(&self) -> bool {
        self.w.iter().all(|&x| x == 0)
    }

    /// Clears the pipeline metadata part (registers, `metadata`, `conj_id`), keeping the key.
    pub fn clear_metadata(&mut self) {
        for x in &mut self.w[KEY_WORDS..] {
            *x = 0;
        }
    }
}

impl std::fmt::Debug for Flow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut m = f.debug_map();
        for (i, x) in self.w.iter().enumerate() {
            if *x != 0 {
                m.entry(&i, &format_args!("{x:#x}"));
            }
        }
        m.finish()
    }
}

/// Ethernet types the pipeline knows by name.
pub mod eth_type {
    /// IPv4.
    pub const IPV4: u16 = 0x0800;
    /// ARP.
    pub const ARP: u16 = 0x0806;
    /// Reverse ARP.
    pub const RARP: u16 = 0x8035;
    /// 802.1Q VLAN tag.
    pub const VLAN: u16 = 0x8100;
    /// 802.1ad service tag.
    pub const QINQ: u16 = 0x88a8;
    /// IPv6.
    pub const IPV6: u16 = 0x86dd;
    /// MPLS unicast.
    pub const MPLS: u16 = 0x8847;
    /// MPLS multicast.
    pub const MPLS_MCAST: u16 = 0x8848;
    /// Transparent Ethernet bridging (Geneve payload).
    pub const TEB: u16 = 0x6558;
}

/// IP protocol numbers the pipeline knows by name.
pub mod ip_proto {
    /// ICMP.
    pub const ICMP: u8 = 1;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// SCTP.
    pub const SCTP: u8 = 132;
}

/// `ct_state` bits, in the order `ovs-ofctl` prints them.
pub mod ct_state {
    /// Start of a new connection.
    pub const NEW: u8 = 0x01;
    /// Part of an established connection.
    pub const EST: u8 = 0x02;
    /// Related to an established connection (e.g. an ICMP error).
    pub const REL: u8 = 0x04;
    /// In the reply direction.
    pub const RPL: u8 = 0x08;
    /// Invalid: conntrack could not make sense of it.
    pub const INV: u8 = 0x10;
    /// Has gone through conntrack.
    pub const TRK: u8 = 0x20;
    /// Source NAT applied.
    pub const SNAT: u8 = 0x40;
    /// Destination NAT applied.
    pub const DNAT: u8 = 0x80;
    /// Names and bits, in print order.
    pub const NAMES: [(&str, u8); 8] = [
        ("new", NEW),
        ("est", EST),
        ("rel", REL),
        ("rpl", RPL),
        ("inv", INV),
        ("trk", TRK),
        ("snat", SNAT),
        ("dnat", DNAT),
    ];
}

/// `nw_frag` bits.
pub mod nw_frag {
    /// The packet is a fragment.
    pub const ANY: u8 = 0x01;
    /// The packet is a fragment other than the first.
    pub const LATER: u8 = 0x02;
    /// Both bits.
    pub const MASK: u8 = 0x03;
}

/// TCP flag bits as matched by `tcp_flags`, in print order.
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u16 = 0x001;
    /// SYN.
    pub const SYN: u16 = 0x002;
    /// RST.
    pub const RST: u16 = 0x004;
    /// PSH.
    pub const PSH: u16 = 0x008;
    /// ACK.
    pub const ACK: u16 = 0x010;
    /// URG.
    pub const URG: u16 = 0x020;
    /// ECE.
    pub const ECE: u16 = 0x040;
    /// CWR.
    pub const CWR: u16 = 0x080;
    /// NS.
    pub const NS: u16 = 0x100;
    /// Names and bits, in print order (the three reserved bits print as OVS prints them).
    pub const NAMES: [(&str, u16); 12] = [
        ("fin", FIN),
        ("syn", SYN),
        ("rst", RST),
        ("psh", PSH),
        ("ack", ACK),
        ("urg", URG),
        ("ece", ECE),
        ("cwr", CWR),
        ("ns", NS),
        ("[200]", 0x200),
        ("[400]", 0x400),
        ("[800]", 0x800),
    ];
}

/// `tun_flags` bits.
pub mod tun_flags {
    /// The tunnel packet is an OAM frame (Geneve's O bit): OVS's only matchable tunnel flag.
    pub const OAM: u16 = 0x1;
}

/// The VLAN TCI "present" bit (OVS's CFI), set whenever a tag is present.
pub const VLAN_CFI: u16 = 0x1000;
