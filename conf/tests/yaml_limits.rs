//! The YAML limits (issue 17, defect 8): size, nesting depth and alias expansion are
//! refused with a place and the limit, in time linear in the text, by every entry point
//! (node descriptions, bridge files, `locate`); the seed's examples still load.

use conf::bridge::BridgeConfig;
use conf::node::NodeConfig;
use conf::yaml::{MAX_ALIAS_NODES, MAX_YAML_BYTES, MAX_YAML_DEPTH};
use std::time::{Duration, Instant};

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn example(name: &str) -> String {
    std::fs::read_to_string(root().join("conf/examples").join(name)).unwrap()
}

/// Parses `text` as a node and as a bridge file, and locates it; each must be refused
/// with `want` (and the file name) in well under a second.
fn refused(what: &str, text: &str, want: &str) {
    let t = Instant::now();
    let node = NodeConfig::parse(text, "deep.yaml")
        .unwrap_err()
        .to_string();
    let node_t = t.elapsed();
    let t = Instant::now();
    let bridge = BridgeConfig::parse(text, "deep.yaml")
        .unwrap_err()
        .to_string();
    let bridge_t = t.elapsed();
    let t = Instant::now();
    let lines = conf::locate::locate(text);
    let locate_t = t.elapsed();
    println!(
        "{what} ({} bytes): refused in {node_t:?} (node), {bridge_t:?} (bridge), locate {locate_t:?}: {node}",
        text.len()
    );
    for (e, took) in [(&node, node_t), (&bridge, bridge_t)] {
        assert!(
            e.starts_with("deep.yaml:") && e.contains(want),
            "{what}: {e}"
        );
        assert!(took < Duration::from_secs(1), "{what}: took {took:?}");
    }
    assert!(
        lines.is_empty() && locate_t < Duration::from_secs(1),
        "{what}"
    );
}

#[test]
fn nested_flow_sequences_are_refused_quickly() {
    let n = 100_000;
    let want = format!("YAML nesting deeper than the limit of {MAX_YAML_DEPTH} levels");
    refused(
        "100,000 nested [",
        &("[".repeat(n) + &"]".repeat(n)),
        &format!("deep.yaml:1:{}: {want}", MAX_YAML_DEPTH + 1),
    );
    // Under a key: the shape that made libyaml take the longest (a simple key per level).
    refused(
        "node: 100,000 nested [",
        &(String::from("node: ") + &"[".repeat(n) + &"]".repeat(n)),
        &format!("deep.yaml:1:{}: {want}", 6 + MAX_YAML_DEPTH),
    );
    refused("[ without ]", &"[ ".repeat(n), &want);
}

#[test]
fn nested_flow_mappings_are_refused_quickly() {
    let n = 100_000;
    let want = format!("YAML nesting deeper than the limit of {MAX_YAML_DEPTH} levels");
    refused("100,000 nested {", &("{".repeat(n) + &"}".repeat(n)), &want);
    refused(
        "100,000 nested {a: ",
        &(String::from("node: ") + &"{a: ".repeat(n) + "b" + &"}".repeat(n)),
        &want,
    );
}

#[test]
fn deep_block_nesting_is_refused() {
    let want = format!("YAML nesting deeper than the limit of {MAX_YAML_DEPTH} levels");
    // Compact nested sequences on one line.
    refused("100,000 `- `", &"- ".repeat(100_000), &want);
    // Mappings, each indented one more than its parent.
    let deep: String = (0..200)
        .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
        .collect();
    refused(
        "200 indented mappings",
        &deep,
        &format!("deep.yaml:65:65: {want}"),
    );
    // Mappings and indentless sequences (`key:` then `- item` at the same column).
    let deep: String = (0..100)
        .map(|i| format!("{}- k{i}:\n", " ".repeat(2 * i)))
        .collect();
    refused("100 `- key:` levels", &deep, &want);
    // Within the limit: parsed (and refused by the schema, not by depth).
    let ok: String = (0..MAX_YAML_DEPTH)
        .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
        .collect();
    let e = NodeConfig::parse(&ok, "ok.yaml").unwrap_err().to_string();
    assert!(!e.contains("nesting"), "{e}");
}

