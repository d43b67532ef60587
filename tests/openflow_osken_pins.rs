//! os-ken (PyPI), a controller nobody here wrote, as the controller of `controller(...)`
//! actions: `tests/osken_packet_in.py` connects to the switch's `ptcp:` listener, asks for
//! NXT_PACKET_IN2, installs a flow that loads reg1 and sends a packet-in with userdata and
//! a DNS-interception-shaped chain that pauses (`controller(pause)`) between a register
//! write and the lookup that reads it, injects UDP frames by packet-out, answers the first
//! packet-in with a packet-out to port 2, resumes the paused one with NXT_RESUME, and reads
//! the port counters.
//!
//! The same script runs against Open vSwitch's userspace switch (dummy ports, the same
//! port numbers, a `ptcp:` controller target) as the reference: what each switch must do
//! is checked on both, then the two are compared, what a controller sees and, separately,
//! the bytes it sees.

mod common;

use common::ofctl::{brisk, have_osken, have_ovs, Ovs};
use serde_json::Value;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Runs `tests/osken_packet_in.py connect PORT` and returns the JSON line it printed;
/// panics with its output if it fails.
fn run_script(port: u16, what: &str) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/osken_packet_in.py");
    let o = Command::new("python3")
        .arg(script)
        .args(["connect", &port.to_string()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let err = String::from_utf8_lossy(&o.stderr);
    eprintln!("os-ken against {what}: {out}");
    assert!(o.status.success(), "os-ken against {what}: {out}{err}");
    let line = out
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON from os-ken against {what}: {out}{err}"));
    serde_json::from_str(line).unwrap()
}

/// Waits (up to 10 s) until something listens on 127.0.0.1:PORT.
fn wait_listening(port: u16) {
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(10),
            "nothing listens on {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What os-ken saw of brisk and of OVS, the script run once against each (the tests share
/// it); `None` when OVS or os-ken is missing.
fn runs() -> Option<&'static (Value, Value)> {
    static RUNS: OnceLock<Option<(Value, Value)>> = OnceLock::new();
    RUNS.get_or_init(|| {
        if !have_ovs() {
            return None;
        }
        if !have_osken() {
            eprintln!("openflow_osken_pins: skipped (pip install os-ken: scripts/deps.sh)");
            return None;
        }
        let pid = (std::process::id() % 1000) as u16;

        // brisk, its listener opened with `--openflow ptcp:PORT`.
        let port = 41653 + pid;
        let listen = format!("ptcp:{port}");
        let sw = brisk("worker1", "osken-pins", &["--openflow", &listen]);
        let b = run_script(port, "brisk");
        drop(sw);

        // OVS, listening for controllers on a `ptcp:` controller target (ovs-vsctl waits
        // for ovs-vswitchd to apply it; the listener is waited for anyway).
        let port = 42653 + pid;
        let ovs = Ovs::start("worker1", "osken-pins");
        let o = Command::new("ovs-vsctl")
            .arg(format!("--db=unix:{}", ovs.dir.join("db.sock").display()))
            .args(["--timeout=30", "set-controller", "br-int"])
            .arg(format!("ptcp:{port}:127.0.0.1"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        wait_listening(port);
        let r = run_script(port, "OVS");
        drop(ovs);
        Some((b, r))
    })
    .as_ref()
}

/// What a switch must have done, whichever it is.
fn check(v: &Value, what: &str) {
    assert_eq!(v["version"], 6, "{what}: {v}");
    // controller(userdata=01.02.03) after load:0x5->reg1, in table 0, flow cookie 0xa1.
    let u = &v["userdata_pin"];
    assert_eq!(u["userdata"], "010203", "{what}: {v}");
    assert_eq!(u["table_id"], 0, "{what}: {v}");
    assert_eq!(u["reason"], 1, "{what}: OFPR_ACTION: {v}");
    assert_eq!(u["cookie"], 0xa1, "{what}: {v}");
    assert_eq!(u["in_port"], 49, "{what}: {v}");
    assert_eq!(u["reg1"], 5, "{what}: {v}");
    assert_eq!(u["regs"], serde_json::json!({"1": 5}), "{what}: {v}");
    assert_eq!(u["packet_equal"], true, "{what}: {v}");
    assert_eq!(u["continuation"], false, "{what}: {v}");
    // NXPINT_PACKET, TABLE_ID, COOKIE, REASON, METADATA, USERDATA.
    assert_eq!(
        u["props"],
        serde_json::json!([0, 3, 4, 5, 6, 7]),
        "{what}: {v}"
    );

    // controller(pause,userdata=ca.fe) in table 10 (flow cookie 0xb2), reg2=7 set in
    // table 0. OVS reports a paused packet-in with table 0 and no cookie, whatever flow
    // paused it (its emit_continuation leaves them out).
    let p = &v["pause_pin"];
    assert_eq!(p["userdata"], "cafe", "{what}: {v}");
    assert_eq!(p["table_id"], 0, "{what}: {v}");
    assert_eq!(p["cookie"], Value::Null, "{what}: {v}");
    assert_eq!(p["reason"], 1, "{what}: {v}");
    assert_eq!(p["in_port"], 49, "{what}: {v}");
    assert_eq!(p["regs"], serde_json::json!({"2": 7}), "{what}: {v}");
    assert_eq!(p["packet_equal"], true, "{what}: {v}");
    assert_eq!(p["continuation"], true, "{what}: {v}");
    // NXCPT_BRIDGE, ACTIONS, ODP_PORT (OVS adds NXCPT_TABLE_ID and NXCPT_COOKIE only when
    // the frozen actions have no lookup of their own: a resubmit makes them moot).
    assert_eq!(
        p["continuation_props"],
        serde_json::json!([0x8000, 0x8006, 0x8008]),
        "{what}: {v}"
    );
    // The frozen actions: resubmit(,20) (NXAST_RESUBMIT_TABLE, in_port IN_PORT), after
    // the 4 bytes of padding that start nested properties.
    assert_eq!(
        p["continuation_parts"]["0x8006"], "00000000ffff001000002320000efff814000000",
        "{what}: NXCPT_ACTIONS: {v}"
    );

    // The answer went out of antrea-gw0; the resumed packet, reg2 still 7, out of coredns
    // (port 4 would mean the metadata was lost); nothing else went anywhere.
    let tx = &v["tx_packets"];
    assert_eq!(tx["2"], 1, "{what}: the packet-out answer: {v}");
    assert_eq!(tx["3"], 1, "{what}: the resumed packet: {v}");
    for port in ["1", "4", "7", "48", "49"] {
        assert_eq!(tx[port], 0, "{what}: port {port}: {v}");
    }
}

/// The fields whose bytes are the switch's own (the bridge UUID and datapath port in the
/// continuation are left out by the script) or whose encoding the other test compares.
fn semantics(pin: &Value) -> Value {
    let mut pin = pin.clone();
    pin.as_object_mut().unwrap().remove("metadata");
    pin
}

#[test]
fn os_ken_gets_packet_ins_answers_them_and_resumes_a_paused_packet_as_from_ovs() {
    let Some((b, r)) = runs() else { return };
    // The reference first: a failure there is the script's.
    check(r, "OVS");
    check(b, "brisk");
    // The two agree on what a controller sees: the properties of each packet-in, in order,
    // the decoded metadata, the continuation's parts, the counters.
    for pin in ["userdata_pin", "pause_pin"] {
        assert_eq!(
            semantics(&b[pin]),
            semantics(&r[pin]),
            "{pin}: brisk {b} OVS {r}"
        );
    }
    assert_eq!(b["tx_packets"], r["tx_packets"], "brisk {b} OVS {r}");
}

/// NXPINT_METADATA's entries as OVS writes them, byte for byte. In OpenFlow 1.5, OVS
/// (`nx_put_raw`) writes the 32-bit registers as masked 64-bit packet registers
/// (OXM_OF_PKT_REGn, class 0x8001: reg1=5 is `xreg0=0x5/0xffffffff`), and Antrea's
/// packet-in handlers read them only so (`GetMatchFieldByRegID` looks up
/// OXM_CLASS_PACKET_REGS).
#[test]
fn packet_in2_metadata_is_encoded_as_ovs_encodes_it() {
    let Some((b, r)) = runs() else { return };
    for pin in ["userdata_pin", "pause_pin"] {
        assert_eq!(
            b[pin]["metadata"], r[pin]["metadata"],
            "{pin}: NXPINT_METADATA of brisk (left) and OVS (right)"
        );
    }
}
