//! The two sides of the differential (OVS's userspace datapath with dummy ports, brisk's
//! fast path as a worker runs it), the frames both get, and the per-category tally.

use crate::common::ofctl::{node_ports, ofctl_ok, Ovs};
use pipeline::build::{ipv4_frame, Ipv4Spec, L4Spec};
use pipeline::conntrack::ConntrackConfig;
use pipeline::dpaction::Collect;
use pipeline::fastpath::{FastPath, FastPathConfig};
use pipeline::packet::{Frame, VecFrame};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// Frames in, each with the port it enters on.
pub type Frames = Vec<(u32, Vec<u8>)>;
/// (category, name, frames).
pub type Sequence = (&'static str, &'static str, Frames);
/// What each port sent, in order.
pub type Out = BTreeMap<u32, Vec<Vec<u8>>>;

pub const SYN: u16 = 0x02;
pub const ACK: u16 = 0x10;
pub const SYNACK: u16 = 0x12;
pub const PSHACK: u16 = 0x18;
pub const FINACK: u16 = 0x11;
pub const RST: u16 = 0x04;

/// A sender on the bridge: the port it is on, its MAC and IPv4 address.
#[derive(Clone, Copy)]
pub struct Host {
    pub port: u32,
    pub mac: u64,
    pub ip: u32,
}

/// Where a frame goes: the MAC it is sent to and the destination address.
#[derive(Clone, Copy)]
pub struct To {
    pub mac: u64,
    pub ip: u32,
}

/// An IPv4 frame from `from` to `to`, with its port.
pub fn ip(from: Host, to: To, l4: L4Spec, payload: usize, id: u16) -> (u32, Vec<u8>) {
    let f = ipv4_frame(&Ipv4Spec {
        eth_src: from.mac,
        eth_dst: to.mac,
        src: from.ip,
        dst: to.ip,
        ttl: 64,
        id,
        frag: 0x4000,
        l4,
        payload: (0..payload).map(|i| (i * 13) as u8).collect(),
        ..Default::default()
    });
    (from.port, f)
}

/// A TCP segment.
pub fn tcp(
    from: Host,
    to: To,
    ports: (u16, u16),
    flags: u16,
    seq: u32,
    ack: u32,
    len: usize,
) -> (u32, Vec<u8>) {
    let l4 = L4Spec::Tcp {
        sport: ports.0,
        dport: ports.1,
        flags,
        seq,
        ack,
        win: 65535,
    };
    ip(from, to, l4, len, 1)
}

/// A TCP conversation: client and server, where each sends to, and the ports.
#[derive(Clone, Copy)]
pub struct Conv {
    pub c: Host,
    pub to_s: To,
    pub s: Host,
    pub to_c: To,
    pub sp: u16,
    pub dp: u16,
}

impl Conv {
    /// A segment from the client.
    pub fn c(&self, flags: u16, seq: u32, ack: u32, len: usize) -> (u32, Vec<u8>) {
        tcp(self.c, self.to_s, (self.sp, self.dp), flags, seq, ack, len)
    }

    /// A segment from the server.
    pub fn s(&self, flags: u16, seq: u32, ack: u32, len: usize) -> (u32, Vec<u8>) {
        tcp(self.s, self.to_c, (self.dp, self.sp), flags, seq, ack, len)
    }

    /// SYN, SYN-ACK, ACK (client ISN 100, server 900).
    pub fn handshake(&self) -> Frames {
        vec![
            self.c(SYN, 100, 0, 0),
            self.s(SYNACK, 900, 101, 0),
            self.c(ACK, 101, 901, 0),
        ]
    }

    /// The handshake, 100 bytes up and 300 down, FIN both ways and the last ACK.
    pub fn whole(&self) -> Frames {
        let mut v = self.handshake();
        v.extend([
            self.c(PSHACK, 101, 901, 100),
            self.s(PSHACK, 901, 201, 300),
            self.c(FINACK, 201, 1201, 0),
            self.s(FINACK, 1201, 202, 0),
            self.c(ACK, 202, 1202, 0),
        ]);
        v
    }
}

