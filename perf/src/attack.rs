//! Attack traffic for `brisk-gen run --attack`: frames sent at a fixed rate beside the
//! measured traffic, built from a template packet (written in `ofproto/trace` flow
//! syntax, like a profile's).
//!
//! - **`tse`** (Tuple Space Explosion, Csikor et al., CoNEXT'19, the co-located variant):
//!   the template with one bit flipped (or none) in each of a few header fields, every
//!   combination once, in a loop. A classifier that un-wildcards only the bits it needed
//!   to tell a packet from a rule (OVS's prefix and port tries) builds one megaflow *mask*
//!   per combination of flipped-bit positions, and its tuple-space search then probes all
//!   of them for every packet that misses its exact-match cache.
//! - **`tse2`**: the same combinations sent as a burst each, so each attack mask collects
//!   hits in bursts like a busy flow does: the variant that targets classifiers which rank
//!   their subtables by hits (see `docs/attacks.md`).
//! - **`syn`** / **`udp`**: a flood of new connections: the template with a fresh random
//!   source address (the template's first octet kept, 24 random bits) and source port in
//!   every frame, so every frame is a new connection for conntrack.
//!
//! Every attack frame carries a stamp from port [`ATTACK_STAMP_PORT`], so a receiver tells
//! the attack frames a switch delivers from the measured ones.

use crate::traffic::{ipv4_of, l4_csum_offset, write_stamp_csum, Stamp, STAMP_LEN};
use pipeline::build::from_flow;
use pipeline::field::Field;
use pipeline::flow::Flow;
use pipeline::ofctl::{parse_packet_spec, PortMap};
use pipeline::wire::checksum;

/// The stamp's port number on attack frames.
pub const ATTACK_STAMP_PORT: u8 = 0xa7;

/// Bytes each frame takes on the wire besides itself: preamble, start delimiter and the
/// inter-frame gap (a rate in bits per second is L1, as a line rate is).
const L1_OVERHEAD: usize = 20;

/// Why an attack could not be built.
#[derive(Debug, thiserror::Error)]
pub enum AttackError {
    /// `--attack` is not `I:KIND@RATE`, or the kind or rate is unknown.
    #[error("--attack {0}")]
    Syntax(String),
    /// The template did not parse or does not fit the attack.
    #[error("--attack-spec: {0}")]
    Spec(String),
}

/// What the attack frames vary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttackKind {
    /// Tuple Space Explosion: every combination of one flipped bit per field.
    Tse,
    /// TSE in bursts of one combination (against hit-ranked subtables).
    Tse2,
    /// TCP SYNs from random sources.
    Syn,
    /// UDP from random sources.
    Udp,
}

/// The attack's pace.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AttackRate {
    /// Bits per second on the wire (frame + FCS + 20 bytes of preamble and gap).
    BitsPerSecond(f64),
    /// Frames per second.
    FramesPerSecond(f64),
}

/// Fields a TSE attack may flip bits in (those Antrea's policy and forwarding tables match
/// on that a sender controls past the spoof guard).
pub const TSE_FIELDS: &[(&str, Field)] = &[
    ("nw_src", Field::NwSrc),
    ("nw_dst", Field::NwDst),
    ("tp_src", Field::TpSrc),
    ("tp_dst", Field::TpDst),
];

/// A parsed attack: its kind, pace, the port it leaves from and its frames.
pub struct Attack {
    /// Index of the generator port that sends it.
    pub port: usize,
    /// What it varies.
    pub kind: AttackKind,
    /// How fast.
    pub rate: AttackRate,
    /// TSE: every combination's frame; floods: the template frame (patched per frame).
    frames: Vec<Vec<u8>>,
    /// Frames per TSE burst (tse2), 1 otherwise.
    repeat: u32,
    /// Where the L4 checksum is (kept valid under the stamp and the patches).
    csum_at: Option<usize>,
    /// Frames built so far.
    next: u64,
    /// The IPv4 header's offset (floods patch the source address).
    l3: usize,
    /// TSE without tp_src among its fields: each round of combinations (and each frame of
    /// a tse2 burst) takes another source port, so every frame is a new connection and
    /// stays `+new` through conntrack (a repeated tuple would become established and skip
    /// the policy tables the attack needs).
    sport_per_round: bool,
}

