use super::*;
use crate::build::{ip, mac, udp_frame};
use crate::packet::VecFrame;
use crate::wire::checksum::checksum;

fn tlv() -> TlvMap {
    let mut m = TlvMap::default();
    m.add("{class=0x104,type=0x80,len=4}->tun_metadata0")
        .unwrap();
    m
}

fn params(csum: bool) -> PushParams {
    PushParams {
        src_mac: mac("00:50:56:8f:4e:82"),
        dst_mac: mac("00:50:56:8f:1c:f6"),
        local_ip: ip("10.79.1.201"),
        dst_port: GENEVE_PORT,
        csum,
        ttl: 64,
        ip_id: 0x1234,
    }
}

fn meta(with_opt: bool) -> TunnelMeta {
    TunnelMeta {
        tun_id: 0x123456,
        src: 0,
        dst: ip("10.79.1.202"),
        md_present: u8::from(with_opt),
        md: [0xdeadbeef, 0, 0, 0, 0, 0, 0, 0],
        ..Default::default()
    }
}

#[test]
fn tlv_map_syntax() {
    let mut m = TlvMap::default();
    m.add(
        "{class=0x104,type=0x80,len=4}->tun_metadata0,{class=0xffff,type=1,len=8}->tun_metadata3",
    )
    .unwrap();
    assert_eq!(
        m.slots[0],
        Some(TlvEntry {
            class: 0x104,
            ty: 0x80,
            len: 4
        })
    );
    assert_eq!(m.slots[3].unwrap().len, 8);
    assert_eq!(m.options_len(0b1001), 8 + 12);
    assert!(matches!(
        m.add("{class=1,type=2,len=4}->tun_metadata0"),
        Err(TlvError::Duplicate(_))
    ));
    assert!(matches!(
        m.add("{class=1,type=2,len=6}->tun_metadata1"),
        Err(TlvError::BadLength(6))
    ));
    // Numbers too wide for their field are refused, not truncated.
    for bad in [
        "{class=1,type=2,len=0x100000004}->tun_metadata1",
        "{class=0x10000,type=2,len=4}->tun_metadata1",
        "{class=1,type=0x100,len=4}->tun_metadata1",
    ] {
        let e = m.add(bad).unwrap_err().to_string();
        assert!(e.contains(" is over "), "{bad}: {e}");
    }
    assert!(matches!(
        m.add("{class=1,type=2,len=12}->tun_metadata1"),
        Err(TlvError::BadLength(12))
    ));
    assert!(matches!(
        m.add("{class=1,type=2,len=4}->tun_metadata9"),
        Err(TlvError::BadSlot(9))
    ));
    assert!(m.add("{class=1,type=2}->tun_metadata1").is_err());
    assert!(m.add("class=1").is_err());
    assert!(m.to_string().contains("0x0104 0x80       4  tun_metadata0"));
}

#[test]
fn push_is_byte_exact() {
    let inner = udp_frame(1, 2, ip("10.222.1.48"), ip("10.222.2.34"), 5, 6, b"hi");
    let mut f = VecFrame::new(&inner);
    let n = push(
        &mut f,
        &meta(true),
        &tlv(),
        &params(false),
        0xabcd_0000,
        1500,
    )
    .unwrap();
    assert_eq!(n, 58);
    let d = f.to_vec();
    // Hand-built expectation.
    let mut e: Vec<u8> = Vec::new();
    e.extend_from_slice(&[
        0x00, 0x50, 0x56, 0x8f, 0x1c, 0xf6, 0x00, 0x50, 0x56, 0x8f, 0x4e, 0x82, 0x08, 0x00,
    ]);
    let ip_len = (20 + 8 + 8 + 8 + inner.len()) as u16;
    let mut iph = vec![0x45, 0x00];
    iph.extend_from_slice(&ip_len.to_be_bytes());
    iph.extend_from_slice(&[
        0x12, 0x34, 0x40, 0x00, 64, 17, 0, 0, 10, 79, 1, 201, 10, 79, 1, 202,
    ]);
    let c = checksum(&iph);
    iph[10..12].copy_from_slice(&c.to_be_bytes());
    e.extend_from_slice(&iph);
    let sport = source_port(0xabcd_0000);
    e.extend_from_slice(&sport.to_be_bytes());
    e.extend_from_slice(&6081u16.to_be_bytes());
    e.extend_from_slice(&(ip_len - 20).to_be_bytes());
    e.extend_from_slice(&[0, 0]);
    // Geneve: ver 0, opt len 2 words, C bit (type 0x80 is critical), TEB, VNI 0x123456.
    e.extend_from_slice(&[0x02, 0x40, 0x65, 0x58, 0x12, 0x34, 0x56, 0x00]);
    e.extend_from_slice(&[0x01, 0x04, 0x80, 0x01, 0xde, 0xad, 0xbe, 0xef]);
    e.extend_from_slice(&inner);
    assert_eq!(d, e);
    assert!((49152..=65535).contains(&sport));
}

#[test]
fn push_pop_round_trip_with_and_without_options_and_csum() {
    let inner = udp_frame(1, 2, ip("10.222.1.48"), ip("10.222.2.34"), 5, 6, b"payload");
    for (opt, csum) in [(false, false), (true, false), (false, true), (true, true)] {
        let mut f = VecFrame::new(&inner);
        push(&mut f, &meta(opt), &tlv(), &params(csum), 7, 1500).unwrap();
        if csum {
            assert_ne!(&f.data()[40..42], &[0, 0]);
        }
        let m = pop(&mut f, &tlv()).unwrap();
        assert_eq!(f.to_vec(), inner);
        assert_eq!(m.tun_id, 0x123456);
        assert_eq!((m.src, m.dst), (ip("10.79.1.201"), ip("10.79.1.202")));
        assert_eq!(m.ttl, 64);
        assert_eq!(m.md_present, u8::from(opt));
        if opt {
            assert_eq!(m.md[0], 0xdeadbeef);
        }
    }
}

