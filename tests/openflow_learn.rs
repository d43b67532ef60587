//! `learn`, driven by Debian's `ovs-ofctl` against brisk and Open vSwitch's userspace
//! switch loaded the same way: the same learning flows, the same packets (packet-outs
//! through the tables), then the same learned flows in every dump format; learned flows
//! expire by their hard timeout in both; `delete_learned` takes them with the last flow
//! that owns their cookie in both.

mod common;

use common::ofctl::*;
use pipeline::build::{ip, tcp_frame, udp_frame};
use std::time::Duration;

/// One at a time: OVS and brisk each take a core.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

const FLOWS: [&str; 6] = [
    // Antrea's session affinity (ServiceLB): the endpoint the group chose, learned per
    // client into SessionAffinity (table 9).
    "table=0,priority=10,cookie=0x10,in_port=49,tcp,nw_dst=10.96.76.15,tp_dst=80 actions=load:0xa0a0018->NXM_NX_REG3[],load:0x50->NXM_NX_REG4[0..15],learn(table=9,hard_timeout=300,priority=200,delete_learned,cookie=0x103000000000b,eth_type=0x800,nw_proto=6,NXM_OF_TCP_DST[],NXM_OF_IP_DST[],NXM_OF_IP_SRC[],load:NXM_NX_REG4[0..15]->NXM_NX_REG4[0..15],load:NXM_NX_REG4[26]->NXM_NX_REG4[26],load:NXM_NX_REG3[]->NXM_NX_REG3[],load:0x2->NXM_NX_REG4[16..18],load:0x1->NXM_NX_REG0[9]),output:4",
    // The same for UDP, with a short hard timeout, owned by two flows.
    "table=0,priority=10,cookie=0x11,in_port=49,udp,tp_dst=53 actions=learn(table=11,hard_timeout=4,priority=200,delete_learned,cookie=0x7,eth_type=0x800,nw_proto=17,NXM_OF_UDP_DST[],NXM_OF_IP_SRC[],load:0x1->NXM_NX_REG0[9]),output:3",
    "table=0,priority=10,cookie=0x12,in_port=48,udp,tp_dst=53 actions=learn(table=11,hard_timeout=4,priority=200,delete_learned,cookie=0x7,eth_type=0x800,nw_proto=17,NXM_OF_UDP_DST[],NXM_OF_IP_SRC[],load:0x1->NXM_NX_REG0[9]),output:3",
    // MAC learning as OVS's documentation writes it: the source MAC's port, for replies.
    "table=0,priority=5,cookie=0x13,in_port=3 actions=learn(table=10,idle_timeout=60,priority=100,fin_idle_timeout=5,fin_hard_timeout=10,send_flow_rem,NXM_OF_VLAN_TCI[0..11],NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],output:NXM_OF_IN_PORT[]),output:4",
    // fin_timeout: a FIN through it lowers its timeouts.
    "table=0,priority=20,cookie=0x14,in_port=4,tcp actions=fin_timeout(idle_timeout=20,hard_timeout=30),output:3",
    "table=9,priority=0 actions=load:0x1->NXM_NX_REG4[16..18]",
];

fn hex(f: &[u8]) -> String {
    f.iter().map(|b| format!("{b:02x}")).collect()
}

/// The packets: TCP SYNs to the Service from three clients, DNS queries from two pods
/// on two ports, frames from two MACs on port 3.
fn packets() -> Vec<(u32, String)> {
    let mut p = Vec::new();
    for (i, client) in ["10.10.0.5", "10.10.0.6", "10.10.0.7"].iter().enumerate() {
        let f = tcp_frame(
            0x0200_0000_0049,
            0x0200_0000_0001,
            ip(client),
            ip("10.96.76.15"),
            40000 + i as u16,
            80,
            0x02,
            64,
        );
        p.push((49, hex(&f)));
    }
    for (port, src) in [(49, "10.10.1.49"), (48, "10.10.1.48")] {
        let f = udp_frame(
            0x0200_0000_0049,
            0x0200_0000_0003,
            ip(src),
            ip("10.10.1.3"),
            41000,
            53,
            b"q",
        );
        p.push((port, hex(&f)));
    }
    let fin = tcp_frame(
        0x0200_0000_0004,
        0x0200_0000_0003,
        ip("10.10.1.4"),
        ip("10.10.1.3"),
        45000,
        443,
        0x011,
        64,
    );
    p.push((4, hex(&fin)));
    for mac in [0x0200_0000_00aa_u64, 0x0200_0000_00bb] {
        let f = udp_frame(
            mac,
            0x0200_0000_0004,
            ip("10.10.1.3"),
            ip("10.10.1.4"),
            1,
            2,
            b"m",
        );
        p.push((3, hex(&f)));
    }
    p
}

