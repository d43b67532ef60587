//! `brisk-gen run`: one lcore sends each port's profile in bursts of 32 (every frame
//! stamped with port, sequence number and TSC in its last 16 bytes) and receives on every
//! port, counting rates, latency, reordering per flow and frames that are not what the
//! switch should have delivered.

use anyhow::{bail, Context};
use attacker::Attacker;
use perf::attack::ATTACK_STAMP_PORT;
use perf::gen::Profile;
use perf::traffic::{l4_csum_offset, read_stamp, write_stamp_csum, Expectations, Histogram, Stamp};
use pipeline::geneve::{self, TlvMap};
use pipeline::packet::{Frame, VecFrame};
use plan::{seed_tlv, Plan, Specs};
use std::time::{Duration, Instant};
use switch::dpdk::{rdtsc, tsc_hz, Eal, EthPort, MbufBatch, Mempool, PortConf};

mod attacker;
mod plan;

/// Arguments of `brisk-gen run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// A DPDK port by devargs (repeatable; the first is port 0). E.g.
    /// `net_virtio_user0,path=/tmp/fe.sock,server=1` to face a switch's vhost-user port.
    #[arg(long = "port", value_name = "DEVARGS")]
    ports: Vec<String>,
    /// What port I sends: `I:SPEC` (template in `ofproto/trace` syntax). Repeatable.
    #[arg(long = "tx", value_name = "I:SPEC")]
    tx: Vec<String>,
    /// Field that differs between port I's flows: `I:FIELD` (default tp_src).
    #[arg(long = "vary", value_name = "I:FIELD")]
    vary: Vec<String>,
    /// A ready profile, checked against the seed's worker1 flows: `antrea-udp` = port 0 is
    /// worker1's frontend pod (ofport 49) sending UDP to coredns (port 1, ofport 3), which
    /// answers; `antrea-gw-udp` = the same DNS traffic from clients outside the node
    /// (172.16.0.1, ports varied) through the gateway antrea-gw0 (port 0, ofport 2), the
    /// traffic attacks from outside share; `antrea-tcp` = frontend opening TCP connections to backend1:80 (port 1,
    /// ofport 48) with full handshakes, then data one way and ACKs back; `antrea-svc` = the
    /// same connections opened to the backendsvc cluster IP 10.104.65.133:80 through the
    /// frontend's gateway MAC, backend1 answering as the endpoint (for a worker1 pipeline
    /// generated with `proxy: antrea-proxy`; give it with --expect-flows/--expect-groups).
    #[arg(long)]
    preset: Option<String>,
    /// Handshake before measuring: `CLIENT:SERVER` port indexes (TCP: SYN from the client,
    /// SYN-ACK from the server, ACK; UDP: the client's first datagram of each flow), so
    /// conntrack sees the client's connections, established, when measuring starts.
    #[arg(long, value_name = "CLIENT:SERVER")]
    handshake: Option<String>,
    /// Flows per sending port.
    #[arg(long, default_value_t = 1)]
    flows: u32,
    /// Frame size on the wire including FCS (64..9004), or `imix` (7 x 64, 4 x 594,
    /// 1 x 1518 bytes, by flow index).
    #[arg(long, default_value = "64")]
    size: String,
    /// Rate per sending port in Mpps (0: as fast as the ports take them).
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Seconds to measure.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Stop after sending this many frames while measuring (the duration is then a limit).
    #[arg(long)]
    packets: Option<u64>,
    /// Send port I's frames pre-encapsulated in Geneve, as a remote node would:
    /// `I:SRC_IP>DST_IP[,vni=N][,md0=V][,src_mac=M][,dst_mac=M]` (md0: tun_metadata0 in
    /// the seed's TLV map, class 0x104 type 0x80). With --expect-seed give that port's
    /// --ofport as the tunnel's OpenFlow port.
    #[arg(long, value_name = "I:SRC>DST[,...]")]
    encap: Vec<String>,
    /// Seconds of traffic before measuring (connections get established, caches warm).
    /// Frames sent in the warmup count neither as sent nor, arriving later, as received.
    #[arg(long, default_value_t = 2)]
    warmup: u64,
    /// Seconds to wait for every port's link (a vhost-user peer to connect).
    #[arg(long, default_value_t = 30)]
    wait_link: u64,
    /// Check received frames against a seed node's flows (`worker1`, `worker2`).
    #[arg(long, conflicts_with = "expect_flows")]
    expect_seed: Option<String>,
    /// Check received frames against this flows file, on worker1's ports (e.g. the output
    /// of `brisk conf flows`).
    #[arg(long)]
    expect_flows: Option<String>,
    /// Groups the --expect-flows use (e.g. the output of `brisk conf groups`).
    #[arg(long, requires = "expect_flows")]
    expect_groups: Option<String>,
    /// The OpenFlow port generator port I faces: `I:OFPORT` (for --expect-seed).
    #[arg(long = "ofport", value_name = "I:OFPORT")]
    ofports: Vec<String>,
    /// Attack traffic beside the measured traffic: `I:KIND@RATE`, sent from port I (which
    /// may also send a profile). KIND: `tse` (Tuple Space Explosion: every combination of
    /// one flipped bit, or none, in nw_src and tp_dst, or in the fields named as
    /// `tse=nw_dst+tp_src+tp_dst` from nw_src, nw_dst, tp_src, tp_dst), `tse2` (the
    /// same, each combination as a burst of 32), `syn` (TCP SYNs, each from a new random
    /// source address and port), `udp` (the same in UDP). RATE: `1mbps`, `10mbps` (bits on the wire, with preamble and gap), `1mpps`,
    /// `500kpps`. Attack frames count neither as sent nor as received; the report gives
    /// them apart. From a port of their own, frames its full ring refuses are dropped (as
    /// a NIC drops them); from a port that sends a profile, they ride in its bursts (at
    /// most 8 of 32).
    #[arg(long, value_name = "I:KIND@RATE", requires = "attack_spec")]
    attack: Option<String>,
    /// The attack's template packet (`ofproto/trace` syntax): addresses, ports, MACs.
    #[arg(long, value_name = "SPEC")]
    attack_spec: Option<String>,
    /// The attack frames' size on the wire with FCS (default: the smallest that holds the
    /// headers and the stamp, at least 64).
    #[arg(long)]
    attack_size: Option<usize>,
    /// Write the final report as JSON to this file (`-`: stdout).
    #[arg(long)]
    json: Option<String>,
    /// EAL arguments.
    #[arg(last = true)]
    eal: Vec<String>,
}