/// A UDP datagram.
pub fn udp(from: Host, to: To, ports: (u16, u16), len: usize, id: u16) -> (u32, Vec<u8>) {
    let l4 = L4Spec::Udp {
        sport: ports.0,
        dport: ports.1,
    };
    ip(from, to, l4, len, id)
}

/// An ICMP echo request (8) or reply (0).
pub fn echo(from: Host, to: To, ty: u8) -> (u32, Vec<u8>) {
    let l4 = L4Spec::Icmp {
        ty,
        code: 0,
        rest: 0x0001_0001,
    };
    ip(from, to, l4, 16, 4)
}

/// An ICMP error quoting `quoted` (an IP packet, or its first bytes), `rest` its second
/// word (the MTU of a "fragmentation needed").
pub fn icmp_error(
    from: Host,
    to: To,
    ty: u8,
    code: u8,
    rest: u32,
    quoted: &[u8],
) -> (u32, Vec<u8>) {
    let (p, mut e) = ip(from, to, L4Spec::Icmp { ty, code, rest }, 0, 6);
    e.extend_from_slice(quoted);
    fix_ipv4_and_icmp(&mut e);
    (p, e)
}

/// The IP packet of a frame as the next hop received it (one TTL less, header checksum
/// mended), `len` bytes of it: what an ICMP error quotes.
pub fn as_received(frame: &[u8], len: usize) -> Vec<u8> {
    let mut q = frame[14..].to_vec();
    q[8] -= 1;
    q[10..12].copy_from_slice(&[0, 0]);
    let c = pipeline::wire::checksum::checksum(&q[..20]);
    q[10..12].copy_from_slice(&c.to_be_bytes());
    q.truncate(len);
    q
}

/// Recomputes the IPv4 header checksum and total length, and the ICMP or UDP checksum.
pub fn fix_ipv4_and_icmp(f: &mut [u8]) {
    let tot = (f.len() - 14) as u16;
    f[16..18].copy_from_slice(&tot.to_be_bytes());
    f[24..26].copy_from_slice(&[0, 0]);
    let c = pipeline::wire::checksum::checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    if f[23] == 1 {
        f[36..38].copy_from_slice(&[0, 0]);
        let c = pipeline::wire::checksum::checksum(&f[34..]);
        f[36..38].copy_from_slice(&c.to_be_bytes());
    } else if f[23] == 17 {
        // A rewritten UDP header's checksum: recomputed from scratch.
        let src = u32::from_be_bytes(f[26..30].try_into().unwrap());
        let dst = u32::from_be_bytes(f[30..34].try_into().unwrap());
        f[40..42].copy_from_slice(&[0, 0]);
        let ph = pipeline::wire::checksum::pseudo_header_v4(src, dst, 17, f.len() - 34);
        let c = pipeline::wire::checksum::finish(pipeline::wire::checksum::sum16(&f[34..], ph));
        f[40..42].copy_from_slice(&c.to_be_bytes());
    }
}

/// Recomputes a TCP frame's checksum (IPv4, 20-byte header).
pub fn fix_tcp(f: &mut [u8]) {
    let src = u32::from_be_bytes(f[26..30].try_into().unwrap());
    let dst = u32::from_be_bytes(f[30..34].try_into().unwrap());
    f[50..52].copy_from_slice(&[0, 0]);
    let ph = pipeline::wire::checksum::pseudo_header_v4(src, dst, 6, f.len() - 34);
    let c = pipeline::wire::checksum::finish(pipeline::wire::checksum::sum16(&f[34..], ph));
    f[50..52].copy_from_slice(&c.to_be_bytes());
    f[24..26].copy_from_slice(&[0, 0]);
    let c = pipeline::wire::checksum::checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
}

