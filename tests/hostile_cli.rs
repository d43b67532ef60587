//! Every command-line and control-socket entry point fed hostile input: huge and negative
//! numbers, empty strings, 5,000-character names, NUL bytes where a file name goes, missing
//! and extra arguments, and a reader that goes away. No input may panic (exit 101 or
//! "panicked at"); a wrong input gets a non-zero exit and a message naming the problem;
//! a closed standard output ends a command quietly.

mod common;

use common::{text, Scratch, Switch, BRISK};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A scratch directory, removed at the end.
fn scratch(name: &str) -> Scratch {
    Scratch::new(&format!("hostile-{name}"))
}

fn brisk(args: &[&str]) -> Output {
    Command::new(BRISK)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run brisk")
}

/// No panic, whatever the outcome.
fn no_panic(args: &[&str], o: &Output) {
    let t = text(o);
    assert!(
        o.status.code() != Some(101) && !t.contains("panicked at"),
        "brisk {:?} panicked: {t}",
        short(args)
    );
}

/// Refused (non-zero, no panic) with a message containing each of `needles`.
fn refused(args: &[&str], needles: &[&str]) {
    let o = brisk(args);
    no_panic(args, &o);
    let t = text(&o);
    assert!(
        !o.status.success(),
        "brisk {:?} succeeded: {t}",
        short(args)
    );
    for n in needles {
        assert!(t.contains(n), "brisk {:?}: no {n:?} in: {t}", short(args));
    }
}

fn short(args: &[&str]) -> Vec<String> {
    args.iter()
        .map(|a| a.chars().take(60).collect::<String>())
        .collect()
}

/// A node description with `pods` pods (its flows fill far more than a pipe's buffer).
fn node_yaml(pods: usize, extra: &str) -> String {
    let mut y = format!(
        "node: w1\n{extra}uplink: {{ip: 10.79.1.201/24}}\ngateway: {{ip: 10.222.1.1, mac: \"4e:99:08:c1:53:be\"}}\npod_cidr: 10.222.0.0/16\nservice_cidr: 10.96.0.0/12\npods:\n"
    );
    for i in 0..pods {
        y += &format!(
            "  - {{name: pod{i}, ofport: {}, ip: 10.222.{}.{}, mac: \"02:00:00:00:{:02x}:{:02x}\"}}\n",
            i + 10,
            2 + i / 200,
            1 + i % 200,
            i / 256,
            i % 256
        );
    }
    y
}

const BRIDGE: &str = r#"bridge: br
ports:
  - {name: p1, ofport: 1, devargs: "net_null_a,no-rx=1"}
  - {name: p2, ofport: 2, devargs: "net_null_b,no-rx=1"}
"#;

/// `--version` names the vector unit the lookup kernels would use on this machine: the
/// widest the CPU has, as the fast path picks it.
#[test]
fn version_names_the_lookup_kernels_chosen_at_run_time() {
    let o = brisk(&["--version"]);
    assert!(o.status.success());
    let text = String::from_utf8_lossy(&o.stdout);
    let want = format!(
        "lookup kernels: {} (chosen at run time",
        pipeline::fastpath::SimdPath::detect().name()
    );
    assert!(
        text.contains("git revision: ") && text.contains(&want),
        "{text}"
    );
}

