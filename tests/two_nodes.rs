//! End to end: the README demo as a test. Two `brisk run --config` nodes (the seed's
//! worker1 and worker2) in network namespaces, real Linux pods on veth pairs, Geneve
//! between the nodes, kube-proxy's DNAT on the gateway; HTTP that the policies allow gets
//! through, what they forbid does not (scripts/demo-nodes.sh does the work).

use std::process::Command;

#[test]
fn two_nodes_with_pods_in_namespaces() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("two_nodes: skipped, network namespaces need root");
        return;
    }
    let out = Command::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/scripts/demo-nodes.sh"
    ))
    .env("BRISK", env!("CARGO_BIN_EXE_brisk"))
    .output()
    .expect("run scripts/demo-nodes.sh");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    println!("{text}");
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("frontend -> backend2 10.222.2.34:80 (over Geneve)          ok"),
        "{text}"
    );
    assert!(text.contains("checks as expected, 0 not"), "{text}");
    // The tunnel carried traffic both ways on worker1.
    let tun = text
        .lines()
        .find(|l| l.contains("(antrea-tun0): rx pkts="))
        .unwrap();
    assert!(!tun.contains("rx pkts=0,"), "{tun}");
}
