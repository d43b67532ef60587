//! Trace packet specs (`brisk trace SPEC`, `brisk ctl trace SPEC`): any input either fails
//! with a positioned error or yields a packet key; a trace spec names its port, and the
//! frame built from the key (with a small payload) parses.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipeline::field::Field;
use pipeline::ofctl::{parse_packet_spec, parse_trace_spec, PortMap};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let mut ports = PortMap::new();
    ports.insert("antrea-gw0", 2);
    ports.insert("p1", 1);
    ports.set_unknown_hint("give it with --port NAME=NUMBER");
    match parse_packet_spec(s, &ports) {
        Ok(key) => {
            let frame = pipeline::build::from_flow(&key, usize::from(data.len() as u8));
            assert!(frame.len() >= 14, "a frame has an Ethernet header");
        }
        Err(e) => assert!(
            e.offset <= s.len(),
            "error offset {} beyond input",
            e.offset
        ),
    }
    if let Ok(key) = parse_trace_spec(s, &ports) {
        assert_ne!(
            Field::InPort.get(&key),
            0,
            "a traced packet enters on a port"
        );
    }
});