#[test]
fn offline_commands_refuse_hostile_input() {
    let d = scratch("offline");
    let long = "x".repeat(5000);
    let flows = d.file("f.flows", "in_port=p1,actions=output:p2\n");
    let big = u64::MAX.to_string();
    let huge = "9".repeat(40);
    let port = "--port=p1=1";
    let port2 = "--port=p2=2";
    // Trace: payload range, the packet's port, numbers of ports.
    for p in [big.as_str(), huge.as_str(), "-1", "65536", "", "1e3"] {
        let arg = format!("--payload={p}");
        refused(
            &["trace", "--flows", &flows, port, port2, &arg, "in_port=1"],
            &["--payload", "0..65535"],
        );
    }
    refused(
        &[
            "trace",
            "--flows",
            &flows,
            port,
            port2,
            "--payload",
            "65535",
            "in_port=1,tcp",
        ],
        &["fits in 65535 bytes"],
    );
    for spec in ["", "   ", "tcp,nw_dst=10.0.0.1", "in_port=0"] {
        refused(
            &["trace", "--flows", &flows, port, port2, spec],
            &["in_port"],
        );
    }
    let named = format!("in_port={long}");
    refused(
        &["trace", "--flows", &flows, port, port2, &named],
        &["unknown port name"],
    );
    for p in [
        format!("p1={big}"),
        format!("p1={huge}"),
        "p1=-1".into(),
        "p1=0".into(),
        "p1=65280".into(),
        "p1=".into(),
        "=1".into(),
        String::new(),
    ] {
        let arg = format!("--port={p}");
        refused(
            &["trace", "--flows", &flows, &arg, "in_port=1"],
            &["--port"],
        );
        refused(&["flows", "check", &arg, &flows], &["--port"]);
    }
    // Unknown ports name the option these commands have.
    refused(
        &["flows", "check", &flows],
        &["unknown port name \"p1\"", "--port NAME=NUMBER"],
    );
    refused(
        &["trace", "--flows", &flows, "in_port=1"],
        &["--port NAME=NUMBER"],
    );
    // Files: empty names, missing files, long names, directories.
    let long_file = d.0.join(&long).display().to_string();
    for f in ["", long_file.as_str(), "/", "/nonexistent/x"] {
        refused(&["flows", "check", f], &[]);
        refused(&["flows", "dump", f], &[]);
        refused(&["conf", "check", f], &[]);
        refused(&["conf", "flows", f], &[]);
        refused(&["conf", "groups", f], &[]);
        refused(&["trace", "--flows", f, "in_port=1"], &[]);
        refused(&["run", "--bridge", f], &[]);
        refused(&["run", "--config", f], &[]);
    }
    // run's numbers are checked before anything starts.
    for (opt, n) in [
        ("--stats-interval", big.as_str()),
        ("--stats-interval", "86401"),
        ("--duration", huge.as_str()),
        ("--duration", "31536001"),
        ("--duration", "-1"),
        ("--duration", ""),
    ] {
        let arg = format!("{opt}={n}");
        refused(&["run", &arg, "--bridge", "x.yaml"], &[opt, "0.."]);
    }
}

