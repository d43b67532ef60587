//! Per-zone connection limits: a zone at its limit refuses new commits (counted), other
//! zones and established connections go on, and the count falls as connections end.

use pipeline::bridge::Bridge;
use pipeline::build::{ip, udp_frame};
use pipeline::conntrack::ConntrackConfig;
use pipeline::dpaction::{Collect, DropReason, Packet};
use pipeline::packet::VecFrame;
use pipeline::seed::bridge_with_ports;
use pipeline::slowpath::process;

fn bridge() -> Bridge {
    let flows = [
        "table=0,udp,tp_dst=1 actions=ct(commit,table=1,zone=1)",
        "table=0,udp,tp_dst=2 actions=ct(commit,table=1,zone=2)",
        "table=1 actions=output:2",
    ];
    bridge_with_ports(2, &flows, ConntrackConfig::default())
}

fn send(b: &Bridge, sport: u16, zone_port: u16, now: u64) -> Result<(), Vec<DropReason>> {
    let f = udp_frame(1, 2, ip("10.0.0.1"), ip("10.0.0.2"), sport, zone_port, b"x");
    let mut out = Collect::new();
    process(
        b,
        Packet::new(VecFrame::new(&f), 1, None),
        now,
        &mut out,
        None,
    );
    if out.outputs.is_empty() {
        Err(out.drops.to_vec())
    } else {
        Ok(())
    }
}

#[test]
fn a_zone_at_its_limit_refuses_new_connections_and_only_its_own() {
    let b = bridge();
    let z = &b.conntrack.zones;
    z.set(1, 3);
    for s in 0..3 {
        send(&b, 1000 + s, 1, 0).unwrap();
    }
    assert_eq!(
        send(&b, 2000, 1, 0),
        Err(vec![DropReason::CtFull]),
        "zone 1 is full"
    );
    send(&b, 1000, 1, 0).expect("an established connection goes on");
    for s in 0..10 {
        send(&b, 3000 + s, 2, 0).expect("zone 2 has no limit");
    }
    let st = b.conntrack.stats();
    assert_eq!((st.zone_limited, st.connections), (1, 13));
    assert_eq!((z.get(1).count, z.get(2).count), (3, 10));
    // A default applies to zones without their own; 0 of their own is none.
    z.set_default(10);
    assert!(send(&b, 3999, 2, 0).is_err(), "zone 2 at the default");
    z.set(2, 0);
    send(&b, 3999, 2, 0).expect("its own 0: no limit");
    // Connections that end free their zone's room.
    b.conntrack.flush(Some(1));
    assert_eq!(z.get(1).count, 0);
    send(&b, 2000, 1, 0).expect("room again");
    b.conntrack.expire(10_000_000);
    assert_eq!(
        (
            z.get(1).count,
            z.get(2).count,
            b.conntrack.stats().connections
        ),
        (0, 0, 0)
    );
}
