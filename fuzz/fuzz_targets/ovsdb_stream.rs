//! What `ovsdb-server` (or anything at the database's address) and `ovs-appctl` clients
//! send brisk: a byte stream split into JSON-RPC messages at every read size, each decoded,
//! table updates applied to a database copy and mapped to ports as the vswitchd does, and
//! unixctl requests decoded. Nothing may panic; a decoded message encodes to one that
//! decodes the same; a refused update leaves the copy as it was.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ovsdb::{Message, Mirror, Splitter};

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, bytes)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut sp = Splitter::new(1 << 16);
    let mut buf = Vec::new();
    let mut mirror = Mirror::default();
    for c in bytes.chunks(chunk) {
        buf.extend_from_slice(c);
        loop {
            let n = match sp.feed(&buf) {
                Ok(Some(n)) => n,
                Ok(None) => break,
                Err(_) => return,
            };
            let msg = buf.drain(..n).collect::<Vec<u8>>();
            let _ = ovsdb::unixctl::Command::decode(&msg);
            let Ok(m) = Message::decode(&msg) else { continue };
            assert_eq!(Message::decode(&m.encode()).as_ref(), Ok(&m), "round trip");
            let updates = match &m {
                Message::Notification { params, .. } => params.get(1).cloned(),
                Message::Reply { outcome: Ok(r), .. } => Some(r.clone()),
                _ => None,
            };
            if let Some(u) = updates {
                let before = format!("{:?}", mirror.tables);
                if mirror.apply(&u).is_err() {
                    assert_eq!(before, format!("{:?}", mirror.tables), "partly applied");
                }
            }
        }
    }
    use switch::runtime::ovsdb::vswitch;
    for (uuid, _, _) in vswitch::bridges(&mirror) {
        let ifs = vswitch::bridge_ifaces(&mirror, &uuid, "/run/openvswitch");
        let n = vswitch::assign_ofports(&ifs, &|_| None);
        let mut seen = std::collections::BTreeSet::new();
        for x in n.into_iter().flatten() {
            assert!(seen.insert(x), "ofport {x} given twice");
        }
    }
});
