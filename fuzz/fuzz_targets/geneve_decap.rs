//! Geneve decapsulation, and the uplink's decapsulation stage: any bytes are either
//! rejected with a reason or yield metadata and an inner frame that lies within the input;
//! a frame the stage decapsulates, encapsulated again with the header template the
//! datapath would build for its metadata, decapsulates to the same metadata and inner
//! frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipeline::geneve::{pop, HeaderTemplate, PushParams, TlvMap};
use pipeline::packet::{Frame, VecFrame};
use pipeline::tunnel::decap::{classify, DecapPort, UplinkIn};
use std::sync::OnceLock;

static TLV: OnceLock<TlvMap> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let tlv = TLV.get_or_init(|| {
        let mut m = TlvMap::default();
        m.add("{class=0x104,type=0x80,len=4}->tun_metadata0,{class=0x1,type=0x2,len=8}->tun_metadata1")
            .unwrap();
        m
    });
    let mut f = VecFrame::new(data);
    if let Ok(meta) = pop(&mut f, tlv) {
        assert!(f.len() >= 14 && f.len() < data.len());
        assert!(meta.tun_id < 1 << 24);
    }
    // The stage, for a node whose address is the frame's outer destination (when there is
    // one), so that well-formed Geneve gets past the cheap test.
    let ip = data
        .get(30..34)
        .map_or(0x0a4f_01c9, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let port = DecapPort {
        uplink: 7,
        ip,
        mac: 0x0050_568f_4e82,
        tunnel: 1,
        dst_port: 6081,
        tlv: *tlv,
    };
    let mut f = VecFrame::new(data);
    if let UplinkIn::Tunnel(meta) = classify(&port, &mut f) {
        let inner = f.to_vec();
        let p = PushParams {
            src_mac: 1,
            dst_mac: 2,
            local_ip: meta.src,
            dst_port: 6081,
            csum: data.len() % 2 == 0,
            ttl: 64,
            ip_id: 0,
        };
        let t = HeaderTemplate::new(&meta, tlv, &p);
        let mut again = VecFrame::new(&inner);
        t.push(&mut again, data.len() as u32, 65535).unwrap();
        let back = pop(&mut again, tlv).expect("a template's frame decapsulates");
        assert_eq!(again.data(), &inner[..]);
        assert_eq!(
            (back.tun_id, back.src, back.dst, back.md_present, back.md),
            (meta.tun_id, meta.src, meta.dst, meta.md_present, meta.md)
        );
    }
});
