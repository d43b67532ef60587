//! The megaflow property on the real Antrea pipeline: a translation's mask is wide enough
//! that every key agreeing with it on the masked bits gets exactly the same datapath
//! actions. This is what makes caching translations (megaflows) correct.

use pipeline::bridge::Bridge;
use pipeline::conntrack::ConntrackConfig;

fn node(name: &str) -> Bridge {
    let text = std::fs::read_to_string(format!(
        "{}/../testdata/antrea-seed/{name}.flows",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    pipeline::seed::bridge(name, &text, ConntrackConfig::default())
}

#[test]
fn masks_are_sufficient_on_the_antrea_pipeline() {
    for name in ["worker1", "worker2"] {
        let r = pipeline::seed::megaflow_property(&node(name), 20_000)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        println!(
            "megaflow property ({name}): {} perturbed keys compared, 0 mismatches ({} NORMAL keys skipped)",
            r.compared, r.skipped
        );
        assert!(r.compared > 60_000);
    }
}

#[test]
fn masks_are_sufficient_with_the_underlay() {
    // Tunnel outputs resolve at translation into an outer-header template (next hop
    // known) or a wait for ARP (unknown): both must depend only on masked bits.
    for resolved in [true, false] {
        let b = node("worker1");
        pipeline::seed::with_underlay(&b, "worker1", 1500, resolved);
        let r = pipeline::seed::megaflow_property(&b, 10_000)
            .unwrap_or_else(|e| panic!("resolved={resolved}: {e}"));
        println!(
            "megaflow property (worker1, underlay, next hop resolved: {resolved}): {} keys compared, {} tunnelled",
            r.compared, r.tunnelled
        );
        assert!(r.tunnelled > 100, "{r:?}");
    }
}