/// Records of a pcap file from byte `from` on; returns them and the new end.
fn pcap_records(path: &Path, from: usize) -> (Vec<Vec<u8>>, usize) {
    let d = std::fs::read(path).unwrap_or_default();
    let mut at = from.max(24);
    let mut out = Vec::new();
    while at + 16 <= d.len() {
        let n = u32::from_le_bytes(d[at + 8..at + 12].try_into().unwrap()) as usize;
        if at + 16 + n > d.len() {
            break;
        }
        out.push(d[at + 16..at + 16 + n].to_vec());
        at += 16 + n;
    }
    (out, at)
}

/// Open vSwitch (dummy datapath, the node's ports as dummy devices) with the flows loaded;
/// frames go in with `netdev-dummy/receive`, come out in each port's `tx_pcap`.
pub struct OvsSide {
    ovs: Ovs,
    node: &'static str,
    pub ctl: String,
    pcap_at: BTreeMap<u32, usize>,
}

impl OvsSide {
    /// `groups` (an `add-groups` file) are added before the flows.
    pub fn start(node: &'static str, tag: &str, flows: &Path, groups: Option<&Path>) -> OvsSide {
        let ovs = Ovs::start(node, tag);
        let d = ovs.dir.0.display().to_string();
        for (name, _) in node_ports(node) {
            let o = Command::new("ovs-vsctl")
                .args([&format!("--db=unix:{d}/db.sock"), "set", "interface", name])
                .arg(format!("options:tx_pcap={d}/{name}.pcap"))
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        let m = ovs.mgmt();
        if let Some(g) = groups {
            ofctl_ok(&["-O", "OpenFlow15", "add-groups", &m, g.to_str().unwrap()]);
        }
        ofctl_ok(&["-O", "OpenFlow15", "add-flows", &m, flows.to_str().unwrap()]);
        let ctl = format!("{d}/vswitchd.ctl");
        OvsSide {
            ovs,
            node,
            ctl,
            pcap_at: BTreeMap::new(),
        }
    }

    fn name(&self, port: u32) -> &'static str {
        node_ports(self.node)
            .into_iter()
            .find(|p| p.1 == port)
            .unwrap_or_else(|| panic!("{}: no port {port}", self.node))
            .0
    }

    /// Sends `frames` in order and returns what every port sent since the last call.
    pub fn run(&mut self, frames: &[(u32, Vec<u8>)]) -> Out {
        for (port, f) in frames {
            let hex: String = f.iter().map(|b| format!("{b:02x}")).collect();
            let o = Command::new("ovs-appctl")
                .args([
                    "-t",
                    &self.ctl,
                    "netdev-dummy/receive",
                    self.name(*port),
                    &hex,
                ])
                .output()
                .unwrap();
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }
        // Until the pcaps stop growing.
        let ports = node_ports(self.node);
        let mut last = 0;
        for _ in 0..40 {
            std::thread::sleep(Duration::from_millis(50));
            let total: u64 = ports
                .iter()
                .map(|(n, _)| {
                    std::fs::metadata(self.ovs.dir.join(format!("{n}.pcap"))).map_or(0, |m| m.len())
                })
                .sum();
            if total == last {
                break;
            }
            last = total;
        }
        let mut out = BTreeMap::new();
        for (name, port) in ports {
            let at = self.pcap_at.get(&port).copied().unwrap_or(0);
            let (recs, end) = pcap_records(&self.ovs.dir.join(format!("{name}.pcap")), at);
            self.pcap_at.insert(port, end);
            if !recs.is_empty() {
                out.insert(port, recs);
            }
        }
        out
    }

