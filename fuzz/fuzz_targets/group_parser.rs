//! Group parser: any input either fails with a positioned error or parses into a group that
//! prints back to text which parses to the same group; a parsed select group picks a bucket
//! for any hash without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipeline::ofctl::{format_group, parse_group, GroupMode, PortMap};
use pipeline::tables::Group;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let mut ports = PortMap::new();
    ports.insert("antrea-gw0", 2);
    ports.insert("p1", 1);
    for mode in [GroupMode::Add, GroupMode::Delete] {
        match parse_group(s, mode, &ports) {
            Ok(g) => {
                if mode == GroupMode::Add {
                    let printed = format_group(&g, &ports);
                    let again = parse_group(&printed, GroupMode::Add, &ports).unwrap_or_else(|e| {
                        panic!("printed group does not parse: {printed:?}: {e}")
                    });
                    assert_eq!(again, g, "print and parse differ: {printed:?}");
                    let grp = Group::new(g, 0);
                    let pick = grp.select(data.len() as u64 * 0x9e37_79b9);
                    if let Some(i) = pick {
                        assert!(i < grp.entry.buckets.len());
                    }
                }
            }
            Err(e) => {
                assert!(
                    e.offset <= s.len(),
                    "error offset {} beyond input",
                    e.offset
                );
            }
        }
    }
});
