//! brisk's OpenFlow codec against Open vSwitch's own encoder, for what Antrea sends beyond
//! plain actions: `learn` (NXAST_LEARN and NXAST_LEARN2), `controller` with options
//! (NXAST_CONTROLLER, NXAST_CONTROLLER2) and meters (1.3's instruction, 1.5's action).
//! OVS's userspace switch is loaded with such flows by `ovs-ofctl`; a raw client reads its
//! flow statistics at 1.3 and 1.5; brisk decodes every entry and re-encodes its
//! instructions, which must be OVS's bytes exactly. Then brisk refuses what its datapath
//! does not run (`learn`'s `limit` and `result_dst`) and a flow naming a meter it does not
//! have, with OVS's errors (decoded, not misread), takes the learn and controller actions,
//! dumping them as OVS does, and its connection lives on.

mod common;

use common::ofctl::*;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::time::Duration;

const FLOWS: [&str; 7] = [
    "table=0,priority=10,ip actions=learn(table=10,idle_timeout=60,hard_timeout=120,priority=100,cookie=0x5,fin_idle_timeout=5,fin_hard_timeout=10,send_flow_rem,delete_learned,NXM_OF_ETH_DST[]=NXM_OF_ETH_SRC[],NXM_OF_VLAN_TCI[0..11],eth_type=0x800,nw_dst=10.0.0.1,load:NXM_OF_IN_PORT[]->NXM_NX_REG0[0..15],load:0x5->NXM_NX_REG1[],output:NXM_OF_IN_PORT[]),resubmit(,1)",
    "table=0,priority=11,tcp actions=learn(table=80,idle_timeout=60,priority=200,delete_learned,cookie=0x1040000000000,eth_type=0x800,nw_proto=6,NXM_OF_TCP_DST[],NXM_OF_IP_DST[],NXM_OF_IP_SRC[],load:0x1->NXM_NX_REG0[19],load:NXM_NX_REG3[]->NXM_NX_REG3[])",
    "table=0,priority=12,arp actions=learn(table=20,limit=10,result_dst=NXM_NX_REG2[3],NXM_OF_ETH_SRC[]=NXM_OF_ETH_DST[])",
    "table=0,priority=13,udp actions=controller(reason=no_match,id=3,userdata=01.02.03,pause)",
    "table=0,priority=14,udp,tp_dst=7 actions=controller(id=7,max_len=100)",
    "table=0,priority=15,udp,tp_dst=8 actions=controller(meter_id=1)",
    "table=0,priority=16,udp,tp_dst=9 actions=meter:1,output:2",
];

