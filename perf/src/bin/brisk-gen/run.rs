//! `brisk-gen run`: one lcore sends each port's profile in bursts of 32 (every frame
//! stamped with port, sequence number and TSC in its last 16 bytes) and receives on every
//! port, counting rates, latency, reordering per flow and frames that are not what the
//! switch should have delivered.

use anyhow::{bail, Context};
use perf::gen::Profile;
use perf::traffic::{
    l4_csum_offset, read_stamp, write_stamp_csum, Expectations, Histogram, Stamp, STAMP_LEN,
};
use pipeline::dpaction::TunnelMeta;
use pipeline::geneve::{self, PushParams, TlvMap};
use pipeline::ofctl::PortMap;
use pipeline::packet::{Frame, VecFrame};
use std::time::{Duration, Instant};
use switch::dpdk::{rdtsc, tsc_hz, Eal, EthPort, MbufBatch, Mempool, PortConf};

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
    /// answers; `antrea-tcp` = frontend opening TCP connections to backend1:80 (port 1,
    /// ofport 48) with full handshakes, then data one way and ACKs back; `antrea-svc` = the
    /// same connections opened to the backendsvc cluster IP 10.104.65.133:80 through the
    /// frontend's gateway MAC, backend1 answering as the endpoint (for a worker1 pipeline
    /// generated with `proxy: antrea-proxy`; give it with --expect-flows/--expect-groups).
    #[arg(long)]
    preset: Option<String>,
    /// TCP handshake before measuring: `CLIENT:SERVER` port indexes (SYN from the client,
    /// SYN-ACK from the server, ACK), so conntrack sees established connections.
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
    /// Write the final report as JSON to this file (`-`: stdout).
    #[arg(long)]
    json: Option<String>,
    /// EAL arguments.
    #[arg(last = true)]
    eal: Vec<String>,
}

fn indexed(v: &[String], what: &str) -> anyhow::Result<Vec<(usize, String)>> {
    v.iter()
        .map(|s| {
            let (i, rest) = s
                .split_once(':')
                .with_context(|| format!("{what} {s}: expected I:VALUE"))?;
            let i: usize = i
                .parse()
                .with_context(|| format!("{what} {s}: '{i}' is not a port index"))?;
            Ok((i, rest.to_string()))
        })
        .collect()
}

const PRESET_FE: &str = "udp,dl_src=be:2c:bf:e4:ec:c5,dl_dst=f2:82:cc:96:da:bd,nw_src=10.222.1.48,nw_dst=10.222.1.2,nw_ttl=64,tp_src=1024,tp_dst=53";
const PRESET_TCP_FE: &str = "tcp,dl_src=be:2c:bf:e4:ec:c5,dl_dst=f2:32:d8:07:e2:a6,nw_src=10.222.1.48,nw_dst=10.222.1.47,nw_ttl=64,tp_src=1024,tp_dst=80,tcp_flags=0x018";
const PRESET_TCP_BE: &str = "tcp,dl_src=f2:32:d8:07:e2:a6,dl_dst=be:2c:bf:e4:ec:c5,nw_src=10.222.1.47,nw_dst=10.222.1.48,nw_ttl=64,tp_src=80,tp_dst=1024,tcp_flags=0x010";
const PRESET_SVC_FE: &str = "tcp,dl_src=be:2c:bf:e4:ec:c5,dl_dst=4e:99:08:c1:53:be,nw_src=10.222.1.48,nw_dst=10.104.65.133,nw_ttl=64,tp_src=1024,tp_dst=80,tcp_flags=0x018";
const PRESET_DNS: &str = "udp,dl_src=f2:82:cc:96:da:bd,dl_dst=be:2c:bf:e4:ec:c5,nw_src=10.222.1.2,nw_dst=10.222.1.48,nw_ttl=64,tp_src=53,tp_dst=1024";

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
}

