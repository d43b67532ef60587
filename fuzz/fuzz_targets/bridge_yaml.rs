//! Bridge files (`brisk run --bridge`): any text either fails with a placed error or is a
//! bridge whose ports the runtime's bridge accepts as the check promised (routes, the TLV
//! map, neighbours and tunnel options come out parsed).
#![no_main]

use conf::bridge::{BridgeConfig, PortSpec};
use libfuzzer_sys::fuzz_target;
use pipeline::bridge::{Bridge, PortInfo, PortKind};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(c) = BridgeConfig::parse(s, "bridge.yaml") else {
        return;
    };
    let b = Bridge::new(&c.bridge, pipeline::conntrack::ConntrackConfig::default());
    for p in &c.ports {
        conf::limits::port_name(&p.name).expect("checked name");
        b.add_port(PortInfo::new(p.ofport, &p.name, PortKind::Normal))
            .unwrap_or_else(|e| panic!("checked port {} ({}) refused: {e}", p.name, p.ofport));
        if let Some(d) = p.devargs() {
            let spec = PortSpec::parse(d);
            spec.check().expect("checked devargs");
            let _ = spec.kernel_equivalent();
        }
        if let Some(u) = p.uplink() {
            assert!(u.prefix_len <= 32, "checked uplink prefix");
        }
    }
    let uplinks = c.ports.iter().filter(|p| p.uplink().is_some()).count();
    if c.ports.iter().any(|p| p.tunnel().is_some()) {
        assert_eq!(uplinks, 1, "a tunnel has its one uplink");
    }
    let _ = c.flows_path();
});