    /// Prints OVS's fragment status, datapath flows and connections (debugging a sequence).
    pub fn dump(&self) {
        for c in [
            "dpctl/ipf-get-status",
            "dpctl/dump-flows",
            "dpctl/dump-conntrack",
        ] {
            let o = Command::new("ovs-appctl")
                .args(["-t", &self.ctl, c])
                .output()
                .unwrap();
            eprintln!(
                "--- OVS {c}:\n{}{}",
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
}

/// brisk's fast path with the same flows and groups, as a worker runs it.
pub struct BriskSide {
    bridge: pipeline::bridge::Bridge,
    fp: FastPath<VecFrame>,
    now: u64,
}

impl BriskSide {
    pub fn start(node: &str, flows: &str, groups: &str) -> BriskSide {
        let bridge =
            pipeline::seed::bridge_with_groups(node, groups, flows, ConntrackConfig::default());
        BriskSide {
            bridge,
            fp: FastPath::new(FastPathConfig::default()),
            now: 1_000,
        }
    }

    pub fn run(&mut self, frames: &[(u32, Vec<u8>)]) -> Out {
        let mut sink = Collect::new();
        for (port, f) in frames {
            self.now += 1;
            self.fp.process_burst(
                &self.bridge,
                [(VecFrame::new(f), *port, None)],
                self.now,
                &mut sink,
            );
            self.fp.service(&self.bridge, self.now, &mut sink);
        }
        let mut out: Out = BTreeMap::new();
        for (port, _, p) in sink.outputs {
            out.entry(port).or_default().push(p.frame.data().to_vec());
        }
        out
    }
}

/// Frames a port map holds.
pub fn count(m: &Out) -> usize {
    m.values().map(Vec::len).sum()
}

/// A deliberate difference `docs/pipeline.md` explains, recognised by the sequence's name
/// and the frames each switch sent (brisk's, OVS's); None: not one of them.
pub type Explain = fn(&str, &Out, &Out) -> Option<&'static str>;

/// The tally of one differential: per category (sequences, frames in, frames out of OVS,
/// identical, documented differences), and what failed.
#[derive(Default)]
pub struct Tally {
    table: BTreeMap<String, (usize, usize, usize, usize, usize)>,
    pub failures: Vec<String>,
}

impl Tally {
    /// Runs every sequence through both switches and compares what left every port.
    pub fn run(
        &mut self,
        label: &str,
        ovs: &mut OvsSide,
        brisk: &mut BriskSide,
        seqs: Vec<Sequence>,
        explained: Explain,
    ) {
        for (cat, name, frames) in seqs {
            let o = ovs.run(&frames);
            let b = brisk.run(&frames);
            if std::env::var("CTDIFF_DEBUG").is_ok_and(|v| v == name) {
                ovs.dump();
                eprintln!("--- brisk {b:02x?}\n--- OVS {o:02x?}");
            }
            let e = self.table.entry(format!("{label} {cat}")).or_default();
            e.0 += 1;
            e.1 += frames.len();
            e.2 += count(&o);
            if o == b {
                e.3 += 1;
                continue;
            }
            match explained(name, &b, &o) {
                Some(why) => {
                    e.4 += 1;
                    eprintln!("{label} {cat}/{name}: differs as documented: {why}");
                }
                None => self.failures.push(format!(
                    "{label} {cat}/{name}: brisk {:?} vs OVS {:?}\n  brisk {b:02x?}\n  OVS   {o:02x?}",
                    b.iter().map(|(p, v)| (p, v.len())).collect::<Vec<_>>(),
                    o.iter().map(|(p, v)| (p, v.len())).collect::<Vec<_>>()
                )),
            }
        }
    }

    /// Another differential's rows and failures, into this one.
    pub fn absorb(&mut self, other: Tally) {
        self.table.extend(other.table);
        self.failures.extend(other.failures);
    }

    /// Frames OVS sent for a category's sequences.
    pub fn forwarded(&self, key: &str) -> usize {
        self.table.get(key).map_or(0, |e| e.2)
    }

    /// Prints the table (markdown) and fails on any unexplained difference.
    pub fn finish(self) {
        eprintln!("| node, category | sequences | frames in | frames out (OVS) | identical | documented differences |");
        eprintln!("|---|---:|---:|---:|---:|---:|");
        for (cat, (seqs, fin, fout, same, doc)) in &self.table {
            eprintln!("| {cat} | {seqs} | {fin} | {fout} | {same} of {seqs} | {doc} |");
        }
        assert!(self.failures.is_empty(), "{}", self.failures.join("\n"));
    }
}