struct Port {
    eth: EthPort,
    frames: Vec<Vec<u8>>,
    next: usize,
    seq: u32,
    /// TSC time the next burst may go (rate limiting).
    due: u64,
    gap: u64,
    tx: u64,
    /// Bursts the tx ring could not take whole (retried).
    tx_full: u64,
    rx: u64,
    rx_bytes: u64,
    /// The burst being sent.
    pending: MbufBatch,
    /// L4 checksum offset of this port's frames (kept valid under the stamp).
    csum_at: Option<usize>,
}

#[derive(Default, Clone, Copy)]
struct Totals {
    tx: u64,
    rx: u64,
    rx_bytes: u64,
    tx_full: u64,
    unexpected: u64,
    unstamped: u64,
    reordered: u64,
    /// Attack frames the switch delivered to a generator port.
    attack_rx: u64,
}

/// `brisk-gen run`: starts the ports, sends the handshake, then measures and reports.
pub fn run(a: RunArgs) -> anyhow::Result<()> {
    let specs = Specs::with_preset(&a)?;
    if a.ports.is_empty() {
        bail!("give at least one --port DEVARGS");
    }
    let n = a.ports.len();
    let plan = Plan::new(&a, &specs)?;

    let mut args = vec!["brisk-gen".to_string()];
    args.extend(a.eal.iter().cloned());
    let eal = Eal::init(&args).context("initialising DPDK (EAL arguments after --)")?;
    switch::signal::install();
    let pool =
        Mempool::new("gen_pool", 16383 * n as u32, 256, 2048 + 128, -1).context("mbuf pool")?;
    let hz = tsc_hz();
    let mut ports = start_ports(&a, &plan, &pool, hz)?;
    let mut attacker = Attacker::new(&a, n, hz)?;
    wait_for_links(&ports, a.wait_link)?;
    handshake(&mut ports, &plan.prelude, &pool);
    eprintln!(
        "brisk-gen: {} ports up; {} flows x {} B per sending port; warmup {} s, measuring {} s",
        n, a.flows, a.size, a.warmup, a.duration
    );

    let mut meter = Meter::new(&plan.profiles, a.flows);
    let mut rxb = MbufBatch::new();
    let window = measure(
        &a,
        &mut ports,
        &pool,
        &plan,
        (&mut meter, attacker.as_mut()),
        &mut rxb,
        hz,
    );
    // Drain what is still in flight (counted as received, not lost).
    let drain_until = rdtsc() + hz / 5;
    while rdtsc() < drain_until {
        for p in ports.iter_mut() {
            let got = p.eth.rx_burst(0, &mut rxb);
            p.rx += got as u64;
            for m in rxb.drain() {
                p.rx_bytes += m.len() as u64;
            }
        }
    }
    report(
        &a,
        &sum(&ports, &meter.tot),
        window,
        &meter,
        &plan,
        attacker.as_ref(),
    )?;
    if let Some(at) = attacker.as_mut() {
        at.pending.free_all();
    }
    for mut p in ports {
        p.pending.free_all();
        let _ = p.eth.stop();
    }
    drop(rxb);
    drop(pool);
    eal.cleanup()?;
    Ok(())
}

