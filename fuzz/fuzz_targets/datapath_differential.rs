//! The datapath against itself: a stream of frames built from the input (valid
//! Ethernet/VLAN/ARP/IPv4/IPv6/TCP/UDP/ICMP headers between the node's pods, gateway,
//! tunnel peers and Services, with mutated fields, options, fragment bits, bad checksums
//! and truncations, TCP conversations, raw bytes), flow-table and connection changes in
//! between, through the slow path and the fast path (EMC, megaflows, chains, connection
//! hints, batching) of one of four nodes: the seed's worker1 and worker2 (kube-proxy) and
//! both generated with `proxy: antrea-proxy`. Conntrack state is carried across the stream.
//! Any panic, or any frame whose outputs (ports, tunnel metadata, bytes) or drop reasons
//! differ between the two paths, fails. Fragment reassembly is off here (the slow path
//! has no reassembler; `ipf_reassembly` fuzzes it), so a fragment is `+inv` on both.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipeline::bridge::Bridge;
use pipeline::build::{arp_frame, eth_header, ipv4_frame, Ipv4Spec, L4Spec};
use pipeline::conntrack::ConntrackConfig;
use pipeline::dpaction::{Collect, DropReason, Packet, TunnelMeta};
use pipeline::fastpath::{FastPath, FastPathConfig};
use pipeline::ofctl::{parse_flow, Mode};
use pipeline::packet::VecFrame;
use pipeline::slowpath::process;
use pipeline::tables::FlowMod;

/// A host on or behind the node: in_port (0: not on this node), MAC, IPv4.
type Host = (u32, u64, u32);

struct NodeDef {
    name: &'static str,
    flows: String,
    groups: String,
    hosts: Vec<Host>,
    /// Addresses frames go to besides the hosts: Services, remote pods, the outside.
    dsts: Vec<u32>,
    gw_mac: u64,
    /// The other node's address (a tunnel peer).
    peer: u32,
}

const VMAC: u64 = 0xaabb_ccdd_eeff;

fn node_defs() -> Vec<NodeDef> {
    let w1 = include_str!("../../testdata/antrea-seed/worker1.flows");
    let w2 = include_str!("../../testdata/antrea-seed/worker2.flows");
    let hosts1 = vec![
        (2, 0x4e99_08c1_53be, 0x0ade_0101),
        (3, 0xf282_cc96_dabd, 0x0ade_0102),
        (4, 0x6e9e_5a3e_3fe8, 0x0ade_0103),
        (48, 0xf232_d807_e2a6, 0x0ade_012f),
        (49, 0xbe2c_bfe4_ecc5, 0x0ade_0130),
        (1, 0xaabb_ccdd_eeff, 0x0ade_0222),
        (1, 0xaabb_ccdd_eeff, 0x0ade_0202),
    ];
    let hosts2 = vec![
        (2, 0x02d8_4e3f_921d, 0x0ade_0201),
        (3, 0x529d_f463_06bc, 0x0ade_0202),
        (35, 0xc6f4_b576_1038, 0x0ade_0222),
        (1, 0xaabb_ccdd_eeff, 0x0ade_0130),
        (1, 0xaabb_ccdd_eeff, 0x0ade_012f),
    ];
    let dsts = vec![0x0a68_4185, 0x0a60_000a, 0x0a60_0014, 0x0808_0808, 0x0ade_0001];
    let proxied = |node: &str, yaml: &str| {
        let y = yaml.replace("\nproxy: kube-proxy\n", "\nproxy: antrea-proxy\n").replace(
            "\nservices:\n",
            "\nservices:\n  - {name: dns, namespace: kube-system, cluster_ip: 10.96.0.10, ports: [{port: 53, protocol: UDP}], endpoints: [\"10.222.1.2:53\", \"10.222.2.2:53\"]}\n  - {name: one, cluster_ip: 10.96.0.20, ports: [{port: 80, protocol: TCP}], endpoints: [\"10.222.1.47:80\"]}\n",
        );
        let plan = conf::node::Plan::parse(&y, node).expect("the example node parses");
        (plan.flows(), plan.groups())
    };
    let (f1, g1) = proxied("worker1", include_str!("../../conf/examples/worker1.yaml"));
    let (f2, g2) = proxied("worker2", include_str!("../../conf/examples/worker2.yaml"));
    let def = |name, flows: String, groups: String, hosts: &Vec<Host>, gw_mac, peer| NodeDef {
        name,
        flows,
        groups,
        hosts: hosts.clone(),
        dsts: dsts.clone(),
        gw_mac,
        peer,
    };
    vec![
        def("worker1", w1.into(), String::new(), &hosts1, 0x4e99_08c1_53be, 0x0a4f_01ca),
        def("worker2", w2.into(), String::new(), &hosts2, 0x02d8_4e3f_921d, 0x0a4f_01c9),
        def("worker1", f1, g1, &hosts1, 0x4e99_08c1_53be, 0x0a4f_01ca),
        def("worker2", f2, g2, &hosts2, 0x02d8_4e3f_921d, 0x0a4f_01c9),
    ]
}