/// `dump` in every version `ovs-ofctl` speaks to both, OpenFlow 1.0 (`load:`) included.
fn same_everywhere(b: &str, o: &str, what: &str) -> Vec<String> {
    same_dumps(b, o, what);
    let (db, dov) = (dump("OpenFlow10", b), dump("OpenFlow10", o));
    assert_eq!(db, dov, "{what}: OpenFlow 1.0 dumps differ");
    dump("OpenFlow15", b)
}

/// Flows in table `t` (not `learn(table=t,...)` actions).
fn in_table(lines: &[String], t: &str) -> usize {
    lines
        .iter()
        .filter(|l| l.split(", ").nth(1) == Some(&format!("table={t}")))
        .count()
}

#[test]
fn learned_flows_as_ovs() {
    if !have_ovs() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let sw = brisk("worker1", "learn", &[]);
    let ovs = Ovs::start("worker1", "learn");
    let (b, o) = (mgmt(&sw), ovs.mgmt());
    let flows = sw.dir.file("learn.flows", &FLOWS.join("\n"));
    for t in [&b, &o] {
        ofctl_ok(&["-O", "OpenFlow15", "add-flows", t, &flows]);
    }
    let before = same_everywhere(&b, &o, "learning flows");
    assert_eq!(before.len(), FLOWS.len());
    // Each packet to both at once: the learned flows' timeouts start together.
    for (port, pkt) in packets() {
        let spec = format!("in_port={port} packet={pkt} actions=resubmit(,0)");
        for t in [&b, &o] {
            ofctl_ok(&["-O", "OpenFlow15", "packet-out", t, &spec]);
        }
    }
    let learned_at = std::time::Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    let learned = same_everywhere(&b, &o, "after the packets");
    eprintln!("learned flows, as both dump them:\n{}", learned.join("\n"));
    assert_eq!(
        in_table(&learned, "9"),
        3 + 1,
        "a flow per client (and the default)"
    );
    assert_eq!(in_table(&learned, "11"), 2, "a flow per DNS client");
    assert_eq!(in_table(&learned, "10"), 2, "a flow per MAC");

    assert!(
        learned_at.elapsed() < Duration::from_secs(4),
        "the dumps took longer than the hard timeout: {:?}",
        learned_at.elapsed()
    );
    // The hard timeout (4 s) takes the DNS clients' flows in both (OVS looks about once
    // a second).
    std::thread::sleep(Duration::from_secs(6).saturating_sub(learned_at.elapsed()));
    let expired = same_everywhere(&b, &o, "after the hard timeout");
    assert_eq!(in_table(&expired, "11"), 0);
    assert_eq!(in_table(&expired, "9"), 4);

    // delete_learned: the affinity flow goes, and its clients' flows with it (not the
    // table's default, whose cookie differs).
    for t in [&b, &o] {
        ofctl_ok(&[
            "-O",
            "OpenFlow15",
            "--strict",
            "del-flows",
            t,
            "table=0,priority=10,in_port=49,tcp,nw_dst=10.96.76.15,tp_dst=80",
        ]);
    }
    std::thread::sleep(Duration::from_millis(200));
    let deleted = same_everywhere(&b, &o, "after delete_learned");
    assert_eq!(in_table(&deleted, "9"), 1);
    assert_eq!(
        in_table(&deleted, "10"),
        2,
        "MAC flows are not delete_learned"
    );
    // Learning again after the UDP owners went: one of two owners of cookie 0x7 leaves,
    // a new DNS client learns; then the second owner goes and the flow goes with it.
    for t in [&b, &o] {
        ofctl_ok(&["-O", "OpenFlow15", "del-flows", t, "table=0,in_port=48"]);
        let (port, pkt) = &packets()[3];
        let spec = format!("in_port={port} packet={pkt} actions=resubmit(,0)");
        ofctl_ok(&["-O", "OpenFlow15", "packet-out", t, &spec]);
    }
    std::thread::sleep(Duration::from_millis(300));
    let relearned = same_everywhere(&b, &o, "relearned");
    assert_eq!(in_table(&relearned, "11"), 1);
    for t in [&b, &o] {
        ofctl_ok(&["-O", "OpenFlow15", "del-flows", t, "table=0,in_port=49,udp"]);
    }
    std::thread::sleep(Duration::from_millis(200));
    let last = same_everywhere(&b, &o, "last owner gone");
    assert_eq!(in_table(&last, "11"), 0);
}

