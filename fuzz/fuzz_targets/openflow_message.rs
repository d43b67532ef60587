//! OpenFlow messages as the switch reads them off its management socket. Framing and
//! decoding never panic; whatever decodes, encodes, and decoding that again is a fixed
//! point (the same bytes come back from a second encoding).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = openflow::frame(data);
    let Ok((h, m)) = openflow::decode(data) else {
        return;
    };
    // A set-async body is read by the connection: it must refuse, never panic.
    if let openflow::Message::SetAsync(body) = &m {
        let _ = openflow::async_config::AsyncConfig::default().apply(body, h.version);
    }
    let once = openflow::encode(h.version, h.xid, &m);
    let (h2, m2) = match openflow::decode(&once) {
        Ok(x) => x,
        Err(e) => panic!("brisk cannot decode what it encoded: {e}\nfrom {m:?}"),
    };
    assert_eq!((h2.version, h2.xid), (h.version, h.xid));
    let twice = openflow::encode(h2.version, h2.xid, &m2);
    assert_eq!(once, twice, "encoding is not a fixed point for {m2:?}");
});
