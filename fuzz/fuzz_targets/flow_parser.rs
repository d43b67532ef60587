//! Flow parser: any input either fails with a positioned error or parses into a flow that
//! prints back to text which parses to the same flow.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipeline::ofctl::{format_flow, parse_flow, parse_match, Mode, PortMap};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let mut ports = PortMap::new();
    ports.insert("antrea-gw0", 2);
    ports.insert("p1", 1);
    for mode in [Mode::Add, Mode::Delete] {
        match parse_flow(s, mode, &ports) {
            Ok(f) => {
                let printed = format_flow(&f, &ports, None);
                if mode == Mode::Add {
                    let again = parse_flow(&printed, Mode::Add, &ports)
                        .unwrap_or_else(|e| panic!("printed flow does not parse: {printed:?}: {e}"));
                    let reprinted = format_flow(&again, &ports, None);
                    assert_eq!(printed, reprinted, "print is not stable");
                }
            }
            Err(e) => {
                assert!(e.offset <= s.len(), "error offset {} beyond input", e.offset);
            }
        }
    }
    let _ = parse_match(s, &ports);
});
