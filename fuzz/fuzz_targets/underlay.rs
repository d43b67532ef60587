//! The underlay's text: routes (`route add`, a bridge file's `routes:`), neighbours (`neigh
//! add IP MAC`, `neighbors:`) and the Geneve TLV map (`add-tlv-map`, `tlv_map:`). Any input
//! is refused with a message or accepted within its ranges.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipeline::geneve::TlvMap;
use pipeline::ofctl::{parse_mac, PortMap};
use pipeline::underlay::{NeighConfig, NeighTable, RouteTable};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let mut ports = PortMap::new();
    ports.insert("uplink", 7);
    ports.insert("antrea-gw0", 2);
    let routes = [
        RouteTable::parse(s),
        RouteTable::parse_with_ports(s, &ports),
    ];
    for r in routes.into_iter().flatten() {
        assert!(r.len <= 32);
        assert!(r.dev > 0 && r.dev < 0xff00, "dev {}", r.dev);
        let mut t = RouteTable::default();
        t.add(r);
        let _ = t.lookup(r.prefix);
        let _ = t.del(r.prefix, r.len);
    }
    if let Some(m) = parse_mac(s) {
        assert!(m < 1 << 48);
    }
    let mut tlv = TlvMap::default();
    if tlv.add(s).is_ok() {
        let _ = tlv.to_string();
        let _ = tlv.options_len(0xff);
    }
    if let Some((ip, mac)) = s.split_once(' ') {
        if let (Ok(ip), Some(mac)) = (ip.parse::<std::net::Ipv4Addr>(), parse_mac(mac)) {
            let mut n = NeighTable::new(NeighConfig::default());
            n.add_static(u32::from(ip), mac);
            assert_eq!(n.entries().len(), 1);
            assert_eq!(n.mac(u32::from(ip)), Some(mac));
        }
    }
});