/// A raw OpenFlow connection at `version` (hello exchanged).
fn connect(target: &str, version: u8) -> UnixStream {
    let path = target.strip_prefix("unix:").unwrap();
    let mut s = UnixStream::connect(path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _hello = read_msg(&mut s);
    let bitmap = 1u32 << version;
    let mut body = vec![0, 1, 0, 8];
    body.extend_from_slice(&bitmap.to_be_bytes());
    s.write_all(&of_msg(version, 0, 1, &body)).unwrap();
    s
}

/// Every flow-stats entry OVS (or brisk) reports at `version`, as raw bytes.
fn flow_entries(target: &str, version: u8) -> Vec<Vec<u8>> {
    let mut s = connect(target, version);
    // OFPMP_FLOW(_DESC): all tables, any port and group, no cookie, an empty match.
    let mut body = vec![0, 1, 0, 0, 0, 0, 0, 0];
    body.extend_from_slice(&[0xff, 0, 0, 0]);
    body.extend_from_slice(&0xffff_ffffu32.to_be_bytes());
    body.extend_from_slice(&0xffff_ffffu32.to_be_bytes());
    body.extend_from_slice(&[0; 4]);
    body.extend_from_slice(&[0; 16]);
    body.extend_from_slice(&[0, 1, 0, 4, 0, 0, 0, 0]);
    s.write_all(&of_msg(version, 18, 9, &body)).unwrap();
    let mut entries = Vec::new();
    loop {
        let m = read_msg(&mut s);
        if m[1] != 19 {
            continue; // not the reply (an echo, a port status)
        }
        let mut b = &m[16..];
        while b.len() >= 2 {
            let n = usize::from(u16::from_be_bytes([b[0], b[1]]));
            entries.push(b[..n].to_vec());
            b = &b[n..];
        }
        if m[10..12] == [0, 0] {
            return entries;
        }
    }
}

fn pad8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

/// Where an entry's instructions start: after the fixed part, the match (1.3), and the
/// statistics (1.5).
fn instructions_at(e: &[u8], version: u8) -> usize {
    let len16 = |at: usize| usize::from(u16::from_be_bytes([e[at], e[at + 1]]));
    if version >= 6 {
        // ofp15_flow_desc is 24 bytes before its match.
        let m = 24;
        let stats = m + pad8(len16(m + 2));
        stats + pad8(len16(stats + 2))
    } else {
        48 + pad8(len16(50))
    }
}

#[test]
fn learn_controller_and_meters_encode_as_ovs_encodes_them() {
    if !have_ovs() {
        return;
    }
    let ovs = Ovs::start("worker2", "codec");
    let o = ovs.mgmt();
    ofctl_ok(&[
        "-O",
        "OpenFlow13",
        "add-meter",
        &o,
        "meter=1,kbps,band=type=drop,rate=1000",
    ]);
    for f in FLOWS {
        ofctl_ok(&["-O", "OpenFlow13", "add-flow", &o, f]);
    }
    for version in [4u8, 6] {
        let entries = flow_entries(&o, version);
        assert_eq!(entries.len(), FLOWS.len(), "version {version}");
        let mut body = Vec::new();
        for e in &entries {
            body.extend_from_slice(e);
        }
        let decoded = openflow::flow_mod::decode_flow_stats(&body, version)
            .unwrap_or_else(|err| panic!("version {version}: {err}"));
        let mut kinds = std::collections::BTreeSet::new();
        for (e, d) in entries.iter().zip(&decoded) {
            let mut mine = Vec::new();
            openflow::flow_mod::encode_instructions(&d.entry.actions, version, &mut mine);
            let theirs = &e[instructions_at(e, version)..];
            let text = pipeline::ofctl::format_actions(&d.entry.actions, &Default::default());
            assert_eq!(mine, theirs, "version {version}: {text}");
            for a in &d.entry.actions {
                kinds.insert(format!("{a:?}").split('(').next().unwrap().to_string());
            }
            // OVS's flows as flow-mods: seeds for the codec's fuzz target.
            if let Ok(dir) = std::env::var("BRISK_WRITE_FUZZ_SEEDS") {
                let fm = openflow::Message::FlowMod(openflow::flow_mod::FlowModMsg {
                    command: openflow::flow_mod::Command::Add,
                    entry: d.entry.clone(),
                    out_group: None,
                    new_cookie: None,
                });
                let name = format!("{dir}/ovs_v{version}_{}", d.entry.priority);
                std::fs::write(name, openflow::encode(version, 1, &fm)).unwrap();
            }
        }
        for k in ["Learn", "Controller2", "Meter"] {
            assert!(kinds.contains(k), "version {version}: no {k} in {kinds:?}");
        }
    }
    // brisk refuses what its datapath does not run with OVS's errors, after decoding it,
    // and takes the controller actions (which it runs), dumping them as OVS does.
    let sw = brisk("worker2", "codec", &[]);
    let b = mgmt(&sw);
    for (f, want) in [
        (FLOWS[2], "OFPBAC_BAD_VENDOR_TYPE"),
        // No meter 1 in brisk: OVS's answer to a flow that names a missing meter.
        (FLOWS[6], "OFPMMFC_INVALID_METER"),
    ] {
        for v in ["OpenFlow13", "OpenFlow15"] {
            let (ok, text) = ofctl(&["-O", v, "add-flow", &b, f]);
            assert!(!ok && text.contains(want), "{v} {f}: {text}");
        }
    }
    assert_eq!(dump("OpenFlow15", &b).len(), 0);
    for f in [FLOWS[0], FLOWS[1], FLOWS[3], FLOWS[4], FLOWS[5]] {
        ofctl_ok(&["-O", "OpenFlow15", "add-flow", &b, f]);
        ofctl_ok(&["-O", "OpenFlow15", "add-flow", &o, f]);
    }
    ofctl_ok(&["-O", "OpenFlow15", "add-flow", &b, "actions=drop"]);
    assert_eq!(dump("OpenFlow15", &b).len(), 6);
    let ours = |t: &str| -> Vec<String> {
        dump("OpenFlow15", t)
            .into_iter()
            .filter(|l| l.contains("controller(") || l.contains("learn("))
            .collect()
    };
    // OVS also holds the earlier flows: brisk's are among its lines, word for word.
    let (cb, co) = (ours(&b), ours(&o));
    assert_eq!(cb.len(), 5, "{cb:?}");
    for l in &cb {
        assert!(co.contains(l), "{l} not in OVS's {co:#?}");
    }
}