#[test]
fn yaml_numbers_and_names_are_checked() {
    let d = scratch("yaml");
    let long = "x".repeat(5000);
    let bridge_cases = [
        (
            format!("mbufs: {}\n{BRIDGE}", u32::MAX),
            "mbufs: 4294967295 is outside 1023..16777215",
        ),
        (format!("mbufs: 10\n{BRIDGE}"), "mbufs: 10 is outside"),
        (
            format!("conntrack_max: {}\n{BRIDGE}", u64::MAX),
            "conntrack_max",
        ),
        (
            format!("workers: [1, 1]\n{BRIDGE}"),
            "workers[1]: 1 is already workers[0]",
        ),
        (
            format!("workers: [99999]\n{BRIDGE}"),
            "workers[0]: 99999 is outside",
        ),
        (format!("workers: [-1]\n{BRIDGE}"), "workers"),
        (
            format!("fastpath: {{emc_entries: {}}}\n{BRIDGE}", u64::MAX),
            "fastpath.emc_entries",
        ),
        (
            format!("fastpath: {{max_megaflows: 0}}\n{BRIDGE}"),
            "fastpath.max_megaflows",
        ),
        (
            format!("fastpath: {{max_upcalls_per_burst: 100000}}\n{BRIDGE}"),
            "fastpath.max_upcalls_per_burst",
        ),
        (
            format!("fastpath: {{simd: sse9}}\n{BRIDGE}"),
            "fastpath.simd: \"sse9\" is not auto, avx2, scalar",
        ),
        (
            BRIDGE.replace("ofport: 2", "ofport: 65280"),
            "ports[1].ofport: 65280 is outside 1..65279",
        ),
        (
            BRIDGE.replace("ofport: 2", "ofport: 99999999999999999999"),
            "ports[1]",
        ),
        (BRIDGE.replace("name: p2", "name: \"a b\""), "ports[1].name"),
        (
            BRIDGE.replace("name: p2", "name: \"q,actions=drop\""),
            "ports[1].name",
        ),
        (BRIDGE.replace("name: p2", "name: \"\""), "ports[1].name"),
        (
            BRIDGE.replace("name: p2", "name: \"a\\0b\""),
            "ports[1].name",
        ),
        (
            BRIDGE.replace("name: p2", &format!("name: {long}")),
            "ports[1].name",
        ),
        (
            BRIDGE.replace("no-rx=1\"}", "no-rx=1\", rx_queues: 0}"),
            "rx_queues",
        ),
        (format!("{BRIDGE}flows: \"a\\0b\"\n"), ""),
        (
            format!("{BRIDGE}routes: [\"10.0.0.0/8 dev 4294967296\"]\n"),
            "routes[0]",
        ),
        (
            format!("{BRIDGE}tlv_map: [\"{{class=1,type=2,len=0x100000004}}->tun_metadata0\"]\n"),
            "tlv_map[0]",
        ),
    ];
    for (i, (yaml, needle)) in bridge_cases.iter().enumerate() {
        let f = d.file(&format!("b{i}.yaml"), yaml);
        // Refused by the check, before DPDK starts (no EAL arguments are given).
        refused(
            &["run", "--bridge", &f, "--socket", "/nonexistent/s"],
            &[needle],
        );
    }
    let node_cases = [
        ("mbufs: 4294967295\n", "mbufs: 4294967295 is outside"),
        ("conntrack_max: 0\n", "conntrack_max"),
        ("workers: [3, 3]\n", "workers[1]"),
    ];
    for (i, (extra, needle)) in node_cases.iter().enumerate() {
        let f = d.file(&format!("n{i}.yaml"), &node_yaml(1, extra));
        refused(&["conf", "check", &f], &[needle]);
    }
    let named = node_yaml(1, "").replace("name: pod0", &format!("name: {long}"));
    let f = d.file("long.yaml", &named);
    refused(&["conf", "check", &f], &["pods[0].name", "1-15 bytes"]);
    let f = d.file(
        "mtu.yaml",
        &node_yaml(1, "").replace("10.79.1.201/24}", "10.79.1.201/24, mtu: 0}"),
    );
    refused(
        &["conf", "check", &f],
        &["uplink.mtu: 0 is outside 68..9216"],
    );
}

/// Runs a command with standard output a pipe nobody reads (its reader already closed).
fn closed_stdout(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let child = Command::new(BRISK)
        .args(args)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("run brisk");
    child.wait_with_output().unwrap()
}

fn quiet(args: &[&str], o: &Output) {
    no_panic(args, o);
    let code = o.status.code();
    assert!(
        matches!(code, Some(0) | Some(141)),
        "brisk {:?}: exit {code:?}: {}",
        short(args),
        text(o)
    );
    assert!(o.stderr.is_empty(), "brisk {:?}: {}", short(args), text(o));
}