/// Starts every --port with its frames (encapsulated when it has --encap) and pace.
fn start_ports(a: &RunArgs, plan: &Plan, pool: &Mempool, hz: u64) -> anyhow::Result<Vec<Port>> {
    let tlv = seed_tlv();
    let mut ports = Vec::new();
    for (i, d) in a.ports.iter().enumerate() {
        let mut eth = EthPort::from_devargs(d).with_context(|| format!("port {i}: {d}"))?;
        eth.configure_and_start(
            &PortConf {
                rx_desc: 1024,
                tx_desc: 1024,
                ..PortConf::default()
            },
            pool,
        )
        .with_context(|| format!("starting port {i} ({d})"))?;
        let (frames, csum_at) = port_frames(i, plan, &tlv)?;
        let gap = if a.rate > 0.0 {
            (hz as f64 * 32.0 / (a.rate * 1e6)) as u64
        } else {
            0
        };
        ports.push(Port {
            eth,
            csum_at,
            frames,
            next: 0,
            seq: 0,
            due: 0,
            gap,
            tx: 0,
            tx_full: 0,
            rx: 0,
            rx_bytes: 0,
            pending: MbufBatch::new(),
        });
    }
    Ok(ports)
}

/// Port `i`'s frames, and where the stamp's checksum update goes: the inner L4 checksum,
/// after the outer headers when the port sends Geneve.
fn port_frames(
    i: usize,
    plan: &Plan,
    tlv: &TlvMap,
) -> anyhow::Result<(Vec<Vec<u8>>, Option<usize>)> {
    let mut frames = plan.profiles[i]
        .as_ref()
        .map(|p| p.frames())
        .unwrap_or_default();
    let mut csum_at = frames.first().and_then(|f| l4_csum_offset(f));
    if let Some((meta, params)) = &plan.tunnels[i] {
        let inner_len = frames.first().map_or(0, Vec::len);
        for f in frames.iter_mut() {
            let mut vf = VecFrame::with_headroom(f, 256);
            let h = (f.len() as u32).wrapping_mul(0x9e37_79b9) ^ (f[f.len() / 2] as u32);
            geneve::push(&mut vf, meta, tlv, params, h, 9000)
                .map_err(|e| anyhow::anyhow!("--encap on port {i}: {e}"))?;
            *f = vf.data().to_vec();
        }
        let outer = frames.first().map_or(0, |f| f.len() - inner_len);
        csum_at = csum_at.map(|c| c + outer);
    }
    Ok((frames, csum_at))
}

