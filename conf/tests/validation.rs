//! A node file with many mistakes gets one precise error per mistake, each naming the
//! file, the line and the field.

use conf::node::NodeConfig;

fn worker1() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/worker1.yaml"
    ))
    .unwrap()
}

fn errors(text: &str) -> Vec<String> {
    match NodeConfig::parse(text, "worker1.yaml") {
        Ok(_) => Vec::new(),
        Err(e) => e.to_string().lines().map(str::to_string).collect(),
    }
}

fn line_of(text: &str, needle: &str) -> usize {
    nth_line_of(text, needle, 0)
}

fn nth_line_of(text: &str, needle: &str, n: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .nth(n)
        .unwrap()
        .0
        + 1
}

#[test]
fn examples_are_valid() {
    assert_eq!(errors(&worker1()), Vec::<String>::new());
    let w2 = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/worker2.yaml"
    ))
    .unwrap();
    assert_eq!(errors(&w2), Vec::<String>::new());
}

#[test]
fn every_mistake_is_named_with_its_line() {
    let bad = worker1()
        .replace("ip: 10.222.1.47", "ip: 10.222.3.5")
        .replace("ofport: 49", "ofport: 48")
        .replace("mac: \"6e:9e:5a:3e:3f:e8\"", "mac: \"f2:82:cc:96:da:bd\"")
        .replace(
            "pod_cidr: 10.222.0.0/24, gateway_ip: 10.222.0.1",
            "pod_cidr: 10.222.0.0/23, gateway_ip: 10.222.0.1",
        )
        .replace(
            "matchLabels: {role: frontend}}}]",
            "matchLabels: {role: frontnd}}}]",
        )
        .replace("ip: 10.79.1.201/24", "ip: 10.79.1.301/24")
        .replace("ip: 10.222.1.3\n", "ip: 10.222.1.1\n");
    let errs = errors(&bad);
    for e in &errs {
        println!("{e}");
    }
    let expect = [
        (
            line_of(&bad, "ip: 10.79.1.301/24"),
            "uplink.ip: '10.79.1.301' is not an IPv4 address",
        ),
        (
            line_of(&bad, "pod_cidr: 10.222.0.0/23"),
            "peers[0].pod_cidr: 10.222.0.0/23 overlaps pod_cidr (10.222.1.0/24)",
        ),
        (
            nth_line_of(&bad, "ip: 10.222.1.1", 1),
            "pods[1].ip: 10.222.1.1 is already used by gateway",
        ),
        (
            nth_line_of(&bad, "mac: \"f2:82:cc:96:da:bd\"", 1),
            "pods[1].mac: f2:82:cc:96:da:bd is already used by pods[0]",
        ),
        (
            line_of(&bad, "ip: 10.222.3.5"),
            "pods[2].ip: 10.222.3.5 is outside pod_cidr 10.222.1.0/24",
        ),
        (
            nth_line_of(&bad, "ofport: 48", 1),
            "pods[3].ofport: 48 is already used by pods[2]",
        ),
        (
            line_of(&bad, "role: frontnd"),
            "policies[1].ingress[0].from[0].podSelector: selects no pod (role=frontnd)",
        ),
    ];
    assert_eq!(errs.len(), expect.len(), "{errs:#?}");
    for (e, (line, msg)) in errs.iter().zip(expect) {
        assert!(e.starts_with("worker1.yaml:"), "{e}");
        assert!(e.ends_with(msg), "{e}\n   expected …{msg}");
        assert!(
            e.starts_with(&format!("worker1.yaml:{line}: ")),
            "{e} (line {line})"
        );
    }
}

#[test]
fn unknown_keys_and_types_are_errors() {
    let bad = worker1().replace("virtual_mac:", "virtual_mca:");
    let e = errors(&bad).join("\n");
    assert!(e.contains("unknown field `virtual_mca`"), "{e}");
    assert!(
        e.starts_with(&format!("worker1.yaml:{}:", line_of(&bad, "virtual_mca"))),
        "{e}"
    );
    let bad = worker1().replace("ofport: 48", "ofport: forty-eight");
    let e = errors(&bad).join("\n");
    assert!(
        e.contains(&format!("worker1.yaml:{}:", line_of(&bad, "forty-eight"))),
        "{e}"
    );
    let proxied = worker1().replace("proxy: kube-proxy", "proxy: antrea-proxy");
    assert!(errors(&proxied).is_empty(), "{:?}", errors(&proxied));
    let bad = proxied.replace("\"10.222.2.34:80\"", "\"10.222.2.34:81\"");
    let e = errors(&bad).join("\n");
    assert!(
        e.contains(&format!(
            "worker1.yaml:{}: services[0].endpoints[1]: port 81 is not a target port of the service (80)",
            line_of(&bad, "10.222.2.34:81")
        )),
        "{e}"
    );
    let bad = worker1().replace(
        "role: backend}}}]",
        "role: backend}}, ipBlock: {cidr: 10.0.0.0/8}}]",
    );
    let e = errors(&bad).join("\n");
    assert!(
        e.contains("egress[0].to[0]: give either ipBlock or podSelector"),
        "{e}"
    );
    let bad = worker1().replace(
        "[{protocol: UDP, port: 53}]",
        "[{protocol: ICMP, port: 53}]",
    );
    let e = errors(&bad).join("\n");
    assert!(
        e.contains("policies[0].egress[1].ports[0].protocol: 'ICMP' is not TCP, UDP or SCTP"),
        "{e}"
    );
}
