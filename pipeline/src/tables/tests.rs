use super::*;
use crate::ofctl::{parse_flow, Mode, PortMap};

fn fe(s: &str) -> FlowEntry {
    parse_flow(s, Mode::Add, &PortMap::new()).unwrap()
}
fn del(s: &str, strict: bool) -> FlowMod {
    FlowMod::Delete {
        filter: parse_flow(s, Mode::Delete, &PortMap::new()).unwrap(),
        strict,
        out_group: None,
    }
}

#[test]
fn add_modify_delete() {
    let t = OfTables::default();
    let (t, s) = t
        .apply(
            &[
                FlowMod::Add(fe("table=0,priority=10,ip actions=output:1")),
                FlowMod::Add(fe("table=0,priority=20,tcp,tp_dst=80 actions=output:2")),
                FlowMod::Add(fe("table=5,priority=0,cookie=0x7 actions=drop")),
            ],
            0,
        )
        .unwrap();
    assert_eq!(s.added, 3);
    assert_eq!(t.n_flows(), 3);
    let r = t.table(0).unwrap().rules().next().unwrap().clone();
    r.credit(3, 300, 5);
    // Re-adding the same match+priority modifies, keeping counters.
    let (t2, s) = t
        .apply(
            &[FlowMod::Add(fe(
                "table=0,priority=20,tcp,tp_dst=80 actions=output:3",
            ))],
            1,
        )
        .unwrap();
    assert_eq!(s.modified, 1);
    let r2 = t2.table(0).unwrap().rules().next().unwrap();
    assert_eq!(r2.stats.n_packets.load(Ordering::Relaxed), 3);
    assert_eq!(r2.entry.actions, vec![Action::Output(3)]);
    // The old version is untouched.
    assert_eq!(
        t.table(0).unwrap().rules().next().unwrap().entry.actions,
        vec![Action::Output(2)]
    );
    // Non-strict delete of `ip` removes both table-0 flows.
    let (t3, s) = t2.apply(&[del("table=0,ip", false)], 2).unwrap();
    assert_eq!(s.deleted, 2);
    assert!(t3.table(0).is_none());
    // Strict delete needs exact priority.
    let (t4, s) = t2.apply(&[del("table=0,priority=11,ip", true)], 2).unwrap();
    assert_eq!(s.deleted, 0);
    assert_eq!(t4.n_flows(), 3);
    // Cookie mask.
    let (t5, s) = t2.apply(&[del("cookie=0x7/0xff", false)], 2).unwrap();
    assert_eq!(s.deleted, 1);
    assert_eq!(t5.n_flows(), 2);
    // out_port.
    let (t6, s) = t2.apply(&[del("out_port=3", false)], 2).unwrap();
    assert_eq!(s.deleted, 1);
    assert_eq!(t6.n_flows(), 2);
}

#[test]
fn full_table_refuses_batch_atomically() {
    let t = OfTables::new(2);
    let r = t.apply(
        &[
            FlowMod::Add(fe("priority=1,ip actions=drop")),
            FlowMod::Add(fe("priority=2,ip actions=drop")),
            FlowMod::Add(fe("priority=3,ip actions=drop")),
        ],
        0,
    );
    assert_eq!(
        r.err(),
        Some(FlowModError::TableFull { table: 0, limit: 2 })
    );
    assert_eq!(t.n_flows(), 0);
}

#[test]
fn goto_must_go_forward() {
    let t = OfTables::default();
    assert!(t
        .apply(&[FlowMod::Add(fe("table=3 actions=goto_table:2"))], 0)
        .is_err());
}

#[test]
fn replace_keeps_identical_and_their_counters() {
    let t = OfTables::default();
    let a = fe("table=0,priority=10,ip actions=output:1");
    let b = fe("table=0,priority=20,arp actions=NORMAL");
    let c = fe("table=1,priority=5 actions=drop");
    let (t, _) = t.replace_all(&[a.clone(), b.clone(), c], 0).unwrap();
    t.table(0).unwrap().rules().for_each(|r| r.credit(1, 64, 1));
    let b2 = fe("table=0,priority=20,arp actions=FLOOD");
    let d = fe("table=2,priority=1 actions=drop");
    let (t2, s) = t.replace_all(&[a, b2, d], 2).unwrap();
    assert_eq!(
        s,
        ModSummary {
            added: 1,
            modified: 1,
            deleted: 1,
            unchanged: 1
        }
    );
    for r in t2.table(0).unwrap().rules() {
        assert_eq!(
            r.stats.n_packets.load(Ordering::Relaxed),
            1,
            "{:?}",
            r.entry
        );
    }
    assert!(t2.table(1).is_none());
    assert_eq!(t2.n_flows(), 3);
}