/// A node's two bridges and the fast path, kept across inputs (built once: building them
/// per input was 100 runs/s) and put back before each: flows as loaded, no connections,
/// empty caches.
struct Pair {
    def: NodeDef,
    slow: Bridge,
    fast: Bridge,
    fp: FastPath<VecFrame>,
    flows: Vec<pipeline::ofctl::FlowEntry>,
    dirty: bool,
}

impl Pair {
    fn new(def: NodeDef) -> Pair {
        let (slow, fast) = (bridge(&def), bridge(&def));
        let pm = slow.ports();
        let (fl, errs) = pipeline::ofctl::parse_flow_file(&def.flows, Mode::Add, pm.names());
        assert!(errs.is_empty());
        drop(pm);
        Pair {
            def,
            slow,
            fast,
            fp: FastPath::new(FastPathConfig {
                emc_insert_inv_prob: 1,
                max_upcalls_per_burst: 64,
                ..Default::default()
            }),
            flows: fl.into_iter().map(|(_, f)| f).collect(),
            dirty: false,
        }
    }

    fn reset(&mut self) {
        for b in [&self.slow, &self.fast] {
            if self.dirty {
                b.replace_flows(&self.flows, 0).unwrap();
            }
            b.conntrack.flush(None);
        }
        self.dirty = false;
        self.fp.flush();
    }
}

/// Frames compared so far (printed every 2^20: the run's total for the note).
static FRAMES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

thread_local! {
    static PAIRS: std::cell::RefCell<Vec<Pair>> =
        std::cell::RefCell::new(node_defs().into_iter().map(Pair::new).collect());
}

fn bridge(n: &NodeDef) -> Bridge {
    let b = pipeline::seed::bridge_with_groups(
        n.name,
        &n.groups,
        &n.flows,
        ConntrackConfig {
            seed: 5,
            ..Default::default()
        },
    );
    b.conntrack.ipf.set_enabled(false, false);
    b.conntrack.ipf.set_enabled(true, false);
    b
}

/// The input, read a byte at a time (zeros once spent).
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((b, rest)) => {
                self.0 = rest;
                *b
            }
            None => 0,
        }
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes([self.u8(), self.u8()])
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[usize::from(self.u8()) % from.len()]
    }
    fn done(&self) -> bool {
        self.0.is_empty()
    }
}

/// A TCP conversation the input steps through (handshake, data, FIN, in order unless the
/// input says otherwise), so connections reach every state.
#[derive(Clone, Copy)]
struct Conv {
    a: Host,
    b: Host,
    sport: u16,
    dport: u16,
    seq: [u32; 2],
    step: u8,
}

type Outcome = (Vec<(u32, Option<TunnelMeta>, Vec<u8>)>, Vec<DropReason>);

fn outcome(c: Collect<VecFrame>) -> Outcome {
    let mut o: Vec<_> = c.outputs.into_iter().map(|(p, t, pk)| (p, t, pk.frame.to_vec())).collect();
    o.sort_by(|a, b| (a.0, &a.2).cmp(&(b.0, &b.2)));
    let mut d: Vec<_> = c.drops.into_iter().collect();
    d.sort();
    (o, d)
}