/// A `learn` per client through one worker: brisk-gen sends UDP from `N` sources (each a
/// new megaflow, an upcall and a learned flow), cycling through them; the test samples
/// the learner's counters and checks that every source was learned exactly once, none
/// lost to a full queue, and that the table holds them. BRISK_LEARN_RATE (Mpps) and
/// BRISK_LEARN_FLOWS measure more than the test needs (a release build);
/// BRISK_LEARN_TIMELINE prints the samples (seconds, flows added).
#[test]
fn learned_flows_install_from_one_worker() {
    if !have_ovs() {
        return;
    }
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let rate = std::env::var("BRISK_LEARN_RATE").unwrap_or_else(|_| "0.02".into());
    let n: u64 = std::env::var("BRISK_LEARN_FLOWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let secs = 5;
    let flows = "in_port=1,udp actions=learn(table=10,hard_timeout=300,priority=10,eth_type=0x800,nw_proto=17,NXM_OF_IP_SRC[],load:NXM_OF_UDP_SRC[]->NXM_NX_REG0[0..15]),output:2\nin_port=2 actions=output:1\n";
    let n_text = n.to_string();
    let mut run = common::gen::GenRun::start_with(
        "learn",
        flows,
        &rate,
        secs,
        64,
        false,
        &["--flows", &n_text, "--vary", "0:nw_src"],
    );
    let learn_row = |stats: &str, name: &str| -> u64 {
        let mut sec = stats.lines().skip_while(|l| !l.starts_with("learn:"));
        sec.find(|l| l.trim_start().starts_with(name))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {stats}"))
    };
    // Samples of (seconds, flows added) while brisk-gen runs.
    let t0 = std::time::Instant::now();
    let mut samples = Vec::new();
    while t0.elapsed() < Duration::from_secs(u64::from(secs) + 8) {
        let s = run.sw.ok(&["drop-stats"]);
        let added = learn_row(&s, "added");
        samples.push((t0.elapsed().as_secs_f64(), added));
        if added >= n {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let report = run.finish();
    if std::env::var_os("BRISK_LEARN_TIMELINE").is_some() {
        for (t, a) in &samples {
            eprintln!("learn timeline: {t:.2} s {a}");
        }
    }
    let sw = &run.sw;
    let stats = sw.ok(&["drop-stats"]);
    let (queued, full, added, refused, batches) = (
        learn_row(&stats, "queued"),
        learn_row(&stats, "queue full"),
        learn_row(&stats, "added"),
        learn_row(&stats, "refused (table full)"),
        learn_row(&stats, "batches"),
    );
    // The fastest second, and from the first learned flow to the last.
    let first = samples
        .iter()
        .find(|s| s.1 > 0)
        .copied()
        .unwrap_or((0.0, 0));
    let last = samples
        .iter()
        .find(|s| s.1 >= n)
        .copied()
        .unwrap_or(*samples.last().unwrap());
    let mut best = 0.0f64;
    for (i, a) in samples.iter().enumerate() {
        if let Some(b) = samples[i..].iter().find(|b| b.0 - a.0 >= 1.0) {
            best = best.max((b.1 - a.1) as f64 / (b.0 - a.0));
        }
    }
    eprintln!(
        "learn: {n} sources at {rate} Mpps: brisk-gen tx {} rx {}; learned flows queued {queued}, \
         queue full {full}, added {added}, refused {refused}, in {batches} batches; \
         {:.0} flows/s from the first to the last, {best:.0}/s in the fastest second",
        report["tx_packets"],
        report["rx_packets"],
        (last.1 - first.1) as f64 / (last.0 - first.0).max(0.001),
    );
    assert_eq!(added, n, "every source learned once");
    assert_eq!(refused, 0);
    // What a full queue loses is a refresh or a first learn that the megaflow's next
    // refresh (500 ms later) brings again: counted, and reported above.
    assert!(full < queued, "the queue took nothing");
    let agg = ofctl_ok(&["dump-aggregate", &mgmt(sw), "table=10"]);
    assert!(agg.contains(&format!("flow_count={n}")), "{agg}");
}
