//! Bridge files (`brisk run --bridge`): any text either fails with a placed error or is a
//! bridge whose ports, routes and TLV map the runtime accepts as the check promised.
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
        if let Some(d) = &p.devargs {
            let spec = PortSpec::parse(d);
            let _ = spec.kernel_equivalent();
        }
    }
    let mut tlv = pipeline::geneve::TlvMap::default();
    for t in &c.tlv_map {
        tlv.add(t).expect("checked TLV map");
    }
    for r in &c.routes {
        pipeline::underlay::RouteTable::parse(r).expect("checked route");
    }
    let _ = c.flows_path();
});