/// Where a frame from `from` is sent: to the tunnel it arrives decapsulated.
fn tunnel_of(n: &NodeDef, from: Host, inp: &mut Input) -> Option<TunnelMeta> {
    (from.0 == 1).then(|| TunnelMeta {
        src: if inp.u8() % 8 == 0 { inp.u32() } else { n.peer },
        md_present: inp.u8() & 1,
        md: [u64::from(inp.u8() & 0x3f) << 26, 0, 0, 0, 0, 0, 0, 0],
        ..Default::default()
    })
}

/// An IPv4 frame from `from` to `dst` as the input shapes it.
fn ip_frame(n: &NodeDef, from: Host, dst: u32, l4: L4Spec, inp: &mut Input) -> Vec<u8> {
    let m = inp.u8();
    let dmac = match m % 4 {
        0 => VMAC,
        1 => n.gw_mac,
        2 => inp.pick(&n.hosts).1,
        _ => u64::from(inp.u32()),
    };
    let mut f = ipv4_frame(&Ipv4Spec {
        eth_src: if m & 0x80 != 0 { from.1 ^ 1 } else { from.1 },
        eth_dst: dmac,
        vlan: (m & 0x40 != 0).then(|| inp.u16() & 0x0fff),
        src: if m & 0x20 != 0 { inp.u32() } else { from.2 },
        dst,
        ttl: inp.pick(&[64, 1, 0, 255]),
        tos: inp.u8() & 0xfc,
        id: inp.u16(),
        frag: if m & 0x10 != 0 { inp.u16() } else { 0x4000 },
        l4,
        payload: vec![0x5a; usize::from(inp.u8() % 48)],
    });
    let v = usize::from(m & 0x40 != 0) * 4;
    let harm = inp.u8();
    if harm & 1 != 0 && f.len() > 36 + v {
        // A checksum (IP header or L4) wrong.
        let at = if harm & 2 != 0 { 24 + v } else { f.len() - 1 };
        f[at] ^= 0x41;
    }
    if harm & 4 != 0 {
        f.truncate(usize::from(inp.u8()) % (f.len() + 1));
    }
    if harm & 8 != 0 && f.len() > 34 + v {
        // IP options: four bytes of NOPs or a header length that lies.
        let at = 14 + v;
        if harm & 16 != 0 {
            f[at] = 0x40 | (inp.u8() & 0x0f);
        } else {
            f.splice(at + 20..at + 20, [1, 1, 1, 1]);
            f[at] = 0x46;
            let len = u16::from_be_bytes([f[at + 2], f[at + 3]]).wrapping_add(4);
            f[at + 2..at + 4].copy_from_slice(&len.to_be_bytes());
        }
    }
    f
}

/// The next step of conversation `c`.
fn conv_step(n: &NodeDef, c: &mut Conv, inp: &mut Input) -> (Host, Vec<u8>) {
    let (fwd, flags, len) = match c.step {
        0 => (true, 0x002, 0),
        1 => (false, 0x012, 0),
        2 => (true, 0x010, 0),
        3..=6 => (inp.u8() & 1 == 0, 0x018, usize::from(inp.u8() % 64) + 1),
        7 => (true, 0x011, 0),
        8 => (false, 0x011, 0),
        _ => (true, if inp.u8() & 1 == 0 { 0x010 } else { 0x004 }, 0),
    };
    let k = usize::from(!fwd);
    let (from, to, sp, dp) = if fwd {
        (c.a, c.b, c.sport, c.dport)
    } else {
        (c.b, c.a, c.dport, c.sport)
    };
    let skew = if inp.u8() % 16 == 0 { inp.u32() } else { 0 };
    let l4 = L4Spec::Tcp {
        sport: sp,
        dport: dp,
        flags,
        seq: c.seq[k].wrapping_add(skew),
        ack: if flags & 0x010 != 0 { c.seq[1 - k] } else { 0 },
        win: 65535,
    };
    let f = ip_frame(n, from, to.2, l4, inp);
    c.seq[k] = c.seq[k].wrapping_add(len as u32 + u32::from(flags & 0x003 != 0));
    c.step = c.step.saturating_add(1);
    (from, f)
}