#[test]
fn brackets_in_scalars_and_comments_do_not_count() {
    let many = "[{".repeat(200);
    let text = example("worker1.yaml")
        .replace(
            "node: worker1\n",
            &format!(
                "# {many}\nnode: worker1 # {many}\nmetrics: '{many}'\neal: [\"{many}\", \"a\\\"[[\", 'it''s [[']\n"
            ),
        )
        .replace(
            "eal: [\"-l\", \"0-1\", \"--no-huge\", \"-m\", \"512\", \"--no-pci\", \"--file-prefix=worker1\"]\n",
            "",
        );
    let n = NodeConfig::parse(&text, "worker1.yaml").unwrap();
    assert_eq!(n.metrics.as_deref(), Some(many.as_str()));
    assert_eq!(n.eal[0], many);
    let text = format!(
        "bridge: br0\ncontrol_socket: |\n  {many}\n  it's\nports: []\nroutes: [\"{many}\"]\n"
    );
    let b = BridgeConfig::parse(&text, "b.yaml")
        .unwrap_err()
        .to_string();
    // Refused by the route parser, not by the depth limit.
    assert!(b.contains("routes[0]") && !b.contains("nesting"), "{b}");
}

#[test]
fn oversize_files_are_refused() {
    let mut text = example("worker1.yaml");
    let pad = format!("# {}\n", "x".repeat(1000));
    while text.len() <= MAX_YAML_BYTES {
        text.push_str(&pad);
    }
    let t = Instant::now();
    let e = NodeConfig::parse(&text, "big.yaml")
        .unwrap_err()
        .to_string();
    println!("{} bytes: refused in {:?}: {e}", text.len(), t.elapsed());
    assert!(
        e.starts_with("big.yaml:")
            && e.contains(&format!(
                "longer than the limit of {MAX_YAML_BYTES} bytes (4 MiB)"
            )),
        "{e}"
    );
    // From a file: it is not read past the limit.
    let dir = std::env::temp_dir().join(format!("brisk-yaml-limits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("big.yaml");
    std::fs::write(&path, &text).unwrap();
    let e = NodeConfig::load(&path).unwrap_err().to_string();
    assert!(e.contains("bytes (4 MiB)"), "{e}");
    let e = BridgeConfig::load(&path).unwrap_err().to_string();
    assert!(e.contains("bytes (4 MiB)"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
    // At the limit exactly: read.
    text.truncate(MAX_YAML_BYTES);
    let cut = text.rfind('\n').unwrap();
    text.truncate(cut + 1);
    NodeConfig::parse(&text, "big.yaml").unwrap();
}

#[test]
fn billion_laughs_is_refused_quickly() {
    let mut text = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (prev, name) in "abcdefgh".chars().zip("bcdefghi".chars()) {
        let refs = vec![format!("*{prev}"); 9].join(",");
        text.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    let laughs = text.clone();
    let t = Instant::now();
    let e = NodeConfig::parse(&laughs, "lol.yaml")
        .unwrap_err()
        .to_string();
    let took = t.elapsed();
    println!("billion laughs: refused in {took:?}: {e}");
    assert!(
        e.contains(&format!(
            "aliases expand to more than the limit of {MAX_ALIAS_NODES} nodes"
        )) && e.starts_with("lol.yaml:"),
        "{e}"
    );
    assert!(took < Duration::from_secs(1));
    // Lines broken by NEL, which libyaml takes as line breaks (and yaml-rust2 does not),
    // behind a comment: counted all the same.
    let nel = format!("# lol\u{85}{}", laughs.replace('\n', "\u{85}"));
    let e = NodeConfig::parse(&nel, "lol.yaml").unwrap_err().to_string();
    assert!(e.contains("aliases expand to more than the limit"), "{e}");
    // Aliases the two parsers read differently (libyaml: a key `?` then an alias;
    // yaml-rust2: the plain scalar `?*a`) are refused rather than miscounted.
    let e = NodeConfig::parse("a: &a [x, y]\nb: [?*a, ?*a]\n", "q.yaml")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("read its anchors and aliases differently"),
        "{e}"
    );
    // Wide rather than deep: one big anchored map, named many times where the schema
    // takes it (namespace labels).
    let labels: Vec<String> = (0..2000).map(|i| format!("l{i}: v")).collect();
    let mut namespaces = format!(
        "namespaces:\n  default: &big {{{}}}\n  kube-system: {{}}\n",
        labels.join(", ")
    );
    for i in 0..2000 {
        namespaces.push_str(&format!("  ns{i}: *big\n"));
    }
    let wide = example("worker1.yaml").replace(
        "namespaces:\n  default: {}\n  kube-system: {}\n",
        &namespaces,
    );
    assert!(wide.contains("ns1999: *big"));
    let t = Instant::now();
    let e = NodeConfig::parse(&wide, "wide.yaml")
        .unwrap_err()
        .to_string();
    println!(
        "2000 aliases of 2000 labels: refused in {:?}: {e}",
        t.elapsed()
    );
    assert!(e.contains("aliases expand to more than the limit"), "{e}");
    // A recursive alias does not hang either.
    let e = NodeConfig::parse("a: &a [*a]\n", "rec.yaml")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("rec.yaml:"), "{e}");
}

#[test]
fn modest_aliases_still_work() {
    let text = example("worker1.yaml")
        .replacen(
            "labels: {role: backend}",
            "labels: &backend {role: backend}",
            1,
        )
        .replace(
            "  - {name: backend2, ip: 10.222.2.34, node: worker2, labels: {role: backend}}",
            "  - {name: backend2, ip: 10.222.2.34, node: worker2, labels: *backend}",
        );
    assert!(text.contains("*backend"));
    let n = NodeConfig::parse(&text, "worker1.yaml").unwrap();
    let plain = NodeConfig::parse(&example("worker1.yaml"), "worker1.yaml").unwrap();
    assert_eq!(n, plain);
}

#[test]
fn the_examples_still_load() {
    for name in ["worker1.yaml", "worker2.yaml"] {
        let path = root().join("conf/examples").join(name);
        let plan = conf::node::Plan::load(&path).unwrap();
        let s = conf::yaml::scan(&std::fs::read_to_string(&path).unwrap()).unwrap();
        println!("{name}: depth {}, {} aliases", s.depth, s.aliases);
        assert!(s.depth <= 10);
        plan.bridge().unwrap();
    }
}

/// Depth of a parsed value (collections in collections; a tag adds none).
fn value_depth(v: &serde_norway::Value) -> usize {
    use serde_norway::Value;
    match v {
        Value::Sequence(s) => 1 + s.iter().map(value_depth).max().unwrap_or(0),
        Value::Mapping(m) => {
            1 + m
                .iter()
                .map(|(k, v)| value_depth(k).max(value_depth(v)))
                .max()
                .unwrap_or(0)
        }
        Value::Tagged(t) => value_depth(&t.value),
        _ => 0,
    }
}

/// The scan never finds less nesting than libyaml does (`serde_norway`'s parser, whose
/// time grows with depth × length): random texts made of YAML's indicators, quotes,
/// comments, block scalars, tags, breaks (NEL too) and indentation, compared with the
/// value libyaml reads from each one it accepts. (yaml-rust2 refuses more than 255 nested
/// flow collections by itself, which bounds its time.)
#[test]
fn the_scan_sees_at_least_the_depth_parsers_see() {
    const PIECES: &[&str] = &[
        "[",
        "]",
        "{",
        "}",
        ",",
        ":",
        ": ",
        "- ",
        "? ",
        "'",
        "\"",
        "#",
        " ",
        "  ",
        "\n",
        "\n  ",
        "\n    ",
        "|",
        ">",
        "|2",
        ">-",
        "a",
        "b",
        "x: ",
        "- a: ",
        "\\",
        "\\\"",
        "&x ",
        "!t ",
        "!<[a]> ",
        "!!str ",
        "---\n",
        "...\n",
        "\t",
        "\u{85}",
        "\r\n",
        "%YAML 1.1\n",
        "'it''s'",
        "-",
        "?",
        ":x",
        "@",
        "\u{feff}",
        "é",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut libyaml_ok = 0;
    for _ in 0..60_000 {
        let n = 1 + next() % 24;
        let text: String = (0..n)
            .map(|_| PIECES[(next() % PIECES.len() as u64) as usize])
            .collect();
        let scanned = conf::yaml::scan(&text).unwrap().depth;
        if let Ok(v) = serde_norway::from_str::<serde_norway::Value>(&text) {
            libyaml_ok += 1;
            assert!(
                scanned >= value_depth(&v),
                "{text:?}: scan {scanned}, libyaml {}",
                value_depth(&v)
            );
        }
    }
    println!("compared with the {libyaml_ok} texts libyaml parsed");
    assert!(libyaml_ok > 5_000);
}

/// A node of a cluster at Kubernetes' published limits (5,000 nodes, 110 pods a node,
/// 10,000 services), with 5,000 remote pods and 100 policies, in the examples' style:
/// well under [`MAX_YAML_BYTES`], and read.
#[test]
fn a_node_at_kubernetes_limits_fits() {
    use std::fmt::Write;
    let mut y = String::from(
        "node: worker1\nuplink: {devargs: \"afpacket:uplink\", ip: 172.16.255.254/16}\n\
         gateway: {devargs: \"tap:antrea-gw0\", ip: 10.0.0.1, mac: \"4e:99:08:c1:53:be\"}\n\
         pod_cidr: 10.0.0.0/24\nservice_cidr: 10.96.0.0/12\nnamespaces: {default: {}}\npeers:\n",
    );
    for i in 1..5000u32 {
        let (a, b) = (i / 256, i % 256);
        writeln!(
            y,
            "  - {{name: worker-node-{i:05}, node_ip: 172.16.{a}.{b}, pod_cidr: 10.{a}.{b}.0/24, gateway_ip: 10.{a}.{b}.1}}"
        )
        .unwrap();
    }
    y.push_str("pods:\n");
    for i in 0..110u32 {
        writeln!(
            y,
            "  - name: pod-{i:03}-a3ba2f\n    namespace: default\n    ofport: {}\n    devargs: \"afpacket:pod-{i:03}-a3ba2f\"\n    ip: 10.0.0.{}\n    mac: \"02:00:00:00:00:{i:02x}\"\n    labels: {{app: app-{}, tier: backend}}",
            i + 10,
            i + 2,
            i % 10
        )
        .unwrap();
    }
    y.push_str("remote_pods:\n");
    for i in 0..5000u32 {
        let (a, b) = (1 + i / 256 % 18, i % 256);
        writeln!(
            y,
            "  - {{name: app-{}-7d9f8c6b5-{i:05}, ip: 10.{a}.{b}.{}, labels: {{app: app-{}, tier: backend}}}}",
            i % 10,
            2 + i % 250,
            i % 10
        )
        .unwrap();
    }
    y.push_str("services:\n");
    for i in 0..10_000u32 {
        writeln!(
            y,
            "  - {{name: service-{i:05}, namespace: default, cluster_ip: 10.96.{}.{}, ports: [{{port: 80, protocol: TCP, target_port: 8080}}], endpoints: [\"10.{}.{}.5:8080\", \"10.{}.{}.6:8080\", \"10.{}.{}.7:8080\"]}}",
            i / 256,
            i % 256,
            1 + i % 19, i % 256, 2 + i % 17, i % 250, 3 + i % 15, i % 240
        )
        .unwrap();
    }
    y.push_str("policies:\n");
    for i in 0..100u32 {
        writeln!(
            y,
            "  - name: policy-{i:03}\n    podSelector: {{matchLabels: {{app: app-{}}}}}\n    ingress:\n      - from: [{{podSelector: {{matchLabels: {{tier: backend}}}}}}]\n        ports: [{{protocol: TCP, port: 8080}}]",
            i % 10
        )
        .unwrap();
    }
    let t = Instant::now();
    let n = NodeConfig::parse(&y, "big.yaml").unwrap_or_else(|e| panic!("{:.2000}", e.to_string()));
    println!(
        "node at Kubernetes' limits: {} bytes ({:.0} % of the limit), read in {:?}",
        y.len(),
        100.0 * y.len() as f64 / MAX_YAML_BYTES as f64,
        t.elapsed()
    );
    assert_eq!((n.peers.len(), n.services.len()), (4999, 10_000));
    assert!(y.len() < MAX_YAML_BYTES * 3 / 4);
}