#[test]
fn push_limits() {
    let inner = vec![0u8; 1480];
    let mut f = VecFrame::new(&inner);
    assert_eq!(
        push(&mut f, &meta(false), &tlv(), &params(false), 0, 1500),
        Err(PushError::TooBig)
    );
    assert_eq!(f.to_vec(), inner, "unchanged on error");
    let mut tight = VecFrame::with_headroom(&inner[..100], 20);
    assert_eq!(
        push(&mut tight, &meta(false), &tlv(), &params(false), 0, 1500),
        Err(PushError::NoHeadroom)
    );
}

fn geneve_frame(opts: &[u8], proto: u16, ver: u8) -> Vec<u8> {
    let inner = udp_frame(1, 2, 3, 4, 5, 6, b"x");
    let glen = 8 + opts.len();
    let udp_len = 8 + glen + inner.len();
    let mut f = Vec::new();
    f.extend_from_slice(&[0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 8, 0]);
    let mut iph = vec![0x45, 0];
    iph.extend_from_slice(&((20 + udp_len) as u16).to_be_bytes());
    iph.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    let c = checksum(&iph);
    iph[10..12].copy_from_slice(&c.to_be_bytes());
    f.extend_from_slice(&iph);
    f.extend_from_slice(&50000u16.to_be_bytes());
    f.extend_from_slice(&6081u16.to_be_bytes());
    f.extend_from_slice(&(udp_len as u16).to_be_bytes());
    f.extend_from_slice(&[0, 0]);
    f.push((ver << 6) | (opts.len() / 4) as u8);
    f.push(0);
    f.extend_from_slice(&proto.to_be_bytes());
    f.extend_from_slice(&[0, 0, 5, 0]);
    f.extend_from_slice(opts);
    f.extend_from_slice(&inner);
    f
}

#[test]
fn pop_rejects_malformed_by_reason() {
    let t = tlv();
    let pop_err = |f: &[u8]| pop(&mut VecFrame::new(f), &t).unwrap_err();
    // Good baseline.
    assert!(pop(&mut VecFrame::new(&geneve_frame(&[], 0x6558, 0)), &t).is_ok());
    assert_eq!(
        pop_err(&geneve_frame(&[], 0x6558, 1)),
        DecapError::BadVersion
    );
    assert_eq!(
        pop_err(&geneve_frame(&[], 0x0800, 0)),
        DecapError::NotEthernet
    );
    // Unknown non-critical option: ignored. Unknown critical: dropped.
    let ok = pop(
        &mut VecFrame::new(&geneve_frame(&[0, 9, 0x01, 1, 1, 2, 3, 4], 0x6558, 0)),
        &t,
    )
    .unwrap();
    assert_eq!(ok.md_present, 0);
    assert_eq!(
        pop_err(&geneve_frame(&[0, 9, 0x81, 1, 1, 2, 3, 4], 0x6558, 0)),
        DecapError::UnknownCriticalOption
    );
    // Option length running past the option area.
    assert_eq!(
        pop_err(&geneve_frame(&[0, 9, 0x01, 2, 1, 2, 3, 4], 0x6558, 0)),
        DecapError::BadOptionLength
    );
    // Mapped option with the wrong length.
    assert_eq!(
        pop_err(&geneve_frame(
            &[0x01, 0x04, 0x80, 2, 1, 2, 3, 4, 5, 6, 7, 8],
            0x6558,
            0
        )),
        DecapError::OptionLengthMismatch
    );
    // Option area longer than the UDP payload.
    let mut f = geneve_frame(&[], 0x6558, 0);
    f[42] = 0x3f;
    assert_eq!(pop_err(&f), DecapError::BadOptionLength);
    // Bad IP checksum, bad UDP length, bad UDP checksum, truncation.
    let mut f = geneve_frame(&[], 0x6558, 0);
    f[24] ^= 0xff;
    assert_eq!(pop_err(&f), DecapError::BadIp);
    let mut f = geneve_frame(&[], 0x6558, 0);
    f[38] = 0xff;
    assert_eq!(pop_err(&f), DecapError::BadUdpLength);
    let mut f = geneve_frame(&[], 0x6558, 0);
    f[40] = 0x12;
    assert_eq!(pop_err(&f), DecapError::BadUdpChecksum);
    let f = geneve_frame(&[], 0x6558, 0);
    assert_eq!(pop_err(&f[..f.len() - 1]), DecapError::Truncated);
    assert_eq!(pop_err(&f[..20]), DecapError::Truncated);
    // Outer fragment.
    let mut f = geneve_frame(&[], 0x6558, 0);
    f[20] = 0x20;
    f[24] = 0;
    f[25] = 0;
    let c = checksum(&f[14..34]);
    f[24..26].copy_from_slice(&c.to_be_bytes());
    assert_eq!(pop_err(&f), DecapError::BadIp);
}

#[test]
fn classifies_tunnel_traffic() {
    let f = geneve_frame(&[], 0x6558, 0);
    assert!(is_geneve_for(&f, 0x0a00_0002, 6081));
    assert!(!is_geneve_for(&f, 0x0a00_0003, 6081));
    assert!(!is_geneve_for(&f, 0x0a00_0002, 4789));
    assert!(!is_geneve_for(&f[..30], 0x0a00_0002, 6081));
}