impl Attack {
    /// Parses `I:KIND@RATE` (e.g. `2:tse@1mbps`, `2:syn@1mpps`; `tse=nw_dst+tp_dst` picks
    /// the fields) with the template `spec` and the frames' size on the wire (None: the
    /// smallest that holds the headers and the stamp, at least 64 bytes).
    pub fn new(
        arg: &str,
        spec: &str,
        ports: &PortMap,
        wire_size: Option<usize>,
    ) -> Result<Attack, AttackError> {
        let syntax = |why: &str| AttackError::Syntax(format!("{arg}: {why}"));
        let (port, rest) = arg
            .split_once(':')
            .ok_or_else(|| syntax("expected I:KIND@RATE, e.g. 2:tse@1mbps"))?;
        let port: usize = port
            .parse()
            .map_err(|_| syntax(&format!("'{port}' is not a port index")))?;
        let (kind, rate) = rest
            .split_once('@')
            .ok_or_else(|| syntax("no @RATE (e.g. @1mbps, @10mbps, @1mpps, @500kpps)"))?;
        let rate = parse_rate(rate).ok_or_else(|| {
            syntax(&format!(
                "'{rate}' is not a rate (e.g. 1mbps, 10mbps, 1mpps, 500kpps)"
            ))
        })?;
        let (kind, fields) = match kind.split_once('=') {
            Some((k, f)) => (k, Some(f)),
            None => (kind, None),
        };
        let kind = match kind {
            "tse" => AttackKind::Tse,
            "tse2" => AttackKind::Tse2,
            "syn" => AttackKind::Syn,
            "udp" => AttackKind::Udp,
            k => {
                return Err(syntax(&format!(
                    "'{k}' is not an attack: tse, tse2, syn, udp"
                )))
            }
        };
        let mut t = parse_packet_spec(spec, ports)
            .map_err(|e| AttackError::Spec(format!("column {}: {e}", e.column())))?;
        let want_proto = match kind {
            AttackKind::Syn => Some(pipeline::flow::ip_proto::TCP),
            AttackKind::Udp => Some(pipeline::flow::ip_proto::UDP),
            _ => None,
        };
        let proto = Field::NwProto.get(&t) as u8;
        if Field::EthType.get(&t) as u16 != pipeline::flow::eth_type::IPV4
            || !matches!(
                proto,
                pipeline::flow::ip_proto::TCP | pipeline::flow::ip_proto::UDP
            )
            || want_proto.is_some_and(|p| p != proto)
        {
            return Err(AttackError::Spec(format!(
                "'{spec}': a {} attack needs an IPv4 {} template",
                rest.split('@').next().unwrap_or(""),
                match want_proto {
                    Some(pipeline::flow::ip_proto::TCP) => "tcp",
                    Some(_) => "udp",
                    None => "tcp or udp",
                }
            )));
        }
        if kind == AttackKind::Syn {
            Field::TcpFlags.set(&mut t, 0x002);
        }
        let headers = from_flow(&t, 0).len();
        let wire_size = wire_size.unwrap_or((headers + STAMP_LEN + 4).max(64));
        if !(64..=9004).contains(&wire_size) || wire_size - 4 < headers + STAMP_LEN {
            return Err(AttackError::Spec(format!(
                "{wire_size} bytes cannot hold {headers} bytes of headers, a {STAMP_LEN}-byte stamp and the FCS"
            )));
        }
        let pad = wire_size - 4 - headers;
        let mut sport_per_round = false;
        let frames = match kind {
            AttackKind::Tse | AttackKind::Tse2 => {
                let fields = tse_fields(fields).map_err(|e| syntax(&e))?;
                sport_per_round = !fields.contains(&Field::TpSrc);
                tse_keys(&t, &fields)
                    .iter()
                    .map(|k| from_flow(k, pad))
                    .collect()
            }
            _ => {
                if fields.is_some() {
                    return Err(syntax("only tse and tse2 take fields"));
                }
                vec![from_flow(&t, pad)]
            }
        };
        let csum_at = l4_csum_offset(&frames[0]);
        let l3 = ipv4_of(&frames[0]).map(|(l3, _)| l3).ok_or_else(|| {
            AttackError::Spec(format!("'{spec}': the template's frame has no IPv4 header"))
        })?;
        Ok(Attack {
            port,
            kind,
            rate,
            frames,
            repeat: if kind == AttackKind::Tse2 { 32 } else { 1 },
            csum_at,
            next: 0,
            l3,
            sport_per_round,
        })
    }

