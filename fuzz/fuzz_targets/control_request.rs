//! Control requests as the switch reads them off its socket: a JSON header line and the
//! input it announces. Any bytes are refused with a message, wait for more, or decode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switch::runtime::{decode_request, Request};

fuzz_target!(|data: &[u8]| {
    let _ = serde_json::from_slice::<Request>(data);
    if let Ok(Some(r)) = decode_request(data, 1 << 16) {
        assert!(r.input.as_ref().map_or(0, String::len) <= data.len());
    }
    let _ = decode_request(data, 0);
});
