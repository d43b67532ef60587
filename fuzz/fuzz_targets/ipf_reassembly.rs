//! Fragment reassembly under any sequence of frames: real fragments of a datagram with
//! bytes flipped, dropped, repeated and reordered, or raw bytes, through a fast path with
//! `ct`; no panic, and every fragment held is given back (the switch-wide count returns
//! to 0 once the lists expire and the worker goes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipeline::bridge::{Bridge, PortInfo, PortKind};
use pipeline::build::{fragment, udp_frame};
use pipeline::conntrack::ConntrackConfig;
use pipeline::dpaction::Collect;
use pipeline::fastpath::{FastPath, FastPathConfig};
use pipeline::ofctl::{parse_flow, Mode};
use pipeline::packet::VecFrame;

fn bridge() -> Bridge {
    let b = Bridge::new("br0", ConntrackConfig::default());
    for p in 1..=2u32 {
        b.add_port(PortInfo::new(p, &format!("p{p}"), PortKind::Normal)).unwrap();
    }
    let flows = [
        "table=0,ip actions=ct(table=1,zone=1)",
        "table=0,ipv6 actions=ct(table=1,zone=1)",
        "table=1,ip,ct_state=+new+trk actions=ct(commit,table=2,zone=1,nat(dst=10.0.0.9:99))",
        "table=1 actions=output:2",
        "table=2 actions=output:2",
    ];
    let fl: Vec<_> = flows.iter().map(|f| parse_flow(f, Mode::Add, b.ports().names()).unwrap()).collect();
    b.add_flows(&fl, 0).unwrap();
    b.conntrack.ipf.set_min_frag(false, 400).unwrap();
    b
}

static BRIDGE: std::sync::OnceLock<Bridge> = std::sync::OnceLock::new();

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let b = BRIDGE.get_or_init(bridge);
    let mut fp: FastPath<VecFrame> = FastPath::new(FastPathConfig::default());
    let mut out = Collect::new();
    let frames: Vec<Vec<u8>> = if data[0] & 1 == 0 {
        // A datagram cut into fragments, then mutated by the rest of the input.
        let len = usize::from(u16::from_be_bytes([data[1], data[2]])) % 9000;
        let size = 400 + usize::from(data[3]) * 8;
        let d = udp_frame(1, 2, 0x0a00_0001, 0x0a00_0002, 1000, 2000, &vec![0x5a; len]);
        let mut frags = fragment(&d, size, 7);
        for op in data[4..].chunks(3) {
            if frags.is_empty() || op.len() < 3 {
                break;
            }
            let k = usize::from(op[1]) % frags.len();
            match op[0] % 4 {
                0 => {
                    let f = &mut frags[k];
                    let at = usize::from(op[2]) % f.len();
                    f[at] ^= op[2] | 1;
                }
                1 => {
                    frags.remove(k);
                }
                2 => {
                    let c = frags[k].clone();
                    frags.push(c);
                }
                _ => {
                    let j = usize::from(op[2]) % frags.len();
                    frags.swap(k, j);
                }
            }
        }
        frags
    } else {
        data[1..].chunks(97).map(<[u8]>::to_vec).collect()
    };
    for (t, chunk) in frames.chunks(8).enumerate() {
        let input = chunk.iter().map(|f| (VecFrame::new(f), 1u32, None));
        fp.process_burst(b, input, t as u64, &mut out);
        fp.service(b, t as u64, &mut out);
    }
    fp.service(b, 1_000_000, &mut out);
    assert_eq!(b.conntrack.ipf.status().nfrag, 0, "every list expired");
    drop(fp);
    let st = b.conntrack.ipf.status();
    assert_eq!((st.nfrag, st.bytes), (0, 0));
});
