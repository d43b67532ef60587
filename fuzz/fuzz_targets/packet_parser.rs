//! Packet parser and the datapath behind it: any bytes are extracted into a key without
//! panicking or reading out of bounds, and running them through conntrack and header
//! rewrites is safe.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipeline::conntrack::{Conntrack, ConntrackConfig, CtCommand, CtPacket};
use pipeline::field::Field;
use pipeline::flow::Flow;
use pipeline::packet::{extract, set_ipv4_addr, set_l4_port, set_ttl, ttl};
use std::sync::OnceLock;

static CT: OnceLock<Conntrack> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let mut key = Flow::ZERO;
    let lay = extract(data, 1, &mut key);
    assert!(usize::from(lay.l3) <= data.len());
    let ct = CT.get_or_init(|| Conntrack::new(ConntrackConfig {
        max_connections: 10_000,
        seed: 1,
        ..Default::default()
    }));
    let l4s = usize::from(lay.l4).min(data.len());
    let l4e = (l4s + usize::from(lay.l4_len)).min(data.len());
    let mut p = CtPacket {
        eth_type: Field::EthType.get(&key) as u16,
        src: Field::NwSrc.get(&key),
        dst: Field::NwDst.get(&key),
        proto: Field::NwProto.get(&key) as u8,
        src_port: Field::TpSrc.get(&key) as u16,
        dst_port: Field::TpDst.get(&key) as u16,
        tcp_flags: Field::TcpFlags.get(&key) as u16,
        l4: if lay.l4 == 0 { &[] } else { &data[l4s..l4e] },
        l4_len: usize::from(lay.l4_len),
        is_fragment: Field::NwFrag.get(&key) != 0,
        csum_ok: true,
    };
    // The checksum check reads the lengths the headers claim: hostile ones too.
    let l3 = data.get(usize::from(lay.l3)..).unwrap_or(&[]);
    let bits = pipeline::conntrack::csum::verify(&p, l3, 0);
    p.csum_ok = bits & pipeline::packet::csum::BAD == 0;
    let _ = ct.execute(&p, &CtCommand { zone: 1, commit: true, ..Default::default() }, 0);
    let mut d = data.to_vec();
    set_ipv4_addr(&mut d, &lay, &key, true, 0x0a00_0001);
    set_l4_port(&mut d, &lay, &key, false, 80);
    let _ = ttl(&d, &lay, false);
    set_ttl(&mut d, &lay, false, 3);
    // NAT inside an ICMP error, on whatever the layout says is one.
    let v6 = Field::EthType.get(&key) as u16 == 0x86dd;
    pipeline::packet::nat_icmp_inner(&mut d, &lay, v6, Some((7, 7)), Some((u128::MAX, 9)));
});