    /// Frames per second at this frame length (without FCS).
    pub fn frames_per_second(&self) -> f64 {
        match self.rate {
            AttackRate::FramesPerSecond(p) => p,
            AttackRate::BitsPerSecond(b) => b / self.l1_bits_per_frame(),
        }
    }

    /// Bits one attack frame takes on the wire: frame, FCS, preamble and gap.
    pub fn l1_bits_per_frame(&self) -> f64 {
        (8 * (self.frame_len() + 4 + L1_OVERHEAD)) as f64
    }

    /// Length of every attack frame (without FCS).
    pub fn frame_len(&self) -> usize {
        self.frames[0].len()
    }

    /// Distinct frames of a TSE attack (one per combination); 0 for floods (every frame is
    /// new).
    pub fn combinations(&self) -> usize {
        match self.kind {
            AttackKind::Tse | AttackKind::Tse2 => self.frames.len(),
            _ => 0,
        }
    }

    /// Writes the next attack frame into `out` (of [`Attack::frame_len`] bytes), stamped
    /// with `tsc`.
    pub fn next_frame(&mut self, out: &mut [u8], tsc: u64) {
        let i = self.next;
        self.next += 1;
        match self.kind {
            AttackKind::Tse | AttackKind::Tse2 => {
                let r = u64::from(self.repeat);
                let n = self.frames.len() as u64;
                out.copy_from_slice(&self.frames[((i / r) % n) as usize]);
                let shift = (i / (r * n)) * r + i % r;
                if self.sport_per_round && shift != 0 {
                    let l4 = self.l3 + usize::from(out[self.l3] & 0x0f) * 4;
                    let base = u16::from_be_bytes([out[l4], out[l4 + 1]]);
                    self.patch_source(out, None, base.wrapping_add(shift as u16));
                }
            }
            AttackKind::Syn | AttackKind::Udp => {
                out.copy_from_slice(&self.frames[0]);
                let x = pipeline::classifier::hash_finish(i.wrapping_add(0x9e37_79b9_7f4a_7c15));
                let sport = 1024 + ((x >> 32) % 64_512) as u16;
                self.patch_source(out, Some(x as u32 & 0x00ff_ffff), sport);
            }
        }
        let s = Stamp {
            port: ATTACK_STAMP_PORT,
            seq: i as u32,
            tsc,
        };
        write_stamp_csum(out, s, self.csum_at);
    }

    /// Sets the low 24 bits of the source address (if given) and the source port, updating
    /// the IPv4 and L4 checksums (RFC 1624).
    fn patch_source(&self, f: &mut [u8], low24: Option<u32>, sport: u16) {
        let l3 = self.l3;
        let ihl = usize::from(f[l3] & 0x0f) * 4;
        let src_at = l3 + 12;
        let old_src = u32::from_be_bytes([f[src_at], f[src_at + 1], f[src_at + 2], f[src_at + 3]]);
        let new_src = low24.map_or(old_src, |l| (old_src & 0xff00_0000) | l);
        f[src_at..src_at + 4].copy_from_slice(&new_src.to_be_bytes());
        let ipc = u16::from_be_bytes([f[l3 + 10], f[l3 + 11]]);
        let ipc = checksum::update32(ipc, old_src, new_src);
        f[l3 + 10..l3 + 12].copy_from_slice(&ipc.to_be_bytes());
        let l4 = l3 + ihl;
        let old_port = u16::from_be_bytes([f[l4], f[l4 + 1]]);
        f[l4..l4 + 2].copy_from_slice(&sport.to_be_bytes());
        if let Some(at) = self.csum_at {
            let c = u16::from_be_bytes([f[at], f[at + 1]]);
            let c = checksum::update32(c, old_src, new_src);
            let c = checksum::update16(c, old_port, sport);
            f[at..at + 2].copy_from_slice(&c.to_be_bytes());
        }
    }
}

fn parse_rate(s: &str) -> Option<AttackRate> {
    let s = s.to_ascii_lowercase();
    let units: &[(&str, f64, bool)] = &[
        ("gbps", 1e9, true),
        ("mbps", 1e6, true),
        ("kbps", 1e3, true),
        ("bps", 1.0, true),
        ("mpps", 1e6, false),
        ("kpps", 1e3, false),
        ("pps", 1.0, false),
    ];
    let (num, mul, bits) = units
        .iter()
        .find_map(|(u, m, b)| s.strip_suffix(u).map(|n| (n, *m, *b)))?;
    let v: f64 = num.trim().parse().ok()?;
    if !(v.is_finite() && v > 0.0) {
        return None;
    }
    Some(if bits {
        AttackRate::BitsPerSecond(v * mul)
    } else {
        AttackRate::FramesPerSecond(v * mul)
    })
}