#[test]
fn timeouts_expire_flows_idle_from_the_last_packet() {
    let (t, _) = OfTables::default()
        .apply(
            &[
                FlowMod::Add(fe("table=1,priority=1,hard_timeout=2,ip actions=drop")),
                FlowMod::Add(fe("table=1,priority=2,idle_timeout=1,ip actions=drop")),
                FlowMod::Add(fe("table=1,priority=3,ip actions=drop")),
            ],
            0,
        )
        .unwrap();
    // A packet at 900 ms keeps the idle flow until 1,900 ms.
    let idle = t
        .table(1)
        .unwrap()
        .rules()
        .find(|r| r.entry.priority == 2)
        .unwrap()
        .clone();
    idle.credit(1, 60, 900);
    assert!(t.expire(1_500).is_none());
    let (t, gone) = t.expire(1_900).unwrap();
    assert_eq!(gone.len(), 1);
    assert!(
        gone[0].1 == Removal::Idle && gone[0].0.entry.priority == 2,
        "idle"
    );
    let (t, gone) = t.expire(2_000).unwrap();
    assert!(
        gone[0].1 == Removal::Hard && gone[0].0.entry.priority == 1,
        "hard"
    );
    assert_eq!(t.n_flows(), 1);
    assert!(t.expire(1_000_000).is_none(), "no timeout, no expiry");
}

/// The classifier's handles do not own rules: each version's rule list does. A rule
/// replaced or deleted in a new version stays alive and found in the old one while it
/// lives, and is freed (not leaked) when no version holds it.
#[test]
fn rules_live_exactly_as_long_as_a_version_lists_them() {
    let (v1, _) = OfTables::default()
        .apply(
            &[FlowMod::Add(fe(
                "table=3,priority=5,ip,nw_src=10.0.0.1 actions=output:1",
            ))],
            0,
        )
        .unwrap();
    let flow = fe("ip,nw_src=10.0.0.1 actions=drop").matches.value;
    let look = |t: &OfTables| {
        t.table(3)
            .and_then(|t| t.lookup(&flow, None))
            .map(|r| r.payload.clone())
    };
    let r1 = look(&v1).unwrap();
    // The list owns one count, this test another: the classifier none.
    assert_eq!(Arc::strong_count(&r1), 2);
    let weak = Arc::downgrade(&r1);
    drop(r1);
    // v2 replaces the rule, v3 deletes the replacement.
    let (v2, _) = v1
        .apply(
            &[FlowMod::Add(fe(
                "table=3,priority=5,ip,nw_src=10.0.0.1 actions=output:2",
            ))],
            1,
        )
        .unwrap();
    let r2 = look(&v2).unwrap();
    assert!(!Arc::ptr_eq(&r2, &weak.upgrade().unwrap()));
    let weak2 = Arc::downgrade(&r2);
    drop(r2);
    let (v3, s) = v2
        .apply(&[del("table=3,priority=5,ip,nw_src=10.0.0.1", true)], 2)
        .unwrap();
    assert_eq!(s.deleted, 1);
    assert!(look(&v3).is_none());
    assert!(weak.upgrade().is_some() && weak2.upgrade().is_some());
    assert_eq!(
        look(&v1).unwrap().entry.actions,
        fe("actions=output:1").actions
    );
    drop(v1);
    assert!(
        weak.upgrade().is_none(),
        "the first rule went with its last version"
    );
    assert_eq!(
        look(&v2).unwrap().entry.actions,
        fe("actions=output:2").actions
    );
    drop(v2);
    assert!(weak2.upgrade().is_none());
    drop(v3);
}