/// Waits for every port's link (vhost-user peers connect when the switch starts).
fn wait_for_links(ports: &[Port], secs: u64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !ports.iter().all(|p| p.eth.link().up) {
        if Instant::now() > deadline || switch::signal::stop_requested() {
            bail!("links not up after {secs} s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}

/// Sends the handshake's phases in order, each at the switch's pace.
fn handshake(ports: &mut [Port], prelude: &[(usize, Profile)], pool: &Mempool) {
    for (pi, prof) in prelude {
        let frames = prof.frames();
        let (sent, got) = send_all(ports, *pi, &frames, pool);
        let udp = pipeline::field::Field::NwProto.get(&prof.template)
            == u128::from(pipeline::flow::ip_proto::UDP);
        let what = match pipeline::field::Field::TcpFlags.get(&prof.template) {
            _ if udp => "first UDP datagrams",
            0x002 => "SYN",
            0x012 => "SYN-ACK",
            _ => "ACK",
        };
        eprintln!("brisk-gen: handshake: port {pi} sent {sent} {what} segments, {got} arrived");
    }
}

/// What the receive side counts: totals, latency, per-flow order and the per-second rates.
struct Meter {
    tot: Totals,
    hist: Histogram,
    /// Per sending port and flow, the highest sequence number received.
    last_seq: Vec<Vec<u32>>,
    /// Totals at the last per-second line.
    sec: Totals,
    per_second: Vec<f64>,
    /// Past the warmup.
    measuring: bool,
    /// TSC at which the measurement started: frames stamped earlier were sent in the
    /// warmup and are not counted as received.
    from_tsc: u64,
}

impl Meter {
    fn new(profiles: &[Option<Profile>], flows: u32) -> Meter {
        let flows = flows.max(1) as usize;
        Meter {
            tot: Totals::default(),
            hist: Histogram::default(),
            last_seq: profiles
                .iter()
                .map(|p| vec![0; if p.is_some() { flows } else { 0 }])
                .collect(),
            sec: Totals::default(),
            per_second: Vec::new(),
            measuring: false,
            from_tsc: 0,
        }
    }

    /// The warmup is over: its counts are forgotten.
    fn start(&mut self, ports: &mut [Port], now: u64) {
        self.measuring = true;
        self.from_tsc = now;
        self.tot = Totals::default();
        self.sec = self.tot;
        self.hist = Histogram::default();
        for p in ports {
            p.tx = 0;
            p.rx = 0;
            p.rx_bytes = 0;
            p.tx_full = 0;
        }
    }

    /// Checks one received frame (received at TSC `t`) from port `pi`: its stamp, latency,
    /// whether the switch should have delivered it there, and its order within its flow.
    /// Returns whether it counts as received: not if it was sent in the warmup (its loss
    /// would not have counted either).
    fn record(
        &mut self,
        pi: usize,
        d: &[u8],
        t: u64,
        expect: Option<&Expectations>,
        ns_per_tick: f64,
    ) -> bool {
        let Some(s) = read_stamp(d) else {
            self.tot.unstamped += 1;
            return true;
        };
        if s.port == ATTACK_STAMP_PORT {
            self.tot.attack_rx += u64::from(self.measuring);
            return false;
        }
        if self.measuring && s.tsc < self.from_tsc {
            return false;
        }
        if self.measuring {
            self.hist
                .record((t.saturating_sub(s.tsc) as f64 * ns_per_tick) as u64);
        }
        if let Some(e) = expect {
            if !e.check(pi as u8, d, &s) {
                self.tot.unexpected += 1;
                if self.tot.unexpected <= 3 && std::env::var_os("BRISK_GEN_SHOW").is_some() {
                    eprintln!("unexpected on port {pi}: stamp {s:?} frame {d:02x?}");
                }
            }
        }
        if let Some(ls) = self.last_seq.get_mut(usize::from(s.port)) {
            if !ls.is_empty() {
                let f = s.seq as usize % ls.len();
                if s.seq < ls[f] {
                    self.tot.reordered += 1;
                } else {
                    ls[f] = s.seq;
                }
            }
        }
        true
    }

    /// Prints the last second's rates (`at`: seconds into the measurement).
    fn print_second(&mut self, ports: &[Port], at: f64) {
        let cur = sum(ports, &self.tot);
        let d_tx = cur.tx - self.sec.tx;
        let d_rx = cur.rx - self.sec.rx;
        let d_bytes = cur.rx_bytes - self.sec.rx_bytes;
        let gbps = (d_bytes + d_rx * 24) as f64 * 8.0 / 1e9;
        println!(
            "[{:>4.0} s] tx {:>7.3} Mpps  rx {:>7.3} Mpps {:>7.3} Gbps  unexpected {}  reordered {}  p50 {} ns  p99 {} ns",
            at,
            d_tx as f64 / 1e6,
            d_rx as f64 / 1e6,
            gbps,
            cur.unexpected,
            cur.reordered,
            self.hist.quantile(0.5),
            self.hist.quantile(0.99)
        );
        self.per_second.push(d_rx as f64 / 1e6);
        self.sec = cur;
    }
}

/// Sends and receives through the warmup and the measurement (until --duration or
/// --packets), printing each second. Returns the seconds measured.
fn measure(
    a: &RunArgs,
    ports: &mut [Port],
    pool: &Mempool,
    plan: &Plan,
    (meter, mut attacker): (&mut Meter, Option<&mut Attacker>),
    rxb: &mut MbufBatch,
    hz: u64,
) -> f64 {
    let start = rdtsc();
    let measure_from = start + a.warmup * hz;
    let end = if a.packets.is_some() {
        measure_from + a.duration.max(3600) * hz
    } else {
        measure_from + a.duration * hz
    };
    let mut next_print = measure_from + hz;
    let ns_per_tick = 1e9 / hz as f64;
    let mut now = rdtsc();
    while now < end && !switch::signal::stop_requested() {
        if let (Some(limit), true) = (a.packets, meter.measuring) {
            if ports.iter().map(|p| p.tx).sum::<u64>() >= limit {
                break;
            }
        }
        if !meter.measuring && now >= measure_from {
            meter.start(ports, now);
            if let Some(at) = attacker.as_deref_mut() {
                at.start_measuring();
            }
        }
        for (pi, p) in ports.iter_mut().enumerate() {
            // An attack from a port that sends a profile rides in that port's bursts.
            let mixed = attacker
                .as_deref_mut()
                .filter(|at| at.attack.port == pi && !p.frames.is_empty());
            send_burst(p, pi, pool, now, mixed);
        }
        if let Some(at) = attacker.as_deref_mut() {
            if ports[at.attack.port].frames.is_empty() {
                at.send(ports, pool, now);
            }
        }
        for (pi, p) in ports.iter_mut().enumerate() {
            let got = p.eth.rx_burst(0, rxb);
            if got == 0 {
                continue;
            }
            let t = rdtsc();
            for m in rxb.drain() {
                let d = m.data();
                if meter.record(pi, d, t, plan.expect.as_ref(), ns_per_tick) {
                    p.rx += 1;
                    p.rx_bytes += d.len() as u64;
                }
            }
        }
        now = rdtsc();
        if meter.measuring && now >= next_print {
            next_print += hz;
            meter.print_second(ports, (now - measure_from) as f64 / hz as f64);
        }
    }
    (now.min(end).saturating_sub(measure_from)) as f64 / hz as f64
}

/// Sends port `pi`'s next burst of 32 stamped frames when its pace allows, with the attack
/// frames due now (at most 8) in its first slots when the attack leaves from this port.
fn send_burst(p: &mut Port, pi: usize, pool: &Mempool, now: u64, mut atk: Option<&mut Attacker>) {
    if p.frames.is_empty() || (p.gap != 0 && now < p.due) {
        return;
    }
    // A burst the ring did not take is retried as it is (like testpmd), not rebuilt:
    // rebuilding would spend the generator's core on alloc/copy/free.
    if p.pending.is_empty() {
        if !p.pending.alloc_bulk(pool, 32) {
            return;
        }
        let tsc = rdtsc();
        let n_atk = atk.as_deref_mut().map_or(0, |at| at.take_due(now, 8));
        let built = p.pending.len();
        for k in 0..built {
            let m = p.pending.get_mut(k).expect("allocated");
            if k < n_atk {
                if let Some(at) = atk.as_deref_mut() {
                    if let Some(d) = m.append(at.attack.frame_len() as u16) {
                        at.attack.next_frame(d, tsc);
                    }
                }
                continue;
            }
            let f = &p.frames[(p.next + k - n_atk) % p.frames.len()];
            let Some(d) = m.append(f.len() as u16) else {
                continue;
            };
            d.copy_from_slice(f);
            write_stamp_csum(
                d,
                Stamp {
                    port: pi as u8,
                    seq: p.seq.wrapping_add((k - n_atk) as u32),
                    tsc,
                },
                p.csum_at,
            );
        }
        p.next = (p.next + built - n_atk) % p.frames.len();
        p.seq = p.seq.wrapping_add((built - n_atk) as u32);
        // The burst is retried until sent whole: its attack frames are the attack's.
        p.tx = p.tx.saturating_sub(n_atk as u64);
        if p.gap != 0 {
            p.due = if p.due == 0 { now } else { p.due } + p.gap;
        }
    }
    let sent = p.eth.tx_burst(0, &mut p.pending);
    if !p.pending.is_empty() {
        p.tx_full += 1;
    }
    p.tx += sent as u64;
}

/// The final line (and --json) over the `window` seconds measured.
fn report(
    a: &RunArgs,
    t: &Totals,
    window: f64,
    m: &Meter,
    plan: &Plan,
    attacker: Option<&Attacker>,
) -> anyhow::Result<()> {
    let hist = &m.hist;
    let secs = window.max(1e-9);
    let rx_mpps = t.rx as f64 / secs / 1e6;
    let tx_mpps = t.tx as f64 / secs / 1e6;
    let gbps = (t.rx_bytes + t.rx * 24) as f64 * 8.0 / secs / 1e9;
    let lost = t.tx.saturating_sub(t.rx);
    println!(
        "brisk-gen: {:.1} s: tx {} ({:.3} Mpps), rx {} ({:.3} Mpps, {:.3} Gbps L1), lost {} ({:.2} %), ring-full retries {}, unexpected {}, unstamped {}, reordered {}, latency p50 {} ns p99 {} ns p99.9 {} ns{}",
        secs,
        t.tx,
        tx_mpps,
        t.rx,
        rx_mpps,
        gbps,
        lost,
        100.0 * lost as f64 / t.tx.max(1) as f64,
        t.tx_full,
        t.unexpected,
        t.unstamped,
        t.reordered,
        hist.quantile(0.5),
        hist.quantile(0.99),
        hist.quantile(0.999),
        match &plan.expect {
            Some(e) if e.counts.iter().any(|&c| c > perf::traffic::CHECKED_FLOWS) =>
                " (checked: the first 65,536 flows of each port)",
            Some(_) => "",
            None => " (not checked)",
        }
    );
    let attack = attacker.map(|at| {
        let l1 = at.attack.l1_bits_per_frame();
        println!(
            "brisk-gen: attack {:?} from port {}: offered {} ({:.0} frames/s, {:.3} Mbps L1), sent {}, refused by the full ring (dropped) {}, delivered to generator ports {}",
            at.attack.kind,
            at.attack.port,
            at.tx_offered,
            at.tx_offered as f64 / secs,
            at.tx_offered as f64 * l1 / secs / 1e6,
            at.tx,
            at.tx_full,
            t.attack_rx
        );
        serde_json::json!({
            "kind": format!("{:?}", at.attack.kind).to_lowercase(),
            "port": at.attack.port,
            "combinations": at.attack.combinations(),
            "offered_packets": at.tx_offered,
            "offered_pps": at.tx_offered as f64 / secs,
            "tx_packets": at.tx,
            "tx_pps": at.tx as f64 / secs,
            "tx_mbps_l1": at.tx as f64 * l1 / secs / 1e6,
            "ring_full_dropped": at.tx_full,
            "delivered_packets": t.attack_rx,
        })
    });
    let Some(j) = &a.json else {
        return Ok(());
    };
    let v = serde_json::json!({
        "seconds": secs,
        "flows": a.flows,
        "size": a.size,
        "tx_packets": t.tx,
        "rx_packets": t.rx,
        "tx_mpps": tx_mpps,
        "rx_mpps": rx_mpps,
        "rx_gbps_l1": gbps,
        "lost": lost,
        "tx_ring_full_retries": t.tx_full,
        "unexpected": t.unexpected,
        "unstamped": t.unstamped,
        "reordered": t.reordered,
        "checked": plan.expect.is_some(),
        "latency_ns": {"p50": hist.quantile(0.5), "p99": hist.quantile(0.99), "p999": hist.quantile(0.999)},
        "rx_mpps_per_second": m.per_second,
        "attack": attack,
    });
    let text = serde_json::to_string_pretty(&v)?;
    if j == "-" {
        println!("{text}");
    } else {
        std::fs::write(j, text + "\n").with_context(|| format!("writing {j}"))?;
    }
    Ok(())
}

/// Sends `frames` (unstamped) from port `pi` at a pace the switch's slow path can take
/// (every frame is a new flow), draining every port meanwhile; returns (sent, received).
fn send_all(ports: &mut [Port], pi: usize, frames: &[Vec<u8>], pool: &Mempool) -> (u64, u64) {
    let hz = tsc_hz();
    // Eight segments at a time, each group waited for (up to 2 ms) before the next: a new
    // connection can cost a switch an upcall per segment (a select group hashes the
    // 5-tuple, so each SYN has its own megaflow), and switches bound upcalls per received
    // burst (brisk: 16) so that a flood of new flows cannot starve established ones.
    // Segments are not retransmitted, so the handshake goes at the switch's pace.
    let wait = hz / 500;
    let mut batch = MbufBatch::new();
    let mut rxb = MbufBatch::new();
    let (mut sent, mut got) = (0u64, 0u64);
    let mut drain = |ports: &mut [Port], got: &mut u64| {
        for p in ports.iter_mut() {
            *got += p.eth.rx_burst(0, &mut rxb) as u64;
            rxb.free_all();
        }
    };
    for chunk in frames.chunks(8) {
        while batch.is_empty() && !batch.alloc_bulk(pool, chunk.len()) {
            drain(ports, &mut got);
        }
        for (k, f) in chunk.iter().enumerate() {
            let m = batch.get_mut(k).expect("allocated");
            if let Some(d) = m.append(f.len() as u16) {
                d.copy_from_slice(f);
            }
        }
        while !batch.is_empty() && !switch::signal::stop_requested() {
            sent += ports[pi].eth.tx_burst(0, &mut batch) as u64;
            drain(ports, &mut got);
        }
        let due = rdtsc() + wait;
        while got < sent && rdtsc() < due {
            drain(ports, &mut got);
        }
    }
    let until = rdtsc() + hz / 5;
    while rdtsc() < until {
        drain(ports, &mut got);
    }
    batch.free_all();
    (sent, got)
}

fn sum(ports: &[Port], tot: &Totals) -> Totals {
    let mut t = *tot;
    t.tx = ports.iter().map(|p| p.tx).sum();
    t.rx = ports.iter().map(|p| p.rx).sum();
    t.rx_bytes = ports.iter().map(|p| p.rx_bytes).sum();
    t.tx_full = ports.iter().map(|p| p.tx_full).sum();
    t
}
