//! The seed's two Antrea nodes load verbatim and print back as OVS prints them.

use pipeline::ofctl::{format_flow, parse_flow, parse_flow_file, Mode, PortMap};

fn seed(name: &str) -> String {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../testdata/antrea-seed/");
    std::fs::read_to_string(format!("{p}{name}")).unwrap()
}

fn ports(node: &str) -> PortMap {
    let mut m = PortMap::new();
    m.insert("antrea-tun0", 1);
    m.insert("antrea-gw0", 2);
    if node == "worker1" {
        m.insert("coredns--3e3abf", 3);
        m.insert("antrea-o-830766", 4);
        m.insert("backend1-bab86f", 48);
        m.insert("frontend-a3ba2f", 49);
    } else {
        m.insert("coredns--d8f62c", 3);
        m.insert("backend2-202ff6", 35);
    }
    m
}

fn check_node(node: &str, n_flows: usize) {
    let text = seed(&format!("{node}.flows"));
    let p = ports(node);
    let (flows, errors) = parse_flow_file(&text, Mode::Add, &p);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(flows.len(), n_flows);
    for ((line_no, f), line) in flows
        .iter()
        .zip(text.lines().filter(|l| !l.trim().is_empty()))
    {
        let printed = format_flow(f, &p, None);
        assert_eq!(printed, line.trim(), "line {line_no} prints differently");
        let again = parse_flow(&printed, Mode::Add, &p).unwrap();
        assert_eq!(&again, f, "line {line_no} does not round-trip");
    }
}

#[test]
fn worker1_loads_and_prints_verbatim() {
    check_node("worker1", 76);
}

#[test]
fn worker2_loads_and_prints_verbatim() {
    check_node("worker2", 53);
}
