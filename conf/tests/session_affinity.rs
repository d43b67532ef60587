//! `sessionAffinity: ClientIP` with `proxy: antrea-proxy`: conf generates AntreaProxy's
//! learn flows; through the fast path and the learner, each client's connections go to the
//! endpoint its first one got until the affinity's hard timeout, then a new connection
//! chooses again (and over many timeouts both endpoints are chosen); the learned flows are
//! in table 41 with the service's cookie, a configuration reload keeps them, and removing
//! the service removes them (`delete_learned`).

use conf::antrea::{generate, COOKIE_SERVICE};
use conf::node::NodeConfig;
use pipeline::bridge::Bridge;
use pipeline::build::{ip, mac, tcp_frame};
use pipeline::conntrack::ConntrackConfig;
use pipeline::dpaction::Collect;
use pipeline::fastpath::{FastPath, FastPathConfig};
use pipeline::ofctl::{format_flow, parse_flow, parse_group, GroupMode, Mode, PortMap};
use pipeline::packet::{Frame, VecFrame};
use std::path::PathBuf;

const SVC: &str = "10.104.65.133";
const FE: &str = "10.222.1.48";
const OCTANT: &str = "10.222.1.3";
const BE1: &str = "10.222.1.47";
const BE2: &str = "10.222.2.34";
const TIMEOUT_S: u64 = 10;

fn node(affinity: bool) -> NodeConfig {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples/worker1.yaml");
    let mut text = std::fs::read_to_string(path)
        .unwrap()
        .replace("proxy: kube-proxy", "proxy: antrea-proxy");
    let eps = "    endpoints: [\"10.222.1.47:80\", \"10.222.2.34:80\"]\n";
    assert!(text.contains(eps));
    if affinity {
        text = text.replace(
            eps,
            &format!(
                "{eps}    session_affinity: ClientIP\n    session_affinity_timeout: {TIMEOUT_S}\n"
            ),
        );
    } else {
        // The service goes away altogether.
        let start = text.find("services:\n").unwrap();
        let end = text[start..].find(eps).unwrap() + start + eps.len();
        text.replace_range(start..end, "services: []\n");
    }
    NodeConfig::parse(&text, "worker1.yaml").unwrap_or_else(|e| panic!("{e}"))
}

type Config = (
    Vec<pipeline::ofctl::FlowEntry>,
    Vec<pipeline::ofctl::GroupEntry>,
);

fn flows_and_groups(b: &Bridge, n: &NodeConfig) -> Config {
    let g = generate(n);
    let ports = b.ports();
    let ports = ports.names();
    let flows = g
        .text()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| parse_flow(l, Mode::Add, ports).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect();
    let groups = g
        .groups
        .iter()
        .map(|l| parse_group(l, GroupMode::Add, ports).unwrap())
        .collect();
    (flows, groups)
}

fn dst_ip(f: &[u8]) -> u32 {
    u32::from_be_bytes([f[30], f[31], f[32], f[33]])
}

/// The endpoint a SYN from `client` (on `port`, from `smac`) went to, if it left.
fn syn(
    b: &Bridge,
    fp: &mut FastPath<VecFrame>,
    port: u32,
    smac: u64,
    client: &str,
    sport: u16,
    now: u64,
) -> Option<u32> {
    let gw1 = mac("4e:99:08:c1:53:be");
    let f = tcp_frame(smac, gw1, ip(client), ip(SVC), sport, 80, 0x002, 64);
    let mut out = Collect::new();
    fp.receive_burst(b, port, [VecFrame::new(&f)], now, &mut out);
    // The learner, as the switch's thread would run it, then expiry.
    b.learn(&out.learned, now);
    out.outputs.first().map(|(_, _, p)| dst_ip(p.frame.data()))
}