/// A flow-table change on both bridges (as Antrea's policy churn makes them).
fn change(bs: [&Bridge; 2], k: u8, now: u64) {
    let flows = [
        "table=10,priority=250,tcp,tp_dst=80 actions=drop",
        "table=70,priority=250,ip,nw_dst=10.222.2.0/24 actions=dec_ttl,mod_dl_dst:aa:bb:cc:dd:ee:ff,load:0x1->NXM_NX_REG1[],load:0x1->NXM_NX_REG0[16],load:0xa4f01cb->NXM_NX_TUN_IPV4_DST[],resubmit(,105)",
        "table=105,priority=220,ct_state=+est+trk,ip actions=ct(commit,table=110,zone=65520,exec(load:0x20->NXM_NX_CT_MARK[]))",
        "table=50,priority=250,udp,tp_dst=53 actions=resubmit(,70)",
    ];
    for b in bs {
        let pm = b.ports();
        let m = match k % 6 {
            4 => FlowMod::Delete {
                filter: parse_flow("table=60", Mode::Delete, pm.names()).unwrap(),
                strict: false,
                out_group: None,
            },
            5 => {
                b.conntrack.flush(None);
                continue;
            }
            i => FlowMod::Add(parse_flow(flows[usize::from(i)], Mode::Add, pm.names()).unwrap()),
        };
        b.apply(&[m], now).unwrap();
    }
}

fuzz_target!(|data: &[u8]| {
    PAIRS.with(|pairs| {
        let mut pairs = pairs.borrow_mut();
        let k = usize::from(data.first().copied().unwrap_or(0)) % pairs.len();
        let pair = &mut pairs[k];
        pair.reset();
        run(pair, &data[data.len().min(1)..]);
    });
});

