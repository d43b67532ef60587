//! What `brisk-gen run` sends and expects, from its arguments: presets, profiles, the
//! handshake, Geneve encapsulation and the flows the received frames are checked against.

use super::RunArgs;
use anyhow::{bail, Context};
use perf::gen::Profile;
use perf::traffic::{Expectations, STAMP_LEN};
use pipeline::dpaction::TunnelMeta;
use pipeline::geneve::{self, PushParams, TlvMap};
use pipeline::ofctl::PortMap;

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
const PRESET_GW: &str = "udp,dl_src=4e:99:08:c1:53:be,dl_dst=f2:82:cc:96:da:bd,nw_src=172.16.0.1,nw_dst=10.222.1.2,nw_ttl=64,tp_src=1024,tp_dst=53";
const PRESET_DNS_GW: &str = "udp,dl_src=f2:82:cc:96:da:bd,dl_dst=4e:99:08:c1:53:be,nw_src=10.222.1.2,nw_dst=172.16.0.1,nw_ttl=64,tp_src=53,tp_dst=1024";
const PRESET_DNS: &str = "udp,dl_src=f2:82:cc:96:da:bd,dl_dst=be:2c:bf:e4:ec:c5,nw_src=10.222.1.2,nw_dst=10.222.1.48,nw_ttl=64,tp_src=53,tp_dst=1024";

/// The per-port arguments, as given or as a --preset sets them.
pub(super) struct Specs {
    tx: Vec<(usize, String)>,
    vary: Vec<(usize, String)>,
    ofports: Vec<(usize, String)>,
    expect_seed: Option<String>,
    handshake: Option<String>,
}

impl Specs {
    pub(super) fn with_preset(a: &RunArgs) -> anyhow::Result<Specs> {
        let mut s = Specs {
            tx: indexed(&a.tx, "--tx")?,
            vary: indexed(&a.vary, "--vary")?,
            ofports: indexed(&a.ofports, "--ofport")?,
            expect_seed: a.expect_seed.clone(),
            handshake: a.handshake.clone(),
        };
        match a.preset.as_deref() {
            None => return Ok(s),
            Some("antrea-udp") => {
                s.tx = vec![(0, PRESET_FE.into()), (1, PRESET_DNS.into())];
                s.ofports = vec![(0, "49".into()), (1, "3".into())];
                s.expect_seed.get_or_insert_with(|| "worker1".into());
            }
            Some("antrea-gw-udp") => {
                s.tx = vec![(0, PRESET_GW.into()), (1, PRESET_DNS_GW.into())];
                s.ofports = vec![(0, "2".into()), (1, "3".into())];
                s.expect_seed.get_or_insert_with(|| "worker1".into());
            }
            Some("antrea-tcp") => {
                s.tx = vec![(0, PRESET_TCP_FE.into()), (1, PRESET_TCP_BE.into())];
                s.ofports = vec![(0, "49".into()), (1, "48".into())];
                s.expect_seed.get_or_insert_with(|| "worker1".into());
            }
            Some("antrea-svc") => {
                s.tx = vec![(0, PRESET_SVC_FE.into()), (1, PRESET_TCP_BE.into())];
                s.ofports = vec![(0, "49".into()), (1, "48".into())];
                if a.expect_flows.is_none() {
                    bail!("--preset antrea-svc needs --expect-flows/--expect-groups (brisk conf flows/groups of worker1 with proxy: antrea-proxy)");
                }
            }
            Some(p) => bail!(
                "--preset {p}: the presets are: antrea-udp, antrea-gw-udp, antrea-tcp, antrea-svc"
            ),
        };
        s.vary = vec![(0, "tp_src".into()), (1, "tp_dst".into())];
        // TCP: SYN, SYN-ACK, ACK; UDP: the client's first datagram (without it, replies sent
        // before their request make connections the other way round, which take another
        // path through the tables than the ones measured).
        s.handshake.get_or_insert_with(|| "0:1".into());
        Ok(s)
    }
}

/// What `run` sends and what it expects back, worked out before DPDK starts.
pub(super) struct Plan {
    /// Per port: what it sends, if anything.
    pub(super) profiles: Vec<Option<Profile>>,
    /// The handshake's three phases: (sending port, its segments).
    pub(super) prelude: Vec<(usize, Profile)>,
    /// Per port: the Geneve encapsulation of what it sends.
    pub(super) tunnels: Vec<Option<(TunnelMeta, PushParams)>>,
    /// What the switch should deliver for every frame (--expect-seed, --expect-flows).
    pub(super) expect: Option<Expectations>,
}