fn learned(b: &Bridge) -> Vec<String> {
    b.tables()
        .table(41)
        .map(|t| {
            t.rules()
                .filter(|r| r.learned)
                .map(|r| format_flow(&r.entry, &PortMap::default(), None))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn a_client_sticks_to_its_endpoint_for_the_timeout_then_chooses_again() {
    let n = node(true);
    let text = generate(&n).text();
    for want in [
        "table=40, priority=200,tcp,reg4=0/0x70000,nw_dst=10.104.65.133,tp_dst=80 actions=resubmit(,41),resubmit(,40)",
        "table=40, priority=190,tcp,reg4=0x30000/0x70000,nw_dst=10.104.65.133,tp_dst=80 actions=learn(table=41,hard_timeout=10,priority=200,delete_learned,cookie=0x1040000000001,eth_type=0x800,nw_proto=6,NXM_OF_TCP_DST[],NXM_OF_IP_DST[],NXM_OF_IP_SRC[],load:NXM_NX_REG4[0..15]->NXM_NX_REG4[0..15],load:NXM_NX_REG3[]->NXM_NX_REG3[],load:0x2->NXM_NX_REG4[16..18],load:0x1->NXM_NX_REG0[19]),load:0x2->NXM_NX_REG4[16..18],resubmit(,42)",
        "table=41, priority=0 actions=load:0x1->NXM_NX_REG4[16..18]",
    ] {
        assert!(text.contains(want), "missing {want}\n{text}");
    }
    let b = pipeline::seed::bridge_with_groups(
        "worker1",
        &generate(&n).groups_text(),
        &text,
        ConntrackConfig::default(),
    );
    let mut fp: FastPath<VecFrame> = FastPath::new(FastPathConfig::default());
    let fe = mac("be:2c:bf:e4:ec:c5");
    let oct = mac("6e:9e:5a:3e:3f:e8");
    let (mut be1, mut be2, mut moved) = (0, 0, 0);
    let mut last = None;
    let rounds = 40u64;
    let mut sport = 20_000u16;
    for r in 0..rounds {
        let t0 = 1_000 + r * (TIMEOUT_S * 1000 + 1_500);
        let mut chosen = None;
        // Ten connections over nine seconds, all inside the timeout.
        for k in 0..10u64 {
            sport += 1;
            let now = t0 + k * 900;
            let got = syn(&b, &mut fp, 49, fe, FE, sport, now)
                .unwrap_or_else(|| panic!("round {r}: connection {k} did not leave"));
            assert!(got == ip(BE1) || got == ip(BE2));
            match chosen {
                None => chosen = Some(got),
                Some(c) => assert_eq!(got, c, "round {r}: connection {k} moved"),
            }
            // The octant pod, another client: learned too (its packets are then dropped
            // by the endpoint's policy).
            syn(&b, &mut fp, 4, oct, OCTANT, sport, now);
            assert!(
                b.expire_flows(now).is_empty(),
                "nothing expires inside the timeout"
            );
        }
        let l = learned(&b);
        assert_eq!(l.len(), 2, "one learned flow per client: {l:?}");
        assert!(
            l.iter().any(|f| f.starts_with(&format!(
                "cookie={:#x}, table=41, hard_timeout=10, priority=200,tcp,nw_src={FE},nw_dst={SVC},tp_dst=80 actions=load:0x50->NXM_NX_REG4[0..15],load:",
                COOKIE_SERVICE | 1
            ))),
            "{l:?}"
        );
        let c = chosen.unwrap();
        if c == ip(BE1) {
            be1 += 1
        } else {
            be2 += 1
        }
        if last.is_some_and(|l| l != c) {
            moved += 1;
        }
        last = Some(c);
        // The hard timeout runs from the first connection: both flows go.
        let gone = b.expire_flows(t0 + TIMEOUT_S * 1000);
        assert_eq!(gone.len(), 2, "round {r}");
        assert!(learned(&b).is_empty());
    }
    println!(
        "session affinity: {rounds} timeouts of {TIMEOUT_S} s, 10 connections each: every round on one endpoint; backend1 chosen {be1} times, backend2 {be2}; the client moved {moved} times"
    );
    assert!(be1 >= 8 && be2 >= 8, "backend1 {be1}, backend2 {be2}");
    assert!(moved > 0);

    // A reload with the same configuration keeps the learned flows (the agent did not
    // write them); one without the service takes them away with its flows.
    sport += 1;
    syn(&b, &mut fp, 49, fe, FE, sport, 900_000).unwrap();
    assert_eq!(learned(&b).len(), 1);
    let (flows, groups) = flows_and_groups(&b, &n);
    b.replace_groups_and_flows(&groups, &flows, 900_001)
        .unwrap();
    assert_eq!(learned(&b).len(), 1, "a reload keeps learned flows");
    let (flows, groups) = flows_and_groups(&b, &node(false));
    b.replace_groups_and_flows(&groups, &flows, 900_002)
        .unwrap();
    assert!(b.tables().table(41).is_none(), "delete_learned took them");
}