/// One input's stream through both paths of `pair`'s node.
fn run(pair: &mut Pair, data: &[u8]) {
    let mut inp = Input(data);
    let (n, slow, fast, fp) = (&pair.def, &pair.slow, &pair.fast, &mut pair.fp);
    // DD_TRACE=1: every op and its frames (reading a reproducer).
    let trace = std::env::var_os("DD_TRACE").is_some();
    let mut convs: Vec<Conv> = Vec::new();
    let mut now = 1_000u64;
    let mut count = 0usize;
    while !inp.done() && count < 256 {
        count += 1;
        now += 1;
        let op = inp.u8();
        let mut burst: Vec<(u32, Vec<u8>, Option<TunnelMeta>)> = Vec::new();
        match op % 16 {
            0 => {
                let port = inp.pick(&n.hosts).0;
                let len = usize::from(inp.u8() % 96);
                burst.push((port, (0..len).map(|_| inp.u8()).collect(), None));
            }
            1 => {
                change([slow, fast], inp.u8(), now);
                pair.dirty = true;
            }
            2 => {
                now += u64::from(inp.u16()) * 16;
                if inp.u8() & 1 == 0 {
                    slow.conntrack.expire(now);
                    fast.conntrack.expire(now);
                }
                fp.maintain(now);
            }
            3 => {
                // Independent new connections in one burst: batching must not matter.
                for i in 0..2 + inp.u8() % 7 {
                    let from = inp.pick(&n.hosts);
                    let to = inp.pick(&n.hosts);
                    let l4 = L4Spec::Udp {
                        sport: 20_000 + (count as u16) * 8 + u16::from(i),
                        dport: inp.pick(&[53, 80]),
                    };
                    let mut i2 = Input(&[]);
                    let f = ip_frame(n, from, to.2, l4, &mut i2);
                    let tun = (from.0 == 1).then(|| TunnelMeta { src: n.peer, ..Default::default() });
                    burst.push((from.0, f, tun));
                }
            }
            4 => {
                let from = inp.pick(&n.hosts);
                let tpa = if inp.u8() & 1 == 0 { inp.pick(&n.hosts).2 } else { inp.u32() };
                let f = arp_frame(inp.pick(&[1, 2, 3]), from.1, from.2, 0, tpa);
                let tun = tunnel_of(n, from, &mut inp);
                burst.push((from.0, f, tun));
            }
            5 => {
                // IPv6: the pipeline has no IPv6 rules but parses and drops it.
                let from = inp.pick(&n.hosts);
                let mut f = Vec::new();
                eth_header(&mut f, VMAC, from.1, None, 0x86dd);
                let nh = inp.pick(&[6u8, 17, 58, 44, 0, 59]);
                let len = usize::from(inp.u8() % 40);
                f.extend_from_slice(&[0x60, 0, 0, 0, 0, len as u8, nh, 64]);
                f.extend((0..32 + len).map(|_| inp.u8()));
                burst.push((from.0, f, None));
            }
            6..=9 => {
                if convs.len() < 4 || op & 0x80 != 0 {
                    let a = inp.pick(&n.hosts);
                    let b = inp.pick(&n.hosts);
                    convs.push(Conv {
                        a,
                        b,
                        sport: 1024 + u16::from(inp.u8()),
                        dport: inp.pick(&[80, 53, 22, 8080]),
                        seq: [inp.u32(), inp.u32()],
                        step: 0,
                    });
                }
                let k = usize::from(inp.u8()) % convs.len();
                let (from, f) = conv_step(n, &mut convs[k], &mut inp);
                let tun = tunnel_of(n, from, &mut inp);
                burst.push((from.0, f, tun));
            }
            _ => {
                let from = inp.pick(&n.hosts);
                let dst = match inp.u8() % 3 {
                    0 => inp.pick(&n.hosts).2,
                    1 => inp.pick(&n.dsts),
                    _ => inp.u32(),
                };
                let l4 = match inp.u8() % 4 {
                    0 => L4Spec::Tcp {
                        sport: inp.u16(),
                        dport: inp.pick(&[80, 53, 22, 0]),
                        flags: inp.u16() & 0xfff,
                        seq: inp.u32(),
                        ack: inp.u32(),
                        win: inp.u16(),
                    },
                    1 => L4Spec::Udp { sport: inp.u16(), dport: inp.pick(&[53, 80, 6081, 0]) },
                    2 => L4Spec::Icmp { ty: inp.pick(&[0, 3, 8, 11, 5, 13]), code: inp.u8() % 5, rest: inp.u32() },
                    _ => L4Spec::Raw(inp.u8()),
                };
                let f = ip_frame(n, from, dst, l4, &mut inp);
                let tun = tunnel_of(n, from, &mut inp);
                burst.push((from.0, f, tun));
            }
        }
        if trace {
            eprintln!("op {count} ({}): frames {:02x?}", op % 16, burst);
        }
        if burst.is_empty() {
            continue;
        }
        let mut s_out = Collect::new();
        for (port, f, tun) in &burst {
            process(slow, Packet::new(VecFrame::new(f), *port, tun.as_ref()), now, &mut s_out, None);
        }
        let mut f_out = Collect::new();
        fp.process_burst(fast, burst.iter().map(|(p, f, t)| (VecFrame::new(f), *p, *t)), now, &mut f_out);
        let (so, fo) = (outcome(s_out), outcome(f_out));
        let before = FRAMES.fetch_add(burst.len() as u64, std::sync::atomic::Ordering::Relaxed);
        if (before >> 20) != ((before + burst.len() as u64) >> 20) {
            eprintln!("datapath_differential: {} frames compared", before + burst.len() as u64);
        }
        if so != fo {
            panic!(
                "{} (groups: {}): op {count}: slow and fast paths differ\n  in: {:02x?}\n  slow {so:02x?}\n  fast {fo:02x?}",
                n.name,
                !n.groups.is_empty(),
                burst
            );
        }
    }
}