pub fn run(a: RunArgs) -> anyhow::Result<()> {
    let mut tx_specs = indexed(&a.tx, "--tx")?;
    let mut vary = indexed(&a.vary, "--vary")?;
    let mut ofports: Vec<(usize, String)> = indexed(&a.ofports, "--ofport")?;
    let mut expect_seed = a.expect_seed.clone();
    let mut handshake = a.handshake.clone();
    match a.preset.as_deref() {
        None => {}
        Some("antrea-udp") => {
            tx_specs = vec![(0, PRESET_FE.into()), (1, PRESET_DNS.into())];
            vary = vec![(0, "tp_src".into()), (1, "tp_dst".into())];
            ofports = vec![(0, "49".into()), (1, "3".into())];
            expect_seed.get_or_insert_with(|| "worker1".into());
        }
        Some("antrea-tcp") => {
            tx_specs = vec![(0, PRESET_TCP_FE.into()), (1, PRESET_TCP_BE.into())];
            vary = vec![(0, "tp_src".into()), (1, "tp_dst".into())];
            ofports = vec![(0, "49".into()), (1, "48".into())];
            expect_seed.get_or_insert_with(|| "worker1".into());
            handshake.get_or_insert_with(|| "0:1".into());
        }
        Some("antrea-svc") => {
            tx_specs = vec![(0, PRESET_SVC_FE.into()), (1, PRESET_TCP_BE.into())];
            vary = vec![(0, "tp_src".into()), (1, "tp_dst".into())];
            ofports = vec![(0, "49".into()), (1, "48".into())];
            handshake.get_or_insert_with(|| "0:1".into());
            if a.expect_flows.is_none() {
                bail!("--preset antrea-svc needs --expect-flows/--expect-groups (brisk conf flows/groups of worker1 with proxy: antrea-proxy)");
            }
        }
        Some(p) => bail!("--preset {p}: the presets are: antrea-udp, antrea-tcp, antrea-svc"),
    }
    if a.ports.is_empty() {
        bail!("give at least one --port DEVARGS");
    }
    let n = a.ports.len();
    let mut profiles: Vec<Option<Profile>> = vec![None; n];
    for (i, spec) in &tx_specs {
        if *i >= n {
            bail!("--tx {i}: there are only {n} ports");
        }
        let field = vary
            .iter()
            .find(|(j, _)| j == i)
            .map_or("tp_src", |(_, f)| f.as_str());
        let p = match a.size.as_str() {
            "imix" => Profile::new(spec, &PortMap::default(), field, a.flows, 64)?
                .with_size_mix(&perf::gen::IMIX)?,
            n => {
                let n: usize = n
                    .parse()
                    .with_context(|| format!("--size {n}: a byte count or imix"))?;
                Profile::new(spec, &PortMap::default(), field, a.flows, n)?
            }
        };
        if p.frame_len < pipeline::build::from_flow(&p.template, 0).len() + STAMP_LEN {
            bail!(
                "--size {}: too small for the headers plus the {STAMP_LEN}-byte stamp",
                a.size
            );
        }
        profiles[*i] = Some(p);
    }
    // The handshake's three phases: (sending port, its segments).
    let prelude: Vec<(usize, Profile)> = match &handshake {
        None => Vec::new(),
        Some(h) => {
            let (c, sv) = h
                .split_once(':')
                .and_then(|(c, s)| Some((c.parse::<usize>().ok()?, s.parse::<usize>().ok()?)))
                .with_context(|| format!("--handshake {h}: expected CLIENT:SERVER port indexes"))?;
            let (Some(Some(cp)), Some(Some(sp))) = (profiles.get(c), profiles.get(sv)) else {
                bail!("--handshake {h}: both ports need a --tx profile");
            };
            vec![
                (c, cp.with_tcp_flags(0x002)),
                (sv, sp.with_tcp_flags(0x012)),
                (c, cp.with_tcp_flags(0x010)),
            ]
        }
    };
    let mut tunnels: Vec<Option<(TunnelMeta, PushParams)>> = vec![None; n];
    for (i, spec) in indexed(&a.encap, "--encap")? {
        if i >= n {
            bail!("--encap {i}: there are only {n} ports");
        }
        tunnels[i] = Some(parse_encap(&spec).with_context(|| format!("--encap {i}:{spec}"))?);
    }
    let tlv = seed_tlv();
    let expect_from = match (&expect_seed, &a.expect_flows) {
        (Some(node), _) => Some((node.clone(), None)),
        (None, Some(f)) => Some(("worker1".to_string(), Some(f.clone()))),
        (None, None) => None,
    };
    let expect = match &expect_from {
        Some((node, file)) => {
            let mut of = vec![0u32; n];
            for (i, v) in &ofports {
                if *i >= n {
                    bail!("--ofport {i}: there are only {n} ports");
                }
                of[*i] = v.parse().with_context(|| format!("--ofport {i}:{v}"))?;
            }
            let path = file.clone().unwrap_or_else(|| {
                format!(
                    "{}/../testdata/antrea-seed/{node}.flows",
                    env!("CARGO_MANIFEST_DIR")
                )
            });
            let flows =
                std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
            let groups = match &a.expect_groups {
                Some(g) => std::fs::read_to_string(g).with_context(|| format!("reading {g}"))?,
                None => String::new(),
            };
            let b = pipeline::seed::bridge(node, "", Default::default());
            b.load_text(&groups, &flows, 0)
                .with_context(|| format!("loading {path}"))?;
            eprintln!("brisk-gen: computing what {node}'s flows deliver for every flow");
            let metas: Vec<Option<TunnelMeta>> =
                tunnels.iter().map(|t| t.map(|(m, _)| m)).collect();
            Some(Expectations::compute(&b, &prelude, &profiles, &of, &metas))
        }
        None => None,
    };

    let mut args = vec!["brisk-gen".to_string()];
    args.extend(a.eal.iter().cloned());
    let eal = Eal::init(&args).context("initialising DPDK (EAL arguments after --)")?;
    switch::signal::install();
    let pool =
        Mempool::new("gen_pool", 16383 * n as u32, 256, 2048 + 128, -1).context("mbuf pool")?;
    let hz = tsc_hz();
    let mut ports = Vec::new();
    for (i, d) in a.ports.iter().enumerate() {
        let mut eth = EthPort::from_devargs(d).with_context(|| format!("port {i}: {d}"))?;
        eth.configure_and_start(
            &PortConf {
                rx_desc: 1024,
                tx_desc: 1024,
                ..PortConf::default()
            },
            &pool,
        )
        .with_context(|| format!("starting port {i} ({d})"))?;
        let mut frames = profiles[i].as_ref().map(|p| p.frames()).unwrap_or_default();
        // Where the stamp's checksum update goes: the inner L4 checksum, after the outer
        // headers when the port sends Geneve.
        let mut csum_at = frames.first().and_then(|f| l4_csum_offset(f));
        if let Some((meta, params)) = &tunnels[i] {
            let inner_len = frames.first().map_or(0, Vec::len);
            for f in frames.iter_mut() {
                let mut vf = VecFrame::with_headroom(f, 256);
                let h = (f.len() as u32).wrapping_mul(0x9e37_79b9) ^ (f[f.len() / 2] as u32);
                geneve::push(&mut vf, meta, &tlv, params, h, 9000)
                    .map_err(|e| anyhow::anyhow!("--encap on port {i}: {e}"))?;
                *f = vf.data().to_vec();
            }
            let outer = frames.first().map_or(0, |f| f.len() - inner_len);
            csum_at = csum_at.map(|c| c + outer);
        }
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
    // Links (vhost-user peers connect when the switch starts).
    let deadline = Instant::now() + Duration::from_secs(a.wait_link);
    while !ports.iter().all(|p| p.eth.link().up) {
        if Instant::now() > deadline || switch::signal::stop_requested() {
            bail!("links not up after {} s", a.wait_link);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    for (pi, prof) in &prelude {
        let frames = prof.frames();
        let (sent, got) = send_all(&mut ports, *pi, &frames, &pool);
        let what = match pipeline::field::Field::TcpFlags.get(&prof.template) {
            0x002 => "SYN",
            0x012 => "SYN-ACK",
            _ => "ACK",
        };
        eprintln!("brisk-gen: handshake: port {pi} sent {sent} {what} segments, {got} arrived");
    }
    eprintln!(
        "brisk-gen: {} ports up; {} flows x {} B per sending port; warmup {} s, measuring {} s",
        n, a.flows, a.size, a.warmup, a.duration
    );

    let flows = a.flows.max(1) as usize;
    let mut last_seq: Vec<Vec<u32>> = (0..n)
        .map(|i| vec![0; if profiles[i].is_some() { flows } else { 0 }])
        .collect();
    let mut hist = Histogram::default();
    let mut tot = Totals::default();
    let mut rxb = MbufBatch::new();
    let start = rdtsc();
    let measure_from = start + a.warmup * hz;
    let end = measure_from + a.duration * hz;
    let mut measuring = false;
    let mut next_print = measure_from + hz;
    let mut sec = Totals::default();
    let ns_per_tick = 1e9 / hz as f64;
    let mut now = rdtsc();
    let mut per_second = Vec::new();
    let end = if a.packets.is_some() {
        measure_from + a.duration.max(3600) * hz
    } else {
        end
    };
    while now < end && !switch::signal::stop_requested() {
        if let (Some(limit), true) = (a.packets, measuring) {
            if ports.iter().map(|p| p.tx).sum::<u64>() >= limit {
                break;
            }
        }
        if !measuring && now >= measure_from {
            measuring = true;
            tot = Totals::default();
            sec = tot;
            hist = Histogram::default();
            for p in &mut ports {
                p.tx = 0;
                p.rx = 0;
                p.rx_bytes = 0;
                p.tx_full = 0;
            }
        }
        for (pi, p) in ports.iter_mut().enumerate() {
            if p.frames.is_empty() || (p.gap != 0 && now < p.due) {
                continue;
            }
            // A burst the ring did not take is retried as it is (like testpmd), not rebuilt:
            // rebuilding would spend the generator's core on alloc/copy/free.
            if p.pending.is_empty() {
                if !p.pending.alloc_bulk(&pool, 32) {
                    continue;
                }
                let tsc = rdtsc();
                let built = p.pending.len();
                for k in 0..built {
                    let f = &p.frames[(p.next + k) % p.frames.len()];
                    let m = p.pending.get_mut(k).expect("allocated");
                    let Some(d) = m.append(f.len() as u16) else {
                        continue;
                    };
                    d.copy_from_slice(f);
                    write_stamp_csum(
                        d,
                        Stamp {
                            port: pi as u8,
                            seq: p.seq.wrapping_add(k as u32),
                            tsc,
                        },
                        p.csum_at,
                    );
                }
                p.next = (p.next + built) % p.frames.len();
                p.seq = p.seq.wrapping_add(built as u32);
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
        for (pi, p) in ports.iter_mut().enumerate() {
            let got = p.eth.rx_burst(0, &mut rxb);
            if got == 0 {
                continue;
            }
            let t = rdtsc();
            for m in rxb.drain() {
                let d = m.data();
                p.rx += 1;
                p.rx_bytes += d.len() as u64;
                let Some(s) = read_stamp(d) else {
                    tot.unstamped += 1;
                    continue;
                };
                if measuring {
                    hist.record((t.saturating_sub(s.tsc) as f64 * ns_per_tick) as u64);
                }
                if let Some(e) = &expect {
                    if !e.check(pi as u8, d, &s) {
                        tot.unexpected += 1;
                        if tot.unexpected <= 3 && std::env::var_os("BRISK_GEN_SHOW").is_some() {
                            eprintln!("unexpected on port {pi}: stamp {s:?} frame {d:02x?}");
                        }
                    }
                }
                if let Some(ls) = last_seq.get_mut(usize::from(s.port)) {
                    if !ls.is_empty() {
                        let f = s.seq as usize % ls.len();
                        if s.seq < ls[f] {
                            tot.reordered += 1;
                        } else {
                            ls[f] = s.seq;
                        }
                    }
                }
            }
        }
        now = rdtsc();
        if measuring && now >= next_print {
            next_print += hz;
            let cur = sum(&ports, &tot);
            let d_tx = cur.tx - sec.tx;
            let d_rx = cur.rx - sec.rx;
            let d_bytes = cur.rx_bytes - sec.rx_bytes;
            let gbps = (d_bytes + d_rx * 24) as f64 * 8.0 / 1e9;
            println!(
                "[{:>4.0} s] tx {:>7.3} Mpps  rx {:>7.3} Mpps {:>7.3} Gbps  unexpected {}  reordered {}  p50 {} ns  p99 {} ns",
                (now - measure_from) as f64 / hz as f64,
                d_tx as f64 / 1e6,
                d_rx as f64 / 1e6,
                gbps,
                cur.unexpected,
                cur.reordered,
                hist.quantile(0.5),
                hist.quantile(0.99)
            );
            per_second.push(d_rx as f64 / 1e6);
            sec = cur;
        }
    }
    let window = (now.min(end).saturating_sub(measure_from)) as f64 / hz as f64;
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
    let t = sum(&ports, &tot);
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
        match &expect {
            Some(e) if e.counts.iter().any(|&c| c > perf::traffic::CHECKED_FLOWS) =>
                " (checked: the first 65,536 flows of each port)",
            Some(_) => "",
            None => " (not checked)",
        }
    );
    if let Some(j) = &a.json {
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
            "checked": expect.is_some(),
            "latency_ns": {"p50": hist.quantile(0.5), "p99": hist.quantile(0.99), "p999": hist.quantile(0.999)},
            "rx_mpps_per_second": per_second,
        });
        let text = serde_json::to_string_pretty(&v)?;
        if j == "-" {
            println!("{text}");
        } else {
            std::fs::write(j, text + "\n").with_context(|| format!("writing {j}"))?;
        }
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

/// The seed's Geneve TLV map (Antrea's `tun_metadata0`).
fn seed_tlv() -> TlvMap {
    let mut m = TlvMap::default();
    m.add("{class=0x104,type=0x80,len=4}->tun_metadata0")
        .expect("the seed's TLV map parses");
    m
}

fn parse_encap(spec: &str) -> anyhow::Result<(TunnelMeta, PushParams)> {
    let mut parts = spec.split(',');
    let ends = parts.next().unwrap_or_default();
    let (src, dst) = ends
        .split_once('>')
        .context("expected SRC_IP>DST_IP first")?;
    let ip = |s: &str| -> anyhow::Result<u32> {
        Ok(u32::from(s.parse::<std::net::Ipv4Addr>().with_context(
            || format!("'{s}' is not an IPv4 address"),
        )?))
    };
    let mac = |s: &str| -> anyhow::Result<u64> {
        pipeline::ofctl::parse_mac(s).with_context(|| format!("'{s}' is not a MAC address"))
    };
    let mut meta = TunnelMeta {
        src: ip(src)?,
        dst: ip(dst)?,
        ttl: 64,
        ..Default::default()
    };
    let mut params = PushParams {
        src_mac: 0x02_00_00_00_00_02,
        dst_mac: 0x02_00_00_00_00_01,
        local_ip: meta.src,
        dst_port: geneve::GENEVE_PORT,
        csum: false,
        ttl: 64,
        ip_id: 0,
    };
    for kv in parts {
        let (k, v) = kv
            .split_once('=')
            .with_context(|| format!("'{kv}': expected KEY=VALUE"))?;
        let num = |v: &str| -> anyhow::Result<u64> {
            let r = match v.strip_prefix("0x") {
                Some(h) => u64::from_str_radix(h, 16),
                None => v.parse(),
            };
            r.with_context(|| format!("{k}: '{v}' is not a number"))
        };
        match k {
            "vni" => meta.tun_id = num(v)?,
            "md0" => {
                meta.md[0] = num(v)?;
                meta.md_present |= 1;
            }
            "src_mac" => params.src_mac = mac(v)?,
            "dst_mac" => params.dst_mac = mac(v)?,
            _ => bail!("'{k}': the keys are vni, md0, src_mac, dst_mac"),
        }
    }
    Ok((meta, params))
}

fn sum(ports: &[Port], tot: &Totals) -> Totals {
    let mut t = *tot;
    t.tx = ports.iter().map(|p| p.tx).sum();
    t.rx = ports.iter().map(|p| p.rx).sum();
    t.rx_bytes = ports.iter().map(|p| p.rx_bytes).sum();
    t.tx_full = ports.iter().map(|p| p.tx_full).sum();
    t
}