impl Plan {
    pub(super) fn new(a: &RunArgs, specs: &Specs) -> anyhow::Result<Plan> {
        let n = a.ports.len();
        let profiles = profiles(a, specs, n)?;
        let prelude = handshake_prelude(specs.handshake.as_deref(), &profiles)?;
        let mut tunnels: Vec<Option<(TunnelMeta, PushParams)>> = vec![None; n];
        for (i, spec) in indexed(&a.encap, "--encap")? {
            if i >= n {
                bail!("--encap {i}: there are only {n} ports");
            }
            tunnels[i] = Some(parse_encap(&spec).with_context(|| format!("--encap {i}:{spec}"))?);
        }
        let mut plan = Plan {
            profiles,
            prelude,
            tunnels,
            expect: None,
        };
        plan.expect = expectations(a, specs, &plan)?;
        Ok(plan)
    }
}

/// Each sending port's profile: its --tx template, flows varied in its --vary field, at
/// --size.
fn profiles(a: &RunArgs, specs: &Specs, n: usize) -> anyhow::Result<Vec<Option<Profile>>> {
    let mut profiles: Vec<Option<Profile>> = vec![None; n];
    for (i, spec) in &specs.tx {
        if *i >= n {
            bail!("--tx {i}: there are only {n} ports");
        }
        let field = specs
            .vary
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
    Ok(profiles)
}

/// --handshake CLIENT:SERVER as three phases: SYN from the client, SYN-ACK from the
/// server, ACK from the client.
fn handshake_prelude(
    handshake: Option<&str>,
    profiles: &[Option<Profile>],
) -> anyhow::Result<Vec<(usize, Profile)>> {
    let Some(h) = handshake else {
        return Ok(Vec::new());
    };
    let (c, sv) = h
        .split_once(':')
        .and_then(|(c, s)| Some((c.parse::<usize>().ok()?, s.parse::<usize>().ok()?)))
        .with_context(|| format!("--handshake {h}: expected CLIENT:SERVER port indexes"))?;
    let (Some(Some(cp)), Some(Some(sp))) = (profiles.get(c), profiles.get(sv)) else {
        bail!("--handshake {h}: both ports need a --tx profile");
    };
    if pipeline::field::Field::NwProto.get(&cp.template)
        == u128::from(pipeline::flow::ip_proto::UDP)
    {
        // UDP: the client's first datagram of every flow, so each connection is the
        // client's (committed from its side) before the server's traffic starts.
        return Ok(vec![(c, cp.clone())]);
    }
    Ok(vec![
        (c, cp.with_tcp_flags(0x002)),
        (sv, sp.with_tcp_flags(0x012)),
        (c, cp.with_tcp_flags(0x010)),
    ])
}

/// With --expect-seed or --expect-flows: loads the flows (and groups) into a bridge and
/// computes what it delivers for every frame of every port.
fn expectations(a: &RunArgs, specs: &Specs, plan: &Plan) -> anyhow::Result<Option<Expectations>> {
    let (node, file) = match (&specs.expect_seed, &a.expect_flows) {
        (Some(node), _) => (node.clone(), None),
        (None, Some(f)) => ("worker1".to_string(), Some(f.clone())),
        (None, None) => return Ok(None),
    };
    let n = a.ports.len();
    let mut of = vec![0u32; n];
    for (i, v) in &specs.ofports {
        if *i >= n {
            bail!("--ofport {i}: there are only {n} ports");
        }
        of[*i] = v.parse().with_context(|| format!("--ofport {i}:{v}"))?;
    }
    let path = file.unwrap_or_else(|| {
        format!(
            "{}/../testdata/antrea-seed/{node}.flows",
            env!("CARGO_MANIFEST_DIR")
        )
    });
    let flows = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let groups = match &a.expect_groups {
        Some(g) => std::fs::read_to_string(g).with_context(|| format!("reading {g}"))?,
        None => String::new(),
    };
    let b = pipeline::seed::bridge(&node, "", Default::default());
    b.load_text(&groups, &flows, 0)
        .with_context(|| format!("loading {path}"))?;
    eprintln!("brisk-gen: computing what {node}'s flows deliver for every flow");
    let metas: Vec<Option<TunnelMeta>> = plan.tunnels.iter().map(|t| t.map(|(m, _)| m)).collect();
    Ok(Some(Expectations::compute(
        &b,
        &plan.prelude,
        &plan.profiles,
        &of,
        &metas,
    )))
}

/// The seed's Geneve TLV map (Antrea's `tun_metadata0`).
pub(super) fn seed_tlv() -> TlvMap {
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
