//! Geneve decapsulation: any bytes are either rejected with a reason or yield metadata and
//! an inner frame that lies within the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipeline::geneve::{pop, TlvMap};
use pipeline::packet::{Frame, VecFrame};
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
});