/// The fields named in `a+b+c`; when none are named, `nw_src+tp_dst` (561 combinations,
/// the authors' SIP_DP set: all four fields would be 314,721, a round of more than three
/// minutes at 1 Mbps, longer than a megaflow's 10 s idle time).
fn tse_fields(names: Option<&str>) -> Result<Vec<Field>, String> {
    let Some(names) = names else {
        return Ok(vec![Field::NwSrc, Field::TpDst]);
    };
    names
        .split('+')
        .map(|n| {
            TSE_FIELDS
                .iter()
                .find(|(m, _)| *m == n)
                .map(|(_, f)| *f)
                .ok_or_else(|| {
                    let all: Vec<_> = TSE_FIELDS.iter().map(|(m, _)| *m).collect();
                    format!("'{n}' is not a TSE field: {}", all.join(", "))
                })
        })
        .collect()
}

/// Every combination of "this field as in the template, or with bit b flipped" over
/// `fields`: (width + 1) per field, multiplied.
pub fn tse_keys(t: &Flow, fields: &[Field]) -> Vec<Flow> {
    let mut keys = vec![*t];
    for f in fields {
        let width = u32::from(f.desc().loc.bits);
        let mut next = Vec::with_capacity(keys.len() * (width as usize + 1));
        for k in &keys {
            next.push(*k);
            for b in 0..width {
                let mut k2 = *k;
                f.set(&mut k2, f.get(k) ^ (1u128 << b));
                next.push(k2);
            }
        }
        keys = next;
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traffic::read_stamp;
    use pipeline::packet::extract;
    use pipeline::wire::checksum::checksum;

    const GW_SYN: &str = "tcp,dl_src=4e:99:08:c1:53:be,dl_dst=f2:32:d8:07:e2:a6,nw_src=172.16.0.1,nw_dst=10.222.1.47,nw_ttl=64,tp_src=1024,tp_dst=80";

    fn key_of(f: &[u8]) -> Flow {
        let mut k = Flow::ZERO;
        assert_eq!(extract(f, 2, &mut k).err, 0);
        k
    }

    #[test]
    fn a_flood_sends_new_valid_connections() {
        let mut a = Attack::new("1:syn@1mpps", GW_SYN, &PortMap::default(), Some(80)).unwrap();
        assert_eq!(a.port, 1);
        assert_eq!(a.frames_per_second(), 1e6);
        let mut seen = std::collections::HashSet::new();
        let mut buf = vec![0u8; a.frame_len()];
        for i in 0..10_000u64 {
            a.next_frame(&mut buf, 77 + i);
            let k = key_of(&buf);
            assert_eq!(Field::TcpFlags.get(&k), 0x002);
            assert_eq!(Field::NwDst.get(&k), 0x0ade_012f);
            assert_eq!(Field::NwSrc.get(&k) >> 24, 172);
            assert!(Field::TpSrc.get(&k) >= 1024);
            seen.insert((Field::NwSrc.get(&k), Field::TpSrc.get(&k)));
            // The IPv4 header and TCP checksums hold after the patch and the stamp.
            let ip = &buf[14..34];
            assert_eq!(checksum(ip), 0, "frame {i}: IPv4 header checksum");
            let l4 = &buf[34..];
            let ps = checksum::pseudo_header_v4(
                Field::NwSrc.get(&k) as u32,
                Field::NwDst.get(&k) as u32,
                6,
                l4.len(),
            );
            assert_eq!(
                checksum::finish(checksum::sum16(l4, ps)),
                0,
                "frame {i}: TCP checksum"
            );
            let s = read_stamp(&buf).unwrap();
            assert_eq!(
                (s.port, s.seq, s.tsc),
                (ATTACK_STAMP_PORT, i as u32, 77 + i)
            );
        }
        assert!(
            seen.len() > 9_990,
            "{} distinct sources in 10,000",
            seen.len()
        );
    }

    #[test]
    fn tse_flips_one_bit_per_field_in_every_combination() {
        let spec = "udp,dl_src=4e:99:08:c1:53:be,dl_dst=aa:bb:cc:dd:ee:ff,nw_src=172.16.0.1,nw_dst=10.222.1.2,tp_src=1024,tp_dst=53";
        let mut a = Attack::new(
            "0:tse=nw_dst+tp_dst@1mbps",
            spec,
            &PortMap::default(),
            Some(64),
        )
        .unwrap();
        assert_eq!(a.combinations(), 33 * 17);
        // 1 Mbps of 64-byte frames: 84 bytes on the wire each.
        assert!((a.frames_per_second() - 1e6 / 672.0).abs() < 1e-6);
        let mut buf = vec![0u8; a.frame_len()];
        let mut dsts = std::collections::HashSet::new();
        for _ in 0..a.combinations() {
            a.next_frame(&mut buf, 0);
            let k = key_of(&buf);
            let dst = Field::NwDst.get(&k) ^ 0x0ade_0102;
            let port = Field::TpDst.get(&k) ^ 53;
            assert!(
                dst.count_ones() <= 1 && port.count_ones() <= 1,
                "{dst:x} {port:x}"
            );
            assert_eq!(Field::NwSrc.get(&k), 0xac10_0001);
            dsts.insert((dst, port));
        }
        assert_eq!(dsts.len(), 33 * 17);
        // The next round: the same combinations from the next source port, checksums valid.
        a.next_frame(&mut buf, 0);
        let k = key_of(&buf);
        assert_eq!(
            (Field::TpSrc.get(&k), Field::NwDst.get(&k)),
            (1025, 0x0ade_0102)
        );
        assert_eq!(checksum(&buf[14..34]), 0);
        // tse2 sends each combination as a burst of 32.
        let mut b =
            Attack::new("0:tse2=tp_dst@1mbps", spec, &PortMap::default(), Some(64)).unwrap();
        let mut ports = Vec::new();
        for _ in 0..64 {
            b.next_frame(&mut buf, 0);
            let k = key_of(&buf);
            ports.push((Field::TpDst.get(&k), Field::TpSrc.get(&k)));
        }
        // Each combination 32 times, each time a new connection (source port).
        assert!(
            ports[..32].iter().all(|&(p, _)| p == 53) && ports[32..].iter().all(|&(p, _)| p == 52)
        );
        assert!(ports[..32]
            .iter()
            .enumerate()
            .all(|(j, &(_, s))| s == 1024 + j as u128));
    }

    #[test]
    fn tse_flips_source_and_port_when_no_fields_are_named() {
        let spec = "udp,nw_src=10.222.1.48,nw_dst=10.222.1.2,tp_src=1024,tp_dst=53";
        let a = Attack::new("0:tse@1mbps", spec, &PortMap::default(), None).unwrap();
        assert_eq!(a.combinations(), 33 * 17);
        assert_eq!(a.frame_len() + 4, 64);
    }

    #[test]
    fn bad_attacks_say_what_is_wrong() {
        let p = PortMap::default();
        let err = |arg: &str, spec: &str, size| {
            Attack::new(arg, spec, &p, Some(size))
                .err()
                .unwrap()
                .to_string()
        };
        assert!(err("tse@1mbps", GW_SYN, 80).contains("expected I:KIND@RATE"));
        assert!(err("x:tse@1mbps", GW_SYN, 80).contains("'x' is not a port index"));
        assert!(err("2:tse", GW_SYN, 80).contains("no @RATE"));
        assert!(err("2:tse@fast", GW_SYN, 80).contains("'fast' is not a rate"));
        assert!(err("2:tse@-1mbps", GW_SYN, 80).contains("is not a rate"));
        assert!(err("2:smurf@1mbps", GW_SYN, 80).contains("'smurf' is not an attack"));
        assert!(err("2:tse=ttl@1mbps", GW_SYN, 80).contains("'ttl' is not a TSE field"));
        assert!(err("2:syn=nw_src@1mpps", GW_SYN, 80).contains("only tse and tse2 take fields"));
        assert!(err("2:udp@1mpps", GW_SYN, 80).contains("needs an IPv4 udp template"));
        assert!(err("2:syn@1mpps", "arp", 80).contains("needs an IPv4 tcp template"));
        assert!(err("2:syn@1mpps", GW_SYN, 64).contains("cannot hold 54 bytes of headers"));
        assert!(err("2:syn@1mpps", "tcp,nw_src=1.2.3", 80).starts_with("--attack-spec: column"));
    }
}