#[test]
fn a_reader_that_goes_away_ends_output_quietly() {
    let d = scratch("pipe");
    let node = d.file("big.yaml", &node_yaml(400, ""));
    let flows_out = brisk(&["conf", "flows", &node]);
    assert!(flows_out.status.success(), "{}", text(&flows_out));
    assert!(flows_out.stdout.len() > 1 << 17);
    let flows = d.file("big.flows", &String::from_utf8(flows_out.stdout).unwrap());
    let mut ports = vec![
        "--port=antrea-gw0=2".to_string(),
        "--port=antrea-tun0=1".into(),
        "--port=uplink=7".into(),
    ];
    for i in 0..400 {
        ports.push(format!("--port=pod{i}={}", i + 10));
    }
    let p: Vec<&str> = ports.iter().map(String::as_str).collect();
    let mut cases: Vec<Vec<&str>> = vec![
        vec!["conf", "flows", &node],
        vec!["conf", "groups", &node],
        vec!["conf", "check", &node],
    ];
    let mut dump = vec!["flows", "dump"];
    dump.extend(&p);
    dump.push(&flows);
    let mut check = vec!["flows", "check"];
    check.extend(&p);
    check.push(&flows);
    let mut trace = vec!["trace", "--flows", &flows];
    trace.extend(&p);
    trace.extend(["in_port=10,tcp", "in_port=10,udp"]);
    let mut json = trace.clone();
    json.extend(["--format", "json"]);
    cases.extend([dump, check, trace, json]);
    for args in &cases {
        quiet(args, &closed_stdout(args));
    }
    // And a reader that reads one line and leaves (`| head -1`).
    let mut child = Command::new(BRISK)
        .args(["conf", "flows", &node])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(line.starts_with("cookie="), "{line}");
    let o = child.wait_with_output().unwrap();
    quiet(&["conf", "flows", "| head -1"], &o);
}

fn eal(name: &str) -> Vec<String> {
    common::eal("0", 256, &format!("hostile-{name}"))
}

/// A switch with two net_null ports (p1, p2) in a scratch directory.
fn start(name: &str) -> Switch {
    let dir = scratch(name);
    let bridge = dir.file("br.yaml", BRIDGE);
    Switch::start(
        dir,
        &["--bridge".as_ref(), bridge.as_ref()],
        &eal(name),
        None,
    )
}

/// `brisk ctl ARGS` against `sw`, which must not panic.
fn ctl(sw: &Switch, args: &[&str]) -> Output {
    let o = sw.ctl_output(args);
    let sock = sw.socket.display().to_string();
    let mut all = vec!["ctl", "--socket", &sock];
    all.extend(args);
    no_panic(&all, &o);
    o
}

/// `brisk ctl ARGS` refused (non-zero, no panic) with a message containing each of
/// `needles`.
fn ctl_refused(sw: &Switch, args: &[&str], needles: &[&str]) {
    let o = ctl(sw, args);
    let t = text(&o);
    assert!(!o.status.success(), "ctl {:?} succeeded: {t}", short(args));
    for n in needles {
        assert!(t.contains(n), "ctl {:?}: no {n:?} in: {t}", short(args));
    }
}

