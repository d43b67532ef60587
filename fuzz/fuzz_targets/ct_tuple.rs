//! `flush-conntrack`'s tuples (OVS's `dpctl/flush-conntrack` syntax): any text is refused
//! with a message naming the field, or parses to a filter whose addresses fit their
//! family; flushing a tracker with it never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pipeline::conntrack::{Conntrack, ConntrackConfig, TupleFilter};

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    match TupleFilter::parse(s) {
        Ok(t) => {
            if t.v6 == Some(false) {
                assert!(t.src.is_none_or(|a| a < 1 << 32) && t.dst.is_none_or(|a| a < 1 << 32));
            }
            if t.src.is_some() || t.dst.is_some() {
                assert!(t.v6.is_some());
            }
            let ct = Conntrack::new(ConntrackConfig::default());
            assert_eq!(ct.flush_matching(None, &t, Some(&t)), 0);
        }
        Err(e) => assert!(e.to_string().starts_with("tuple: ")),
    }
});
