//! Node descriptions (`brisk conf check|flows|groups`, `brisk run --config`, `brisk ctl
//! reload`): any text either fails with a placed error or is a node whose generated groups
//! and flows load into a bridge with its ports (what `brisk conf check` does).
#![no_main]

use conf::node::Plan;
use libfuzzer_sys::fuzz_target;
use pipeline::bridge::{Bridge, PortInfo, PortKind};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(plan) = Plan::parse(s, "node.yaml") else {
        return;
    };
    let _ = plan.bridge();
    let _ = plan.summary();
    let b = Bridge::new("check", pipeline::conntrack::ConntrackConfig::default());
    for (name, num) in plan.node().port_names() {
        b.add_port(PortInfo::new(num, &name, PortKind::Normal))
            .unwrap_or_else(|e| panic!("a valid node's port {name} ({num}) is refused: {e}"));
    }
    if let Err(e) = b.load_text(&plan.groups(), &plan.flows(), 0) {
        panic!("a valid node's generated pipeline does not load: {e}");
    }
});