/// One raw request line on the socket: the reply line.
fn raw(sw: &Switch, line: &[u8]) -> String {
    let mut s = UnixStream::connect(&sw.socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let _ = s.write_all(line);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut reply = String::new();
    let _ = BufReader::new(s).read_line(&mut reply);
    reply
}

#[test]
fn ctl_refuses_hostile_input_and_the_switch_carries_on() {
    let sw = start("ctl");
    missing_arguments_and_unknown_ports(&sw);
    numbers_out_of_range(&sw);
    port_names_numbers_and_devargs(&sw);
    raw_requests_with_nul_bytes(&sw);
    the_switch_carries_on(&sw);
    drop_cleanly(sw);
}

/// Missing arguments get the command's usage; unknown ports and commands are named.
fn missing_arguments_and_unknown_ports(sw: &Switch) {
    let long = "x".repeat(5000);
    // Missing arguments: the command's usage.
    ctl_refused(
        sw,
        &["add-flow"],
        &["add-flow needs a FLOW", "usage: add-flow FLOW"],
    );
    for verb in [
        "add-group",
        "add-tlv-map",
        "trace",
        "neigh add",
        "route del",
        "port add",
        "port del",
        "show x",
        "version 1",
    ] {
        let args: Vec<&str> = verb.split(' ').collect();
        ctl_refused(sw, &args, &["usage: "]);
    }
    // Unknown ports: what ctl has.
    ctl_refused(
        sw,
        &["add-flow", "in_port=p3,actions=drop"],
        &["unknown port name \"p3\"", "brisk ctl show", "port add"],
    );
    let t = text(&ctl(sw, &["add-flow", "in_port=p3,actions=drop"]));
    assert!(!t.contains("--port"), "{t}");
    // Traces need a port.
    for spec in ["", "tcp", "in_port=0"] {
        ctl_refused(sw, &["trace", spec], &["in_port"]);
    }
    ctl_refused(sw, &[&long], &["unknown command"]);
    ctl_refused(sw, &[""], &["unknown command"]);
}

/// Tables, zones, group ids, prefix lengths, ports and priorities out of range.
fn numbers_out_of_range(sw: &Switch) {
    let big = u64::MAX.to_string();
    let huge = "9".repeat(40);
    for t in ["table=255", "table=-1", &format!("table={huge}"), "table="] {
        ctl_refused(sw, &["dump-flows", t], &["0..254"]);
    }
    for z in [
        format!("zone={big}"),
        "zone=-1".into(),
        "zone=65536".into(),
        "zone=".into(),
    ] {
        ctl_refused(sw, &["dump-conntrack", &z], &["0..65535"]);
        ctl_refused(sw, &["flush-conntrack", &z], &["0..65535"]);
    }
    for (t, says) in [
        (
            "ct_nw_dst=10.0.0.256",
            "ct_nw_dst=\"10.0.0.256\" is not an IPv4 address",
        ),
        ("ct_tp_dst=65536", "is not a port 0..65535"),
        ("nw_dst=10.0.0.1", "unknown field \"nw_dst\""),
    ] {
        ctl_refused(sw, &["flush-conntrack", "zone=1", t], &[says]);
    }
    for g in [huge.as_str(), "4294967041", "-1", ""] {
        ctl_refused(sw, &["dump-groups", g], &["not a group id 0..4294967040"]);
        ctl_refused(
            sw,
            &["dump-group-stats", g],
            &["not a group id 0..4294967040"],
        );
    }
    ctl_refused(sw, &["route", "del", "10.0.0.0/33"], &["0..32"]);
    ctl_refused(
        sw,
        &["route", "add", "10.0.0.0/8", "dev", "70000"],
        &["outside 1..65279"],
    );
    ctl_refused(
        sw,
        &[
            "add-flow",
            &format!("table=256,priority={huge},actions=drop"),
        ],
        &[],
    );
    ctl_refused(sw, &["del-groups", &format!("group_id={big}")], &[]);
    ctl_refused(sw, &["neigh", "add", &huge, "00:00:00:00:00:01"], &[]);
    ctl_refused(
        sw,
        &[
            "add-tlv-map",
            "{class=1,type=2,len=0x100000004}->tun_metadata0",
        ],
        &["is over"],
    );
}

/// Ports: names as the YAML check has them, numbers 1..65279, devargs named; files that
/// are not there.
fn port_names_numbers_and_devargs(sw: &Switch) {
    let long = "x".repeat(5000);
    let big = u64::MAX.to_string();
    let huge = "9".repeat(40);
    for name in ["a b", "q,actions=drop", long.as_str(), "", "a=b", "\"q\""] {
        ctl_refused(
            sw,
            &["port", "add", name, "5", "net_null_z"],
            &["port add", "not a valid port name"],
        );
    }
    for n in ["0", "65280", "-5", big.as_str(), huge.as_str(), ""] {
        ctl_refused(
            sw,
            &["port", "add", "p3", n, "net_null_z"],
            &["OFPORT", "1..65279"],
        );
    }
    ctl_refused(
        sw,
        &["port", "add", "p3", "5", "net_bogus0,x=1"],
        &["port p3 (devargs \"net_bogus0,x=1\")", "rte_vdev_init"],
    );
    ctl_refused(
        sw,
        &["port", "add", "p3", "5", &format!("tap:{long}")],
        &["interface name"],
    );
    ctl_refused(sw, &["port", "del", &long], &[]);
    ctl_refused(sw, &["reload", ""], &[]);
    ctl_refused(sw, &["add-flows", "/nonexistent"], &[]);
}

/// Raw socket requests, NUL bytes where a name or a file name goes included: none
/// succeeds.
fn raw_requests_with_nul_bytes(sw: &Switch) {
    let raws: [&[u8]; 6] = [
        b"{\"args\":[\"port\",\"add\",\"a\\u0000b\",\"5\",\"net_null_z\"]}\n",
        b"{\"args\":[\"reload\",\"a\\u0000b\"],\"input\":\"node: x\"}\n",
        b"{\"args\":[\"add-flows\",\"a\\u0000b\"],\"input\":\"in_port=\\u0000,actions=drop\"}\n",
        b"{\"args\":[\"port\",\"add\",\"p3\",\"5\",\"net_null_z\\u0000x\"]}\n",
        b"{\"args\":[1,2]}\n",
        b"\xff\xfe\n",
    ];
    for r in raws {
        let reply = raw(sw, r);
        assert!(
            !reply.contains("\"status\":0"),
            "{:?}: {reply}",
            String::from_utf8_lossy(r)
        );
    }
}

/// The switch is still there, with its two ports and nothing added; ctl's own output to a
/// reader that went away ends quietly.
fn the_switch_carries_on(sw: &Switch) {
    let show = text(&ctl(sw, &["show"]));
    assert!(
        show.contains("1(p1)") && show.contains("2(p2)") && !show.contains("(p3)"),
        "{show}"
    );
    // ctl's own output to a reader that went away.
    let sock = sw.socket.display().to_string();
    for args in [
        ["ctl", "--socket", &sock, "help"],
        ["ctl", "--socket", &sock, "show"],
    ] {
        quiet(&args, &closed_stdout(&args));
    }
}

/// SIGTERM: the switch stops, without a panic.
fn drop_cleanly(mut sw: Switch) {
    let st = sw.stop();
    assert!(!st.stderr.contains("panicked"), "{}", st.stderr);
}

#[test]
fn run_names_files_and_ports_in_its_errors() {
    let d = scratch("run");
    let bridge = d.file("br.yaml", BRIDGE);
    let flows = d.file(
        "bad.flows",
        "priority=1,actions=drop\nin_port=p3,actions=drop\n",
    );
    let sock = d.0.join("s.sock").display().to_string();
    let mut args = vec![
        "run",
        "--bridge",
        &bridge,
        "--flows",
        &flows,
        "--socket",
        &sock,
        "--duration",
        "1",
        "--",
    ];
    let e = eal("run");
    args.extend(e.iter().map(String::as_str));
    let needle = format!("{flows}:2:9: unknown port name \"p3\"");
    let o = brisk(&args);
    no_panic(&args, &o);
    let t = text(&o);
    assert!(
        !o.status.success() && t.contains(&needle) && t.contains("`ports:`"),
        "{t}"
    );
    assert!(!t.contains("--port") && !t.contains(" flows:2"), "{t}");
    // Bad devargs: the port and its devargs.
    let bad = d.file(
        "bad.yaml",
        &BRIDGE.replace("net_null_b,no-rx=1", "net_bogus0,x=1"),
    );
    let mut args = vec![
        "run",
        "--bridge",
        &bad,
        "--socket",
        &sock,
        "--duration",
        "1",
        "--",
    ];
    args.extend(e.iter().map(String::as_str));
    refused(&args, &["port p2 (devargs \"net_bogus0,x=1\")"]);
}
