//! `ct_label`, 128 bits, end to end: set by `ct(commit,exec(...))` (whole and masked, in
//! both halves), matched by later packets of the connection (the fast path's EMC and chain
//! hints included), kept across commits that do not touch it, and shown by the dump as OVS
//! shows it (`labels=0x...`).

use pipeline::build::{ip, udp_frame};
use pipeline::conntrack::ConntrackConfig;
use pipeline::dpaction::Collect;
use pipeline::fastpath::{FastPath, FastPathConfig};
use pipeline::packet::VecFrame;
use pipeline::seed::bridge_with_ports;

const LABEL: &str = "0x1234567890abcdef00000000000000ff";

#[test]
fn a_label_set_on_commit_is_matched_kept_and_dumped() {
    let flows = [
        "table=0,ip actions=ct(table=1,zone=3)",
        // New: commit with the whole label; from port 1 only.
        &format!("table=1,priority=10,in_port=1,ct_state=+new+trk,ip actions=ct(commit,zone=3,exec(set_field:{LABEL}->ct_label)),output:2"),
        // Established with the label's high half set: port 3; then, on a packet to port 9,
        // bit 8 is added by a masked commit (the rest stays).
        "table=1,priority=20,ct_state=+est+trk,udp,tp_dst=9,ip actions=ct(commit,zone=3,exec(set_field:0x100/0x100->ct_label)),output:4",
        "table=1,priority=10,ct_state=+est+trk,ct_label=0x1234567890abcdef0000000000000000/0xffffffffffffffff0000000000000000,ip actions=output:3",
        "table=1,priority=5,ct_state=+est+trk,ip actions=output:4",
        // Answers: back to port 1 (a UDP connection is +new until its first answer).
        "table=1,priority=30,in_port=2,ct_state=+est+trk,ip actions=output:1",
    ];
    let flows: Vec<&str> = flows.iter().map(|s| &**s).collect();
    let b = bridge_with_ports(4, &flows, ConntrackConfig::default());
    let mut fp: FastPath<VecFrame> = FastPath::new(FastPathConfig::default());
    let mut send = |port: u32, f: Vec<u8>, now: u64| {
        let mut out = Collect::new();
        fp.process_burst(&b, [(VecFrame::new(&f), port, None)], now, &mut out);
        out.outputs.iter().map(|o| o.0).collect::<Vec<_>>()
    };
    let fwd = |dport: u16| udp_frame(1, 2, ip("10.0.0.1"), ip("10.0.0.2"), 4000, dport, b"x");
    let back = |dport: u16| udp_frame(2, 1, ip("10.0.0.2"), ip("10.0.0.1"), dport, 4000, b"y");
    assert_eq!(send(1, fwd(8), 1), vec![2], "new: committed with the label");
    assert_eq!(send(2, back(8), 1), vec![1], "the answer");
    for t in 2..6 {
        assert_eq!(
            send(1, fwd(8), t),
            vec![3],
            "established: the label's high half matched"
        );
    }
    let dump = b.conntrack.dump(None)[0].to_string();
    assert!(dump.contains(&format!("labels={LABEL}")), "{dump}");
    // A second connection (another port) gets the label too; a masked commit on it sets
    // bit 8 and keeps the rest.
    assert_eq!(send(1, fwd(9), 10), vec![2]);
    assert_eq!(send(2, back(9), 10), vec![1]);
    assert_eq!(send(1, fwd(9), 11), vec![4]);
    let d = b.conntrack.dump(None);
    let c = d
        .iter()
        .map(ToString::to_string)
        .find(|l| l.contains("dport=9"))
        .unwrap();
    assert!(
        c.contains("labels=0x1234567890abcdef00000000000001ff"),
        "{c}"
    );
}
