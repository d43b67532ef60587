//! What `ovsdb-server` (or anything at the database's address) and `ovs-appctl` clients
//! send brisk: a byte stream split into JSON-RPC messages at every read size, each decoded,
//! table updates (whole rows, and update2 diffs) applied to a database copy and mapped to ports as the vswitchd does, and
//! unixctl requests decoded. Nothing may panic; a decoded message encodes to one that
//! decodes the same; a refused update leaves the copy as it was.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ovsdb::schema::{Column, ColumnKind, Schema};
use ovsdb::{Atom, Datum, Message, Mirror, Splitter};
use switch::runtime::ovsdb::vswitch;

/// The monitored columns, each given one of the three kinds (by its name) so diffs of
/// every kind reach every column.
fn schema() -> Schema {
    let mut s = Schema::default();
    for (t, cols) in vswitch::MONITORED {
        let table = s.tables.entry(t.to_string()).or_default();
        for c in *cols {
            let (kind, default) = match c.len() % 3 {
                0 => (ColumnKind::Scalar, Datum::Set(vec![Atom::Integer(0)])),
                1 => (ColumnKind::Set, Datum::Set(Vec::new())),
                _ => (ColumnKind::Map, Datum::Map(Vec::new())),
            };
            table.insert(c.to_string(), Column { kind, default });
        }
    }
    s
}

fuzz_target!(|data: &[u8]| {
    let Some((&chunk, bytes)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let mut sp = Splitter::new(1 << 16);
    let mut buf = Vec::new();
    let mut mirror = Mirror::default();
    let schema = schema();
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
            // `update`/`monitor` replies as whole rows, `update2`/`update3`/`monitor_cond`
            // replies as diffs read by column kind.
            let (updates, diffs) = match &m {
                Message::Notification { method, params } if method == "update3" => {
                    (None, params.get(2).cloned())
                }
                Message::Notification { method, params } if method == "update2" => {
                    (None, params.get(1).cloned())
                }
                Message::Notification { params, .. } => (params.get(1).cloned(), None),
                Message::Reply { outcome: Ok(r), .. } => (Some(r.clone()), Some(r.clone())),
                _ => (None, None),
            };
            if let Some(u) = updates {
                let before = format!("{:?}", mirror.tables);
                if mirror.apply(&u).is_err() {
                    assert_eq!(before, format!("{:?}", mirror.tables), "partly applied");
                }
            }
            if let Some(u) = diffs {
                let before = format!("{:?}", mirror.tables);
                if mirror.apply2(&u, &schema).is_err() {
                    assert_eq!(before, format!("{:?}", mirror.tables), "diff partly applied");
                }
            }
        }
    }
    for (uuid, _, _) in vswitch::bridges(&mirror) {
        let ifs = vswitch::bridge_ifaces(&mirror, &uuid, "/run/openvswitch");
        let n = vswitch::assign_ofports(&ifs, &|_| None);
        let mut seen = std::collections::BTreeSet::new();
        for x in n.into_iter().flatten() {
            assert!(seen.insert(x), "ofport {x} given twice");
        }
    }
});
